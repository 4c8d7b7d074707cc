// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * kvm-accel: the VFIO mediated device parent.
 *
 * The module creates one virtual parent device, /sys/class/kvm-accel/
 * kvm-accel, and registers it as mdev parent with one type, "nvme"
 * (mdev_supported_types/kvm-accel-nvme). Each mdev is an emulated-IOMMU VFIO
 * device: it has no regions, only the ioctls of uapi/linux/kvm-accel.h and
 * the MSI-X style interrupt index, and it pins guest memory through the
 * container its group is attached to. Modelled on samples/vfio-mdev/mtty.c.
 *
 * Why VFIO although nothing is mapped into the guest: the group gives
 * access control (an unprivileged QEMU can own the device), the container
 * already maps all guest RAM and tells us when that changes (dma_unmap),
 * it tracks dirty pages for migration, and it is the interface hardware
 * queues assigned by PASID would use.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cgroup.h>
#include <linux/device.h>
#include <linux/kthread.h>
#include <linux/mdev.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "kacc.h"

static struct class kacc_class = {
	.name = "kvm-accel",
};

static struct device kacc_parent_dev;
static struct mdev_parent kacc_parent;

static struct mdev_type kacc_type = {
	.sysfs_name = "nvme",
	.pretty_name = "NVMe I/O queue datapath",
};

static struct mdev_type *kacc_types[] = {
	&kacc_type,
};

/* --- device life cycle -------------------------------------------------- */

static int kacc_init_dev(struct vfio_device *vdev)
{
	struct kacc_dev *dev = to_kacc(vdev);

	dev->dsm_ranges = kcalloc(NAC_DSM_MAX_RANGES, sizeof(*dev->dsm_ranges),
				  GFP_KERNEL);
	if (!dev->dsm_ranges)
		return -ENOMEM;
	mutex_init(&dev->lock);
	kacc_events_init(dev);
	spin_lock_init(&dev->fence_lock);
	INIT_LIST_HEAD(&dev->fences);
	init_waitqueue_head(&dev->idle_wq);
	init_llist_head(&dev->completed);
	INIT_LIST_HEAD(&dev->polled);
	INIT_LIST_HEAD(&dev->pin_lru);
	hash_init(dev->pin_hash);
	return 0;
}

static void kacc_release_dev(struct vfio_device *vdev)
{
	struct kacc_dev *dev = to_kacc(vdev);

	kacc_fences_release(dev);
	mutex_destroy(&dev->lock);
	kfree(dev->dsm_ranges);
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 2, 0)
	/* Before 6.2 the driver frees the device from its release callback. */
	vfio_free_device(vdev);
#endif
}

/* Defaults of a freshly opened device. */
static void kacc_reset_settings(struct kacc_dev *dev)
{
	memset(&dev->stats, 0, sizeof(dev->stats));
	u64_stats_init(&dev->stats.syncp);
	memset(&dev->stats_base, 0, sizeof(dev->stats_base));
	atomic64_set(&dev->kicks, 0);
	bitmap_zero(dev->nocoalesce, KACC_MAX_VECTORS);
	dev->aggr_thr = 0;
	dev->aggr_time = 0;
	dev->next_qid = 0;
	dev->paused = false;
	dev->wflags = 0;
	ewma_poll_lat_init(&dev->poll_lat);
	dev->poll_probe = 0;
	kacc_events_clear(dev, false);
}

/*
 * The opener owns the device: take its memory and I/O cgroups. Its
 * address space may be gone (a kernel thread opening): then the root's.
 */
static void kacc_owner_get(struct kacc_dev *dev)
{
	dev->owner_memcg = get_mem_cgroup_from_mm(current->mm);
#ifdef CONFIG_BLK_CGROUP
	dev->owner_blkcg = task_get_css(current, io_cgrp_id);
#endif
}

static void kacc_owner_put(struct kacc_dev *dev)
{
	mem_cgroup_put(dev->owner_memcg);
	dev->owner_memcg = NULL;
#ifdef CONFIG_BLK_CGROUP
	css_put(dev->owner_blkcg);
	dev->owner_blkcg = NULL;
#endif
}

/*
 * In a kernel thread working for the device (the worker, kacc_wq): charge
 * allocations and bios to the owner until kacc_owner_leave().
 */
void kacc_owner_enter(struct kacc_dev *dev, struct mem_cgroup **old)
{
	*old = set_active_memcg(dev->owner_memcg);
	kthread_associate_blkcg(dev->owner_blkcg);
}

void kacc_owner_leave(struct mem_cgroup *old)
{
	kthread_associate_blkcg(NULL);
	set_active_memcg(old);
}

static int kacc_open_device(struct vfio_device *vdev)
{
	struct kacc_dev *dev = to_kacc(vdev);
	int ret;

	mutex_lock(&dev->lock);
	kacc_reset_settings(dev);
	/* A few at a time: its kworkers are outside the owner's cgroups. */
	dev->wq = alloc_workqueue("kacc-%.8s", WQ_UNBOUND, 16,
				  dev_name(vdev->dev));
	if (!dev->wq) {
		ret = -ENOMEM;
		goto out;
	}
	kacc_owner_get(dev);
	ret = kacc_worker_start(dev);
	if (ret) {
		kacc_owner_put(dev);
		destroy_workqueue(dev->wq);
		dev->wq = NULL;
	}
out:
	mutex_unlock(&dev->lock);
	return ret;
}

/*
 * Last close of the device fd, also when the owner was killed: wait for
 * the bios in flight, stop the worker, unpin everything, let go of the
 * block device and the eventfds. VFIO calls this before it detaches the
 * container, so the pins can still be dropped.
 */
static void kacc_close_device(struct vfio_device *vdev)
{
	struct kacc_dev *dev = to_kacc(vdev);

	mutex_lock(&dev->lock);
	kacc_dev_pause(dev);
	kacc_qp_destroy_all(dev);
	kacc_pins_drop(dev, 0, U64_MAX);
	kacc_worker_stop(dev);
	/* Work items may still be on their way out of their function. */
	destroy_workqueue(dev->wq);
	dev->wq = NULL;
	kacc_bdev_detach(dev);
	kacc_eventfds_clear(dev, dev->vectors, KACC_MAX_VECTORS);
	kacc_events_clear(dev, true);
	kacc_owner_put(dev);
	mutex_unlock(&dev->lock);
}

/* VFIO_DEVICE_RESET: every queue pair goes; backend and eventfds stay. */
static long kacc_reset(struct kacc_dev *dev)
{
	kacc_dev_pause(dev);
	kacc_qp_destroy_all(dev);
	kacc_pins_drop(dev, 0, U64_MAX);
	bitmap_zero(dev->nocoalesce, KACC_MAX_VECTORS);
	dev->aggr_thr = 0;
	dev->aggr_time = 0;
	kacc_dev_resume(dev);
	return 0;
}

/* --- ioctls ------------------------------------------------------------- */

static long kacc_ioctl_device_info(void __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_device_info, num_irqs);
	struct vfio_device_info info;

	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz)
		return -EINVAL;
	info.flags = VFIO_DEVICE_FLAGS_RESET;
	info.num_regions = 0;
	info.num_irqs = KVM_ACCEL_NUM_IRQS;
	return copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
}

static long kacc_ioctl_irq_info(void __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_irq_info, count);
	struct vfio_irq_info info;

	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz || info.index >= KVM_ACCEL_NUM_IRQS)
		return -EINVAL;
	info.flags = 0;
	info.count = 0;
	if (info.index == KVM_ACCEL_IRQ_INDEX_MSIX) {
		/* Vectors can be set one by one at any time: no NORESIZE. */
		info.flags = VFIO_IRQ_INFO_EVENTFD;
		info.count = KACC_MAX_VECTORS;
	} else if (info.index == KVM_ACCEL_IRQ_INDEX_EVENT) {
		info.flags = VFIO_IRQ_INFO_EVENTFD;
		info.count = 1;
	}
	return copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
}

static long kacc_ioctl_set_irqs(struct kacc_dev *dev, void __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_irq_set, count);
	struct vfio_irq_set hdr;
	size_t data_size = 0;
	void *data = NULL;
	long ret;

	if (copy_from_user(&hdr, arg, minsz))
		return -EFAULT;
	ret = vfio_set_irqs_validate_and_prepare(&hdr,
			hdr.index == KVM_ACCEL_IRQ_INDEX_MSIX ? KACC_MAX_VECTORS :
			hdr.index == KVM_ACCEL_IRQ_INDEX_EVENT ? 1 : 0,
			KVM_ACCEL_NUM_IRQS, &data_size);
	if (ret)
		return ret;
	if (hdr.index != KVM_ACCEL_IRQ_INDEX_MSIX &&
	    hdr.index != KVM_ACCEL_IRQ_INDEX_EVENT)
		return -EINVAL;
	if (data_size) {
		data = memdup_user(arg + minsz, data_size);
		if (IS_ERR(data))
			return PTR_ERR(data);
	}
	if (hdr.index == KVM_ACCEL_IRQ_INDEX_EVENT)
		ret = kacc_events_set_irq(dev, hdr.flags, hdr.count, data);
	else
		ret = kacc_eventfds_set(dev, dev->vectors, KACC_MAX_VECTORS,
					hdr.flags, hdr.start, hdr.count, data);
	kfree(data);
	return ret;
}

static long kacc_ioctl_info(struct kacc_dev *dev, void __user *arg)
{
	unsigned long minsz = offsetofend(struct kvm_accel_info, pad);
	struct kvm_accel_info info;

	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz || info.flags)
		return -EINVAL;
	info.abi_version = KVM_ACCEL_ABI_VERSION;
	info.max_queues = KACC_MAX_QUEUES;
	info.max_queue_entries = KACC_MAX_QUEUE_ENTRIES;
	info.max_vectors = KACC_MAX_VECTORS;
	info.mdts = KACC_MAX_MDTS;
	info.qp_flags = KVM_ACCEL_QP_IRQ_ENABLED | KVM_ACCEL_QP_SGL |
			KVM_ACCEL_QP_QUIESCED;
	info.bdev_flags = dev->bdev_flags;
	if (dev->bdev && READ_ONCE(dev->bdev_dead))
		info.bdev_flags |= KVM_ACCEL_BDEV_DEAD;
	info.lba_shift = dev->ns.lba_shift;
	info.nsze = dev->ns.nsze;
	info.nsid = dev->ns.nsid;
	info.pad = 0;
	return copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
}

/*
 * Every argument comes from a possibly unprivileged owner of the device fd
 * and is checked by the handler before use.
 */
static long kacc_ioctl(struct vfio_device *vdev, unsigned int cmd,
		       unsigned long arg)
{
	struct kacc_dev *dev = to_kacc(vdev);
	void __user *uarg = (void __user *)arg;
	long ret;

	/* The hot path of guests without shadow doorbells: no mutex. */
	if (cmd == KVM_ACCEL_DOORBELL)
		return kacc_ioctl_doorbell(dev, uarg);

	mutex_lock(&dev->lock);
	switch (cmd) {
	case VFIO_DEVICE_GET_INFO:
		ret = kacc_ioctl_device_info(uarg);
		break;
	case VFIO_DEVICE_GET_IRQ_INFO:
		ret = kacc_ioctl_irq_info(uarg);
		break;
	case VFIO_DEVICE_SET_IRQS:
		ret = kacc_ioctl_set_irqs(dev, uarg);
		break;
	case VFIO_DEVICE_RESET:
		ret = kacc_reset(dev);
		break;
	case KVM_ACCEL_GET_INFO:
		ret = kacc_ioctl_info(dev, uarg);
		break;
	case KVM_ACCEL_ATTACH_BDEV:
		ret = kacc_ioctl_attach_bdev(dev, uarg);
		break;
	case KVM_ACCEL_CREATE_QUEUE_PAIR:
		ret = kacc_ioctl_create_qp(dev, uarg);
		break;
	case KVM_ACCEL_DESTROY_QUEUE_PAIR:
		ret = kacc_ioctl_destroy_qp(dev, uarg);
		break;
	case KVM_ACCEL_SET_COALESCING:
		ret = kacc_ioctl_coalescing(dev, uarg);
		break;
	case KVM_ACCEL_QUIESCE:
		ret = kacc_ioctl_quiesce(dev, uarg);
		break;
	case KVM_ACCEL_GET_QUEUE_STATE:
		ret = kacc_ioctl_queue_state(dev, uarg, false);
		break;
	case KVM_ACCEL_SET_QUEUE_STATE:
		ret = kacc_ioctl_queue_state(dev, uarg, true);
		break;
	case KVM_ACCEL_GET_STATS:
		ret = kacc_ioctl_stats(dev, uarg);
		break;
	case KVM_ACCEL_GET_EVENTS:
		ret = kacc_ioctl_events(dev, uarg);
		break;
	case KVM_ACCEL_SET_NAMESPACE:
		ret = kacc_ioctl_set_namespace(dev, uarg);
		break;
	default:
		ret = -ENOTTY;
		break;
	}
	mutex_unlock(&dev->lock);
	return ret;
}

static const struct vfio_device_ops kacc_vfio_ops = {
	.name = "kvm-accel",
	.init = kacc_init_dev,
	.release = kacc_release_dev,
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 2, 0)
	.bind_iommufd = vfio_iommufd_emulated_bind,
	.unbind_iommufd = vfio_iommufd_emulated_unbind,
	.attach_ioas = vfio_iommufd_emulated_attach_ioas,
	.detach_ioas = vfio_iommufd_emulated_detach_ioas,
#endif
	.open_device = kacc_open_device,
	.close_device = kacc_close_device,
	.ioctl = kacc_ioctl,
	.dma_unmap = kacc_dma_unmap,
};

/* --- the mdev driver and parent ----------------------------------------- */

static int kacc_probe(struct mdev_device *mdev)
{
	struct kacc_dev *dev;
	int ret;

	dev = vfio_alloc_device(kacc_dev, vdev, &mdev->dev, &kacc_vfio_ops);
	if (IS_ERR(dev))
		return PTR_ERR(dev);
	ret = vfio_register_emulated_iommu_dev(&dev->vdev);
	if (ret)
		goto out_put;
	dev_set_drvdata(&mdev->dev, dev);
	return 0;

out_put:
	vfio_put_device(&dev->vdev);
	return ret;
}

/* Waits for the device fd to be closed (VFIO does). */
static void kacc_remove(struct mdev_device *mdev)
{
	struct kacc_dev *dev = dev_get_drvdata(&mdev->dev);

	vfio_unregister_group_dev(&dev->vdev);
	vfio_put_device(&dev->vdev);
}

static struct mdev_driver kacc_mdev_driver = {
	.device_api = KVM_ACCEL_DEVICE_API,
	.driver = {
		.name = "kvm-accel",
		.owner = THIS_MODULE,
		.mod_name = KBUILD_MODNAME,
	},
	.probe = kacc_probe,
	.remove = kacc_remove,
};

static void kacc_parent_release(struct device *dev)
{
}

int kacc_mdev_init(void)
{
	int ret;

	kacc_mdev_driver.max_instances = kacc_max_devices;
	ret = mdev_register_driver(&kacc_mdev_driver);
	if (ret)
		return ret;
	ret = class_register(&kacc_class);
	if (ret)
		goto out_driver;
	kacc_parent_dev.class = &kacc_class;
	kacc_parent_dev.release = kacc_parent_release;
	dev_set_name(&kacc_parent_dev, "kvm-accel");
	ret = device_register(&kacc_parent_dev);
	if (ret)
		goto out_put_parent;
	ret = mdev_register_parent(&kacc_parent, &kacc_parent_dev,
				   &kacc_mdev_driver, kacc_types,
				   ARRAY_SIZE(kacc_types));
	if (ret)
		goto out_del_parent;
	return 0;

out_del_parent:
	device_del(&kacc_parent_dev);
out_put_parent:
	put_device(&kacc_parent_dev);
	class_unregister(&kacc_class);
out_driver:
	mdev_unregister_driver(&kacc_mdev_driver);
	return ret;
}

/*
 * Module unload: the module cannot go while a device fd is open (VFIO holds
 * a reference on the driver's module); mdevs without an open fd are removed
 * here by the mdev core.
 */
void kacc_mdev_exit(void)
{
	mdev_unregister_parent(&kacc_parent);
	device_unregister(&kacc_parent_dev);
	class_unregister(&kacc_class);
	mdev_unregister_driver(&kacc_mdev_driver);
}
