/* SPDX-License-Identifier: GPL-2.0-or-later WITH Linux-syscall-note */
/*
 * kvm-accel: user ABI of the in-kernel NVMe I/O queue datapath.
 *
 * The kvm-accel module is the parent of VFIO mediated devices (mdev type
 * "kvm-accel-nvme" under /sys/class/mdev_bus/kvm-accel/). QEMU's nvme-accel
 * device opens one through its normal VFIO container code: the container
 * maps guest RAM (VFIO_IOMMU_MAP_DMA, IOVA = guest physical address), and
 * the module pins what it touches. The mdev has no regions: the controller
 * registers and the admin queue stay in QEMU. QEMU hands I/O queue pairs to
 * the module with the ioctls below, issued on the VFIO *device* fd.
 *
 * Conventions (those of linux/vfio.h):
 *  - every argument struct starts with __u32 argsz, __u32 flags. The caller
 *    sets argsz to the size of the struct it knows; the kernel reads the
 *    fields up to the end of this version's struct ("minsz") and fails with
 *    -EINVAL if argsz is smaller. Later versions only append fields.
 *  - flags bits the kernel does not know fail with -EINVAL, never ignored.
 *  - reserved/padding fields must be zero (-EINVAL otherwise).
 *  - guest addresses (gpa) are IOVAs in the device's VFIO container.
 *
 * Ioctl numbers: the VFIO type (';') with numbers from VFIO_BASE + 60 on.
 * VFIO itself uses VFIO_BASE + 0..21 today; the device fd forwards every
 * number the VFIO core does not handle to the driver, and the private range
 * keeps ours clear of future VFIO numbers. Like VFIO, _IO() is used with
 * the size carried in argsz.
 *
 * Events for QEMU (errors the guest must hear of: invalid doorbell values
 * the module saw, commands that completed with an error, queues stopped for
 * good, a block device that went away) are signalled on the eventfd of
 * VFIO IRQ index KVM_ACCEL_IRQ_INDEX_EVENT (one, set like an MSI-X vector)
 * when the first one is pending, and read with KVM_ACCEL_GET_EVENTS.
 *
 * Interrupts use the standard VFIO_DEVICE_GET_IRQ_INFO / VFIO_DEVICE_SET_IRQS
 * with the index KVM_ACCEL_IRQ_INDEX_MSIX, whose semantics are those of
 * VFIO_PCI_MSIX_IRQ_INDEX on a vfio-pci device: one eventfd per MSI-X
 * vector of the guest's NVMe controller (VFIO_IRQ_SET_DATA_EVENTFD |
 * VFIO_IRQ_SET_ACTION_TRIGGER, start/count select vectors, fd -1 removes
 * one, DATA_NONE with count 0 removes all, DATA_NONE/DATA_BOOL with count > 0
 * fires the vectors for testing). The mdev is not a PCI device, so the
 * indexes are defined here; they equal the vfio-pci ones so that code
 * written for vfio-pci MSI-X works unchanged. QEMU attaches each eventfd to
 * a KVM irqfd (MSI route), or reads it and calls msix_notify() without KVM.
 *
 * The standard device ioctls: VFIO_DEVICE_GET_INFO reports no regions,
 * KVM_ACCEL_NUM_IRQS interrupt indexes and VFIO_DEVICE_FLAGS_RESET;
 * VFIO_DEVICE_RESET destroys every queue pair (as a controller reset does;
 * so does DESTROY_QUEUE_PAIR for one, with the pending events about it),
 * clears the coalescing settings, while the attached block device, the
 * eventfds and pending error records stay. Closing the device fd undoes
 * everything: it waits for the bios in flight, unpins all guest memory and
 * releases the block device.
 *
 * Doorbells: with shadow doorbells (Doorbell Buffer Config) the SQ tail and
 * CQ head are read from guest memory; the guest's MMIO doorbell write (when
 * the event index asks for one) only has to wake the worker: QEMU attaches
 * the pair's kick eventfd to the SQ tail and CQ head doorbell addresses as
 * KVM ioeventfds. Without shadow doorbells the value written matters, so
 * QEMU traps the MMIO write and forwards the value with
 * KVM_ACCEL_DOORBELL. That is one ioctl per trapped write, which is cheap
 * next to the exit that trapped it, and needs no shared page whose
 * ordering rules would be part of the ABI.
 */
#ifndef _UAPI_LINUX_KVM_ACCEL_H
#define _UAPI_LINUX_KVM_ACCEL_H

#include <linux/types.h>
#include <linux/ioctl.h>
#include <linux/vfio.h>

/*
 * 2: ATTACH_BDEV takes an open fd instead of a path.
 * 3: the event channel (KVM_ACCEL_IRQ_INDEX_EVENT, KVM_ACCEL_GET_EVENTS).
 * 4: KVM_ACCEL_QUIESCE_DROP.
 * 5: QUIESCE waits for the device only; GET_QUEUE_STATE hands over the
 *    completions the CQ had no room for (struct kvm_accel_cqe).
 * 6: KVM_ACCEL_SET_NAMESPACE (a resized namespace, the write cache off).
 */
#define KVM_ACCEL_ABI_VERSION		6

/* mdev_supported_types/<type>/device_api of the mdev type. */
#define KVM_ACCEL_DEVICE_API		"kvm-accel"

/* VFIO_DEVICE_GET_INFO: num_irqs; indexes for GET_IRQ_INFO/SET_IRQS. */
#define KVM_ACCEL_IRQ_INDEX_INTX	0	/* count 0: not supported */
#define KVM_ACCEL_IRQ_INDEX_MSI		1	/* count 0: not supported */
#define KVM_ACCEL_IRQ_INDEX_MSIX	2	/* == VFIO_PCI_MSIX_IRQ_INDEX */
#define KVM_ACCEL_IRQ_INDEX_EVENT	3	/* count 1: KVM_ACCEL_GET_EVENTS */
#define KVM_ACCEL_NUM_IRQS		4

#define KVM_ACCEL_IOCTL_BASE		(VFIO_BASE + 60)

/**
 * KVM_ACCEL_GET_INFO - _IO(VFIO_TYPE, VFIO_BASE + 60), struct kvm_accel_info
 *
 * Limits of this module and the state of the attached block device.
 * flags: in, must be 0. Returns 0 or -errno.
 */
struct kvm_accel_info {
	__u32 argsz;
	__u32 flags;
	__u32 abi_version;	/* KVM_ACCEL_ABI_VERSION */
	__u32 max_queues;	/* I/O queue pairs have qid 1..max_queues */
	__u32 max_queue_entries;/* per SQ and CQ (CAP.MQES + 1) */
	__u32 max_vectors;	/* MSI-X vectors (SET_IRQS count) */
	__u32 mdts;		/* largest transfer per command, bytes */
	__u32 qp_flags;		/* KVM_ACCEL_QP_* flags CREATE accepts */
	__u32 bdev_flags;	/* KVM_ACCEL_BDEV_*, 0 if none attached */
	__u32 lba_shift;	/* attached namespace: log2(LBA size) */
	__u64 nsze;		/* attached namespace: size in LBAs */
	__u32 nsid;		/* attached namespace: NSID */
	__u32 pad;
};

/* bdev_flags */
#define KVM_ACCEL_BDEV_ATTACHED		(1u << 0)
#define KVM_ACCEL_BDEV_READ_ONLY	(1u << 1)
/* Reads and writes complete by polling (REQ_POLLED + bio_poll). */
#define KVM_ACCEL_BDEV_POLL		(1u << 2)
#define KVM_ACCEL_BDEV_DISCARD		(1u << 3)	/* DSM deallocate */
#define KVM_ACCEL_BDEV_WRITE_ZEROES	(1u << 4)	/* offloaded, else emulated */
#define KVM_ACCEL_BDEV_WRITE_CACHE	(1u << 5)	/* Flush reaches media */
#define KVM_ACCEL_BDEV_DEAD		(1u << 6)	/* went away (GET_INFO) */

#define KVM_ACCEL_GET_INFO	_IO(VFIO_TYPE, KVM_ACCEL_IOCTL_BASE + 0)

/**
 * KVM_ACCEL_ATTACH_BDEV - _IO(VFIO_TYPE, VFIO_BASE + 61),
 *			   struct kvm_accel_attach_bdev
 *
 * Back namespace @nsid with the block device the caller has open as @fd,
 * which the kernel then claims exclusively (holder: this mdev). @fd must be
 * open for reading, and for writing unless KVM_ACCEL_ATTACH_READ_ONLY is
 * set (-EBADF otherwise, as for a closed fd or an O_PATH one): the caller's
 * own open of the device is the permission check, so owning the VFIO device
 * gives no access to other block devices, while a manager that may open
 * the device can pass the fd to a less privileged owner. The kernel opens
 * nothing by name (a FIFO could block it, a tty become the caller's
 * controlling terminal). -ENOTBLK if @fd is no block device. Once per open
 * of the device fd: -EBUSY if a device is attached (or the block device is
 * claimed by someone else). The caller may close @fd afterwards.
 *
 * @lba_shift: in: 0 for the device's logical block size, or 9..12, at
 * least the device's; out: the LBA size used. @nsze: out, in LBAs. Nothing
 * is attached unless the call returns 0.
 */
struct kvm_accel_attach_bdev {
	__u32 argsz;
	__u32 flags;
	__s32 fd;		/* an open file of the block device */
	__u32 pad0;
	__u32 nsid;		/* 1..0xfffffffe */
	__u32 lba_shift;
	__u64 nsze;
	__u32 bdev_flags;	/* out: KVM_ACCEL_BDEV_* */
	__u32 pad;
};

#define KVM_ACCEL_ATTACH_READ_ONLY	(1u << 0)

#define KVM_ACCEL_ATTACH_BDEV	_IO(VFIO_TYPE, KVM_ACCEL_IOCTL_BASE + 1)

/**
 * KVM_ACCEL_CREATE_QUEUE_PAIR - _IO(VFIO_TYPE, VFIO_BASE + 62),
 *				 struct kvm_accel_queue_pair
 *
 * Hand I/O submission queue @qid and its completion queue (same qid) to the
 * module. Both rings are physically contiguous guest memory aligned to the
 * controller's memory page size (1 << @page_shift); they are pinned until
 * the pair is destroyed. The pair starts with head = tail = 0 and phase 1,
 * like a newly created NVMe queue, and runs at once unless
 * KVM_ACCEL_QP_QUIESCED is set (then SET_QUEUE_STATE and QUIESCE with
 * KVM_ACCEL_QUIESCE_RESUME take over a queue that was running elsewhere).
 *
 * @sq_db_gpa/@cq_db_gpa: shadow doorbells (SQ tail, CQ head) of this pair
 * in the guest's Doorbell Buffer Config buffer, @sq_ei_gpa/@cq_ei_gpa the
 * matching event indexes; 0 means none (so a shadow doorbell cannot live
 * at guest address 0). Dword aligned. An event index needs its doorbell.
 *
 * @kick_fd: an eventfd the worker waits on when idle (a KVM ioeventfd on the
 * pair's doorbells), or -1. @vector: the MSI-X vector (SET_IRQS index) of
 * the CQ. @mdts: largest transfer in bytes (0: KVM_ACCEL_GET_INFO.mdts).
 *
 * Errors: -EINVAL for bad values, -EEXIST if @qid exists, -EFAULT if a ring
 * or shadow address is not mapped in the container, -EBADF for a bad fd.
 */
struct kvm_accel_queue_pair {
	__u32 argsz;
	__u32 flags;
	__u16 qid;
	__u16 vector;
	__u32 page_shift;	/* 12 + CC.MPS */
	__u32 sq_entries;	/* 2..max_queue_entries */
	__u32 cq_entries;
	__u64 sq_gpa;
	__u64 cq_gpa;
	__u64 sq_db_gpa;
	__u64 sq_ei_gpa;
	__u64 cq_db_gpa;
	__u64 cq_ei_gpa;
	__s32 kick_fd;
	__u32 mdts;
};

#define KVM_ACCEL_QP_IRQ_ENABLED	(1u << 0)	/* CQ IEN */
#define KVM_ACCEL_QP_SGL		(1u << 1)	/* SGLs allowed */
#define KVM_ACCEL_QP_QUIESCED		(1u << 2)	/* create stopped */

#define KVM_ACCEL_CREATE_QUEUE_PAIR	_IO(VFIO_TYPE, KVM_ACCEL_IOCTL_BASE + 2)

/**
 * struct kvm_accel_qid - a queue pair to act on
 *
 * KVM_ACCEL_DESTROY_QUEUE_PAIR - _IO(VFIO_TYPE, VFIO_BASE + 63): waits for
 * the pair's commands at the block layer, drops completions it could not
 * post yet (the queue is gone, as after Delete I/O SQ), unpins the rings.
 * flags: 0. -ENOENT if @qid does not exist.
 *
 * KVM_ACCEL_QUIESCE - _IO(VFIO_TYPE, VFIO_BASE + 64): stop fetching from
 * the SQ and wait until every fetched command has its final status: none
 * is at the block layer or waits to go there again. A bound the device
 * sets, never the guest: completions the CQ has no room for wait in the
 * module, and GET_QUEUE_STATE hands them over. Returns 0 when the pair is
 * idle: its state (GET_QUEUE_STATE) is then stable and complete. -EAGAIN
 * if commands are still at the block layer, or waiting to go there again
 * (a full tag set, an unmap in progress), after a second (call again),
 * -EINTR on a signal; the pair stays quiesced either way. The
 * device's other ioctls and unmaps do not wait for this one: if another
 * thread destroyed the pair meanwhile the result is -ENOENT, if it resumed
 * it -EBUSY. With KVM_ACCEL_QUIESCE_RESUME: run the pair again instead.
 * With KVM_ACCEL_QUIESCE_DROP (Delete I/O SQ, its CQ staying): wait only
 * for the commands at the block layer, a bound the device sets and not the
 * guest, then drop the completions that could not be posted, as
 * DESTROY_QUEUE_PAIR does; GET_QUEUE_STATE then gives the CQ's state with
 * what was posted. -EAGAIN if commands are still at the block layer after
 * a second.
 */
struct kvm_accel_qid {
	__u32 argsz;
	__u32 flags;
	__u16 qid;
	__u16 pad[3];
};

#define KVM_ACCEL_QUIESCE_RESUME	(1u << 0)
#define KVM_ACCEL_QUIESCE_DROP		(1u << 1)

#define KVM_ACCEL_DESTROY_QUEUE_PAIR	_IO(VFIO_TYPE, KVM_ACCEL_IOCTL_BASE + 3)
#define KVM_ACCEL_QUIESCE		_IO(VFIO_TYPE, KVM_ACCEL_IOCTL_BASE + 4)

/**
 * KVM_ACCEL_SET_COALESCING - _IO(VFIO_TYPE, VFIO_BASE + 65),
 *			      struct kvm_accel_coalescing
 *
 * Interrupt Coalescing (Feature 08h): @aggr_thr (0's based entries) and
 * @aggr_time (100 us units) for every CQ, present and future. With
 * KVM_ACCEL_COALESCE_VECTOR only set the Coalescing Disable bit of
 * @vector (Feature 09h) to KVM_ACCEL_COALESCE_CD; thr/time are ignored.
 */
struct kvm_accel_coalescing {
	__u32 argsz;
	__u32 flags;
	__u8  aggr_thr;
	__u8  aggr_time;
	__u16 vector;
	__u32 pad;
};

#define KVM_ACCEL_COALESCE_VECTOR	(1u << 0)
#define KVM_ACCEL_COALESCE_CD		(1u << 1)

#define KVM_ACCEL_SET_COALESCING	_IO(VFIO_TYPE, KVM_ACCEL_IOCTL_BASE + 5)

/**
 * KVM_ACCEL_GET_QUEUE_STATE - _IO(VFIO_TYPE, VFIO_BASE + 66)
 * KVM_ACCEL_SET_QUEUE_STATE - _IO(VFIO_TYPE, VFIO_BASE + 67)
 *
 * struct kvm_accel_queue_state: the pair's ring indexes, for handing a queue
 * back to QEMU (QUIESCE, GET_QUEUE_STATE, DESTROY) or taking one over
 * (CREATE with KVM_ACCEL_QP_QUIESCED, SET_QUEUE_STATE, QUIESCE with
 * RESUME). Only on a quiesced, idle pair: -EBUSY otherwise. Doorbell values
 * forwarded while quiesced are included. SET validates like the doorbells
 * (indexes below the queue sizes, phase 0 or 1): -EINVAL.
 *
 * flags: in, must be 0. GET returns @state: KVM_ACCEL_QS_*.
 *
 * GET hands over the completions the CQ had no room for, oldest first: it
 * writes them to the array at @cqes and their number to @nr_cqes, and from
 * then on they are the caller's to post (after cq_tail, in this order);
 * their errors are in the event channel already. -ENOSPC if there are more
 * than @nr_cqes (room for the SQ's size always suffices), -EFAULT if they
 * cannot be written: then nothing was handed over. A pair that handed
 * completions over resumes only after SET_QUEUE_STATE (-EBUSY). So is the
 * duty to send a deferred interrupt (KVM_ACCEL_QS_IRQ_PENDING): the module
 * no longer sends it. SET: @cqes and @nr_cqes 0.
 */
struct kvm_accel_cqe {
	__u32 result;		/* command specific, CQE dword 0 */
	__u16 cid;		/* as fetched (little endian) */
	__u16 status;		/* status field without the phase tag */
};

struct kvm_accel_queue_state {
	__u32 argsz;
	__u32 flags;
	__u16 qid;
	__u16 pad;
	__u32 state;		/* GET: out; SET: must be 0 */
	__u32 sq_head;
	__u32 sq_tail;
	__u32 cq_head;
	__u32 cq_tail;
	__u32 cq_phase;		/* phase tag of the next CQE posted */
	__u32 pad2;
	__u64 cqes;		/* GET: user address of a kvm_accel_cqe array */
	__u32 nr_cqes;		/* GET: in, its length; out, entries written */
	__u32 pad3;
};

#define KVM_ACCEL_QS_QUIESCED		(1u << 0)
/*
 * Stopped for good: a ring or shadow doorbell was unmapped from the
 * container (VFIO_IOMMU_UNMAP_DMA) under the running queue. Destroy it.
 */
#define KVM_ACCEL_QS_BROKEN		(1u << 1)
/* The guest wrote an invalid doorbell value (Invalid Doorbell Write Value). */
#define KVM_ACCEL_QS_DB_ERROR		(1u << 2)
/*
 * The pair owed the host an interrupt it deferred (coalescing, moderation)
 * for CQEs already posted: the caller of GET_QUEUE_STATE sends it.
 */
#define KVM_ACCEL_QS_IRQ_PENDING	(1u << 3)

#define KVM_ACCEL_GET_QUEUE_STATE	_IO(VFIO_TYPE, KVM_ACCEL_IOCTL_BASE + 6)
#define KVM_ACCEL_SET_QUEUE_STATE	_IO(VFIO_TYPE, KVM_ACCEL_IOCTL_BASE + 7)

/**
 * KVM_ACCEL_GET_STATS - _IO(VFIO_TYPE, VFIO_BASE + 68), struct kvm_accel_stats
 *
 * Counters of the device since open (or the last reset). With
 * KVM_ACCEL_STATS_RESET the counters are zeroed after being read.
 * @lat_hist[i] counts commands whose time from fetch to CQE was in
 * [2^i, 2^(i+1)) microseconds (i = 0: below 2 us; the last bucket: all
 * longer).
 */
#define KVM_ACCEL_LAT_BUCKETS	16

struct kvm_accel_stats {
	__u32 argsz;
	__u32 flags;
	__u64 commands;		/* CQEs posted */
	__u64 reads;
	__u64 writes;
	__u64 bytes_read;
	__u64 bytes_written;
	__u64 errors;		/* CQEs with a non-zero status */
	__u64 irqs;		/* vector eventfds signalled */
	__u64 kicks;		/* kick eventfd wake-ups */
	__u64 polled;		/* reads/writes submitted for bio_poll */
	__u64 db_errors;	/* invalid doorbell values seen */
	__u64 lat_hist[KVM_ACCEL_LAT_BUCKETS];
};

#define KVM_ACCEL_STATS_RESET	(1u << 0)

#define KVM_ACCEL_GET_STATS	_IO(VFIO_TYPE, KVM_ACCEL_IOCTL_BASE + 8)

/**
 * KVM_ACCEL_DOORBELL - _IO(VFIO_TYPE, VFIO_BASE + 69),
 *			struct kvm_accel_doorbell
 *
 * Forward a doorbell write that QEMU trapped: the SQ tail of @qid, or with
 * KVM_ACCEL_DB_CQ_HEAD its CQ head. -EINVAL if @value is not below the
 * queue size (QEMU then raises Invalid Doorbell Write Value itself). A CQ
 * head that frees no posted entry is caught by the worker and counted in
 * db_errors / KVM_ACCEL_QS_DB_ERROR. Wakes the worker.
 */
struct kvm_accel_doorbell {
	__u32 argsz;
	__u32 flags;
	__u16 qid;
	__u16 pad;
	__u32 value;
};

#define KVM_ACCEL_DB_CQ_HEAD	(1u << 0)

#define KVM_ACCEL_DOORBELL	_IO(VFIO_TYPE, KVM_ACCEL_IOCTL_BASE + 9)

/**
 * KVM_ACCEL_GET_EVENTS - _IO(VFIO_TYPE, VFIO_BASE + 70),
 *			  struct kvm_accel_events
 *
 * Take the events pending since the last call (the event eventfd fires
 * again for the next one). @events: KVM_ACCEL_EVENT_* bits; @db_error_qids
 * and @broken_qids: bit (qid - 1) for each queue pair concerned. @errors
 * points to room for @nr_errors struct kvm_accel_error records, one per
 * command that completed with an error status, oldest first; on return
 * @nr_errors says how many were written and @lost_errors how many the
 * module could not keep (it keeps KVM_ACCEL_MAX_ERRORS) or did not fit.
 * flags: in, must be 0.
 */
struct kvm_accel_error {
	__u16 sqid;
	__u16 cid;		/* as in the SQE: little endian */
	__u16 status;		/* status field of the CQE, without the phase */
	__u16 pad;
	__u32 nsid;
	__u32 pad2;
	__u64 lba;		/* the command's SLBA where it has one, else 0 */
};

struct kvm_accel_events {
	__u32 argsz;
	__u32 flags;
	__u32 events;		/* out: KVM_ACCEL_EVENT_* */
	__u32 nr_errors;	/* in: room in @errors; out: records written */
	__u64 errors;		/* in: user pointer to kvm_accel_error[] */
	__u64 lost_errors;	/* out */
	__u64 db_error_qids;	/* out */
	__u64 broken_qids;	/* out */
};

#define KVM_ACCEL_MAX_ERRORS		64

/* An invalid doorbell value was seen: Invalid Doorbell Write Value AER. */
#define KVM_ACCEL_EVENT_DB_ERROR	(1u << 0)
/* A queue pair stopped for good (its memory was unmapped; destroy it). */
#define KVM_ACCEL_EVENT_BROKEN		(1u << 1)
/* Commands completed with an error: records in @errors. */
#define KVM_ACCEL_EVENT_IO_ERROR	(1u << 2)
/* The block device went away (removed or its media gone). */
#define KVM_ACCEL_EVENT_BDEV_DEAD	(1u << 3)

#define KVM_ACCEL_GET_EVENTS	_IO(VFIO_TYPE, KVM_ACCEL_IOCTL_BASE + 10)

/**
 * KVM_ACCEL_SET_NAMESPACE - _IO(VFIO_TYPE, VFIO_BASE + 71),
 *			     struct kvm_accel_namespace
 *
 * Change the attached namespace as the guest sees it; @flags says what:
 *  - KVM_ACCEL_NS_SET_NSZE: its size becomes @nsze LBAs (a resize the
 *    guest is told of), 1 up to what the block device holds now: -EINVAL
 *    otherwise. Commands are checked against the new size from the next
 *    one fetched.
 *  - KVM_ACCEL_NS_SET_CACHE: the volatile write cache as the guest set it
 *    (Set Features 06h). With KVM_ACCEL_NS_WRITE_THROUGH in @ns_flags,
 *    writes complete only once on stable media (REQ_FUA, and a flush after
 *    Write Zeroes), as QEMU's block layer does with the cache off.
 * -ENODEV if no block device is attached. Nothing changes unless the call
 * returns 0. The settings stay over VFIO_DEVICE_RESET.
 */
struct kvm_accel_namespace {
	__u32 argsz;
	__u32 flags;
	__u64 nsze;
	__u32 ns_flags;
	__u32 pad;
};

#define KVM_ACCEL_NS_SET_NSZE		(1u << 0)
#define KVM_ACCEL_NS_SET_CACHE		(1u << 1)

#define KVM_ACCEL_NS_WRITE_THROUGH	(1u << 0)

#define KVM_ACCEL_SET_NAMESPACE	_IO(VFIO_TYPE, KVM_ACCEL_IOCTL_BASE + 11)

#endif /* _UAPI_LINUX_KVM_ACCEL_H */
