// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * kvm-accel: the in-kernel I/O queue datapath of QEMU's nvme-accel device.
 *
 * QEMU emulates the NVMe controller and its admin queue and hands I/O queue
 * pairs to this module through a VFIO mediated device (mdev.c). A worker
 * thread per device reads the guest's submission queues from pinned guest
 * memory (mem.c), decodes the commands with the shared datapath core
 * (accel-core/, the same source QEMU runs), submits bios to a host block
 * device (bdev.c), posts completions and signals interrupt eventfds
 * (queue.c). The user ABI is include/uapi/linux/kvm-accel.h.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bio.h>
#include <linux/build_bug.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/printk.h>

#include <linux/workqueue.h>

#include "kacc.h"

/*
 * The core reads and writes these structures in guest memory as they are:
 * their layout is the wire format, so a compiler that pads them differently
 * in the kernel than in userspace must fail the build, not corrupt queues.
 */
static_assert(sizeof(struct nac_sqe) == NAC_SQE_SIZE);
static_assert(sizeof(struct nac_cqe) == NAC_CQE_SIZE);
static_assert(sizeof(struct nac_sgl_desc) == 16);
static_assert(sizeof(struct nac_dsm_range) == 16);
/* The user ABI: 64-bit fields aligned, the same size on every ABI. */
static_assert(sizeof(struct kvm_accel_info) == 56);
static_assert(sizeof(struct kvm_accel_attach_bdev) == 40);
static_assert(sizeof(struct kvm_accel_queue_pair) == 80);
static_assert(sizeof(struct kvm_accel_queue_state) == 56);
static_assert(offsetof(struct kvm_accel_queue_state, cqes) == 40);
static_assert(sizeof(struct kvm_accel_cqe) == 8);
static_assert(sizeof(struct kvm_accel_stats) == 216);
static_assert(sizeof(struct kvm_accel_error) == 24);
static_assert(sizeof(struct kvm_accel_events) == 48);
/* Queue bitmaps in struct kvm_accel_events are 64 bits. */
static_assert(KACC_MAX_QUEUES <= 64);
/* GET_STATS treats commands .. lat_hist[] as one array of counters. */
static_assert(offsetof(struct kvm_accel_stats, commands) == 8);
static_assert(KVM_ACCEL_IRQ_INDEX_MSIX == VFIO_PCI_MSIX_IRQ_INDEX);
static_assert(KACC_REQ_PAGES <= BIO_MAX_VECS);

unsigned int kacc_poll_usecs = 50;
module_param_named(poll_usecs, kacc_poll_usecs, uint, 0644);
MODULE_PARM_DESC(poll_usecs,
		 "Microseconds the worker keeps polling its queues after the last work before it sleeps (default 50)");

/* An integer module parameter within [min, max] (kp->arg first). */
struct kacc_param_range {
	int *value;
	int min, max;
};

static int kacc_param_set_range(const char *val, const struct kernel_param *kp)
{
	const struct kacc_param_range *r = kp->arg;
	int n, ret;

	ret = kstrtoint(val, 0, &n);
	if (ret)
		return ret;
	if (n < r->min || n > r->max)
		return -EINVAL;
	WRITE_ONCE(*r->value, n);
	return 0;
}

static int kacc_param_get_range(char *buf, const struct kernel_param *kp)
{
	const struct kacc_param_range *r = kp->arg;

	return sysfs_emit(buf, "%d\n", READ_ONCE(*r->value));
}

static const struct kernel_param_ops kacc_param_range_ops = {
	.set = kacc_param_set_range,
	.get = kacc_param_get_range,
};

/* At most NVMe's longest aggregation time (255 x 100 us). */
int kacc_irq_moderation_usecs = 256;
static struct kacc_param_range kacc_irq_moderation_usecs_range = {
	&kacc_irq_moderation_usecs, 0, 25500,
};
module_param_cb(irq_moderation_usecs, &kacc_param_range_ops,
		&kacc_irq_moderation_usecs_range, 0644);
MODULE_PARM_DESC(irq_moderation_usecs,
		 "Longest a completion waits for its interrupt when the worker moderates them, where the guest set no coalescing (default 256, at most 25500, 0: never)");

int kacc_irq_moderation_profile = -1;
static struct kacc_param_range kacc_irq_moderation_profile_range = {
	&kacc_irq_moderation_profile, -1, RDMA_DIM_PARAMS_NUM_PROFILES - 1,
};
module_param_cb(irq_moderation_profile, &kacc_param_range_ops,
		&kacc_irq_moderation_profile_range, 0644);
MODULE_PARM_DESC(irq_moderation_profile,
		 "Moderation profile 0 (none) to 8 (most) for every queue that has several commands in flight, or -1 to let DIM choose per queue (default -1)");

bool kacc_poll_io = true;
module_param_named(poll_io, kacc_poll_io, bool, 0644);
MODULE_PARM_DESC(poll_io,
		 "Submit reads and writes with REQ_POLLED and poll for their completion where the block device supports it (default on)");

unsigned int kacc_pin_cache_pages = 8192;
module_param_named(pin_cache_pages, kacc_pin_cache_pages, uint, 0644);
MODULE_PARM_DESC(pin_cache_pages,
		 "Idle guest data pages each device keeps pinned for reuse (default 8192)");

unsigned int kacc_max_devices = 16;
module_param_named(max_devices, kacc_max_devices, uint, 0444);
MODULE_PARM_DESC(max_devices, "Mediated devices that can be created (default 16)");

static int __init kvm_accel_init(void)
{
	int ret;

	ret = kacc_mdev_init();
	if (ret) {
		pr_err("cannot register the mdev parent: %d\n", ret);
		return ret;
	}
	pr_info("loaded, datapath core: %u-byte SQE, %u-byte CQE; ABI %u\n",
		NAC_SQE_SIZE, NAC_CQE_SIZE, KVM_ACCEL_ABI_VERSION);
	return 0;
}

static void __exit kvm_accel_exit(void)
{
	kacc_mdev_exit();
	pr_info("unloaded\n");
}

module_init(kvm_accel_init);
module_exit(kvm_accel_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("NVMe I/O queue datapath for QEMU's nvme-accel device");
MODULE_SOFTDEP("pre: vfio mdev");
