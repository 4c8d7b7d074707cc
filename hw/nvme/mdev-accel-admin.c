/*
 * nvme-accel: the admin queue
 *
 * Identify, queue management, log pages, features, asynchronous events,
 * abort, doorbell buffer config and keep alive. Runs in the main loop; data
 * pointers are walked by the shared core like the I/O path's.
 *
 * Copyright (c) 2026 The nvme-accel authors
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or later.
 * See the COPYING file in the top-level directory.
 */

#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/units.h"
#include "qemu/cutils.h"
#include "qemu/main-loop.h"
#include "hw/pci/msix.h"
#include "system/block-backend.h"
#include "mdev-accel.h"
#include "trace.h"

#define NVME_ACCEL_TEMPERATURE      0x143   /* 50 C in Kelvin */
#define NVME_ACCEL_TEMP_WARNING     0x157
#define NVME_ACCEL_TEMP_CRITICAL    0x175

/* Lifetime of one admin command. */
typedef struct NvmeAccelAdminCmd {
    struct nac_sqe sqe;
    uint32_t result;
} NvmeAccelAdminCmd;

static uint32_t cdw(uint32_t le)
{
    return le32_to_cpu(le);
}

/*
 * Move @len bytes between a controller buffer and the command's data
 * pointer (@to_host: controller to host).
 */
static uint16_t nvme_accel_admin_xfer(NvmeAccelCtrl *n,
                                      const struct nac_sqe *sqe,
                                      void *buf, uint32_t len, bool to_host)
{
    struct nac_sg sg[3];
    uint32_t nsg;
    uint16_t status;
    int ret;

    /* The PCIe transport uses PRPs for admin commands (NVMe 2.0 4.1). */
    if (sqe->flags >> NAC_SQE_PSDT_SHIFT) {
        return NVME_INVALID_FIELD | NVME_DNR;
    }
    status = nac_map_prp(&n->core, &n->mem, le64_to_cpu(sqe->dptr1),
                         le64_to_cpu(sqe->dptr2), len, to_host, sg,
                         ARRAY_SIZE(sg), &nsg);
    if (status) {
        return status;
    }
    ret = to_host ? nac_sg_write(&n->mem, sg, nsg, buf, len) :
                    nac_sg_read(&n->mem, sg, nsg, buf, len);
    return ret ? NVME_DATA_TRAS_ERROR | NVME_DNR : NVME_SUCCESS;
}

static uint16_t nvme_accel_admin_to_host(NvmeAccelCtrl *n,
                                         const struct nac_sqe *sqe,
                                         const void *buf, uint32_t len)
{
    return nvme_accel_admin_xfer(n, sqe, (void *)buf, len, true);
}

static uint16_t nvme_accel_admin_from_host(NvmeAccelCtrl *n,
                                           const struct nac_sqe *sqe,
                                           void *buf, uint32_t len)
{
    return nvme_accel_admin_xfer(n, sqe, buf, len, false);
}

/* --- asynchronous events and the error log ----------------------------- */

static bool nvme_accel_admin_post(NvmeAccelCtrl *n, uint16_t cid,
                                  uint16_t status, uint32_t result)
{
    NvmeAccelCQ *cq = n->cq[0];
    struct nac_cqe cqe = {
        .result = result,
        .sq_head = n->sq[0] ? n->sq[0]->q.head : 0,
        .sq_id = 0,
        .cid = cid,
        .status = status,
    };
    int ret = nac_cq_post(&cq->q, &cq->ring.mem, &cqe);

    if (ret == -EBUSY) {
        return false;
    }
    if (ret) {
        nvme_accel_fatal(n, "admin completion queue is not guest memory");
        return true;
    }
    trace_nvme_accel_admin_cqe(le16_to_cpu(cid), status, result);
    return true;
}

static void nvme_accel_aer_deliver(NvmeAccelCtrl *n)
{
    NvmeAccelAerEvent *ev;

    if (n->admin_cmd_running) {
        return;         /* nvme_accel_admin_process() delivers after it */
    }
    if (!nvme_accel_bus_master(n)) {
        return;         /* nvme_accel_bus_master_changed() kicks us */
    }
    while (n->outstanding_aers && n->cq[0] && !nac_cq_full(&n->cq[0]->q)) {
        QSIMPLEQ_FOREACH(ev, &n->aer_queue, entry) {
            if (!(n->aer_mask & (1 << ev->type))) {
                break;
            }
        }
        if (!ev) {
            return;
        }
        QSIMPLEQ_REMOVE(&n->aer_queue, ev, NvmeAccelAerEvent, entry);
        n->aer_queued--;
        n->aer_mask |= 1 << ev->type;
        n->outstanding_aers--;
        trace_nvme_accel_aer_deliver(ev->type, ev->info, ev->log_page);
        nvme_accel_admin_post(n, n->aer_reqs[n->outstanding_aers].cid, 0,
                              ev->type | ev->info << 8 | ev->log_page << 16);
        g_free(ev);
        nvme_accel_cq_irq(n->cq[0]);
    }
}

void nvme_accel_aer_enqueue(NvmeAccelCtrl *n, uint8_t type, uint8_t info,
                            uint8_t log_page)
{
    NvmeAccelAerEvent *ev;

    trace_nvme_accel_aer_enqueue(type, info, log_page);
    if (n->aer_queued >= NVME_ACCEL_MAX_AER_EVENTS) {
        trace_nvme_accel_err_aer_queue_full(type, info);
        return;
    }
    ev = g_new0(NvmeAccelAerEvent, 1);
    ev->type = type;
    ev->info = info;
    ev->log_page = log_page;
    QSIMPLEQ_INSERT_TAIL(&n->aer_queue, ev, entry);
    n->aer_queued++;
    nvme_accel_aer_deliver(n);
}

/* Reading a log page with RAE clear re-arms its event type. */
static void nvme_accel_aer_clear(NvmeAccelCtrl *n, uint8_t type)
{
    n->aer_mask &= ~(1 << type);
    nvme_accel_aer_deliver(n);
}

/* Errors the module could not report one by one still count. */
void nvme_accel_error_log_lost(NvmeAccelCtrl *n, uint64_t count)
{
    QEMU_LOCK_GUARD(&n->log_lock);
    n->stats.error_count += count;
}

void nvme_accel_error_log(NvmeAccelCtrl *n, uint16_t sqid, uint16_t cid,
                          uint16_t status, uint64_t lba)
{
    NvmeErrorLog *e;

    QEMU_LOCK_GUARD(&n->log_lock);
    e = &n->error_log[n->error_next];
    n->error_next = (n->error_next + 1) % ARRAY_SIZE(n->error_log);
    memset(e, 0, sizeof(*e));
    e->error_count = cpu_to_le64(++n->stats.error_count);
    e->sqid = cpu_to_le16(sqid);
    e->cid = cid;
    e->status_field = cpu_to_le16(status << 1);
    e->param_error_location = cpu_to_le16(0xffff);
    e->lba = cpu_to_le64(lba);
    e->nsid = cpu_to_le32(NVME_ACCEL_NSID);
}

/* --- identify ------------------------------------------------------------ */

static void nvme_accel_id_ctrl(NvmeAccelCtrl *n, NvmeIdCtrl *id)
{
    id->vid = cpu_to_le16(PCI_VENDOR_ID_REDHAT_QUMRANET);
    id->ssvid = cpu_to_le16(PCI_SUBVENDOR_ID_REDHAT_QUMRANET);
    strpadcpy((char *)id->mn, sizeof(id->mn), "QEMU NVMe Accel Ctrl", ' ');
    strpadcpy((char *)id->fr, sizeof(id->fr), QEMU_VERSION, ' ');
    strpadcpy((char *)id->sn, sizeof(id->sn), n->params.serial, ' ');
    id->rab = 6;
    /* IEEE OUI of Red Hat, as -device nvme reports. */
    id->ieee[0] = 0x00;
    id->ieee[1] = 0x54;
    id->ieee[2] = 0x52;
    id->mdts = n->params.mdts;
    id->cntlid = cpu_to_le16(0);
    id->ver = cpu_to_le32(NVME_ACCEL_VERSION_REG);
    id->oaes = cpu_to_le32(NVME_OAES_NS_ATTR);
    id->cntrltype = 0x1;    /* I/O controller */
    id->oacs = cpu_to_le16(n->params.shadow_doorbells ? NVME_OACS_DBCS : 0);
    id->acl = NVME_ACCEL_ACL;
    id->aerl = NVME_ACCEL_AERL;
    id->frmw = (1 << 1) | NVME_FRMW_SLOT1_RO;
    id->lpa = NVME_LPA_CSE | NVME_LPA_EXTENDED;
    id->elpe = NVME_ACCEL_ELPE;
    id->npss = 0;
    id->wctemp = cpu_to_le16(NVME_ACCEL_TEMP_WARNING);
    id->cctemp = cpu_to_le16(NVME_ACCEL_TEMP_CRITICAL);
    /* KAS 0: no Keep Alive (optional on PCIe), so none to enforce. */
    id->kas = 0;
    id->sqes = (6 << 4) | 6;
    id->cqes = (4 << 4) | 4;
    id->maxcmd = cpu_to_le16(n->params.max_queue_entries);
    id->nn = cpu_to_le32(1);
    id->oncs = cpu_to_le16(NVME_ONCS_COMPARE | NVME_ONCS_DSM |
                           NVME_ONCS_WRITE_ZEROES | NVME_ONCS_TIMESTAMP);
    id->fuses = 0;
    id->fna = 0;
    id->vwc = NVME_VWC_NSID_BROADCAST_SUPPORT | NVME_VWC_PRESENT;
    id->awun = 0;
    id->awupf = 0;
    id->sgls = cpu_to_le32(NVME_CTRL_SGLS_SUPPORT_NO_ALIGN |
                           NVME_CTRL_SGLS_MPTR_CONTIGUOUS |
                           NVME_CTRL_SGLS_MPTR_SGL);
    pstrcat((char *)id->subnqn, sizeof(id->subnqn),
            "nqn.2019-08.org.qemu:nvme-accel:");
    pstrcat((char *)id->subnqn, sizeof(id->subnqn), n->params.serial);
    /* Power state 0: 25 W, as a guess; no other states. */
    id->psd[0].mp = cpu_to_le16(0x9c4);
    id->psd[0].enlat = cpu_to_le32(0x10);
    id->psd[0].exlat = cpu_to_le32(0x4);
}

static void nvme_accel_id_ns(NvmeAccelCtrl *n, NvmeIdNs *id)
{
    id->nsze = cpu_to_le64(n->ns.nsze);
    id->ncap = id->nsze;
    id->nuse = id->nsze;
    /* Deallocate is supported; what reads return after it is undefined. */
    id->nsfeat = NVME_ID_NS_NSFEAT_THINP;
    id->nlbaf = 0;
    id->flbas = 0;
    id->dlfeat = NVME_ID_NS_DLFEAT_READ_BEHAVIOR_UNDEFINED;
    id->lbaf[0].ds = n->ns.lba_shift;
    id->nmic = 0;
    memcpy(id->nguid, &n->params.uuid, sizeof(id->nguid));
    id->npwg = 0;
    id->noiob = 0;
}

static uint16_t nvme_accel_identify(NvmeAccelCtrl *n,
                                    const struct nac_sqe *sqe)
{
    uint32_t nsid = cdw(sqe->nsid);
    uint8_t cns = cdw(sqe->cdw10) & 0xff;
    uint8_t csi = cdw(sqe->cdw11) >> 24;
    g_autofree uint8_t *buf = g_malloc0(NVME_IDENTIFY_DATA_SIZE);
    uint32_t *list = (uint32_t *)buf;

    trace_nvme_accel_identify(cns, nsid, csi);
    switch (cns) {
    case NVME_ID_CNS_CTRL:
        nvme_accel_id_ctrl(n, (NvmeIdCtrl *)buf);
        break;
    case NVME_ID_CNS_NS:
        /* FFFFFFFFh needs namespace management, which we do not offer. */
        if (nsid != NVME_ACCEL_NSID) {
            return NVME_INVALID_NSID | NVME_DNR;
        }
        nvme_accel_id_ns(n, (NvmeIdNs *)buf);
        break;
    case NVME_ID_CNS_CS_NS:
        if (csi != NVME_CSI_NVM) {
            return NVME_INVALID_FIELD | NVME_DNR;
        }
        if (nsid != NVME_ACCEL_NSID) {
            return NVME_INVALID_NSID | NVME_DNR;
        }
        /* NvmeIdNsNvm: no protection information, all zero. */
        break;
    case NVME_ID_CNS_CS_CTRL:
        if (csi != NVME_CSI_NVM) {
            return NVME_INVALID_FIELD | NVME_DNR;
        }
        /* NvmeIdCtrlNvm: DSM range limits. */
        ((NvmeIdCtrlNvm *)buf)->dmrl = NAC_DSM_MAX_RANGES - 1;
        break;
    case NVME_ID_CNS_CS_NS_ACTIVE_LIST:
        if (csi != NVME_CSI_NVM) {
            return NVME_INVALID_FIELD | NVME_DNR;
        }
        /* fall through */
    case NVME_ID_CNS_NS_ACTIVE_LIST:
        if (nsid >= NVME_NSID_BROADCAST - 1) {
            return NVME_INVALID_NSID | NVME_DNR;
        }
        if (nsid < NVME_ACCEL_NSID) {
            list[0] = cpu_to_le32(NVME_ACCEL_NSID);
        }
        break;
    case NVME_ID_CNS_NS_DESCR_LIST: {
        NvmeIdNsDescr *d;
        uint8_t *p = buf;

        if (nsid != NVME_ACCEL_NSID) {
            return NVME_INVALID_NSID | NVME_DNR;
        }
        d = (NvmeIdNsDescr *)p;
        d->nidt = NVME_NIDT_UUID;
        d->nidl = NVME_NIDL_UUID;
        memcpy(p + sizeof(*d), &n->params.uuid, NVME_NIDL_UUID);
        p += sizeof(*d) + NVME_NIDL_UUID;
        d = (NvmeIdNsDescr *)p;
        d->nidt = NVME_NIDT_CSI;
        d->nidl = NVME_NIDL_CSI;
        p[sizeof(*d)] = NVME_CSI_NVM;
        break;
    }
    case NVME_ID_CNS_CS_IND_NS: {
        NvmeIdNsInd *ind = (NvmeIdNsInd *)buf;

        if (nsid != NVME_ACCEL_NSID) {
            return NVME_INVALID_NSID | NVME_DNR;
        }
        ind->nsfeat = NVME_ID_NS_NSFEAT_THINP;
        break;
    }
    case NVME_ID_CNS_IO_COMMAND_SET:
        /* Index 0: the NVM command set only. */
        buf[0] = 1 << NVME_CSI_NVM;
        break;
    default:
        trace_nvme_accel_err_identify_cns(cns);
        return NVME_INVALID_FIELD | NVME_DNR;
    }
    return nvme_accel_admin_to_host(n, sqe, buf, NVME_IDENTIFY_DATA_SIZE);
}

/* --- queue management ----------------------------------------------------- */

/* What Create I/O CQ and Create I/O SQ check alike. */
static uint16_t nvme_accel_check_new_queue(NvmeAccelCtrl *n, bool is_cq,
                                           uint16_t qid, uint32_t size,
                                           bool pc, uint64_t addr)
{
    const char *kind = is_cq ? "cq" : "sq";
    uint16_t granted = is_cq ? n->features.nr_cq : n->features.nr_sq;
    bool exists = is_cq ? n->cq[qid % n->nr_qpairs] != NULL :
                          n->sq[qid % n->nr_qpairs] != NULL;

    if (!qid || qid >= n->nr_qpairs || exists || qid > granted + 1u) {
        NVME_ACCEL_GUEST_ERR(nvme_accel_err_create_qid, "%s qid %u", kind, qid);
        return NVME_INVALID_QID | NVME_DNR;
    }
    if (size < 2 || size > NVME_CAP_MQES(n->cap) + 1u) {
        NVME_ACCEL_GUEST_ERR(nvme_accel_err_create_size, "%s size %u", kind,
                             size);
        return NVME_MAX_QSIZE_EXCEEDED | NVME_DNR;
    }
    if (!pc) {
        /* CAP.CQR: only physically contiguous queues. */
        NVME_ACCEL_GUEST_ERR(nvme_accel_err_create_noncontig, "%s qid %u",
                             kind, qid);
        return NVME_INVALID_FIELD | NVME_DNR;
    }
    if (!addr || addr & ((1ULL << n->core.page_shift) - 1)) {
        NVME_ACCEL_GUEST_ERR(nvme_accel_err_create_addr, "%s 0x%"PRIx64, kind,
                             addr);
        return NVME_INVALID_PRP_OFFSET | NVME_DNR;
    }
    if ((is_cq ? NVME_CC_IOCQES(n->cc) != 4 : NVME_CC_IOSQES(n->cc) != 6)) {
        NVME_ACCEL_GUEST_ERR(nvme_accel_err_create_entry_size, "%s cc 0x%x",
                             kind, n->cc);
        return NVME_INVALID_FIELD | NVME_DNR;
    }
    return NVME_SUCCESS;
}

static uint16_t nvme_accel_admin_create_cq(NvmeAccelCtrl *n,
                                           const struct nac_sqe *sqe)
{
    uint32_t dw10 = cdw(sqe->cdw10), dw11 = cdw(sqe->cdw11);
    uint16_t qid = dw10 & 0xffff, vector = dw11 >> 16;
    uint32_t size = (dw10 >> 16) + 1;
    uint64_t addr = le64_to_cpu(sqe->dptr1);
    bool ien = dw11 & 2;
    uint16_t status;

    trace_nvme_accel_admin_create_cq(qid, addr, size, vector, ien);
    status = nvme_accel_check_new_queue(n, true, qid, size, dw11 & 1, addr);
    if (status) {
        return status;
    }
    if (vector >= n->nr_qpairs ||
        (!msix_enabled(PCI_DEVICE(n)) && vector != 0)) {
        NVME_ACCEL_GUEST_ERR(nvme_accel_err_create_cq_vector, "vector %u",
                             vector);
        return NVME_INVALID_IRQ_VECTOR | NVME_DNR;
    }
    return nvme_accel_create_cq(n, qid, addr, size, vector, ien);
}

static uint16_t nvme_accel_admin_create_sq(NvmeAccelCtrl *n,
                                           const struct nac_sqe *sqe)
{
    uint32_t dw10 = cdw(sqe->cdw10), dw11 = cdw(sqe->cdw11);
    uint16_t qid = dw10 & 0xffff, cqid = dw11 >> 16;
    uint32_t size = (dw10 >> 16) + 1;
    uint64_t addr = le64_to_cpu(sqe->dptr1);
    uint16_t status;

    trace_nvme_accel_admin_create_sq(qid, cqid, addr, size);
    status = nvme_accel_check_new_queue(n, false, qid, size, dw11 & 1, addr);
    if (status) {
        return status;
    }
    if (!cqid || cqid >= n->nr_qpairs || !n->cq[cqid]) {
        NVME_ACCEL_GUEST_ERR(nvme_accel_err_create_sq_cqid, "cqid %u", cqid);
        return NVME_INVALID_CQID | NVME_DNR;
    }
    return nvme_accel_create_sq(n, qid, cqid, addr, size);
}

static uint16_t nvme_accel_admin_delete_sq(NvmeAccelCtrl *n,
                                           const struct nac_sqe *sqe)
{
    uint16_t qid = cdw(sqe->cdw10) & 0xffff;

    if (!qid || qid >= n->nr_qpairs || !n->sq[qid]) {
        NVME_ACCEL_GUEST_ERR(nvme_accel_err_delete_sq_qid, "qid %u", qid);
        return NVME_INVALID_QID | NVME_DNR;
    }
    nvme_accel_delete_sq(n, qid);
    return NVME_SUCCESS;
}

static uint16_t nvme_accel_admin_delete_cq(NvmeAccelCtrl *n,
                                           const struct nac_sqe *sqe)
{
    uint16_t qid = cdw(sqe->cdw10) & 0xffff;

    if (!qid || qid >= n->nr_qpairs || !n->cq[qid]) {
        NVME_ACCEL_GUEST_ERR(nvme_accel_err_delete_cq_qid, "qid %u", qid);
        return NVME_INVALID_QID | NVME_DNR;
    }
    if (n->cq[qid]->nr_sqs) {
        NVME_ACCEL_GUEST_ERR(nvme_accel_err_delete_cq_busy, "qid %u", qid);
        return NVME_INVALID_QUEUE_DEL | NVME_DNR;
    }
    nvme_accel_delete_cq(n, qid);
    return NVME_SUCCESS;
}

/* --- log pages ------------------------------------------------------------ */

/* A 128-bit little-endian SMART counter (the struct is packed). */
#define NVME_ACCEL_SMART_PUT(s, field, val) \
    do { \
        uint64_t v_[2] = { cpu_to_le64(val), 0 }; \
        memcpy((uint8_t *)(s) + offsetof(NvmeSmartLog, field), v_, 16); \
    } while (0)

static void nvme_accel_smart_log(NvmeAccelCtrl *n, NvmeSmartLog *s)
{
    int64_t now = qemu_clock_get_ms(QEMU_CLOCK_VIRTUAL);
    uint8_t warn = n->smart_critical_warning;
    uint64_t units_read = qatomic_read(&n->stats.units_read);
    uint64_t units_written = qatomic_read(&n->stats.units_written);
    uint64_t reads = qatomic_read(&n->stats.read_commands);
    uint64_t writes = qatomic_read(&n->stats.write_commands);
    struct kvm_accel_stats kst;

    /* Commands the kvm-accel module ran count too. */
    if (nvme_accel_kernel_stats(n, &kst)) {
        units_read += kst.bytes_read >> BDRV_SECTOR_BITS;
        units_written += kst.bytes_written >> BDRV_SECTOR_BITS;
        reads += kst.reads;
        writes += kst.writes;
    }

    if (n->features.temp_over <= NVME_ACCEL_TEMPERATURE ||
        n->features.temp_under >= NVME_ACCEL_TEMPERATURE) {
        warn |= NVME_SMART_TEMPERATURE;
    }
    if (n->ns.read_only) {
        warn |= NVME_SMART_MEDIA_READ_ONLY;
    }
    s->critical_warning = warn;
    s->temperature = cpu_to_le16(NVME_ACCEL_TEMPERATURE);
    s->available_spare = 100;
    s->available_spare_threshold = 10;
    s->percentage_used = 0;
    /* Data units: thousands of 512-byte units, rounded up. */
    NVME_ACCEL_SMART_PUT(s, data_units_read, DIV_ROUND_UP(units_read, 1000));
    NVME_ACCEL_SMART_PUT(s, data_units_written,
                         DIV_ROUND_UP(units_written, 1000));
    NVME_ACCEL_SMART_PUT(s, host_read_commands, reads);
    NVME_ACCEL_SMART_PUT(s, host_write_commands, writes);
    NVME_ACCEL_SMART_PUT(s, power_cycles, n->stats.power_cycles);
    NVME_ACCEL_SMART_PUT(s, power_on_hours, (now - n->starttime_ms) / 3600000);
    NVME_ACCEL_SMART_PUT(s, unsafe_shutdowns, n->stats.unsafe_shutdowns);
    NVME_ACCEL_SMART_PUT(s, media_errors, qatomic_read(&n->stats.media_errors));
    NVME_ACCEL_SMART_PUT(s, number_of_error_log_entries, n->stats.error_count);
}

static void nvme_accel_effects_log(NvmeEffectsLog *e)
{
    static const uint8_t admin[] = {
        NVME_ADM_CMD_DELETE_SQ, NVME_ADM_CMD_CREATE_SQ,
        NVME_ADM_CMD_GET_LOG_PAGE, NVME_ADM_CMD_DELETE_CQ,
        NVME_ADM_CMD_CREATE_CQ, NVME_ADM_CMD_IDENTIFY, NVME_ADM_CMD_ABORT,
        NVME_ADM_CMD_SET_FEATURES, NVME_ADM_CMD_GET_FEATURES,
        NVME_ADM_CMD_ASYNC_EV_REQ, NVME_ADM_CMD_DBBUF_CONFIG,
    };
    static const uint8_t io[] = {
        NVME_CMD_FLUSH, NVME_CMD_READ, NVME_CMD_COMPARE,
    };
    static const uint8_t io_writes[] = {
        NVME_CMD_WRITE, NVME_CMD_WRITE_ZEROES, NVME_CMD_DSM,
    };
    unsigned i;

    for (i = 0; i < ARRAY_SIZE(admin); i++) {
        e->acs[admin[i]] = cpu_to_le32(NVME_CMD_EFF_CSUPP);
    }
    for (i = 0; i < ARRAY_SIZE(io); i++) {
        e->iocs[io[i]] = cpu_to_le32(NVME_CMD_EFF_CSUPP);
    }
    for (i = 0; i < ARRAY_SIZE(io_writes); i++) {
        e->iocs[io_writes[i]] = cpu_to_le32(NVME_CMD_EFF_CSUPP |
                                            NVME_CMD_EFF_LBCC);
    }
}

/* Supported Log Pages (NVMe 2.0): not in QEMU 10.0's block/nvme.h. */
#define NVME_ACCEL_LOG_SUPPORTED    0x00
#define NVME_ACCEL_LOG_LSUPP        (1u << 0)

static const uint8_t nvme_accel_log_ids[] = {
    NVME_ACCEL_LOG_SUPPORTED, NVME_LOG_ERROR_INFO, NVME_LOG_SMART_INFO,
    NVME_LOG_FW_SLOT_INFO, NVME_LOG_CHANGED_NSLIST, NVME_LOG_CMD_EFFECTS,
};

static uint16_t nvme_accel_get_log(NvmeAccelCtrl *n, const struct nac_sqe *sqe)
{
    uint32_t dw10 = cdw(sqe->cdw10), dw11 = cdw(sqe->cdw11);
    uint8_t lid = dw10 & 0xff;
    bool rae = dw10 & (1 << 15);
    uint32_t numd = (dw10 >> 16) | (dw11 & 0xffff) << 16;
    uint64_t len = ((uint64_t)numd + 1) * 4;
    uint64_t off = (uint64_t)cdw(sqe->cdw13) << 32 | cdw(sqe->cdw12);
    uint32_t nsid = cdw(sqe->nsid);
    g_autofree uint8_t *buf = NULL;
    size_t size;
    uint16_t status;
    unsigned i;

    trace_nvme_accel_get_log(lid, off, len, rae);
    switch (lid) {
    case NVME_ACCEL_LOG_SUPPORTED:
        size = 256 * sizeof(uint32_t);
        buf = g_malloc0(size);
        for (i = 0; i < ARRAY_SIZE(nvme_accel_log_ids); i++) {
            stl_le_p(buf + nvme_accel_log_ids[i] * sizeof(uint32_t),
                     NVME_ACCEL_LOG_LSUPP);
        }
        break;
    case NVME_LOG_ERROR_INFO:
        /* Errors of commands the module completed, up to this moment. */
        nvme_accel_kernel_poll_events(n, false);
        size = sizeof(n->error_log);
        buf = g_malloc0(size);
        qemu_mutex_lock(&n->log_lock);
        /* Newest first. */
        for (i = 0; i < ARRAY_SIZE(n->error_log); i++) {
            unsigned idx = (n->error_next + ARRAY_SIZE(n->error_log) - 1 - i) %
                           ARRAY_SIZE(n->error_log);

            memcpy(buf + i * sizeof(NvmeErrorLog), &n->error_log[idx],
                   sizeof(NvmeErrorLog));
        }
        qemu_mutex_unlock(&n->log_lock);
        break;
    case NVME_LOG_SMART_INFO:
        if (nsid != 0 && nsid != NVME_NSID_BROADCAST &&
            nsid != NVME_ACCEL_NSID) {
            return NVME_INVALID_NSID | NVME_DNR;
        }
        size = sizeof(NvmeSmartLog);
        buf = g_malloc0(size);
        nvme_accel_smart_log(n, (NvmeSmartLog *)buf);
        break;
    case NVME_LOG_FW_SLOT_INFO: {
        NvmeFwSlotInfoLog *fw;

        size = sizeof(*fw);
        buf = g_malloc0(size);
        fw = (NvmeFwSlotInfoLog *)buf;
        fw->afi = 1;
        strpadcpy((char *)fw->frs1, sizeof(fw->frs1), QEMU_VERSION, ' ');
        break;
    }
    case NVME_LOG_CHANGED_NSLIST:
        size = 4096;
        buf = g_malloc0(size);
        if (n->changed_ns) {
            *(uint32_t *)buf = cpu_to_le32(NVME_ACCEL_NSID);
        }
        if (!rae) {
            n->changed_ns = 0;
        }
        break;
    case NVME_LOG_CMD_EFFECTS:
        size = sizeof(NvmeEffectsLog);
        buf = g_malloc0(size);
        nvme_accel_effects_log((NvmeEffectsLog *)buf);
        break;
    default:
        NVME_ACCEL_GUEST_ERR(nvme_accel_err_get_log_lid, "lid 0x%x", lid);
        return NVME_INVALID_LOG_ID | NVME_DNR;
    }
    if (off & 3 || off >= size) {
        NVME_ACCEL_GUEST_ERR(nvme_accel_err_get_log_offset, "0x%"PRIx64, off);
        return NVME_INVALID_FIELD | NVME_DNR;
    }
    if (len > n->core.max_xfer) {
        return NVME_INVALID_FIELD | NVME_DNR;
    }
    /*
     * Asked for more than the page has: what there is, then zeros. The
     * data pointer is walked for the length asked (whether PRP2 is a page
     * or a list depends on it).
     */
    if (len > size - off) {
        buf = g_realloc(buf, off + len);
        memset(buf + size, 0, off + len - size);
    }
    status = nvme_accel_admin_to_host(n, sqe, buf + off, len);
    if (status) {
        return status;
    }
    if (!rae) {
        switch (lid) {
        case NVME_LOG_ERROR_INFO:
            nvme_accel_aer_clear(n, NVME_AER_TYPE_ERROR);
            break;
        case NVME_LOG_SMART_INFO:
            nvme_accel_aer_clear(n, NVME_AER_TYPE_SMART);
            break;
        case NVME_LOG_CHANGED_NSLIST:
            nvme_accel_aer_clear(n, NVME_AER_TYPE_NOTICE);
            break;
        }
    }
    return NVME_SUCCESS;
}

/* --- features ------------------------------------------------------------- */

static void nvme_accel_features_default(NvmeAccelCtrl *n,
                                        NvmeAccelFeatures *f)
{
    memset(f, 0, sizeof(*f));
    f->arbitration = NVME_ARB_AB_NOLIMIT;
    f->temp_over = NVME_ACCEL_TEMP_WARNING;
    f->temp_under = 0;
    f->vwc = n->wce_default;
    f->nr_sq = n->params.max_ioqpairs - 1;
    f->nr_cq = n->params.max_ioqpairs - 1;
}

static bool nvme_accel_io_queues_exist(NvmeAccelCtrl *n)
{
    for (unsigned i = 1; i < n->nr_qpairs; i++) {
        if (n->sq[i] || n->cq[i]) {
            return true;
        }
    }
    return false;
}

static uint64_t nvme_accel_timestamp(NvmeAccelCtrl *n)
{
    int64_t now = qemu_clock_get_ms(QEMU_CLOCK_VIRTUAL);
    uint64_t ts, attr;

    if (n->features.timestamp_set) {
        ts = now - n->features.timestamp_base;
        attr = 1 << 1;      /* Timestamp Origin: set by the host */
    } else {
        ts = now - n->starttime_ms;
        attr = 0;           /* ...since the last reset */
    }
    return (ts & ((1ULL << 48) - 1)) | attr << 48;
}

static uint16_t nvme_accel_get_features(NvmeAccelCtrl *n,
                                        const struct nac_sqe *sqe,
                                        uint32_t *result)
{
    uint32_t dw10 = cdw(sqe->cdw10), dw11 = cdw(sqe->cdw11);
    uint8_t fid = NVME_GETSETFEAT_FID(dw10), sel = NVME_GETFEAT_SELECT(dw10);
    NvmeAccelFeatures def, *f = &n->features;
    uint16_t iv;

    trace_nvme_accel_get_features(fid, sel, dw11);
    if (sel > NVME_GETFEAT_SELECT_CAP) {
        return NVME_INVALID_FIELD | NVME_DNR;
    }
    if (sel == NVME_GETFEAT_SELECT_DEFAULT ||
        sel == NVME_GETFEAT_SELECT_SAVED) {
        /* Nothing is saveable: saved values are the defaults. */
        nvme_accel_features_default(n, &def);
        f = &def;
    }

    switch (fid) {
    case NVME_ARBITRATION:
        *result = f->arbitration;
        break;
    case NVME_POWER_MANAGEMENT:
        *result = f->power_mgmt;
        break;
    case NVME_TEMPERATURE_THRESHOLD:
        if (NVME_TEMP_TMPSEL(dw11) != NVME_TEMP_TMPSEL_COMPOSITE) {
            return NVME_INVALID_FIELD | NVME_DNR;
        }
        switch (NVME_TEMP_THSEL(dw11)) {
        case NVME_TEMP_THSEL_OVER:
            *result = f->temp_over;
            break;
        case NVME_TEMP_THSEL_UNDER:
            *result = f->temp_under;
            break;
        default:
            return NVME_INVALID_FIELD | NVME_DNR;
        }
        break;
    case NVME_ERROR_RECOVERY:
        if (cdw(sqe->nsid) != NVME_ACCEL_NSID &&
            cdw(sqe->nsid) != NVME_NSID_BROADCAST) {
            return NVME_INVALID_NSID | NVME_DNR;
        }
        *result = f->err_rec;
        break;
    case NVME_VOLATILE_WRITE_CACHE:
        *result = f->vwc;
        break;
    case NVME_NUMBER_OF_QUEUES:
        *result = f->nr_sq | (uint32_t)f->nr_cq << 16;
        break;
    case NVME_INTERRUPT_COALESCING:
        *result = f->int_coalescing;
        break;
    case NVME_INTERRUPT_VECTOR_CONF:
        iv = dw11 & 0xffff;
        if (iv >= n->nr_qpairs) {
            return NVME_INVALID_FIELD | NVME_DNR;
        }
        *result = iv;
        if (f == &n->features &&
            n->iv_nocoalesce[iv / 32] & (1u << (iv % 32))) {
            *result |= NVME_INTVC_NOCOALESCING;
        }
        break;
    case NVME_WRITE_ATOMICITY:
        *result = f->write_atomicity;
        break;
    case NVME_ASYNCHRONOUS_EVENT_CONF:
        *result = f->async_config;
        break;
    case NVME_TIMESTAMP: {
        uint64_t ts = cpu_to_le64(nvme_accel_timestamp(n));

        if (sel == NVME_GETFEAT_SELECT_CAP) {
            break;
        }
        return nvme_accel_admin_to_host(n, sqe, &ts, sizeof(ts));
    }
    default:
        NVME_ACCEL_GUEST_ERR(nvme_accel_err_feature_fid, "fid 0x%x", fid);
        return NVME_INVALID_FIELD | NVME_DNR;
    }
    if (sel == NVME_GETFEAT_SELECT_CAP) {
        /* Changeable, not saveable; Error Recovery is per namespace. */
        *result = NVME_FEAT_CAP_CHANGE |
                  (fid == NVME_ERROR_RECOVERY ? NVME_FEAT_CAP_NS : 0);
    }
    return NVME_SUCCESS;
}

static uint16_t nvme_accel_set_features(NvmeAccelCtrl *n,
                                        const struct nac_sqe *sqe,
                                        uint32_t *result)
{
    uint32_t dw10 = cdw(sqe->cdw10), dw11 = cdw(sqe->cdw11);
    uint8_t fid = NVME_GETSETFEAT_FID(dw10);
    NvmeAccelFeatures *f = &n->features;
    uint16_t iv, nsq, ncq;
    uint64_t ts;
    uint16_t status;

    trace_nvme_accel_set_features(fid, dw11);
    if (NVME_SETFEAT_SAVE(dw10)) {
        return NVME_FID_NOT_SAVEABLE | NVME_DNR;
    }
    switch (fid) {
    case NVME_ARBITRATION:
        f->arbitration = dw11;
        break;
    case NVME_POWER_MANAGEMENT:
        if ((dw11 & 0x1f) > 0) {    /* NPSS = 0: only power state 0 */
            return NVME_INVALID_FIELD | NVME_DNR;
        }
        f->power_mgmt = dw11 & 0xff;
        break;
    case NVME_TEMPERATURE_THRESHOLD:
        if (NVME_TEMP_TMPSEL(dw11) != NVME_TEMP_TMPSEL_COMPOSITE) {
            return NVME_INVALID_FIELD | NVME_DNR;
        }
        switch (NVME_TEMP_THSEL(dw11)) {
        case NVME_TEMP_THSEL_OVER:
            f->temp_over = NVME_TEMP_TMPTH(dw11);
            break;
        case NVME_TEMP_THSEL_UNDER:
            f->temp_under = NVME_TEMP_TMPTH(dw11);
            break;
        default:
            return NVME_INVALID_FIELD | NVME_DNR;
        }
        if ((f->temp_over <= NVME_ACCEL_TEMPERATURE ||
             f->temp_under >= NVME_ACCEL_TEMPERATURE) &&
            NVME_AEC_SMART(f->async_config) & NVME_SMART_TEMPERATURE) {
            nvme_accel_aer_enqueue(n, NVME_AER_TYPE_SMART,
                                   NVME_AER_INFO_SMART_TEMP_THRESH,
                                   NVME_LOG_SMART_INFO);
        }
        break;
    case NVME_ERROR_RECOVERY:
        if (cdw(sqe->nsid) != NVME_ACCEL_NSID &&
            cdw(sqe->nsid) != NVME_NSID_BROADCAST) {
            return NVME_INVALID_NSID | NVME_DNR;
        }
        /* DULBE needs NSFEAT.DAE, which we do not report. */
        if (NVME_ERR_REC_DULBE(dw11)) {
            return NVME_INVALID_FIELD | NVME_DNR;
        }
        f->err_rec = dw11;
        break;
    case NVME_VOLATILE_WRITE_CACHE:
        f->vwc = dw11 & 1;
        blk_set_enable_write_cache(n->blkconf.blk, f->vwc);
        /* Writes in the module honour it too, or run here. */
        nvme_accel_kernel_sync_ns(n);
        nvme_accel_kernel_recheck(n);
        break;
    case NVME_NUMBER_OF_QUEUES:
        nsq = dw11 & 0xffff;
        ncq = dw11 >> 16;
        if (nsq == 0xffff || ncq == 0xffff) {
            return NVME_INVALID_FIELD | NVME_DNR;
        }
        if (nvme_accel_io_queues_exist(n)) {
            return NVME_CMD_SEQ_ERROR | NVME_DNR;
        }
        f->nr_sq = MIN(nsq, n->params.max_ioqpairs - 1);
        f->nr_cq = MIN(ncq, n->params.max_ioqpairs - 1);
        *result = f->nr_sq | (uint32_t)f->nr_cq << 16;
        break;
    case NVME_INTERRUPT_COALESCING:
        f->int_coalescing = dw11 & 0xffff;
        nvme_accel_update_coalescing(n);
        break;
    case NVME_INTERRUPT_VECTOR_CONF:
        iv = dw11 & 0xffff;
        if (iv >= n->nr_qpairs) {
            return NVME_INVALID_FIELD | NVME_DNR;
        }
        if (dw11 & NVME_INTVC_NOCOALESCING) {
            n->iv_nocoalesce[iv / 32] |= 1u << (iv % 32);
        } else {
            n->iv_nocoalesce[iv / 32] &= ~(1u << (iv % 32));
        }
        nvme_accel_update_coalescing(n);
        break;
    case NVME_WRITE_ATOMICITY:
        f->write_atomicity = dw11 & 1;
        break;
    case NVME_ASYNCHRONOUS_EVENT_CONF:
        f->async_config = dw11;
        break;
    case NVME_TIMESTAMP:
        status = nvme_accel_admin_from_host(n, sqe, &ts, sizeof(ts));
        if (status) {
            return status;
        }
        f->timestamp_base = qemu_clock_get_ms(QEMU_CLOCK_VIRTUAL) -
                            (int64_t)(le64_to_cpu(ts) & ((1ULL << 48) - 1));
        f->timestamp_set = true;
        break;
    default:
        NVME_ACCEL_GUEST_ERR(nvme_accel_err_feature_fid, "fid 0x%x", fid);
        return NVME_INVALID_FIELD | NVME_DNR;
    }
    return NVME_SUCCESS;
}

/* --- the rest ------------------------------------------------------------ */

static uint16_t nvme_accel_aer(NvmeAccelCtrl *n, const struct nac_sqe *sqe)
{
    if (n->outstanding_aers > NVME_ACCEL_AERL) {
        NVME_ACCEL_GUEST_ERR(nvme_accel_err_aer_limit, "%u outstanding",
                             n->outstanding_aers);
        return NVME_AER_LIMIT_EXCEEDED;
    }
    n->aer_reqs[n->outstanding_aers++].cid = sqe->cid;
    return NVME_NO_COMPLETE;
}

static uint16_t nvme_accel_dbbuf_config(NvmeAccelCtrl *n,
                                        const struct nac_sqe *sqe)
{
    uint64_t dbs = le64_to_cpu(sqe->dptr1), eis = le64_to_cpu(sqe->dptr2);
    uint64_t mask = (1ULL << n->core.page_shift) - 1;

    if (!n->params.shadow_doorbells) {
        return NVME_INVALID_OPCODE | NVME_DNR;
    }
    if (!dbs || !eis || (dbs | eis) & mask) {
        NVME_ACCEL_GUEST_ERR(nvme_accel_err_dbbuf_addr,
                             "dbs 0x%"PRIx64" eis 0x%"PRIx64, dbs, eis);
        return NVME_INVALID_FIELD | NVME_DNR;
    }
    trace_nvme_accel_dbbuf_config(dbs, eis);
    nvme_accel_dbbuf_enable(n, dbs, eis);
    return NVME_SUCCESS;
}

static uint16_t nvme_accel_admin_cmd(NvmeAccelCtrl *n,
                                     const struct nac_sqe *sqe,
                                     uint32_t *result)
{
    trace_nvme_accel_admin_cmd(le16_to_cpu(sqe->cid), sqe->opcode);
    if (sqe->flags & NAC_SQE_FUSE_MASK) {
        return NVME_INVALID_FIELD | NVME_DNR;
    }
    switch (sqe->opcode) {
    case NVME_ADM_CMD_DELETE_SQ:
        return nvme_accel_admin_delete_sq(n, sqe);
    case NVME_ADM_CMD_CREATE_SQ:
        return nvme_accel_admin_create_sq(n, sqe);
    case NVME_ADM_CMD_GET_LOG_PAGE:
        return nvme_accel_get_log(n, sqe);
    case NVME_ADM_CMD_DELETE_CQ:
        return nvme_accel_admin_delete_cq(n, sqe);
    case NVME_ADM_CMD_CREATE_CQ:
        return nvme_accel_admin_create_cq(n, sqe);
    case NVME_ADM_CMD_IDENTIFY:
        return nvme_accel_identify(n, sqe);
    case NVME_ADM_CMD_ABORT:
        /* In-flight block I/O cannot be recalled: "not aborted". */
        *result = 1;
        return NVME_SUCCESS;
    case NVME_ADM_CMD_SET_FEATURES:
        return nvme_accel_set_features(n, sqe, result);
    case NVME_ADM_CMD_GET_FEATURES:
        return nvme_accel_get_features(n, sqe, result);
    case NVME_ADM_CMD_ASYNC_EV_REQ:
        return nvme_accel_aer(n, sqe);
    case NVME_ADM_CMD_DBBUF_CONFIG:
        return nvme_accel_dbbuf_config(n, sqe);
    default:
        NVME_ACCEL_GUEST_ERR(nvme_accel_err_admin_opcode, "opcode 0x%x",
                             sqe->opcode);
        return NVME_INVALID_OPCODE | NVME_DNR;
    }
}

/* The admin SQ's bottom half: one command at a time, while the CQ has room. */
void nvme_accel_admin_process(NvmeAccelSQ *sq)
{
    NvmeAccelCtrl *n = sq->ctrl;
    NvmeAccelCQ *cq = n->cq[0];
    struct nac_sqe sqe;
    uint32_t result;
    uint16_t status;
    bool posted = false;

    if (nac_sq_doorbell(&sq->q, qatomic_read(&sq->db_val))) {
        return;
    }
    while (!nac_sq_empty(&sq->q) && !nac_cq_full(&cq->q) &&
           !(n->csts & NVME_CSTS_FAILED) && nvme_accel_bus_master(n)) {
        if (nac_sq_fetch(&sq->q, &sq->ring.mem, &sqe)) {
            nvme_accel_fatal(n, "admin submission queue is not guest memory");
            return;
        }
        result = 0;
        /*
         * The CQ had room for this command's CQE when it was fetched: no
         * AER may take it meanwhile (Set Features, Get Log Page with RAE
         * clear and events raised during a queue change deliver them).
         */
        n->admin_cmd_running = true;
        status = nvme_accel_admin_cmd(n, &sqe, &result);
        n->admin_cmd_running = false;
        /* The command may have reset or deleted queues: re-check. */
        if (n->sq[0] != sq || n->cq[0] != cq) {
            return;
        }
        if (status == NVME_NO_COMPLETE) {
            continue;
        }
        if (status) {
            nvme_accel_error_log(n, 0, sqe.cid, status, 0);
        }
        nvme_accel_admin_post(n, sqe.cid, status, result);
        posted = true;
    }
    if (posted) {
        nvme_accel_cq_irq(cq);
    }
    nvme_accel_aer_deliver(n);
}

void nvme_accel_admin_reset(NvmeAccelCtrl *n)
{
    NvmeAccelAerEvent *ev, *next;

    QSIMPLEQ_FOREACH_SAFE(ev, &n->aer_queue, entry, next) {
        g_free(ev);
    }
    QSIMPLEQ_INIT(&n->aer_queue);
    n->aer_queued = 0;
    n->aer_mask = 0;
    n->outstanding_aers = 0;
    n->changed_ns = 0;
    nvme_accel_features_default(n, &n->features);
    memset(n->iv_nocoalesce, 0, sizeof(n->iv_nocoalesce));
    blk_set_enable_write_cache(n->blkconf.blk, n->features.vwc);
    nvme_accel_kernel_sync_ns(n);
}

/*
 * The namespace's attributes changed (its size): the Changed Namespace
 * List log says so, and a Namespace Attribute Changed notice if the host
 * asks for them now: one waiting is enough, and after one delivered the
 * host reads the log anyway.
 */
void nvme_accel_ns_changed(NvmeAccelCtrl *n)
{
    NvmeAccelAerEvent *ev;

    n->changed_ns = 1;
    /* Off, or one delivered whose log the host has yet to read. */
    if (!NVME_AEC_NS_ATTR(n->features.async_config) ||
        (n->aer_mask & (1 << NVME_AER_TYPE_NOTICE))) {
        return;
    }
    QSIMPLEQ_FOREACH(ev, &n->aer_queue, entry) {
        if (ev->type == NVME_AER_TYPE_NOTICE &&
            ev->info == NVME_AER_INFO_NOTICE_NS_ATTR_CHANGED) {
            return;
        }
    }
    nvme_accel_aer_enqueue(n, NVME_AER_TYPE_NOTICE,
                           NVME_AER_INFO_NOTICE_NS_ATTR_CHANGED,
                           NVME_LOG_CHANGED_NSLIST);
}

void nvme_accel_admin_init(NvmeAccelCtrl *n)
{
    qemu_mutex_init(&n->log_lock);
    QSIMPLEQ_INIT(&n->aer_queue);
    nvme_accel_features_default(n, &n->features);
    nvme_accel_queue_init(n);
}

void nvme_accel_admin_cleanup(NvmeAccelCtrl *n)
{
    nvme_accel_admin_reset(n);
    nvme_accel_queue_cleanup(n);
    qemu_mutex_destroy(&n->log_lock);
}
