/*
 * nvme-accel: handing I/O queue pairs to the kvm-accel kernel module
 *
 * The module is the parent of VFIO mediated devices. We open ours through
 * QEMU's VFIO container code: its memory listener maps guest RAM into the
 * container, so the module can pin what the guest's queues point at. QEMU
 * keeps the registers and the admin queue; an I/O queue pair created by the
 * guest (SQ n on CQ n) is handed to the module with its ring addresses,
 * shadow doorbells, interrupt vector and a kick eventfd that is the KVM
 * ioeventfd of its doorbells. Completions interrupt the guest through the
 * vector eventfds (KVM irqfds, or read by QEMU's main loop without KVM).
 *
 * A pair can be taken back (quiesce, read head/tail/phase, destroy) and run
 * here, and handed to the module again: the basis for migration.
 *
 * Copyright (c) 2026 The nvme-accel authors
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or later.
 * See the COPYING file in the top-level directory.
 */

#include "qemu/osdep.h"
#include <sys/ioctl.h>
#include "qemu/cutils.h"
#include "qemu/error-report.h"
#include "qemu/log.h"
#include "qemu/main-loop.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "hw/vfio/vfio-common.h"
#include "hw/pci/msix.h"
#include "system/block-backend.h"
#include "block/block_int-common.h"
#include "block/accounting.h"
#include "block/dirty-bitmap.h"
#include "qemu/timer.h"
#include "qom/object.h"
#include "mdev-accel.h"
#include "trace.h"

static void nvme_accel_vfio_compute_needs_reset(VFIODevice *vdev)
{
    vdev->needs_reset = false;
}

static VFIODeviceOps nvme_accel_vfio_ops = {
    .vfio_compute_needs_reset = nvme_accel_vfio_compute_needs_reset,
};

static int nvme_accel_kioctl(NvmeAccelCtrl *n, unsigned long req, void *arg)
{
    return ioctl(n->vdev.fd, req, arg) < 0 ? -errno : 0;
}

/*
 * The host block device behind the drive, which the module reads and
 * writes directly: the drive must be that device, or plain raw on it and
 * all of it. Any other format or filter in between (qcow2, a filter, raw
 * with an offset) would make the guest's LBAs other places on the device.
 */
static BlockDriverState *nvme_accel_host_device(NvmeAccelCtrl *n,
                                                Error **errp)
{
    BlockDriverState *top = blk_bs(n->blkconf.blk), *bs = top;

    GRAPH_RDLOCK_GUARD_MAINLOOP();
    if (bs && bs->drv && !strcmp(bs->drv->format_name, "raw") && bs->file) {
        bs = bs->file->bs;
    }
    if (!bs || !bs->drv || strcmp(bs->drv->format_name, "host_device")) {
        error_setg(errp, "accel=kernel needs a raw drive on a host block "
                   "device (driver host_device), not '%s'%s",
                   top && top->drv ? top->drv->format_name : "none",
                   bs != top ? " on another driver" : "");
        return NULL;
    }
    if (bs != top && top->total_sectors != bs->total_sectors) {
        error_setg(errp, "accel=kernel needs all of the host block device "
                   "(no raw offset or size)");
        return NULL;
    }
    /*
     * The module's bios bypass the host's page cache: QEMU must too, or
     * it reads what the cache kept from before the module wrote, and
     * writes back over the module's data what it cached.
     */
    if (!(bs->open_flags & BDRV_O_NOCACHE)) {
        error_setg(errp, "accel=kernel needs cache.direct=on (cache=none): "
                   "kvm-accel bypasses the host page cache");
        return NULL;
    }
    return bs;
}

/*
 * The module writes beneath QEMU's block graph: only while nothing in it
 * must see, change or redirect a request. A block job's filter, a snapshot
 * overlay, any node put above the drive or a replaced one change the nodes
 * found at attach (no references held: they would outlive the machine; the
 * names tell a node apart from a new one at the same address); dirty
 * bitmaps and throttling count every request.
 */
bool nvme_accel_kernel_graph_ok(NvmeAccelCtrl *n)
{
    BlockBackend *blk = n->blkconf.blk;
    BlockDriverState *top = blk_bs(blk), *bs;

    GRAPH_RDLOCK_GUARD_MAINLOOP();
    if (!top || top != n->kernel_top ||
        strcmp(top->node_name, n->kernel_top_name)) {
        return false;
    }
    bs = top == n->kernel_bs ? top : top->file ? top->file->bs : NULL;
    /* What attach checked, again: a reopen changes nodes in place. */
    return bs == n->kernel_bs && !strcmp(bs->node_name, n->kernel_bs_name) &&
           top->total_sectors == bs->total_sectors &&
           (bs->open_flags & BDRV_O_NOCACHE) &&
           !(top->open_flags & BDRV_O_INACTIVE) &&
           (n->ns.read_only || !bdrv_is_read_only(top)) &&
           !bdrv_dirty_bitmap_first(top) &&
           !bdrv_dirty_bitmap_first(n->kernel_bs) &&
           !blk_get_public(blk)->throttle_group_member.throttle_state;
}

/*
 * An fd of that block device for the module to claim, opened the way the
 * block layer opened it. qemu_open() resolves /dev/fdset/N too: under
 * libvirt it duplicates the fd libvirt passed (fdsets match on access mode
 * and O_DIRECT, and the dup shares the file status flags with the block
 * layer's fd, so they must be the same), and QEMU needs no right to open
 * the device itself.
 */
static int nvme_accel_host_device_fd(BlockDriverState *bs, Error **errp)
{
    int flags = (bs->open_flags & BDRV_O_RDWR) ? O_RDWR : O_RDONLY;
    struct stat st;
    int fd;

    if (bs->open_flags & BDRV_O_NOCACHE) {
        flags |= O_DIRECT;
    }
    fd = qemu_open(bs->filename, flags, errp);
    if (fd < 0) {
        return -1;
    }
    if (fstat(fd, &st) || !S_ISBLK(st.st_mode)) {
        error_setg(errp, "accel=kernel: %s is no block device", bs->filename);
        qemu_close(fd);
        return -1;
    }
    return fd;
}

static bool nvme_accel_kernel_handshake(NvmeAccelCtrl *n, Error **errp)
{
    struct kvm_accel_info info = { .argsz = sizeof(info) };
    struct kvm_accel_attach_bdev at = { .argsz = sizeof(at) };
    BlockDriverState *bs;
    const char *path;
    int ret;

    ret = nvme_accel_kioctl(n, KVM_ACCEL_GET_INFO, &info);
    if (ret) {
        error_setg_errno(errp, -ret, "KVM_ACCEL_GET_INFO failed (is %s a "
                         "kvm-accel mdev?)", n->params.sysfsdev);
        return false;
    }
    if (info.abi_version != KVM_ACCEL_ABI_VERSION) {
        error_setg(errp, "kvm-accel ABI version %u, QEMU speaks %u",
                   info.abi_version, KVM_ACCEL_ABI_VERSION);
        return false;
    }
    if (info.max_queues < n->params.max_ioqpairs ||
        info.max_vectors < n->nr_qpairs ||
        info.max_queue_entries < n->params.max_queue_entries) {
        error_setg(errp, "the kvm-accel mdev supports %u queue pairs of %u "
                   "entries and %u vectors; max-ioqpairs=%u and "
                   "max-queue-entries=%u need more", info.max_queues,
                   info.max_queue_entries, info.max_vectors,
                   n->params.max_ioqpairs, n->params.max_queue_entries);
        return false;
    }
    /*
     * MDTS is what the guest is promised: with the module it is the
     * module's limit unless the user chose one it can honour.
     */
    if (n->params.mdts == NVME_ACCEL_MDTS_AUTO) {
        n->params.mdts = MIN(NVME_ACCEL_MDTS_DEFAULT,
                             info.mdts >= 4096 ? 31 - clz32(info.mdts / 4096)
                                               : 0);
    } else if ((4096ULL << n->params.mdts) > info.mdts) {
        /* (mdts 0, "no limit", is refused with the other properties.) */
        error_setg(errp, "mdts=%u asks for more, kvm-accel moves at most %u "
                   "KiB per command", n->params.mdts, info.mdts / 1024);
        error_append_hint(errp, "Leave mdts unset to use the module's "
                          "limit.\n");
        return false;
    }
    bs = nvme_accel_host_device(n, errp);
    if (!bs) {
        return false;
    }
    path = bs->filename;
    at.fd = nvme_accel_host_device_fd(bs, errp);
    if (at.fd < 0) {
        return false;
    }
    at.nsid = NVME_ACCEL_NSID;
    at.lba_shift = n->ns.lba_shift;
    at.flags = n->ns.read_only ? KVM_ACCEL_ATTACH_READ_ONLY : 0;
    ret = nvme_accel_kioctl(n, KVM_ACCEL_ATTACH_BDEV, &at);
    qemu_close(at.fd);      /* the module holds its own claim */
    if (ret) {
        error_setg_errno(errp, -ret, "kvm-accel could not attach %s", path);
        return false;
    }
    if (at.nsze != n->ns.nsze || at.lba_shift != n->ns.lba_shift) {
        error_setg(errp, "kvm-accel sees %s as %"PRIu64" blocks of %u bytes, "
                   "the drive as %"PRIu64" of %u", path, (uint64_t)at.nsze,
                   1u << at.lba_shift, n->ns.nsze, 1u << n->ns.lba_shift);
        return false;
    }
    n->kinfo = info;
    n->kernel_top = blk_bs(n->blkconf.blk);
    n->kernel_bs = bs;
    pstrcpy(n->kernel_top_name, sizeof(n->kernel_top_name),
            n->kernel_top->node_name);
    pstrcpy(n->kernel_bs_name, sizeof(n->kernel_bs_name), bs->node_name);
    trace_nvme_accel_kernel_attached(path, at.nsze, at.bdev_flags);
    return true;
}

/* Every MSI-X vector's eventfd, for the module to signal. */
static bool nvme_accel_kernel_set_irqs(NvmeAccelCtrl *n, Error **errp)
{
    size_t argsz = sizeof(struct vfio_irq_set) + n->nr_qpairs * sizeof(int32_t);
    g_autofree struct vfio_irq_set *set = g_malloc0(argsz);
    int32_t *fds = (int32_t *)&set->data;
    unsigned i;
    int ret;

    set->argsz = argsz;
    set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
    set->index = KVM_ACCEL_IRQ_INDEX_MSIX;
    set->count = n->nr_qpairs;
    for (i = 0; i < n->nr_qpairs; i++) {
        fds[i] = event_notifier_get_fd(&n->vectors[i].notifier);
    }
    ret = nvme_accel_kioctl(n, VFIO_DEVICE_SET_IRQS, set);
    if (ret) {
        error_setg_errno(errp, -ret, "VFIO_DEVICE_SET_IRQS on the kvm-accel "
                         "mdev failed");
        return false;
    }
    return true;
}

/*
 * What the module saw and the guest must hear of: failed commands enter the
 * Error Information log as they do in QEMU's datapath, invalid doorbell
 * values raise the AER QEMU raises for its own, and a queue stopped for
 * good (its memory went) or a block device gone is a controller fatal
 * status, which the guest answers with a reset. Runs when the event
 * eventfd fires, before the Error Information log page is read (the
 * module records an error before the guest can see its CQE), and at a
 * controller reset (@resetting: only the log is kept).
 */
void nvme_accel_kernel_poll_events(NvmeAccelCtrl *n, bool resetting)
{
    struct kvm_accel_error recs[KVM_ACCEL_MAX_ERRORS];
    struct kvm_accel_events ev = {
        .argsz = sizeof(ev),
        .nr_errors = ARRAY_SIZE(recs),
        .errors = (uintptr_t)recs,
    };
    int ret;

    if (!n->kernel) {
        return;
    }
    ret = nvme_accel_kioctl(n, KVM_ACCEL_GET_EVENTS, &ev);
    if (ret) {
        trace_nvme_accel_err_kernel(0, "events", ret);
        return;
    }
    trace_nvme_accel_kernel_events(ev.events, ev.nr_errors, ev.lost_errors,
                                   ev.db_error_qids, ev.broken_qids);
    for (unsigned i = 0; i < ev.nr_errors; i++) {
        nvme_accel_error_log(n, recs[i].sqid, recs[i].cid, recs[i].status,
                             recs[i].lba);
    }
    if (ev.lost_errors) {
        nvme_accel_error_log_lost(n, ev.lost_errors);
    }
    if (resetting) {
        /* The log stays; events for the controller going away do not. */
        return;
    }
    if (ev.events & KVM_ACCEL_EVENT_DB_ERROR) {
        NVME_ACCEL_GUEST_ERR(nvme_accel_err_kernel_db, "qids 0x%"PRIx64,
                             (uint64_t)ev.db_error_qids);
        nvme_accel_report_db_error(n, NVME_AER_INFO_ERR_INVALID_DB_VALUE);
    }
    if (ev.events & KVM_ACCEL_EVENT_BROKEN) {
        nvme_accel_fatal(n, "kvm-accel stopped an I/O queue whose memory "
                         "went away");
    }
    if (ev.events & KVM_ACCEL_EVENT_BDEV_DEAD) {
        nvme_accel_fatal(n, "the host block device went away");
    }
}

/* Has the module seen its block device go away? */
bool nvme_accel_kernel_bdev_dead(NvmeAccelCtrl *n)
{
    struct kvm_accel_info info = { .argsz = sizeof(info) };

    return n->kernel && !nvme_accel_kioctl(n, KVM_ACCEL_GET_INFO, &info) &&
           (info.bdev_flags & KVM_ACCEL_BDEV_DEAD);
}

static void nvme_accel_kernel_events(EventNotifier *e)
{
    if (event_notifier_test_and_clear(e)) {
        nvme_accel_kernel_poll_events(container_of(e, NvmeAccelCtrl,
                                                   kevents), false);
    }
}

/* The module's event eventfd, read in the main loop. */
static bool nvme_accel_kernel_set_event(NvmeAccelCtrl *n, Error **errp)
{
    size_t argsz = sizeof(struct vfio_irq_set) + sizeof(int32_t);
    g_autofree struct vfio_irq_set *set = g_malloc0(argsz);
    int32_t fd;
    int ret;

    ret = event_notifier_init(&n->kevents, 0);
    if (ret) {
        error_setg_errno(errp, -ret, "kvm-accel: no event notifier");
        return false;
    }
    fd = event_notifier_get_fd(&n->kevents);
    set->argsz = argsz;
    set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
    set->index = KVM_ACCEL_IRQ_INDEX_EVENT;
    set->count = 1;
    memcpy(&set->data, &fd, sizeof(fd));
    ret = nvme_accel_kioctl(n, VFIO_DEVICE_SET_IRQS, set);
    if (ret) {
        error_setg_errno(errp, -ret, "kvm-accel: setting the event eventfd "
                         "failed");
        event_notifier_cleanup(&n->kevents);
        return false;
    }
    event_notifier_set_handler(&n->kevents, nvme_accel_kernel_events);
    return true;
}

/*
 * What the module read and wrote goes into the drive's statistics
 * (query-blockstats), as QEMU's own datapath counts its requests: the
 * growth of its counters since the last call. Every second while the
 * module is attached, and when it goes.
 */
static void nvme_accel_kernel_account(NvmeAccelCtrl *n)
{
    BlockAcctStats *acct = blk_get_stats(n->blkconf.blk);
    struct kvm_accel_stats st;

    if (!nvme_accel_kernel_stats(n, &st)) {
        return;
    }
    /* Counters that went back (STATS_RESET elsewhere): start from there. */
    if (st.reads < n->kacct.reads || st.writes < n->kacct.writes ||
        st.bytes_read < n->kacct.bytes_read ||
        st.bytes_written < n->kacct.bytes_written) {
        n->kacct = st;
        return;
    }
    block_acct_done_batch(acct, BLOCK_ACCT_READ,
                          st.reads - n->kacct.reads,
                          st.bytes_read - n->kacct.bytes_read);
    block_acct_done_batch(acct, BLOCK_ACCT_WRITE,
                          st.writes - n->kacct.writes,
                          st.bytes_written - n->kacct.bytes_written);
    n->kacct = st;
}

static void nvme_accel_kernel_account_timer(void *opaque)
{
    NvmeAccelCtrl *n = opaque;

    nvme_accel_kernel_account(n);
    timer_mod(n->kacct_timer,
              qemu_clock_get_ms(QEMU_CLOCK_REALTIME) + 1000);
}

bool nvme_accel_kernel_init(NvmeAccelCtrl *n, Error **errp)
{
    VFIODevice *vdev = &n->vdev;

    vfio_device_init(vdev, VFIO_DEVICE_TYPE_NVME_ACCEL, &nvme_accel_vfio_ops,
                     DEVICE(n), false);
    vdev->mdev = true;
    vdev->sysfsdev = n->params.sysfsdev;
    if (!vfio_device_get_name(vdev, errp)) {
        return false;
    }
    if (!vfio_attach_device(vdev->name, vdev, &address_space_memory, errp)) {
        error_prepend(errp, "kvm-accel mdev %s: ", vdev->name);
        g_free(vdev->name);
        vdev->name = NULL;
        return false;
    }
    if (!nvme_accel_kernel_handshake(n, errp) ||
        !nvme_accel_kernel_set_irqs(n, errp) ||
        !nvme_accel_kernel_set_event(n, errp)) {
        vfio_detach_device(vdev);
        g_free(vdev->name);
        vdev->name = NULL;
        return false;
    }
    n->kernel = true;
    n->kernel_graph_was_ok = true;
    nvme_accel_kernel_sync_ns(n);
    n->kacct_timer = timer_new_ms(QEMU_CLOCK_REALTIME,
                                  nvme_accel_kernel_account_timer, n);
    timer_mod(n->kacct_timer, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) + 1000);
    return true;
}

/*
 * The namespace as the guest sees it, for the module's own checks: its
 * size (after a resize) and whether writes must reach stable media (the
 * volatile write cache off), as QEMU's block layer makes them then. Until
 * the module has both, no pair may run there.
 */
void nvme_accel_kernel_sync_ns(NvmeAccelCtrl *n)
{
    struct kvm_accel_namespace ns = {
        .argsz = sizeof(ns),
        .flags = KVM_ACCEL_NS_SET_NSZE | KVM_ACCEL_NS_SET_CACHE,
        .nsze = n->ns.nsze,
        .ns_flags = blk_enable_write_cache(n->blkconf.blk) ?
                    0 : KVM_ACCEL_NS_WRITE_THROUGH,
    };
    int ret;

    if (!n->kernel) {
        return;
    }
    ret = nvme_accel_kioctl(n, KVM_ACCEL_SET_NAMESPACE, &ns);
    n->kernel_ns_synced = !ret;
    if (ret) {
        trace_nvme_accel_err_kernel_ns(ns.nsze, ns.ns_flags, ret);
        error_report_once("nvme-accel %s: kvm-accel refused the namespace "
                          "as the guest sees it (%"PRIu64" blocks%s): %s; "
                          "I/O queues run in QEMU", n->params.serial,
                          n->ns.nsze, ns.ns_flags ? ", write through" : "",
                          strerror(-ret));
    }
}

void nvme_accel_kernel_exit(NvmeAccelCtrl *n)
{
    if (!n->kernel) {
        return;
    }
    event_notifier_set_handler(&n->kevents, NULL);
    nvme_accel_kernel_account(n);
    timer_free(n->kacct_timer);
    n->kacct_timer = NULL;
    vfio_detach_device(&n->vdev);
    event_notifier_cleanup(&n->kevents);
    g_free(n->vdev.name);
    n->vdev.name = NULL;
    n->kernel = false;
    n->kernel_ns_synced = false;
}

/* --- queue pairs -------------------------------------------------------- */

static void nvme_accel_kick_attach(NvmeAccelCtrl *n, NvmeAccelSQ *sq)
{
    hwaddr sq_db = NVME_ACCEL_REG_SIZE + 2 * sq->q.qid * NVME_ACCEL_DB_STRIDE;

    /* With shadow doorbells the write itself carries nothing we need. */
    if (!n->dbbuf_dbs || sq->kick_attached) {
        return;
    }
    memory_region_add_eventfd(&n->iomem, sq_db, 4, false, 0, &sq->kick);
    memory_region_add_eventfd(&n->iomem, sq_db + NVME_ACCEL_DB_STRIDE, 4,
                              false, 0, &sq->kick);
    sq->kick_attached = true;
}

static void nvme_accel_kick_detach(NvmeAccelCtrl *n, NvmeAccelSQ *sq)
{
    hwaddr sq_db = NVME_ACCEL_REG_SIZE + 2 * sq->q.qid * NVME_ACCEL_DB_STRIDE;

    if (!sq->kick_attached) {
        return;
    }
    memory_region_del_eventfd(&n->iomem, sq_db, 4, false, 0, &sq->kick);
    memory_region_del_eventfd(&n->iomem, sq_db + NVME_ACCEL_DB_STRIDE, 4,
                              false, 0, &sq->kick);
    sq->kick_attached = false;
}

/*
 * Create the pair in the module, optionally stopped so that head, tail and
 * phase can be restored before it runs.
 */
static int nvme_accel_kernel_create(NvmeAccelCtrl *n, NvmeAccelSQ *sq,
                                    NvmeAccelCQ *cq, bool quiesced)
{
    uint16_t qid = sq->q.qid;
    struct kvm_accel_queue_pair qp = {
        .argsz = sizeof(qp),
        .flags = (cq->q.irq_enabled ? KVM_ACCEL_QP_IRQ_ENABLED : 0) |
                 (n->core.sgl ? KVM_ACCEL_QP_SGL : 0) |
                 (quiesced ? KVM_ACCEL_QP_QUIESCED : 0),
        .qid = qid,
        .vector = cq->q.vector,
        .page_shift = n->core.page_shift,
        .sq_entries = sq->q.size,
        .cq_entries = cq->q.size,
        .sq_gpa = sq->q.base,
        .cq_gpa = cq->q.base,
        .sq_db_gpa = nvme_accel_shadow_addr(n->dbbuf_dbs, qid, false),
        .sq_ei_gpa = nvme_accel_shadow_addr(n->dbbuf_eis, qid, false),
        .cq_db_gpa = nvme_accel_shadow_addr(n->dbbuf_dbs, qid, true),
        .cq_ei_gpa = nvme_accel_shadow_addr(n->dbbuf_eis, qid, true),
        .kick_fd = event_notifier_get_fd(&sq->kick),
        .mdts = n->core.max_xfer,
    };

    return nvme_accel_kioctl(n, KVM_ACCEL_CREATE_QUEUE_PAIR, &qp);
}

static int nvme_accel_kernel_state(NvmeAccelCtrl *n, NvmeAccelSQ *sq,
                                   NvmeAccelCQ *cq, bool set)
{
    struct kvm_accel_queue_state st = {
        .argsz = sizeof(st),
        .qid = sq->q.qid,
        .sq_head = sq->q.head,
        .sq_tail = sq->q.tail,
        .cq_head = cq->q.head,
        .cq_tail = cq->q.tail,
        .cq_phase = cq->q.phase,
    };
    g_autofree struct kvm_accel_cqe *cqes = NULL;
    int ret;

    if (!set) {
        /* Completions the CQ had no room for come back with the state. */
        cqes = g_new(struct kvm_accel_cqe, sq->q.size);
        st.cqes = (uintptr_t)cqes;
        st.nr_cqes = sq->q.size;
    }
    ret = nvme_accel_kioctl(n, set ? KVM_ACCEL_SET_QUEUE_STATE :
                                     KVM_ACCEL_GET_QUEUE_STATE, &st);
    if (ret || set) {
        return ret;
    }
    /* An interrupt the module deferred (coalescing) is ours to send. */
    if (st.state & KVM_ACCEL_QS_IRQ_PENDING) {
        trace_nvme_accel_kernel_irq_owed(sq->q.qid, cq->q.vector);
        nvme_accel_irq_notify(n, cq);
    }
    if (st.sq_head >= sq->q.size || st.sq_tail >= sq->q.size ||
        st.cq_head >= cq->q.size || st.cq_tail >= cq->q.size ||
        st.cq_phase > 1 || st.nr_cqes > sq->q.size) {
        return -EPROTO;
    }
    /* One SQ on a CQ the module ran: nothing of another SQ waits there. */
    assert(!cq->nr_carried && QTAILQ_EMPTY(&cq->done_reqs));
    if (st.nr_cqes) {
        trace_nvme_accel_kernel_carried(sq->q.qid, st.nr_cqes);
        cq->carried = g_steal_pointer(&cqes);
        cq->nr_carried = st.nr_cqes;
        cq->carried_posted = 0;
        cq->carried_sqid = sq->q.qid;
    }
    sq->q.head = st.sq_head;
    sq->q.tail = st.sq_tail;
    cq->q.head = st.cq_head;
    cq->q.tail = st.cq_tail;
    cq->q.phase = st.cq_phase;
    /* The last doorbell values, for the userspace bottom halves. */
    qatomic_set(&sq->db_val, st.sq_tail);
    qatomic_set(&cq->db_val, st.cq_head);
    return 0;
}

static int nvme_accel_kernel_qid_op(NvmeAccelCtrl *n, unsigned long req,
                                    uint16_t qid, uint32_t flags)
{
    struct kvm_accel_qid q = { .argsz = sizeof(q), .flags = flags, .qid = qid };

    return nvme_accel_kioctl(n, req, &q);
}

/*
 * Stop a pair in the module and wait for the host's block device to finish
 * its commands, as blk_drain() does: never for the guest to reap. The
 * module returns every second (-EAGAIN) so that a slow device is said.
 */
static int nvme_accel_kernel_quiesce(NvmeAccelCtrl *n, uint16_t qid,
                                     uint32_t flags)
{
    int ret, tries = 0;

    while ((ret = nvme_accel_kernel_qid_op(n, KVM_ACCEL_QUIESCE, qid,
                                           flags)) == -EAGAIN ||
           ret == -EINTR) {
        if (ret == -EAGAIN && ++tries == 5) {
            warn_report("nvme-accel %s: queue %u: the host's block device "
                        "has not finished its commands in 5 s; waiting",
                        n->params.serial, qid);
        }
    }
    return ret;
}

/*
 * Is this new pair one the module can run? SQ n completing on CQ n, the CQ
 * used by no other SQ (the module owns a CQ with its SQ), and MSI-X: a
 * pin-based interrupt is a level QEMU must drop when the host has reaped
 * everything, which only whoever owns the CQ knows. Bus Master Enable set,
 * and no IOMMU in front of the function (any, even in passthrough): the
 * module takes the guest's addresses as guest-physical (the container maps
 * guest RAM 1:1). Not after CFS: a pair that could not come back from the
 * module has stale indexes.
 */
bool nvme_accel_kernel_eligible(NvmeAccelCtrl *n, NvmeAccelSQ *sq)
{
    NvmeAccelCQ *cq = n->cq[sq->q.cqid];
    PCIDevice *pci = PCI_DEVICE(n);

    return n->kernel && n->kernel_ns_synced && !n->blk_drained &&
           nvme_accel_kernel_graph_ok(n) &&
           sq->q.qid && sq->q.cqid == sq->q.qid &&
           cq && cq->nr_sqs == 1 && msix_enabled(pci) &&
           nvme_accel_bus_master(n) &&
           !(qatomic_read(&n->csts) & NVME_CSTS_FAILED) &&
           pci_device_iommu_address_space(pci) == &address_space_memory;
}

/* Eligible now; one refused for a drain only is offered again at its end. */
static bool nvme_accel_kernel_may_adopt(NvmeAccelCtrl *n, NvmeAccelSQ *sq)
{
    if (nvme_accel_kernel_eligible(n, sq)) {
        return true;
    }
    n->recheck_after_drain |= n->blk_drained && n->kernel_wanted;
    return false;
}

/*
 * Hand a userspace pair (new, or running here) to the module. The caller
 * has quiesced the userspace datapath.
 */
bool nvme_accel_kernel_adopt(NvmeAccelCtrl *n, NvmeAccelSQ *sq)
{
    NvmeAccelCQ *cq = n->cq[sq->q.cqid];
    bool fresh;
    int ret;

    if (!nvme_accel_kernel_may_adopt(n, sq)) {
        return false;
    }
    /* What the I/O context has not applied or posted yet. */
    nvme_accel_pair_sync(n, sq);
    /* That may have polled: a drain or a graph change may have begun. */
    if (!nvme_accel_kernel_may_adopt(n, sq)) {
        return false;
    }
    fresh = !sq->q.head && !sq->q.tail && !cq->q.head && !cq->q.tail &&
            cq->q.phase == 1;
    if (!QTAILQ_EMPTY(&cq->done_reqs) || cq->nr_carried ||
        !QTAILQ_EMPTY(&sq->out_reqs)) {
        /* The guest has yet to make room in its CQ: it stays here. */
        trace_nvme_accel_kernel_adopt_busy(sq->q.qid);
        return false;
    }
    if (event_notifier_init(&sq->kick, 0) < 0) {
        return false;
    }
    ret = nvme_accel_kernel_create(n, sq, cq, !fresh);
    if (!ret && !fresh) {
        ret = nvme_accel_kernel_state(n, sq, cq, true);
        if (!ret) {
            ret = nvme_accel_kernel_qid_op(n, KVM_ACCEL_QUIESCE, sq->q.qid,
                                           KVM_ACCEL_QUIESCE_RESUME);
        }
        if (ret) {
            nvme_accel_kernel_qid_op(n, KVM_ACCEL_DESTROY_QUEUE_PAIR,
                                     sq->q.qid, 0);
        }
    }
    if (ret) {
        trace_nvme_accel_err_kernel(sq->q.qid, "create", ret);
        event_notifier_cleanup(&sq->kick);
        return false;
    }
    nvme_accel_kick_attach(n, sq);
    sq->in_kernel = cq->in_kernel = true;
    trace_nvme_accel_kernel_adopt(sq->q.qid, !fresh);
    return true;
}

/* Stop a pair in the module (QUIESCE with @flags) and read its state back. */
static int nvme_accel_kernel_stop(NvmeAccelCtrl *n, NvmeAccelSQ *sq,
                                  uint32_t flags)
{
    int ret = nvme_accel_kernel_quiesce(n, sq->q.qid, flags);

    return ret ?: nvme_accel_kernel_state(n, sq, n->cq[sq->q.cqid], false);
}

/*
 * Take a pair back from the module, with its state, and destroy it there.
 * On failure its indexes are stale: the controller fails (CSTS.CFS), after
 * which nothing is fetched and no pair is adopted until the guest resets.
 */
void nvme_accel_kernel_take_back(NvmeAccelCtrl *n, NvmeAccelSQ *sq)
{
    NvmeAccelCQ *cq = n->cq[sq->q.cqid];
    uint16_t qid = sq->q.qid;
    int ret;

    if (!sq->in_kernel) {
        return;
    }
    ret = nvme_accel_kernel_stop(n, sq, 0);
    if (ret) {
        /* Commands stuck at the host's device, or the module failed. */
        trace_nvme_accel_err_kernel(qid, "take back", ret);
        error_report_once("nvme-accel %s: could not take queue %u back from "
                          "kvm-accel (%s); the controller fails",
                          n->params.serial, qid, strerror(-ret));
        nvme_accel_fatal(n, "kvm-accel could not hand an I/O queue back");
    }
    nvme_accel_kernel_destroy(n, sq);
    trace_nvme_accel_kernel_take_back(qid, sq->q.head, sq->q.tail,
                                      cq->q.head, cq->q.tail);
}

/*
 * Delete I/O SQ of a pair the module runs: its CQ stays (a new SQ may go on
 * it), so its state comes back. The module waits for the block layer only,
 * never for the guest to reap; completions it could not post are dropped,
 * as Delete I/O SQ allows. Without the state the CQ cannot go on.
 */
void nvme_accel_kernel_delete(NvmeAccelCtrl *n, NvmeAccelSQ *sq)
{
    int ret;

    if (!sq->in_kernel) {
        return;
    }
    ret = nvme_accel_kernel_stop(n, sq, KVM_ACCEL_QUIESCE_DROP);
    if (ret) {
        trace_nvme_accel_err_kernel(sq->q.qid, "delete", ret);
        nvme_accel_fatal(n, "kvm-accel lost a completion queue's state");
    }
    nvme_accel_kernel_destroy(n, sq);
}

/* Controller reset (or after the above): the pair goes, its state with it. */
void nvme_accel_kernel_destroy(NvmeAccelCtrl *n, NvmeAccelSQ *sq)
{
    NvmeAccelCQ *cq = n->cq[sq->q.cqid];
    int ret;

    if (!sq->in_kernel) {
        return;
    }
    ret = nvme_accel_kernel_qid_op(n, KVM_ACCEL_DESTROY_QUEUE_PAIR,
                                   sq->q.qid, 0);
    if (ret) {
        trace_nvme_accel_err_kernel(sq->q.qid, "destroy", ret);
    }
    nvme_accel_kick_detach(n, sq);
    event_notifier_cleanup(&sq->kick);
    sq->in_kernel = false;
    sq->drain_paused = false;
    if (cq) {
        cq->in_kernel = false;
    }
}

/*
 * The drive is drained (a block job starts or ends, a snapshot, a graph
 * change, our own queue changes): QEMU's requests wait in the BlockBackend,
 * the module's must stop too. Each pair stops fetching and its commands
 * finish at the host's device, as blk_drain waits for QEMU's. Must not
 * poll (the graph may be changing): the ioctl waits in the kernel.
 */
void nvme_accel_kernel_drained_begin(NvmeAccelCtrl *n)
{
    int ret;

    for (unsigned i = 1; n->kernel && i < n->nr_qpairs; i++) {
        NvmeAccelSQ *sq = n->sq[i];

        if (!sq || !sq->in_kernel || sq->drain_paused) {
            continue;
        }
        ret = nvme_accel_kernel_quiesce(n, sq->q.qid, 0);
        if (ret) {
            /* Its state is lost: DESTROY at least waits for its bios. */
            trace_nvme_accel_err_kernel(sq->q.qid, "drain", ret);
            nvme_accel_fatal(n, "kvm-accel could not stop an I/O queue for "
                             "a drain");
            nvme_accel_kernel_destroy(n, sq);
            continue;
        }
        sq->drain_paused = true;
    }
}

/*
 * The drain ended: if the graph still lets the module write beneath it,
 * the pairs run on; else they stay stopped and come back to QEMU (a bottom
 * half: taking them back polls), where the new nodes see every request.
 * When the graph lets the module write again (the job ended), the pairs
 * go back to it.
 */
void nvme_accel_kernel_drained_end(NvmeAccelCtrl *n)
{
    bool graph_ok = nvme_accel_kernel_graph_ok(n);
    bool stopped = false;
    int ret;

    if (!n->kernel) {
        return;
    }
    if (graph_ok != n->kernel_graph_was_ok) {
        n->kernel_graph_was_ok = graph_ok;
        trace_nvme_accel_kernel_graph_changed(graph_ok);
        qemu_bh_schedule(n->recheck_bh);
    }

    for (unsigned i = 1; i < n->nr_qpairs; i++) {
        NvmeAccelSQ *sq = n->sq[i];

        if (!sq || !sq->drain_paused) {
            continue;
        }
        if (!graph_ok || (qatomic_read(&n->csts) & NVME_CSTS_FAILED)) {
            stopped = true;
            continue;
        }
        ret = nvme_accel_kernel_qid_op(n, KVM_ACCEL_QUIESCE, sq->q.qid,
                                       KVM_ACCEL_QUIESCE_RESUME);
        if (ret) {
            trace_nvme_accel_err_kernel(sq->q.qid, "resume", ret);
            stopped = true;
            continue;
        }
        sq->drain_paused = false;
    }
    if (stopped || n->recheck_after_drain) {
        n->recheck_after_drain = false;
        qemu_bh_schedule(n->recheck_bh);
    }
}

/* A doorbell QEMU trapped (no shadow doorbells): the module applies it. */
void nvme_accel_kernel_doorbell(NvmeAccelCtrl *n, uint16_t qid, bool cq,
                                uint32_t val)
{
    struct kvm_accel_doorbell db = {
        .argsz = sizeof(db),
        .flags = cq ? KVM_ACCEL_DB_CQ_HEAD : 0,
        .qid = qid,
        .value = val,
    };
    int ret = nvme_accel_kioctl(n, KVM_ACCEL_DOORBELL, &db);

    if (ret == -EINVAL) {
        NVME_ACCEL_GUEST_ERR(nvme_accel_err_db_value, "%s %u value %u",
                             cq ? "cq" : "sq", qid, val);
        nvme_accel_aer_enqueue(n, NVME_AER_TYPE_ERROR,
                               NVME_AER_INFO_ERR_INVALID_DB_VALUE,
                               NVME_LOG_ERROR_INFO);
    } else if (ret) {
        trace_nvme_accel_err_kernel(qid, "doorbell", ret);
    }
}

void nvme_accel_kernel_coalescing(NvmeAccelCtrl *n)
{
    uint32_t intc = n->features.int_coalescing;
    struct kvm_accel_coalescing c = {
        .argsz = sizeof(c),
        .aggr_thr = NVME_INTC_THR(intc),
        .aggr_time = NVME_INTC_TIME(intc),
    };
    unsigned v;

    if (!n->kernel) {
        return;
    }
    nvme_accel_kioctl(n, KVM_ACCEL_SET_COALESCING, &c);
    for (v = 0; v < n->nr_qpairs; v++) {
        c.flags = KVM_ACCEL_COALESCE_VECTOR;
        if (n->iv_nocoalesce[v / 32] & (1u << (v % 32))) {
            c.flags |= KVM_ACCEL_COALESCE_CD;
        }
        c.vector = v;
        nvme_accel_kioctl(n, KVM_ACCEL_SET_COALESCING, &c);
    }
}

/* The module's counters since the device was opened. */
bool nvme_accel_kernel_stats(NvmeAccelCtrl *n, struct kvm_accel_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->argsz = sizeof(*st);
    return n->kernel && !nvme_accel_kioctl(n, KVM_ACCEL_GET_STATS, st);
}

/* --- QOM: where the queues run, and the module's counters --------------- */

static void nvme_accel_get_kernel_queues(Object *obj, Visitor *v,
                                         const char *name, void *opaque,
                                         Error **errp)
{
    NvmeAccelCtrl *n = NVME_ACCEL(obj);
    uint32_t count = 0;

    for (unsigned i = 1; n->sq && i < n->nr_qpairs; i++) {
        count += n->sq[i] && n->sq[i]->in_kernel;
    }
    visit_type_uint32(v, name, &count, errp);
}

static bool nvme_accel_get_kernel(Object *obj, Error **errp)
{
    return NVME_ACCEL(obj)->kernel_wanted;
}

/*
 * "kernel" = false: take every pair back to QEMU; true: hand every eligible
 * pair to the module. A running guest notices nothing.
 */
static void nvme_accel_set_kernel(Object *obj, bool want, Error **errp)
{
    NvmeAccelCtrl *n = NVME_ACCEL(obj);

    if (!DEVICE(obj)->realized) {
        error_setg(errp, "'kernel' moves queues of a running controller; "
                   "use accel= and sysfsdev= to choose at start");
        return;
    }
    if (want && !n->kernel) {
        error_setg(errp, "no kvm-accel mdev in use (see sysfsdev, accel)");
        return;
    }
    if (n->qchange_depth) {
        /*
         * Defensive: QMP dispatches qom-set in the iohandler context, which
         * a queue change's wait does not poll.
         */
        error_setg(errp, "queues are being changed, try again");
        return;
    }
    nvme_accel_kernel_switch(n, want);
}

static void nvme_accel_get_kernel_stats(Object *obj, Visitor *v,
                                        const char *name, void *opaque,
                                        Error **errp)
{
    ERRP_GUARD();
    NvmeAccelCtrl *n = NVME_ACCEL(obj);
    struct kvm_accel_stats st = { .argsz = sizeof(st) };
    static const struct {
        const char *name;
        size_t offset;
    } fields[] = {
        { "commands", offsetof(struct kvm_accel_stats, commands) },
        { "reads", offsetof(struct kvm_accel_stats, reads) },
        { "writes", offsetof(struct kvm_accel_stats, writes) },
        { "bytes-read", offsetof(struct kvm_accel_stats, bytes_read) },
        { "bytes-written", offsetof(struct kvm_accel_stats, bytes_written) },
        { "errors", offsetof(struct kvm_accel_stats, errors) },
        { "irqs", offsetof(struct kvm_accel_stats, irqs) },
        { "kicks", offsetof(struct kvm_accel_stats, kicks) },
        { "polled", offsetof(struct kvm_accel_stats, polled) },
        { "doorbell-errors", offsetof(struct kvm_accel_stats, db_errors) },
    };
    int ret;

    if (n->kernel) {
        ret = nvme_accel_kioctl(n, KVM_ACCEL_GET_STATS, &st);
        if (ret) {
            error_setg_errno(errp, -ret, "KVM_ACCEL_GET_STATS failed");
            return;
        }
    }
    if (!visit_start_struct(v, name, NULL, 0, errp)) {
        return;
    }
    for (unsigned i = 0; i < ARRAY_SIZE(fields); i++) {
        uint64_t val = ldq_he_p((uint8_t *)&st + fields[i].offset);

        if (!visit_type_uint64(v, fields[i].name, &val, errp)) {
            break;
        }
    }
    if (!*errp) {
        visit_check_struct(v, errp);
    }
    visit_end_struct(v, NULL);
    trace_nvme_accel_kernel_stats(st.commands, st.irqs, st.kicks);
}

void nvme_accel_kernel_instance_init(Object *obj)
{
    object_property_add(obj, "kernel-queues", "uint32",
                        nvme_accel_get_kernel_queues, NULL, NULL, NULL);
    object_property_add_bool(obj, "kernel", nvme_accel_get_kernel,
                             nvme_accel_set_kernel);
    object_property_add(obj, "kernel-stats", "NvmeAccelKernelStats",
                        nvme_accel_get_kernel_stats, NULL, NULL, NULL);
}
