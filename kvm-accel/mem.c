// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * kvm-accel: guest memory.
 *
 * The guest's RAM is mapped into the device's VFIO container by QEMU (IOVA
 * = guest physical address). We reach it three ways:
 *
 *  - queue rings and the pages of shadow doorbells, touched on every
 *    command, are pinned once when the queue pair is created
 *    (vfio_pin_pages) and accessed through kmap_local_page();
 *  - data pages, which bios need as struct page, go through a small pin
 *    cache: a page stays pinned after its I/O, up to pin_cache_pages idle
 *    pages, so a guest that reuses its buffers pins nothing per command;
 *  - everything else the datapath core reads or writes (PRP lists, SGL
 *    segments, DSM ranges, bounce copies) goes through vfio_dma_rw().
 *
 * When QEMU unmaps a range (the guest's memory map changed, or it is going
 * away), VFIO calls kacc_dma_unmap() and insists that every pin inside the
 * range is gone when we return: we pin nothing there from then on until
 * VFIO is done (see the fences below), wait for the bios that use pages in
 * it, stop for good the queues whose rings were in it, and unpin.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/highmem.h>
#include <linux/iommu.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/task_work.h>

#include "kacc.h"

/* Do [a, a + alen) and [b, b + blen) intersect? Lengths are non-zero. */
static bool kacc_ranges_overlap(u64 a, u64 alen, u64 b, u64 blen)
{
	return a <= b + (blen - 1) && b <= a + (alen - 1);
}

/* --- fences: no pins in a range VFIO is unmapping ----------------------- */

/*
 * VFIO (type1) drops its lock to call every device's dma_unmap, takes it
 * again, and removes the mapping only if no pin is left in it; if one came
 * back meanwhile it calls every device again, and the eleventh round is a
 * BUG(). The other devices' callbacks take as long as their I/O does, so no
 * time limit on the fence is safe. What tells us VFIO is done is the
 * unmapping task leaving the kernel: we queue a task_work on it whose
 * function is the kernel's own wakeme_after_rcu() (a task_work and an RCU
 * callback are both a struct callback_head), which completes the fence's
 * completion. No code of this module runs from there, so the module may go
 * away meanwhile; the fence's memory stays until the completion is done.
 */
static void kacc_fence_add(struct kacc_dev *dev, u64 iova, u64 len)
{
	struct kacc_fence *f;

	/* dma_unmap cannot fail: a small allocation, once per round. */
	f = kmalloc(sizeof(*f), GFP_KERNEL_ACCOUNT | __GFP_NOFAIL);
	f->iova = iova;
	f->len = len;
	init_completion(&f->rs.completion);
	init_task_work(&f->rs.head, wakeme_after_rcu);
	/*
	 * Type1 calls us from the unmap ioctl, so this is a user task on its
	 * way back to user space. Anything else keeps its fence until the
	 * device is released: safe, only I/O into that range fails.
	 */
	f->forever = (current->flags & PF_KTHREAD) ||
		     task_work_add(current, &f->rs.head, TWA_RESUME);
	if (f->forever)
		pr_warn_ratelimited("%s: unmap of [0x%llx, +0x%llx) outside a user task: fenced until release\n",
				    dev_name(dev->vdev.dev), iova, len);
	spin_lock(&dev->fence_lock);
	list_add_tail(&f->node, &dev->fences);
	spin_unlock(&dev->fence_lock);
}

/*
 * Is [@iova, @iova + @len) in a range being unmapped? Reaps the fences
 * whose unmap is over on the way.
 */
static bool kacc_fenced(struct kacc_dev *dev, u64 iova, u64 len)
{
	struct kacc_fence *f, *tmp;
	bool hit = false;

	if (list_empty(&dev->fences))
		return false;
	spin_lock(&dev->fence_lock);
	list_for_each_entry_safe(f, tmp, &dev->fences, node) {
		/* completion_done(): complete() no longer touches it. */
		if (!f->forever && completion_done(&f->rs.completion)) {
			list_del(&f->node);
			kfree(f);
			continue;
		}
		hit |= kacc_ranges_overlap(f->iova, f->len, iova, len);
	}
	spin_unlock(&dev->fence_lock);
	return hit;
}

/* Any fence at all? For the worker's idle decision; reaps too. */
bool kacc_fences_pending(struct kacc_dev *dev)
{
	return kacc_fenced(dev, 0, U64_MAX);
}

/*
 * The device goes: wait for the task_works still queued (their tasks are
 * on their way out of the kernel, or exiting: both run them) and free.
 */
void kacc_fences_release(struct kacc_dev *dev)
{
	struct kacc_fence *f, *tmp;

	list_for_each_entry_safe(f, tmp, &dev->fences, node) {
		if (!f->forever)
			wait_for_completion(&f->rs.completion);
		list_del(&f->node);
		kfree(f);
	}
}

/* --- rings: pinned for the queue's lifetime ------------------------------ */

int kacc_ring_pin(struct kacc_dev *dev, struct kacc_ring *ring, u64 gpa,
		  u64 len, bool writable)
{
	int prot = IOMMU_READ | (writable ? IOMMU_WRITE : 0);
	unsigned int done, n;
	int ret;

	if (!len || gpa + len < gpa)
		return -EINVAL;
	if (kacc_fenced(dev, gpa, len))
		return -EBUSY;
	ring->iova = gpa & PAGE_MASK;
	ring->writable = writable;
	ring->npages = DIV_ROUND_UP(gpa + len - ring->iova, PAGE_SIZE);
	ring->len = (u64)ring->npages << PAGE_SHIFT;
	ring->pages = kvcalloc(ring->npages, sizeof(*ring->pages),
			       GFP_KERNEL_ACCOUNT);
	if (!ring->pages)
		return -ENOMEM;
	for (done = 0; done < ring->npages; done += n) {
		n = min_t(unsigned int, ring->npages - done,
			  VFIO_PIN_PAGES_MAX_ENTRIES);
		ret = vfio_pin_pages(&dev->vdev,
				     ring->iova + ((u64)done << PAGE_SHIFT), n,
				     prot, ring->pages + done);
		if (ret != n)
			goto out_unpin;
	}
	return 0;

out_unpin:
	/*
	 * VFIO pins all or nothing per call: undo the earlier calls, each
	 * with its own range (iommufd wants unpins to match pins exactly).
	 */
	while (done) {
		n = (done - 1) % VFIO_PIN_PAGES_MAX_ENTRIES + 1;
		done -= n;
		vfio_unpin_pages(&dev->vdev,
				 ring->iova + ((u64)done << PAGE_SHIFT), n);
	}
	kvfree(ring->pages);
	ring->pages = NULL;
	/* Not mapped (-EINVAL) or mapped without write access (-EPERM). */
	return ret < 0 && ret != -EINVAL && ret != -EPERM ? ret : -EFAULT;
}

void kacc_ring_unpin(struct kacc_dev *dev, struct kacc_ring *ring)
{
	unsigned int done, n;

	if (!ring->pages)
		return;
	for (done = 0; done < ring->npages; done += n) {
		n = min_t(unsigned int, ring->npages - done,
			  VFIO_PIN_PAGES_MAX_ENTRIES);
		vfio_unpin_pages(&dev->vdev,
				 ring->iova + ((u64)done << PAGE_SHIFT), n);
	}
	kvfree(ring->pages);
	ring->pages = NULL;
}

bool kacc_ring_overlaps(const struct kacc_ring *ring, u64 iova, u64 len)
{
	return ring->pages && len &&
	       kacc_ranges_overlap(ring->iova, ring->len, iova, len);
}

/*
 * Copy within one page. Dword accesses are single loads and stores: a
 * shadow doorbell or the CQE's CID/status/phase dword must never tear.
 */
static void kacc_copy(void *mem, void *buf, unsigned int len, bool write)
{
	if (len == 4 && IS_ALIGNED((unsigned long)mem, 4)) {
		u32 v;

		if (write) {
			memcpy(&v, buf, 4);
			WRITE_ONCE(*(u32 *)mem, v);
		} else {
			v = READ_ONCE(*(u32 *)mem);
			memcpy(buf, &v, 4);
		}
	} else if (write) {
		memcpy(mem, buf, len);
	} else {
		memcpy(buf, mem, len);
	}
}

/*
 * 0 if the ring covers the whole access, -ENOENT if it does not. A ring
 * pinned read-only (the SQ) never takes a write: its pages may be ones the
 * owner may only read, such as a file's page cache mapped PROT_READ.
 * vfio_dma_rw() then decides by the mapping's own permissions.
 */
static int kacc_ring_rw(const struct kacc_ring *ring, u64 gpa, void *buf,
			u32 len, bool write)
{
	u64 off;

	if (!ring->pages || (write && !ring->writable) || gpa < ring->iova ||
	    gpa - ring->iova >= ring->len ||
	    len > ring->len - (gpa - ring->iova))
		return -ENOENT;
	off = gpa - ring->iova;
	while (len) {
		unsigned int poff = offset_in_page(off);
		unsigned int n = min_t(u32, len, PAGE_SIZE - poff);
		void *va = kmap_local_page(ring->pages[off >> PAGE_SHIFT]);

		kacc_copy(va + poff, buf, n, write);
		kunmap_local(va);
		buf += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* --- struct nac_mem_ops for the core: opaque is the queue pair ---------- */

static int kacc_mem_rw(struct kacc_qp *qp, u64 gpa, void *buf, u32 len,
		       bool write)
{
	unsigned int i;

	if (!kacc_ring_rw(&qp->sq_ring, gpa, buf, len, write) ||
	    !kacc_ring_rw(&qp->cq_ring, gpa, buf, len, write))
		return 0;
	for (i = 0; i < qp->nshadow; i++)
		if (!kacc_ring_rw(&qp->shadow[i], gpa, buf, len, write))
			return 0;
	/* Not pinned: PRP lists, SGL segments, DSM ranges, bounce data. */
	if (!len || gpa + len < gpa)
		return -EFAULT;
	return vfio_dma_rw(&qp->dev->vdev, gpa, buf, len, write) ? -EFAULT : 0;
}

static int kacc_mem_read(void *opaque, uint64_t gpa, void *buf, uint32_t len)
{
	return kacc_mem_rw(opaque, gpa, buf, len, false);
}

static int kacc_mem_write(void *opaque, uint64_t gpa, const void *buf,
			  uint32_t len)
{
	return kacc_mem_rw(opaque, gpa, (void *)buf, len, true);
}

/*
 * No .translate: data segments are pinned page by page when the bio is
 * built, and a page that cannot be pinned fails the command with Data
 * Transfer Error there.
 */
const struct nac_mem_ops kacc_mem_ops = {
	.read = kacc_mem_read,
	.write = kacc_mem_write,
};

/* --- the pin cache for data pages (worker only) ------------------------- */

static void kacc_pin_evict(struct kacc_dev *dev, struct kacc_pin *pin)
{
	hash_del(&pin->hnode);
	list_del(&pin->lru);
	vfio_unpin_pages(&dev->vdev, pin->iova, 1);
	dev->nr_pins--;
	kfree(pin);
}

/*
 * Pin the guest page at @iova (page aligned) for a request; @write: the
 * device will write it (a read command). ERR_PTR(-EFAULT) if it is not
 * guest memory we may use that way, ERR_PTR(-EAGAIN) while it is being
 * unmapped (the request waits: QEMU may be about to map it again).
 */
struct kacc_pin *kacc_pin_get(struct kacc_dev *dev, u64 iova, bool write)
{
	struct kacc_pin *pin;
	int ret;

	hash_for_each_possible(dev->pin_hash, pin, hnode, iova) {
		if (pin->iova != iova)
			continue;
		if (pin->draining)
			return ERR_PTR(-EAGAIN);
		if (write && !pin->writable)
			return ERR_PTR(-EFAULT);
		if (!pin->users++)
			list_del_init(&pin->lru);
		return pin;
	}

	if (kacc_fenced(dev, iova, PAGE_SIZE))
		return ERR_PTR(-EAGAIN);
	pin = kmalloc(sizeof(*pin), GFP_NOIO | __GFP_ACCOUNT);
	if (!pin)
		return ERR_PTR(-ENOMEM);
	/* Writable if the mapping allows, so later reads can use it too. */
	pin->writable = true;
	ret = vfio_pin_pages(&dev->vdev, iova, 1, IOMMU_READ | IOMMU_WRITE,
			     &pin->page);
	if (ret == -EPERM && !write) {
		pin->writable = false;
		ret = vfio_pin_pages(&dev->vdev, iova, 1, IOMMU_READ,
				     &pin->page);
	}
	if (ret != 1) {
		kfree(pin);
		return ERR_PTR(ret == -ENOMEM ? -ENOMEM : -EFAULT);
	}
	pin->iova = iova;
	pin->users = 1;
	pin->draining = false;
	INIT_LIST_HEAD(&pin->lru);
	hash_add(dev->pin_hash, &pin->hnode, iova);
	dev->nr_pins++;
	return pin;
}

void kacc_pin_put(struct kacc_dev *dev, struct kacc_pin *pin)
{
	/* kacc_dma_unmap() waits for this one. */
	if (pin->draining)
		WRITE_ONCE(dev->drain_users, dev->drain_users - 1);
	if (--pin->users)
		return;
	list_add_tail(&pin->lru, &dev->pin_lru);
	/* Over the limit: let the least recently used idle pages go. */
	while (dev->nr_pins > READ_ONCE(kacc_pin_cache_pages) &&
	       !list_empty(&dev->pin_lru))
		kacc_pin_evict(dev, list_first_entry(&dev->pin_lru,
						     struct kacc_pin, lru));
}

/* Unpin cached pages in [@iova, @iova + @len); no request may use them. */
void kacc_pins_drop(struct kacc_dev *dev, u64 iova, u64 len)
{
	struct hlist_node *tmp;
	struct kacc_pin *pin;
	unsigned int bkt;

	hash_for_each_safe(dev->pin_hash, bkt, tmp, pin, hnode) {
		if (!kacc_ranges_overlap(pin->iova, PAGE_SIZE, iova, len))
			continue;
		if (WARN_ON_ONCE(pin->users))
			continue;
		kacc_pin_evict(dev, pin);
	}
}

/*
 * Worker parked: of the pages in [@iova, @iova + @len), the idle ones are
 * unpinned now (a cached one could otherwise get a new user while we wait)
 * and the ones requests are using take no new users. Returns how many
 * uses there are to wait for.
 */
static unsigned long kacc_pins_drain(struct kacc_dev *dev, u64 iova, u64 len)
{
	struct hlist_node *tmp;
	struct kacc_pin *pin;
	unsigned int bkt;

	hash_for_each_safe(dev->pin_hash, bkt, tmp, pin, hnode) {
		if (pin->draining ||
		    !kacc_ranges_overlap(pin->iova, PAGE_SIZE, iova, len))
			continue;
		if (!pin->users) {
			kacc_pin_evict(dev, pin);
			continue;
		}
		pin->draining = true;
		dev->drain_users += pin->users;
	}
	return dev->drain_users;
}

/*
 * vfio_device_ops.dma_unmap: QEMU unmapped [@iova, @iova + @len) from the
 * container; VFIO retries a few times and then BUG()s if we still hold a
 * pin in there, so this must not fail. Only I/O into the range is waited
 * for (bios always complete): the fence keeps new pins out, the draining
 * pins keep their cached users from growing, queues elsewhere run on.
 */
void kacc_dma_unmap(struct vfio_device *vdev, u64 iova, u64 len)
{
	struct kacc_dev *dev = to_kacc(vdev);

	if (!len)
		return;
	mutex_lock(&dev->lock);
	if (dev->worker) {
		kacc_fence_add(dev, iova, len);
		/* Parked, the worker has seen the fence. */
		kacc_worker_park(dev);
		if (kacc_pins_drain(dev, iova, len)) {
			kacc_worker_unpark(dev);
			/* TASK_IDLE: the owner's io.max may make this long. */
			wait_event_idle(dev->idle_wq,
					!READ_ONCE(dev->drain_users));
			kacc_worker_park(dev);
		}
		kacc_qp_unmap(dev, iova, len);
		kacc_pins_drop(dev, iova, len);
		kacc_worker_unpark(dev);
		kacc_kick_worker(dev);
	}
	mutex_unlock(&dev->lock);
}
