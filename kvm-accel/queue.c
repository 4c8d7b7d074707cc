// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * kvm-accel: queue pairs, the worker, interrupts.
 *
 * One worker kthread per open device runs all its queue pairs, round robin,
 * at most KACC_QP_BUDGET commands from one queue before turning to the next:
 *
 *   reap completed bios -> post CQEs (phase tag, CQ full check) -> decide
 *   the interrupt (coalescing, shadow head) -> read the SQ tail (shadow
 *   doorbell or a forwarded MMIO value) -> fetch, decode, submit.
 *
 * While there is work it loops; when there is none it keeps polling for
 * poll_usecs, then publishes the SQ event indexes (so the guest rings its
 * doorbell for the next command), re-checks, and sleeps until a kick
 * eventfd, a completed bio, a doorbell ioctl or a coalescing deadline wakes
 * it. This is vhost's shape: a wait-queue entry on each kick eventfd does
 * nothing but wake the worker.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/blkdev.h>
#include <linux/eventfd.h>
#include <linux/cgroup.h>
#include <linux/file.h>
#include <linux/hrtimer.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/log2.h>
#include <linux/sched.h>
#include <linux/sched/stat.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "kacc.h"

/*
 * The worker's view of a queue slot. CREATE_QUEUE_PAIR publishes a pair
 * while the worker runs; a slot is cleared only while the worker is parked
 * or stopped. So the worker needs neither dev->lock nor an RCU read-side
 * section (it sleeps), only the ordering of rcu_dereference(), and nobody
 * else may read the slots this way.
 */
static struct kacc_qp *kacc_qp_at(struct kacc_dev *dev, unsigned int qid)
{
	return rcu_dereference_check(dev->qps[qid], current == dev->worker);
}

/* The control path's view, under dev->lock. */
static struct kacc_qp *kacc_qp_lookup(struct kacc_dev *dev, unsigned int qid)
{
	if (qid < 1 || qid > KACC_MAX_QUEUES)
		return NULL;
	return rcu_dereference_protected(dev->qps[qid],
					 lockdep_is_held(&dev->lock));
}

/* --- waking the worker -------------------------------------------------- */

void kacc_kick_worker(struct kacc_dev *dev)
{
	set_bit(KACC_DEV_KICK, &dev->wflags);
	wake_up_process(dev->worker);
}

static int kacc_kick_wakeup(wait_queue_entry_t *wait, unsigned int mode,
			    int sync, void *key)
{
	struct kacc_kick *kick = container_of(wait, struct kacc_kick, wait);
	u64 cnt;

	/* EPOLLOUT wake-ups (someone read the eventfd) are not for us. */
	if (!(key_to_poll(key) & EPOLLIN))
		return 0;
	/* Called under the eventfd's wait-queue lock, as KVM's irqfd does. */
	eventfd_ctx_do_read(kick->ctx, &cnt);
	atomic64_inc(&kick->dev->kicks);
	kacc_kick_worker(kick->dev);
	return 0;
}

static void kacc_kick_queue_proc(struct file *file, wait_queue_head_t *wqh,
				 poll_table *pt)
{
	struct kacc_kick *kick = container_of(pt, struct kacc_kick, pt);

	kick->wqh = wqh;
	add_wait_queue(wqh, &kick->wait);
}

static int kacc_kick_attach(struct kacc_dev *dev, struct kacc_kick *kick,
			    int fd)
{
	__poll_t mask;
	int ret;

	kick->dev = dev;
	kick->file = fget(fd);
	if (!kick->file)
		return -EBADF;
	kick->ctx = eventfd_ctx_fileget(kick->file);
	if (IS_ERR(kick->ctx)) {
		ret = PTR_ERR(kick->ctx);
		goto out_fput;
	}
	init_waitqueue_func_entry(&kick->wait, kacc_kick_wakeup);
	init_poll_funcptr(&kick->pt, kacc_kick_queue_proc);
	kick->wqh = NULL;
	mask = vfs_poll(kick->file, &kick->pt);
	if (!kick->wqh) {
		ret = -EINVAL;
		goto out_ctx;
	}
	if (mask & EPOLLIN)
		kacc_kick_worker(dev);
	return 0;

out_ctx:
	eventfd_ctx_put(kick->ctx);
out_fput:
	fput(kick->file);
	return ret;
}

static void kacc_kick_detach(struct kacc_kick *kick)
{
	remove_wait_queue(kick->wqh, &kick->wait);
	eventfd_ctx_put(kick->ctx);
	fput(kick->file);
}

/* --- interrupts --------------------------------------------------------- */

/* Signal the eventfd in @slot, if any (any context but interrupts). */
bool kacc_eventfd_fire(struct eventfd_ctx __rcu **slot)
{
	struct eventfd_ctx *ctx;

	rcu_read_lock();
	ctx = rcu_dereference(*slot);
	if (ctx)
		kacc_eventfd_signal(ctx);
	rcu_read_unlock();
	return ctx;
}

/*
 * Interrupt moderation where the guest set no coalescing (Linux does not):
 * the kernel's DIM for storage completion queues (rdma_dim, as ib_cq and
 * so NVMe over RDMA use it) steps through these profiles, one step per 64
 * interrupts, towards more completions per millisecond, then more per
 * interrupt, and back to the first when interrupts carry about one entry.
 * Where interrupts cost the guest exits and its vCPU is the bottleneck,
 * fewer of them is more IOPS. A profile holds an interrupt for quarters of
 * the usual time between completions, so that every step makes a
 * difference on any device, and never longer than irq_moderation_usecs.
 * A pair with about one command in flight (QD1: the guest waits for each)
 * and error completions are never held.
 */
#define KACC_MOD_WINDOW	64	/* posts that decide "one at a time" */

static const struct { u8 quarters; u8 thr; } kacc_mod_profiles[] = {
	{ 0, 1 }, { 1, 2 }, { 2, 4 }, { 3, 4 }, { 4, 8 }, { 6, 8 },
	{ 8, 16 }, { 12, 16 }, { 16, 32 },
};
static_assert(ARRAY_SIZE(kacc_mod_profiles) == RDMA_DIM_PARAMS_NUM_PROFILES);

/* rdma_dim() queues it on a new profile; the worker applies it itself. */
static void kacc_qp_dim_work(struct work_struct *work)
{
}

static u64 kacc_mod_max_ns(void)
{
	return (u64)READ_ONCE(kacc_irq_moderation_usecs) * NSEC_PER_USEC;
}

/* @urgent: an error completion among those just posted. */
static void kacc_qp_irq(struct kacc_dev *dev, struct kacc_qp *qp, u64 now,
			bool urgent)
{
	int fixed = READ_ONCE(kacc_irq_moderation_profile);
	u64 max_ns = kacc_mod_max_ns();
	/* Only where the host set no coalescing: else DIM would measure that. */
	bool adapt = max_ns && fixed < 0 && !qp->mod_one && qp->cq.coalesce &&
		     !qp->cq.aggr_thr && !qp->cq.aggr_time;
	u32 entries = qp->cq.pending;
	unsigned int ix = 0;
	u64 deadline = 0;

	if (max_ns && !urgent && !qp->mod_one)
		ix = fixed >= 0 ? fixed : qp->dim.profile_ix;
	qp->cq.mod_thr = kacc_mod_profiles[ix].thr;
	qp->cq.mod_time_ns = min_t(u64, max_ns,
				   ewma_post_gap_read(&qp->post_gap) *
				   kacc_mod_profiles[ix].quarters / 4);
	switch (nac_cq_irq(&qp->cq, &qp->mem, now, &deadline)) {
	case NAC_IRQ_NOW:
		qp->irq_deadline = 0;
		if (kacc_eventfd_fire(&dev->vectors[qp->cq.vector]))
			kacc_stat_inc(dev, irqs);
		if (adapt) {
			rdma_dim(&qp->dim, entries);
			/* The next interrupt uses the new profile: measure on. */
			if (qp->dim.state == DIM_APPLY_NEW_PROFILE)
				qp->dim.state = DIM_START_MEASURE;
		}
		break;
	case NAC_IRQ_DEFER:
		qp->irq_deadline = deadline;
		break;
	case NAC_IRQ_NONE:
		qp->irq_deadline = 0;
		break;
	}
}

/* A new life for the pair's queues (create, hand-over): measure afresh. */
static void kacc_qp_mod_reset(struct kacc_qp *qp)
{
	ewma_post_gap_init(&qp->post_gap);
	qp->last_post = 0;
	qp->mod_inflight = 0;
	qp->mod_samples = 0;
	qp->mod_one = false;
}

/*
 * After a post: how many commands the guest has in flight (fetched and not
 * posted, or posted and not reaped: a guest that leaves its CQ head behind
 * looks busier, and only its own interrupts wait longer), averaged over
 * KACC_MOD_WINDOW posts; and the time between posts, counting idle time
 * as no more than the longest hold.
 */
static void kacc_qp_mod_sample(struct kacc_qp *qp, u64 now)
{
	u64 gap = min(now - qp->last_post, kacc_mod_max_ns());

	qp->mod_inflight += (qp->cq.tail + qp->cq.size - qp->cq.head) %
			    qp->cq.size + qp->outstanding;
	if (++qp->mod_samples == KACC_MOD_WINDOW) {
		qp->mod_one = qp->mod_inflight <= KACC_MOD_WINDOW * 5 / 4;
		qp->mod_inflight = 0;
		qp->mod_samples = 0;
	}
	if (qp->last_post)
		ewma_post_gap_add(&qp->post_gap, gap);
	qp->last_post = now;
}

/* Remove the eventfds in @slots[0 .. @n); under dev->lock. */
void kacc_eventfds_clear(struct kacc_dev *dev,
			 struct eventfd_ctx __rcu **slots, unsigned int n)
{
	struct eventfd_ctx *old[KACC_MAX_VECTORS];
	unsigned int i;

	for (i = 0; i < n; i++)
		old[i] = rcu_replace_pointer(slots[i], NULL,
					     lockdep_is_held(&dev->lock));
	synchronize_rcu();
	for (i = 0; i < n; i++)
		if (old[i])
			eventfd_ctx_put(old[i]);
}

/*
 * VFIO_DEVICE_SET_IRQS on an index whose eventfds are @slots[0 .. @n),
 * already checked by vfio_set_irqs_validate_and_prepare(): [start, start +
 * count) is in range and @data holds count bools or fds. DATA_NONE and
 * DATA_BOOL fire them (DATA_NONE with count 0 removes all @n), DATA_EVENTFD
 * sets them (fd -1 removes one). Under dev->lock; readers use RCU.
 */
int kacc_eventfds_set(struct kacc_dev *dev, struct eventfd_ctx __rcu **slots,
		      unsigned int n, u32 flags, unsigned int start,
		      unsigned int count, void *data)
{
	struct eventfd_ctx **ctx;
	unsigned int i;
	int ret = 0;

	if ((flags & VFIO_IRQ_SET_ACTION_TYPE_MASK) != VFIO_IRQ_SET_ACTION_TRIGGER)
		return -EINVAL;
	if (flags & (VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_DATA_BOOL)) {
		if (!count && (flags & VFIO_IRQ_SET_DATA_NONE)) {
			kacc_eventfds_clear(dev, slots, n);
			return 0;
		}
		for (i = 0; i < count; i++)
			if ((flags & VFIO_IRQ_SET_DATA_NONE) || ((u8 *)data)[i])
				kacc_eventfd_fire(&slots[start + i]);
		return 0;
	}

	/* Eventfds: take them all first, so a bad fd changes nothing. */
	ctx = kcalloc(count, sizeof(*ctx), GFP_KERNEL);
	if (!ctx)
		return -ENOMEM;
	for (i = 0; i < count; i++) {
		s32 fd = ((s32 *)data)[i];

		if (fd < 0)
			continue;
		ctx[i] = eventfd_ctx_fdget(fd);
		if (IS_ERR(ctx[i])) {
			ret = PTR_ERR(ctx[i]);
			ctx[i] = NULL;
			goto out_put;
		}
	}
	for (i = 0; i < count; i++)
		ctx[i] = rcu_replace_pointer(slots[start + i], ctx[i],
					     lockdep_is_held(&dev->lock));
	synchronize_rcu();
out_put:
	for (i = 0; i < count; i++)
		if (ctx[i])
			eventfd_ctx_put(ctx[i]);
	kfree(ctx);
	return ret;
}

/* --- the datapath ------------------------------------------------------- */

static void kacc_qp_db_error(struct kacc_dev *dev, struct kacc_qp *qp)
{
	set_bit(KACC_QP_DB_ERROR, &qp->flags);
	kacc_stat_inc(dev, db_errors);
	kacc_event(dev, KVM_ACCEL_EVENT_DB_ERROR, qp->qid);
	pr_debug("queue %u: invalid doorbell value\n", qp->qid);
}

/*
 * Stopped for good: QEMU hears of it, the guest gets nothing more (no
 * interrupt deadline to sleep towards either). By the worker, or parked.
 */
static void kacc_qp_break(struct kacc_dev *dev, struct kacc_qp *qp)
{
	qp->irq_deadline = 0;
	if (!test_and_set_bit(KACC_QP_BROKEN, &qp->flags))
		kacc_event(dev, KVM_ACCEL_EVENT_BROKEN, qp->qid);
}

/* A bogus shadow value stays in memory: count it once, not every pass. */
static void kacc_qp_shadow_status(struct kacc_dev *dev, struct kacc_qp *qp,
				  bool *bad, int ret)
{
	if (ret == -EINVAL && !*bad)
		kacc_qp_db_error(dev, qp);
	*bad = ret == -EINVAL;
}

static void kacc_qp_read_sq_shadow(struct kacc_dev *dev, struct kacc_qp *qp)
{
	if (qp->sq.shadow_db)
		kacc_qp_shadow_status(dev, qp, &qp->sq_shadow_bad,
				      nac_sq_read_shadow(&qp->sq, &qp->mem));
}

static void kacc_qp_read_cq_shadow(struct kacc_dev *dev, struct kacc_qp *qp)
{
	if (qp->cq.shadow_db)
		kacc_qp_shadow_status(dev, qp, &qp->cq_shadow_bad,
				      nac_cq_read_shadow(&qp->cq, &qp->mem));
}

static void kacc_account(struct kacc_dev *dev, struct kacc_req *req, u64 now)
{
	struct kacc_stats *s = &dev->stats;
	u64 us = (now - req->start_ns) / NSEC_PER_USEC;

	u64_stats_update_begin(&s->syncp);
	u64_stats_inc(&s->commands);
	if (req->status) {
		u64_stats_inc(&s->errors);
	} else if (req->r.op == NAC_OP_READ) {
		u64_stats_inc(&s->reads);
		u64_stats_add(&s->bytes_read, req->r.len);
	} else if (req->r.op == NAC_OP_WRITE) {
		u64_stats_inc(&s->writes);
		u64_stats_add(&s->bytes_written, req->r.len);
	}
	u64_stats_inc(&s->lat_hist[us ? min_t(unsigned int, ilog2(us),
					      KVM_ACCEL_LAT_BUCKETS - 1) : 0]);
	u64_stats_update_end(&s->syncp);
}

/* Its error goes to the event channel before the host can see its CQE. */
static void kacc_req_log(struct kacc_dev *dev, struct kacc_qp *qp,
			 struct kacc_req *req)
{
	if (req->status && !req->logged) {
		kacc_event_error(dev, qp->qid, req->r.cid, req->status,
				 req->r.slba);
		req->logged = true;
	}
}

/* A request of @qp->done whose completion went out: it is free again. */
static void kacc_req_retire(struct kacc_dev *dev, struct kacc_qp *qp,
			    struct kacc_req *req, u64 now)
{
	list_del(&req->node);
	kacc_account(dev, req, now);
	qp->free[qp->nr_free++] = req;
	qp->outstanding--;
}

/* Post what fits, oldest first; true if anything was posted. */
static bool kacc_qp_post(struct kacc_dev *dev, struct kacc_qp *qp)
{
	struct kacc_req *req, *tmp;
	u64 now = ktime_get_ns();
	bool posted = false, urgent = false;

	kacc_qp_read_cq_shadow(dev, qp);
	list_for_each_entry_safe(req, tmp, &qp->done, node) {
		struct nac_cqe cqe = {
			.sq_head = qp->sq.head,
			.sq_id = qp->qid,
			.cid = req->r.cid,
			.status = req->status,
		};
		int ret;

		kacc_req_log(dev, qp, req);
		ret = nac_cq_post(&qp->cq, &qp->mem, &cqe);
		if (ret == -EBUSY) {
			/* Full: have the guest ring the head doorbell. */
			if (qp->cq.eventidx) {
				__le32 ei = cpu_to_le32(qp->cq.head);

				qp->mem.ops->write(qp, qp->cq.eventidx, &ei, 4);
			}
			break;
		}
		urgent |= req->status != 0;
		kacc_req_retire(dev, qp, req, now);
		posted = true;
	}
	if (posted) {
		kacc_qp_mod_sample(qp, now);
		kacc_qp_irq(dev, qp, now, urgent);
	}
	return posted;
}

/* Fetch, decode and submit up to a budget of commands. */
static bool kacc_qp_fetch(struct kacc_dev *dev, struct kacc_qp *qp)
{
	struct blk_plug plug;
	struct nac_sqe sqe;
	unsigned int n = 0;

	kacc_qp_read_sq_shadow(dev, qp);
	if (nac_sq_empty(&qp->sq) || !qp->nr_free)
		return false;

	blk_start_plug(&plug);
	while (n < KACC_QP_BUDGET && qp->nr_free && !nac_sq_empty(&qp->sq)) {
		struct kacc_req *req = qp->free[qp->nr_free - 1];

		/* The ring is pinned: this cannot fail, but never trust it. */
		if (nac_sq_fetch(&qp->sq, &qp->mem, &sqe)) {
			kacc_qp_break(dev, qp);
			break;
		}
		qp->nr_free--;
		qp->outstanding++;
		n++;
		req->start_ns = ktime_get_ns();
		req->again = 0;
		req->logged = false;
		/* No namespace yet: the core would take NSID 0 for it. */
		if (unlikely(!dev->ns.nsid)) {
			req->r.cid = sqe.cid;
			req->r.slba = 0;
			req->status = NAC_SC_INVALID_NS | NAC_DNR;
		} else {
			req->status = nac_cmd_decode(&qp->ctrl, &dev->ns,
						     &qp->mem, &sqe, &req->r);
		}
		if (req->status || !kacc_bdev_submit(dev, req))
			list_add_tail(&req->node, &qp->done);
	}
	blk_finish_plug(&plug);
	return n > 0;
}

/*
 * Requests the block layer sent back (no tag), or that wait for a range
 * being unmapped: submit them again. Progress unless every one of them
 * is still fenced.
 */
static bool kacc_qp_retry(struct kacc_dev *dev, struct kacc_qp *qp)
{
	struct kacc_req *req, *tmp;
	struct blk_plug plug;
	bool progress = false;
	LIST_HEAD(list);

	list_splice_init(&qp->retry, &list);
	blk_start_plug(&plug);
	list_for_each_entry_safe(req, tmp, &list, node) {
		list_del(&req->node);
		if (req->fenced) {
			req->fenced = false;
			dev->nr_fenced--;
		}
		req->waiting = false;
		if (!kacc_bdev_submit(dev, req))
			list_add_tail(&req->node, &qp->done);
		progress |= !req->fenced && !req->waiting;
	}
	blk_finish_plug(&plug);
	return progress;
}

static bool kacc_qp_fetching(struct kacc_dev *dev, struct kacc_qp *qp)
{
	return !READ_ONCE(dev->paused) &&
	       !test_bit(KACC_QP_QUIESCED, &qp->flags) &&
	       !test_bit(KACC_QP_STOPPING, &qp->flags) &&
	       !test_bit(KACC_QP_BROKEN, &qp->flags);
}

static bool kacc_qp_run(struct kacc_dev *dev, struct kacc_qp *qp, u64 now)
{
	bool fetch = kacc_qp_fetching(dev, qp);
	bool work = false;

	/*
	 * A stopped pair still owes an interrupt it deferred (coalescing,
	 * moderation).
	 */
	if (test_bit(KACC_QP_BROKEN, &qp->flags) ||
	    (!fetch && !qp->outstanding && !qp->irq_deadline))
		return false;

	/* Forwarded MMIO doorbells; a stopped SQ keeps its tail for later. */
	if (atomic_read(&qp->db_pending)) {
		int mask = fetch ? KACC_DB_SQ | KACC_DB_CQ : KACC_DB_CQ;
		int pend = atomic_fetch_andnot(mask, &qp->db_pending) & mask;

		if ((pend & KACC_DB_CQ) &&
		    nac_cq_doorbell(&qp->cq, READ_ONCE(qp->db_cq)))
			kacc_qp_db_error(dev, qp);
		if ((pend & KACC_DB_SQ) &&
		    nac_sq_doorbell(&qp->sq, READ_ONCE(qp->db_sq)))
			kacc_qp_db_error(dev, qp);
		work = pend != 0;
	}
	if (!list_empty(&qp->retry) && !READ_ONCE(dev->paused) &&
	    !test_bit(KACC_QP_STOPPING, &qp->flags))
		work |= kacc_qp_retry(dev, qp);
	if (!list_empty(&qp->done))
		work |= kacc_qp_post(dev, qp);
	if (qp->irq_deadline && now >= qp->irq_deadline)
		kacc_qp_irq(dev, qp, now, false);
	if (fetch)
		work |= kacc_qp_fetch(dev, qp);
	return work;
}

/* Completed bios: release their pages, queue their CQEs. */
static bool kacc_reap(struct kacc_dev *dev)
{
	struct llist_node *list = llist_del_all(&dev->completed);
	struct kacc_req *req, *tmp;

	if (!list)
		return false;
	list = llist_reverse_order(list);
	llist_for_each_entry_safe(req, tmp, list, lnode) {
		struct kacc_qp *qp = req->qp;

		qp->nr_io--;
		dev->nr_io--;
		if (kacc_bdev_finish(dev, req))
			list_add_tail(&req->node, &qp->retry);
		else
			list_add_tail(&req->node, &qp->done);
	}
	return true;
}

static bool kacc_run_once(struct kacc_dev *dev)
{
	u64 now = ktime_get_ns();
	bool work = false;
	unsigned int i;

	clear_bit(KACC_DEV_KICK, &dev->wflags);
	/* Not work in itself: what it completes is reaped right after. */
	if (!list_empty(&dev->polled))
		kacc_bdev_poll(dev);
	work |= kacc_reap(dev);
	for (i = 0; i < KACC_MAX_QUEUES; i++) {
		unsigned int qid = (dev->next_qid + i) % KACC_MAX_QUEUES + 1;
		struct kacc_qp *qp = kacc_qp_at(dev, qid);

		if (qp)
			work |= kacc_qp_run(dev, qp, now);
	}
	dev->next_qid = (dev->next_qid + 1) % KACC_MAX_QUEUES;
	/* Someone in the control path waits for in-flight work to end. */
	if (wq_has_sleeper(&dev->idle_wq))
		wake_up(&dev->idle_wq);
	return work;
}

static void kacc_worker_sleep(struct kacc_dev *dev)
{
	u64 deadline = 0;
	unsigned int qid;

	for (qid = 1; qid <= KACC_MAX_QUEUES; qid++) {
		struct kacc_qp *qp = kacc_qp_at(dev, qid);
		int ret;

		if (!qp)
			continue;
		if (qp->irq_deadline &&
		    (!deadline || qp->irq_deadline < deadline))
			deadline = qp->irq_deadline;
		if (!kacc_qp_fetching(dev, qp))
			continue;
		/* Publish the event index, then catch a racing submission. */
		ret = nac_sq_arm(&qp->sq, &qp->mem);
		if (ret == -EINVAL)
			kacc_qp_shadow_status(dev, qp, &qp->sq_shadow_bad, ret);
		/* Entries we cannot take (all slots busy) are no reason to spin. */
		if (ret > 0 && qp->nr_free)
			return;
	}
	/*
	 * Polled bios only complete when polled: look again when about half
	 * of their usual completion time has passed (hybrid polling; they are
	 * rare on a device too slow to poll). Nothing tells us when an unmap
	 * a request waits for is over: look again in a millisecond (at once
	 * if it is over already).
	 */
	if (dev->nr_fenced && !kacc_fences_pending(dev))
		return;
	if (!list_empty(&dev->polled) || dev->nr_fenced) {
		u64 wait = NSEC_PER_MSEC, soon;

		if (!list_empty(&dev->polled))
			wait = clamp_t(u64, ewma_poll_lat_read(&dev->poll_lat) / 2,
				       10 * NSEC_PER_USEC, NSEC_PER_MSEC);
		soon = ktime_get_ns() + wait;
		if (!deadline || soon < deadline)
			deadline = soon;
	}

	set_current_state(TASK_INTERRUPTIBLE);
	if (test_bit(KACC_DEV_KICK, &dev->wflags) ||
	    !llist_empty(&dev->completed) ||
	    kthread_should_stop() || kthread_should_park()) {
		__set_current_state(TASK_RUNNING);
		return;
	}
	if (deadline) {
		ktime_t expires = ns_to_ktime(deadline);

		schedule_hrtimeout(&expires, HRTIMER_MODE_ABS);
	} else {
		schedule();
	}
	__set_current_state(TASK_RUNNING);
}

static int kacc_worker(void *data)
{
	struct kacc_dev *dev = data;
	u64 idle_since = 0, now;
	struct mem_cgroup *old;

	kacc_owner_enter(dev, &old);
	while (!kthread_should_stop()) {
		if (kthread_should_park()) {
			kthread_parkme();
			idle_since = 0;
			continue;
		}
		if (kacc_run_once(dev)) {
			idle_since = 0;
			cond_resched();
			continue;
		}
		/*
		 * Poll a while for the next command, but only while nothing
		 * else wants this CPU (vhost's and KVM halt polling's rule):
		 * the task that will submit it may be queued right here.
		 */
		now = ktime_get_ns();
		if (!idle_since)
			idle_since = now;
		if (now - idle_since <
		    (u64)READ_ONCE(kacc_poll_usecs) * NSEC_PER_USEC &&
		    single_task_running()) {
			cpu_relax();
			cond_resched();
			continue;
		}
		kacc_worker_sleep(dev);
		idle_since = 0;
	}
	kacc_owner_leave(old);
	return 0;
}

/*
 * From open, in the owner's context. The worker runs in the owner's
 * cgroups (CPU time, like vhost's workers before vhost_task); what it
 * allocates and submits is charged to the owner (kacc_owner_enter()).
 */
int kacc_worker_start(struct kacc_dev *dev)
{
	struct task_struct *task;
	int ret;

	task = kthread_create(kacc_worker, dev, "kacc/%.8s",
			      dev_name(dev->vdev.dev));
	if (IS_ERR(task))
		return PTR_ERR(task);
	ret = cgroup_attach_task_all(current, task);
	if (ret) {
		kthread_stop(task);
		return ret;
	}
	dev->worker = task;
	rcu_assign_pointer(dev->wake_task, task);
	wake_up_process(task);
	return 0;
}

/*
 * After kacc_dev_pause(): nothing in flight, the worker parked. A bio's
 * completion may still be on its way out of kacc_req_done(), past the point
 * where the worker could reap it: wait for it before the worker goes.
 */
void kacc_worker_stop(struct kacc_dev *dev)
{
	RCU_INIT_POINTER(dev->wake_task, NULL);
	synchronize_rcu();
	kthread_stop(dev->worker);
	dev->worker = NULL;
}

/*
 * Parked, the worker is at the top of its loop: it holds no request and no
 * reference into queue state, and sees every change made meanwhile when it
 * resumes.
 */
void kacc_worker_park(struct kacc_dev *dev)
{
	kthread_park(dev->worker);
}

void kacc_worker_unpark(struct kacc_dev *dev)
{
	kthread_unpark(dev->worker);
}

/* Stop fetching everywhere, wait for the bios in flight, park. */
void kacc_dev_pause(struct kacc_dev *dev)
{
	kacc_worker_park(dev);
	WRITE_ONCE(dev->paused, true);
	kacc_worker_unpark(dev);
	/*
	 * Bios always complete; polled ones need the worker running. How
	 * long that takes is up to the owner's io.max: TASK_IDLE, no hung
	 * task reports.
	 */
	wait_event_idle(dev->idle_wq, READ_ONCE(dev->nr_io) == 0);
	kacc_worker_park(dev);
}

void kacc_dev_resume(struct kacc_dev *dev)
{
	WRITE_ONCE(dev->paused, false);
	kacc_worker_unpark(dev);
	kacc_kick_worker(dev);
}

/* --- queue pair life cycle ---------------------------------------------- */

static int kacc_qp_check(const struct kvm_accel_queue_pair *p)
{
	const u32 known = KVM_ACCEL_QP_IRQ_ENABLED | KVM_ACCEL_QP_SGL |
			  KVM_ACCEL_QP_QUIESCED;
	u64 page;

	if (p->flags & ~known)
		return -EINVAL;
	if (p->qid < 1 || p->qid > KACC_MAX_QUEUES ||
	    p->vector >= KACC_MAX_VECTORS)
		return -EINVAL;
	if (p->sq_entries < 2 || p->sq_entries > KACC_MAX_QUEUE_ENTRIES ||
	    p->cq_entries < 2 || p->cq_entries > KACC_MAX_QUEUE_ENTRIES)
		return -EINVAL;
	/* CC.MPS is 4 bits: 4 KiB .. 128 MiB pages. */
	if (p->page_shift < 12 || p->page_shift > 27)
		return -EINVAL;
	page = 1ULL << p->page_shift;
	if (!IS_ALIGNED(p->sq_gpa, page) || !IS_ALIGNED(p->cq_gpa, page))
		return -EINVAL;
	if (!IS_ALIGNED(p->sq_db_gpa, 4) || !IS_ALIGNED(p->sq_ei_gpa, 4) ||
	    !IS_ALIGNED(p->cq_db_gpa, 4) || !IS_ALIGNED(p->cq_ei_gpa, 4))
		return -EINVAL;
	if ((p->sq_ei_gpa && !p->sq_db_gpa) || (p->cq_ei_gpa && !p->cq_db_gpa))
		return -EINVAL;
	if (p->mdts && (p->mdts < 4096 || p->mdts > KACC_MAX_MDTS))
		return -EINVAL;
	if (p->kick_fd < -1)
		return -EBADF;
	return 0;
}

/* Pin the pages holding the shadow doorbells and event indexes. */
static int kacc_qp_pin_shadow(struct kacc_dev *dev, struct kacc_qp *qp,
			      const struct kvm_accel_queue_pair *p)
{
	const u64 gpas[] = { p->sq_db_gpa, p->sq_ei_gpa,
			     p->cq_db_gpa, p->cq_ei_gpa };
	unsigned int i, j;
	int ret;

	for (i = 0; i < ARRAY_SIZE(gpas); i++) {
		if (!gpas[i])
			continue;
		for (j = 0; j < qp->nshadow; j++)
			if (kacc_ring_overlaps(&qp->shadow[j], gpas[i], 4))
				break;
		if (j < qp->nshadow)
			continue;
		ret = kacc_ring_pin(dev, &qp->shadow[qp->nshadow], gpas[i], 4,
				    true);
		if (ret)
			return ret;
		qp->nshadow++;
	}
	return 0;
}

static void kacc_qp_unpin(struct kacc_dev *dev, struct kacc_qp *qp)
{
	while (qp->nshadow)
		kacc_ring_unpin(dev, &qp->shadow[--qp->nshadow]);
	kacc_ring_unpin(dev, &qp->cq_ring);
	kacc_ring_unpin(dev, &qp->sq_ring);
}

static int kacc_qp_alloc_reqs(struct kacc_dev *dev, struct kacc_qp *qp)
{
	u32 n = qp->sq.size;
	u32 per_req = nac_prp_sg_max(qp->ctrl.max_xfer, qp->ctrl.page_shift);
	u32 i;

	qp->reqs = kvcalloc(n, sizeof(*qp->reqs), GFP_KERNEL_ACCOUNT);
	qp->sg = kvcalloc((size_t)n * per_req, sizeof(*qp->sg),
			  GFP_KERNEL_ACCOUNT);
	qp->free = kvcalloc(n, sizeof(*qp->free), GFP_KERNEL_ACCOUNT);
	if (!qp->reqs || !qp->sg || !qp->free)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		struct kacc_req *req = &qp->reqs[i];

		req->qp = qp;
		req->r.sg = &qp->sg[(size_t)i * per_req];
		req->r.sg_max = per_req;
		req->r.ranges = dev->dsm_ranges;
		kacc_req_init(req);
		qp->free[i] = req;
	}
	qp->nr_free = n;
	return 0;
}

static void kacc_qp_free(struct kacc_dev *dev, struct kacc_qp *qp)
{
	cancel_work_sync(&qp->dim.work);
	if (qp->has_kick)
		kacc_kick_detach(&qp->kick);
	kacc_qp_unpin(dev, qp);
	kvfree(qp->free);
	kvfree(qp->sg);
	kvfree(qp->reqs);
	kfree(qp);
}

static struct kacc_qp *kacc_qp_create(struct kacc_dev *dev,
				      const struct kvm_accel_queue_pair *p)
{
	bool ien = p->flags & KVM_ACCEL_QP_IRQ_ENABLED;
	struct kacc_qp *qp;
	int ret;

	qp = kzalloc(sizeof(*qp), GFP_KERNEL_ACCOUNT);
	if (!qp)
		return ERR_PTR(-ENOMEM);
	qp->dev = dev;
	qp->qid = p->qid;
	INIT_LIST_HEAD(&qp->retry);
	INIT_LIST_HEAD(&qp->done);
	atomic_set(&qp->db_pending, 0);
	INIT_WORK(&qp->dim.work, kacc_qp_dim_work);
	qp->dim.tune_state = DIM_GOING_RIGHT;	/* as ib_cq starts it */
	kacc_qp_mod_reset(qp);
	if (nac_sq_init(&qp->sq, p->qid, p->qid, p->sq_gpa, p->sq_entries) ||
	    nac_cq_init(&qp->cq, p->qid, p->vector, ien, p->cq_gpa,
			p->cq_entries)) {
		ret = -EINVAL;
		goto out_free;
	}
	nac_sq_set_shadow(&qp->sq, p->sq_db_gpa, p->sq_ei_gpa);
	nac_cq_set_shadow(&qp->cq, p->cq_db_gpa, p->cq_ei_gpa);
	qp->cq.aggr_thr = dev->aggr_thr;
	qp->cq.aggr_time = dev->aggr_time;
	qp->cq.coalesce = !test_bit(p->vector, dev->nocoalesce);
	qp->ctrl.page_shift = p->page_shift;
	qp->ctrl.sgl = p->flags & KVM_ACCEL_QP_SGL;
	qp->ctrl.max_xfer = p->mdts ?: KACC_MAX_MDTS;
	qp->mem.ops = &kacc_mem_ops;
	qp->mem.opaque = qp;
	if (p->flags & KVM_ACCEL_QP_QUIESCED)
		set_bit(KACC_QP_QUIESCED, &qp->flags);

	ret = kacc_ring_pin(dev, &qp->sq_ring, p->sq_gpa,
			    (u64)p->sq_entries * NAC_SQE_SIZE, false);
	if (ret)
		goto out_free;
	ret = kacc_ring_pin(dev, &qp->cq_ring, p->cq_gpa,
			    (u64)p->cq_entries * NAC_CQE_SIZE, true);
	if (ret)
		goto out_unpin;
	ret = kacc_qp_pin_shadow(dev, qp, p);
	if (ret)
		goto out_unpin;
	ret = kacc_qp_alloc_reqs(dev, qp);
	if (ret)
		goto out_unpin;
	if (p->kick_fd >= 0) {
		ret = kacc_kick_attach(dev, &qp->kick, p->kick_fd);
		if (ret)
			goto out_unpin;
		qp->has_kick = true;
	}
	return qp;

out_unpin:
	kacc_qp_unpin(dev, qp);
out_free:
	kvfree(qp->free);
	kvfree(qp->sg);
	kvfree(qp->reqs);
	kfree(qp);
	return ERR_PTR(ret);
}

/*
 * Completions that can no longer be posted, and requests waiting to be
 * submitted again, go back to the free stack. Nothing is in flight.
 */
static void kacc_qp_drop_done(struct kacc_qp *qp)
{
	struct kacc_req *req, *tmp;

	list_splice_init(&qp->retry, &qp->done);
	list_for_each_entry_safe(req, tmp, &qp->done, node) {
		list_del(&req->node);
		if (req->fenced) {
			req->fenced = false;
			qp->dev->nr_fenced--;
		}
		req->waiting = false;
		qp->free[qp->nr_free++] = req;
		qp->outstanding--;
	}
}

/* Take the pair away from the running worker and free it. */
static void kacc_qp_remove(struct kacc_dev *dev, struct kacc_qp *qp)
{
	kacc_worker_park(dev);
	set_bit(KACC_QP_STOPPING, &qp->flags);
	kacc_worker_unpark(dev);
	wait_event_idle(dev->idle_wq, READ_ONCE(qp->nr_io) == 0);
	kacc_worker_park(dev);
	kacc_qp_drop_done(qp);
	rcu_assign_pointer(dev->qps[qp->qid], NULL);
	kacc_worker_unpark(dev);
	kacc_events_forget_queue(dev, qp->qid);
	/* KVM_ACCEL_DOORBELL looks queues up under RCU only. */
	synchronize_rcu();
	kacc_qp_free(dev, qp);
}

/* Close/reset, after kacc_dev_pause(): nothing in flight, worker parked. */
void kacc_qp_destroy_all(struct kacc_dev *dev)
{
	struct kacc_qp *gone[KACC_MAX_QUEUES + 1] = { NULL };
	unsigned int qid;

	for (qid = 1; qid <= KACC_MAX_QUEUES; qid++) {
		gone[qid] = kacc_qp_lookup(dev, qid);
		if (!gone[qid])
			continue;
		/* Requests waiting to be retried (fenced ones) go too. */
		kacc_qp_drop_done(gone[qid]);
		rcu_assign_pointer(dev->qps[qid], NULL);
	}
	WARN_ON_ONCE(dev->nr_fenced || dev->nr_io || dev->bounce_bytes);
	kacc_events_forget_queue(dev, 0);
	synchronize_rcu();
	for (qid = 1; qid <= KACC_MAX_QUEUES; qid++)
		if (gone[qid])
			kacc_qp_free(dev, gone[qid]);
}

/*
 * dma_unmap, worker parked: queues whose rings or shadow doorbells were in
 * the unmapped range stop for good and let go of their pins. Their bios
 * still in flight complete into the broken queue, which posts nothing.
 */
void kacc_qp_unmap(struct kacc_dev *dev, u64 iova, u64 len)
{
	unsigned int qid, i;

	for (qid = 1; qid <= KACC_MAX_QUEUES; qid++) {
		struct kacc_qp *qp = kacc_qp_lookup(dev, qid);
		bool hit;

		if (!qp)
			continue;
		hit = kacc_ring_overlaps(&qp->sq_ring, iova, len) ||
		      kacc_ring_overlaps(&qp->cq_ring, iova, len);
		for (i = 0; i < qp->nshadow; i++)
			hit |= kacc_ring_overlaps(&qp->shadow[i], iova, len);
		if (!hit)
			continue;
		pr_debug("queue %u: guest memory unmapped, stopping it\n", qid);
		kacc_qp_break(dev, qp);
		kacc_qp_drop_done(qp);
		kacc_qp_unpin(dev, qp);
	}
}

/* --- ioctls ------------------------------------------------------------- */

long kacc_ioctl_create_qp(struct kacc_dev *dev, void __user *arg)
{
	unsigned long minsz = offsetofend(struct kvm_accel_queue_pair, mdts);
	struct kvm_accel_queue_pair p;
	struct kacc_qp *qp;
	int ret;

	if (copy_from_user(&p, arg, minsz))
		return -EFAULT;
	if (p.argsz < minsz)
		return -EINVAL;
	ret = kacc_qp_check(&p);
	if (ret)
		return ret;
	if (kacc_qp_lookup(dev, p.qid))
		return -EEXIST;
	qp = kacc_qp_create(dev, &p);
	if (IS_ERR(qp))
		return PTR_ERR(qp);
	/* Publishing is enough: the worker reads the slot every pass. */
	rcu_assign_pointer(dev->qps[p.qid], qp);
	kacc_kick_worker(dev);
	return 0;
}

/* Copy in a struct kvm_accel_qid and find its queue pair. */
static struct kacc_qp *kacc_qid_arg(struct kacc_dev *dev, void __user *arg,
				    struct kvm_accel_qid *q, u32 known_flags)
{
	unsigned long minsz = offsetofend(struct kvm_accel_qid, pad);
	struct kacc_qp *qp;

	if (copy_from_user(q, arg, minsz))
		return ERR_PTR(-EFAULT);
	if (q->argsz < minsz || (q->flags & ~known_flags) ||
	    q->pad[0] || q->pad[1] || q->pad[2])
		return ERR_PTR(-EINVAL);
	if (q->qid < 1 || q->qid > KACC_MAX_QUEUES)
		return ERR_PTR(-EINVAL);
	qp = kacc_qp_lookup(dev, q->qid);
	return qp ?: ERR_PTR(-ENOENT);
}

long kacc_ioctl_destroy_qp(struct kacc_dev *dev, void __user *arg)
{
	struct kvm_accel_qid q;
	struct kacc_qp *qp = kacc_qid_arg(dev, arg, &q, 0);

	if (IS_ERR(qp))
		return PTR_ERR(qp);
	kacc_qp_remove(dev, qp);
	return 0;
}

/*
 * Has every command of @qp its final status: none at the block layer, none
 * waiting to go there again? What is left waits for CQ space only.
 */
static bool kacc_qp_settled(struct kacc_qp *qp)
{
	return !READ_ONCE(qp->nr_io) && list_empty(&qp->retry);
}

/*
 * Is pair @qid idle, or gone? Idle: settled (kacc_qp_settled()), or with
 * @drop or broken nothing at the block layer (KVM_ACCEL_QUIESCE_DROP). Any
 * context.
 */
static bool kacc_qp_idle(struct kacc_dev *dev, u16 qid, bool drop)
{
	struct kacc_qp *qp;
	bool idle;

	rcu_read_lock();
	qp = rcu_dereference(dev->qps[qid]);
	if (!qp || !test_bit(KACC_QP_QUIESCED, &qp->flags))
		idle = true;
	else if (drop)
		idle = !READ_ONCE(qp->nr_io);
	else	/* broken: what waits to be retried never will; bios end */
		idle = kacc_qp_settled(qp) ||
		       (test_bit(KACC_QP_BROKEN, &qp->flags) &&
			!READ_ONCE(qp->nr_io));
	rcu_read_unlock();
	return idle;
}

/*
 * Called with dev->lock held, which it drops while it waits: the wait
 * depends on the device, and dma_unmap, the doorbells of the other pairs
 * and every other ioctl must not wait for that.
 */
long kacc_ioctl_quiesce(struct kacc_dev *dev, void __user *arg)
	__must_hold(&dev->lock)
{
	struct kvm_accel_qid q;
	struct kacc_qp *qp = kacc_qid_arg(dev, arg, &q,
					  KVM_ACCEL_QUIESCE_RESUME |
					  KVM_ACCEL_QUIESCE_DROP);
	unsigned long end = jiffies + HZ;
	bool drop;
	long ret;

	if (IS_ERR(qp))
		return PTR_ERR(qp);
	drop = q.flags & KVM_ACCEL_QUIESCE_DROP;
	if (drop && (q.flags & KVM_ACCEL_QUIESCE_RESUME))
		return -EINVAL;
	/* Its completions went elsewhere: only a new state can resume it. */
	if ((q.flags & KVM_ACCEL_QUIESCE_RESUME) &&
	    test_bit(KACC_QP_HANDED_OVER, &qp->flags))
		return -EBUSY;
	kacc_worker_park(dev);
	if (q.flags & KVM_ACCEL_QUIESCE_RESUME)
		clear_bit(KACC_QP_QUIESCED, &qp->flags);
	else
		set_bit(KACC_QP_QUIESCED, &qp->flags);
	kacc_worker_unpark(dev);
	kacc_kick_worker(dev);
	if (q.flags & KVM_ACCEL_QUIESCE_RESUME)
		return 0;

	for (;;) {
		bool idle;

		mutex_unlock(&dev->lock);
		ret = wait_event_interruptible_timeout(dev->idle_wq,
				kacc_qp_idle(dev, q.qid, drop),
				time_after(end, jiffies) ? end - jiffies : 0);
		mutex_lock(&dev->lock);
		if (ret < 0)
			return -EINTR;
		/* Someone destroyed or resumed the pair meanwhile: say so. */
		qp = kacc_qp_lookup(dev, q.qid);
		if (!qp)
			return -ENOENT;
		if (!test_bit(KACC_QP_QUIESCED, &qp->flags))
			return -EBUSY;
		/*
		 * The check above ran beside the worker, which passes through
		 * states that look idle (a request between the block layer and
		 * the retry list): decide with it parked.
		 */
		kacc_worker_park(dev);
		idle = kacc_qp_idle(dev, q.qid, drop);
		if (idle && drop)
			kacc_qp_drop_done(qp);	/* as DESTROY does */
		kacc_worker_unpark(dev);
		if (idle)
			return 0;
		if (!time_before(jiffies, end))
			return -EAGAIN;
	}
}

/* Forwarded doorbell values not yet applied; worker parked. */
static void kacc_qp_apply_db(struct kacc_dev *dev, struct kacc_qp *qp)
{
	int pend = atomic_xchg(&qp->db_pending, 0);

	if ((pend & KACC_DB_CQ) && nac_cq_doorbell(&qp->cq, qp->db_cq))
		kacc_qp_db_error(dev, qp);
	if ((pend & KACC_DB_SQ) && nac_sq_doorbell(&qp->sq, qp->db_sq))
		kacc_qp_db_error(dev, qp);
}

/*
 * GET_QUEUE_STATE of a settled pair: copy the completions the CQ had no
 * room for to @cqes, at most @max of them. They stay ours until the
 * caller has them (kacc_qp_hand_over()).
 */
static long kacc_qp_unposted(struct kacc_qp *qp, struct kvm_accel_cqe *cqes,
			     u32 max)
{
	struct kacc_req *req;
	u32 n = 0;

	list_for_each_entry(req, &qp->done, node) {
		if (n == max)
			return -ENOSPC;
		cqes[n].result = 0;
		cqes[n].cid = req->r.cid;
		cqes[n].status = req->status;
		n++;
	}
	return n;
}

/* The first @n unposted completions are the caller's now. */
static void kacc_qp_hand_over(struct kacc_dev *dev, struct kacc_qp *qp, u32 n)
{
	u64 now = ktime_get_ns();

	if (n)
		set_bit(KACC_QP_HANDED_OVER, &qp->flags);
	while (n--) {
		struct kacc_req *req = list_first_entry(&qp->done,
							struct kacc_req, node);

		kacc_req_log(dev, qp, req);
		kacc_req_retire(dev, qp, req, now);
	}
}

static long kacc_qp_get_state(struct kacc_dev *dev, struct kacc_qp *qp,
			      struct kvm_accel_queue_state *s,
			      struct kvm_accel_cqe *cqes, u32 max)
{
	bool broken = test_bit(KACC_QP_BROKEN, &qp->flags);
	long n = 0;

	if (!broken && (!test_bit(KACC_QP_QUIESCED, &qp->flags) ||
			!kacc_qp_settled(qp)))
		return -EBUSY;
	if (!broken) {
		n = kacc_qp_unposted(qp, cqes, max);
		if (n < 0)
			return n;
		kacc_qp_apply_db(dev, qp);
		/* The guest may have moved its shadow values meanwhile. */
		kacc_qp_read_sq_shadow(dev, qp);
		kacc_qp_read_cq_shadow(dev, qp);
	}
	s->nr_cqes = n;
	s->state = 0;
	if (test_bit(KACC_QP_QUIESCED, &qp->flags))
		s->state |= KVM_ACCEL_QS_QUIESCED;
	if (broken)
		s->state |= KVM_ACCEL_QS_BROKEN;
	if (test_bit(KACC_QP_DB_ERROR, &qp->flags))
		s->state |= KVM_ACCEL_QS_DB_ERROR;
	if (qp->irq_deadline)
		s->state |= KVM_ACCEL_QS_IRQ_PENDING;
	s->sq_head = qp->sq.head;
	s->sq_tail = qp->sq.tail;
	s->cq_head = qp->cq.head;
	s->cq_tail = qp->cq.tail;
	s->cq_phase = qp->cq.phase;
	return 0;
}

static long kacc_qp_set_state(struct kacc_dev *dev, struct kacc_qp *qp,
			      const struct kvm_accel_queue_state *s)
{
	if (test_bit(KACC_QP_BROKEN, &qp->flags) ||
	    !test_bit(KACC_QP_QUIESCED, &qp->flags) || qp->outstanding)
		return -EBUSY;
	if (s->state || s->sq_head >= qp->sq.size ||
	    s->sq_tail >= qp->sq.size || s->cq_head >= qp->cq.size ||
	    s->cq_tail >= qp->cq.size || s->cq_phase > 1)
		return -EINVAL;
	/* Values forwarded before the hand-over are superseded. */
	atomic_set(&qp->db_pending, 0);
	qp->sq.head = s->sq_head;
	qp->sq.tail = s->sq_tail;
	qp->cq.head = s->cq_head;
	qp->cq.tail = s->cq_tail;
	qp->cq.phase = s->cq_phase;
	qp->cq.pending = 0;
	qp->irq_deadline = 0;
	kacc_qp_mod_reset(qp);
	clear_bit(KACC_QP_DB_ERROR, &qp->flags);
	clear_bit(KACC_QP_HANDED_OVER, &qp->flags);
	return 0;
}

long kacc_ioctl_queue_state(struct kacc_dev *dev, void __user *arg, bool set)
{
	unsigned long minsz = offsetofend(struct kvm_accel_queue_state, pad3);
	struct kvm_accel_queue_state s;
	struct kvm_accel_cqe *cqes = NULL;
	struct kacc_qp *qp;
	u32 room = 0;
	long ret;

	if (copy_from_user(&s, arg, minsz))
		return -EFAULT;
	if (s.argsz < minsz || s.flags || s.pad || s.pad2 || s.pad3)
		return -EINVAL;
	if (s.qid < 1 || s.qid > KACC_MAX_QUEUES)
		return -EINVAL;
	if (set && (s.cqes || s.nr_cqes))
		return -EINVAL;
	if (!set && s.state)
		return -EINVAL;
	qp = kacc_qp_lookup(dev, s.qid);
	if (!qp)
		return -ENOENT;
	if (!set) {
		/* Never more than the SQ's size (its requests). */
		room = min(s.nr_cqes, qp->sq.size);
		if (room) {
			cqes = kvmalloc_array(room, sizeof(*cqes),
					      GFP_KERNEL_ACCOUNT);
			if (!cqes)
				return -ENOMEM;
		}
	}
	kacc_worker_park(dev);
	if (set) {
		ret = kacc_qp_set_state(dev, qp, &s);
	} else {
		ret = kacc_qp_get_state(dev, qp, &s, cqes, room);
		/* The caller has them before they leave us. */
		if (!ret && ((s.nr_cqes &&
			      copy_to_user(u64_to_user_ptr(s.cqes), cqes,
					   s.nr_cqes * sizeof(*cqes))) ||
			     copy_to_user(arg, &s, minsz)))
			ret = -EFAULT;
		if (!ret) {
			kacc_qp_hand_over(dev, qp, s.nr_cqes);
			/* So is the interrupt deferred for the posted ones. */
			if (s.state & KVM_ACCEL_QS_IRQ_PENDING) {
				qp->irq_deadline = 0;
				qp->cq.pending = 0;
				qp->cq.pending_since = 0;
			}
		}
	}
	kacc_worker_unpark(dev);
	kvfree(cqes);
	return ret;
}

long kacc_ioctl_coalescing(struct kacc_dev *dev, void __user *arg)
{
	unsigned long minsz = offsetofend(struct kvm_accel_coalescing, pad);
	const u32 known = KVM_ACCEL_COALESCE_VECTOR | KVM_ACCEL_COALESCE_CD;
	struct kvm_accel_coalescing c;
	unsigned int qid;

	if (copy_from_user(&c, arg, minsz))
		return -EFAULT;
	if (c.argsz < minsz || (c.flags & ~known) || c.pad)
		return -EINVAL;
	if ((c.flags & KVM_ACCEL_COALESCE_CD) &&
	    !(c.flags & KVM_ACCEL_COALESCE_VECTOR))
		return -EINVAL;
	if ((c.flags & KVM_ACCEL_COALESCE_VECTOR) &&
	    c.vector >= KACC_MAX_VECTORS)
		return -EINVAL;

	kacc_worker_park(dev);
	if (c.flags & KVM_ACCEL_COALESCE_VECTOR) {
		assign_bit(c.vector, dev->nocoalesce,
			   c.flags & KVM_ACCEL_COALESCE_CD);
	} else {
		dev->aggr_thr = c.aggr_thr;
		dev->aggr_time = c.aggr_time;
	}
	for (qid = 1; qid <= KACC_MAX_QUEUES; qid++) {
		struct kacc_qp *qp = kacc_qp_lookup(dev, qid);

		if (!qp)
			continue;
		qp->cq.aggr_thr = dev->aggr_thr;
		qp->cq.aggr_time = dev->aggr_time;
		qp->cq.coalesce = !test_bit(qp->cq.vector, dev->nocoalesce);
	}
	kacc_worker_unpark(dev);
	kacc_kick_worker(dev);
	return 0;
}

/*
 * The one ioctl on the hot path (guests without shadow doorbells): no
 * mutex, queue pairs are looked up under RCU and freed after a grace period.
 */
long kacc_ioctl_doorbell(struct kacc_dev *dev, void __user *arg)
{
	unsigned long minsz = offsetofend(struct kvm_accel_doorbell, value);
	struct kvm_accel_doorbell d;
	struct kacc_qp *qp;
	long ret = 0;

	if (copy_from_user(&d, arg, minsz))
		return -EFAULT;
	if (d.argsz < minsz || (d.flags & ~KVM_ACCEL_DB_CQ_HEAD) || d.pad)
		return -EINVAL;
	if (d.qid < 1 || d.qid > KACC_MAX_QUEUES)
		return -EINVAL;
	rcu_read_lock();
	qp = rcu_dereference(dev->qps[d.qid]);
	if (!qp) {
		ret = -ENOENT;
	} else if (d.flags & KVM_ACCEL_DB_CQ_HEAD) {
		if (d.value >= qp->cq.size) {
			ret = -EINVAL;
		} else {
			WRITE_ONCE(qp->db_cq, d.value);
			atomic_fetch_or(KACC_DB_CQ, &qp->db_pending);
		}
	} else {
		if (d.value >= qp->sq.size) {
			ret = -EINVAL;
		} else {
			WRITE_ONCE(qp->db_sq, d.value);
			atomic_fetch_or(KACC_DB_SQ, &qp->db_pending);
		}
	}
	if (!ret)
		kacc_kick_worker(dev);
	rcu_read_unlock();
	return ret;
}

/* The counters since open, read while the worker runs. */
static void kacc_stats_read(struct kacc_dev *dev, struct kvm_accel_stats *s)
{
	const struct kacc_stats *k = &dev->stats;
	unsigned int start, i;

	do {
		start = u64_stats_fetch_begin(&k->syncp);
		s->commands = u64_stats_read(&k->commands);
		s->reads = u64_stats_read(&k->reads);
		s->writes = u64_stats_read(&k->writes);
		s->bytes_read = u64_stats_read(&k->bytes_read);
		s->bytes_written = u64_stats_read(&k->bytes_written);
		s->errors = u64_stats_read(&k->errors);
		s->irqs = u64_stats_read(&k->irqs);
		s->polled = u64_stats_read(&k->polled);
		s->db_errors = u64_stats_read(&k->db_errors);
		for (i = 0; i < KVM_ACCEL_LAT_BUCKETS; i++)
			s->lat_hist[i] = u64_stats_read(&k->lat_hist[i]);
	} while (u64_stats_fetch_retry(&k->syncp, start));
	s->kicks = atomic64_read(&dev->kicks);
}

/*
 * The counters run on from open; STATS_RESET moves the base the caller
 * sees them from, so the worker is never stopped for it.
 */
long kacc_ioctl_stats(struct kacc_dev *dev, void __user *arg)
{
	unsigned long minsz = offsetofend(struct kvm_accel_stats, lat_hist);
	/* Every field from commands on is a __u64 counter. */
	const unsigned int n = (minsz - offsetof(struct kvm_accel_stats,
						 commands)) / sizeof(u64);
	struct kvm_accel_stats s, now;
	u64 *out = &s.commands, *cur = &now.commands;
	const u64 *base = &dev->stats_base.commands;
	unsigned int i;

	if (copy_from_user(&s, arg, offsetofend(struct kvm_accel_stats, flags)))
		return -EFAULT;
	if (s.argsz < minsz || (s.flags & ~KVM_ACCEL_STATS_RESET))
		return -EINVAL;
	kacc_stats_read(dev, &now);
	for (i = 0; i < n; i++)
		out[i] = cur[i] - base[i];
	if (s.flags & KVM_ACCEL_STATS_RESET)
		dev->stats_base = now;
	return copy_to_user(arg, &s, minsz) ? -EFAULT : 0;
}
