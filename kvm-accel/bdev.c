// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * kvm-accel: the block device backend.
 *
 * A decoded command (struct nac_req) becomes bios on the guest's own pages
 * (pinned, zero copy) or, where the block device cannot take the guest's
 * buffer as it is (alignment) and for Compare, on a bounce buffer. Reads
 * and writes are submitted with REQ_POLLED when the device polls, and the
 * worker polls them with bio_poll(); everything else completes through
 * bi_end_io, which hands the request to the worker. One function maps block
 * status to NVMe status. Modelled on drivers/nvme/target/io-cmd-bdev.c.
 *
 * The worker never sleeps in submit_bio() while it has polled bios in
 * flight: it is the only one that polls
 * its polled bios, and a queue being frozen (an elevator or nr_requests
 * change, a revalidation) waits for those bios while submit_bio() waits for
 * the freeze to end. So the worker submits everything with REQ_NOWAIT; a
 * bio that fails with BLK_STS_AGAIN (no tag, a frozen queue, a split the
 * block layer would have to make) is submitted again, and from the second
 * time on from the device's workqueue, without polling (the io-wq model):
 * there it may sleep. So are bios for a device without REQ_NOWAIT support,
 * and Dataset
 * Management and Write Zeroes, which the block layer's helpers turn into
 * chains of bios submitted as they are built.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bio.h>
#include <linux/blk-cgroup.h>
#include <linux/blkdev.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "kacc.h"

/* --- attach ------------------------------------------------------------- */

/*
 * Open the block device exclusively, with @dev as holder; *@handle is what
 * kacc_bdev_close() needs to undo it.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 11, 0)
/*
 * The block device is going away (removal, a dead medium): QEMU hears of
 * it. Called with bd_holder_lock held, which keeps our claim and so @dev
 * alive; the callback must drop it.
 */
static void kacc_bdev_mark_dead(struct block_device *bdev, bool surprise)
{
	struct kacc_dev *dev = bdev->bd_holder;

	pr_warn_ratelimited("%s: its block device went away%s\n",
			    dev_name(dev->vdev.dev), surprise ? " (surprise)" : "");
	WRITE_ONCE(dev->bdev_dead, true);
	kacc_event(dev, KVM_ACCEL_EVENT_BDEV_DEAD, 0);
	mutex_unlock(&bdev->bd_holder_lock);
}

static const struct blk_holder_ops kacc_holder_ops = {
	.mark_dead = kacc_bdev_mark_dead,
};

static struct block_device *kacc_bdev_open(struct kacc_dev *dev, dev_t devt,
					   bool ro, void **handle)
{
	blk_mode_t mode = BLK_OPEN_READ | BLK_OPEN_EXCL |
			  (ro ? 0 : BLK_OPEN_WRITE);
	struct file *file = bdev_file_open_by_dev(devt, mode, dev,
						  &kacc_holder_ops);

	if (IS_ERR(file))
		return ERR_CAST(file);
	*handle = file;
	return file_bdev(file);
}

static void kacc_bdev_close(struct block_device *bdev, void *handle)
{
	/* Yields the exclusive claim now, not when the file is freed. */
	bdev_fput(handle);
}

static bool kacc_bdev_polls(struct block_device *bdev)
{
	return (bdev_get_queue(bdev)->limits.features & BLK_FEAT_POLL) &&
	       bdev_nowait(bdev);
}
#else
/* 6.1: no holder operations; a dead device shows as I/O errors. */
static struct block_device *kacc_bdev_open(struct kacc_dev *dev, dev_t devt,
					   bool ro, void **handle)
{
	fmode_t mode = FMODE_READ | FMODE_EXCL | (ro ? 0 : FMODE_WRITE);

	*handle = (void *)(unsigned long)mode;
	return blkdev_get_by_dev(devt, mode, dev);
}

static void kacc_bdev_close(struct block_device *bdev, void *handle)
{
	blkdev_put(bdev, (fmode_t)(unsigned long)handle);
}

static bool kacc_bdev_polls(struct block_device *bdev)
{
	return test_bit(QUEUE_FLAG_POLL, &bdev_get_queue(bdev)->queue_flags) &&
	       bdev_nowait(bdev);
}
#endif

/*
 * The block device the caller has open as @fd: for reading, and for writing
 * unless @ro. The caller's open was the permission check (credentials,
 * nodev mounts); claiming the device by number afterwards gives the
 * exclusive open with the mdev as holder. fget() refuses O_PATH files.
 */
static int kacc_bdev_lookup(int fd, bool ro, dev_t *devt)
{
	struct file *file = fget(fd);
	int ret = 0;

	if (!file)
		return -EBADF;
	if (!S_ISBLK(file_inode(file)->i_mode))
		ret = -ENOTBLK;
	else if (!(file->f_mode & FMODE_READ) ||
		 (!ro && !(file->f_mode & FMODE_WRITE)))
		ret = -EBADF;
	else
		*devt = file_inode(file)->i_rdev;
	fput(file);
	return ret;
}

static u32 kacc_bdev_flags(struct block_device *bdev, bool ro)
{
	u32 flags = KVM_ACCEL_BDEV_ATTACHED;

	if (ro)
		flags |= KVM_ACCEL_BDEV_READ_ONLY;
	if (kacc_bdev_polls(bdev))
		flags |= KVM_ACCEL_BDEV_POLL;
	if (bdev_max_discard_sectors(bdev))
		flags |= KVM_ACCEL_BDEV_DISCARD;
	if (bdev_write_zeroes_sectors(bdev))
		flags |= KVM_ACCEL_BDEV_WRITE_ZEROES;
	if (bdev_write_cache(bdev))
		flags |= KVM_ACCEL_BDEV_WRITE_CACHE;
	return flags;
}

long kacc_ioctl_attach_bdev(struct kacc_dev *dev, void __user *arg)
{
	unsigned long minsz = offsetofend(struct kvm_accel_attach_bdev, pad);
	struct kvm_accel_attach_bdev a;
	struct block_device *bdev;
	unsigned int shift;
	void *handle;
	bool ro;
	dev_t devt;
	long ret;

	if (copy_from_user(&a, arg, minsz))
		return -EFAULT;
	if (a.argsz < minsz || (a.flags & ~KVM_ACCEL_ATTACH_READ_ONLY) ||
	    a.pad0 || a.pad)
		return -EINVAL;
	if (a.nsid < 1 || a.nsid > 0xfffffffe)
		return -EINVAL;
	if (a.lba_shift && (a.lba_shift < 9 || a.lba_shift > 12))
		return -EINVAL;
	if (dev->bdev)
		return -EBUSY;
	ro = a.flags & KVM_ACCEL_ATTACH_READ_ONLY;

	ret = kacc_bdev_lookup(a.fd, ro, &devt);
	if (ret)
		return ret;
	/* From the claim on, mark_dead may set it. */
	WRITE_ONCE(dev->bdev_dead, false);
	bdev = kacc_bdev_open(dev, devt, ro, &handle);
	if (IS_ERR(bdev))
		return PTR_ERR(bdev);

	shift = ilog2(bdev_logical_block_size(bdev));
	if (a.lba_shift) {
		if (a.lba_shift < shift) {
			ret = -EINVAL;
			goto out_close;
		}
		shift = a.lba_shift;
	}
	if (shift > 12) {
		ret = -EINVAL;
		goto out_close;
	}
	ro = ro || bdev_read_only(bdev);

	/* Tell the caller first: a failed ATTACH leaves nothing attached. */
	a.lba_shift = shift;
	a.nsze = bdev_nr_sectors(bdev) >> (shift - SECTOR_SHIFT);
	a.bdev_flags = kacc_bdev_flags(bdev, ro);
	if (copy_to_user(arg, &a, minsz)) {
		ret = -EFAULT;
		goto out_close;
	}

	/* The worker sees the block device and the namespace together. */
	kacc_worker_park(dev);
	dev->bdev = bdev;
	dev->bdev_handle = handle;
	dev->ns.nsid = a.nsid;
	dev->ns.lba_shift = shift;
	dev->ns.nsze = a.nsze;
	dev->ns.read_only = ro;
	dev->bdev_flags = a.bdev_flags;
	dev->bdev_nowait = bdev_nowait(bdev);
	ewma_poll_lat_init(&dev->poll_lat);
	kacc_worker_unpark(dev);
	return 0;

out_close:
	kacc_bdev_close(bdev, handle);
	return ret;
}

long kacc_ioctl_set_namespace(struct kacc_dev *dev, void __user *arg)
{
	unsigned long minsz = offsetofend(struct kvm_accel_namespace, pad);
	struct kvm_accel_namespace a;
	u64 max;

	if (copy_from_user(&a, arg, minsz))
		return -EFAULT;
	if (a.argsz < minsz || a.pad ||
	    (a.flags & ~(KVM_ACCEL_NS_SET_NSZE | KVM_ACCEL_NS_SET_CACHE)) ||
	    (a.ns_flags & ~KVM_ACCEL_NS_WRITE_THROUGH))
		return -EINVAL;
	if (!dev->bdev)
		return -ENODEV;
	if (a.flags & KVM_ACCEL_NS_SET_NSZE) {
		max = bdev_nr_sectors(dev->bdev) >>
		      (dev->ns.lba_shift - SECTOR_SHIFT);
		if (!a.nsze || a.nsze > max)
			return -EINVAL;
	}

	/* The worker checks LBAs against ns.nsze: change it between commands. */
	kacc_worker_park(dev);
	if (a.flags & KVM_ACCEL_NS_SET_NSZE)
		dev->ns.nsze = a.nsze;
	if (a.flags & KVM_ACCEL_NS_SET_CACHE)
		WRITE_ONCE(dev->write_through,
			   a.ns_flags & KVM_ACCEL_NS_WRITE_THROUGH);
	kacc_worker_unpark(dev);
	return 0;
}

/* After kacc_dev_pause() or with the worker stopped. */
void kacc_bdev_detach(struct kacc_dev *dev)
{
	if (!dev->bdev)
		return;
	kacc_bdev_close(dev->bdev, dev->bdev_handle);
	dev->bdev = NULL;
	dev->bdev_handle = NULL;
	dev->bdev_flags = 0;
	dev->bdev_nowait = false;
	WRITE_ONCE(dev->write_through, false);
	WRITE_ONCE(dev->bdev_dead, false);
	memset(&dev->ns, 0, sizeof(dev->ns));
}

/* --- status ------------------------------------------------------------- */

/**
 * kacc_blk_status_to_nvme() - the NVMe status for a failed bio
 * @sts: the bio's status
 * @op: what the command was
 *
 * Retryable conditions come without DNR, so the guest retries them.
 *
 * Return: an NVMe status field value (NAC_SC_* | NAC_DNR).
 */
u16 kacc_blk_status_to_nvme(blk_status_t sts, enum nac_op op)
{
	bool write = op != NAC_OP_READ && op != NAC_OP_COMPARE;

	switch (sts) {
	case BLK_STS_OK:
		return NAC_SC_SUCCESS;
	case BLK_STS_NOTSUPP:
		return NAC_SC_INVALID_OPCODE | NAC_DNR;
	case BLK_STS_NOSPC:
		return NAC_SC_CAP_EXCEEDED | NAC_DNR;
	case BLK_STS_TARGET:
		return NAC_SC_LBA_RANGE | NAC_DNR;
	case BLK_STS_OFFLINE:
		return NAC_SC_NS_NOT_READY | NAC_DNR;
	case BLK_STS_RESOURCE:
	case BLK_STS_DEV_RESOURCE:
	case BLK_STS_AGAIN:
	case BLK_STS_TIMEOUT:
	case BLK_STS_TRANSPORT:
		return NAC_SC_INTERNAL;
	case BLK_STS_MEDIUM:
	case BLK_STS_IOERR:
	default:
		return write ? NAC_SC_WRITE_FAULT : NAC_SC_UNRECOVERED_READ;
	}
}

static u16 kacc_errno_to_nvme(int err)
{
	return err == -ENOMEM ? NAC_SC_INTERNAL :
			       NAC_SC_DATA_TRANSFER_ERROR | NAC_DNR;
}

/* --- submission --------------------------------------------------------- */

/*
 * A request's I/O is over (any context): hand it to the worker. Once the
 * worker has reaped it, close may go on and stop the worker, so the
 * wake-up goes through an RCU-protected pointer that kacc_worker_stop()
 * clears and waits for.
 */
static void kacc_req_done(struct kacc_req *req, blk_status_t sts)
{
	struct kacc_dev *dev = req->qp->dev;
	struct task_struct *worker;

	req->bi_status = sts;
	rcu_read_lock();
	/* The first completion of a batch wakes the worker. */
	if (llist_add(&req->lnode, &dev->completed)) {
		set_bit(KACC_DEV_KICK, &dev->wflags);
		worker = rcu_dereference(dev->wake_task);
		if (worker)
			wake_up_process(worker);
	}
	rcu_read_unlock();
}

static void kacc_bio_end_io(struct bio *bio)
{
	kacc_req_done(bio->bi_private, bio->bi_status);
}

static void kacc_req_release(struct kacc_dev *dev, struct kacc_req *req)
{
	while (req->npins)
		kacc_pin_put(dev, req->pins[--req->npins]);
	if (req->bounce) {
		dev->bounce_bytes -= req->bounce_len;
		kvfree(req->bounce);
		req->bounce = NULL;
	}
	kfree(req->ranges);
	req->ranges = NULL;
}

/* In flight from here until the worker reaps it. */
static void kacc_req_start(struct kacc_dev *dev, struct kacc_req *req,
			   struct bio *bio)
{
	req->bio = bio;
	req->bi_status = BLK_STS_OK;
	req->qp->nr_io++;
	dev->nr_io++;
}

static void kacc_submit(struct kacc_dev *dev, struct kacc_req *req,
			struct bio *bio)
{
	bio->bi_private = req;
	bio->bi_end_io = kacc_bio_end_io;
	kacc_req_start(dev, req, bio);
	if (!dev->bdev_nowait || req->again >= 2) {
		queue_work(dev->wq, &req->work);
		return;
	}
	bio->bi_opf |= REQ_NOWAIT;
	submit_bio(bio);
}

/* Dataset Management and Write Zeroes: the block layer's helpers sleep. */
static bool kacc_submit_blocking(struct kacc_dev *dev, struct kacc_req *req)
{
	kacc_req_start(dev, req, NULL);
	queue_work(dev->wq, &req->work);
	return true;
}

static sector_t kacc_sector(struct kacc_dev *dev, u64 lba)
{
	return lba << (dev->ns.lba_shift - SECTOR_SHIFT);
}

/*
 * Can the bio use the guest's pages as they are? Every segment must meet
 * the device's DMA alignment, and the pages must fit the request's pin
 * array (a very fragmented SGL may not; a streamed one has no scatter
 * list at all). Returns the page count or 0.
 */
static unsigned int kacc_direct_pages(struct kacc_dev *dev,
				      const struct kacc_req *req)
{
	unsigned int mask = bdev_dma_alignment(dev->bdev);
	unsigned int i, n = 0;

	for (i = 0; i < req->r.nsg; i++) {
		const struct nac_sg *sg = &req->r.sg[i];

		if ((sg->addr | sg->len) & mask)
			return 0;
		n += DIV_ROUND_UP((sg->addr & ~PAGE_MASK) + sg->len, PAGE_SIZE);
		if (n > KACC_REQ_PAGES)
			return 0;
	}
	return n;
}

static int kacc_bio_add_guest(struct kacc_dev *dev, struct kacc_req *req,
			      struct bio *bio, bool to_guest)
{
	unsigned int i;

	for (i = 0; i < req->r.nsg; i++) {
		u64 addr = req->r.sg[i].addr;
		u32 left = req->r.sg[i].len;

		while (left) {
			unsigned int off = addr & ~PAGE_MASK;
			unsigned int n = min_t(u32, left, PAGE_SIZE - off);
			struct kacc_pin *pin;

			pin = kacc_pin_get(dev, addr & PAGE_MASK, to_guest);
			if (IS_ERR(pin))
				return PTR_ERR(pin);
			req->pins[req->npins++] = pin;
			if (bio_add_page(bio, pin->page, n, off) != n)
				return -EIO;
			addr += n;
			left -= n;
		}
	}
	return 0;
}

static int kacc_bio_add_buf(struct bio *bio, void *buf, u32 len)
{
	while (len) {
		unsigned int off = offset_in_page(buf);
		unsigned int n = min_t(u32, len, PAGE_SIZE - off);
		struct page *page = is_vmalloc_addr(buf) ? vmalloc_to_page(buf) :
							   virt_to_page(buf);

		if (bio_add_page(bio, page, n, off) != n)
			return -EIO;
		buf += n;
		len -= n;
	}
	return 0;
}

/*
 * Poll for a read or write only where its completion is likely to come
 * within the time the worker spins anyway after its last work (poll_usecs).
 * A slower device gets bios that complete by interrupt and wake the worker
 * (polled bios have no wake-up: the worker would spin or sleep blindly),
 * and one bio in KACC_POLL_PROBE polled, to notice when it gets faster.
 */
static bool kacc_poll_wanted(struct kacc_dev *dev, struct kacc_req *req)
{
	if (!READ_ONCE(kacc_poll_io) ||
	    !(dev->bdev_flags & KVM_ACCEL_BDEV_POLL) || req->again >= 2)
		return false;
#ifdef CONFIG_BLK_CGROUP
	/*
	 * REQ_NOWAIT does not keep rq-qos (io.latency, io.cost) from
	 * sleeping in submit_bio() for a non-root cgroup: the worker must
	 * not sleep there with polled bios only it polls.
	 */
	if (dev->owner_blkcg != blkcg_root_css)
		return false;
#endif
	if (ewma_poll_lat_read(&dev->poll_lat) <=
	    (unsigned long)READ_ONCE(kacc_poll_usecs) * NSEC_PER_USEC)
		return true;
	return !(++dev->poll_probe % KACC_POLL_PROBE);
}

static bool kacc_submit_rw(struct kacc_dev *dev, struct kacc_req *req)
{
	struct kacc_qp *qp = req->qp;
	bool write = req->r.op == NAC_OP_WRITE;
	unsigned int npages = 0;
	struct bio *bio;
	blk_opf_t opf;
	int ret;

	opf = write ? REQ_OP_WRITE | REQ_SYNC | REQ_IDLE : REQ_OP_READ;
	if (write && (req->r.fua || READ_ONCE(dev->write_through)))
		opf |= REQ_FUA;
	if (req->r.op != NAC_OP_COMPARE)
		npages = kacc_direct_pages(dev, req);
	if (!npages) {
		size_t len = round_up(req->r.len, PAGE_SIZE);

		/* Bounded per device; one always fits. Completions wake us. */
		if (dev->bounce_bytes &&
		    dev->bounce_bytes + len > KACC_BOUNCE_MAX) {
			req->waiting = true;
			list_add_tail(&req->node, &qp->retry);
			return true;
		}
		req->bounce = kvmalloc(len, GFP_NOIO | __GFP_ACCOUNT);
		if (!req->bounce) {
			req->status = NAC_SC_INTERNAL;
			return false;
		}
		req->bounce_len = len;
		dev->bounce_bytes += len;
		if (write && nac_req_read(&qp->mem, &req->r, req->bounce)) {
			req->status = NAC_SC_DATA_TRANSFER_ERROR | NAC_DNR;
			goto out_release;
		}
		/* Up to NAC_SGL_MAX_DESC copies through vfio_dma_rw(). */
		if (req->r.streamed)
			cond_resched();
	}

	bio = bio_alloc(dev->bdev, npages ?: DIV_ROUND_UP(req->r.len, PAGE_SIZE),
			opf, GFP_NOIO);
	bio->bi_iter.bi_sector = kacc_sector(dev, req->r.slba);
	if (npages)
		ret = kacc_bio_add_guest(dev, req, bio, !write);
	else
		ret = kacc_bio_add_buf(bio, req->bounce, req->r.len);
	if (ret == -EAGAIN) {
		/* A page is being unmapped: wait for VFIO to finish. */
		bio_put(bio);
		kacc_req_release(dev, req);
		req->fenced = true;
		dev->nr_fenced++;
		list_add_tail(&req->node, &qp->retry);
		return true;
	}
	if (ret) {
		bio_put(bio);
		req->status = kacc_errno_to_nvme(ret);
		goto out_release;
	}
	if (kacc_poll_wanted(dev, req)) {
		bio->bi_opf |= REQ_POLLED | REQ_NOWAIT;
		req->polled = true;
		list_add_tail(&req->node, &dev->polled);
	}
	kacc_submit(dev, req, bio);
	return true;

out_release:
	kacc_req_release(dev, req);
	return false;
}

static bool kacc_submit_flush(struct kacc_dev *dev, struct kacc_req *req)
{
	kacc_submit(dev, req, bio_alloc(dev->bdev, 0,
					REQ_OP_WRITE | REQ_PREFLUSH, GFP_NOIO));
	return true;
}

static bool kacc_submit_write_zeroes(struct kacc_dev *dev,
				     struct kacc_req *req)
{
	return kacc_submit_blocking(dev, req);
}

static bool kacc_submit_discard(struct kacc_dev *dev, struct kacc_req *req)
{
	/* Deallocation is advisory: without discard there is nothing to do. */
	if (!bdev_max_discard_sectors(dev->bdev) || !req->r.nr_ranges)
		return false;
	/* r.ranges is decode scratch the next DSM command overwrites. */
	req->ranges = kmemdup(req->r.ranges,
			      req->r.nr_ranges * sizeof(*req->ranges),
			      GFP_NOIO | __GFP_ACCOUNT);
	if (!req->ranges) {
		req->status = NAC_SC_INTERNAL;
		return false;
	}
	return kacc_submit_blocking(dev, req);
}

/*
 * dev->wq: what the worker may not do because it sleeps; charged to the
 * device's owner like the worker's own work.
 */
static void kacc_blocking_work(struct work_struct *work)
{
	struct kacc_req *req = container_of(work, struct kacc_req, work);
	struct kacc_dev *dev = req->qp->dev;
	struct mem_cgroup *old;
	int ret = 0;
	u32 i;

	kacc_owner_enter(dev, &old);
	switch (req->r.op) {
	case NAC_OP_DISCARD:
		for (i = 0; i < req->r.nr_ranges && !ret; i++)
			if (req->ranges[i].nlb)
				ret = blkdev_issue_discard(dev->bdev,
					kacc_sector(dev, req->ranges[i].slba),
					kacc_sector(dev, req->ranges[i].nlb),
					GFP_NOIO);
		/* Deallocation the device turned down is no error. */
		if (ret == -EOPNOTSUPP)
			ret = 0;
		break;
	case NAC_OP_WRITE_ZEROES:
		/*
		 * Falls back to writing zero pages where the device has no
		 * Write Zeroes, or turned it down. Without DEAC the blocks
		 * must stay allocated.
		 */
		ret = blkdev_issue_zeroout(dev->bdev,
					   kacc_sector(dev, req->r.slba),
					   kacc_sector(dev, req->r.nlb), GFP_NOIO,
					   req->r.deallocate ?
					   0 : BLKDEV_ZERO_NOUNMAP);
		/* Zeroout has no FUA: the cache off means on media now. */
		if (!ret && (req->r.fua || READ_ONCE(dev->write_through)))
			ret = blkdev_issue_flush(dev->bdev);
		break;
	default:
		/* A bio the worker built; the request is not ours after this. */
		submit_bio(req->bio);
		kacc_owner_leave(old);
		return;
	}
	kacc_owner_leave(old);
	kacc_req_done(req, errno_to_blk_status(ret));
}

void kacc_req_init(struct kacc_req *req)
{
	INIT_WORK(&req->work, kacc_blocking_work);
}

/**
 * kacc_bdev_submit() - start a decoded command
 * @dev: the device
 * @req: a request nac_cmd_decode() accepted
 *
 * Return: true if the request is in flight (the worker sees it again in
 * kacc_bdev_finish()) or waits on @req->qp->retry with @req->fenced for a
 * range being unmapped, false if it is complete already with @req->status.
 */
bool kacc_bdev_submit(struct kacc_dev *dev, struct kacc_req *req)
{
	if (!dev->bdev) {
		req->status = NAC_SC_INVALID_NS | NAC_DNR;
		return false;
	}
	switch (req->r.op) {
	case NAC_OP_READ:
	case NAC_OP_WRITE:
	case NAC_OP_COMPARE:
		return kacc_submit_rw(dev, req);
	case NAC_OP_FLUSH:
		return kacc_submit_flush(dev, req);
	case NAC_OP_WRITE_ZEROES:
		return kacc_submit_write_zeroes(dev, req);
	case NAC_OP_DISCARD:
		return kacc_submit_discard(dev, req);
	case NAC_OP_NOP:
		return false;
	}
	req->status = NAC_SC_INTERNAL;
	return false;
}

/* Compare: the device's data (bounce) against the guest's buffer. */
static u16 kacc_compare(struct kacc_req *req)
{
	void *host = kvmalloc(req->r.len, GFP_NOIO | __GFP_ACCOUNT);
	u16 status = NAC_SC_SUCCESS;

	if (!host)
		return NAC_SC_INTERNAL;
	if (nac_req_read(&req->qp->mem, &req->r, host))
		status = NAC_SC_DATA_TRANSFER_ERROR | NAC_DNR;
	else if (memcmp(host, req->bounce, req->r.len))
		status = NAC_SC_COMPARE_FAILURE | NAC_DNR;
	kvfree(host);
	return status;
}

/*
 * In the worker, once the request's bio has completed. Returns true if the
 * request is to be submitted again (kacc_bdev_submit()), false if it is
 * complete with req->status.
 */
bool kacc_bdev_finish(struct kacc_dev *dev, struct kacc_req *req)
{
	blk_status_t sts = req->bi_status;

	if (req->polled) {
		/*
		 * From fetch to reap: what polling costs the worker. Anything
		 * past 100 ms is "far too slow" (and keeps the average, which
		 * is an unsigned long shifted by 4, from overflowing).
		 */
		ewma_poll_lat_add(&dev->poll_lat,
				  min_t(u64, ktime_get_ns() - req->start_ns,
					100 * NSEC_PER_MSEC));
		list_del(&req->node);
		req->polled = false;
		kacc_stat_inc(dev, polled);
	}
	if (req->bio)
		bio_put(req->bio);
	req->bio = NULL;
	/* A REQ_NOWAIT bio that would have had to wait: again. */
	if (sts == BLK_STS_AGAIN && !req->status) {
		if (req->again < U8_MAX)
			req->again++;
		kacc_req_release(dev, req);
		return true;
	}
	if (sts) {
		if (!req->status)
			req->status = kacc_blk_status_to_nvme(sts, req->r.op);
	} else if (req->bounce && !req->status) {
		if (req->r.op == NAC_OP_READ &&
		    nac_req_write(&req->qp->mem, &req->r, req->bounce))
			req->status = NAC_SC_DATA_TRANSFER_ERROR | NAC_DNR;
		else if (req->r.op == NAC_OP_COMPARE)
			req->status = kacc_compare(req);
		if (req->r.streamed)
			cond_resched();
	}
	kacc_req_release(dev, req);
	return false;
}

/*
 * Poll the hardware queues of the polled bios in flight, once each: one
 * bio_poll() per distinct cookie reaps everything done on that queue.
 * Completions run kacc_bio_end_io() right here, and the worker sees them
 * in dev->completed. bio_poll() called by a running task reports progress
 * even when nothing completed, so its result means nothing to us.
 */
void kacc_bdev_poll(struct kacc_dev *dev)
{
	blk_qc_t last = BLK_QC_T_NONE;
	struct kacc_req *req;

	list_for_each_entry(req, &dev->polled, node) {
		blk_qc_t cookie = READ_ONCE(req->bio->bi_cookie);

		if (cookie == last)
			continue;
		last = cookie;
		bio_poll(req->bio, NULL, BLK_POLL_ONESHOT);
	}
}
