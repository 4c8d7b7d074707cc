/*
 * nvme-accel: queue pairs and the userspace I/O datapath
 *
 * Queue state is the datapath core's (struct nac_sq / nac_cq: addresses,
 * sizes, head, tail, phase, shadow doorbell addresses), so a queue can be
 * handed to the kvm-accel module and back. Here QEMU runs it: commands are
 * fetched and decoded by the core and executed through the block layer.
 *
 * Copyright (c) 2026 The nvme-accel authors
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or later.
 * See the COPYING file in the top-level directory.
 */

#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/main-loop.h"
#include "qemu/memalign.h"
#include "qemu/units.h"
#include "block/aio-wait.h"
#include "system/block-backend.h"
#include "system/dma.h"
#include "exec/cpu-common.h"
#include "hw/pci/msix.h"
#include "mdev-accel.h"
#include "trace.h"

/* --- running code in the I/O context ------------------------------------ */

typedef struct NvmeAccelCtxCall {
    void (*fn)(NvmeAccelCtrl *n, void *arg);
    NvmeAccelCtrl *n;
    void *arg;
} NvmeAccelCtxCall;

static void nvme_accel_ctx_call_bh(void *opaque)
{
    NvmeAccelCtxCall *c = opaque;

    c->fn(c->n, c->arg);
}

/* Run @fn in the controller's AioContext and wait for it (BQL held). */
static void nvme_accel_run_in_ctx(NvmeAccelCtrl *n,
                                  void (*fn)(NvmeAccelCtrl *n, void *arg),
                                  void *arg)
{
    NvmeAccelCtxCall c = { .fn = fn, .n = n, .arg = arg };

    if (n->ctx == qemu_get_aio_context()) {
        fn(n, arg);
        return;
    }
    aio_wait_bh_oneshot(n->ctx, nvme_accel_ctx_call_bh, &c);
}

static void nvme_accel_set_stopped(NvmeAccelCtrl *n, void *arg)
{
    n->io_stopped = arg != NULL;
}

/*
 * Before changing which I/O queues exist: stop fetching, let every command
 * in flight complete (posting its CQE), so the I/O context holds no
 * reference into what we change. Nests: only the outermost pair stops and
 * restarts the I/O context, and admin commands wait until it is done.
 */
void nvme_accel_io_quiesce(NvmeAccelCtrl *n)
{
    if (n->qchange_depth++ == 0) {
        nvme_accel_run_in_ctx(n, nvme_accel_set_stopped, n);
    }
    blk_drain(n->blkconf.blk);
}

static bool nvme_accel_cq_has_waiting(NvmeAccelCQ *cq);

static void nvme_accel_kick_all(NvmeAccelCtrl *n, void *arg)
{
    unsigned i;

    n->io_stopped = false;
    for (i = 1; i < n->nr_qpairs; i++) {
        if (n->sq[i]) {
            qemu_bh_schedule(n->sq[i]->bh);
        }
        /*
         * Completions the module handed back with a pair (take-back), or
         * held while Bus Master Enable was clear.
         */
        if (n->cq[i] && nvme_accel_cq_has_waiting(n->cq[i])) {
            qemu_bh_schedule(n->cq[i]->bh);
        }
    }
}

void nvme_accel_io_resume(NvmeAccelCtrl *n)
{
    assert(n->qchange_depth > 0);
    if (n->qchange_depth == 1) {
        nvme_accel_run_in_ctx(n, nvme_accel_kick_all, NULL);
    }
    if (--n->qchange_depth == 0 && n->admin_deferred) {
        n->admin_deferred = false;
        if (n->sq[0]) {
            qemu_bh_schedule(n->sq[0]->bh);
        }
    }
    if (n->qchange_depth == 0 && n->resize_deferred) {
        n->resize_deferred = false;
        qemu_bh_schedule(n->resize_bh);
    }
    if (n->qchange_depth == 0 && n->recheck_deferred) {
        n->recheck_deferred = false;
        qemu_bh_schedule(n->recheck_bh);
    }
}

/* --- doorbell errors raised in the I/O context ------------------------- */

void nvme_accel_report_db_error(NvmeAccelCtrl *n, uint8_t info)
{
    if (qemu_in_main_thread()) {
        nvme_accel_aer_enqueue(n, NVME_AER_TYPE_ERROR, info,
                               NVME_LOG_ERROR_INFO);
        return;
    }
    qatomic_or(&n->pending_db_errors, 1u << info);
    qemu_bh_schedule(n->db_error_bh);
}

static void nvme_accel_db_error_bh(void *opaque)
{
    NvmeAccelCtrl *n = opaque;
    uint32_t pending = qatomic_xchg(&n->pending_db_errors, 0);

    for (unsigned info = 0; pending; info++, pending >>= 1) {
        if (pending & 1) {
            nvme_accel_aer_enqueue(n, NVME_AER_TYPE_ERROR, info,
                                   NVME_LOG_ERROR_INFO);
        }
    }
}

/* A doorbell value out of range: log it, raise the asynchronous event. */
static void nvme_accel_db_value_error(NvmeAccelCtrl *n, const char *kind,
                                      unsigned qid, uint32_t val)
{
    NVME_ACCEL_GUEST_ERR(nvme_accel_err_db_value, "%s %u value %u", kind, qid,
                         val);
    nvme_accel_report_db_error(n, NVME_AER_INFO_ERR_INVALID_DB_VALUE);
}

/* --- completions -------------------------------------------------------- */

static void nvme_accel_coalesce_timer(void *opaque)
{
    NvmeAccelCQ *cq = opaque;

    nvme_accel_cq_irq(cq);
}

/* Decide about the CQ's interrupt after a batch of completions. */
void nvme_accel_cq_irq(NvmeAccelCQ *cq)
{
    NvmeAccelCtrl *n = cq->ctrl;
    int64_t now = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);
    uint64_t deadline = 0;

    switch (nac_cq_irq(&cq->q, &n->mem, now, &deadline)) {
    case NAC_IRQ_NOW:
        timer_del(cq->coalesce_timer);
        nvme_accel_irq_notify(n, cq);
        break;
    case NAC_IRQ_DEFER:
        timer_mod(cq->coalesce_timer, deadline);
        break;
    case NAC_IRQ_NONE:
        break;
    }
}

static void nvme_accel_unmap_data(NvmeAccelRequest *req);

/*
 * Bounce memory (Compare, streamed SGLs) is bounded per controller: else a
 * guest could have every request of every SQ hold MDTS bytes of QEMU's
 * memory. A command that needs more than is left stays in its SQ (given
 * back, see nac_sq_unfetch()) until a request returns some; one always
 * fits. Requests hold it from fetch to completion, not while their CQE
 * waits for room, so what a guest does not reap holds nothing. SQs wait in
 * turn (bounce_waiters): a busy SQ cannot keep another's large command, or
 * everything behind it, from ever running, and only the first is woken.
 */
static bool nvme_accel_sq_may_fetch(NvmeAccelCtrl *n, NvmeAccelSQ *sq);

static uint32_t nvme_accel_bounce_needed(NvmeAccelRequest *req)
{
    if (req->status) {
        return 0;
    }
    if (req->r.op == NAC_OP_COMPARE ||
        ((req->r.op == NAC_OP_READ || req->r.op == NAC_OP_WRITE) &&
         req->r.streamed)) {
        return req->r.len;
    }
    return 0;
}

static void nvme_accel_bounce_unwait(NvmeAccelCtrl *n, NvmeAccelSQ *sq)
{
    if (sq->bounce_wait) {
        sq->bounce_wait = false;
        QTAILQ_REMOVE(&n->bounce_waiters, sq, bounce_entry);
    }
}

/*
 * The first waiting SQ that may still fetch. One that may not (moved to
 * the module, Bus Master Enable off, I/O stopped) gives up its turn; it
 * waits again, last, when it next runs.
 */
static NvmeAccelSQ *nvme_accel_bounce_first(NvmeAccelCtrl *n)
{
    NvmeAccelSQ *sq;

    while ((sq = QTAILQ_FIRST(&n->bounce_waiters)) &&
           !nvme_accel_sq_may_fetch(n, sq)) {
        nvme_accel_bounce_unwait(n, sq);
    }
    return sq;
}

static void nvme_accel_bounce_wake_first(NvmeAccelCtrl *n)
{
    NvmeAccelSQ *sq = nvme_accel_bounce_first(n);

    if (sq) {
        qemu_bh_schedule(sq->bh);
    }
}

/* @sq no longer waits (its command needs none, or is gone): next, please. */
static void nvme_accel_bounce_pass(NvmeAccelCtrl *n, NvmeAccelSQ *sq)
{
    if (sq->bounce_wait) {
        nvme_accel_bounce_unwait(n, sq);
        nvme_accel_bounce_wake_first(n);
    }
}

static bool nvme_accel_bounce_reserve(NvmeAccelRequest *req)
{
    NvmeAccelSQ *sq = req->sq;
    NvmeAccelCtrl *n = sq->ctrl;
    uint32_t len = nvme_accel_bounce_needed(req);
    NvmeAccelSQ *first;

    if (!len) {
        nvme_accel_bounce_pass(n, sq);
        return true;
    }
    first = nvme_accel_bounce_first(n);
    if ((first && first != sq) ||
        (n->bounce_bytes && n->bounce_bytes + len > NVME_ACCEL_BOUNCE_MAX)) {
        trace_nvme_accel_bounce_wait(sq->q.qid, le16_to_cpu(req->r.cid),
                                     n->bounce_bytes);
        if (!sq->bounce_wait) {
            sq->bounce_wait = true;
            QTAILQ_INSERT_TAIL(&n->bounce_waiters, sq, bounce_entry);
        }
        /* Nothing in use will come back to wake the first one. */
        if (!n->bounce_bytes) {
            nvme_accel_bounce_wake_first(n);
        }
        return false;
    }
    nvme_accel_bounce_unwait(n, sq);
    n->bounce_bytes += len;
    req->bounce_len = len;
    /* The next in turn may fit in what is left. */
    nvme_accel_bounce_wake_first(n);
    return true;
}

/* The bounce buffer itself, allocated at submission. */
static bool nvme_accel_bounce_alloc(NvmeAccelRequest *req)
{
    req->bounce = blk_try_blockalign(req->sq->ctrl->blkconf.blk,
                                     req->bounce_len);
    if (!req->bounce) {
        trace_nvme_accel_err_bounce(req->sq->q.qid, le16_to_cpu(req->r.cid),
                                    req->bounce_len);
        return false;
    }
    qemu_iovec_init_buf(&req->bounce_iov, req->bounce, req->bounce_len);
    return true;
}

static void nvme_accel_bounce_put(NvmeAccelRequest *req)
{
    NvmeAccelCtrl *n = req->sq->ctrl;

    qemu_vfree(req->bounce);
    req->bounce = NULL;
    if (!req->bounce_len) {
        return;
    }
    n->bounce_bytes -= req->bounce_len;
    req->bounce_len = 0;
    nvme_accel_bounce_wake_first(n);
}

static void nvme_accel_req_release(NvmeAccelRequest *req)
{
    NvmeAccelSQ *sq = req->sq;

    nvme_accel_unmap_data(req);
    nvme_accel_bounce_put(req);
    g_free(req->r.ranges);
    req->r.ranges = NULL;
    QTAILQ_INSERT_TAIL(&sq->free_reqs, req, entry);
    if (sq->starved) {
        sq->starved = false;
        qemu_bh_schedule(sq->bh);
    }
}

static bool nvme_accel_post_cqe(NvmeAccelCQ *cq, NvmeAccelSQ *sq,
                                uint16_t cid, uint16_t status, uint32_t result)
{
    struct nac_cqe cqe = {
        .result = result,
        .sq_head = sq->q.head,
        .sq_id = sq->q.qid,
        .cid = cid,
        .status = status,
    };
    int ret;

    /* Held, as if the CQ were full, until Bus Master Enable is set again. */
    if (!nvme_accel_bus_master(cq->ctrl)) {
        return false;
    }

    ret = nac_cq_post(&cq->q, &cq->ring.mem, &cqe);
    if (ret == -EBUSY) {
        return false;
    }
    if (ret) {
        /* The CQ is not guest memory (any more): nothing we can report. */
        NVME_ACCEL_GUEST_ERR(nvme_accel_err_cq_post, "cqid %u tail %u",
                             cq->q.qid, cq->q.tail);
    }
    trace_nvme_accel_cqe(cq->q.qid, sq->q.qid, le16_to_cpu(cid), status,
                         result);
    return true;
}

static void nvme_accel_cq_drop_carried(NvmeAccelCQ *cq)
{
    g_free(cq->carried);
    cq->carried = NULL;
    cq->nr_carried = cq->carried_posted = 0;
}

/*
 * Post the oldest completion waiting: one the module handed back, else the
 * first done request. False if there is none or the CQ is full.
 */
static bool nvme_accel_post_next(NvmeAccelCQ *cq)
{
    NvmeAccelRequest *req;

    if (cq->carried_posted < cq->nr_carried) {
        struct kvm_accel_cqe *c = &cq->carried[cq->carried_posted];

        if (!nvme_accel_post_cqe(cq, cq->ctrl->sq[cq->carried_sqid],
                                 c->cid, c->status, c->result)) {
            return false;
        }
        if (++cq->carried_posted == cq->nr_carried) {
            nvme_accel_cq_drop_carried(cq);
        }
        return true;
    }
    req = QTAILQ_FIRST(&cq->done_reqs);
    if (!req || !nvme_accel_post_cqe(cq, req->sq, req->r.cid, req->status,
                                     req->result)) {
        return false;
    }
    QTAILQ_REMOVE(&cq->done_reqs, req, entry);
    nvme_accel_req_release(req);
    return true;
}

static bool nvme_accel_cq_has_waiting(NvmeAccelCQ *cq)
{
    return cq->nr_carried || !QTAILQ_EMPTY(&cq->done_reqs);
}

/* Publish the CQ head as event index, re-read the shadow head. */
static int nvme_accel_cq_arm(NvmeAccelCQ *cq)
{
    NvmeAccelCtrl *n = cq->ctrl;
    int ret = nac_cq_arm(&cq->q, &n->mem);

    if (ret == -EINVAL) {
        nvme_accel_db_value_error(n, "cq shadow", cq->q.qid, cq->q.head);
    } else if (ret < 0) {
        trace_nvme_accel_err_cq_arm(cq->q.qid, ret);
    }
    return ret;
}

/* Post what fits, oldest first; ask for a doorbell when the CQ is full. */
static void nvme_accel_cq_flush(NvmeAccelCQ *cq)
{
    NvmeAccelCtrl *n = cq->ctrl;
    bool posted = false;

    if (cq->q.shadow_db) {
        if (nac_cq_read_shadow(&cq->q, &n->mem) == -EINVAL) {
            nvme_accel_db_value_error(n, "cq shadow", cq->q.qid, cq->q.head);
        }
    }
    while (nvme_accel_cq_has_waiting(cq)) {
        if (!nvme_accel_post_next(cq)) {
            /*
             * Full: have the host ring the head doorbell when it reaps;
             * if it reaped while we said so, there is room already.
             */
            if (nvme_accel_cq_arm(cq) > 0) {
                continue;
            }
            break;
        }
        posted = true;
    }
    if (posted) {
        nvme_accel_cq_irq(cq);
    }
    /*
     * Pin-based: the level may only drop once the host has reaped every
     * entry, and only a head doorbell says so. With shadow doorbells the
     * host rings it only past the event index: keep that at the head we
     * know. A host reaping as we publish it moves the head again: publish
     * until it stands still. Bounded: the head only moves forward, up to
     * the tail, and nothing is posted meanwhile (the caller then
     * re-evaluates the level).
     */
    if (cq->q.shadow_db && !msix_enabled(PCI_DEVICE(n))) {
        for (uint32_t i = 0; i < cq->q.size && nvme_accel_cq_arm(cq) > 0;
             i++) {
            /* the head moved: publish it again */
        }
    }
}

/* A request is done: queue its completion behind any already waiting. */
void nvme_accel_complete(NvmeAccelRequest *req)
{
    NvmeAccelSQ *sq = req->sq;
    NvmeAccelCtrl *n = sq->ctrl;
    NvmeAccelCQ *cq = n->cq[sq->q.cqid];

    /* Data lands (dirty, TCG code invalidated) before the CQE says so. */
    nvme_accel_unmap_data(req);
    nvme_accel_bounce_put(req);
    if (req->status) {
        nvme_accel_error_log(n, sq->q.qid, req->r.cid, req->status,
                             req->r.slba);
    }
    QTAILQ_REMOVE(&sq->out_reqs, req, entry);
    QTAILQ_INSERT_TAIL(&cq->done_reqs, req, entry);
    /*
     * Post from the CQ's bottom half: completions that arrive together
     * are written together, with one interrupt decision for the batch.
     */
    qemu_bh_schedule(cq->bh);
}

/* --- block layer backend ------------------------------------------------ */

uint16_t nvme_accel_map_block_status(int ret, bool is_write)
{
    switch (ret) {
    case 0:
        return NVME_SUCCESS;
    case -ENOSPC:
        return NVME_CAP_EXCEEDED | NVME_DNR;
    case -ENOMEM:
        return NVME_INTERNAL_DEV_ERROR;
    case -EACCES:
    case -EPERM:
    case -EROFS:
        return NVME_ACCESS_DENIED | NVME_DNR;
    default:
        return is_write ? NVME_WRITE_FAULT : NVME_UNRECOVERED_READ;
    }
}

/*
 * Map the request's scatter list straight into an I/O vector for the block
 * layer (what the DMA helpers do, without their per-request machinery).
 * Only guest RAM maps directly; anything else fails the command. Checked
 * before mapping: address_space_map() of anything else for reading fills
 * a bounce buffer from it, an MMIO access which takes the BQL. From an
 * iothread that deadlocked, the main loop holding the BQL while it waits
 * for the iothread (a queue change). The check after mapping catches a
 * map that changed in between.
 */
static bool nvme_accel_map_data(NvmeAccelRequest *req, bool to_guest)
{
    NvmeAccelCtrl *n = req->sq->ctrl;
    AddressSpace *as = pci_get_address_space(PCI_DEVICE(n));
    ram_addr_t offset;
    uint32_t i;

    qemu_iovec_reset(&req->iov);
    req->mapped_to_guest = to_guest;
    for (i = 0; i < req->r.nsg; i++) {
        hwaddr len = req->r.sg[i].len;
        void *p = NULL;

        if (nvme_accel_is_ram(n, req->r.sg[i].addr, len, to_guest)) {
            p = address_space_map(as, req->r.sg[i].addr, &len, to_guest,
                                  MEMTXATTRS_UNSPECIFIED);
        }

        if (p && (len < req->r.sg[i].len ||
                  !qemu_ram_block_from_host(p, false, &offset))) {
            address_space_unmap(as, p, len, to_guest, 0);
            p = NULL;
        }
        if (!p) {
            trace_nvme_accel_err_map(req->r.sg[i].addr, req->r.sg[i].len);
            nvme_accel_unmap_data(req);
            return false;
        }
        qemu_iovec_add(&req->iov, p, len);
    }
    return true;
}

static void nvme_accel_unmap_data(NvmeAccelRequest *req)
{
    AddressSpace *as;
    int i;

    if (!req->iov.niov) {
        return;
    }
    as = pci_get_address_space(PCI_DEVICE(req->sq->ctrl));
    for (i = 0; i < req->iov.niov; i++) {
        /* Marks written guest pages dirty (migration, TCG code). */
        address_space_unmap(as, req->iov.iov[i].iov_base,
                            req->iov.iov[i].iov_len, req->mapped_to_guest,
                            req->iov.iov[i].iov_len);
    }
    qemu_iovec_reset(&req->iov);
}

static void nvme_accel_rw_cb(void *opaque, int ret)
{
    NvmeAccelRequest *req = opaque;
    NvmeAccelCtrl *n = req->sq->ctrl;
    BlockAcctStats *stats = blk_get_stats(n->blkconf.blk);
    bool is_write = req->r.op != NAC_OP_READ && req->r.op != NAC_OP_COMPARE;

    req->aiocb = NULL;
    if (ret < 0) {
        block_acct_failed(stats, &req->acct);
        req->status = nvme_accel_map_block_status(ret, is_write);
        qatomic_inc(&n->stats.media_errors);
        trace_nvme_accel_err_blk(req->sq->q.qid, le16_to_cpu(req->r.cid), ret);
    } else {
        block_acct_done(stats, &req->acct);
    }
    nvme_accel_complete(req);
}


static void nvme_accel_compare_cb(void *opaque, int ret)
{
    NvmeAccelRequest *req = opaque;
    NvmeAccelCtrl *n = req->sq->ctrl;
    g_autofree uint8_t *host = NULL;

    req->aiocb = NULL;
    if (ret < 0) {
        nvme_accel_rw_cb(req, ret);
        return;
    }
    block_acct_done(blk_get_stats(n->blkconf.blk), &req->acct);
    host = g_try_malloc(req->r.len);
    if (!host) {
        req->status = NVME_INTERNAL_DEV_ERROR;
        nvme_accel_complete(req);
        return;
    }
    if (nac_req_read(&n->io_mem, &req->r, host)) {
        req->status = NVME_DATA_TRAS_ERROR | NVME_DNR;
    } else if (memcmp(host, req->bounce, req->r.len)) {
        req->status = NVME_CMP_FAILURE | NVME_DNR;
    }
    nvme_accel_complete(req);
}

/*
 * A read into a bounce buffer (a streamed SGL, see nac_req.streamed): the
 * guest's list is walked again to copy the data out.
 */
static void nvme_accel_streamed_read_cb(void *opaque, int ret)
{
    NvmeAccelRequest *req = opaque;
    NvmeAccelCtrl *n = req->sq->ctrl;

    if (ret >= 0 && nac_req_write(&n->io_mem, &req->r, req->bounce)) {
        trace_nvme_accel_err_streamed(req->sq->q.qid,
                                      le16_to_cpu(req->r.cid));
        req->status = NVME_DATA_TRAS_ERROR | NVME_DNR;
    }
    nvme_accel_rw_cb(req, ret);
}

/*
 * Data for a read or write: the guest's buffer mapped as it is or, for an
 * SGL with more discontiguous blocks than a request holds, a bounce buffer
 * (filled now for a write).
 */
static uint16_t nvme_accel_prepare_data(NvmeAccelRequest *req)
{
    NvmeAccelCtrl *n = req->sq->ctrl;

    if (!req->r.streamed) {
        return nvme_accel_map_data(req, req->r.op == NAC_OP_READ) ?
               NVME_SUCCESS : NVME_DATA_TRAS_ERROR | NVME_DNR;
    }
    if (!nvme_accel_bounce_alloc(req)) {
        return NVME_INTERNAL_DEV_ERROR;
    }
    if (req->r.op == NAC_OP_WRITE &&
        nac_req_read(&n->io_mem, &req->r, req->bounce)) {
        trace_nvme_accel_err_streamed(req->sq->q.qid,
                                      le16_to_cpu(req->r.cid));
        return NVME_DATA_TRAS_ERROR | NVME_DNR;
    }
    return NVME_SUCCESS;
}

static void nvme_accel_discard_cb(void *opaque, int ret)
{
    NvmeAccelRequest *req = opaque;

    /* Deallocation is advisory: a backend without discard is no error. */
    if (ret < 0 && ret != -ENOTSUP && !req->status) {
        req->status = nvme_accel_map_block_status(ret, true);
    }
    if (--req->result == 0) {
        nvme_accel_complete(req);
    }
}

static void nvme_accel_submit_discard(NvmeAccelRequest *req)
{
    NvmeAccelCtrl *n = req->sq->ctrl;
    unsigned shift = n->ns.lba_shift;
    uint32_t i;

    /* result counts outstanding ranges, plus one held while submitting. */
    req->result = 1;
    for (i = 0; i < req->r.nr_ranges; i++) {
        struct nac_dsm_range *r = &req->r.ranges[i];

        if (!r->nlb) {
            continue;
        }
        req->result++;
        blk_aio_pdiscard(n->blkconf.blk, r->slba << shift,
                         (int64_t)r->nlb << shift, nvme_accel_discard_cb, req);
    }
    nvme_accel_discard_cb(req, 0);
}

static void nvme_accel_submit(NvmeAccelRequest *req)
{
    NvmeAccelCtrl *n = req->sq->ctrl;
    BlockBackend *blk = n->blkconf.blk;
    BlockAcctStats *stats = blk_get_stats(blk);
    int64_t offset = req->r.slba << n->ns.lba_shift;
    uint64_t units = req->r.len >> BDRV_SECTOR_BITS;
    QEMUIOVector *iov;

    switch (req->r.op) {
    case NAC_OP_READ:
    case NAC_OP_WRITE:
        req->status = nvme_accel_prepare_data(req);
        if (req->status) {
            nvme_accel_complete(req);
            break;
        }
        iov = req->r.streamed ? &req->bounce_iov : &req->iov;
        if (req->r.op == NAC_OP_READ) {
            qatomic_add(&n->stats.units_read, units);
            qatomic_inc(&n->stats.read_commands);
            block_acct_start(stats, &req->acct, req->r.len, BLOCK_ACCT_READ);
            req->aiocb = blk_aio_preadv(blk, offset, iov, 0,
                                        req->r.streamed ?
                                        nvme_accel_streamed_read_cb :
                                        nvme_accel_rw_cb, req);
        } else {
            qatomic_add(&n->stats.units_written, units);
            qatomic_inc(&n->stats.write_commands);
            block_acct_start(stats, &req->acct, req->r.len, BLOCK_ACCT_WRITE);
            req->aiocb = blk_aio_pwritev(blk, offset, iov,
                                         req->r.fua ? BDRV_REQ_FUA : 0,
                                         nvme_accel_rw_cb, req);
        }
        break;
    case NAC_OP_COMPARE:
        if (!nvme_accel_bounce_alloc(req)) {
            req->status = NVME_INTERNAL_DEV_ERROR;
            nvme_accel_complete(req);
            break;
        }
        qatomic_inc(&n->stats.read_commands);
        qatomic_add(&n->stats.units_read, units);
        block_acct_start(stats, &req->acct, req->r.len, BLOCK_ACCT_READ);
        req->aiocb = blk_aio_preadv(blk, offset, &req->bounce_iov, 0,
                                    nvme_accel_compare_cb, req);
        break;
    case NAC_OP_FLUSH:
        block_acct_start(stats, &req->acct, 0, BLOCK_ACCT_FLUSH);
        req->aiocb = blk_aio_flush(blk, nvme_accel_rw_cb, req);
        break;
    case NAC_OP_WRITE_ZEROES:
        qatomic_inc(&n->stats.write_commands);
        block_acct_start(stats, &req->acct, 0, BLOCK_ACCT_WRITE);
        req->aiocb = blk_aio_pwrite_zeroes(blk, offset,
                                           (int64_t)req->r.nlb <<
                                           n->ns.lba_shift,
                                           (req->r.deallocate ?
                                            BDRV_REQ_MAY_UNMAP : 0) |
                                           (req->r.fua ? BDRV_REQ_FUA : 0),
                                           nvme_accel_rw_cb, req);
        break;
    case NAC_OP_DISCARD:
        nvme_accel_submit_discard(req);
        break;
    case NAC_OP_NOP:
        nvme_accel_complete(req);
        break;
    }
}

/* --- submission --------------------------------------------------------- */

static void nvme_accel_io_sq_run(NvmeAccelSQ *sq)
{
    NvmeAccelCtrl *n = sq->ctrl;
    NvmeAccelRequest *req;
    struct nac_sqe sqe;
    int ret;

    for (;;) {
        while (!nac_sq_empty(&sq->q)) {
            req = QTAILQ_FIRST(&sq->free_reqs);
            if (!req) {
                sq->starved = true;
                return;
            }
            ret = nac_sq_fetch(&sq->q, &sq->ring.mem, &sqe);
            if (ret) {
                NVME_ACCEL_GUEST_ERR(nvme_accel_err_sq_fetch,
                                     "sqid %u head %u", sq->q.qid, sq->q.head);
                /* Stop this queue; the host sees the commands time out. */
                sq->q.tail = sq->q.head;
                return;
            }
            QTAILQ_REMOVE(&sq->free_reqs, req, entry);
            QTAILQ_INSERT_TAIL(&sq->out_reqs, req, entry);
            req->result = 0;
            if (sqe.opcode == NVME_CMD_DSM) {
                /* Rare and up to 4 KiB: not worth a per-slot buffer. */
                req->r.ranges = g_new(struct nac_dsm_range,
                                      NAC_DSM_MAX_RANGES);
            }
            req->status = nac_cmd_decode(&n->core, &n->ns, &n->io_mem, &sqe,
                                         &req->r);
            if (!nvme_accel_bounce_reserve(req)) {
                /* Fetched again when its turn for bounce memory comes. */
                nac_sq_unfetch(&sq->q);
                QTAILQ_REMOVE(&sq->out_reqs, req, entry);
                nvme_accel_req_release(req);
                return;
            }
            trace_nvme_accel_io_cmd(sq->q.qid, le16_to_cpu(sqe.cid),
                                    sqe.opcode, req->status);
            if (req->status) {
                nvme_accel_complete(req);
            } else {
                nvme_accel_submit(req);
            }
        }
        /* Emptied (a host may move its tail back): no turn to wait for. */
        nvme_accel_bounce_pass(n, sq);
        /* Publish the event index, then catch a racing submission. */
        ret = nac_sq_arm(&sq->q, &n->mem);
        if (ret <= 0) {
            if (ret == -EINVAL) {
                nvme_accel_db_value_error(n, "sq shadow", sq->q.qid,
                                          sq->q.tail);
            }
            return;
        }
    }
}

/*
 * May the userspace datapath fetch from this I/O SQ now? Not after CFS (a
 * pair the module could not hand back has stale indexes) until the guest
 * resets the controller, nor without Bus Master Enable.
 */
static bool nvme_accel_sq_may_fetch(NvmeAccelCtrl *n, NvmeAccelSQ *sq)
{
    return !n->io_stopped && !sq->in_kernel &&
           !(qatomic_read(&n->csts) & NVME_CSTS_FAILED) &&
           nvme_accel_bus_master(n);
}

static void nvme_accel_sq_bh(void *opaque)
{
    NvmeAccelSQ *sq = opaque;
    NvmeAccelCtrl *n = sq->ctrl;
    uint32_t val;
    int ret;

    if (sq->q.qid == 0) {
        if (n->qchange_depth) {
            /* Polled from inside a queue change: after it. */
            trace_nvme_accel_admin_deferred(n->qchange_depth);
            n->admin_deferred = true;
            return;
        }
        nvme_accel_admin_process(sq);
        return;
    }
    if (!nvme_accel_sq_may_fetch(n, sq)) {
        return;
    }
    if (sq->q.shadow_db) {
        ret = nac_sq_read_shadow(&sq->q, &n->mem);
    } else {
        val = qatomic_read(&sq->db_val);
        ret = nac_sq_doorbell(&sq->q, val);
    }
    if (ret == -EINVAL) {
        nvme_accel_db_value_error(n, "sq", sq->q.qid, sq->q.tail);
    } else if (ret) {
        trace_nvme_accel_err_sq_shadow(sq->q.qid, ret);
    }
    nvme_accel_io_sq_run(sq);
}

static void nvme_accel_sq_notifier(EventNotifier *e)
{
    NvmeAccelSQ *sq = container_of(e, NvmeAccelSQ, notifier);

    if (event_notifier_test_and_clear(e)) {
        nvme_accel_sq_bh(sq);
    }
}

/*
 * AioContext polling: has the host written a shadow tail the bottom half
 * has not seen? Each value counts once: one out of range, or entries that
 * wait for requests (starved) or bounce memory, or behind a failed fetch,
 * is no work to poll for; the iothread would spin on it. The host rings
 * the MMIO doorbell past the event index anyway, so polling that stops
 * early loses nothing.
 */
static bool nvme_accel_sq_poll(void *opaque)
{
    EventNotifier *e = opaque;
    NvmeAccelSQ *sq = container_of(e, NvmeAccelSQ, notifier);
    uint32_t le_tail, tail;

    if (!nvme_accel_sq_may_fetch(sq->ctrl, sq) || !sq->q.shadow_db ||
        sq->starved || sq->bounce_wait) {
        return false;
    }
    if (sq->ctrl->mem.ops->read(sq->ctrl, sq->q.shadow_db, &le_tail,
                                sizeof(le_tail))) {
        return false;
    }
    tail = le32_to_cpu(le_tail);
    if (tail == sq->poll_tail) {
        return false;
    }
    sq->poll_tail = tail;
    return tail != sq->q.tail;
}

static void nvme_accel_sq_poll_ready(EventNotifier *e)
{
    nvme_accel_sq_bh(container_of(e, NvmeAccelSQ, notifier));
}

static void nvme_accel_cq_bh(void *opaque)
{
    NvmeAccelCQ *cq = opaque;
    NvmeAccelCtrl *n = cq->ctrl;

    if (!cq->q.shadow_db &&
        nac_cq_doorbell(&cq->q, qatomic_read(&cq->db_val))) {
        nvme_accel_db_value_error(n, "cq", cq->q.qid,
                                  qatomic_read(&cq->db_val));
    }
    nvme_accel_cq_flush(cq);
    /* Pin-based interrupts may drop now that the host reaped entries. */
    if (!msix_enabled(PCI_DEVICE(n))) {
        if (qemu_in_main_thread()) {
            nvme_accel_intx_reaped(n);
        } else {
            qemu_bh_schedule(n->intx_bh);
        }
    }
}

/*
 * Before a userspace pair moves to the module: MMIO doorbells written since
 * its bottom halves last ran (one that ran with I/O stopped, say in the
 * drain of nvme_accel_io_quiesce(), left its value in db_val) and the
 * completions its CQ holds back. Otherwise the module starts from older
 * indexes and never fetches what the guest submitted.
 */
static void nvme_accel_pair_sync_in_ctx(NvmeAccelCtrl *n, void *arg)
{
    NvmeAccelSQ *sq = arg;
    NvmeAccelCQ *cq = n->cq[sq->q.cqid];

    if (!sq->q.shadow_db &&
        nac_sq_doorbell(&sq->q, qatomic_read(&sq->db_val))) {
        nvme_accel_db_value_error(n, "sq", sq->q.qid,
                                  qatomic_read(&sq->db_val));
    }
    if (cq) {
        nvme_accel_cq_bh(cq);
        /* The module starts without our coalescing state: send it now. */
        if (cq->q.pending) {
            timer_del(cq->coalesce_timer);
            cq->q.pending = 0;
            cq->q.pending_since = 0;
            nvme_accel_irq_notify(n, cq);
        }
    }
}

/* MMIO doorbells (main loop, BQL). Range checks that need no queue state. */
void nvme_accel_sq_doorbell(NvmeAccelCtrl *n, NvmeAccelSQ *sq, uint32_t val)
{
    trace_nvme_accel_sq_doorbell(sq->q.qid, val);
    if (val >= sq->q.size) {
        nvme_accel_db_value_error(n, "sq", sq->q.qid, val);
        return;
    }
    if (sq->in_kernel) {
        nvme_accel_kernel_doorbell(n, sq->q.qid, false, val);
        return;
    }
    qatomic_set(&sq->db_val, val);
    qemu_bh_schedule(sq->bh);
}

void nvme_accel_cq_doorbell(NvmeAccelCtrl *n, NvmeAccelCQ *cq, uint32_t val)
{
    trace_nvme_accel_cq_doorbell(cq->q.qid, val);
    if (val >= cq->q.size) {
        nvme_accel_db_value_error(n, "cq", cq->q.qid, val);
        return;
    }
    if (cq->in_kernel) {
        nvme_accel_kernel_doorbell(n, cq->q.qid, true, val);
        return;
    }
    qatomic_set(&cq->db_val, val);
    if (cq->q.qid == 0) {
        /* Admin CQ: main loop state, apply now. */
        if (nac_cq_doorbell(&cq->q, val)) {
            nvme_accel_db_value_error(n, "cq", 0, val);
        }
        nvme_accel_intx_reaped(n);
        /* Room for completions again: resume the admin queue. */
        if (n->sq[0]) {
            qemu_bh_schedule(n->sq[0]->bh);
        }
        return;
    }
    qemu_bh_schedule(cq->bh);
}

/* --- ioeventfd ---------------------------------------------------------- */

static void nvme_accel_sq_attach_notifier(NvmeAccelCtrl *n, void *arg)
{
    NvmeAccelSQ *sq = arg;

    aio_set_event_notifier(n->ctx, &sq->notifier, nvme_accel_sq_notifier,
                           nvme_accel_sq_poll, nvme_accel_sq_poll_ready);
}

static void nvme_accel_sq_detach_notifier(NvmeAccelCtrl *n, void *arg)
{
    NvmeAccelSQ *sq = arg;

    aio_set_event_notifier(n->ctx, &sq->notifier, NULL, NULL, NULL);
}

/*
 * With shadow doorbells the tail is in guest memory, so the MMIO write only
 * has to wake us: a KVM ioeventfd, no exit to QEMU.
 */
static int nvme_accel_sq_ioeventfd_init(NvmeAccelCtrl *n, NvmeAccelSQ *sq)
{
    hwaddr offset = NVME_ACCEL_REG_SIZE + 2 * sq->q.qid * NVME_ACCEL_DB_STRIDE;
    int ret;

    ret = event_notifier_init(&sq->notifier, 0);
    if (ret < 0) {
        return ret;
    }
    nvme_accel_run_in_ctx(n, nvme_accel_sq_attach_notifier, sq);
    memory_region_add_eventfd(&n->iomem, offset, 4, false, 0, &sq->notifier);
    sq->ioeventfd_enabled = true;
    return 0;
}

static void nvme_accel_sq_ioeventfd_cleanup(NvmeAccelCtrl *n, NvmeAccelSQ *sq)
{
    hwaddr offset = NVME_ACCEL_REG_SIZE + 2 * sq->q.qid * NVME_ACCEL_DB_STRIDE;

    if (!sq->ioeventfd_enabled) {
        return;
    }
    memory_region_del_eventfd(&n->iomem, offset, 4, false, 0, &sq->notifier);
    nvme_accel_run_in_ctx(n, nvme_accel_sq_detach_notifier, sq);
    event_notifier_cleanup(&sq->notifier);
    sq->ioeventfd_enabled = false;
}

static void nvme_accel_sq_set_shadow(NvmeAccelCtrl *n, NvmeAccelSQ *sq)
{
    uint16_t qid = sq->q.qid;

    if (!n->dbbuf_dbs || qid == 0) {
        return;
    }
    nac_sq_set_shadow(&sq->q,
                      nvme_accel_shadow_addr(n->dbbuf_dbs, qid, false),
                      nvme_accel_shadow_addr(n->dbbuf_eis, qid, false));
    if (n->params.ioeventfd && !sq->ioeventfd_enabled && !sq->in_kernel &&
        nvme_accel_sq_ioeventfd_init(n, sq) < 0) {
        /* MMIO doorbells still work; just slower. */
        trace_nvme_accel_err_ioeventfd(qid);
    }
}

static void nvme_accel_cq_set_shadow_in_ctx(NvmeAccelCtrl *n, void *arg)
{
    NvmeAccelCQ *cq = arg;
    uint16_t qid = cq->q.qid;

    nac_cq_set_shadow(&cq->q,
                      nvme_accel_shadow_addr(n->dbbuf_dbs, qid, true),
                      nvme_accel_shadow_addr(n->dbbuf_eis, qid, true));
}

/* In the I/O context: a quiesce stops no CQ bottom half. */
static void nvme_accel_cq_set_shadow(NvmeAccelCtrl *n, NvmeAccelCQ *cq)
{
    if (!n->dbbuf_dbs || cq->q.qid == 0) {
        return;
    }
    nvme_accel_run_in_ctx(n, nvme_accel_cq_set_shadow_in_ctx, cq);
}

/*
 * Doorbell Buffer Config. The admin queue keeps using MMIO doorbells: Linux
 * never updates its shadow entries.
 */
void nvme_accel_dbbuf_enable(NvmeAccelCtrl *n, uint64_t dbs, uint64_t eis)
{
    unsigned i;

    bool was_kernel[NVME_ACCEL_MAX_QPAIRS + 1] = { false };

    nvme_accel_io_quiesce(n);
    /* Pairs in the module learn their shadow doorbells by re-creation. */
    for (i = 1; i < n->nr_qpairs; i++) {
        if (n->sq[i] && n->sq[i]->in_kernel) {
            was_kernel[i] = true;
            nvme_accel_kernel_take_back(n, n->sq[i]);
        }
    }
    n->dbbuf_dbs = dbs;
    n->dbbuf_eis = eis;
    for (i = 1; i < n->nr_qpairs; i++) {
        if (n->cq[i]) {
            nvme_accel_cq_set_shadow(n, n->cq[i]);
        }
        if (n->sq[i] && !(was_kernel[i] &&
                          nvme_accel_kernel_rehome(n, n->sq[i]))) {
            nvme_accel_sq_set_shadow(n, n->sq[i]);
        }
    }
    nvme_accel_io_resume(n);
}

/* --- queue life cycle --------------------------------------------------- */

/*
 * The device's MMIO re-entrancy guard is a plain flag: set while an I/O
 * thread runs one of our BHs, it would make the main loop drop concurrent
 * doorbell writes. So BHs of an I/O thread go unguarded; re-entrancy is
 * still impossible because the device only transfers to and from RAM.
 */
static QEMUBH *nvme_accel_bh_new(NvmeAccelCtrl *n, AioContext *ctx,
                                 QEMUBHFunc *cb, void *opaque)
{
    if (ctx == qemu_get_aio_context()) {
        return aio_bh_new_guarded(ctx, cb, opaque,
                                  &DEVICE(n)->mem_reentrancy_guard);
    }
    return aio_bh_new(ctx, cb, opaque);
}

uint16_t nvme_accel_create_cq(NvmeAccelCtrl *n, uint16_t cqid, uint64_t addr,
                              uint32_t size, uint16_t vector, bool ien)
{
    NvmeAccelCQ *cq = g_new0(NvmeAccelCQ, 1);
    AioContext *ctx = cqid ? n->ctx : qemu_get_aio_context();

    if (nac_cq_init(&cq->q, cqid, vector, ien, addr, size)) {
        g_free(cq);
        return NVME_INVALID_FIELD | NVME_DNR;
    }
    cq->ctrl = n;
    nvme_accel_ring_init(n, &cq->ring, addr, (uint64_t)size * NAC_CQE_SIZE,
                         true);
    QTAILQ_INIT(&cq->done_reqs);
    cq->bh = nvme_accel_bh_new(n, ctx, nvme_accel_cq_bh, cq);
    cq->coalesce_timer = aio_timer_new(ctx, QEMU_CLOCK_VIRTUAL, SCALE_NS,
                                       nvme_accel_coalesce_timer, cq);
    if (cqid) {
        uint32_t intc = n->features.int_coalescing;

        cq->q.aggr_thr = NVME_INTC_THR(intc);
        cq->q.aggr_time = NVME_INTC_TIME(intc);
        cq->q.coalesce = !(n->iv_nocoalesce[vector / 32] &
                           (1u << (vector % 32)));
        nvme_accel_io_quiesce(n);
        nvme_accel_cq_set_shadow(n, cq);
        n->cq[cqid] = cq;
        nvme_accel_io_resume(n);
    } else {
        n->cq[0] = cq;
    }
    trace_nvme_accel_create_cq(cqid, addr, size, vector, ien);
    return NVME_SUCCESS;
}

uint16_t nvme_accel_create_sq(NvmeAccelCtrl *n, uint16_t sqid, uint16_t cqid,
                              uint64_t addr, uint32_t size)
{
    NvmeAccelSQ *sq = g_new0(NvmeAccelSQ, 1);
    AioContext *ctx = sqid ? n->ctx : qemu_get_aio_context();
    /*
     * Scatter list room per request: a PRP walk of MDTS bytes. An SGL with
     * more discontiguous blocks than that is streamed through a bounce
     * buffer (nac_req.streamed).
     */
    uint32_t sg_per_req = nac_prp_sg_max(n->core.max_xfer ?: 2 * MiB,
                                         n->core.page_shift);
    uint32_t i;

    if (nac_sq_init(&sq->q, sqid, cqid, addr, size)) {
        g_free(sq);
        return NVME_INVALID_FIELD | NVME_DNR;
    }
    sq->ctrl = n;
    nvme_accel_ring_init(n, &sq->ring, addr, (uint64_t)size * NAC_SQE_SIZE,
                         false);
    QTAILQ_INIT(&sq->free_reqs);
    QTAILQ_INIT(&sq->out_reqs);
    if (sqid) {
        /*
         * Commands in flight per SQ are capped, so a guest creating many
         * deep queues cannot make us allocate without bound; the rest wait
         * in the SQ until requests free up.
         */
        sq->nr_reqs = MIN(size, NVME_ACCEL_MAX_INFLIGHT);
        sq->reqs = g_new0(NvmeAccelRequest, sq->nr_reqs);
        sq->sg = g_new(struct nac_sg, (size_t)sq->nr_reqs * sg_per_req);
        for (i = 0; i < sq->nr_reqs; i++) {
            NvmeAccelRequest *req = &sq->reqs[i];

            req->sq = sq;
            qemu_iovec_init(&req->iov, 1);
            req->r.sg = &sq->sg[(size_t)i * sg_per_req];
            req->r.sg_max = sg_per_req;
            QTAILQ_INSERT_TAIL(&sq->free_reqs, req, entry);
        }
    }
    sq->bh = nvme_accel_bh_new(n, ctx, nvme_accel_sq_bh, sq);
    if (sqid) {
        NvmeAccelCQ *cq;

        nvme_accel_io_quiesce(n);
        cq = n->cq[cqid];       /* after the wait, which polls */
        assert(cq);             /* no admin command or reset ran in it */
        /* A second SQ on a CQ the module runs: run both here instead. */
        if (cq->in_kernel && n->sq[cqid]) {
            nvme_accel_kernel_take_back(n, n->sq[cqid]);
            nvme_accel_sq_set_shadow(n, n->sq[cqid]);
        }
        cq->nr_sqs++;
        n->sq[sqid] = sq;
        if (!n->kernel_wanted || !nvme_accel_kernel_adopt(n, sq)) {
            nvme_accel_sq_set_shadow(n, sq);
        }
        nvme_accel_io_resume(n);
    } else {
        n->sq[0] = sq;
    }
    trace_nvme_accel_create_sq(sqid, cqid, addr, size);
    return NVME_SUCCESS;
}

/* In the I/O context, with nothing in flight (after nvme_accel_io_quiesce). */
static void nvme_accel_free_sq(NvmeAccelCtrl *n, void *arg)
{
    NvmeAccelSQ *sq = arg;
    NvmeAccelCQ *cq = n->cq[sq->q.cqid];
    NvmeAccelRequest *req, *next;

    /* Completions still waiting for CQ space belong to a queue now gone. */
    if (cq) {
        if (cq->nr_carried && cq->carried_sqid == sq->q.qid) {
            nvme_accel_cq_drop_carried(cq);
        }
        QTAILQ_FOREACH_SAFE(req, &cq->done_reqs, entry, next) {
            if (req->sq == sq) {
                QTAILQ_REMOVE(&cq->done_reqs, req, entry);
                nvme_accel_req_release(req);
            }
        }
        cq->nr_sqs--;
    }
    assert(QTAILQ_EMPTY(&sq->out_reqs));
    sq->starved = false;
    nvme_accel_bounce_unwait(n, sq);
    qemu_bh_delete(sq->bh);
    n->sq[sq->q.qid] = NULL;
}

/* @cq_stays: Delete I/O SQ (its CQ's state matters), not a reset. */
static void nvme_accel_sq_delete(NvmeAccelCtrl *n, uint16_t sqid,
                                 bool cq_stays)
{
    NvmeAccelSQ *sq = n->sq[sqid];
    uint32_t i;

    trace_nvme_accel_delete_sq(sqid);
    if (sqid == 0) {
        qemu_bh_delete(sq->bh);
        n->sq[0] = NULL;
        n->admin_deferred = false;
        nvme_accel_ring_destroy(&sq->ring);
        g_free(sq);
        return;
    }
    nvme_accel_io_quiesce(n);
    /* The wait polled the main loop: look the queue up again. */
    sq = n->sq[sqid];
    if (!sq) {
        nvme_accel_io_resume(n);
        return;
    }
    if (cq_stays) {
        /* Its CQ lives on, maybe with a new SQ: the CQ's state comes back. */
        nvme_accel_kernel_delete(n, sq);
    } else {
        nvme_accel_kernel_destroy(n, sq);
    }
    nvme_accel_sq_ioeventfd_cleanup(n, sq);
    nvme_accel_run_in_ctx(n, nvme_accel_free_sq, sq);
    nvme_accel_io_resume(n);
    for (i = 0; i < sq->nr_reqs; i++) {
        qemu_iovec_destroy(&sq->reqs[i].iov);
        qemu_vfree(sq->reqs[i].bounce);
        g_free(sq->reqs[i].r.ranges);
    }
    g_free(sq->reqs);
    g_free(sq->sg);
    nvme_accel_ring_destroy(&sq->ring);
    g_free(sq);
}

void nvme_accel_delete_sq(NvmeAccelCtrl *n, uint16_t sqid)
{
    nvme_accel_sq_delete(n, sqid, true);
}

static void nvme_accel_free_cq(NvmeAccelCtrl *n, void *arg)
{
    NvmeAccelCQ *cq = arg;

    timer_free(cq->coalesce_timer);
    qemu_bh_delete(cq->bh);
    nvme_accel_cq_drop_carried(cq);
    n->cq[cq->q.qid] = NULL;
}

void nvme_accel_delete_cq(NvmeAccelCtrl *n, uint16_t cqid)
{
    NvmeAccelCQ *cq = n->cq[cqid];

    trace_nvme_accel_delete_cq(cqid);
    if (cqid == 0) {
        nvme_accel_free_cq(n, cq);
    } else {
        nvme_accel_io_quiesce(n);
        /* The wait polled the main loop: look the queue up again. */
        cq = n->cq[cqid];
        if (!cq) {
            nvme_accel_io_resume(n);
            return;
        }
        nvme_accel_run_in_ctx(n, nvme_accel_free_cq, cq);
        nvme_accel_io_resume(n);
    }
    nvme_accel_ring_destroy(&cq->ring);
    g_free(cq);
}

/* Controller reset: every queue goes, I/O queues first. */
void nvme_accel_queues_reset(NvmeAccelCtrl *n)
{
    unsigned i;

    /* One queue change: the I/O context stays stopped until all are gone. */
    nvme_accel_io_quiesce(n);
    for (i = n->nr_qpairs; i-- > 1;) {
        if (n->sq[i]) {
            nvme_accel_sq_delete(n, i, false);
        }
    }
    for (i = n->nr_qpairs; i-- > 1;) {
        if (n->cq[i]) {
            nvme_accel_delete_cq(n, i);
        }
    }
    /* Every request gave its bounce memory back, every SQ its turn. */
    assert(!n->bounce_bytes && QTAILQ_EMPTY(&n->bounce_waiters));
    nvme_accel_io_resume(n);
    if (n->sq[0]) {
        nvme_accel_sq_delete(n, 0, false);
    }
    if (n->cq[0]) {
        nvme_accel_delete_cq(n, 0);
    }
    n->dbbuf_dbs = 0;
    n->dbbuf_eis = 0;
}

static void nvme_accel_set_coalescing(NvmeAccelCtrl *n, void *arg)
{
    uint32_t intc = n->features.int_coalescing;
    unsigned i;

    for (i = 1; i < n->nr_qpairs; i++) {
        NvmeAccelCQ *cq = n->cq[i];

        if (cq) {
            cq->q.aggr_thr = NVME_INTC_THR(intc);
            cq->q.aggr_time = NVME_INTC_TIME(intc);
            cq->q.coalesce = !(n->iv_nocoalesce[cq->q.vector / 32] &
                               (1u << (cq->q.vector % 32)));
        }
    }
}

/* Interrupt Coalescing / Interrupt Vector Configuration changed. */
void nvme_accel_update_coalescing(NvmeAccelCtrl *n)
{
    nvme_accel_run_in_ctx(n, nvme_accel_set_coalescing, NULL);
    nvme_accel_kernel_coalescing(n);
}

void nvme_accel_pair_sync(NvmeAccelCtrl *n, NvmeAccelSQ *sq)
{
    nvme_accel_run_in_ctx(n, nvme_accel_pair_sync_in_ctx, sq);
}

/*
 * Hand a userspace pair to the module (I/O quiesced by the caller).
 * False: it stays here.
 */
bool nvme_accel_kernel_rehome(NvmeAccelCtrl *n, NvmeAccelSQ *sq)
{
    /* One the module cannot run keeps its ioeventfd. */
    if (!nvme_accel_kernel_eligible(n, sq)) {
        return false;
    }
    nvme_accel_sq_ioeventfd_cleanup(n, sq);
    return nvme_accel_kernel_adopt(n, sq);
}

/*
 * Every ring mapped again where the bus master address space maps it now,
 * swapped under RCU so that no access after this goes to the old place, in
 * whichever thread runs the queue (BQL held). Rings of pairs in the module
 * too: QEMU uses them again when they come back.
 */
static void nvme_accel_rings_refresh(NvmeAccelCtrl *n)
{
    for (unsigned i = 0; i < n->nr_qpairs; i++) {
        if (n->sq[i] && nvme_accel_ring_refresh(&n->sq[i]->ring)) {
            trace_nvme_accel_ring_remapped(i, false, n->sq[i]->ring.base);
        }
        if (n->cq[i] && nvme_accel_ring_refresh(&n->cq[i]->ring)) {
            trace_nvme_accel_ring_remapped(i, true, n->cq[i]->ring.base);
        }
    }
}

static bool nvme_accel_have_io_queues(NvmeAccelCtrl *n)
{
    for (unsigned i = 1; i < n->nr_qpairs; i++) {
        if (n->sq[i] || n->cq[i]) {
            return true;
        }
    }
    return false;
}

/*
 * Every pair not where @to_kernel wants it goes there, or stays in QEMU if
 * the module cannot run it. I/O quiesced by the caller.
 */
static void nvme_accel_pairs_move(NvmeAccelCtrl *n, bool to_kernel)
{
    unsigned i;

    for (i = 1; i < n->nr_qpairs; i++) {
        NvmeAccelSQ *sq = n->sq[i];

        if (!sq || sq->in_kernel == to_kernel) {
            continue;
        }
        if (to_kernel) {
            if (!nvme_accel_kernel_rehome(n, sq)) {
                nvme_accel_sq_set_shadow(n, sq);
            }
        } else {
            nvme_accel_kernel_take_back(n, sq);
            nvme_accel_sq_set_shadow(n, sq);
        }
    }
}

/*
 * Bus Master Enable changed. Without it the function must not touch
 * memory: pairs in the module come back (QEMU's accesses go through the
 * bus master address space, which BME gates), every ring is mapped again
 * (a cache made with BME set would keep reaching guest RAM), and nothing
 * is fetched or posted: completions and asynchronous events wait. With it
 * again, they go out, with an interrupt for every CQ that holds entries
 * (one sent meanwhile went nowhere), and the pairs go back to the module.
 */
void nvme_accel_bus_master_changed(NvmeAccelCtrl *n)
{
    bool on = nvme_accel_bus_master(n);
    unsigned i;

    trace_nvme_accel_bus_master(on);
    nvme_accel_rings_refresh(n);
    if (nvme_accel_have_io_queues(n)) {
        nvme_accel_io_quiesce(n);
        if (!on) {
            nvme_accel_pairs_move(n, false);
        }
        if (on && n->kernel_wanted) {
            nvme_accel_pairs_move(n, true);
        }
        nvme_accel_io_resume(n);
    }
    if (!on) {
        return;
    }
    for (i = 0; i < n->nr_qpairs; i++) {
        NvmeAccelCQ *cq = n->cq[i];

        if (cq && !cq->in_kernel && qatomic_read(&cq->q.tail) != cq->q.head) {
            nvme_accel_irq_notify(n, cq);
        }
    }
    if (n->sq[0]) {
        qemu_bh_schedule(n->sq[0]->bh);     /* commands and events held */
    }
}

/* Whether a pair runs where it should, see nvme_accel_kernel_recheck(). */
static bool nvme_accel_pair_misplaced(NvmeAccelCtrl *n, NvmeAccelSQ *sq)
{
    bool ok = nvme_accel_kernel_eligible(n, sq);

    return sq->in_kernel ? !ok || sq->drain_paused : ok && n->kernel_wanted;
}

/*
 * What the module may run changed (the namespace it was told of, the block
 * graph above the drive): pairs it may no longer run come back, pairs it
 * may run again go there, and pairs a drain stopped run again.
 */
void nvme_accel_kernel_recheck(NvmeAccelCtrl *n)
{
    bool misplaced = false;
    unsigned i;

    if (!n->kernel) {
        return;
    }
    /* Someone else's drain: every pair looks misplaced; decide after it. */
    if (n->blk_drained) {
        n->recheck_after_drain = true;
        return;
    }
    for (i = 1; i < n->nr_qpairs; i++) {
        misplaced |= n->sq[i] && nvme_accel_pair_misplaced(n, n->sq[i]);
    }
    if (!misplaced) {
        return;
    }
    /* Its blk_drain stops the module's pairs and runs those it may again. */
    nvme_accel_io_quiesce(n);
    /* That polled: a drained section (a coroutine's) may have begun. */
    if (n->blk_drained) {
        n->recheck_after_drain = true;
        nvme_accel_io_resume(n);
        return;
    }
    for (i = 1; i < n->nr_qpairs; i++) {
        NvmeAccelSQ *sq = n->sq[i];

        if (!sq || !nvme_accel_pair_misplaced(n, sq)) {
            continue;
        }
        if (sq->in_kernel) {
            nvme_accel_kernel_take_back(n, sq);
            nvme_accel_sq_set_shadow(n, sq);
        } else if (!nvme_accel_kernel_rehome(n, sq)) {
            nvme_accel_sq_set_shadow(n, sq);
        }
    }
    nvme_accel_io_resume(n);
}

static void nvme_accel_recheck_bh(void *opaque)
{
    NvmeAccelCtrl *n = opaque;

    /* Not in the middle of a queue change that polls: after it. */
    if (n->qchange_depth) {
        n->recheck_deferred = true;
        return;
    }
    nvme_accel_kernel_recheck(n);
}

/*
 * The memory map changed (the guest moved its memory: PAM, SMRAM, a
 * remapped region, a vIOMMU switched on): the rings follow it. Without Bus
 * Master Enable the bus master address space maps nothing; setting it
 * maps every ring again (bus_master_changed).
 */
static void nvme_accel_mem_commit(MemoryListener *listener)
{
    NvmeAccelCtrl *n = container_of(listener, NvmeAccelCtrl, mem_listener);

    if (nvme_accel_bus_master(n)) {
        nvme_accel_rings_refresh(n);
    }
}

void nvme_accel_remap_init(NvmeAccelCtrl *n)
{
    n->mem_listener = (MemoryListener) {
        .name = "nvme-accel",
        .commit = nvme_accel_mem_commit,
    };
    memory_listener_register(&n->mem_listener,
                             pci_get_address_space(PCI_DEVICE(n)));
}

void nvme_accel_remap_cleanup(NvmeAccelCtrl *n)
{
    if (n->mem_listener.commit) {
        memory_listener_unregister(&n->mem_listener);
        n->mem_listener.commit = NULL;
    }
}

/* Move every I/O queue pair to the module, or back to QEMU. */
void nvme_accel_kernel_switch(NvmeAccelCtrl *n, bool to_kernel)
{
    nvme_accel_io_quiesce(n);
    n->kernel_wanted = to_kernel;
    nvme_accel_pairs_move(n, to_kernel);
    nvme_accel_io_resume(n);
}

static void nvme_accel_intx_bh(void *opaque)
{
    nvme_accel_intx_reaped(opaque);
}

void nvme_accel_queue_init(NvmeAccelCtrl *n)
{
    QTAILQ_INIT(&n->bounce_waiters);
    n->db_error_bh = qemu_bh_new_guarded(nvme_accel_db_error_bh, n,
                                         &DEVICE(n)->mem_reentrancy_guard);
    n->intx_bh = qemu_bh_new_guarded(nvme_accel_intx_bh, n,
                                     &DEVICE(n)->mem_reentrancy_guard);
    n->recheck_bh = qemu_bh_new_guarded(nvme_accel_recheck_bh, n,
                                        &DEVICE(n)->mem_reentrancy_guard);
}

void nvme_accel_queue_cleanup(NvmeAccelCtrl *n)
{
    qemu_bh_delete(n->db_error_bh);
    qemu_bh_delete(n->intx_bh);
    qemu_bh_delete(n->recheck_bh);
}
