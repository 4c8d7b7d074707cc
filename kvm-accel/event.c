// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * kvm-accel: events for QEMU.
 *
 * What the guest must hear of but only the module sees: an invalid doorbell
 * value in a shadow doorbell or a CQ head that frees nothing, a command that
 * completed with an error (for the Error Information log page), a queue
 * pair stopped for good because its memory was unmapped, a block device
 * that went away. The worker and the control path record them here; the
 * first one pending signals the eventfd QEMU set on VFIO IRQ index
 * KVM_ACCEL_IRQ_INDEX_EVENT, and KVM_ACCEL_GET_EVENTS takes them all. QEMU
 * turns them into AERs, log entries and CSTS.CFS.
 *
 * Error records are kept in a ring of KVM_ACCEL_MAX_ERRORS: a guest that
 * makes commands fail faster than QEMU reads them loses the oldest records
 * (counted), never memory.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bits.h>
#include <linux/eventfd.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "kacc.h"

void kacc_events_init(struct kacc_dev *dev)
{
	spin_lock_init(&dev->ev.lock);
}

static void kacc_event_signal(struct kacc_dev *dev)
{
	kacc_eventfd_fire(&dev->ev.ctx);
}

/* Record @event (KVM_ACCEL_EVENT_*); @qid for the per-queue ones. */
void kacc_event(struct kacc_dev *dev, u32 event, u16 qid)
{
	const u32 per_queue = KVM_ACCEL_EVENT_DB_ERROR | KVM_ACCEL_EVENT_BROKEN;
	struct kacc_events *ev = &dev->ev;
	bool first;

	if (WARN_ON_ONCE((event & per_queue) &&
			 (!qid || qid > KACC_MAX_QUEUES)))
		return;
	spin_lock(&ev->lock);
	first = !ev->pending;
	ev->pending |= event;
	if (event & KVM_ACCEL_EVENT_DB_ERROR)
		ev->db_error_qids |= BIT_ULL(qid - 1);
	if (event & KVM_ACCEL_EVENT_BROKEN)
		ev->broken_qids |= BIT_ULL(qid - 1);
	spin_unlock(&ev->lock);
	if (first)
		kacc_event_signal(dev);
}

/* A command of queue @sqid completed with @status: an error log entry. */
void kacc_event_error(struct kacc_dev *dev, u16 sqid, u16 cid, u16 status,
		      u64 lba)
{
	struct kacc_events *ev = &dev->ev;
	struct kvm_accel_error *e;
	bool first;

	spin_lock(&ev->lock);
	first = !ev->pending;
	ev->pending |= KVM_ACCEL_EVENT_IO_ERROR;
	if (ev->count == KVM_ACCEL_MAX_ERRORS) {
		/* Full: the oldest record goes. */
		ev->head = (ev->head + 1) % KVM_ACCEL_MAX_ERRORS;
		ev->count--;
		ev->lost++;
	}
	e = &ev->ring[(ev->head + ev->count++) % KVM_ACCEL_MAX_ERRORS];
	*e = (struct kvm_accel_error){
		.sqid = sqid, .cid = cid, .status = status,
		.nsid = dev->ns.nsid, .lba = lba,
	};
	spin_unlock(&ev->lock);
	if (first)
		kacc_event_signal(dev);
}

/*
 * Queue @qid is destroyed: its doorbell errors go with it, so that a new
 * queue with the same ID is not blamed. A broken queue stays reported (it
 * is fatal for the controller), unless all queues go (@qid 0: reset).
 */
void kacc_events_forget_queue(struct kacc_dev *dev, u16 qid)
{
	u64 mask = qid ? ~BIT_ULL(qid - 1) : 0;
	struct kacc_events *ev = &dev->ev;

	spin_lock(&ev->lock);
	ev->db_error_qids &= mask;
	if (!qid)
		ev->broken_qids = 0;
	if (!ev->db_error_qids)
		ev->pending &= ~KVM_ACCEL_EVENT_DB_ERROR;
	if (!ev->broken_qids)
		ev->pending &= ~KVM_ACCEL_EVENT_BROKEN;
	spin_unlock(&ev->lock);
}

/* Nothing pending any more; under ev->lock. */
static void kacc_events_empty(struct kacc_events *ev)
{
	ev->pending = 0;
	ev->db_error_qids = 0;
	ev->broken_qids = 0;
	ev->lost = 0;
	ev->head = 0;
	ev->count = 0;
}

/* Open: nothing pending. Close also drops the eventfd. */
void kacc_events_clear(struct kacc_dev *dev, bool eventfd_too)
{
	struct kacc_events *ev = &dev->ev;

	spin_lock(&ev->lock);
	kacc_events_empty(ev);
	spin_unlock(&ev->lock);
	if (eventfd_too)
		kacc_eventfds_clear(dev, &dev->ev.ctx, 1);
}

/*
 * VFIO_DEVICE_SET_IRQS on the event index, checked by
 * vfio_set_irqs_validate_and_prepare() (start 0, count 0 or 1): an eventfd
 * (-1 removes it), or DATA_NONE/DATA_BOOL to fire it for testing; with
 * count 0 either disables the trigger (what is pending stays).
 */
int kacc_events_set_irq(struct kacc_dev *dev, u32 flags, unsigned int count,
			void *data)
{
	int ret;

	if ((flags & VFIO_IRQ_SET_ACTION_TYPE_MASK) != VFIO_IRQ_SET_ACTION_TRIGGER)
		return -EINVAL;
	if (!count) {
		if (!(flags & (VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_DATA_BOOL)))
			return -EINVAL;
		kacc_eventfds_clear(dev, &dev->ev.ctx, 1);
		return 0;
	}
	ret = kacc_eventfds_set(dev, &dev->ev.ctx, 1, flags, 0, count, data);
	/* Events from before the eventfd was set must not go unnoticed. */
	if (!ret && (flags & VFIO_IRQ_SET_DATA_EVENTFD) &&
	    READ_ONCE(dev->ev.pending))
		kacc_event_signal(dev);
	return ret;
}

long kacc_ioctl_events(struct kacc_dev *dev, void __user *arg)
{
	unsigned long minsz = offsetofend(struct kvm_accel_events, broken_qids);
	struct kacc_events *ev = &dev->ev;
	struct kvm_accel_error *recs = NULL;
	struct kvm_accel_events e;
	unsigned int room, n = 0;
	long ret = 0;

	if (copy_from_user(&e, arg, minsz))
		return -EFAULT;
	if (e.argsz < minsz || e.flags)
		return -EINVAL;
	room = min_t(u32, e.nr_errors, KVM_ACCEL_MAX_ERRORS);
	if (room) {
		recs = kcalloc(room, sizeof(*recs), GFP_KERNEL_ACCOUNT);
		if (!recs)
			return -ENOMEM;
	}

	spin_lock(&ev->lock);
	e.events = ev->pending;
	e.db_error_qids = ev->db_error_qids;
	e.broken_qids = ev->broken_qids;
	while (n < room && ev->count) {
		recs[n++] = ev->ring[ev->head];
		ev->head = (ev->head + 1) % KVM_ACCEL_MAX_ERRORS;
		ev->count--;
	}
	/*
	 * What did not fit is lost too: the caller asked for no more. So is
	 * what was taken if the copy out fails (-EFAULT).
	 */
	e.lost_errors = ev->lost + ev->count;
	kacc_events_empty(ev);
	spin_unlock(&ev->lock);

	e.nr_errors = n;
	if ((n && copy_to_user(u64_to_user_ptr(e.errors), recs,
			       n * sizeof(*recs))) ||
	    copy_to_user(arg, &e, minsz))
		ret = -EFAULT;
	kfree(recs);
	return ret;
}
