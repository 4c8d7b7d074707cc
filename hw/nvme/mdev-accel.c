/*
 * nvme-accel: an NVMe controller whose I/O queues can run in the host kernel
 *
 * QEMU owns the controller registers and the admin queue; the I/O queue
 * pairs are executed by the shared datapath core, either in QEMU or in the
 * kvm-accel kernel module. This file is the PCI function and its register
 * file.
 *
 * Copyright (c) 2026 The nvme-accel authors
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or later.
 * See the COPYING file in the top-level directory.
 */

#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/module.h"
#include "qemu/units.h"
#include "qapi/error.h"
#include "hw/pci/msix.h"
#include "hw/pci/pcie.h"
#include "hw/qdev-properties.h"
#include "hw/qdev-properties-system.h"
#include "migration/vmstate.h"
#include "system/block-backend.h"
#include "mdev-accel.h"
#include "trace.h"

#define NVME_ACCEL_GUEST_ERR(trace, fmt, ...) \
    do { \
        (trace_##trace)(__VA_ARGS__); \
        qemu_log_mask(LOG_GUEST_ERROR, #trace \
                      " in %s: " fmt "\n", __func__, ## __VA_ARGS__); \
    } while (0)

/* NVMe 2.0, 3.1.4.1: CAP.TO is in 500 ms units. */
#define NVME_ACCEL_CAP_TIMEOUT  0xf
#define NVME_ACCEL_VERSION      0x00020000

static void nvme_accel_reset_regs(NvmeAccelCtrl *n)
{
    n->intms = 0;
    n->cc = 0;
    n->csts = 0;
    n->aqa = 0;
    n->asq = 0;
    n->acq = 0;
}

static void nvme_accel_init_cap(NvmeAccelCtrl *n)
{
    uint64_t cap = 0;

    NVME_CAP_SET_MQES(cap, n->params.max_queue_entries - 1);
    NVME_CAP_SET_CQR(cap, 1);
    NVME_CAP_SET_TO(cap, NVME_ACCEL_CAP_TIMEOUT);
    NVME_CAP_SET_DSTRD(cap, 0);
    NVME_CAP_SET_CSS(cap, NVME_CAP_CSS_NCSS);
    NVME_CAP_SET_MPSMIN(cap, 0);
    NVME_CAP_SET_MPSMAX(cap, 4);
    n->cap = cap;
    n->vs = NVME_ACCEL_VERSION;
}

static uint64_t nvme_accel_reg_read(NvmeAccelCtrl *n, hwaddr addr)
{
    switch (addr) {
    case NVME_REG_CAP:
        return n->cap;
    case NVME_REG_VS:
        return n->vs;
    case NVME_REG_INTMS:
    case NVME_REG_INTMC:
        return n->intms;
    case NVME_REG_CC:
        return n->cc;
    case NVME_REG_CSTS:
        return n->csts;
    case NVME_REG_AQA:
        return n->aqa;
    case NVME_REG_ASQ:
        return n->asq;
    case NVME_REG_ACQ:
        return n->acq;
    default:
        return 0;
    }
}

static uint64_t nvme_accel_mmio_read(void *opaque, hwaddr addr, unsigned size)
{
    NvmeAccelCtrl *n = opaque;
    hwaddr reg = addr & ~7ULL;
    uint64_t val;

    if (addr & (size - 1)) {
        NVME_ACCEL_GUEST_ERR(nvme_accel_err_mmio_misaligned, "addr 0x%"PRIx64,
                             addr);
        return 0;
    }
    if (addr >= NVME_ACCEL_REG_SIZE) {
        /* Doorbells are write-only; reads return zero (NVMe 2.0, 3.1.4.26). */
        return 0;
    }

    /* 64-bit registers may be read as two 32-bit halves. */
    switch (reg) {
    case NVME_REG_CAP:
    case NVME_REG_ASQ:
    case NVME_REG_ACQ:
        val = nvme_accel_reg_read(n, reg) >> ((addr - reg) * 8);
        break;
    default:
        val = nvme_accel_reg_read(n, addr & ~3ULL) >> ((addr & 3) * 8);
        break;
    }
    if (size < 8) {
        val &= (1ULL << (size * 8)) - 1;
    }
    trace_nvme_accel_mmio_read(addr, size, val);
    return val;
}

static void nvme_accel_write_cc(NvmeAccelCtrl *n, uint32_t val)
{
    uint32_t old = n->cc;

    n->cc = val;
    if (NVME_CC_SHN(val) && !NVME_CC_SHN(old)) {
        /* Nothing is cached in the device model: shutdown is immediate. */
        n->csts = (n->csts & ~(CSTS_SHST_MASK << CSTS_SHST_SHIFT)) |
                  NVME_CSTS_SHST_COMPLETE;
        trace_nvme_accel_shutdown();
    } else if (!NVME_CC_SHN(val) && NVME_CC_SHN(old)) {
        n->csts &= ~(CSTS_SHST_MASK << CSTS_SHST_SHIFT);
    }
    if (NVME_CC_EN(old) && !NVME_CC_EN(val)) {
        nvme_accel_reset_regs(n);
        n->aqa = 0;
        trace_nvme_accel_disabled();
    }
}

static void nvme_accel_mmio_write(void *opaque, hwaddr addr, uint64_t data,
                                  unsigned size)
{
    NvmeAccelCtrl *n = opaque;

    trace_nvme_accel_mmio_write(addr, size, data);
    if (addr & (size - 1)) {
        NVME_ACCEL_GUEST_ERR(nvme_accel_err_mmio_misaligned, "addr 0x%"PRIx64,
                             addr);
        return;
    }
    if (addr >= NVME_ACCEL_REG_SIZE) {
        NVME_ACCEL_GUEST_ERR(nvme_accel_err_doorbell, "addr 0x%"PRIx64,
                             addr);
        return;
    }

    switch (addr) {
    case NVME_REG_INTMS:
        n->intms |= data;
        break;
    case NVME_REG_INTMC:
        n->intms &= ~data;
        break;
    case NVME_REG_CC:
        nvme_accel_write_cc(n, data);
        break;
    case NVME_REG_AQA:
        n->aqa = data;
        break;
    case NVME_REG_ASQ:
        n->asq = size == 8 ? data : deposit64(n->asq, 0, 32, data);
        break;
    case NVME_REG_ASQ + 4:
        n->asq = deposit64(n->asq, 32, 32, data);
        break;
    case NVME_REG_ACQ:
        n->acq = size == 8 ? data : deposit64(n->acq, 0, 32, data);
        break;
    case NVME_REG_ACQ + 4:
        n->acq = deposit64(n->acq, 32, 32, data);
        break;
    default:
        NVME_ACCEL_GUEST_ERR(nvme_accel_err_mmio_ro, "addr 0x%"PRIx64, addr);
        break;
    }
}

static const MemoryRegionOps nvme_accel_mmio_ops = {
    .read = nvme_accel_mmio_read,
    .write = nvme_accel_mmio_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .impl = {
        .min_access_size = 1,
        .max_access_size = 8,
    },
};

static bool nvme_accel_check_params(NvmeAccelCtrl *n, Error **errp)
{
    NvmeAccelParams *p = &n->params;

    if (!n->blkconf.blk) {
        error_setg(errp, "drive property not set");
        return false;
    }
    if (!p->serial) {
        error_setg(errp, "serial property not set");
        return false;
    }
    if (p->max_ioqpairs < 1 || p->max_ioqpairs > 128) {
        error_setg(errp, "max-ioqpairs must be between 1 and 128");
        return false;
    }
    if (p->max_queue_entries < 2 || p->max_queue_entries > 65536) {
        error_setg(errp, "max-queue-entries must be between 2 and 65536");
        return false;
    }
    return true;
}

static void nvme_accel_realize(PCIDevice *pci_dev, Error **errp)
{
    NvmeAccelCtrl *n = NVME_ACCEL(pci_dev);
    uint8_t *conf = pci_dev->config;
    unsigned nr_vectors, msix_table, msix_pba;
    uint64_t bar_size;

    if (!nvme_accel_check_params(n, errp)) {
        return;
    }
    if (!blkconf_apply_backend_options(&n->blkconf,
                                       !blk_supports_write_perm(n->blkconf.blk),
                                       false, errp)) {
        return;
    }

    conf[PCI_INTERRUPT_PIN] = 1;
    pci_config_set_prog_interface(conf, 0x2);
    pcie_endpoint_cap_init(pci_dev, 0x80);

    /* Registers and doorbells, then the MSI-X table and PBA, 4 KiB aligned. */
    nr_vectors = n->params.max_ioqpairs + 1;
    msix_table = QEMU_ALIGN_UP(NVME_ACCEL_REG_SIZE +
                               2 * (n->params.max_ioqpairs + 1) *
                               NVME_ACCEL_DB_STRIDE, 4 * KiB);
    msix_pba = msix_table + QEMU_ALIGN_UP(nr_vectors * PCI_MSIX_ENTRY_SIZE,
                                          4 * KiB);
    bar_size = pow2ceil(msix_pba + QEMU_ALIGN_UP(nr_vectors, 64) / 8);

    memory_region_init(&n->bar0, OBJECT(n), "nvme-accel-bar0", bar_size);
    memory_region_init_io(&n->iomem, OBJECT(n), &nvme_accel_mmio_ops, n,
                          "nvme-accel", msix_table);
    memory_region_add_subregion(&n->bar0, 0, &n->iomem);
    pci_register_bar(pci_dev, 0, PCI_BASE_ADDRESS_SPACE_MEMORY |
                     PCI_BASE_ADDRESS_MEM_TYPE_64, &n->bar0);
    if (msix_init(pci_dev, nr_vectors, &n->bar0, 0, msix_table,
                  &n->bar0, 0, msix_pba, 0, errp) < 0) {
        return;
    }

    nvme_accel_init_cap(n);
    nvme_accel_reset_regs(n);
    trace_nvme_accel_realize(n->params.max_ioqpairs,
                             n->params.max_queue_entries);
}

static void nvme_accel_exit(PCIDevice *pci_dev)
{
    msix_uninit(pci_dev, &NVME_ACCEL(pci_dev)->bar0,
                &NVME_ACCEL(pci_dev)->bar0);
}

static void nvme_accel_reset(DeviceState *dev)
{
    NvmeAccelCtrl *n = NVME_ACCEL(dev);

    nvme_accel_reset_regs(n);
    msix_reset(PCI_DEVICE(dev));
}

static const Property nvme_accel_props[] = {
    DEFINE_BLOCK_PROPERTIES(NvmeAccelCtrl, blkconf),
    DEFINE_PROP_STRING("serial", NvmeAccelCtrl, params.serial),
    DEFINE_PROP_UINT32("max-ioqpairs", NvmeAccelCtrl, params.max_ioqpairs, 8),
    DEFINE_PROP_UINT32("max-queue-entries", NvmeAccelCtrl,
                       params.max_queue_entries, 1024),
    DEFINE_PROP_UINT8("mdts", NvmeAccelCtrl, params.mdts, 7),
};

static const VMStateDescription nvme_accel_vmstate = {
    .name = "nvme-accel",
    .unmigratable = 1,
};

static void nvme_accel_class_init(ObjectClass *oc, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(oc);
    PCIDeviceClass *pc = PCI_DEVICE_CLASS(oc);

    pc->realize = nvme_accel_realize;
    pc->exit = nvme_accel_exit;
    /*
     * docs/specs/pci-ids.rst: 1af4:10f0..10ff is for experimental devices.
     * A registered ID is needed before this leaves the lab; until then we
     * must not reuse -device nvme's 1b36:0010, which Linux quirks.
     */
    pc->vendor_id = PCI_VENDOR_ID_REDHAT_QUMRANET;
    pc->device_id = NVME_ACCEL_PCI_DEVICE_ID;
    pc->class_id = PCI_CLASS_STORAGE_EXPRESS;
    pc->revision = 1;

    set_bit(DEVICE_CATEGORY_STORAGE, dc->categories);
    dc->desc = "NVMe controller with kernel-accelerated I/O queues";
    device_class_set_props(dc, nvme_accel_props);
    dc->vmsd = &nvme_accel_vmstate;
    device_class_set_legacy_reset(dc, nvme_accel_reset);
}

static const TypeInfo nvme_accel_info = {
    .name          = TYPE_NVME_ACCEL,
    .parent        = TYPE_PCI_DEVICE,
    .instance_size = sizeof(NvmeAccelCtrl),
    .class_init    = nvme_accel_class_init,
    .interfaces = (InterfaceInfo[]) {
        { INTERFACE_PCIE_DEVICE },
        { }
    },
};

static void nvme_accel_register_types(void)
{
    type_register_static(&nvme_accel_info);
}

type_init(nvme_accel_register_types)
