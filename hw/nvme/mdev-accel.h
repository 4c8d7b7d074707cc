/*
 * nvme-accel: an NVMe controller whose I/O queues can run in the host kernel
 *
 * Copyright (c) 2026 The nvme-accel authors
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or later.
 * See the COPYING file in the top-level directory.
 */

#ifndef HW_NVME_MDEV_ACCEL_H
#define HW_NVME_MDEV_ACCEL_H

#include "qemu/queue.h"
#include "qemu/event_notifier.h"
#include "qemu/uuid.h"
#include "hw/pci/pci_device.h"
#include "hw/block/block.h"
#include "system/dma.h"
#include "system/iothread.h"
#include "block/accounting.h"
#include "block/nvme.h"
#include "hw/vfio/vfio-common.h"
#include "uapi/linux/kvm-accel.h"
#include "nvme-accel/nac-core.h"

#define TYPE_NVME_ACCEL "nvme-accel"
OBJECT_DECLARE_SIMPLE_TYPE(NvmeAccelCtrl, NVME_ACCEL)

/*
 * docs/specs/pci-ids.rst: 1af4:10f0..10ff is for experimental devices. A
 * registered ID is needed before this leaves the lab; until then we must
 * not reuse -device nvme's 1b36:0010, which Linux quirks.
 */
#define NVME_ACCEL_PCI_DEVICE_ID    0x10f0

/* Register file: CAP..ACQ, then the doorbells from 0x1000 (DSTRD = 0). */
#define NVME_ACCEL_REG_SIZE     0x1000
#define NVME_ACCEL_DB_STRIDE    4
#define NVME_ACCEL_MAX_QPAIRS   128
#define NVME_ACCEL_NSID         1
#define NVME_ACCEL_AERL         3       /* 0's based: four outstanding AERs */
#define NVME_ACCEL_ACL          3       /* 0's based abort command limit */
#define NVME_ACCEL_ELPE         63      /* 0's based error log entries */
#define NVME_ACCEL_MAX_AER_EVENTS 16
#define NVME_ACCEL_MAX_INFLIGHT 256     /* commands in flight per SQ */
#define NVME_ACCEL_BOUNCE_MAX   (16 * MiB)  /* per controller, see bounce */
#define NVME_ACCEL_MDTS_AUTO    0xff    /* the module's limit, else: */
#define NVME_ACCEL_MDTS_DEFAULT 7       /* 512 KiB */
#define NVME_ACCEL_VERSION_REG  0x00020000  /* NVMe 2.0 */

typedef enum NvmeAccelMode {
    NVME_ACCEL_MODE_OFF,        /* I/O queues in QEMU */
    NVME_ACCEL_MODE_AUTO,       /* kernel if available, else QEMU */
    NVME_ACCEL_MODE_KERNEL,     /* kernel or fail */
} NvmeAccelMode;

typedef struct NvmeAccelParams {
    char        *serial;
    uint32_t    max_ioqpairs;
    uint32_t    max_queue_entries;
    uint8_t     mdts;
    uint32_t    lba_size;
    bool        shadow_doorbells;
    bool        ioeventfd;
    char        *accel_str;
    int         accel;
    QemuUUID    uuid;
    char        *sysfsdev;      /* the kvm-accel mdev */
    IOThread    *iothread;
} NvmeAccelParams;

#define NVME_ACCEL_GUEST_ERR(trace, fmt, ...) \
    do { \
        (trace_##trace)(__VA_ARGS__); \
        qemu_log_mask(LOG_GUEST_ERROR, #trace \
                      " in %s: " fmt "\n", __func__, ## __VA_ARGS__); \
    } while (0)

typedef struct NvmeAccelCtrl NvmeAccelCtrl;
typedef struct NvmeAccelSQ NvmeAccelSQ;
typedef struct NvmeAccelCQ NvmeAccelCQ;

/* A queue's ring in guest RAM, mapped directly (see mdev-accel-mem.c). */
typedef struct NvmeAccelRingCache NvmeAccelRingCache;

typedef struct NvmeAccelRing {
    NvmeAccelCtrl   *ctrl;
    NvmeAccelRingCache *c;      /* RCU; NULL: not RAM, the checked path */
    uint64_t        base;
    uint64_t        len;
    bool            is_write;
    struct nac_mem  mem;        /* the ring, else the controller's checks */
} NvmeAccelRing;

typedef struct NvmeAccelRequest {
    NvmeAccelSQ     *sq;
    struct nac_req  r;
    uint16_t        status;
    uint32_t        result;
    BlockAIOCB      *aiocb;
    QEMUIOVector    iov;        /* the data, mapped guest RAM */
    bool            mapped_to_guest;
    /* Compare's media data, or a streamed SGL's (nac_req.streamed) */
    uint8_t         *bounce;
    uint32_t        bounce_len; /* reserved from bounce_bytes */
    QEMUIOVector    bounce_iov;
    BlockAcctCookie acct;
    QTAILQ_ENTRY(NvmeAccelRequest) entry;
} NvmeAccelRequest;

/*
 * Threads: the admin queue (qid 0) lives in the main loop. I/O queue state
 * is owned by the controller's AioContext (an iothread, or the main loop):
 * MMIO doorbell writes only store db_val and schedule the queue's BH there,
 * and structural changes run there through nvme_accel_run_in_ctx() after
 * in-flight I/O has drained.
 */
struct NvmeAccelSQ {
    NvmeAccelCtrl   *ctrl;
    struct nac_sq   q;
    NvmeAccelRing   ring;
    uint32_t        db_val;     /* last MMIO tail, applied by the BH */
    bool            starved;    /* all requests in flight */
    bool            bounce_wait;    /* in bounce_waiters */
    QTAILQ_ENTRY(NvmeAccelSQ) bounce_entry;
    uint32_t        poll_tail;  /* shadow tail AioContext polling last saw */
    bool            in_kernel;  /* run by kvm-accel (mdev-accel-kernel.c) */
    bool            drain_paused;   /* quiesced there for a drain */
    EventNotifier   kick;       /* the module's kick: doorbell ioeventfds */
    bool            kick_attached;
    bool            ioeventfd_enabled;
    EventNotifier   notifier;
    QEMUBH          *bh;
    NvmeAccelRequest *reqs;     /* in flight at most, see create_sq */
    uint32_t        nr_reqs;
    struct nac_sg   *sg;        /* reqs[i].r.sg points into this */
    QTAILQ_HEAD(, NvmeAccelRequest) free_reqs;
    QTAILQ_HEAD(, NvmeAccelRequest) out_reqs;
};

struct NvmeAccelCQ {
    NvmeAccelCtrl   *ctrl;
    struct nac_cq   q;
    NvmeAccelRing   ring;
    uint32_t        db_val;     /* last MMIO head, applied by the BH */
    unsigned        nr_sqs;     /* SQs completing here */
    bool            in_kernel;
    QEMUBH          *bh;
    QEMUTimer       *coalesce_timer;
    /* Completed requests waiting for room in the CQ. */
    QTAILQ_HEAD(, NvmeAccelRequest) done_reqs;
    /*
     * Completions of SQ carried_sqid that kvm-accel had no room for when
     * it handed the pair back: posted first, from carried[carried_posted].
     */
    struct kvm_accel_cqe *carried;
    uint32_t        nr_carried;
    uint32_t        carried_posted;
    uint16_t        carried_sqid;
};

typedef struct NvmeAccelAerEvent {
    uint8_t type;
    uint8_t info;
    uint8_t log_page;
    QSIMPLEQ_ENTRY(NvmeAccelAerEvent) entry;
} NvmeAccelAerEvent;

/* The admin queue's requests that stay outstanding: AERs. */
typedef struct NvmeAccelAer {
    uint16_t cid;
} NvmeAccelAer;

/* One per MSI-X vector: signalled from the I/O context, or a KVM irqfd. */
typedef struct NvmeAccelVector {
    NvmeAccelCtrl   *ctrl;
    EventNotifier   notifier;
    int             virq;       /* KVM MSI route, -1 if none */
    bool            irqfd_active;
} NvmeAccelVector;

typedef struct NvmeAccelFeatures {
    uint32_t arbitration;
    uint32_t power_mgmt;
    uint16_t temp_over;
    uint16_t temp_under;
    uint32_t err_rec;
    bool     vwc;               /* volatile write cache enabled */
    uint16_t nr_sq;             /* 0's based, as granted */
    uint16_t nr_cq;
    bool     nr_queues_set;
    uint32_t int_coalescing;
    uint32_t async_config;
    uint32_t write_atomicity;
    int64_t  timestamp_base;    /* host ms minus guest-set timestamp */
    bool     timestamp_set;
} NvmeAccelFeatures;

typedef struct NvmeAccelStats {
    uint64_t units_read;        /* in 512-byte units, before rounding */
    uint64_t units_written;
    uint64_t read_commands;
    uint64_t write_commands;
    uint64_t media_errors;
    uint64_t error_count;
    uint64_t power_cycles;
    uint64_t unsafe_shutdowns;
} NvmeAccelStats;

struct NvmeAccelCtrl {
    PCIDevice       parent_obj;

    VFIODevice      vdev;       /* the kvm-accel mdev, if in use */
    bool            kernel;     /* the module is attached */
    bool            kernel_wanted;  /* new I/O queue pairs go there */
    bool            kernel_ns_synced;   /* it has the guest's size and VWC */
    BlockDriverState *kernel_top;   /* blk_bs() at attach */
    BlockDriverState *kernel_bs;    /* the host_device node */
    char            kernel_top_name[32];    /* their node names */
    char            kernel_bs_name[32];
    struct kvm_accel_stats kacct;   /* its counters, as accounted */
    QEMUTimer       *kacct_timer;
    bool            blk_drained;    /* BlockDevOps drained_begin..end */
    bool            kernel_graph_was_ok;    /* at the last drained_end */
    bool            recheck_after_drain;    /* pairs to place when it ends */
    struct kvm_accel_info kinfo;
    EventNotifier   kevents;    /* the module's event eventfd */

    MemoryRegion    bar0;
    MemoryRegion    iomem;
    BlockConf       blkconf;
    NvmeAccelParams params;
    AioContext      *ctx;

    /* Controller registers, host endian. */
    uint64_t        cap;
    uint32_t        vs;
    uint32_t        intms;
    uint32_t        cc;
    uint32_t        csts;
    uint32_t        aqa;
    uint64_t        asq;
    uint64_t        acq;
    uint32_t        irq_status; /* pin-based: vectors asserting INTx */

    struct nac_ctrl core;
    struct nac_ns   ns;
    struct nac_mem  mem;        /* checked: RAM only */
    struct nac_mem  io_mem;     /* the same, data checked when mapped */
    uint64_t        dbbuf_dbs;  /* shadow doorbells, 0 when not configured */
    uint64_t        dbbuf_eis;

    NvmeAccelSQ     **sq;       /* [0] is the admin SQ */
    NvmeAccelCQ     **cq;
    unsigned        nr_qpairs;  /* admin + I/O */
    NvmeAccelVector *vectors;
    bool            io_stopped; /* I/O context: fetch nothing new */
    uint64_t        bounce_bytes;   /* I/O context: bounce memory in use */
    /* I/O context: SQs whose next command waits for it, in order */
    QTAILQ_HEAD(, NvmeAccelSQ) bounce_waiters;
    /*
     * Main loop: queue changes under way (nested quiesce/resume). Waiting
     * for the I/O context polls the main AioContext, where the admin SQ's
     * bottom half could run and change queues under the waiting frame: it
     * waits until the depth is back to 0.
     */
    unsigned        qchange_depth;
    bool            admin_deferred;
    bool            resize_deferred;
    QEMUBH          *resize_bh; /* the drive changed size */
    bool            recheck_deferred;
    QEMUBH          *recheck_bh;    /* nvme_accel_kernel_recheck() */
    MemoryListener  mem_listener;   /* rings follow the memory map */
    bool            admin_cmd_running;  /* its CQE has the CQ slot */
    uint32_t        pending_db_errors;  /* AER infos raised in the I/O ctx */
    QEMUBH          *db_error_bh;
    QEMUBH          *intx_bh;   /* re-evaluate INTx from the I/O context */
    QemuMutex       log_lock;   /* error log, written from any context */

    NvmeAccelFeatures features;
    uint32_t        iv_nocoalesce[(NVME_ACCEL_MAX_QPAIRS + 1 + 31) / 32];
    NvmeAccelAer    aer_reqs[NVME_ACCEL_AERL + 1];
    unsigned        outstanding_aers;
    QSIMPLEQ_HEAD(, NvmeAccelAerEvent) aer_queue;
    unsigned        aer_queued;
    uint8_t         aer_mask;   /* event types awaiting their log page */
    NvmeErrorLog    error_log[NVME_ACCEL_ELPE + 1];
    unsigned        error_next;
    uint32_t        changed_ns; /* changed namespace list pending */
    NvmeAccelStats  stats;
    int64_t         starttime_ms;
    bool            wce_default; /* write cache as configured on the drive */
    uint8_t         smart_critical_warning;
};

/*
 * A queue's entry in the Doorbell Buffer Config buffers (DSTRD = 0): SQ
 * tail at 2 * qid, CQ head at 2 * qid + 1 dwords; 0 when not configured.
 */
/*
 * Bus Master Enable, in D0: otherwise the function must not touch memory
 * (PCIe 5.3.1.4.1: no requests in D3hot). Read from the I/O context too:
 * a config write changes it under the BQL and then quiesces and re-syncs
 * the I/O context (nvme_accel_bus_master_changed).
 */
static inline bool nvme_accel_bus_master(NvmeAccelCtrl *n)
{
    PCIDevice *pci = PCI_DEVICE(n);

    return (pci_get_word(pci->config + PCI_COMMAND) & PCI_COMMAND_MASTER) &&
           (!(pci->cap_present & QEMU_PCI_CAP_PM) ||
            !(pci_get_word(pci->config + pci->pm_cap + PCI_PM_CTRL) &
              PCI_PM_CTRL_STATE_MASK));
}

static inline uint64_t nvme_accel_shadow_addr(uint64_t base, uint16_t qid,
                                              bool cq)
{
    return base ? base + (2 * qid + cq) * 4 : 0;
}

/* mdev-accel.c */
void nvme_accel_irq_notify(NvmeAccelCtrl *n, NvmeAccelCQ *cq);
void nvme_accel_irq_raise(NvmeAccelCtrl *n, uint16_t vector);
void nvme_accel_vector_handler(EventNotifier *e);
void nvme_accel_intx_reaped(NvmeAccelCtrl *n);
void nvme_accel_fatal(NvmeAccelCtrl *n, const char *why);

/* mdev-accel-mem.c: guest RAM only */
bool nvme_accel_is_ram(NvmeAccelCtrl *n, uint64_t gpa, uint64_t len,
                       bool is_write);
void nvme_accel_mem_init(NvmeAccelCtrl *n);
void nvme_accel_ring_init(NvmeAccelCtrl *n, NvmeAccelRing *r, uint64_t base,
                          uint64_t len, bool is_write);
void nvme_accel_ring_destroy(NvmeAccelRing *r);
bool nvme_accel_ring_refresh(NvmeAccelRing *r);

/* mdev-accel-irq.c: KVM irqfd per vector, MSI-X masking */
bool nvme_accel_irqfd_init(NvmeAccelCtrl *n, Error **errp);
void nvme_accel_irqfd_release_routes(NvmeAccelCtrl *n);
void nvme_accel_irqfd_cleanup(NvmeAccelCtrl *n);

/* mdev-accel-queue.c: queue life cycle and the userspace I/O datapath */
uint16_t nvme_accel_create_cq(NvmeAccelCtrl *n, uint16_t cqid, uint64_t addr,
                              uint32_t size, uint16_t vector, bool ien);
uint16_t nvme_accel_create_sq(NvmeAccelCtrl *n, uint16_t sqid, uint16_t cqid,
                              uint64_t addr, uint32_t size);
void nvme_accel_delete_sq(NvmeAccelCtrl *n, uint16_t sqid);
void nvme_accel_delete_cq(NvmeAccelCtrl *n, uint16_t cqid);
void nvme_accel_sq_doorbell(NvmeAccelCtrl *n, NvmeAccelSQ *sq, uint32_t val);
void nvme_accel_cq_doorbell(NvmeAccelCtrl *n, NvmeAccelCQ *cq, uint32_t val);
void nvme_accel_complete(NvmeAccelRequest *req);
void nvme_accel_cq_irq(NvmeAccelCQ *cq);
void nvme_accel_queue_init(NvmeAccelCtrl *n);
void nvme_accel_queue_cleanup(NvmeAccelCtrl *n);
void nvme_accel_dbbuf_enable(NvmeAccelCtrl *n, uint64_t dbs, uint64_t eis);
void nvme_accel_queues_reset(NvmeAccelCtrl *n);
void nvme_accel_io_quiesce(NvmeAccelCtrl *n);
void nvme_accel_io_resume(NvmeAccelCtrl *n);
void nvme_accel_report_db_error(NvmeAccelCtrl *n, uint8_t info);
void nvme_accel_update_coalescing(NvmeAccelCtrl *n);
void nvme_accel_pair_sync(NvmeAccelCtrl *n, NvmeAccelSQ *sq);
void nvme_accel_bus_master_changed(NvmeAccelCtrl *n);
void nvme_accel_remap_init(NvmeAccelCtrl *n);
void nvme_accel_remap_cleanup(NvmeAccelCtrl *n);

/* mdev-accel-kernel.c: queue pairs in the kvm-accel module */
bool nvme_accel_kernel_init(NvmeAccelCtrl *n, Error **errp);
void nvme_accel_kernel_exit(NvmeAccelCtrl *n);
void nvme_accel_kernel_instance_init(Object *obj);
bool nvme_accel_kernel_eligible(NvmeAccelCtrl *n, NvmeAccelSQ *sq);
bool nvme_accel_kernel_graph_ok(NvmeAccelCtrl *n);
void nvme_accel_kernel_drained_begin(NvmeAccelCtrl *n);
void nvme_accel_kernel_drained_end(NvmeAccelCtrl *n);
bool nvme_accel_kernel_adopt(NvmeAccelCtrl *n, NvmeAccelSQ *sq);
void nvme_accel_kernel_take_back(NvmeAccelCtrl *n, NvmeAccelSQ *sq);
void nvme_accel_kernel_delete(NvmeAccelCtrl *n, NvmeAccelSQ *sq);
void nvme_accel_kernel_destroy(NvmeAccelCtrl *n, NvmeAccelSQ *sq);
void nvme_accel_kernel_doorbell(NvmeAccelCtrl *n, uint16_t qid, bool cq,
                                uint32_t val);
void nvme_accel_kernel_coalescing(NvmeAccelCtrl *n);
void nvme_accel_kernel_poll_events(NvmeAccelCtrl *n, bool resetting);
bool nvme_accel_kernel_bdev_dead(NvmeAccelCtrl *n);
bool nvme_accel_kernel_stats(NvmeAccelCtrl *n, struct kvm_accel_stats *st);
void nvme_accel_kernel_switch(NvmeAccelCtrl *n, bool to_kernel);
void nvme_accel_kernel_recheck(NvmeAccelCtrl *n);
void nvme_accel_kernel_sync_ns(NvmeAccelCtrl *n);
bool nvme_accel_kernel_rehome(NvmeAccelCtrl *n, NvmeAccelSQ *sq);

/* mdev-accel-admin.c */
void nvme_accel_admin_process(NvmeAccelSQ *sq);
void nvme_accel_aer_enqueue(NvmeAccelCtrl *n, uint8_t type, uint8_t info,
                            uint8_t log_page);
void nvme_accel_error_log_lost(NvmeAccelCtrl *n, uint64_t count);
void nvme_accel_error_log(NvmeAccelCtrl *n, uint16_t sqid, uint16_t cid,
                          uint16_t status, uint64_t lba);
void nvme_accel_admin_reset(NvmeAccelCtrl *n);
void nvme_accel_ns_changed(NvmeAccelCtrl *n);
void nvme_accel_admin_init(NvmeAccelCtrl *n);
void nvme_accel_admin_cleanup(NvmeAccelCtrl *n);
uint16_t nvme_accel_map_block_status(int ret, bool is_write);

#endif /* HW_NVME_MDEV_ACCEL_H */
