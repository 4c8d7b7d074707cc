// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * kvm-accel: the in-kernel I/O queue datapath of QEMU's nvme-accel device.
 *
 * For now this only loads and unloads and links the shared datapath core
 * (accel-core/), so the core is compile-checked against real kernel headers
 * on every build. The VFIO mediated device parent that QEMU opens comes in
 * a later change.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/build_bug.h>
#include <linux/module.h>
#include <linux/printk.h>

#include "nvme-accel/nac-core.h"

/*
 * The core reads and writes these structures in guest memory as they are:
 * their layout is the wire format, so a compiler that pads them differently
 * in the kernel than in userspace must fail the build, not corrupt queues.
 */
static_assert(sizeof(struct nac_sqe) == NAC_SQE_SIZE);
static_assert(sizeof(struct nac_cqe) == NAC_CQE_SIZE);
static_assert(sizeof(struct nac_sgl_desc) == 16);
static_assert(sizeof(struct nac_dsm_range) == 16);

static int __init kvm_accel_init(void)
{
	pr_info("loaded, datapath core: %u-byte SQE, %u-byte CQE\n",
		NAC_SQE_SIZE, NAC_CQE_SIZE);
	return 0;
}

static void __exit kvm_accel_exit(void)
{
	pr_info("unloaded\n");
}

module_init(kvm_accel_init);
module_exit(kvm_accel_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("NVMe I/O queue datapath for QEMU's nvme-accel device");
/* The mediated device parent will need both; load them first already. */
MODULE_SOFTDEP("pre: vfio mdev");
