/*
 * nvme-accel: an NVMe controller whose I/O queues can run in the host kernel
 *
 * QEMU owns the controller registers and the admin queue; the I/O queue
 * pairs are executed by the shared datapath core (accel-core/), either in
 * QEMU (mdev-accel-queue.c) or in the kvm-accel kernel module. This file is
 * the PCI function: properties, register file, controller life cycle and
 * interrupt delivery.
 *
 * Copyright (c) 2026 The nvme-accel authors
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or later.
 * See the COPYING file in the top-level directory.
 */

#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "qemu/module.h"
#include "qemu/rcu.h"
#include "qemu/units.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "hw/pci/msix.h"
#include "hw/pci/pcie.h"
#include "hw/qdev-properties.h"
#include "hw/qdev-properties-system.h"
#include "migration/vmstate.h"
#include "system/block-backend.h"
#include "system/system.h"
#include "system/kvm.h"
#include "system/qtest.h"
#include "exec/memory.h"
#include "mdev-accel.h"
#include "trace.h"

/* NVMe 2.0, 3.1.4.1: CAP.TO is in 500 ms units. */
#define NVME_ACCEL_CAP_TIMEOUT  0xf

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
    n->vs = NVME_ACCEL_VERSION_REG;
}

/* --- interrupts -------------------------------------------------------- */

/* Pin-based: INTx follows "some unmasked vector has unreaped entries". */
static void nvme_accel_intx_check(NvmeAccelCtrl *n)
{
    PCIDevice *pci = PCI_DEVICE(n);

    if (msix_enabled(pci)) {
        return;
    }
    if (~n->intms & n->irq_status) {
        pci_irq_assert(pci);
    } else {
        pci_irq_deassert(pci);
    }
}

/* Main loop: raise the vector (MSI-X message, or INTx level). */
void nvme_accel_irq_raise(NvmeAccelCtrl *n, uint16_t vector)
{
    PCIDevice *pci = PCI_DEVICE(n);

    if (msix_enabled(pci)) {
        trace_nvme_accel_irq_msix(vector);
        msix_notify(pci, vector);
    } else {
        trace_nvme_accel_irq_pin(vector);
        /* Pin-based interrupts have one vector: CQs may only use 0. */
        n->irq_status |= 1;
        nvme_accel_intx_check(n);
    }
}

/*
 * A CQ has new entries the host should hear about. In the main loop we raise
 * the vector directly; from an iothread (or under KVM with irqfd) we signal
 * the vector's eventfd, which is either a KVM irqfd or read by the main
 * loop.
 */
void nvme_accel_irq_notify(NvmeAccelCtrl *n, NvmeAccelCQ *cq)
{
    NvmeAccelVector *v = &n->vectors[cq->q.vector];

    if (!cq->q.irq_enabled) {
        return;
    }
    if (v->irqfd_active || !qemu_in_main_thread()) {
        event_notifier_set(&v->notifier);
        return;
    }
    nvme_accel_irq_raise(n, cq->q.vector);
}

/* The host reaped entries: INTx may drop. MSI-X is edge, nothing to do. */
void nvme_accel_intx_reaped(NvmeAccelCtrl *n)
{
    unsigned i;

    if (msix_enabled(PCI_DEVICE(n)) || !n->irq_status) {
        return;
    }
    for (i = 0; i < n->nr_qpairs; i++) {
        NvmeAccelCQ *cq = n->cq[i];

        if (cq && cq->q.irq_enabled &&
            qatomic_read(&cq->q.tail) != cq->q.head) {
            return;
        }
    }
    n->irq_status = 0;
    nvme_accel_intx_check(n);
}

/* --- controller life cycle --------------------------------------------- */

void nvme_accel_fatal(NvmeAccelCtrl *n, const char *why)
{
    trace_nvme_accel_err_fatal(why);
    qemu_log_mask(LOG_GUEST_ERROR, "nvme-accel: controller fatal status: %s\n",
                  why);
    n->csts |= NVME_CSTS_FAILED;
}

static bool nvme_accel_start_ctrl(NvmeAccelCtrl *n)
{
    uint32_t cc = n->cc;
    uint32_t page_shift = NVME_CC_MPS(cc) + 12;
    uint32_t asqs = (n->aqa & 0xfff) + 1, acqs = ((n->aqa >> 16) & 0xfff) + 1;
    uint16_t status;

    if (n->sq[0] || n->cq[0]) {
        NVME_ACCEL_GUEST_ERR(nvme_accel_err_startfail_queues, "%s",
                             "admin queues still present");
        return false;
    }
    if (!n->asq || !n->acq || (n->asq | n->acq) & ((1 << page_shift) - 1)) {
        NVME_ACCEL_GUEST_ERR(nvme_accel_err_startfail_asq_acq,
                             "asq 0x%"PRIx64" acq 0x%"PRIx64, n->asq, n->acq);
        return false;
    }
    if (NVME_CC_MPS(cc) < NVME_CAP_MPSMIN(n->cap) ||
        NVME_CC_MPS(cc) > NVME_CAP_MPSMAX(n->cap)) {
        NVME_ACCEL_GUEST_ERR(nvme_accel_err_startfail_mps, "mps %u",
                             NVME_CC_MPS(cc));
        return false;
    }
    if (NVME_CC_CSS(cc) != NVME_CC_CSS_NVM) {
        NVME_ACCEL_GUEST_ERR(nvme_accel_err_startfail_css, "css %u",
                             NVME_CC_CSS(cc));
        return false;
    }
    if (NVME_CC_AMS(cc) != 0) {
        NVME_ACCEL_GUEST_ERR(nvme_accel_err_startfail_ams, "ams %u",
                             NVME_CC_AMS(cc));
        return false;
    }
    if (asqs < 2 || acqs < 2) {
        NVME_ACCEL_GUEST_ERR(nvme_accel_err_startfail_aqa, "aqa 0x%x", n->aqa);
        return false;
    }

    n->core.page_shift = page_shift;
    n->core.sgl = true;
    n->core.max_xfer = n->params.mdts ? (4 * KiB) << n->params.mdts : 0;

    status = nvme_accel_create_cq(n, 0, n->acq, acqs, 0, true);
    if (!status) {
        status = nvme_accel_create_sq(n, 0, 0, n->asq, asqs);
    }
    if (status) {
        nvme_accel_queues_reset(n);
        NVME_ACCEL_GUEST_ERR(nvme_accel_err_startfail_admin, "status 0x%x",
                             status);
        return false;
    }
    trace_nvme_accel_enabled(page_shift, asqs, acqs);
    return true;
}

/* Everything a Controller Reset returns to its initial state. */
static void nvme_accel_ctrl_reset(NvmeAccelCtrl *n)
{
    /* The module's events belong to the controller that goes. */
    nvme_accel_kernel_poll_events(n, true);
    nvme_accel_queues_reset(n);
    nvme_accel_admin_reset(n);
    n->irq_status = 0;
    n->intms = 0;
    nvme_accel_intx_check(n);
}

static void nvme_accel_shutdown(NvmeAccelCtrl *n)
{
    /* Finish in-flight I/O and make it durable before reporting done. */
    blk_drain(n->blkconf.blk);
    blk_flush(n->blkconf.blk);
}

static void nvme_accel_write_cc(NvmeAccelCtrl *n, uint32_t val)
{
    uint32_t old = n->cc;

    n->cc = val;
    if (NVME_CC_EN(val) && !NVME_CC_EN(old)) {
        if (nvme_accel_start_ctrl(n)) {
            n->csts |= NVME_CSTS_READY;
            /* A backend the module saw go stays gone. */
            if (nvme_accel_kernel_bdev_dead(n)) {
                nvme_accel_fatal(n, "the host block device went away");
            }
        } else {
            /* Never ready: say so now rather than after CAP.TO. */
            n->csts |= NVME_CSTS_FAILED;
        }
    } else if (!NVME_CC_EN(val) && NVME_CC_EN(old)) {
        nvme_accel_ctrl_reset(n);
        /* CC.EN 1 -> 0 resets everything but AQA/ASQ/ACQ. */
        n->cc = 0;
        n->csts &= ~(NVME_CSTS_READY | NVME_CSTS_FAILED);
        trace_nvme_accel_disabled();
    }

    if (NVME_CC_SHN(val) && !NVME_CC_SHN(old)) {
        nvme_accel_shutdown(n);
        n->csts = (n->csts & ~(CSTS_SHST_MASK << CSTS_SHST_SHIFT)) |
                  NVME_CSTS_SHST_COMPLETE;
        trace_nvme_accel_shutdown();
    } else if (!NVME_CC_SHN(val) && NVME_CC_SHN(old)) {
        n->csts &= ~(CSTS_SHST_MASK << CSTS_SHST_SHIFT);
    }
}

/* --- register file ----------------------------------------------------- */

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
        /* Doorbells are write-only; reads return zero. */
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

static void nvme_accel_doorbell_write(NvmeAccelCtrl *n, hwaddr addr,
                                      uint32_t val)
{
    unsigned idx = (addr - NVME_ACCEL_REG_SIZE) / NVME_ACCEL_DB_STRIDE;
    unsigned qid = idx / 2;
    bool is_cq = idx & 1;

    if (!NVME_CSTS_RDY(n->csts) || (n->csts & NVME_CSTS_FAILED)) {
        NVME_ACCEL_GUEST_ERR(nvme_accel_err_db_not_ready, "addr 0x%"PRIx64,
                             addr);
        return;
    }
    if (addr & (NVME_ACCEL_DB_STRIDE - 1) || qid >= n->nr_qpairs ||
        (is_cq ? !n->cq[qid] : !n->sq[qid])) {
        NVME_ACCEL_GUEST_ERR(nvme_accel_err_db_register, "qid %u cq %d",
                             qid, is_cq);
        nvme_accel_aer_enqueue(n, NVME_AER_TYPE_ERROR,
                               NVME_AER_INFO_ERR_INVALID_DB_REGISTER,
                               NVME_LOG_ERROR_INFO);
        return;
    }
    if (is_cq) {
        nvme_accel_cq_doorbell(n, n->cq[qid], val);
    } else {
        nvme_accel_sq_doorbell(n, n->sq[qid], val);
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
        nvme_accel_doorbell_write(n, addr, data);
        return;
    }

    switch (addr) {
    case NVME_REG_INTMS:
        if (msix_enabled(PCI_DEVICE(n))) {
            /* "undefined when MSI-X is used": ignore. */
            NVME_ACCEL_GUEST_ERR(nvme_accel_err_intm_msix, "0x%"PRIx64, data);
            break;
        }
        n->intms |= data;
        nvme_accel_intx_check(n);
        break;
    case NVME_REG_INTMC:
        if (msix_enabled(PCI_DEVICE(n))) {
            NVME_ACCEL_GUEST_ERR(nvme_accel_err_intm_msix, "0x%"PRIx64, data);
            break;
        }
        n->intms &= ~data;
        nvme_accel_intx_check(n);
        break;
    case NVME_REG_CC:
        nvme_accel_write_cc(n, data);
        break;
    case NVME_REG_AQA:
        if (NVME_CC_EN(n->cc)) {
            NVME_ACCEL_GUEST_ERR(nvme_accel_err_admin_regs_enabled, "0x%"PRIx64,
                                 addr);
            break;
        }
        n->aqa = data & 0x0fff0fff;
        break;
    case NVME_REG_ASQ:
    case NVME_REG_ASQ + 4:
    case NVME_REG_ACQ:
    case NVME_REG_ACQ + 4: {
        uint64_t *reg = addr < NVME_REG_ACQ ? &n->asq : &n->acq;

        if (NVME_CC_EN(n->cc)) {
            NVME_ACCEL_GUEST_ERR(nvme_accel_err_admin_regs_enabled, "0x%"PRIx64,
                                 addr);
            break;
        }
        if (size == 8) {
            *reg = data;
        } else {
            *reg = deposit64(*reg, (addr & 4) * 8, 32, data);
        }
        *reg &= ~0xfffULL;
        break;
    }
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

/* --- realize ----------------------------------------------------------- */

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
    if (p->max_ioqpairs < 1 || p->max_ioqpairs > NVME_ACCEL_MAX_QPAIRS) {
        error_setg(errp, "max-ioqpairs must be between 1 and %d",
                   NVME_ACCEL_MAX_QPAIRS);
        return false;
    }
    if (p->max_queue_entries < 2 || p->max_queue_entries > 65536) {
        error_setg(errp, "max-queue-entries must be between 2 and 65536");
        return false;
    }
    /*
     * No "0 (no limit)": every request's scatter list and bounce buffer is
     * sized by the limit, so the limit is what we can promise.
     */
    if ((p->mdts < 1 || p->mdts > 12) && p->mdts != NVME_ACCEL_MDTS_AUTO) {
        error_setg(errp, "mdts must be between 1 (8 KiB) and 12 (16 MiB)");
        return false;
    }
    if (p->lba_size != 512 && p->lba_size != 4096) {
        error_setg(errp, "logical_block_size must be 512 or 4096");
        return false;
    }
    if (!p->accel_str || !strcmp(p->accel_str, "auto")) {
        p->accel = NVME_ACCEL_MODE_AUTO;
    } else if (!strcmp(p->accel_str, "off")) {
        p->accel = NVME_ACCEL_MODE_OFF;
    } else if (!strcmp(p->accel_str, "kernel")) {
        p->accel = NVME_ACCEL_MODE_KERNEL;
    } else {
        error_setg(errp, "accel must be off, auto or kernel, not '%s'",
                   p->accel_str);
        return false;
    }
    if (p->accel == NVME_ACCEL_MODE_KERNEL && !p->sysfsdev) {
        error_setg(errp, "accel=kernel needs sysfsdev=<the kvm-accel mdev>");
        error_append_hint(errp, "Create one under /sys/class/mdev_bus/"
                          "kvm-accel/mdev_supported_types/, or use "
                          "accel=off or accel=auto.\n");
        return false;
    }
    if (p->accel == NVME_ACCEL_MODE_OFF && p->sysfsdev) {
        error_setg(errp, "sysfsdev is only used with accel=kernel or auto");
        return false;
    }
    return true;
}

/*
 * The drive changed size (block_resize): Identify Namespace reports the
 * new size and the host hears of it. Not while a queue change waits: the
 * pairs may move (the module may refuse the size), so it comes after.
 */
static void nvme_accel_resize_bh(void *opaque)
{
    NvmeAccelCtrl *n = opaque;
    int64_t len = blk_getlength(n->blkconf.blk);
    uint64_t nsze;

    if (len < 0) {
        trace_nvme_accel_err_resize(len);
        return;
    }
    nsze = len >> n->ns.lba_shift;
    if (nsze == n->ns.nsze) {
        return;
    }
    if (n->qchange_depth) {
        n->resize_deferred = true;
        return;
    }
    trace_nvme_accel_resize(n->ns.nsze, nsze);
    /* The I/O context checks LBAs against it: change it there at rest. */
    nvme_accel_io_quiesce(n);
    n->ns.nsze = nsze;
    nvme_accel_kernel_sync_ns(n);
    nvme_accel_kernel_recheck(n);
    nvme_accel_io_resume(n);
    nvme_accel_ns_changed(n);
}

/* From whichever thread truncated the drive. */
static void nvme_accel_resize_cb(void *opaque)
{
    NvmeAccelCtrl *n = opaque;

    qemu_bh_schedule(n->resize_bh);
}

static void nvme_accel_drained_begin(void *opaque)
{
    NvmeAccelCtrl *n = opaque;

    n->blk_drained = true;
    nvme_accel_kernel_drained_begin(n);
}

static void nvme_accel_drained_end(void *opaque)
{
    NvmeAccelCtrl *n = opaque;

    n->blk_drained = false;
    nvme_accel_kernel_drained_end(n);
}

static const BlockDevOps nvme_accel_block_ops = {
    .resize_cb = nvme_accel_resize_cb,
    .drained_begin = nvme_accel_drained_begin,
    .drained_end = nvme_accel_drained_end,
};

static bool nvme_accel_init_blk(NvmeAccelCtrl *n, Error **errp)
{
    BlockBackend *blk = n->blkconf.blk;
    int64_t len;

    /* One property decides the LBA size; the block conf follows it. */
    if (n->blkconf.logical_block_size &&
        n->blkconf.logical_block_size != n->params.lba_size) {
        error_setg(errp, "logical_block_size=%u conflicts with lba-size=%u",
                   n->blkconf.logical_block_size, n->params.lba_size);
        return false;
    }
    n->blkconf.logical_block_size = n->params.lba_size;
    if (!blkconf_blocksizes(&n->blkconf, errp)) {
        return false;
    }
    if (!blkconf_apply_backend_options(&n->blkconf,
                                       !blk_supports_write_perm(blk),
                                       true, errp)) {
        return false;
    }
    len = blk_getlength(blk);
    if (len < 0) {
        error_setg_errno(errp, -len, "could not get the drive's size");
        return false;
    }
    n->ns.nsid = NVME_ACCEL_NSID;
    n->ns.lba_shift = ctz32(n->params.lba_size);
    n->ns.nsze = len >> n->ns.lba_shift;
    n->ns.read_only = !blk_is_writable(blk);
    if (!n->ns.nsze) {
        error_setg(errp, "drive is smaller than one logical block");
        return false;
    }
    if (n->params.iothread) {
        n->ctx = iothread_get_aio_context(n->params.iothread);
        if (blk_set_aio_context(blk, n->ctx, errp) < 0) {
            return false;
        }
    } else {
        n->ctx = qemu_get_aio_context();
    }
    n->resize_bh = qemu_bh_new_guarded(nvme_accel_resize_bh, n,
                                       &DEVICE(n)->mem_reentrancy_guard);
    blk_set_dev_ops(blk, &nvme_accel_block_ops, n);
    return true;
}

void nvme_accel_vector_handler(EventNotifier *e)
{
    NvmeAccelVector *v = container_of(e, NvmeAccelVector, notifier);

    if (event_notifier_test_and_clear(e)) {
        nvme_accel_irq_raise(v->ctrl, v - v->ctrl->vectors);
    }
}

static bool nvme_accel_init_vectors(NvmeAccelCtrl *n, Error **errp)
{
    unsigned i;
    int ret;

    n->vectors = g_new0(NvmeAccelVector, n->nr_qpairs);
    for (i = 0; i < n->nr_qpairs; i++) {
        n->vectors[i].virq = -1;    /* no KVM route: GSI 0 is somebody's */
    }
    for (i = 0; i < n->nr_qpairs; i++) {
        NvmeAccelVector *v = &n->vectors[i];

        ret = event_notifier_init(&v->notifier, 0);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "could not create an eventfd");
            return false;
        }
        v->ctrl = n;
        event_notifier_set_handler(&v->notifier, nvme_accel_vector_handler);
    }
    return true;
}

static void nvme_accel_cleanup_vectors(NvmeAccelCtrl *n)
{
    unsigned i;

    if (!n->vectors) {
        return;
    }
    for (i = 0; i < n->nr_qpairs; i++) {
        NvmeAccelVector *v = &n->vectors[i];

        if (v->ctrl) {
            event_notifier_set_handler(&v->notifier, NULL);
            event_notifier_cleanup(&v->notifier);
        }
    }
    g_free(n->vectors);
    n->vectors = NULL;
}

/*
 * accel=kernel: the module or fail; auto: the module if given and usable,
 * else QEMU, saying which once.
 */
static bool nvme_accel_init_kernel(NvmeAccelCtrl *n, Error **errp)
{
    Error *local_err = NULL;

    if (n->params.accel == NVME_ACCEL_MODE_OFF) {
        return true;
    }
    if (!n->params.sysfsdev) {
        info_report("nvme-accel %s: no kvm-accel mdev (sysfsdev), running "
                    "I/O queues in QEMU", n->params.serial);
        return true;
    }
    /*
     * The module writes completions and data straight into guest RAM. Only
     * KVM sees such writes: TCG would keep running stale translated code and
     * its dirty tracking would miss them. qtest runs no guest code, so it
     * may drive the module.
     */
    if (!kvm_enabled() && !qtest_enabled()) {
        if (n->params.accel == NVME_ACCEL_MODE_KERNEL) {
            error_setg(errp, "accel=kernel needs KVM (-accel kvm)");
            error_append_hint(errp, "kvm-accel writes guest memory behind "
                              "the back of other accelerators; use "
                              "accel=auto or accel=off.\n");
            return false;
        }
        info_report("nvme-accel %s: the accelerator is not KVM, running I/O "
                    "queues in QEMU", n->params.serial);
        return true;
    }
    if (!nvme_accel_kernel_init(n, &local_err)) {
        if (n->params.accel == NVME_ACCEL_MODE_KERNEL) {
            error_propagate(errp, local_err);
            return false;
        }
        warn_reportf_err(local_err, "nvme-accel %s: running I/O queues in "
                         "QEMU: ", n->params.serial);
        return true;
    }
    n->kernel_wanted = true;
    info_report("nvme-accel %s: I/O queues run in kvm-accel (%s)",
                n->params.serial, n->params.sysfsdev);
    return true;
}

/* The drive back to the main loop (from an iothread): the iothread may go. */
static void nvme_accel_release_blk(NvmeAccelCtrl *n)
{
    Error *local_err = NULL;

    if (n->resize_bh) {
        blk_set_dev_ops(n->blkconf.blk, NULL, NULL);
        /* A truncate in flight may be calling resize_cb: let it finish. */
        blk_drain(n->blkconf.blk);
        qemu_bh_delete(n->resize_bh);
        n->resize_bh = NULL;
    }

    if (n->ctx && n->ctx != qemu_get_aio_context() &&
        blk_set_aio_context(n->blkconf.blk, qemu_get_aio_context(),
                            &local_err) < 0) {
        warn_reportf_err(local_err, "nvme-accel %s: drive stays in the "
                         "iothread: ", n->params.serial);
    }
}

/* Undo what realize set up of the PCI function; safe on partial set-up. */
static void nvme_accel_free_pci(NvmeAccelCtrl *n)
{
    nvme_accel_remap_cleanup(n);
    nvme_accel_kernel_exit(n);
    nvme_accel_cleanup_vectors(n);
    msix_uninit(PCI_DEVICE(n), &n->bar0, &n->bar0);
    /* A subregion holds a reference to its owner: us. */
    if (n->iomem.container) {
        memory_region_del_subregion(&n->bar0, &n->iomem);
    }
    g_free(n->sq);
    g_free(n->cq);
    n->sq = NULL;
    n->cq = NULL;
}

/*
 * PCI power management, as hw/nvme has it: D0 and D3hot, and no reset on
 * the way back to D0 (the controller keeps its state; the host resets it
 * if it wants to, as NVMe drivers do after D3).
 */
static bool nvme_accel_init_pm(PCIDevice *pci_dev, uint8_t offset,
                               Error **errp)
{
    if (pci_pm_init(pci_dev, offset, errp) < 0) {
        return false;
    }
    pci_set_word(pci_dev->config + offset + PCI_PM_PMC, PCI_PM_CAP_VER_1_2);
    pci_set_word(pci_dev->config + offset + PCI_PM_CTRL,
                 PCI_PM_CTRL_NO_SOFT_RESET);
    pci_set_word(pci_dev->wmask + offset + PCI_PM_CTRL,
                 PCI_PM_CTRL_STATE_MASK);
    return true;
}

static void nvme_accel_realize(PCIDevice *pci_dev, Error **errp)
{
    NvmeAccelCtrl *n = NVME_ACCEL(pci_dev);
    uint8_t *conf = pci_dev->config;
    unsigned nr_vectors, msix_table, msix_pba;
    uint64_t bar_size;

    if (!nvme_accel_check_params(n, errp) || !nvme_accel_init_blk(n, errp)) {
        return;
    }

    n->nr_qpairs = n->params.max_ioqpairs + 1;
    n->sq = g_new0(NvmeAccelSQ *, n->nr_qpairs);
    n->cq = g_new0(NvmeAccelCQ *, n->nr_qpairs);
    nvme_accel_mem_init(n);

    conf[PCI_INTERRUPT_PIN] = 1;
    pci_config_set_prog_interface(conf, 0x2);
    if (!nvme_accel_init_pm(pci_dev, 0x60, errp)) {
        goto err;
    }
    pcie_endpoint_cap_init(pci_dev, 0x80);
    /* Function Level Reset: a device reset (nvme_accel_reset). */
    pcie_cap_flr_init(pci_dev);

    /* Registers and doorbells, then the MSI-X table and PBA, 4 KiB aligned. */
    nr_vectors = n->nr_qpairs;
    msix_table = QEMU_ALIGN_UP(NVME_ACCEL_REG_SIZE +
                               2 * n->nr_qpairs * NVME_ACCEL_DB_STRIDE,
                               4 * KiB);
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
        goto err;
    }
    for (unsigned i = 0; i < nr_vectors; i++) {
        msix_vector_use(pci_dev, i);
    }
    if (!nvme_accel_init_vectors(n, errp) || !nvme_accel_irqfd_init(n, errp) ||
        !nvme_accel_init_kernel(n, errp)) {
        goto err;
    }

    if (n->params.mdts == NVME_ACCEL_MDTS_AUTO) {
        n->params.mdts = NVME_ACCEL_MDTS_DEFAULT;
    }
    nvme_accel_init_cap(n);
    n->wce_default = blk_enable_write_cache(n->blkconf.blk);
    nvme_accel_admin_init(n);
    nvme_accel_remap_init(n);
    n->starttime_ms = qemu_clock_get_ms(QEMU_CLOCK_VIRTUAL);
    trace_nvme_accel_realize(n->params.max_ioqpairs,
                             n->params.max_queue_entries, n->ns.nsze,
                             n->params.lba_size);
    return;

err:
    nvme_accel_irqfd_cleanup(n);
    nvme_accel_release_blk(n);
    nvme_accel_free_pci(n);
}

static void nvme_accel_exit(PCIDevice *pci_dev)
{
    NvmeAccelCtrl *n = NVME_ACCEL(pci_dev);

    nvme_accel_ctrl_reset(n);
    nvme_accel_irqfd_cleanup(n);
    nvme_accel_release_blk(n);
    /* The module's event handler uses the log: it goes first. */
    nvme_accel_free_pci(n);
    nvme_accel_admin_cleanup(n);
}

static void nvme_accel_reset(DeviceState *dev)
{
    NvmeAccelCtrl *n = NVME_ACCEL(dev);

    nvme_accel_ctrl_reset(n);
    n->cc = 0;
    n->csts = 0;
    n->aqa = 0;
    n->asq = 0;
    n->acq = 0;
    msix_reset(PCI_DEVICE(dev));
    nvme_accel_irqfd_release_routes(n);
}

static void nvme_accel_write_config(PCIDevice *pci, uint32_t addr,
                                    uint32_t val, int len)
{
    NvmeAccelCtrl *n = NVME_ACCEL(pci);
    bool msix_was_enabled = msix_enabled(pci);
    bool bus_master = nvme_accel_bus_master(n);

    pci_default_write_config(pci, addr, val, len);
    /* FLR resets the function, Bus Master Enable with it. */
    pcie_cap_flr_write_config(pci, addr, val, len);
    if (bus_master != nvme_accel_bus_master(n)) {
        nvme_accel_bus_master_changed(n);
    }
    /*
     * msix.c calls no mask notifier when MSI-X goes off: unbind the irqfds
     * (signals from then on reach the main loop, i.e. INTx) and drop the
     * routes, whose messages are stale now.
     */
    if (msix_was_enabled && !msix_enabled(pci)) {
        nvme_accel_irqfd_release_routes(n);
    }
}

static const Property nvme_accel_props[] = {
    DEFINE_BLOCK_PROPERTIES(NvmeAccelCtrl, blkconf),
    DEFINE_PROP_STRING("serial", NvmeAccelCtrl, params.serial),
    DEFINE_PROP_UUID("uuid", NvmeAccelCtrl, params.uuid),
    DEFINE_PROP_UINT32("max-ioqpairs", NvmeAccelCtrl, params.max_ioqpairs, 8),
    DEFINE_PROP_UINT32("max-queue-entries", NvmeAccelCtrl,
                       params.max_queue_entries, 1024),
    DEFINE_PROP_UINT8("mdts", NvmeAccelCtrl, params.mdts,
                      NVME_ACCEL_MDTS_AUTO),
    DEFINE_PROP_UINT32("lba-size", NvmeAccelCtrl, params.lba_size, 512),
    DEFINE_PROP_BOOL("shadow-doorbells", NvmeAccelCtrl,
                     params.shadow_doorbells, true),
    DEFINE_PROP_BOOL("ioeventfd", NvmeAccelCtrl, params.ioeventfd, true),
    DEFINE_PROP_LINK("iothread", NvmeAccelCtrl, params.iothread,
                     TYPE_IOTHREAD, IOThread *),
    DEFINE_PROP_STRING("accel", NvmeAccelCtrl, params.accel_str),
    DEFINE_PROP_STRING("sysfsdev", NvmeAccelCtrl, params.sysfsdev),
};

static void nvme_accel_get_smart_warning(Object *obj, Visitor *v,
                                         const char *name, void *opaque,
                                         Error **errp)
{
    visit_type_uint8(v, name, &NVME_ACCEL(obj)->smart_critical_warning, errp);
}

static void nvme_accel_set_smart_warning(Object *obj, Visitor *v,
                                         const char *name, void *opaque,
                                         Error **errp)
{
    NvmeAccelCtrl *n = NVME_ACCEL(obj);
    uint8_t value, raised;

    if (!visit_type_uint8(v, name, &value, errp)) {
        return;
    }
    raised = value & ~n->smart_critical_warning;
    n->smart_critical_warning = value;
    /* Newly raised warnings the host asked to hear about become events. */
    for (unsigned i = 0; i < 8; i++) {
        if (raised & (1 << i) &&
            NVME_AEC_SMART(n->features.async_config) & (1 << i)) {
            nvme_accel_aer_enqueue(n, NVME_AER_TYPE_SMART,
                                   i == 1 ? NVME_AER_INFO_SMART_TEMP_THRESH :
                                   i == 0 ? NVME_AER_INFO_SMART_SPARE_THRESH :
                                   NVME_AER_INFO_SMART_RELIABILITY,
                                   NVME_LOG_SMART_INFO);
        }
    }
}

static void nvme_accel_instance_init(Object *obj)
{
    NvmeAccelCtrl *n = NVME_ACCEL(obj);

    device_add_bootindex_property(obj, &n->blkconf.bootindex, "bootindex",
                                  "/namespace@1,0", DEVICE(obj));
    object_property_add(obj, "smart_critical_warning", "uint8",
                        nvme_accel_get_smart_warning,
                        nvme_accel_set_smart_warning, NULL, NULL);
    nvme_accel_kernel_instance_init(obj);
}

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
    pc->config_write = nvme_accel_write_config;
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
    .instance_init = nvme_accel_instance_init,
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
