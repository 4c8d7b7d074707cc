/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kvm-accel internals.
 *
 * One struct kacc_dev per mediated device. While its VFIO device fd is open
 * it has one worker kthread that runs every queue pair (queue.c): it
 * fetches and decodes SQEs with the shared datapath core, submits bios on
 * pinned guest pages (bdev.c), and posts CQEs and signals interrupt
 * eventfds when the bios complete. Guest memory is reached through VFIO
 * (mem.c). The worker runs in the opener's cgroups, and what it and the
 * device's workqueue allocate and submit for the guest is charged to the
 * opener.
 *
 * Locking and ownership:
 *  - dev->lock (mutex) serialises the control path: ioctls, dma_unmap,
 *    open/close. The worker never takes it. QUIESCE drops it while it
 *    waits for the guest.
 *  - Queue pair state, the request lists and the pin cache belong to the
 *    worker. The control path changes them only while the worker is parked
 *    (kacc_worker_park()), or after it has stopped.
 *  - Bio completions arrive in any context and reach the worker through the
 *    lock-free dev->completed list.
 *  - Vector eventfds are RCU-protected: SET_IRQS swaps them while the worker
 *    signals.
 */
#ifndef KVM_ACCEL_KACC_H
#define KVM_ACCEL_KACC_H

#include <linux/average.h>
#include <linux/blk_types.h>
#include <linux/dim.h>
#include <linux/hashtable.h>
#include <linux/llist.h>
#include <linux/memcontrol.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/rcupdate_wait.h>
#include <linux/spinlock.h>
#include <linux/u64_stats_sync.h>
#include <linux/vfio.h>
#include <linux/version.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "nvme-accel/nac-core.h"
#include "uapi/linux/kvm-accel.h"

#define KACC_MAX_QUEUES		64
#define KACC_MAX_QUEUE_ENTRIES	1024
#define KACC_MAX_VECTORS	(KACC_MAX_QUEUES + 1)
#define KACC_MAX_MDTS		(256 * 1024)
/* Guest pages one command can touch: MDTS, plus a partial first and last. */
#define KACC_REQ_PAGES		((KACC_MAX_MDTS >> PAGE_SHIFT) + 2)
/* SQEs fetched from one queue before the worker turns to the next. */
#define KACC_QP_BUDGET		32
/*
 * Bounce buffers in flight per device: a guest that makes every command
 * bounce (unaligned buffers) gets this much and waits for the rest.
 */
#define KACC_BOUNCE_MAX		(16u << 20)
/* On a device too slow to poll, one read or write in this many is polled. */
#define KACC_POLL_PROBE		16
/* Time from fetch to reap of polled bios: a moving average, 1/8 weight. */
DECLARE_EWMA(poll_lat, 4, 8)
/* ns between a pair's batches of completions, averaged over about 8 */
DECLARE_EWMA(post_gap, 4, 8)

/* Module parameters (main.c). */
extern unsigned int kacc_poll_usecs;
extern int kacc_irq_moderation_usecs;
extern int kacc_irq_moderation_profile;
extern bool kacc_poll_io;
extern unsigned int kacc_pin_cache_pages;
extern unsigned int kacc_max_devices;

/* Guest memory pinned for as long as a queue pair exists. */
struct kacc_ring {
	u64 iova;		/* page aligned */
	u64 len;		/* npages << PAGE_SHIFT */
	unsigned int npages;
	struct page **pages;
	bool writable;		/* pinned with IOMMU_WRITE */
};

/* A guest data page in the pin cache (mem.c). */
struct kacc_pin {
	struct hlist_node hnode;
	struct list_head lru;	/* on dev->pin_lru while unused */
	u64 iova;		/* page aligned */
	struct page *page;
	unsigned int users;	/* requests using it */
	bool writable;
	bool draining;		/* in a range being unmapped: no new users */
};

/*
 * A range VFIO is unmapping: nothing in it is pinned until the task doing
 * the unmap returns to user space (mem.c). rs.head is a task_work on that
 * task; the kernel's wakeme_after_rcu() completes rs.completion from it.
 */
struct kacc_fence {
	struct rcu_synchronize rs;
	struct list_head node;		/* dev->fences */
	u64 iova;
	u64 len;
	bool forever;			/* no task_work: until release */
};

/* Wait-queue entry on an eventfd that wakes the worker (vhost_poll). */
struct kacc_kick {
	struct kacc_dev *dev;
	struct file *file;
	struct eventfd_ctx *ctx;
	wait_queue_head_t *wqh;
	wait_queue_entry_t wait;
	poll_table pt;
};

struct kacc_req {
	struct nac_req r;
	struct kacc_qp *qp;
	struct bio *bio;		/* NULL for DSM and Write Zeroes */
	struct work_struct work;	/* submitted from kacc_wq (bdev.c) */
	struct nac_dsm_range *ranges;	/* DSM: its own copy of r.ranges */
	struct llist_node lnode;	/* dev->completed */
	struct list_head node;		/* dev->polled, qp->retry, qp->done */
	u64 start_ns;
	u16 status;
	blk_status_t bi_status;
	bool polled;			/* REQ_POLLED | REQ_NOWAIT */
	bool fenced;			/* waits for a range being unmapped */
	bool logged;			/* its error went to QEMU (event.c) */
	bool waiting;			/* for bounce space (KACC_BOUNCE_MAX) */
	u8 again;			/* BLK_STS_AGAIN so far */
	void *bounce;			/* data copied, not mapped */
	size_t bounce_len;
	unsigned int npins;
	struct kacc_pin *pins[KACC_REQ_PAGES];
};

/* qp->flags */
enum {
	KACC_QP_QUIESCED,	/* QUIESCE: no fetching */
	KACC_QP_STOPPING,	/* being destroyed: no fetching */
	KACC_QP_BROKEN,		/* guest memory gone: not touched again */
	KACC_QP_DB_ERROR,	/* an invalid doorbell value was seen */
	KACC_QP_HANDED_OVER,	/* GET_QUEUE_STATE gave completions away */
};

/* qp->db_pending: doorbell values forwarded by KVM_ACCEL_DOORBELL */
#define KACC_DB_SQ	1
#define KACC_DB_CQ	2

struct kacc_qp {
	struct kacc_dev *dev;
	u16 qid;
	unsigned long flags;
	struct nac_sq sq;
	struct nac_cq cq;
	struct nac_ctrl ctrl;
	struct nac_mem mem;
	struct kacc_ring sq_ring;
	struct kacc_ring cq_ring;
	struct kacc_ring shadow[4];	/* pages of the shadow doorbells */
	unsigned int nshadow;
	struct kacc_kick kick;
	bool has_kick;

	struct kacc_req *reqs;
	struct nac_sg *sg;
	struct kacc_req **free;		/* stack of idle requests */
	unsigned int nr_free;
	struct list_head retry;		/* to submit again (no tag, ...) */
	struct list_head done;		/* complete, CQE not posted yet */
	unsigned int outstanding;	/* fetched, CQE not posted yet */
	unsigned int nr_io;		/* at the block layer */
	u64 irq_deadline;		/* coalescing: ns, 0 if none */
	struct dim dim;			/* our own interrupt moderation */
	struct ewma_post_gap post_gap;
	u64 last_post;
	/* Commands in flight after each post, summed over KACC_MOD_WINDOW. */
	u32 mod_inflight, mod_samples;
	bool mod_one;			/* about one at a time: no moderation */
	bool sq_shadow_bad;		/* an invalid shadow value, counted */
	bool cq_shadow_bad;

	atomic_t db_pending;		/* KACC_DB_* */
	u32 db_sq;
	u32 db_cq;
};

/*
 * Counters the worker keeps (or the control path, with the worker parked)
 * and GET_STATS reads while the worker runs.
 */
struct kacc_stats {
	struct u64_stats_sync syncp;
	u64_stats_t commands, reads, writes, bytes_read, bytes_written, errors;
	u64_stats_t irqs, polled, db_errors;
	u64_stats_t lat_hist[KVM_ACCEL_LAT_BUCKETS];
};

#define kacc_stat_inc(dev, field)				\
	do {							\
		u64_stats_update_begin(&(dev)->stats.syncp);	\
		u64_stats_inc(&(dev)->stats.field);		\
		u64_stats_update_end(&(dev)->stats.syncp);	\
	} while (0)

/* Events for QEMU (event.c), under lock; any context but interrupts. */
struct kacc_events {
	spinlock_t lock;
	u32 pending;			/* KVM_ACCEL_EVENT_* */
	u64 db_error_qids;		/* bit qid - 1 */
	u64 broken_qids;
	u64 lost;			/* error records overwritten */
	unsigned int head, count;	/* of ring[] */
	struct kvm_accel_error ring[KVM_ACCEL_MAX_ERRORS];
	struct eventfd_ctx __rcu *ctx;	/* IRQ index EVENT; dev->lock */
};

/* dev->wflags */
enum {
	KACC_DEV_KICK,		/* something to look at: do not sleep */
};

struct kacc_dev {
	struct vfio_device vdev;	/* first: vfio_alloc_device() */
	struct mutex lock;
	struct task_struct *worker;	/* while open */
	struct task_struct __rcu *wake_task; /* the worker, for completions */
	unsigned long wflags;
	bool paused;			/* no fetching on any queue */
	wait_queue_head_t idle_wq;	/* control path waits for the worker */
	unsigned int nr_io;		/* worker; control reads it */
	unsigned int nr_fenced;		/* worker: requests with ->fenced */
	size_t bounce_bytes;		/* worker: bounce buffers in flight */

	/*
	 * The owner's (the opener's) memory and I/O cgroups, held while the
	 * device is open: what the worker and kacc_wq allocate and submit
	 * for the guest is charged there, as if the owner did it.
	 */
	struct mem_cgroup *owner_memcg;
	struct cgroup_subsys_state *owner_blkcg;

	/* Sleeping submissions (bdev.c): per device, none waits for another. */
	struct workqueue_struct *wq;

	struct llist_head completed;	/* bios done, from bi_end_io */
	struct list_head polled;	/* REQ_POLLED bios in flight */
	struct ewma_poll_lat poll_lat;	/* worker: polled completions, ns */
	unsigned int poll_probe;	/* worker: bios not polled, counted */
	struct kacc_qp __rcu *qps[KACC_MAX_QUEUES + 1]; /* [0] unused */
	unsigned int next_qid;		/* round robin start */
	struct nac_dsm_range *dsm_ranges; /* decode scratch, worker only */

	struct eventfd_ctx __rcu *vectors[KACC_MAX_VECTORS];
	DECLARE_BITMAP(nocoalesce, KACC_MAX_VECTORS);
	u8 aggr_thr;
	u8 aggr_time;

	/* Backend (bdev.c). */
	struct block_device *bdev;
	void *bdev_handle;		/* struct file (6.8+) or mode (6.1) */
	struct nac_ns ns;
	u32 bdev_flags;			/* KVM_ACCEL_BDEV_* */
	bool bdev_nowait;		/* takes REQ_NOWAIT bios */
	bool write_through;		/* the guest turned its write cache off */

	/*
	 * Ranges being unmapped (struct kacc_fence, mem.c): added, looked up
	 * and reaped under fence_lock by anyone.
	 */
	spinlock_t fence_lock;
	struct list_head fences;

	/* Pin cache (mem.c), worker only. */
	DECLARE_HASHTABLE(pin_hash, 10);
	struct list_head pin_lru;
	unsigned int nr_pins;
	unsigned long drain_users;	/* users of draining pins; control reads */

	struct kacc_events ev;
	bool bdev_dead;			/* the block device went away */

	struct kacc_stats stats;	/* worker */
	atomic64_t kicks;		/* kick eventfd wake-ups */
	struct kvm_accel_stats stats_base; /* at the last STATS_RESET; lock */
};

static inline struct kacc_dev *to_kacc(struct vfio_device *vdev)
{
	return container_of(vdev, struct kacc_dev, vdev);
}

/*
 * The kernels this builds for: 6.1 (Debian 12) and 6.11 on (bdev.c's block
 * device API), 64-bit (u64_stats and 64-bit counters read while written).
 */
#if (LINUX_VERSION_CODE >= KERNEL_VERSION(6, 2, 0) && \
     LINUX_VERSION_CODE < KERNEL_VERSION(6, 11, 0)) || BITS_PER_LONG != 64
#error "kvm-accel builds for 64-bit Linux 6.1 and 6.11 or later"
#endif

/* Compatibility with the 6.1 kernels we also build for. */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 8, 0)
#define kacc_eventfd_signal(ctx)	eventfd_signal(ctx, 1)
#else
#define kacc_eventfd_signal(ctx)	eventfd_signal(ctx)
#endif

/* event.c */
void kacc_events_init(struct kacc_dev *dev);
void kacc_event(struct kacc_dev *dev, u32 event, u16 qid);
void kacc_event_error(struct kacc_dev *dev, u16 sqid, u16 cid, u16 status,
		      u64 lba);
void kacc_events_forget_queue(struct kacc_dev *dev, u16 qid);
void kacc_events_clear(struct kacc_dev *dev, bool eventfd_too);
int kacc_events_set_irq(struct kacc_dev *dev, u32 flags, unsigned int count,
			void *data);
long kacc_ioctl_events(struct kacc_dev *dev, void __user *arg);

/* mdev.c */
int kacc_mdev_init(void);
void kacc_owner_enter(struct kacc_dev *dev, struct mem_cgroup **old);
void kacc_owner_leave(struct mem_cgroup *old);
void kacc_mdev_exit(void);

/* mem.c */
int kacc_ring_pin(struct kacc_dev *dev, struct kacc_ring *ring, u64 gpa,
		  u64 len, bool writable);
void kacc_ring_unpin(struct kacc_dev *dev, struct kacc_ring *ring);
bool kacc_ring_overlaps(const struct kacc_ring *ring, u64 iova, u64 len);
extern const struct nac_mem_ops kacc_mem_ops;
struct kacc_pin *kacc_pin_get(struct kacc_dev *dev, u64 iova, bool write);
void kacc_pin_put(struct kacc_dev *dev, struct kacc_pin *pin);
void kacc_pins_drop(struct kacc_dev *dev, u64 iova, u64 len);
void kacc_dma_unmap(struct vfio_device *vdev, u64 iova, u64 len);
bool kacc_fences_pending(struct kacc_dev *dev);
void kacc_fences_release(struct kacc_dev *dev);

/* queue.c */
int kacc_worker_start(struct kacc_dev *dev);
void kacc_worker_stop(struct kacc_dev *dev);
void kacc_worker_park(struct kacc_dev *dev);
void kacc_worker_unpark(struct kacc_dev *dev);
void kacc_dev_pause(struct kacc_dev *dev);
void kacc_dev_resume(struct kacc_dev *dev);
void kacc_kick_worker(struct kacc_dev *dev);
void kacc_qp_destroy_all(struct kacc_dev *dev);
void kacc_qp_unmap(struct kacc_dev *dev, u64 iova, u64 len);
long kacc_ioctl_create_qp(struct kacc_dev *dev, void __user *arg);
long kacc_ioctl_destroy_qp(struct kacc_dev *dev, void __user *arg);
long kacc_ioctl_quiesce(struct kacc_dev *dev, void __user *arg);
long kacc_ioctl_queue_state(struct kacc_dev *dev, void __user *arg, bool set);
long kacc_ioctl_coalescing(struct kacc_dev *dev, void __user *arg);
long kacc_ioctl_doorbell(struct kacc_dev *dev, void __user *arg);
long kacc_ioctl_stats(struct kacc_dev *dev, void __user *arg);
bool kacc_eventfd_fire(struct eventfd_ctx __rcu **slot);
void kacc_eventfds_clear(struct kacc_dev *dev,
			 struct eventfd_ctx __rcu **slots, unsigned int n);
int kacc_eventfds_set(struct kacc_dev *dev, struct eventfd_ctx __rcu **slots,
		      unsigned int n, u32 flags, unsigned int start,
		      unsigned int count, void *data);

/* bdev.c */
long kacc_ioctl_attach_bdev(struct kacc_dev *dev, void __user *arg);
long kacc_ioctl_set_namespace(struct kacc_dev *dev, void __user *arg);
void kacc_bdev_detach(struct kacc_dev *dev);
void kacc_req_init(struct kacc_req *req);
bool kacc_bdev_submit(struct kacc_dev *dev, struct kacc_req *req);
bool kacc_bdev_finish(struct kacc_dev *dev, struct kacc_req *req);
void kacc_bdev_poll(struct kacc_dev *dev);
u16 kacc_blk_status_to_nvme(blk_status_t sts, enum nac_op op);

#endif /* KVM_ACCEL_KACC_H */
