/*
 * QTest testcase for nvme-accel
 *
 * A small NVMe host driver (admin queue, I/O queues, PRP and SGL builders,
 * MSI-X vectors that write into guest memory) drives the device the way a
 * guest would, well-behaved and hostile.
 *
 * Copyright (c) 2026 The nvme-accel authors
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or later.
 * See the COPYING file in the top-level directory.
 */

#include "qemu/osdep.h"
#include "qemu/units.h"
#include "libqtest.h"
#include "libqos/pci-pc.h"
#include "hw/pci/pci_regs.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"
#include "qobject/qlist.h"
#include <sys/ioctl.h>
#include <linux/loop.h>
#include "qapi/error.h"
#include "block/nvme.h"

#define NVME_ACCEL_VENDOR   0x1af4
#define NVME_ACCEL_DEVICE   0x10f0

#define DISK_SIZE       (16 * MiB)
#define RAM_POOL        0x10000000ULL   /* guest RAM we hand out, 256 MiB up */
#define MSI_AREA        0x0ff00000ULL   /* MSI-X messages land here */
#define PG              4096
#define IOQ_MAX         4
#define MAX_INFLIGHT    256     /* NVME_ACCEL_MAX_INFLIGHT: per SQ, in QEMU */
#define TIMEOUT_US      (10 * 1000 * 1000)
#define NS_WRITE_PROTECTED 0x0020  /* not in block/nvme.h */

/*
 * Kernel mode (tests/accel/): with NVME_ACCEL_TEST_SYSFSDEV (a kvm-accel
 * mdev) and NVME_ACCEL_TEST_BDEV (a block device of DISK_SIZE bytes) set,
 * every nvme-accel the tests start runs its I/O queues in the module.
 */
static const char *kernel_sysfsdev, *kernel_bdev;

typedef struct TestQueue {
    uint64_t sq, cq;
    uint32_t size;
    uint32_t sq_tail, cq_head;
    uint8_t phase;
    uint16_t vector;
} TestQueue;

typedef struct NvmeTest {
    QTestState *qts;
    QPCIBus *bus;
    QPCIDevice *dev;
    QPCIBar bar;
    char *disk;
    uint64_t next_ram;
    TestQueue q[IOQ_MAX + 1];   /* [0]: admin */
    uint16_t cid;
    uint64_t dbs, eis;          /* shadow doorbells, when configured */
} NvmeTest;

typedef struct Cqe {
    uint32_t result;
    uint16_t sq_head;
    uint16_t sq_id;
    uint16_t cid;
    uint16_t status;    /* without the phase tag */
} Cqe;

/* --- set-up -------------------------------------------------------------- */

static uint64_t ram_alloc(NvmeTest *t, uint64_t size)
{
    uint64_t addr = t->next_ram;

    t->next_ram += ROUND_UP(size, PG);
    g_assert_cmpuint(t->next_ram, <=, RAM_POOL + 128 * MiB);
    qtest_memset(t->qts, addr, 0, ROUND_UP(size, PG));
    return addr;
}

static void msix_setup(NvmeTest *t, uint16_t vector)
{
    uint64_t off = t->dev->msix_table_off + vector * PCI_MSIX_ENTRY_SIZE;
    uint64_t addr = MSI_AREA + vector * 4;

    qpci_io_writel(t->dev, t->bar, off + PCI_MSIX_ENTRY_LOWER_ADDR, addr);
    qpci_io_writel(t->dev, t->bar, off + PCI_MSIX_ENTRY_UPPER_ADDR, 0);
    qpci_io_writel(t->dev, t->bar, off + PCI_MSIX_ENTRY_DATA, 0x100 + vector);
    qpci_io_writel(t->dev, t->bar, off + PCI_MSIX_ENTRY_VECTOR_CTRL, 0);
    qtest_writel(t->qts, addr, 0);
}

/* Did the vector fire since the last call? Consumes the message. */
static bool msix_fired(NvmeTest *t, uint16_t vector)
{
    uint64_t addr = MSI_AREA + vector * 4;

    if (qtest_readl(t->qts, addr) != 0x100 + vector) {
        return false;
    }
    qtest_writel(t->qts, addr, 0);
    return true;
}

/*
 * An interrupt the device sends: in kernel mode the module posts the CQE
 * and then signals the vector's eventfd, which QEMU's main loop turns into
 * the MSI-X write some time after the CQE became visible.
 */
static bool msix_wait(NvmeTest *t, uint16_t vector)
{
    int64_t deadline = g_get_monotonic_time() + TIMEOUT_US;

    while (!msix_fired(t, vector)) {
        if (g_get_monotonic_time() > deadline) {
            return false;
        }
        g_usleep(100);
    }
    return true;
}

/* The device at 04.0 of the QEMU just started: enabled, MSI-X set up. */
static void nvme_start_pci(NvmeTest *t)
{
    t->bus = qpci_new_pc(t->qts, NULL);
    t->dev = qpci_device_find(t->bus, QPCI_DEVFN(4, 0));
    g_assert(t->dev);
    qpci_device_enable(t->dev);
    qpci_msix_enable(t->dev);
    t->bar = t->dev->msix_table_bar;
    t->next_ram = RAM_POOL;
    for (unsigned v = 0; v <= IOQ_MAX; v++) {
        msix_setup(t, v);
    }
}

/*
 * Start QEMU with @device (nvme-accel unless given) on @file, or on a
 * scratch disk when @file is NULL.
 */
static void nvme_start_device(NvmeTest *t, const char *device,
                              const char *file, const char *drive_extra,
                              const char *extra)
{
    int fd;

    g_autofree char *accel = NULL;
    const char *kcache = "";

    memset(t, 0, sizeof(*t));
    if (kernel_sysfsdev && !device && !file) {
        /* The module opens the block device; zero it like a new image. */
        t->disk = g_strdup(kernel_bdev);
        fd = open(t->disk, O_WRONLY);
        g_assert(fd >= 0);
        for (int i = 0; i < DISK_SIZE / MiB; i++) {
            static const uint8_t zero[MiB];

            g_assert_cmpint(write(fd, zero, MiB), ==, MiB);
        }
        fsync(fd);
        close(fd);
        accel = g_strdup_printf(",accel=kernel,sysfsdev=%s", kernel_sysfsdev);
        kcache = ",cache.direct=on";    /* the module bypasses the cache */
    } else {
        fd = g_file_open_tmp("nvme-accel-XXXXXX.img", &t->disk, NULL);
        g_assert(fd >= 0);
        g_assert_cmpint(ftruncate(fd, DISK_SIZE), ==, 0);
        close(fd);
    }
    t->qts = qtest_initf("-machine q35 -m 512M -nodefaults "
                         "-drive id=d0,if=none,file=%s,format=raw%s%s "
                         "-device %s,addr=04.0,drive=d0,serial=acc0%s%s",
                         file ? file : t->disk, kcache,
                         drive_extra ? drive_extra : "",
                         device ? device : "nvme-accel", accel ? accel : "",
                         extra ? extra : "");
    nvme_start_pci(t);
}

static void nvme_start_drive(NvmeTest *t, const char *drive_extra,
                             const char *extra)
{
    nvme_start_device(t, NULL, NULL, drive_extra, extra);
}

static void nvme_start(NvmeTest *t, const char *extra)
{
    nvme_start_device(t, NULL, NULL, NULL, extra);
}

static void nvme_stop(NvmeTest *t)
{
    g_free(t->dev);
    qpci_free_pc(t->bus);
    qtest_quit(t->qts);
    if (!kernel_bdev || strcmp(t->disk, kernel_bdev)) {
        unlink(t->disk);
    }
    g_free(t->disk);
}

static uint32_t reg_read(NvmeTest *t, uint32_t reg)
{
    return qpci_io_readl(t->dev, t->bar, reg);
}

static void reg_write(NvmeTest *t, uint32_t reg, uint32_t val)
{
    qpci_io_writel(t->dev, t->bar, reg, val);
}

static void sq_doorbell(NvmeTest *t, uint16_t qid, uint32_t val)
{
    reg_write(t, 0x1000 + 2 * qid * 4, val);
}

static void cq_doorbell(NvmeTest *t, uint16_t qid, uint32_t val)
{
    reg_write(t, 0x1000 + (2 * qid + 1) * 4, val);
}

static bool wait_csts(NvmeTest *t, uint32_t mask, uint32_t want)
{
    for (int i = 0; i < 1000; i++) {
        if ((reg_read(t, NVME_REG_CSTS) & mask) == want) {
            return true;
        }
        g_usleep(1000);
    }
    return false;
}

#define CC_ENABLE   (1 | (6 << CC_IOSQES_SHIFT) | (4 << CC_IOCQES_SHIFT))

/* Memory pages of 4 KiB << @mps: the admin queues are aligned to them. */
static void nvme_enable_mps(NvmeTest *t, uint32_t aq_size, unsigned mps)
{
    uint64_t pg = PG << mps;
    TestQueue *aq = &t->q[0];

    aq->size = aq_size;
    t->next_ram = ROUND_UP(t->next_ram, pg);
    aq->sq = ram_alloc(t, ROUND_UP(aq_size * 64, pg));
    aq->cq = ram_alloc(t, ROUND_UP(aq_size * 16, pg));
    aq->sq_tail = aq->cq_head = 0;
    aq->phase = 1;
    reg_write(t, NVME_REG_AQA, (aq_size - 1) << 16 | (aq_size - 1));
    qpci_io_writeq(t->dev, t->bar, NVME_REG_ASQ, aq->sq);
    qpci_io_writeq(t->dev, t->bar, NVME_REG_ACQ, aq->cq);
    reg_write(t, NVME_REG_CC, CC_ENABLE | mps << CC_MPS_SHIFT);
    g_assert(wait_csts(t, NVME_CSTS_READY | NVME_CSTS_FAILED, NVME_CSTS_READY));
}

static void nvme_enable(NvmeTest *t, uint32_t aq_size)
{
    nvme_enable_mps(t, aq_size, 0);
}

static void nvme_disable(NvmeTest *t)
{
    reg_write(t, NVME_REG_CC, 0);
    g_assert(wait_csts(t, NVME_CSTS_READY, 0));
    memset(t->q, 0, sizeof(t->q));
    t->dbs = t->eis = 0;
}

/* --- commands ------------------------------------------------------------ */

static NvmeCmd cmd(uint8_t opcode)
{
    NvmeCmd c = { .opcode = opcode };

    return c;
}

static uint16_t submit(NvmeTest *t, uint16_t qid, NvmeCmd *c, bool ring)
{
    TestQueue *q = &t->q[qid];
    uint16_t cid = ++t->cid;

    c->cid = cpu_to_le16(cid);
    qtest_memwrite(t->qts, q->sq + q->sq_tail * 64ULL, c, sizeof(*c));
    q->sq_tail = (q->sq_tail + 1) % q->size;
    if (t->dbs && qid) {
        qtest_writel(t->qts, t->dbs + 2 * qid * 4, q->sq_tail);
    }
    if (ring) {
        sq_doorbell(t, qid, q->sq_tail);
    }
    return cid;
}

static bool cqe_peek(NvmeTest *t, uint16_t qid, Cqe *out)
{
    TestQueue *q = &t->q[qid];
    uint8_t raw[16];
    uint16_t st;

    qtest_memread(t->qts, q->cq + q->cq_head * 16ULL, raw, 16);
    st = lduw_le_p(raw + 14);
    if ((st & 1) != q->phase) {
        return false;
    }
    out->result = ldl_le_p(raw);
    out->sq_head = lduw_le_p(raw + 8);
    out->sq_id = lduw_le_p(raw + 10);
    out->cid = lduw_le_p(raw + 12);
    out->status = st >> 1;
    return true;
}

/* Wait for the next completion; reap it (and ring the head doorbell). */
static Cqe reap(NvmeTest *t, uint16_t qid, bool ring)
{
    TestQueue *q = &t->q[qid];
    Cqe c;
    int64_t deadline = g_get_monotonic_time() + TIMEOUT_US;

    while (!cqe_peek(t, qid, &c)) {
        if (g_get_monotonic_time() > deadline) {
            g_test_message("no completion on CQ %u (head %u)", qid,
                           q->cq_head);
            g_assert_not_reached();
        }
        g_usleep(50);
    }
    if (++q->cq_head == q->size) {
        q->cq_head = 0;
        q->phase ^= 1;
    }
    if (t->dbs && qid) {
        qtest_writel(t->qts, t->dbs + (2 * qid + 1) * 4, q->cq_head);
    }
    if (ring) {
        cq_doorbell(t, qid, q->cq_head);
    }
    return c;
}

static Cqe run(NvmeTest *t, uint16_t qid, NvmeCmd *c)
{
    uint16_t cid = submit(t, qid, c, true);
    Cqe cqe = reap(t, qid, true);

    g_assert_cmpuint(cqe.cid, ==, cid);
    g_assert_cmpuint(cqe.sq_id, ==, qid);
    return cqe;
}

static uint16_t admin(NvmeTest *t, NvmeCmd *c, uint32_t *result)
{
    Cqe cqe = run(t, 0, c);

    if (result) {
        *result = cqe.result;
    }
    return cqe.status;
}

static uint16_t identify(NvmeTest *t, uint8_t cns, uint32_t nsid, uint8_t csi,
                         uint64_t buf)
{
    NvmeCmd c = cmd(NVME_ADM_CMD_IDENTIFY);

    c.nsid = cpu_to_le32(nsid);
    c.dptr.prp1 = cpu_to_le64(buf);
    c.cdw10 = cpu_to_le32(cns);
    c.cdw11 = cpu_to_le32((uint32_t)csi << 24);
    return admin(t, &c, NULL);
}

/* A CQ whose ring is at guest address @addr. */
static uint16_t create_cq_at(NvmeTest *t, uint16_t qid, uint32_t size,
                             uint16_t vector, uint32_t flags, uint64_t addr)
{
    NvmeCmd c = cmd(NVME_ADM_CMD_CREATE_CQ);
    TestQueue *q = &t->q[MIN(qid, IOQ_MAX)];
    uint16_t status;

    c.dptr.prp1 = cpu_to_le64(addr);
    c.cdw10 = cpu_to_le32((size - 1) << 16 | qid);
    c.cdw11 = cpu_to_le32((uint32_t)vector << 16 | flags);
    status = admin(t, &c, NULL);
    if (!status) {
        q->cq = addr;
        q->size = size;
        q->cq_head = 0;
        q->phase = 1;
        q->vector = vector;
    }
    return status;
}

static uint16_t create_cq(NvmeTest *t, uint16_t qid, uint32_t size,
                          uint16_t vector, uint32_t flags)
{
    return create_cq_at(t, qid, size, vector, flags,
                        ram_alloc(t, size * 16));
}

static uint16_t create_sq(NvmeTest *t, uint16_t qid, uint16_t cqid,
                          uint32_t size, uint32_t flags)
{
    NvmeCmd c = cmd(NVME_ADM_CMD_CREATE_SQ);
    TestQueue *q = &t->q[MIN(qid, IOQ_MAX)];
    uint64_t addr = ram_alloc(t, size * 64);
    uint16_t status;

    c.dptr.prp1 = cpu_to_le64(addr);
    c.cdw10 = cpu_to_le32((size - 1) << 16 | qid);
    c.cdw11 = cpu_to_le32((uint32_t)cqid << 16 | flags);
    status = admin(t, &c, NULL);
    if (!status) {
        g_assert_cmpuint(q->size, ==, size);   /* CQ of the same size first */
        q->sq = addr;
        q->sq_tail = 0;
    }
    return status;
}

static uint16_t delete_q(NvmeTest *t, uint8_t opcode, uint16_t qid)
{
    NvmeCmd c = cmd(opcode);

    c.cdw10 = cpu_to_le32(qid);
    return admin(t, &c, NULL);
}

/* An I/O queue pair of @size entries on vector @qid. */
static void ioq(NvmeTest *t, uint16_t qid, uint32_t size)
{
    g_assert_cmphex(create_cq(t, qid, size, qid, 3), ==, 0);
    g_assert_cmphex(create_sq(t, qid, qid, size, 1), ==, 0);
}

static uint16_t get_feature(NvmeTest *t, uint8_t fid, uint32_t sel,
                            uint32_t dw11, uint32_t *result)
{
    NvmeCmd c = cmd(NVME_ADM_CMD_GET_FEATURES);

    c.cdw10 = cpu_to_le32(fid | sel << 8);
    c.cdw11 = cpu_to_le32(dw11);
    c.nsid = cpu_to_le32(1);
    return admin(t, &c, result);
}

static uint16_t set_feature(NvmeTest *t, uint8_t fid, uint32_t dw11,
                            uint32_t *result)
{
    NvmeCmd c = cmd(NVME_ADM_CMD_SET_FEATURES);

    c.cdw10 = cpu_to_le32(fid);
    c.cdw11 = cpu_to_le32(dw11);
    c.nsid = cpu_to_le32(1);
    return admin(t, &c, result);
}

/* Data buffers: PRP-described, contiguous guest memory at @buf. */
static void prp_fill(NvmeTest *t, NvmeCmd *c, uint64_t buf, uint64_t len)
{
    uint64_t first = PG - (buf % PG), rem, list;
    unsigned n, i;

    c->dptr.prp1 = cpu_to_le64(buf);
    if (len <= first) {
        return;
    }
    rem = len - first;
    if (rem <= PG) {
        c->dptr.prp2 = cpu_to_le64(buf + first);
        return;
    }
    n = DIV_ROUND_UP(rem, PG);
    g_assert_cmpuint(n, <=, PG / 8);
    list = ram_alloc(t, PG);
    for (i = 0; i < n; i++) {
        qtest_writeq(t->qts, list + i * 8, buf + first + i * PG);
    }
    c->dptr.prp2 = cpu_to_le64(list);
}

static NvmeCmd rw(uint8_t opcode, uint64_t slba, uint32_t nlb)
{
    NvmeCmd c = cmd(opcode);

    c.nsid = cpu_to_le32(1);
    c.cdw10 = cpu_to_le32((uint32_t)slba);
    c.cdw11 = cpu_to_le32(slba >> 32);
    c.cdw12 = cpu_to_le32(nlb - 1);
    return c;
}

static uint16_t io_prp(NvmeTest *t, uint16_t qid, uint8_t opcode,
                       uint64_t slba, uint32_t nlb, uint64_t buf)
{
    NvmeCmd c = rw(opcode, slba, nlb);

    prp_fill(t, &c, buf, nlb * 512ULL);
    return run(t, qid, &c).status;
}

static void pattern(uint8_t *p, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++) {
        p[i] = (uint8_t)(i * 7 + seed + (i >> 9));
    }
}

/* --- tests: registers and realize ---------------------------------------- */

static void test_pci_identity(void)
{
    NvmeTest t;

    nvme_start(&t, NULL);
    g_assert_cmphex(qpci_config_readw(t.dev, PCI_VENDOR_ID), ==,
                    NVME_ACCEL_VENDOR);
    g_assert_cmphex(qpci_config_readw(t.dev, PCI_DEVICE_ID), ==,
                    NVME_ACCEL_DEVICE);
    /* Mass storage, non-volatile memory, NVM Express I/O controller. */
    g_assert_cmphex(qpci_config_readw(t.dev, PCI_CLASS_DEVICE), ==, 0x0108);
    g_assert_cmphex(qpci_config_readb(t.dev, PCI_CLASS_PROG), ==, 0x02);
    g_assert_cmphex(qpci_find_capability(t.dev, PCI_CAP_ID_EXP, 0), !=, 0);
    g_assert_cmphex(qpci_find_capability(t.dev, PCI_CAP_ID_MSIX, 0), !=, 0);
    g_assert_cmpuint(qpci_msix_table_size(t.dev), ==, 9);
    nvme_stop(&t);
}

static void test_reset_values(void)
{
    NvmeTest t;
    uint64_t cap;

    nvme_start(&t, NULL);
    cap = qpci_io_readq(t.dev, t.bar, NVME_REG_CAP);
    g_assert_cmpint(NVME_CAP_MQES(cap), ==, 1023);
    g_assert_cmpint(NVME_CAP_CQR(cap), ==, 1);
    g_assert_cmpint(NVME_CAP_DSTRD(cap), ==, 0);
    g_assert_cmpint(NVME_CAP_CSS(cap) & NVME_CAP_CSS_NCSS, !=, 0);
    g_assert_cmpint(NVME_CAP_MPSMIN(cap), ==, 0);
    g_assert_cmpint(NVME_CAP_TO(cap), !=, 0);
    /* 32-bit halves agree with the 64-bit read. */
    g_assert_cmphex(reg_read(&t, NVME_REG_CAP), ==, (uint32_t)cap);
    g_assert_cmphex(reg_read(&t, NVME_REG_CAP + 4), ==, cap >> 32);
    g_assert_cmphex(reg_read(&t, NVME_REG_VS), ==, 0x20000);
    g_assert_cmphex(reg_read(&t, NVME_REG_CC), ==, 0);
    g_assert_cmphex(reg_read(&t, NVME_REG_CSTS), ==, 0);
    g_assert_cmphex(reg_read(&t, NVME_REG_AQA), ==, 0);
    g_assert_cmphex(qpci_io_readq(t.dev, t.bar, NVME_REG_ASQ), ==, 0);
    g_assert_cmphex(qpci_io_readq(t.dev, t.bar, NVME_REG_ACQ), ==, 0);
    nvme_stop(&t);
}

static void test_properties_reach_cap(void)
{
    NvmeTest t;

    nvme_start(&t, ",max-queue-entries=64,max-ioqpairs=2");
    g_assert_cmpint(NVME_CAP_MQES(qpci_io_readq(t.dev, t.bar, NVME_REG_CAP)),
                    ==, 63);
    g_assert_cmpuint(qpci_msix_table_size(t.dev), ==, 3);
    nvme_stop(&t);
}

static void test_admin_regs_and_shutdown(void)
{
    NvmeTest t;

    nvme_start(&t, NULL);
    reg_write(&t, NVME_REG_AQA, 0x001f001f);
    qpci_io_writeq(t.dev, t.bar, NVME_REG_ASQ, 0x123456000ULL);
    reg_write(&t, NVME_REG_ACQ, 0x789ab000);
    reg_write(&t, NVME_REG_ACQ + 4, 0x1);
    g_assert_cmphex(reg_read(&t, NVME_REG_AQA), ==, 0x001f001f);
    g_assert_cmphex(qpci_io_readq(t.dev, t.bar, NVME_REG_ASQ), ==,
                    0x123456000ULL);
    g_assert_cmphex(qpci_io_readq(t.dev, t.bar, NVME_REG_ACQ), ==,
                    0x1789ab000ULL);
    /* Writes to read-only registers are ignored. */
    reg_write(&t, NVME_REG_VS, 0xffffffff);
    g_assert_cmphex(reg_read(&t, NVME_REG_VS), ==, 0x20000);
    reg_write(&t, NVME_REG_CSTS, 0xffffffff);
    g_assert_cmphex(reg_read(&t, NVME_REG_CSTS), ==, 0);
    /* Normal shutdown notification completes. */
    reg_write(&t, NVME_REG_CC, 1 << CC_SHN_SHIFT);
    g_assert_cmphex(NVME_CSTS_SHST(reg_read(&t, NVME_REG_CSTS)), ==, 2);
    nvme_stop(&t);
}

static void test_intms_pin_based(void)
{
    NvmeTest t;

    nvme_start(&t, NULL);
    qpci_msix_disable(t.dev);
    reg_write(&t, NVME_REG_INTMS, 0x5);
    g_assert_cmphex(reg_read(&t, NVME_REG_INTMS), ==, 0x5);
    reg_write(&t, NVME_REG_INTMC, 0x1);
    g_assert_cmphex(reg_read(&t, NVME_REG_INTMC), ==, 0x4);
    nvme_stop(&t);
}

static void expect_add_error(QTestState *qts, const char *props,
                             const char *msg)
{
    g_autofree char *json = g_strdup_printf("{'driver': 'nvme-accel', %s}",
                                            props);
    QObject *args = qobject_from_json(json, &error_abort);
    QDict *resp;
    const char *desc;

    resp = qtest_qmp(qts, "{'execute': 'device_add', 'arguments': %p}", args);
    g_assert(qdict_haskey(resp, "error"));
    desc = qdict_get_str(qdict_get_qdict(resp, "error"), "desc");
    if (!strstr(desc, msg)) {
        g_test_message("device_add %s: got '%s', want '%s'", props, desc, msg);
        g_assert_not_reached();
    }
    qobject_unref(resp);
}

static void test_bad_params(void)
{
    QTestState *qts;

    qts = qtest_init("-machine pc "
                     "-drive id=d0,if=none,file=null-co://,format=raw "
                     "-drive id=d1,if=none,file=null-co://,format=raw");
    expect_add_error(qts, "'serial': 'x'", "drive property not set");
    expect_add_error(qts, "'drive': 'd0'", "serial property not set");
    expect_add_error(qts, "'drive': 'd0', 'serial': 'x', "
                     "'max-queue-entries': 1",
                     "max-queue-entries must be between 2 and 65536");
    expect_add_error(qts, "'drive': 'd0', 'serial': 'x', 'max-ioqpairs': 0",
                     "max-ioqpairs must be between 1 and 128");
    expect_add_error(qts, "'drive': 'd0', 'serial': 'x', 'lba-size': 1024",
                     "logical_block_size must be 512 or 4096");
    expect_add_error(qts, "'drive': 'd0', 'serial': 'x', 'mdts': 13",
                     "mdts must be between 1");
    expect_add_error(qts, "'drive': 'd0', 'serial': 'x', 'mdts': 0",
                     "mdts must be between 1");
    expect_add_error(qts, "'drive': 'd0', 'serial': 'x', 'accel': 'fast'",
                     "accel must be off, auto or kernel");
    expect_add_error(qts, "'drive': 'd0', 'serial': 'x', 'accel': 'kernel'",
                     "accel=kernel needs sysfsdev");
    expect_add_error(qts, "'drive': 'd0', 'serial': 'x', 'accel': 'kernel', "
                     "'sysfsdev': '/sys/bus/mdev/devices/nonexistent'",
                     "nonexistent");
    expect_add_error(qts, "'drive': 'd0', 'serial': 'x', 'accel': 'off', "
                     "'sysfsdev': '/sys/bus/mdev/devices/x'",
                     "sysfsdev is only used with accel=kernel or auto");
    /* 'kernel' moves queues of a running controller: not before realize. */
    expect_add_error(qts, "'drive': 'd0', 'serial': 'x', 'kernel': false",
                     "moves queues of a running controller");
    expect_add_error(qts, "'drive': 'd0', 'serial': 'x', 'kernel': true",
                     "moves queues of a running controller");
    /* The device still works after all that, on either drive. */
    qtest_qmp_device_add(qts, "nvme-accel", "ok0",
                         "{'drive': 'd1', 'serial': 'ok', 'accel': 'off'}");
    qtest_quit(qts);
}

/* --- tests: admin ------------------------------------------------------- */

static void test_enable_identify(void)
{
    NvmeTest t;
    uint64_t buf;
    NvmeIdCtrl id;
    NvmeIdNs ns;
    uint8_t descr[64];
    uint32_t list[4];

    nvme_start(&t, NULL);
    nvme_enable(&t, 32);
    g_assert_true(msix_fired(&t, 0) || true);
    buf = ram_alloc(&t, PG);

    g_assert_cmphex(identify(&t, NVME_ID_CNS_CTRL, 0, 0, buf), ==, 0);
    g_assert_true(msix_fired(&t, 0));
    qtest_memread(t.qts, buf, &id, sizeof(id));
    g_assert_cmphex(le16_to_cpu(id.vid), ==, NVME_ACCEL_VENDOR);
    g_assert_cmpmem(id.sn, 4, "acc0", 4);
    g_assert_cmpuint(id.sqes, ==, 0x66);
    g_assert_cmpuint(id.cqes, ==, 0x44);
    g_assert_cmpuint(le32_to_cpu(id.nn), ==, 1);
    g_assert_cmpuint(id.mdts, ==, kernel_sysfsdev ? 6 : 7);  /* 256 KiB in kvm-accel */
    g_assert_cmphex(le16_to_cpu(id.oacs) & NVME_OACS_DBCS, !=, 0);
    g_assert_cmphex(le16_to_cpu(id.oncs) & NVME_ONCS_WRITE_ZEROES, !=, 0);
    g_assert_cmphex(le32_to_cpu(id.sgls) & 3, ==, 1);
    g_assert_cmphex(le32_to_cpu(id.ver), ==, 0x20000);
    g_assert_cmpuint(id.cntrltype, ==, 1);

    g_assert_cmphex(identify(&t, NVME_ID_CNS_NS, 1, 0, buf), ==, 0);
    qtest_memread(t.qts, buf, &ns, sizeof(ns));
    g_assert_cmpuint(le64_to_cpu(ns.nsze), ==, DISK_SIZE / 512);
    g_assert_cmpuint(ns.lbaf[0].ds, ==, 9);

    g_assert_cmphex(identify(&t, NVME_ID_CNS_NS_ACTIVE_LIST, 0, 0, buf), ==, 0);
    qtest_memread(t.qts, buf, list, sizeof(list));
    g_assert_cmpuint(list[0], ==, 1);
    g_assert_cmpuint(list[1], ==, 0);
    g_assert_cmphex(identify(&t, NVME_ID_CNS_NS_ACTIVE_LIST, 1, 0, buf), ==, 0);
    qtest_memread(t.qts, buf, list, sizeof(list));
    g_assert_cmpuint(list[0], ==, 0);

    g_assert_cmphex(identify(&t, NVME_ID_CNS_NS_DESCR_LIST, 1, 0, buf), ==, 0);
    qtest_memread(t.qts, buf, descr, sizeof(descr));
    g_assert_cmpuint(descr[0], ==, NVME_NIDT_UUID);
    g_assert_cmpuint(descr[1], ==, NVME_NIDL_UUID);
    g_assert_cmpuint(descr[20], ==, NVME_NIDT_CSI);
    g_assert_cmpuint(descr[24], ==, NVME_CSI_NVM);

    g_assert_cmphex(identify(&t, NVME_ID_CNS_CS_CTRL, 0, NVME_CSI_NVM, buf),
                    ==, 0);
    g_assert_cmphex(identify(&t, NVME_ID_CNS_CS_IND_NS, 1, 0, buf), ==, 0);

    /* Bad requests. */
    g_assert_cmphex(identify(&t, NVME_ID_CNS_NS, 2, 0, buf), ==,
                    NVME_INVALID_NSID | NVME_DNR);
    g_assert_cmphex(identify(&t, NVME_ID_CNS_NS, 0, 0, buf), ==,
                    NVME_INVALID_NSID | NVME_DNR);
    g_assert_cmphex(identify(&t, NVME_ID_CNS_NS, NVME_NSID_BROADCAST, 0, buf),
                    ==, NVME_INVALID_NSID | NVME_DNR);
    g_assert_cmphex(identify(&t, 0x42, 0, 0, buf), ==,
                    NVME_INVALID_FIELD | NVME_DNR);
    g_assert_cmphex(identify(&t, NVME_ID_CNS_CS_CTRL, 0, NVME_CSI_ZONED, buf),
                    ==, NVME_INVALID_FIELD | NVME_DNR);
    /* Data pointer outside guest RAM. */
    g_assert_cmphex(identify(&t, NVME_ID_CNS_CTRL, 0, 0, 0xfec00000ULL), ==,
                    NVME_DATA_TRAS_ERROR | NVME_DNR);
    g_assert_cmphex(identify(&t, NVME_ID_CNS_CTRL, 0, 0, buf + 2), ==,
                    NVME_INVALID_PRP_OFFSET | NVME_DNR);
    nvme_stop(&t);
}

/* A CC.EN=1 the controller cannot honour: CFS at once, cleared by EN=0. */
static void expect_enable_fails(NvmeTest *t, uint32_t cc)
{
    reg_write(t, NVME_REG_CC, cc);
    g_assert_cmphex(reg_read(t, NVME_REG_CSTS) &
                    (NVME_CSTS_READY | NVME_CSTS_FAILED), ==, NVME_CSTS_FAILED);
    reg_write(t, NVME_REG_CC, 0);
    g_assert_cmphex(reg_read(t, NVME_REG_CSTS) &
                    (NVME_CSTS_READY | NVME_CSTS_FAILED), ==, 0);
}

static void test_enable_bad_config(void)
{
    NvmeTest t;

    nvme_start(&t, NULL);
    /* ASQ not page aligned. */
    reg_write(&t, NVME_REG_AQA, 0x000f000f);
    qpci_io_writeq(t.dev, t.bar, NVME_REG_ASQ, 0);
    qpci_io_writeq(t.dev, t.bar, NVME_REG_ACQ, RAM_POOL);
    expect_enable_fails(&t, CC_ENABLE);
    /* MPS above MPSMAX. */
    qpci_io_writeq(t.dev, t.bar, NVME_REG_ASQ, RAM_POOL + PG);
    expect_enable_fails(&t, CC_ENABLE | (8 << CC_MPS_SHIFT));
    /* Unsupported command set. */
    expect_enable_fails(&t, CC_ENABLE | (1 << CC_CSS_SHIFT));
    /* And a good one works. */
    nvme_enable(&t, 2);
    nvme_stop(&t);
}

static void test_queue_management(void)
{
    NvmeTest t;
    uint32_t result;

    nvme_start(&t, ",max-ioqpairs=4,max-queue-entries=1024");
    nvme_enable(&t, 8);
    g_assert_cmphex(set_feature(&t, NVME_NUMBER_OF_QUEUES, 0x00ff00ff,
                                &result), ==, 0);
    g_assert_cmphex(result, ==, 0x00030003);   /* all 4, 0's based */
    /* Ask for 3: queue 4 then exists, but is not granted. */
    g_assert_cmphex(set_feature(&t, NVME_NUMBER_OF_QUEUES, 0x00020002,
                                &result), ==, 0);
    g_assert_cmphex(result, ==, 0x00020002);

    /* Sizes: the smallest, a middling one, the largest. */
    g_assert_cmphex(create_cq(&t, 1, 2, 1, 3), ==, 0);
    g_assert_cmphex(create_sq(&t, 1, 1, 2, 1), ==, 0);
    g_assert_cmphex(create_cq(&t, 2, 1024, 2, 3), ==, 0);
    g_assert_cmphex(create_sq(&t, 2, 2, 1024, 1), ==, 0);
    g_assert_cmphex(create_cq(&t, 3, 100, 3, 3), ==, 0);

    /* Create CQ: every status a guest can provoke. */
    g_assert_cmphex(create_cq(&t, 0, 16, 0, 3), ==, NVME_INVALID_QID | NVME_DNR);
    g_assert_cmphex(create_cq(&t, 1, 16, 1, 3), ==, NVME_INVALID_QID | NVME_DNR);
    g_assert_cmphex(create_cq(&t, 4, 16, 1, 3), ==, NVME_INVALID_QID | NVME_DNR);
    g_assert_cmphex(create_cq(&t, 5, 16, 1, 3), ==, NVME_INVALID_QID | NVME_DNR);
    g_assert_cmphex(create_cq(&t, 0xffff, 16, 1, 3), ==,
                    NVME_INVALID_QID | NVME_DNR);
    g_assert_cmphex(create_sq(&t, 3, 3, 100, 1), ==, 0);
    g_assert_cmphex(delete_q(&t, NVME_ADM_CMD_DELETE_SQ, 3), ==, 0);
    g_assert_cmphex(delete_q(&t, NVME_ADM_CMD_DELETE_CQ, 3), ==, 0);
    g_assert_cmphex(create_cq(&t, 3, 1025, 3, 3), ==,
                    NVME_MAX_QSIZE_EXCEEDED | NVME_DNR);
    g_assert_cmphex(create_cq(&t, 3, 1, 3, 3), ==,
                    NVME_MAX_QSIZE_EXCEEDED | NVME_DNR);
    g_assert_cmphex(create_cq(&t, 3, 16, 9, 3), ==,
                    NVME_INVALID_IRQ_VECTOR | NVME_DNR);
    g_assert_cmphex(create_cq(&t, 3, 16, 3, 2), ==,
                    NVME_INVALID_FIELD | NVME_DNR);    /* not contiguous */

    /* Create SQ. */
    g_assert_cmphex(create_cq(&t, 3, 16, 3, 3), ==, 0);
    g_assert_cmphex(create_sq(&t, 3, 0, 16, 1), ==, NVME_INVALID_CQID | NVME_DNR);
    g_assert_cmphex(create_sq(&t, 3, 4, 16, 1), ==, NVME_INVALID_CQID | NVME_DNR);
    g_assert_cmphex(create_sq(&t, 1, 3, 16, 1), ==, NVME_INVALID_QID | NVME_DNR);
    g_assert_cmphex(create_sq(&t, 0, 3, 16, 1), ==, NVME_INVALID_QID | NVME_DNR);
    g_assert_cmphex(create_sq(&t, 3, 3, 2000, 1), ==,
                    NVME_MAX_QSIZE_EXCEEDED | NVME_DNR);
    g_assert_cmphex(create_sq(&t, 3, 3, 16, 0), ==, NVME_INVALID_FIELD | NVME_DNR);

    /* Number of queues may not change once I/O queues exist. */
    g_assert_cmphex(set_feature(&t, NVME_NUMBER_OF_QUEUES, 0, NULL), ==,
                    NVME_CMD_SEQ_ERROR | NVME_DNR);

    /* Delete: order and existence. */
    g_assert_cmphex(delete_q(&t, NVME_ADM_CMD_DELETE_CQ, 2), ==,
                    NVME_INVALID_QUEUE_DEL | NVME_DNR);
    g_assert_cmphex(delete_q(&t, NVME_ADM_CMD_DELETE_SQ, 0), ==,
                    NVME_INVALID_QID | NVME_DNR);
    g_assert_cmphex(delete_q(&t, NVME_ADM_CMD_DELETE_SQ, 3), ==,
                    NVME_INVALID_QID | NVME_DNR);
    g_assert_cmphex(delete_q(&t, NVME_ADM_CMD_DELETE_CQ, 0), ==,
                    NVME_INVALID_QID | NVME_DNR);
    g_assert_cmphex(delete_q(&t, NVME_ADM_CMD_DELETE_SQ, 2), ==, 0);
    g_assert_cmphex(delete_q(&t, NVME_ADM_CMD_DELETE_CQ, 2), ==, 0);
    g_assert_cmphex(delete_q(&t, NVME_ADM_CMD_DELETE_CQ, 2), ==,
                    NVME_INVALID_QID | NVME_DNR);
    nvme_stop(&t);
}

/* --- tests: I/O ------------------------------------------------------------ */

static void check_rw(NvmeTest *t, uint16_t qid, uint64_t slba, uint32_t nlb,
                     uint64_t offset_in_page, unsigned seed)
{
    size_t len = nlb * 512;
    g_autofree uint8_t *out = g_malloc(len), *in = g_malloc(len);
    uint64_t wbuf = ram_alloc(t, len + PG) + offset_in_page;
    uint64_t rbuf = ram_alloc(t, len + PG) + offset_in_page;

    pattern(out, len, seed);
    qtest_memwrite(t->qts, wbuf, out, len);
    g_assert_cmphex(io_prp(t, qid, NVME_CMD_WRITE, slba, nlb, wbuf), ==, 0);
    g_assert_cmphex(io_prp(t, qid, NVME_CMD_READ, slba, nlb, rbuf), ==, 0);
    qtest_memread(t->qts, rbuf, in, len);
    g_assert_cmpmem(in, len, out, len);
}

static void test_io_prp(void)
{
    NvmeTest t;
    g_autofree uint8_t *disk = NULL;
    uint8_t expect[4096];
    gsize disk_len;

    nvme_start(&t, NULL);
    nvme_enable(&t, 8);
    ioq(&t, 1, 64);
    check_rw(&t, 1, 0, 1, 0, 1);            /* PRP1 only */
    check_rw(&t, 1, 8, 8, 0x200, 2);        /* PRP1 + PRP2, offset */
    check_rw(&t, 1, 100, 128, 0, 3);        /* 64 KiB: a PRP list */
    check_rw(&t, 1, 1000, 256, 0x800, 4);   /* 128 KiB, list, offset */
    check_rw(&t, 1, DISK_SIZE / 512 - 8, 8, 0, 5); /* the last LBAs */
    g_assert_true(msix_wait(&t, 1));
    /* What the guest wrote is on the drive. */
    g_assert_true(g_file_get_contents(t.disk, (gchar **)&disk, &disk_len,
                                      NULL));
    pattern(expect, 4096, 2);
    g_assert_cmpmem(disk + 8 * 512, 4096, expect, 4096);
    nvme_stop(&t);
}

static void test_io_prp_chain(void)
{
    NvmeTest t;
    size_t len = 12 * PG;
    g_autofree uint8_t *out = g_malloc(len), *in = g_malloc(len);
    uint64_t buf;
    NvmeCmd c;
    uint64_t pages[12], list1, list2;

    nvme_start(&t, NULL);
    nvme_enable(&t, 8);
    ioq(&t, 1, 16);
    /* Scattered data pages. */
    for (int i = 0; i < 12; i++) {
        pages[i] = ram_alloc(&t, 2 * PG);
    }
    pattern(out, len, 9);
    for (int i = 0; i < 12; i++) {
        qtest_memwrite(t.qts, pages[i], out + i * PG, PG);
    }
    /* First list page: two data entries, then the chain pointer. */
    list1 = ram_alloc(&t, PG) + PG - 24;
    list2 = ram_alloc(&t, PG);
    qtest_writeq(t.qts, list1, pages[1]);
    qtest_writeq(t.qts, list1 + 8, pages[2]);
    qtest_writeq(t.qts, list1 + 16, list2);
    for (int i = 3; i < 12; i++) {
        qtest_writeq(t.qts, list2 + (i - 3) * 8, pages[i]);
    }
    c = rw(NVME_CMD_WRITE, 64, 96);
    c.dptr.prp1 = cpu_to_le64(pages[0]);
    c.dptr.prp2 = cpu_to_le64(list1);
    g_assert_cmphex(run(&t, 1, &c).status, ==, 0);
    buf = ram_alloc(&t, len);
    g_assert_cmphex(io_prp(&t, 1, NVME_CMD_READ, 64, 96, buf), ==, 0);
    qtest_memread(t.qts, buf, in, len);
    g_assert_cmpmem(in, len, out, len);
    nvme_stop(&t);
}

static void sgl_put(uint8_t *d, uint64_t addr, uint32_t len, uint8_t type)
{
    memset(d, 0, 16);
    stq_le_p(d, addr);
    stl_le_p(d + 8, len);
    d[15] = type << 4;
}

static void sgl_desc(NvmeTest *t, uint64_t at, uint64_t addr, uint32_t len,
                     uint8_t type)
{
    uint8_t d[16];

    sgl_put(d, addr, len, type);
    qtest_memwrite(t->qts, at, d, 16);
}

/* SGL1 in the command, its data pointer. */
static void sgl_dptr(NvmeCmd *c, uint64_t addr, uint32_t len, uint8_t type)
{
    c->flags = NVME_PSDT_SGL_MPTR_CONTIGUOUS << 6;
    c->dptr.sgl.addr = cpu_to_le64(addr);
    c->dptr.sgl.len = cpu_to_le32(len);
    c->dptr.sgl.type = type << 4;
}

static void test_io_sgl(void)
{
    NvmeTest t;
    uint8_t out[4096], in[4096];
    uint64_t a, b, c3, seg, rbuf;
    NvmeCmd c;

    nvme_start(&t, NULL);
    nvme_enable(&t, 8);
    ioq(&t, 1, 16);
    pattern(out, sizeof(out), 33);
    /* Three unaligned blocks: 1000 + 2000 + 1096 bytes. */
    a = ram_alloc(&t, PG) + 3;
    b = ram_alloc(&t, PG) + 100;
    c3 = ram_alloc(&t, 2 * PG) + PG - 10;
    qtest_memwrite(t.qts, a, out, 1000);
    qtest_memwrite(t.qts, b, out + 1000, 2000);
    qtest_memwrite(t.qts, c3, out + 3000, 1096);
    seg = ram_alloc(&t, PG);
    sgl_desc(&t, seg, a, 1000, NVME_SGL_DESCR_TYPE_DATA_BLOCK);
    sgl_desc(&t, seg + 16, b, 2000, NVME_SGL_DESCR_TYPE_DATA_BLOCK);
    sgl_desc(&t, seg + 32, c3, 1096, NVME_SGL_DESCR_TYPE_DATA_BLOCK);
    c = rw(NVME_CMD_WRITE, 200, 8);
    sgl_dptr(&c, seg, 48, NVME_SGL_DESCR_TYPE_LAST_SEGMENT);
    g_assert_cmphex(run(&t, 1, &c).status, ==, 0);
    /* Read back through a single data block descriptor in the SQE. */
    rbuf = ram_alloc(&t, 2 * PG) + 7;
    c = rw(NVME_CMD_READ, 200, 8);
    sgl_dptr(&c, rbuf, 4096, NVME_SGL_DESCR_TYPE_DATA_BLOCK);
    g_assert_cmphex(run(&t, 1, &c).status, ==, 0);
    qtest_memread(t.qts, rbuf, in, sizeof(in));
    g_assert_cmpmem(in, sizeof(in), out, sizeof(out));
    /* Bad SGLs. */
    c.dptr.sgl.len = cpu_to_le32(4000);
    g_assert_cmphex(run(&t, 1, &c).status, ==,
                    NVME_DATA_SGL_LEN_INVALID | NVME_DNR);
    c.dptr.sgl.len = cpu_to_le32(4096);
    c.dptr.sgl.type = NVME_SGL_DESCR_TYPE_BIT_BUCKET << 4;
    g_assert_cmphex(run(&t, 1, &c).status, ==,
                    NVME_SGL_DESCR_TYPE_INVALID | NVME_DNR);
    c.dptr.sgl.type = NVME_SGL_DESCR_TYPE_SEGMENT << 4;
    c.dptr.sgl.addr = cpu_to_le64(seg);
    c.dptr.sgl.len = cpu_to_le32(40);
    g_assert_cmphex(run(&t, 1, &c).status, ==,
                    NVME_INVALID_SGL_SEG_DESCR | NVME_DNR);
    nvme_stop(&t);
}

/*
 * An SGL with more discontiguous blocks than a request's scatter list holds
 * (129 at 512 KiB MDTS in QEMU, 65 at 256 KiB in kvm-accel) is still a valid
 * command, up to 1024 descriptors (segment descriptors count, SGL1 does
 * not). Linux sends up to 128 segments (NVME_MAX_SEGS); other hosts more.
 */
static void test_io_sgl_scattered(void)
{
    /* 256 KiB: within MDTS in both modes (6 in kvm-accel, 7 in QEMU). */
    enum { NDESC = 1024, LEN = 256 * KiB, NRD = 512, RBLK = LEN / NRD,
           RSEG1 = 300 };
    g_autofree uint8_t *out = g_malloc(LEN), *in = g_malloc(LEN);
    g_autofree uint8_t *img = g_malloc0(4 * MiB);
    g_autofree uint8_t *d = g_malloc0((NDESC + 1) * 16);
    uint64_t area, seg, seg2, buf, at = 0;
    NvmeTest t;
    NvmeCmd c;
    int i;

    nvme_start(&t, NULL);
    nvme_enable(&t, 8);
    ioq(&t, 1, 16);
    pattern(out, LEN, 61);
    area = ram_alloc(&t, 4 * MiB);
    seg = ram_alloc(&t, (NDESC + 1) * 16);
    seg2 = ram_alloc(&t, PG);

    /* Write: 1024 blocks of 100 and 412 bytes, each 4 KiB apart. */
    for (i = 0; i < NDESC; i++) {
        uint32_t len = i % 2 ? 412 : 100;
        uint64_t off = (uint64_t)i * 4 * KiB + (i % 5) * 8;

        memcpy(img + off, out + at, len);
        sgl_put(d + i * 16, area + off, len, NVME_SGL_DESCR_TYPE_DATA_BLOCK);
        at += len;
    }
    g_assert_cmpuint(at, ==, LEN);
    qtest_memwrite(t.qts, area, img, 4 * MiB);
    qtest_memwrite(t.qts, seg, d, NDESC * 16);
    c = rw(NVME_CMD_WRITE, 1024, LEN / 512);
    sgl_dptr(&c, seg, NDESC * 16, NVME_SGL_DESCR_TYPE_LAST_SEGMENT);
    g_assert_cmphex(run(&t, 1, &c).status, ==, 0);

    /* What the namespace holds, read back through PRPs. */
    buf = ram_alloc(&t, LEN);
    g_assert_cmphex(io_prp(&t, 1, NVME_CMD_READ, 1024, LEN / 512, buf), ==, 0);
    qtest_memread(t.qts, buf, in, LEN);
    g_assert_cmpmem(in, LEN, out, LEN);

    /*
     * Read: 512 blocks of 512 bytes at odd addresses over two segments, the
     * first ending with the Last Segment descriptor for the second.
     */
    qtest_memset(t.qts, area, 0xee, 4 * MiB);
    for (i = 0; i < NRD; i++) {
        /* Slot RSEG1 - 1 is the Last Segment descriptor. */
        int slot = i < RSEG1 - 1 ? i : i + 1;
        uint8_t *where = slot < RSEG1 ? d + slot * 16 :
                                        img + (slot - RSEG1) * 16;

        sgl_put(where, area + (uint64_t)i * 8 * KiB + 3, RBLK,
                NVME_SGL_DESCR_TYPE_DATA_BLOCK);
    }
    sgl_put(d + (RSEG1 - 1) * 16, seg2, (NRD - RSEG1 + 1) * 16,
            NVME_SGL_DESCR_TYPE_LAST_SEGMENT);
    qtest_memwrite(t.qts, seg, d, RSEG1 * 16);
    qtest_memwrite(t.qts, seg2, img, (NRD - RSEG1 + 1) * 16);
    c = rw(NVME_CMD_READ, 1024, LEN / 512);
    sgl_dptr(&c, seg, RSEG1 * 16, NVME_SGL_DESCR_TYPE_SEGMENT);
    g_assert_cmphex(run(&t, 1, &c).status, ==, 0);
    for (i = 0; i < NRD; i++) {
        qtest_memread(t.qts, area + (uint64_t)i * 8 * KiB + 3, in + i * RBLK,
                      RBLK);
    }
    g_assert_cmpmem(in, LEN, out, LEN);

    /* Compare against the same scattered buffer: equal. */
    c.opcode = NVME_CMD_COMPARE;
    g_assert_cmphex(run(&t, 1, &c).status, ==, 0);
    qtest_writeb(t.qts, area + 100 * 8 * KiB + 3, out[100 * RBLK] ^ 1);
    g_assert_cmphex(run(&t, 1, &c).status, ==, NVME_CMP_FAILURE | NVME_DNR);

    /* 1025 descriptors, even with the last one empty: too many. */
    for (i = 0; i <= NDESC; i++) {
        sgl_put(d + i * 16, area + (uint64_t)i * 4 * KiB,
                i == NDESC ? 0 : LEN / NDESC,
                NVME_SGL_DESCR_TYPE_DATA_BLOCK);
    }
    qtest_memwrite(t.qts, seg, d, (NDESC + 1) * 16);
    c = rw(NVME_CMD_WRITE, 1024, LEN / 512);
    sgl_dptr(&c, seg, (NDESC + 1) * 16, NVME_SGL_DESCR_TYPE_LAST_SEGMENT);
    g_assert_cmphex(run(&t, 1, &c).status, ==,
                    NVME_INVALID_NUM_SGL_DESCRS | NVME_DNR);
    /* And a scattered block outside guest RAM fails the transfer. */
    sgl_put(d + 700 * 16, 1ULL << 50, LEN / NDESC,
            NVME_SGL_DESCR_TYPE_DATA_BLOCK);
    qtest_memwrite(t.qts, seg + 700 * 16, d + 700 * 16, 16);
    c.dptr.sgl.len = cpu_to_le32(NDESC * 16);
    g_assert_cmphex(run(&t, 1, &c).status, ==, NVME_DATA_TRAS_ERROR | NVME_DNR);
    nvme_stop(&t);
}

/* QEMU's peak resident memory since @reset, in KiB (VmHWM). */
static long qemu_peak_rss_kib(NvmeTest *t, bool reset)
{
    g_autofree char *dir = g_strdup_printf("/proc/%d", (int)qtest_pid(t->qts));
    g_autofree char *path = g_strdup_printf("%s/status", dir);
    g_autofree char *status = NULL;
    long kib = -1;
    char *p;

    if (reset) {
        g_autofree char *refs = g_strdup_printf("%s/clear_refs", dir);
        int fd = open(refs, O_WRONLY);

        /* 5: reset the peak to the current RSS. */
        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(write(fd, "5", 1), ==, 1);
        close(fd);
    }
    g_assert_true(g_file_get_contents(path, &status, NULL, NULL));
    p = strstr(status, "VmHWM:");
    g_assert_nonnull(p);
    g_assert_cmpint(sscanf(p, "VmHWM: %ld kB", &kib), ==, 1);
    return kib;
}

/* An SGL for a 512 KiB streamed transfer: 2 KiB blocks, last first. */
static uint64_t streamed_sgl(NvmeTest *t)
{
    enum { NDESC = 256, LEN = 512 * KiB };
    g_autofree uint8_t *d = g_malloc0(NDESC * 16);
    uint64_t area = ram_alloc(t, LEN), seg = ram_alloc(t, NDESC * 16);

    for (int i = 0; i < NDESC; i++) {
        sgl_put(d + i * 16, area + (uint64_t)(NDESC - 1 - i) * LEN / NDESC,
                LEN / NDESC, NVME_SGL_DESCR_TYPE_DATA_BLOCK);
    }
    qtest_memwrite(t->qts, seg, d, NDESC * 16);
    return seg;
}

static void submit_streamed_writes(NvmeTest *t, uint16_t qid, uint64_t seg,
                                   int n)
{
    for (int i = 0; i < n; i++) {
        NvmeCmd c = rw(NVME_CMD_WRITE, 0, 512 * KiB / 512);

        sgl_dptr(&c, seg, 256 * 16, NVME_SGL_DESCR_TYPE_LAST_SEGMENT);
        submit(t, qid, &c, i == n - 1);
    }
}

/*
 * Streamed SGLs and Compare go through bounce memory, which a guest must
 * not be able to multiply: every SQ full of 512 KiB streamed writes would
 * hold up to 4 x 64 x 512 KiB of QEMU's memory. They share a bounded
 * budget; what does not fit waits in its SQ, and every command completes.
 */
static void test_bounce_bounded(void)
{
    enum { PER_SQ = 64 };
    long base, grew;
    uint64_t seg;
    NvmeTest t;
    int q, i;

    nvme_start_device(&t, NULL, "null-co://",
                      ",file.latency-ns=50000000", NULL);
    nvme_enable(&t, 8);
    for (q = 1; q <= IOQ_MAX; q++) {
        ioq(&t, q, PER_SQ + 1);
    }
    seg = streamed_sgl(&t);
    base = qemu_peak_rss_kib(&t, true);
    for (q = 1; q <= IOQ_MAX; q++) {
        submit_streamed_writes(&t, q, seg, PER_SQ);
    }
    for (i = 0; i < PER_SQ; i++) {
        for (q = 1; q <= IOQ_MAX; q++) {
            g_assert_cmphex(reap(&t, q, true).status, ==, 0);
        }
    }
    grew = qemu_peak_rss_kib(&t, false) - base;
    g_test_message("peak RSS grew by %ld KiB for %d streamed writes of "
                   "512 KiB", grew, IOQ_MAX * PER_SQ);
#ifndef QEMU_SANITIZE_ADDRESS
    /* Not under ASan: its quarantine keeps freed buffers resident. */
    g_assert_cmpint(grew, <, 64 * 1024);
#endif
    nvme_stop(&t);
}

/* Completions posted in @qid's CQ and not yet reaped. */
static unsigned cq_posted(NvmeTest *t, uint16_t qid)
{
    TestQueue *q = &t->q[qid];
    unsigned head = q->cq_head, phase = q->phase, n = 0;

    for (;;) {
        uint16_t st = qtest_readw(t->qts, q->cq + head * 16ULL + 14);

        if ((st & 1) != phase || n == q->size) {
            return n;
        }
        n++;
        if (++head == q->size) {
            head = 0;
            phase ^= 1;
        }
    }
}

/*
 * SQs take turns for bounce memory: one kept busy with streamed writes
 * cannot keep another's from running until it runs dry (SQ 2's bottom half
 * ran first every time memory came back, and took it).
 */
static void test_bounce_fair(void)
{
    enum { BUSY = 255 };
    unsigned before;
    uint64_t seg;
    NvmeTest t;

    /* Long enough that SQ 1 comes while SQ 2's first writes are out. */
    nvme_start_device(&t, NULL, "null-co://",
                      ",file.latency-ns=200000000", NULL);
    nvme_enable(&t, 8);
    ioq(&t, 1, 16);
    ioq(&t, 2, BUSY + 1);
    seg = streamed_sgl(&t);
    submit_streamed_writes(&t, 2, seg, BUSY);
    submit_streamed_writes(&t, 1, seg, 1);
    g_assert_cmphex(reap(&t, 1, true).status, ==, 0);
    before = cq_posted(&t, 2);
    g_test_message("SQ 1's write completed after %u of SQ 2's %u", before,
                   BUSY);
    g_assert_cmpuint(before, <, BUSY / 2);
    for (int i = 0; i < BUSY; i++) {
        g_assert_cmphex(reap(&t, 2, true).status, ==, 0);
    }
    nvme_stop(&t);
}

static void test_io_commands(void)
{
    NvmeTest t;
    uint8_t out[4096], in[4096], zero[4096] = { 0 };
    uint64_t buf = 0, ranges;
    NvmeCmd c;

    nvme_start(&t, NULL);
    nvme_enable(&t, 8);
    ioq(&t, 1, 32);
    buf = ram_alloc(&t, PG);
    pattern(out, sizeof(out), 77);
    qtest_memwrite(t.qts, buf, out, sizeof(out));
    g_assert_cmphex(io_prp(&t, 1, NVME_CMD_WRITE, 40, 8, buf), ==, 0);

    /* Compare: equal, then different. */
    g_assert_cmphex(io_prp(&t, 1, NVME_CMD_COMPARE, 40, 8, buf), ==, 0);
    qtest_writeb(t.qts, buf + 4000, out[4000] ^ 1);
    g_assert_cmphex(io_prp(&t, 1, NVME_CMD_COMPARE, 40, 8, buf), ==,
                    NVME_CMP_FAILURE | NVME_DNR);

    /* Flush, to this namespace and to all. */
    c = rw(NVME_CMD_FLUSH, 0, 1);
    g_assert_cmphex(run(&t, 1, &c).status, ==, 0);
    c.nsid = cpu_to_le32(NVME_NSID_BROADCAST);
    g_assert_cmphex(run(&t, 1, &c).status, ==, 0);

    /* Write Zeroes, with deallocate allowed. */
    c = rw(NVME_CMD_WRITE_ZEROES, 40, 8);
    c.cdw12 |= cpu_to_le32(1 << 25);
    g_assert_cmphex(run(&t, 1, &c).status, ==, 0);
    g_assert_cmphex(io_prp(&t, 1, NVME_CMD_READ, 40, 8, buf), ==, 0);
    qtest_memread(t.qts, buf, in, sizeof(in));
    g_assert_cmpmem(in, sizeof(in), zero, sizeof(zero));

    /* Dataset Management: deallocate two ranges; then attributes only. */
    ranges = ram_alloc(&t, PG);
    qtest_writel(t.qts, ranges + 4, 8);
    qtest_writeq(t.qts, ranges + 8, 40);
    qtest_writel(t.qts, ranges + 16 + 4, 16);
    qtest_writeq(t.qts, ranges + 16 + 8, 400);
    c = cmd(NVME_CMD_DSM);
    c.nsid = cpu_to_le32(1);
    c.dptr.prp1 = cpu_to_le64(ranges);
    c.cdw10 = cpu_to_le32(1);
    c.cdw11 = cpu_to_le32(1 << 2);
    g_assert_cmphex(run(&t, 1, &c).status, ==, 0);
    c.cdw11 = cpu_to_le32(1);
    g_assert_cmphex(run(&t, 1, &c).status, ==, 0);
    qtest_writeq(t.qts, ranges + 16 + 8, DISK_SIZE / 512);
    c.cdw11 = cpu_to_le32(1 << 2);
    g_assert_cmphex(run(&t, 1, &c).status, ==, NVME_LBA_RANGE | NVME_DNR);
    nvme_stop(&t);
}

static void test_io_errors(void)
{
    NvmeTest t;
    uint64_t buf;
    NvmeCmd c;
    uint32_t result;

    nvme_start(&t, NULL);
    nvme_enable(&t, 8);
    ioq(&t, 1, 32);
    buf = ram_alloc(&t, 4 * PG);

    /* LBA range: one past the end, and wrapping around 2^64. */
    g_assert_cmphex(io_prp(&t, 1, NVME_CMD_READ, DISK_SIZE / 512, 1, buf), ==,
                    NVME_LBA_RANGE | NVME_DNR);
    g_assert_cmphex(io_prp(&t, 1, NVME_CMD_WRITE, DISK_SIZE / 512 - 1, 2, buf),
                    ==, NVME_LBA_RANGE | NVME_DNR);
    g_assert_cmphex(io_prp(&t, 1, NVME_CMD_READ, UINT64_MAX, 2, buf), ==,
                    NVME_LBA_RANGE | NVME_DNR);
    /* Opcodes we do not implement. */
    c = rw(0x7f, 0, 1);
    g_assert_cmphex(run(&t, 1, &c).status, ==, NVME_INVALID_OPCODE | NVME_DNR);
    c = rw(NVME_CMD_WRITE_UNCOR, 0, 1);
    g_assert_cmphex(run(&t, 1, &c).status, ==, NVME_INVALID_OPCODE | NVME_DNR);
    /* Namespace IDs. */
    c = rw(NVME_CMD_READ, 0, 1);
    c.dptr.prp1 = cpu_to_le64(buf);
    c.nsid = cpu_to_le32(2);
    g_assert_cmphex(run(&t, 1, &c).status, ==, NVME_INVALID_NSID | NVME_DNR);
    c.nsid = 0;
    g_assert_cmphex(run(&t, 1, &c).status, ==, NVME_INVALID_NSID | NVME_DNR);
    /* Data pointers. */
    c = rw(NVME_CMD_READ, 0, 1);
    c.dptr.prp1 = cpu_to_le64(buf + 1);
    g_assert_cmphex(run(&t, 1, &c).status, ==,
                    NVME_INVALID_PRP_OFFSET | NVME_DNR);
    c = rw(NVME_CMD_READ, 0, 16);
    c.dptr.prp1 = cpu_to_le64(buf);
    c.dptr.prp2 = cpu_to_le64(buf + PG + 512);
    g_assert_cmphex(run(&t, 1, &c).status, ==,
                    NVME_INVALID_PRP_OFFSET | NVME_DNR);
    c = rw(NVME_CMD_READ, 0, 1);
    c.dptr.prp1 = cpu_to_le64(0xfec00000ULL);      /* the IOAPIC, not RAM */
    g_assert_cmphex(run(&t, 1, &c).status, ==, NVME_DATA_TRAS_ERROR | NVME_DNR);
    c.dptr.prp1 = cpu_to_le64(0x7ffffff000ULL);    /* nothing there */
    g_assert_cmphex(run(&t, 1, &c).status, ==, NVME_DATA_TRAS_ERROR | NVME_DNR);
    /* MDTS: 512 KiB is the limit. */
    c = rw(NVME_CMD_READ, 0, 1025);
    c.dptr.prp1 = cpu_to_le64(buf);
    g_assert_cmphex(run(&t, 1, &c).status, ==, NVME_INVALID_FIELD | NVME_DNR);
    /* Fused commands are not supported. */
    c = rw(NVME_CMD_COMPARE, 0, 1);
    c.dptr.prp1 = cpu_to_le64(buf);
    c.flags = 1;
    g_assert_cmphex(run(&t, 1, &c).status, ==, NVME_INVALID_FIELD | NVME_DNR);

    /*
     * The 13 errors are in the error log, newest first, in kernel mode too
     * (the module reports every failed command): entry 0 is the fused
     * Compare, entry 12 the read one past the end. Error count, SQ ID,
     * status and LBA at offsets 0, 8, 12 and 16.
     */
    c = cmd(NVME_ADM_CMD_GET_LOG_PAGE);
    c.dptr.prp1 = cpu_to_le64(buf);
    c.cdw10 = cpu_to_le32(NVME_LOG_ERROR_INFO | (13 * 64 / 4 - 1) << 16);
    g_assert_cmphex(admin(&t, &c, &result), ==, 0);
    g_assert_cmphex(qtest_readw(t.qts, buf + 12) >> 1, ==,
                    NVME_INVALID_FIELD | NVME_DNR);
    g_assert_cmpuint(qtest_readw(t.qts, buf + 8), ==, 1);
    for (int i = 1; i < 13; i++) {
        g_assert_cmpuint(qtest_readq(t.qts, buf + (i - 1) * 64), ==,
                         qtest_readq(t.qts, buf + i * 64) + 1);
    }
    g_assert_cmphex(qtest_readw(t.qts, buf + 12 * 64 + 12) >> 1, ==,
                    NVME_LBA_RANGE | NVME_DNR);
    g_assert_cmpuint(qtest_readq(t.qts, buf + 12 * 64 + 16), ==,
                     DISK_SIZE / 512);
    g_assert_cmpuint(qtest_readq(t.qts, buf + 10 * 64 + 16), ==, UINT64_MAX);
    /* And the queue still works. */
    check_rw(&t, 1, 0, 8, 0, 1);
    nvme_stop(&t);
}

/* --- tests: doorbells and interrupts -------------------------------------- */

/* The next admin completion is AER @aer: Invalid Doorbell Write Value. */
static void reap_db_value_aer(NvmeTest *t, uint16_t aer)
{
    Cqe cqe = reap(t, 0, true);

    g_assert_cmpuint(cqe.cid, ==, aer);
    g_assert_cmphex(cqe.result & 0xff, ==, NVME_AER_TYPE_ERROR);
    g_assert_cmphex((cqe.result >> 8) & 0xff, ==,
                    NVME_AER_INFO_ERR_INVALID_DB_VALUE);
    g_assert_cmphex(cqe.result >> 16, ==, NVME_LOG_ERROR_INFO);
}

static void test_doorbell_errors_aer(void)
{
    NvmeTest t;
    uint64_t buf;
    Cqe cqe;
    NvmeCmd c;
    uint16_t aer;

    nvme_start(&t, NULL);
    nvme_enable(&t, 8);
    ioq(&t, 1, 16);
    buf = ram_alloc(&t, PG);
    c = cmd(NVME_ADM_CMD_ASYNC_EV_REQ);
    aer = submit(&t, 0, &c, true);

    /* SQ tail past the end of the queue. */
    sq_doorbell(&t, 1, 16);
    reap_db_value_aer(&t, aer);

    /* Masked until the error log is read: the next one waits. */
    aer = submit(&t, 0, &c, true);
    reg_write(&t, 0x1000 + 2 * 7 * 4, 1);   /* no queue 7 */
    g_usleep(20000);
    g_assert_false(cqe_peek(&t, 0, &cqe));
    c = cmd(NVME_ADM_CMD_GET_LOG_PAGE);
    c.dptr.prp1 = cpu_to_le64(buf);
    c.cdw10 = cpu_to_le32(NVME_LOG_ERROR_INFO | (64 / 4 - 1) << 16);
    submit(&t, 0, &c, true);
    /* Two completions: the log page and the released event, any order. */
    for (int i = 0; i < 2; i++) {
        cqe = reap(&t, 0, true);
        if (cqe.cid == aer) {
            g_assert_cmphex((cqe.result >> 8) & 0xff, ==,
                            NVME_AER_INFO_ERR_INVALID_DB_REGISTER);
        } else {
            g_assert_cmphex(cqe.status, ==, 0);
        }
    }
    /* CQ head that claims more than was posted. */
    c = cmd(NVME_ADM_CMD_ASYNC_EV_REQ);
    submit(&t, 0, &c, true);
    cq_doorbell(&t, 1, 5);
    g_usleep(20000);
    /* (Masked again: the error log was not re-read; nothing arrives.) */
    g_assert_false(cqe_peek(&t, 0, &cqe));
    /* Too many AERs outstanding: the limit is 4 (one is already out). */
    for (int i = 0; i < 4; i++) {
        c = cmd(NVME_ADM_CMD_ASYNC_EV_REQ);
        submit(&t, 0, &c, true);
    }
    cqe = reap(&t, 0, true);
    g_assert_cmphex(cqe.status, ==, NVME_AER_LIMIT_EXCEEDED);
    /* The I/O queue is unharmed. */
    check_rw(&t, 1, 0, 1, 0, 3);
    nvme_stop(&t);
}

/* What the SMART log reports as critical warning (raises a SMART AER). */
static void smart_warning(NvmeTest *t, int value)
{
    qtest_qmp_assert_success(t->qts, "{'execute': 'qom-set', 'arguments': "
                             "{'path': '/machine/peripheral-anon/device[0]', "
                             "'property': 'smart_critical_warning', "
                             "'value': %d}}", value);
}

static void test_smart_aer(void)
{
    NvmeTest t;
    uint64_t buf;
    uint8_t smart[512];
    NvmeCmd c;
    Cqe cqe;

    nvme_start(&t, NULL);
    nvme_enable(&t, 8);
    ioq(&t, 1, 16);
    buf = ram_alloc(&t, PG);
    g_assert_cmphex(set_feature(&t, NVME_ASYNCHRONOUS_EVENT_CONF, 0xff, NULL),
                    ==, 0);
    c = cmd(NVME_ADM_CMD_ASYNC_EV_REQ);
    submit(&t, 0, &c, true);
    check_rw(&t, 1, 0, 8, 0, 1);
    check_rw(&t, 1, 16, 8, 0, 2);

    smart_warning(&t, 4);
    cqe = reap(&t, 0, true);
    g_assert_cmphex(cqe.result & 0xff, ==, NVME_AER_TYPE_SMART);
    g_assert_cmphex(cqe.result >> 16, ==, NVME_LOG_SMART_INFO);

    c = cmd(NVME_ADM_CMD_GET_LOG_PAGE);
    c.nsid = cpu_to_le32(NVME_NSID_BROADCAST);
    c.dptr.prp1 = cpu_to_le64(buf);
    c.cdw10 = cpu_to_le32(NVME_LOG_SMART_INFO | (512 / 4 - 1) << 16);
    g_assert_cmphex(admin(&t, &c, NULL), ==, 0);
    qtest_memread(t.qts, buf, smart, sizeof(smart));
    g_assert_cmphex(smart[0], ==, 4);
    g_assert_cmpuint(ldq_le_p(smart + 32), ==, 1);      /* 16 x 512 B read */
    g_assert_cmpuint(ldq_le_p(smart + 48), ==, 1);      /* ...and written */
    g_assert_cmpuint(ldq_le_p(smart + 64), ==, 2);      /* read commands */
    g_assert_cmpuint(ldq_le_p(smart + 80), ==, 2);      /* write commands */

    /* Other log pages, and bad requests. */
    c.cdw10 = cpu_to_le32(NVME_LOG_FW_SLOT_INFO | (512 / 4 - 1) << 16);
    g_assert_cmphex(admin(&t, &c, NULL), ==, 0);
    g_assert_cmpuint(qtest_readb(t.qts, buf), ==, 1);
    c.cdw10 = cpu_to_le32(NVME_LOG_CMD_EFFECTS | (4096 / 4 - 1) << 16);
    g_assert_cmphex(admin(&t, &c, NULL), ==, 0);
    g_assert_cmphex(qtest_readl(t.qts, buf + 4 * NVME_ADM_CMD_IDENTIFY), ==, 1);
    c.cdw10 = cpu_to_le32(NVME_LOG_CHANGED_NSLIST | (4096 / 4 - 1) << 16);
    g_assert_cmphex(admin(&t, &c, NULL), ==, 0);
    c.cdw10 = cpu_to_le32(0x7f | (512 / 4 - 1) << 16);
    g_assert_cmphex(admin(&t, &c, NULL), ==, NVME_INVALID_LOG_ID | NVME_DNR);
    c.cdw10 = cpu_to_le32(NVME_LOG_SMART_INFO | (4 / 4 - 1) << 16);
    c.cdw12 = cpu_to_le32(1024);
    g_assert_cmphex(admin(&t, &c, NULL), ==, NVME_INVALID_FIELD | NVME_DNR);
    c.cdw12 = cpu_to_le32(2);
    g_assert_cmphex(admin(&t, &c, NULL), ==, NVME_INVALID_FIELD | NVME_DNR);
    nvme_stop(&t);
}

static void test_features(void)
{
    NvmeTest t;
    uint32_t r;
    uint64_t buf;
    NvmeCmd c;

    nvme_start(&t, NULL);
    nvme_enable(&t, 8);
    buf = ram_alloc(&t, PG);
    g_assert_cmphex(get_feature(&t, NVME_VOLATILE_WRITE_CACHE, 0, 0, &r), ==, 0);
    g_assert_cmphex(r, ==, 1);      /* cache=writeback, the default */
    g_assert_cmphex(set_feature(&t, NVME_VOLATILE_WRITE_CACHE, 0, NULL), ==, 0);
    g_assert_cmphex(get_feature(&t, NVME_VOLATILE_WRITE_CACHE, 0, 0, &r), ==, 0);
    g_assert_cmphex(r, ==, 0);
    g_assert_cmphex(get_feature(&t, NVME_VOLATILE_WRITE_CACHE, 1, 0, &r), ==, 0);
    g_assert_cmphex(r, ==, 1);      /* default */
    g_assert_cmphex(get_feature(&t, NVME_VOLATILE_WRITE_CACHE, 3, 0, &r), ==, 0);
    g_assert_cmphex(r, ==, NVME_FEAT_CAP_CHANGE);

    g_assert_cmphex(set_feature(&t, NVME_INTERRUPT_COALESCING, 0x0a05, NULL),
                    ==, 0);
    g_assert_cmphex(get_feature(&t, NVME_INTERRUPT_COALESCING, 0, 0, &r), ==, 0);
    g_assert_cmphex(r, ==, 0x0a05);
    g_assert_cmphex(set_feature(&t, NVME_INTERRUPT_VECTOR_CONF,
                                1 | NVME_INTVC_NOCOALESCING, NULL), ==, 0);
    g_assert_cmphex(get_feature(&t, NVME_INTERRUPT_VECTOR_CONF, 0, 1, &r), ==,
                    0);
    g_assert_cmphex(r, ==, 1 | NVME_INTVC_NOCOALESCING);
    g_assert_cmphex(set_feature(&t, NVME_INTERRUPT_VECTOR_CONF, 99, NULL), ==,
                    NVME_INVALID_FIELD | NVME_DNR);

    g_assert_cmphex(set_feature(&t, NVME_TEMPERATURE_THRESHOLD, 0x150, NULL),
                    ==, 0);
    g_assert_cmphex(get_feature(&t, NVME_TEMPERATURE_THRESHOLD, 0, 0, &r), ==,
                    0);
    g_assert_cmphex(r, ==, 0x150);
    g_assert_cmphex(set_feature(&t, NVME_TEMPERATURE_THRESHOLD, 3 << 20, NULL),
                    ==, NVME_INVALID_FIELD | NVME_DNR);
    g_assert_cmphex(set_feature(&t, NVME_POWER_MANAGEMENT, 1, NULL), ==,
                    NVME_INVALID_FIELD | NVME_DNR);
    g_assert_cmphex(set_feature(&t, NVME_ERROR_RECOVERY, 1 << 16, NULL), ==,
                    NVME_INVALID_FIELD | NVME_DNR);
    g_assert_cmphex(set_feature(&t, NVME_ARBITRATION, 0x01020307, NULL), ==, 0);
    g_assert_cmphex(get_feature(&t, NVME_ARBITRATION, 0, 0, &r), ==, 0);
    g_assert_cmphex(r, ==, 0x01020307);
    g_assert_cmphex(set_feature(&t, NVME_WRITE_ATOMICITY, 1, NULL), ==, 0);
    g_assert_cmphex(set_feature(&t, 0x7e, 0, NULL), ==,
                    NVME_INVALID_FIELD | NVME_DNR);

    /* Save is not supported. */
    c = cmd(NVME_ADM_CMD_SET_FEATURES);
    c.cdw10 = cpu_to_le32(NVME_ARBITRATION | 1u << 31);
    g_assert_cmphex(admin(&t, &c, NULL), ==, NVME_FID_NOT_SAVEABLE | NVME_DNR);

    /* Timestamp: set, then read back no earlier. */
    qtest_writeq(t.qts, buf, 1000000);
    c = cmd(NVME_ADM_CMD_SET_FEATURES);
    c.cdw10 = cpu_to_le32(NVME_TIMESTAMP);
    c.dptr.prp1 = cpu_to_le64(buf);
    g_assert_cmphex(admin(&t, &c, NULL), ==, 0);
    c = cmd(NVME_ADM_CMD_GET_FEATURES);
    c.cdw10 = cpu_to_le32(NVME_TIMESTAMP);
    c.dptr.prp1 = cpu_to_le64(buf + 64);
    g_assert_cmphex(admin(&t, &c, NULL), ==, 0);
    g_assert_cmpuint(qtest_readq(t.qts, buf + 64) & ((1ULL << 48) - 1), >=,
                     1000000);
    g_assert_cmpuint((qtest_readq(t.qts, buf + 64) >> 49) & 7, ==, 1);

    /* Abort: accepted, nothing recalled. */
    c = cmd(NVME_ADM_CMD_ABORT);
    c.cdw10 = cpu_to_le32(1 | 5 << 16);
    g_assert_cmphex(admin(&t, &c, &r), ==, 0);
    g_assert_cmphex(r & 1, ==, 1);
    /* No Keep Alive (KAS 0), so nothing unenforced; unknown opcodes. */
    g_assert_cmphex(identify(&t, 1, 0, 0, buf), ==, 0);
    g_assert_cmphex(qtest_readw(t.qts, buf + 320), ==, 0);
    c = cmd(0x18);
    g_assert_cmphex(admin(&t, &c, NULL), ==, NVME_INVALID_OPCODE | NVME_DNR);
    g_assert_cmphex(get_feature(&t, 0x0f, 0, 0, &r), ==,
                    NVME_INVALID_FIELD | NVME_DNR);
    g_assert_cmphex(set_feature(&t, 0x0f, 10000, NULL), ==,
                    NVME_INVALID_FIELD | NVME_DNR);
    c = cmd(0xc3);
    g_assert_cmphex(admin(&t, &c, NULL), ==, NVME_INVALID_OPCODE | NVME_DNR);
    c = cmd(NVME_ADM_CMD_FORMAT_NVM);
    g_assert_cmphex(admin(&t, &c, NULL), ==, NVME_INVALID_OPCODE | NVME_DNR);
    nvme_stop(&t);
}

static void test_shadow_doorbells(void)
{
    NvmeTest t;
    NvmeCmd c;
    uint64_t buf;

    nvme_start(&t, NULL);
    nvme_enable(&t, 8);
    buf = ram_alloc(&t, 2 * PG);
    t.dbs = ram_alloc(&t, PG);
    t.eis = ram_alloc(&t, PG);
    c = cmd(NVME_ADM_CMD_DBBUF_CONFIG);
    c.dptr.prp1 = cpu_to_le64(t.dbs + 8);
    c.dptr.prp2 = cpu_to_le64(t.eis);
    g_assert_cmphex(admin(&t, &c, NULL), ==, NVME_INVALID_FIELD | NVME_DNR);
    c.dptr.prp1 = cpu_to_le64(t.dbs);
    g_assert_cmphex(admin(&t, &c, NULL), ==, 0);
    ioq(&t, 1, 16);
    ioq(&t, 2, 16);

    /* Through the shadow buffer plus a doorbell write (an ioeventfd). */
    check_rw(&t, 1, 0, 8, 0, 11);
    /* The controller published its event index: the tail it has seen. */
    g_assert_cmpuint(qtest_readl(t.qts, t.eis + 2 * 1 * 4), ==, t.q[1].sq_tail);

    /* A batch through the shadow buffer with a single doorbell write. */
    for (int i = 0; i < 5; i++) {
        c = rw(NVME_CMD_READ, i * 8, 8);
        c.dptr.prp1 = cpu_to_le64(buf);
        submit(&t, 2, &c, i == 4);
    }
    for (int i = 0; i < 5; i++) {
        g_assert_cmphex(reap(&t, 2, false).status, ==, 0);
    }
    g_assert_cmpuint(qtest_readl(t.qts, t.eis + 2 * 2 * 4), ==, 5);

    /* A bogus shadow tail is refused; the queue keeps working. */
    qtest_writel(t.qts, t.dbs + 2 * 2 * 4, 99);
    sq_doorbell(&t, 2, 99 % 16);
    g_usleep(20000);
    qtest_writel(t.qts, t.dbs + 2 * 2 * 4, t.q[2].sq_tail);
    check_rw(&t, 2, 8, 8, 0, 12);
    nvme_stop(&t);
}

/* Has the module's clock (the host's) run past a 25.5 ms aggregation time? */
static bool coalescing_timed_out(int64_t t0)
{
    return kernel_sysfsdev && g_get_monotonic_time() - t0 > 25500;
}

/*
 * One read on pair 1 with coalescing set (threshold above one entry,
 * 25.5 ms): its interrupt comes when the aggregation time is over, also
 * when @delete_sq deletes the SQ meanwhile.
 */
static void coalesced_read(NvmeTest *t, uint64_t buf, bool delete_sq)
{
    NvmeCmd c = rw(NVME_CMD_READ, 0, 1);
    int64_t t0;
    bool fired;

    /* An aggregation the module started before ends first. */
    if (kernel_sysfsdev) {
        g_usleep(30 * 1000);
    }
    msix_fired(t, 1);
    t0 = g_get_monotonic_time();
    c.dptr.prp1 = cpu_to_le64(buf);
    submit(t, 1, &c, true);
    reap(t, 1, true);
    fired = msix_fired(t, 1);
    g_assert_true(!fired || coalescing_timed_out(t0));
    if (delete_sq) {
        g_assert_cmphex(delete_q(t, NVME_ADM_CMD_DELETE_SQ, 1), ==, 0);
    }
    if (kernel_sysfsdev) {
        g_assert_true(fired || msix_wait(t, 1));
    } else {
        g_assert_false(msix_fired(t, 1));
        qtest_clock_step(t->qts, 30 * 1000 * 1000);
        g_assert_true(msix_fired(t, 1));
    }
}

static void test_interrupts(void)
{
    int64_t t0;
    bool fired;
    NvmeTest t;
    uint64_t buf;
    NvmeCmd c;

    nvme_start(&t, NULL);
    nvme_enable(&t, 8);
    buf = ram_alloc(&t, PG);
    ioq(&t, 1, 16);
    ioq(&t, 2, 16);
    g_assert_cmphex(create_cq(&t, 3, 16, 3, 1), ==, 0);   /* IEN = 0 */
    g_assert_cmphex(create_sq(&t, 3, 3, 16, 1), ==, 0);
    msix_fired(&t, 0);
    /* Each CQ on its own vector. */
    g_assert_cmphex(io_prp(&t, 1, NVME_CMD_READ, 0, 1, buf), ==, 0);
    g_assert_true(msix_wait(&t, 1));
    g_assert_false(msix_fired(&t, 2));
    g_assert_cmphex(io_prp(&t, 2, NVME_CMD_READ, 0, 1, buf), ==, 0);
    g_assert_true(msix_wait(&t, 2));
    g_assert_false(msix_fired(&t, 1));
    g_assert_cmphex(io_prp(&t, 3, NVME_CMD_READ, 0, 1, buf), ==, 0);
    g_assert_false(msix_fired(&t, 3));

    /*
     * Coalescing: threshold 4 entries, 25.5 ms; fewer wait for the time.
     * The module times on the host's clock, which a slow TCG guest may run
     * past 25.5 ms: then an interrupt before the threshold is right, and
     * the entries after it start a new aggregation.
     */
    g_assert_cmphex(set_feature(&t, NVME_INTERRUPT_COALESCING, 0xff03, NULL),
                    ==, 0);
    msix_fired(&t, 0);
    t0 = g_get_monotonic_time();
    for (int i = 0; i < 3; i++) {
        c = rw(NVME_CMD_READ, 0, 1);
        c.dptr.prp1 = cpu_to_le64(buf);
        submit(&t, 1, &c, true);
        reap(&t, 1, false);
    }
    /* Not yet: below the threshold and within the aggregation time. */
    fired = msix_fired(&t, 1);
    g_assert_true(!fired || coalescing_timed_out(t0));
    c = rw(NVME_CMD_READ, 0, 1);
    c.dptr.prp1 = cpu_to_le64(buf);
    submit(&t, 1, &c, true);
    reap(&t, 1, true);
    /*
     * The fourth entry reaches the threshold: at once (under qtest's clock
     * nothing else could send it). After an early interrupt it is the
     * first of a new aggregation: the module's time sends it.
     */
    g_assert_true(msix_wait(&t, 1));
    /* Below the threshold: the aggregation time fires it. */
    coalesced_read(&t, buf, false);

    /*
     * Deleting the SQ while its CQ's interrupt is deferred: the CQ stays,
     * and the interrupt for what it holds still comes (it was lost with
     * the module's pair).
     */
    coalesced_read(&t, buf, true);

    /* A vector that opts out is not coalesced. */
    g_assert_cmphex(set_feature(&t, NVME_INTERRUPT_VECTOR_CONF,
                                2 | NVME_INTVC_NOCOALESCING, NULL), ==, 0);
    g_assert_cmphex(io_prp(&t, 2, NVME_CMD_READ, 0, 1, buf), ==, 0);
    g_assert_true(msix_wait(&t, 2));
    nvme_stop(&t);
}

static bool intx_asserted(NvmeTest *t)
{
    for (int i = 16; i < 24; i++) {
        if (qtest_get_irq(t->qts, i)) {
            return true;
        }
    }
    return false;
}

static void test_pin_interrupts(void)
{
    NvmeTest t;
    uint64_t buf;

    nvme_start(&t, NULL);
    qpci_msix_disable(t.dev);
    qtest_irq_intercept_in(t.qts, "ioapic");
    nvme_enable(&t, 8);
    buf = ram_alloc(&t, PG);
    /* Pin-based: only vector 0 exists. */
    g_assert_cmphex(create_cq(&t, 1, 16, 1, 3), ==,
                    NVME_INVALID_IRQ_VECTOR | NVME_DNR);
    g_assert_cmphex(create_cq(&t, 1, 16, 0, 3), ==, 0);
    g_assert_cmphex(create_sq(&t, 1, 1, 16, 1), ==, 0);
    {
        NvmeCmd c = rw(NVME_CMD_READ, 0, 1);

        c.dptr.prp1 = cpu_to_le64(buf);
        submit(&t, 1, &c, true);
        reap(&t, 1, false);
        /* Unreaped entries hold INTx asserted; reaping drops it. */
        g_assert_true(intx_asserted(&t));
        reg_write(&t, NVME_REG_INTMS, 1);
        g_assert_false(intx_asserted(&t));
        reg_write(&t, NVME_REG_INTMC, 1);
        cq_doorbell(&t, 1, t.q[1].cq_head);
        g_assert_false(intx_asserted(&t));
    }
    nvme_stop(&t);
}

/* Doorbell Buffer Config: the host keeps shadow doorbells from now on. */
static void shadow_doorbells_on(NvmeTest *t)
{
    NvmeCmd c = cmd(NVME_ADM_CMD_DBBUF_CONFIG);

    t->dbs = ram_alloc(t, PG);
    t->eis = ram_alloc(t, PG);
    c.dptr.prp1 = cpu_to_le64(t->dbs);
    c.dptr.prp2 = cpu_to_le64(t->eis);
    g_assert_cmphex(admin(t, &c, NULL), ==, 0);
}

/* Linux's nvme_dbbuf_need_event(): ring the MMIO doorbell past the index. */
static bool need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old)
{
    return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old);
}

/*
 * INTx with shadow doorbells, the host reaping as Linux does: the head goes
 * to the shadow buffer and to the MMIO doorbell only when the controller's
 * event index asks for it. The level must drop after every reap (it stayed
 * asserted from the second one on: "irq N: nobody cared" under KVM).
 */
static void test_pin_interrupts_shadow_doorbells(void)
{
    NvmeTest t;
    uint64_t buf;
    NvmeCmd c;

    nvme_start(&t, NULL);
    qpci_msix_disable(t.dev);
    qtest_irq_intercept_in(t.qts, "ioapic");
    nvme_enable(&t, 8);
    buf = ram_alloc(&t, PG);
    shadow_doorbells_on(&t);
    g_assert_cmphex(create_cq(&t, 1, 16, 0, 3), ==, 0);
    g_assert_cmphex(create_sq(&t, 1, 1, 16, 1), ==, 0);
    for (int round = 0; round < 20; round++) {
        uint16_t old = t.q[1].cq_head;
        int64_t deadline;

        c = rw(NVME_CMD_READ, round, 1);
        c.dptr.prp1 = cpu_to_le64(buf);
        submit(&t, 1, &c, true);
        g_assert_cmphex(reap(&t, 1, false).status, ==, 0);
        /* Posted in the same main-loop BH that raised the level. */
        g_assert_true(intx_asserted(&t));
        if (need_event(qtest_readl(t.qts, t.eis + 3 * 4), t.q[1].cq_head,
                       old)) {
            cq_doorbell(&t, 1, t.q[1].cq_head);
        }
        deadline = g_get_monotonic_time() + TIMEOUT_US;
        while (intx_asserted(&t)) {
            if (g_get_monotonic_time() > deadline) {
                g_test_message("INTx still asserted after reap %d", round);
                g_assert_not_reached();
            }
            g_usleep(100);
        }
    }
    nvme_stop(&t);
}

static void test_reset_with_io_in_flight(void)
{
    NvmeTest t;
    uint64_t buf;

    nvme_start(&t, ",max-queue-entries=256");
    for (int round = 0; round < 3; round++) {
        nvme_enable(&t, 8);
        ioq(&t, 1, 256);
        ioq(&t, 2, 256);
        buf = ram_alloc(&t, 64 * KiB);
        for (int i = 0; i < 200; i++) {
            NvmeCmd c = rw(i & 1 ? NVME_CMD_WRITE : NVME_CMD_READ,
                           (i * 128) % (DISK_SIZE / 512 - 128), 128);

            prp_fill(&t, &c, buf, 64 * KiB);
            submit(&t, 1 + (i & 1), &c, i % 50 == 49);
        }
        /* Reset while (some of) those run; then everything again. */
        nvme_disable(&t);
        t.next_ram = RAM_POOL;
    }
    nvme_enable(&t, 8);
    ioq(&t, 1, 16);
    check_rw(&t, 1, 0, 8, 0, 21);
    nvme_stop(&t);
}

/*
 * The guest rings the admin SQ over "Delete I/O SQ/CQ @qid" and writes
 * CC.EN=0 right away (one qtest buffer: no main loop iteration between the
 * two writes). The reset's first queue change waits for the I/O context and
 * polls the main loop, where the admin command would run and free the
 * queue the reset is deleting (ASan: heap-use-after-free). It must wait.
 */
static void reset_over_delete(NvmeTest *t, bool with_sqs, bool inflight)
{
    NvmeCmd c = cmd(with_sqs ? NVME_ADM_CMD_DELETE_SQ : NVME_ADM_CMD_DELETE_CQ);
    uint64_t addr[2] = { t->bar.addr + 0x1000, t->bar.addr + NVME_REG_CC };
    uint32_t val[2];
    uint64_t buf;

    nvme_enable(t, 8);
    if (with_sqs) {
        ioq(t, 1, 64);
        ioq(t, 2, 64);
    } else {
        g_assert_cmphex(create_cq(t, 1, 64, 1, 3), ==, 0);
        g_assert_cmphex(create_cq(t, 2, 64, 2, 3), ==, 0);
    }
    if (inflight) {
        buf = ram_alloc(t, 64 * KiB);
        for (int i = 0; i < 16; i++) {
            NvmeCmd r = rw(NVME_CMD_READ, i * 128, 128);

            prp_fill(t, &r, buf, 64 * KiB);
            submit(t, 1 + (i & 1), &r, true);
        }
    }
    /* The reset deletes the highest queue first: that one. */
    c.cdw10 = cpu_to_le32(2);
    submit(t, 0, &c, false);
    val[0] = t->q[0].sq_tail;
    val[1] = 0;
    qtest_writel_batch(t->qts, addr, val, 2);
    g_assert(wait_csts(t, NVME_CSTS_READY, 0));
    memset(t->q, 0, sizeof(t->q));
    t->next_ram = RAM_POOL;
}

static void test_reset_over_delete(void)
{
    NvmeTest t;

    nvme_start(&t, NULL);
    reset_over_delete(&t, true, false);
    reset_over_delete(&t, false, false);
    /* The controller is whole: queues again, data through them. */
    nvme_enable(&t, 8);
    ioq(&t, 1, 16);
    check_rw(&t, 1, 0, 8, 0, 51);
    nvme_stop(&t);
}

static void test_reset_over_delete_iothread(void)
{
    NvmeTest t;

    nvme_start(&t, ",iothread=io0 -object iothread,id=io0");
    reset_over_delete(&t, true, false);
    reset_over_delete(&t, false, false);
    nvme_enable(&t, 8);
    ioq(&t, 1, 16);
    check_rw(&t, 1, 0, 8, 0, 52);
    nvme_stop(&t);
}

/* The same with reads in flight on a slow backend: the wait is long. */
static void test_reset_over_delete_inflight(void)
{
    NvmeTest t;

    for (int io = 0; io < 2; io++) {
        nvme_start_device(&t, NULL, "null-co://",
                          ",file.latency-ns=20000000,file.read-zeroes=on",
                          io ? ",iothread=io0 -object iothread,id=io0" : NULL);
        reset_over_delete(&t, true, true);
        nvme_enable(&t, 8);
        ioq(&t, 1, 16);
        g_assert_cmphex(delete_q(&t, NVME_ADM_CMD_DELETE_SQ, 1), ==, 0);
        nvme_stop(&t);
    }
}

/*
 * Deleting an SQ leaves its CQ, whose tail and phase a new SQ on it goes
 * on from. In kernel mode the module ran the pair: its CQ state must come
 * back before the pair is destroyed, or the next CQE lands over slot 0.
 */
static void test_delete_sq_keeps_cq(void)
{
    NvmeTest t;
    uint64_t buf;

    nvme_start(&t, NULL);
    nvme_enable(&t, 8);
    ioq(&t, 1, 16);
    buf = ram_alloc(&t, 4 * KiB);
    for (int i = 0; i < 3; i++) {
        g_assert_cmphex(io_prp(&t, 1, NVME_CMD_READ, i, 1, buf), ==, 0);
    }
    g_assert_cmphex(delete_q(&t, NVME_ADM_CMD_DELETE_SQ, 1), ==, 0);
    g_assert_cmphex(create_sq(&t, 1, 1, 16, 1), ==, 0);
    g_assert_cmpuint(t.q[1].cq_head, ==, 3);
    /* reap() waits for the CQE in slot 3. */
    g_assert_cmphex(io_prp(&t, 1, NVME_CMD_READ, 0, 1, buf), ==, 0);
    check_rw(&t, 1, 8, 8, 0, 53);

    /*
     * Pair 2 with its CQ full and never reaped, and commands fetched whose
     * completions have no room: the delete must not wait for the guest
     * (old: seconds with the BQL held). The 3 posted CQEs stay.
     */
    ioq(&t, 2, 4);
    for (int i = 0; i < 3; i++) {
        NvmeCmd r = rw(NVME_CMD_READ, i, 1);

        prp_fill(&t, &r, buf, 512);
        submit(&t, 2, &r, true);
    }
    for (int64_t end = g_get_monotonic_time() + TIMEOUT_US;
         !(qtest_readw(t.qts, t.q[2].cq + 2 * 16 + 14) & 1);) {
        g_assert_cmpint(g_get_monotonic_time(), <, end);
        g_usleep(1000);
    }
    for (int i = 0; i < 3; i++) {
        NvmeCmd r = rw(NVME_CMD_READ, i, 1);

        prp_fill(&t, &r, buf, 512);
        submit(&t, 2, &r, true);
    }
    g_usleep(100 * 1000);
    {
        int64_t t0 = g_get_monotonic_time();

        g_assert_cmphex(delete_q(&t, NVME_ADM_CMD_DELETE_SQ, 2), ==, 0);
        g_test_message("Delete I/O SQ with a full CQ took %" PRId64 " ms",
                       (g_get_monotonic_time() - t0) / 1000);
        g_assert_cmpint(g_get_monotonic_time() - t0, <, 2 * G_USEC_PER_SEC);
    }
    g_assert_cmphex(reg_read(&t, NVME_REG_CSTS) & NVME_CSTS_FAILED, ==, 0);
    for (int i = 0; i < 3; i++) {
        g_assert_cmphex(reap(&t, 2, true).status, ==, 0);
    }
    g_assert_cmphex(create_sq(&t, 2, 2, 4, 1), ==, 0);
    g_assert_cmphex(io_prp(&t, 2, NVME_CMD_READ, 0, 1, buf), ==, 0);
    nvme_stop(&t);
}

/*
 * 64 KiB memory pages and MDTS 8 KiB: a transfer that starts 4 KiB before a
 * page boundary needs two PRP entries, although MDTS is below a page.
 */
static void test_large_pages_prp(void)
{
    const uint64_t pg = 64 * KiB;
    NvmeTest t;
    uint8_t out[8 * KiB], in[8 * KiB];
    uint64_t buf;
    NvmeCmd c;

    nvme_start(&t, ",mdts=1");
    nvme_enable_mps(&t, 8, 4);
    t.next_ram = ROUND_UP(t.next_ram, pg);
    g_assert_cmphex(create_cq(&t, 1, 16, 1, 3), ==, 0);
    t.next_ram = ROUND_UP(t.next_ram, pg);
    g_assert_cmphex(create_sq(&t, 1, 1, 16, 1), ==, 0);
    t.next_ram = ROUND_UP(t.next_ram, pg);
    buf = ram_alloc(&t, 3 * pg);

    /* 4 KiB at the end of one page, 4 KiB in a page not next to it. */
    pattern(out, sizeof(out), 54);
    qtest_memwrite(t.qts, buf + pg - 4 * KiB, out, 4 * KiB);
    qtest_memwrite(t.qts, buf + 2 * pg, out + 4 * KiB, 4 * KiB);
    c = rw(NVME_CMD_WRITE, 0, 16);
    c.dptr.prp1 = cpu_to_le64(buf + pg - 4 * KiB);
    c.dptr.prp2 = cpu_to_le64(buf + 2 * pg);
    g_assert_cmphex(run(&t, 1, &c).status, ==, 0);
    qtest_memset(t.qts, buf, 0, 3 * pg);
    c = rw(NVME_CMD_READ, 0, 16);
    c.dptr.prp1 = cpu_to_le64(buf + pg - 4 * KiB);
    c.dptr.prp2 = cpu_to_le64(buf + 2 * pg);
    g_assert_cmphex(run(&t, 1, &c).status, ==, 0);
    qtest_memread(t.qts, buf + pg - 4 * KiB, in, 4 * KiB);
    qtest_memread(t.qts, buf + 2 * pg, in + 4 * KiB, 4 * KiB);
    g_assert_cmpmem(in, sizeof(in), out, sizeof(out));
    nvme_stop(&t);
}

/*
 * Supported Log Pages (LID 0) lists every log page Get Log Page serves, and
 * a request longer than a page (here 128 KiB for SMART) gets what exists.
 */
static void test_log_pages(void)
{
    static const uint8_t served[] = { 0x00, 0x01, 0x02, 0x03, 0x04, 0x05 };
    uint8_t smart[512];
    NvmeTest t;
    uint64_t buf;
    NvmeCmd c;

    nvme_start(&t, NULL);
    nvme_enable(&t, 8);
    buf = ram_alloc(&t, 128 * KiB);
    c = cmd(NVME_ADM_CMD_GET_LOG_PAGE);
    c.dptr.prp1 = cpu_to_le64(buf);
    c.cdw10 = cpu_to_le32(0x00 | (1024 / 4 - 1) << 16);
    g_assert_cmphex(admin(&t, &c, NULL), ==, 0);
    for (unsigned lid = 0; lid < 256; lid++) {
        bool listed = memchr(served, lid, sizeof(served)) != NULL;
        uint32_t lsupp = qtest_readl(t.qts, buf + lid * 4) & 1;

        g_assert_cmpuint(lsupp, ==, listed);
        if (lid < 0xc0 && !listed) {
            /* Not listed: not served either. */
            c = cmd(NVME_ADM_CMD_GET_LOG_PAGE);
            c.dptr.prp1 = cpu_to_le64(buf + 64 * KiB);
            c.cdw10 = cpu_to_le32(lid | (512 / 4 - 1) << 16);
            g_assert_cmphex(admin(&t, &c, NULL), ==,
                            NVME_INVALID_LOG_ID | NVME_DNR);
        }
    }
    c = cmd(NVME_ADM_CMD_GET_LOG_PAGE);
    c.nsid = cpu_to_le32(NVME_NSID_BROADCAST);
    prp_fill(&t, &c, buf, 128 * KiB);
    c.cdw10 = cpu_to_le32(NVME_LOG_SMART_INFO | (128 * KiB / 4 - 1) << 16);
    g_assert_cmphex(admin(&t, &c, NULL), ==, 0);
    qtest_memread(t.qts, buf, smart, sizeof(smart));
    g_assert_cmpuint(lduw_le_p(smart + 1), ==, 0x143); /* 50 C, in Kelvin */

    /*
     * 16 KiB of the 4 KiB error log into a buffer starting mid-page: PRP2
     * is a list, whatever the log's size; the list is not written over.
     */
    c = cmd(NVME_ADM_CMD_GET_LOG_PAGE);
    prp_fill(&t, &c, buf + 0x800, 16 * KiB);
    c.cdw10 = cpu_to_le32(NVME_LOG_ERROR_INFO | (16 * KiB / 4 - 1) << 16);
    g_assert_cmphex(admin(&t, &c, NULL), ==, 0);
    for (int i = 0; i < 4; i++) {
        g_assert_cmphex(qtest_readq(t.qts, le64_to_cpu(c.dptr.prp2) + i * 8),
                        ==, buf + 0x800 + (PG - 0x800) + i * PG);
    }
    /* Longer than MDTS: Invalid Field. */
    c = cmd(NVME_ADM_CMD_GET_LOG_PAGE);
    c.dptr.prp1 = cpu_to_le64(buf);
    c.cdw10 = cpu_to_le32(NVME_LOG_ERROR_INFO | ((MiB / 4 - 1) & 0xffff) << 16);
    c.cdw11 = cpu_to_le32((MiB / 4 - 1) >> 16);
    g_assert_cmphex(admin(&t, &c, NULL), ==, NVME_INVALID_FIELD | NVME_DNR);
    nvme_stop(&t);
}

/*
 * A one-entry admin CQ (2 slots): Get Log Page with RAE clear re-arms SMART
 * events, and a queued one goes to the outstanding AER. The command's own
 * CQE had the slot when it was fetched; the AER must wait for the next one
 * (old: the AER took it and the command's CQE was lost).
 */
static void test_aer_keeps_cqe_slot(void)
{
    NvmeTest t;
    uint64_t buf;
    NvmeCmd c;
    Cqe cqe;

    nvme_start(&t, NULL);
    nvme_enable(&t, 2);
    buf = ram_alloc(&t, PG);
    g_assert_cmphex(set_feature(&t, NVME_ASYNCHRONOUS_EVENT_CONF, 0xff, NULL),
                    ==, 0);
    c = cmd(NVME_ADM_CMD_ASYNC_EV_REQ);
    submit(&t, 0, &c, true);
    smart_warning(&t, 4);
    cqe = reap(&t, 0, true);
    g_assert_cmphex(cqe.result & 0xff, ==, NVME_AER_TYPE_SMART);
    /* SMART is masked until its log is read: the next event waits. */
    c = cmd(NVME_ADM_CMD_ASYNC_EV_REQ);
    submit(&t, 0, &c, true);
    smart_warning(&t, 6);
    c = cmd(NVME_ADM_CMD_GET_LOG_PAGE);
    c.nsid = cpu_to_le32(NVME_NSID_BROADCAST);
    c.dptr.prp1 = cpu_to_le64(buf);
    c.cdw10 = cpu_to_le32(NVME_LOG_SMART_INFO | (512 / 4 - 1) << 16);
    g_assert_cmphex(admin(&t, &c, NULL), ==, 0);    /* its CQE, first */
    cqe = reap(&t, 0, true);                        /* then the AER */
    g_assert_cmphex(cqe.status, ==, 0);
    g_assert_cmphex(cqe.result & 0xff, ==, NVME_AER_TYPE_SMART);
    nvme_stop(&t);
}

static void test_hostile_queues(void)
{
    NvmeTest t;
    NvmeCmd c;

    nvme_start(&t, NULL);
    nvme_enable(&t, 8);
    /* An I/O SQ in memory that is not RAM: fetches fail, QEMU survives. */
    g_assert_cmphex(create_cq(&t, 1, 16, 1, 3), ==, 0);
    c = cmd(NVME_ADM_CMD_CREATE_SQ);
    c.dptr.prp1 = cpu_to_le64(0x7ffff00000ULL);
    c.cdw10 = cpu_to_le32(15 << 16 | 1);
    c.cdw11 = cpu_to_le32(1 << 16 | 1);
    g_assert_cmphex(admin(&t, &c, NULL), ==, 0);
    sq_doorbell(&t, 1, 5);
    g_usleep(20000);
    g_assert_cmphex(delete_q(&t, NVME_ADM_CMD_DELETE_SQ, 1), ==, 0);
    /* A CQ that is not RAM: completions are lost, QEMU survives. */
    g_assert_cmphex(delete_q(&t, NVME_ADM_CMD_DELETE_CQ, 1), ==, 0);
    c = cmd(NVME_ADM_CMD_CREATE_CQ);
    c.dptr.prp1 = cpu_to_le64(0x7ffff00000ULL);
    c.cdw10 = cpu_to_le32(15 << 16 | 1);
    c.cdw11 = cpu_to_le32(1 << 16 | 3);
    g_assert_cmphex(admin(&t, &c, NULL), ==, 0);
    t.q[1].size = 16;
    g_assert_cmphex(create_sq(&t, 1, 1, 16, 1), ==, 0);
    c = rw(NVME_CMD_FLUSH, 0, 1);
    submit(&t, 1, &c, true);
    g_usleep(20000);
    /* The admin queue and the controller still respond. */
    g_assert_cmphex(get_feature(&t, NVME_ARBITRATION, 0, 0, NULL), ==, 0);
    g_assert_cmphex(reg_read(&t, NVME_REG_CSTS) & NVME_CSTS_FAILED, ==, 0);
    /* An admin SQ outside RAM is fatal for the controller, not QEMU. */
    nvme_disable(&t);
    reg_write(&t, NVME_REG_AQA, 0x00030003);
    qpci_io_writeq(t.dev, t.bar, NVME_REG_ASQ, 0x7ffff00000ULL);
    qpci_io_writeq(t.dev, t.bar, NVME_REG_ACQ, ram_alloc(&t, PG));
    reg_write(&t, NVME_REG_CC, CC_ENABLE);
    g_assert(wait_csts(&t, NVME_CSTS_READY, NVME_CSTS_READY));
    sq_doorbell(&t, 0, 1);
    g_assert(wait_csts(&t, NVME_CSTS_FAILED, NVME_CSTS_FAILED));
    /* A reset recovers. */
    nvme_disable(&t);
    nvme_enable(&t, 4);
    g_assert_cmphex(get_feature(&t, NVME_ARBITRATION, 0, 0, NULL), ==, 0);
    nvme_stop(&t);
}

static void test_read_only(void)
{
    NvmeTest t;
    uint64_t buf;
    uint8_t smart[512];
    NvmeCmd c;

    nvme_start_drive(&t, ",read-only=on", NULL);
    nvme_enable(&t, 8);
    ioq(&t, 1, 16);
    buf = ram_alloc(&t, PG);
    g_assert_cmphex(io_prp(&t, 1, NVME_CMD_WRITE, 0, 1, buf), ==,
                    NS_WRITE_PROTECTED | NVME_DNR);
    c = rw(NVME_CMD_WRITE_ZEROES, 0, 1);
    g_assert_cmphex(run(&t, 1, &c).status, ==,
                    NS_WRITE_PROTECTED | NVME_DNR);
    g_assert_cmphex(io_prp(&t, 1, NVME_CMD_READ, 0, 1, buf), ==, 0);
    c = cmd(NVME_ADM_CMD_GET_LOG_PAGE);
    c.dptr.prp1 = cpu_to_le64(buf);
    c.cdw10 = cpu_to_le32(NVME_LOG_SMART_INFO | (512 / 4 - 1) << 16);
    g_assert_cmphex(admin(&t, &c, NULL), ==, 0);
    qtest_memread(t.qts, buf, smart, sizeof(smart));
    g_assert_cmphex(smart[0] & NVME_SMART_MEDIA_READ_ONLY, !=, 0);
    nvme_stop(&t);
}

/* More commands outstanding than the device keeps in flight per queue. */
static void test_deep_queue(void)
{
    NvmeTest t;
    uint64_t buf;
    const int n = 900;
    bool seen[900] = { false };

    nvme_start(&t, NULL);
    nvme_enable(&t, 8);
    ioq(&t, 1, 1024);
    buf = ram_alloc(&t, PG);
    for (int i = 0; i < n; i++) {
        NvmeCmd c = rw(NVME_CMD_READ, i % 64, 1);

        c.dptr.prp1 = cpu_to_le64(buf);
        submit(&t, 1, &c, i == n - 1);
    }
    for (int i = 0; i < n; i++) {
        Cqe cqe = reap(&t, 1, i % 100 == 99 || i == n - 1);
        unsigned idx = cqe.cid - (t.cid - n + 1);

        g_assert_cmphex(cqe.status, ==, 0);
        g_assert_cmpuint(idx, <, n);
        g_assert_false(seen[idx]);
        seen[idx] = true;
    }
    nvme_stop(&t);
}

static uint32_t qom_kernel_queues(NvmeTest *t)
{
    QDict *resp = qtest_qmp(t->qts, "{'execute': 'qom-get', 'arguments': "
                            "{'path': '/machine/peripheral-anon/device[0]', "
                            "'property': 'kernel-queues'}}");
    uint32_t n = qdict_get_int(resp, "return");

    qobject_unref(resp);
    return n;
}

static void drive_blockstats(NvmeTest *t, int64_t st[4]);

/*
 * The guest moves the memory under a CQ (PAM hides the RAM at 0xd0000
 * behind the PCI hole, then shows it again): the device posts where the
 * memory map says, not into the RAM it had mapped (old: a CQE landed in
 * the hidden RAM; the device now drops it, as a write to nothing), and
 * posts there again once the RAM is back. With an iothread the ring is
 * that thread's, replaced under it.
 */
static void ring_remapped(bool iothread)
{
    const uint64_t cq = 0xd0000;
    int64_t st[4], rd;
    QPCIDevice *mch;
    uint64_t buf;
    NvmeTest t;
    NvmeCmd c;

    if (kernel_sysfsdev) {
        /* There the ring is unmapped under the module: kacc-test's unmap. */
        g_test_skip("QEMU's own rings only");
        return;
    }
    nvme_start(&t, iothread ? ",iothread=io0 -object iothread,id=io0" : NULL);
    mch = qpci_device_find(t.bus, QPCI_DEVFN(0, 0));
    qpci_config_writeb(mch, 0x93, 0x03);    /* PAM3: 0xd0000.. RAM, RW */
    qtest_memset(t.qts, cq, 0, PG);
    nvme_enable(&t, 8);
    g_assert_cmphex(create_cq_at(&t, 1, 16, 1, 3, cq), ==, 0);
    g_assert_cmphex(create_sq(&t, 1, 1, 16, 1), ==, 0);
    buf = ram_alloc(&t, PG);
    g_assert_cmphex(io_prp(&t, 1, NVME_CMD_READ, 0, 8, buf), ==, 0);

    qpci_config_writeb(mch, 0x93, 0x00);    /* hidden: PCI, nothing there */
    drive_blockstats(&t, st);
    rd = st[0];
    c = rw(NVME_CMD_READ, 0, 8);
    prp_fill(&t, &c, buf, 8 * 512);
    submit(&t, 1, &c, true);
    /* The read completed (its CQE went nowhere) before the RAM is back. */
    for (int i = 0; i < 500 && st[0] == rd; i++) {
        g_usleep(10 * 1000);
        drive_blockstats(&t, st);
    }
    g_assert_cmpint(st[0], ==, rd + 1);
    g_assert_cmphex(get_feature(&t, NVME_VOLATILE_WRITE_CACHE, 0, 0, NULL),
                    ==, 0);
    qpci_config_writeb(mch, 0x93, 0x03);
    g_assert_cmphex(qtest_readw(t.qts, cq + 16 + 14) & 1, ==, 0);

    /* The RAM is back: CQEs go there again, from the same slot. */
    g_assert_cmphex(io_prp(&t, 1, NVME_CMD_READ, 0, 8, buf), ==, 0);
    g_free(mch);
    nvme_stop(&t);
}

static void test_ring_remapped(void)
{
    ring_remapped(false);
}

static void test_ring_remapped_iothread(void)
{
    ring_remapped(true);
}

/*
 * In D3hot the function touches no memory (PCIe 5.3.1.4.1): a read that
 * completes meanwhile posts its CQE only back in D0 (old: at once).
 */
static void test_d3hot_holds_dma(void)
{
    NvmeTest t;
    uint64_t buf;
    uint8_t pm;
    NvmeCmd c;
    Cqe cqe;

    nvme_start_device(&t, NULL, "null-co://",
                      ",file.read-zeroes=on,file.latency-ns=200000000", NULL);
    nvme_enable(&t, 8);
    ioq(&t, 1, 16);
    buf = ram_alloc(&t, PG);
    pm = qpci_find_capability(t.dev, PCI_CAP_ID_PM, 0);
    c = rw(NVME_CMD_READ, 0, 8);
    prp_fill(&t, &c, buf, 8 * 512);
    submit(&t, 1, &c, true);
    qpci_config_writew(t.dev, pm + PCI_PM_CTRL, 3);
    g_usleep(400 * 1000);
    g_assert_false(cqe_peek(&t, 1, &cqe));
    qpci_config_writew(t.dev, pm + PCI_PM_CTRL, 0);
    cqe = reap(&t, 1, true);
    g_assert_cmphex(cqe.status, ==, 0);
    nvme_stop(&t);
}

/*
 * PCI power management (D3hot and back) and Function Level Reset, as
 * hw/nvme has them (old: neither capability). FLR resets the function:
 * the controller's queues are gone, its registers and the function's
 * BAR, command register and MSI-X are at their reset values; it works
 * again once the host sets it up.
 */
static void test_pm_flr(void)
{
    uint8_t pm, exp;
    NvmeTest t;

    nvme_start(&t, NULL);
    pm = qpci_find_capability(t.dev, PCI_CAP_ID_PM, 0);
    g_assert_cmphex(pm, !=, 0);
    qpci_config_writew(t.dev, pm + PCI_PM_CTRL, 3);
    g_assert_cmphex(qpci_config_readw(t.dev, pm + PCI_PM_CTRL) &
                    PCI_PM_CTRL_STATE_MASK, ==, 3);
    qpci_config_writew(t.dev, pm + PCI_PM_CTRL, 0);
    nvme_enable(&t, 8);
    ioq(&t, 1, 16);
    check_rw(&t, 1, 0, 8, 0, 3);

    exp = qpci_find_capability(t.dev, PCI_CAP_ID_EXP, 0);
    g_assert(qpci_config_readl(t.dev, exp + PCI_EXP_DEVCAP) &
             PCI_EXP_DEVCAP_FLR);
    qpci_config_writew(t.dev, exp + PCI_EXP_DEVCTL,
                       qpci_config_readw(t.dev, exp + PCI_EXP_DEVCTL) |
                       PCI_EXP_DEVCTL_BCR_FLR);
    g_assert_cmphex(qpci_config_readw(t.dev, exp + PCI_EXP_DEVCTL) &
                    PCI_EXP_DEVCTL_BCR_FLR, ==, 0);
    g_assert_cmphex(qpci_config_readw(t.dev, PCI_COMMAND) &
                    (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER), ==, 0);

    /* Set up again: BAR, bus mastering, MSI-X; the controller is new. */
    qpci_msix_disable(t.dev);
    qpci_device_enable(t.dev);
    qpci_msix_enable(t.dev);
    t.bar = t.dev->msix_table_bar;
    for (unsigned v = 0; v <= IOQ_MAX; v++) {
        msix_setup(&t, v);
    }
    g_assert_cmphex(reg_read(&t, NVME_REG_CC), ==, 0);
    g_assert_cmphex(reg_read(&t, NVME_REG_CSTS), ==, 0);
    g_assert_cmphex(reg_read(&t, NVME_REG_AQA), ==, 0);
    memset(t.q, 0, sizeof(t.q));
    nvme_enable(&t, 8);
    g_assert_cmphex(create_sq(&t, 1, 1, 16, 1), ==,
                    NVME_INVALID_CQID | NVME_DNR);   /* CQ 1 went with it */
    ioq(&t, 1, 16);
    check_rw(&t, 1, 8, 8, 0, 4);
    if (kernel_sysfsdev) {
        g_assert_cmpuint(qom_kernel_queues(&t), ==, 1);
    }
    nvme_stop(&t);
}

/* --- tests: the volatile write cache ------------------------------------- */

/* query-block: whether the drive's write cache is on. */
static bool drive_writeback(NvmeTest *t)
{
    QDict *resp = qtest_qmp(t->qts, "{'execute': 'query-block'}");
    QListEntry *e;
    int wb = -1;

    QLIST_FOREACH_ENTRY(qdict_get_qlist(resp, "return"), e) {
        QDict *d = qobject_to(QDict, qlist_entry_obj(e));

        if (!strcmp(qdict_get_str(d, "device"), "d0")) {
            wb = qdict_get_bool(qdict_get_qdict(qdict_get_qdict(d,
                                "inserted"), "cache"), "writeback");
        }
    }
    qobject_unref(resp);
    g_assert_cmpint(wb, >=, 0);
    return wb;
}

/* tracefs files take writes in place (g_file_set_contents renames). */
static void tracefs_write(const char *path, const char *val)
{
    int fd = open(path, O_WRONLY | O_TRUNC);

    g_assert(fd >= 0);
    g_assert_cmpint(write(fd, val, strlen(val)), ==, strlen(val));
    close(fd);
}

/* Kernel mode, with NVME_ACCEL_TEST_TRACEFS: trace bios as they are queued. */
static void trace_bio_queue(bool on)
{
    const char *tracefs = getenv("NVME_ACCEL_TEST_TRACEFS");
    g_autofree char *enable = g_strdup_printf("%s/events/block/"
                                              "block_bio_queue/enable",
                                              tracefs);
    g_autofree char *trace = g_strdup_printf("%s/trace", tracefs);

    tracefs_write(enable, on ? "1" : "0");
    tracefs_write(trace, "");
}

/*
 * Kernel mode, block_bio_queue traced: whether the write the module queued for
 * @sector of the drive had FUA ("WFS"; a loop device keeps it, having a
 * write cache). The trace is cleared afterwards.
 */
static bool traced_write_fua(uint64_t sector)
{
    const char *tracefs = getenv("NVME_ACCEL_TEST_TRACEFS");
    g_autofree char *path = g_strdup_printf("%s/trace", tracefs);
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    unsigned maj, min, n;
    unsigned long long sec;
    struct stat st;
    char rwbs[16];
    int found = -1;

    g_assert(stat(kernel_bdev, &st) == 0);
    g_assert(g_file_get_contents(path, &text, NULL, NULL));
    lines = g_strsplit(text, "\n", -1);
    for (int i = 0; lines[i]; i++) {
        const char *p = strstr(lines[i], "block_bio_queue: ");

        if (p && sscanf(p + 17, "%u,%u %15s %llu + %u", &maj, &min, rwbs,
                        &sec, &n) == 5 &&
            maj == major(st.st_rdev) && min == minor(st.st_rdev) &&
            sec == sector && rwbs[0] == 'W') {
            found = strchr(rwbs + 1, 'F') != NULL;
        }
    }
    tracefs_write(path, "");
    g_assert_cmpint(found, >=, 0);      /* the write was seen at all */
    return found;
}

/*
 * Set Features Volatile Write Cache reaches the block layer, and the
 * module: with the cache off, writes it submits carry FUA (old: the module
 * never heard of it and wrote into the device's cache).
 */
static void test_write_cache(void)
{
    bool trace = kernel_sysfsdev && getenv("NVME_ACCEL_TEST_TRACEFS");
    NvmeTest t;
    uint64_t buf;
    uint32_t v;

    nvme_start(&t, NULL);
    nvme_enable(&t, 8);
    ioq(&t, 1, 16);
    buf = ram_alloc(&t, PG);
    if (trace) {
        trace_bio_queue(true);
    }
    g_assert(drive_writeback(&t));
    g_assert_cmphex(get_feature(&t, NVME_VOLATILE_WRITE_CACHE, 0, 0, &v),
                    ==, 0);
    g_assert_cmpuint(v, ==, 1);
    g_assert_cmphex(io_prp(&t, 1, NVME_CMD_WRITE, 1000, 8, buf), ==, 0);
    if (trace) {
        g_assert_false(traced_write_fua(1000));
    }

    g_assert_cmphex(set_feature(&t, NVME_VOLATILE_WRITE_CACHE, 0, NULL),
                    ==, 0);
    g_assert_false(drive_writeback(&t));
    g_assert_cmphex(io_prp(&t, 1, NVME_CMD_WRITE, 1008, 8, buf), ==, 0);
    if (trace) {
        g_assert_true(traced_write_fua(1008));
    }
    if (kernel_sysfsdev) {
        g_assert_cmpuint(qom_kernel_queues(&t), ==, 1);
    }

    g_assert_cmphex(set_feature(&t, NVME_VOLATILE_WRITE_CACHE, 1, NULL),
                    ==, 0);
    g_assert_true(drive_writeback(&t));
    g_assert_cmphex(io_prp(&t, 1, NVME_CMD_WRITE, 1016, 8, buf), ==, 0);
    if (trace) {
        g_assert_false(traced_write_fua(1016));
    }

    /* Off again, then a controller reset: back to the drive's setting. */
    g_assert_cmphex(set_feature(&t, NVME_VOLATILE_WRITE_CACHE, 0, NULL),
                    ==, 0);
    nvme_disable(&t);
    g_assert_true(drive_writeback(&t));
    nvme_enable(&t, 8);
    ioq(&t, 1, 16);
    g_assert_cmphex(io_prp(&t, 1, NVME_CMD_WRITE, 1024, 8, buf), ==, 0);
    if (trace) {
        g_assert_false(traced_write_fua(1024));
        trace_bio_queue(false);
    }
    nvme_stop(&t);
}

/* --- tests: the block graph above the drive ------------------------------ */

/* Kernel mode: wait until @n pairs run in the module. */
static void wait_kernel_queues(NvmeTest *t, uint32_t n)
{
    for (int i = 0; i < 500 && qom_kernel_queues(t) != n; i++) {
        g_usleep(10 * 1000);
    }
    g_assert_cmpuint(qom_kernel_queues(t), ==, n);
}

/* The guest writes @nlb LBAs at @slba, pattern @seed, in 64 KiB commands. */
static void write_pattern(NvmeTest *t, uint64_t buf, uint64_t slba,
                          uint32_t nlb, unsigned seed)
{
    uint8_t data[64 * KiB];

    for (uint32_t done = 0; done < nlb; done += 128) {
        pattern(data, sizeof(data), seed + done);
        qtest_memwrite(t->qts, buf, data, sizeof(data));
        g_assert_cmphex(io_prp(t, 1, NVME_CMD_WRITE, slba + done, 128, buf),
                        ==, 0);
    }
}

/*
 * blockdev-backup while the guest writes: the job's copy-before-write
 * filter must see every write, so that the target is the disk as it was
 * when the job started. In kernel mode the pairs come back from the module
 * for the job and go to it again after (old: the module wrote beneath the
 * filter, and the target got the new data).
 */
static void test_backup_while_writing(void)
{
    const uint64_t tail = DISK_SIZE / 512 - 2048;   /* the last MiB */
    g_autofree uint8_t *want = g_malloc0(DISK_SIZE);
    g_autofree char *target = NULL;
    g_autofree gchar *img = NULL;
    NvmeTest t;
    uint64_t buf;
    gsize len;
    int fd;

    fd = g_file_open_tmp("nvme-accel-backup-XXXXXX.img", &target, NULL);
    g_assert(fd >= 0);
    g_assert_cmpint(ftruncate(fd, DISK_SIZE), ==, 0);
    close(fd);
    nvme_start(&t, NULL);
    nvme_enable(&t, 8);
    ioq(&t, 1, 64);
    buf = ram_alloc(&t, 64 * KiB);
    write_pattern(&t, buf, tail, 2048, 1);
    for (uint32_t done = 0; done < 2048; done += 128) {
        pattern(want + (tail + done) * 512, 64 * KiB, 1 + done);
    }

    /* 4 MiB/s: the job reaches the last MiB after the guest's writes. */
    qtest_qmp_assert_success(t.qts, "{'execute': 'blockdev-add', "
                             "'arguments': {'driver': 'raw', "
                             "'node-name': 'tgt', 'file': {'driver': 'file', "
                             "'filename': %s}}}", target);
    qtest_qmp_assert_success(t.qts, "{'execute': 'blockdev-backup', "
                             "'arguments': {'job-id': 'bk', 'device': 'd0', "
                             "'target': 'tgt', 'sync': 'full', "
                             "'speed': %d}}", (int)(4 * MiB));
    if (kernel_sysfsdev) {
        wait_kernel_queues(&t, 0);
    }
    write_pattern(&t, buf, tail, 2048, 2);
    qtest_qmp_eventwait(t.qts, "BLOCK_JOB_COMPLETED");
    g_assert(g_file_get_contents(target, &img, &len, NULL));
    g_assert_cmpuint(len, ==, DISK_SIZE);
    g_assert_cmpmem(img + tail * 512, MiB, want + tail * 512, MiB);
    g_assert_cmpmem(img, DISK_SIZE, want, DISK_SIZE);
    if (kernel_sysfsdev) {
        wait_kernel_queues(&t, 1);
    }
    /* The guest's new data is on the drive. */
    pattern(want, 64 * KiB, 2 + 1920);
    g_assert_cmphex(io_prp(&t, 1, NVME_CMD_READ, tail + 1920, 128, buf), ==, 0);
    qtest_memread(t.qts, buf, img, 64 * KiB);
    g_assert_cmpmem(img, 64 * KiB, want, 64 * KiB);
    nvme_stop(&t);
    unlink(target);
}

/* query-block: the dirty count in bytes of the drive's one bitmap. */
static int64_t drive_dirty_count(NvmeTest *t)
{
    QDict *resp = qtest_qmp(t->qts, "{'execute': 'query-block'}");
    int64_t count = -1;
    QListEntry *e;

    QLIST_FOREACH_ENTRY(qdict_get_qlist(resp, "return"), e) {
        QDict *d = qobject_to(QDict, qlist_entry_obj(e));
        QList *bitmaps;

        if (strcmp(qdict_get_str(d, "device"), "d0")) {
            continue;
        }
        bitmaps = qdict_get_qlist(qdict_get_qdict(d, "inserted"),
                                  "dirty-bitmaps");
        g_assert(bitmaps && qlist_size(bitmaps) == 1);
        count = qdict_get_int(qobject_to(QDict, qlist_peek(bitmaps)),
                              "count");
    }
    qobject_unref(resp);
    g_assert_cmpint(count, >=, 0);
    return count;
}

/*
 * A dirty bitmap added on its own (no transaction) must see every write
 * that follows: the pairs leave the module while it exists, and return
 * when it goes (old: the module wrote beneath it, count 0). Needs QEMU
 * patch 0011, which drains the node around adding and removing one.
 */
static void test_dirty_bitmap(void)
{
    NvmeTest t;
    uint64_t buf;

    nvme_start(&t, NULL);
    nvme_enable(&t, 8);
    ioq(&t, 1, 16);
    buf = ram_alloc(&t, 4 * KiB);
    if (kernel_sysfsdev) {
        g_assert_cmpuint(qom_kernel_queues(&t), ==, 1);
    }
    qtest_qmp_assert_success(t.qts, "{'execute': 'block-dirty-bitmap-add', "
                             "'arguments': {'node': 'd0', 'name': 'b0', "
                             "'granularity': 65536}}");
    g_assert_cmpint(drive_dirty_count(&t), ==, 0);
    g_assert_cmphex(io_prp(&t, 1, NVME_CMD_WRITE, 4096, 8, buf), ==, 0);
    g_assert_cmphex(io_prp(&t, 1, NVME_CMD_WRITE, 8192, 8, buf), ==, 0);
    g_assert_cmpint(drive_dirty_count(&t), ==, 2 * 65536);
    if (kernel_sysfsdev) {
        g_assert_cmpuint(qom_kernel_queues(&t), ==, 0);
    }
    qtest_qmp_assert_success(t.qts, "{'execute': "
                             "'block-dirty-bitmap-remove', 'arguments': "
                             "{'node': 'd0', 'name': 'b0'}}");
    if (kernel_sysfsdev) {
        wait_kernel_queues(&t, 1);
    }
    check_rw(&t, 1, 8192, 8, 0, 5);
    nvme_stop(&t);
}

/* query-blockstats: the drive's read and write operations and bytes. */
static void drive_blockstats(NvmeTest *t, int64_t st[4])
{
    QDict *resp = qtest_qmp(t->qts, "{'execute': 'query-blockstats'}");
    QListEntry *e;

    st[0] = -1;
    QLIST_FOREACH_ENTRY(qdict_get_qlist(resp, "return"), e) {
        QDict *d = qobject_to(QDict, qlist_entry_obj(e));
        QDict *s;

        if (!qdict_haskey(d, "device") ||
            strcmp(qdict_get_str(d, "device"), "d0")) {
            continue;
        }
        s = qdict_get_qdict(d, "stats");
        st[0] = qdict_get_int(s, "rd_operations");
        st[1] = qdict_get_int(s, "wr_operations");
        st[2] = qdict_get_int(s, "rd_bytes");
        st[3] = qdict_get_int(s, "wr_bytes");
    }
    qobject_unref(resp);
    g_assert_cmpint(st[0], >=, 0);
}

/*
 * query-blockstats counts the guest's reads and writes, also those the
 * module did (within its 1 s accounting period; old: none of them).
 */
static void test_blockstats(void)
{
    int64_t base[4], st[4];
    NvmeTest t;
    uint64_t buf;
    int i;

    nvme_start(&t, NULL);
    nvme_enable(&t, 8);
    ioq(&t, 1, 16);
    buf = ram_alloc(&t, 8 * KiB);
    drive_blockstats(&t, base);
    for (i = 0; i < 3; i++) {
        g_assert_cmphex(io_prp(&t, 1, NVME_CMD_WRITE, i * 16, 16, buf), ==, 0);
    }
    for (i = 0; i < 2; i++) {
        g_assert_cmphex(io_prp(&t, 1, NVME_CMD_READ, i * 8, 8, buf), ==, 0);
    }
    for (i = 0; i < 300; i++) {
        drive_blockstats(&t, st);
        if (st[0] - base[0] == 2 && st[1] - base[1] == 3) {
            break;
        }
        g_usleep(10 * 1000);
    }
    g_assert_cmpint(st[0] - base[0], ==, 2);
    g_assert_cmpint(st[1] - base[1], ==, 3);
    g_assert_cmpint(st[2] - base[2], ==, 2 * 4 * KiB);
    g_assert_cmpint(st[3] - base[3], ==, 3 * 8 * KiB);
    nvme_stop(&t);
}

/*
 * accel=kernel on anything but all of a host block device, raw: the module
 * reads and writes the device beneath QEMU's graph (old: a qcow2 image the
 * size of the device was taken, and the guest read its metadata).
 */
static void test_kernel_needs_raw(void)
{
    g_autofree char *props = NULL;
    QTestState *qts;

    if (!kernel_sysfsdev) {
        g_test_skip("needs kvm-accel (tests/accel/)");
        return;
    }
    qts = qtest_initf("-machine pc -nodefaults "
                      "-blockdev host_device,node-name=proto,filename=%s",
                      kernel_bdev);
    qtest_qmp_assert_success(qts, "{'execute': 'blockdev-create', "
                             "'arguments': {'job-id': 'mk', 'options': "
                             "{'driver': 'qcow2', 'file': 'proto', "
                             "'size': %d}}}", (int)DISK_SIZE);
    for (;;) {
        QDict *ev = qtest_qmp_eventwait_ref(qts, "JOB_STATUS_CHANGE");
        bool done = !strcmp(qdict_get_str(qdict_get_qdict(ev, "data"),
                                          "status"), "concluded");

        qobject_unref(ev);
        if (done) {
            break;
        }
    }
    qtest_qmp_assert_success(qts, "{'execute': 'job-dismiss', "
                             "'arguments': {'id': 'mk'}}");
    qtest_qmp_assert_success(qts, "{'execute': 'blockdev-add', 'arguments': "
                             "{'driver': 'qcow2', 'node-name': 'fmt', "
                             "'file': 'proto'}}");
    props = g_strdup_printf("'drive': 'fmt', 'serial': 'x', "
                            "'accel': 'kernel', 'sysfsdev': '%s'",
                            kernel_sysfsdev);
    expect_add_error(qts, props, "needs a raw drive on a host block device");
    qtest_quit(qts);

    /*
     * Through the host's page cache, QEMU would read what it kept from
     * before the module wrote (old: taken).
     */
    qts = qtest_initf("-machine pc -nodefaults "
                      "-drive id=d0,if=none,format=raw,file=%s", kernel_bdev);
    g_free(props);
    props = g_strdup_printf("'drive': 'd0', 'serial': 'x', "
                            "'accel': 'kernel', 'sysfsdev': '%s'",
                            kernel_sysfsdev);
    expect_add_error(qts, props, "accel=kernel needs cache.direct=on");
    qtest_quit(qts);
}

/* --- tests: the drive resized -------------------------------------------- */

static uint64_t id_nsze(NvmeTest *t, uint64_t buf)
{
    g_assert_cmphex(identify(t, NVME_ID_CNS_NS, 1, 0, buf), ==, 0);
    return qtest_readq(t->qts, buf);
}

/*
 * The drive becomes @size bytes and QEMU is told (block_resize). In kernel
 * mode the drive is a loop device: its file and capacity change first, as
 * an LV's would (QEMU cannot resize a host block device itself).
 */
static void disk_resize(NvmeTest *t, uint64_t size)
{
    if (kernel_bdev) {
        g_autofree char *attr = g_strdup_printf("/sys/block/%s/loop/"
                                                "backing_file",
                                                strrchr(kernel_bdev, '/') + 1);
        g_autofree char *file = NULL;
        int fd;

        g_assert(g_file_get_contents(attr, &file, NULL, NULL));
        g_strchomp(file);
        g_assert_cmpint(truncate(file, size), ==, 0);
        fd = open(kernel_bdev, O_RDONLY);
        g_assert(fd >= 0);
        g_assert_cmpint(ioctl(fd, LOOP_SET_CAPACITY, 0), ==, 0);
        close(fd);
    }
    qtest_qmp_assert_success(t->qts, "{'execute': 'block_resize', "
                             "'arguments': {'device': 'd0', 'size': %"PRIu64
                             "}}", size);
}

/* The Changed Namespace List's first entry (reading it clears the list). */
static uint32_t changed_ns_log(NvmeTest *t, uint64_t buf)
{
    NvmeCmd c = cmd(NVME_ADM_CMD_GET_LOG_PAGE);

    c.nsid = cpu_to_le32(NVME_NSID_BROADCAST);
    c.dptr.prp1 = cpu_to_le64(buf);
    c.cdw10 = cpu_to_le32(NVME_LOG_CHANGED_NSLIST | (PG / 4 - 1) << 16);
    g_assert_cmphex(admin(t, &c, NULL), ==, 0);
    return qtest_readl(t->qts, buf);
}

static void expect_ns_notice(NvmeTest *t, uint16_t aer)
{
    Cqe cqe = reap(t, 0, true);

    g_assert_cmpuint(cqe.cid, ==, aer);
    g_assert_cmphex(cqe.status, ==, 0);
    g_assert_cmphex(cqe.result, ==, NVME_AER_TYPE_NOTICE |
                    NVME_AER_INFO_NOTICE_NS_ATTR_CHANGED << 8 |
                    NVME_LOG_CHANGED_NSLIST << 16);
}

/*
 * A resized drive: Identify Namespace, the range checks of the I/O path
 * (the module's too) and the Changed Namespace List follow, with a
 * Namespace Attribute Changed notice (old: nothing changed for the guest).
 */
static void ns_resize(bool iothread)
{
    const uint64_t nsze = DISK_SIZE / 512, big = nsze + MiB / 512;
    NvmeTest t;
    uint64_t buf;
    uint16_t aer;
    NvmeCmd c;

    nvme_start(&t, iothread ? ",iothread=io0 -object iothread,id=io0" : NULL);
    nvme_enable(&t, 8);
    ioq(&t, 1, 16);
    buf = ram_alloc(&t, PG);
    g_assert_cmpuint(id_nsze(&t, buf), ==, nsze);
    g_assert_cmphex(set_feature(&t, NVME_ASYNCHRONOUS_EVENT_CONF, 1 << 8,
                                NULL), ==, 0);
    c = cmd(NVME_ADM_CMD_ASYNC_EV_REQ);
    aer = submit(&t, 0, &c, true);
    g_assert_cmphex(io_prp(&t, 1, NVME_CMD_READ, nsze, 1, buf), ==,
                    NVME_LBA_RANGE | NVME_DNR);

    disk_resize(&t, big * 512);
    expect_ns_notice(&t, aer);
    g_assert_cmpuint(id_nsze(&t, buf), ==, big);
    check_rw(&t, 1, big - 8, 8, 0, 11);
    if (kernel_sysfsdev) {
        g_assert_cmpuint(qom_kernel_queues(&t), ==, 1);
    }
    g_assert_cmpuint(changed_ns_log(&t, buf), ==, 1);
    g_assert_cmpuint(changed_ns_log(&t, buf), ==, 0);

    /* Read, the log lets the next notice through. */
    c = cmd(NVME_ADM_CMD_ASYNC_EV_REQ);
    aer = submit(&t, 0, &c, true);
    disk_resize(&t, DISK_SIZE);
    expect_ns_notice(&t, aer);
    g_assert_cmpuint(id_nsze(&t, buf), ==, nsze);
    g_assert_cmphex(io_prp(&t, 1, NVME_CMD_READ, nsze, 1, buf), ==,
                    NVME_LBA_RANGE | NVME_DNR);
    g_assert_cmphex(io_prp(&t, 1, NVME_CMD_WRITE, nsze - 1, 2, buf), ==,
                    NVME_LBA_RANGE | NVME_DNR);
    check_rw(&t, 1, nsze - 8, 8, 0, 12);
    if (kernel_sysfsdev) {
        g_assert_cmpuint(qom_kernel_queues(&t), ==, 1);
    }
    g_assert_cmpuint(changed_ns_log(&t, buf), ==, 1);
    nvme_stop(&t);
}

static void test_ns_resize(void)
{
    ns_resize(false);
}

/* The resize callback runs in the iothread, inside block_resize's drain. */
static void test_ns_resize_iothread(void)
{
    ns_resize(true);
}

/*
 * Notices were off at the first resize (the host had not set AEC yet):
 * the next one, with them on, still gets its notice (old: the pending
 * Changed Namespace List suppressed it for good).
 */
static void test_ns_resize_notice_later(void)
{
    const uint64_t nsze = DISK_SIZE / 512;
    NvmeTest t;
    uint64_t buf;
    uint16_t aer;
    NvmeCmd c;

    nvme_start(&t, NULL);
    nvme_enable(&t, 8);
    buf = ram_alloc(&t, PG);
    disk_resize(&t, DISK_SIZE + MiB);
    g_assert_cmpuint(id_nsze(&t, buf), ==, nsze + MiB / 512);
    g_assert_cmphex(set_feature(&t, NVME_ASYNCHRONOUS_EVENT_CONF, 1 << 8,
                                NULL), ==, 0);
    c = cmd(NVME_ADM_CMD_ASYNC_EV_REQ);
    aer = submit(&t, 0, &c, true);
    disk_resize(&t, DISK_SIZE);
    expect_ns_notice(&t, aer);
    g_assert_cmpuint(id_nsze(&t, buf), ==, nsze);
    g_assert_cmpuint(changed_ns_log(&t, buf), ==, 1);
    nvme_stop(&t);
}

/* The module's count of commands it completed (posted or handed back). */
static uint64_t qom_kernel_commands(NvmeTest *t)
{
    QDict *resp = qtest_qmp(t->qts, "{'execute': 'qom-get', 'arguments': "
                            "{'path': '/machine/peripheral-anon/device[0]', "
                            "'property': 'kernel-stats'}}");
    uint64_t n = qdict_get_int(qdict_get_qdict(resp, "return"), "commands");

    qobject_unref(resp);
    return n;
}

static void qom_set_kernel(NvmeTest *t, bool on)
{
    qtest_qmp_assert_success(t->qts, "{'execute': 'qom-set', 'arguments': "
                             "{'path': '/machine/peripheral-anon/device[0]', "
                             "'property': 'kernel', 'value': %i}}", on);
}

/*
 * Queues move between the module and QEMU while commands are outstanding:
 * nothing lost, nothing repeated, data intact (kernel mode only).
 */
static void test_kernel_switch(void)
{
    NvmeTest t;
    uint64_t buf;
    const int rounds = 6, per_round = 40;
    int done = 0;

    if (!kernel_sysfsdev) {
        g_test_skip("needs the kvm-accel module (tests/accel/run.sh)");
        return;
    }
    nvme_start(&t, NULL);
    nvme_enable(&t, 8);
    ioq(&t, 1, 64);
    ioq(&t, 2, 64);
    g_assert_cmpuint(qom_kernel_queues(&t), ==, 2);
    buf = ram_alloc(&t, PG);
    for (int r = 0; r < rounds; r++) {
        uint16_t first = t.cid + 1;

        /* Submit, switch sides with the commands outstanding, reap. */
        for (int i = 0; i < per_round; i++) {
            NvmeCmd c = rw(NVME_CMD_READ, i, 1);

            c.dptr.prp1 = cpu_to_le64(buf);
            submit(&t, 1 + (i & 1), &c, i >= per_round - 2);
        }
        qom_set_kernel(&t, r & 1);
        g_assert_cmpuint(qom_kernel_queues(&t), ==, (r & 1) ? 2 : 0);
        for (int i = 0; i < per_round; i++) {
            Cqe cqe = reap(&t, 1 + (i & 1), true);

            g_assert_cmphex(cqe.status, ==, 0);
            g_assert_cmpuint((uint16_t)(cqe.cid - first), <, per_round);
            done++;
        }
        /* Nothing more arrives: every command completed exactly once. */
        g_usleep(20000);
        for (int q = 1; q <= 2; q++) {
            Cqe extra;

            g_assert_false(cqe_peek(&t, q, &extra));
        }
        check_rw(&t, 1, 64 + r * 8, 8, 0, 50 + r);
    }
    g_assert_cmpint(done, ==, rounds * per_round);
    nvme_stop(&t);
}

/*
 * Taking a pair back from the module while its CQ is full: the module used
 * to wait for the guest to reap (QEMU retrying 5 s under the BQL), then the
 * completions it could not post were lost. They come back with the state.
 */
static void submit_reads(NvmeTest *t, uint16_t qid, uint64_t buf, int n)
{
    for (int i = 0; i < n; i++) {
        NvmeCmd c = rw(NVME_CMD_READ, i, 1);

        c.dptr.prp1 = cpu_to_le64(buf);
        submit(t, qid, &c, i == n - 1);
    }
}

static void test_kernel_take_back_full_cq(void)
{
    NvmeTest t;
    uint64_t buf, before;
    uint16_t first;
    int64_t t0;

    if (!kernel_sysfsdev) {
        g_test_skip("needs the kvm-accel module (tests/accel/run.sh)");
        return;
    }
    nvme_start(&t, NULL);
    nvme_enable(&t, 8);
    ioq(&t, 1, 4);
    g_assert_cmpuint(qom_kernel_queues(&t), ==, 1);
    buf = ram_alloc(&t, PG);
    first = t.cid + 1;
    before = qom_kernel_commands(&t);
    /* 3 posted fill the CQ (4 entries)... */
    submit_reads(&t, 1, buf, 3);
    for (int64_t end = g_get_monotonic_time() + TIMEOUT_US;
         !(qtest_readw(t.qts, t.q[1].cq + 2 * 16 + 14) & 1);) {
        g_assert_cmpint(g_get_monotonic_time(), <, end);
        g_usleep(1000);
    }
    /* ... then as many as the SQ has entries, fetched with no room. */
    for (int64_t end = g_get_monotonic_time() + TIMEOUT_US;
         qom_kernel_commands(&t) - before < 3;) {
        g_assert_cmpint(g_get_monotonic_time(), <, end);
        g_usleep(1000);
    }
    submit_reads(&t, 1, buf, 3);
    g_usleep(300 * 1000);
    submit_reads(&t, 1, buf, 1);
    g_usleep(300 * 1000);
    t0 = g_get_monotonic_time();
    qom_set_kernel(&t, false);
    g_test_message("take back with a full CQ took %" PRId64 " ms",
                   (g_get_monotonic_time() - t0) / 1000);
    g_assert_cmpint(g_get_monotonic_time() - t0, <, 2 * G_USEC_PER_SEC);
    g_assert_cmpuint(qom_kernel_queues(&t), ==, 0);
    g_assert_cmphex(reg_read(&t, NVME_REG_CSTS) & NVME_CSTS_FAILED, ==, 0);
    /* The module completed all 7: 4 came back to QEMU to post. */
    g_assert_cmpuint(qom_kernel_commands(&t) - before, ==, 7);
    for (int i = 0; i < 7; i++) {
        Cqe cqe = reap(&t, 1, true);

        g_assert_cmphex(cqe.status, ==, 0);
        g_assert_cmpuint(cqe.cid, ==, (uint16_t)(first + i));
    }
    g_usleep(20000);
    {
        Cqe extra;

        g_assert_false(cqe_peek(&t, 1, &extra));
    }
    check_rw(&t, 1, 8, 8, 0, 60);
    nvme_stop(&t);
}

/*
 * Under libvirt the drive is an fd QEMU was given (-add-fd, /dev/fdset/N):
 * the module attaches the block device through a dup of it, and nobody
 * opens a path (kernel mode only).
 */
static void test_kernel_fdset(void)
{
    NvmeTest t;
    int ro, rw;

    if (!kernel_sysfsdev) {
        g_test_skip("needs the kvm-accel module (tests/accel/run.sh)");
        return;
    }
    /* Read-only and read-write, as libvirt passes them; QEMU inherits them. */
    ro = open(kernel_bdev, O_RDONLY | O_DIRECT);
    rw = open(kernel_bdev, O_RDWR | O_DIRECT);
    g_assert(ro >= 0 && rw >= 0);
    memset(&t, 0, sizeof(t));
    t.disk = g_strdup(kernel_bdev);
    t.qts = qtest_initf("-machine q35 -m 512M -nodefaults "
                        "-add-fd fd=%d,set=7 -add-fd fd=%d,set=7 "
                        "-drive id=d0,if=none,format=raw,cache=none,"
                        "file.driver=host_device,file.filename=/dev/fdset/7 "
                        "-device nvme-accel,addr=04.0,drive=d0,serial=acc0,"
                        "accel=kernel,sysfsdev=%s", ro, rw, kernel_sysfsdev);
    close(ro);
    close(rw);
    nvme_start_pci(&t);
    nvme_enable(&t, 8);
    ioq(&t, 1, 16);
    g_assert_cmpuint(qom_kernel_queues(&t), ==, 1);
    check_rw(&t, 1, 8, 8, 0, 77);
    nvme_stop(&t);
}

/*
 * A CQ head doorbell that frees no posted entry: Invalid Doorbell Write
 * Value. In kernel mode the module's worker is what applies the value and
 * sees it; QEMU raises the AER from the module's event.
 */
static void test_cq_head_aer(void)
{
    NvmeTest t;
    NvmeCmd c;
    uint16_t aer;

    nvme_start(&t, NULL);
    nvme_enable(&t, 8);
    ioq(&t, 1, 16);
    c = cmd(NVME_ADM_CMD_ASYNC_EV_REQ);
    aer = submit(&t, 0, &c, true);
    cq_doorbell(&t, 1, 5);
    reap_db_value_aer(&t, aer);
    nvme_stop(&t);
}

/*
 * The host block device goes away under the module (a configfs null_blk,
 * NVME_ACCEL_TEST_DEAD, powered off): the controller reports a fatal
 * status (kernel mode only).
 */
static void test_kernel_bdev_dead(void)
{
    const char *dev = getenv("NVME_ACCEL_TEST_DEAD");
    g_autofree char *power = NULL;
    NvmeTest t;
    int fd, i;

    if (!kernel_sysfsdev || !dev) {
        g_test_skip("needs the kvm-accel module and NVME_ACCEL_TEST_DEAD "
                    "(tests/accel/run.sh)");
        return;
    }
    power = g_strdup_printf("/sys/kernel/config/nullb/%s/power",
                            strrchr(dev, '/') + 1);
    memset(&t, 0, sizeof(t));
    t.disk = g_strdup(kernel_bdev);         /* nothing for nvme_stop() */
    t.qts = qtest_initf("-machine q35 -m 512M -nodefaults "
                        "-drive id=d0,if=none,format=raw,file=%s,"
                        "cache.direct=on "
                        "-device nvme-accel,addr=04.0,drive=d0,serial=acc0,"
                        "accel=kernel,sysfsdev=%s", dev, kernel_sysfsdev);
    nvme_start_pci(&t);
    nvme_enable(&t, 8);
    ioq(&t, 1, 16);
    check_rw(&t, 1, 0, 8, 0, 5);
    g_assert_cmphex(reg_read(&t, NVME_REG_CSTS) & NVME_CSTS_FAILED, ==, 0);
    fd = open(power, O_WRONLY);
    g_assert(fd >= 0);
    g_assert_cmpint(write(fd, "0", 1), ==, 1);
    close(fd);
    for (i = 0; i < 500; i++) {
        if (reg_read(&t, NVME_REG_CSTS) & NVME_CSTS_FAILED) {
            break;
        }
        g_usleep(10000);
    }
    g_assert_cmphex(reg_read(&t, NVME_REG_CSTS) & NVME_CSTS_FAILED, !=, 0);
    /* A reset clears it, and the next enable finds the backend gone. */
    nvme_disable(&t);
    g_assert_cmphex(reg_read(&t, NVME_REG_CSTS) & NVME_CSTS_FAILED, ==, 0);
    reg_write(&t, NVME_REG_CC, CC_ENABLE);
    g_assert(wait_csts(&t, NVME_CSTS_FAILED, NVME_CSTS_FAILED));
    nvme_stop(&t);
    /* Power it on again, for the next run. */
    fd = open(power, O_WRONLY);
    g_assert(fd >= 0);
    g_assert_cmpint(write(fd, "1", 1), ==, 1);
    close(fd);
}

/* Hot-unplug with queues live and I/O in flight; then plug another. */
static void test_hotplug_unplug(void)
{
    NvmeTest t;
    uint64_t buf;

    memset(&t, 0, sizeof(t));
    t.qts = qtest_init("-machine pc -m 512M "
                       "-drive id=d0,if=none,file=null-co://,format=raw,"
                       "file.read-zeroes=on "
                       "-drive id=d1,if=none,file=null-co://,format=raw");
    qtest_qmp_device_add(t.qts, "nvme-accel", "hp0",
                         "{'addr': '06.0', 'drive': 'd0', 'serial': 'hp0'}");
    t.bus = qpci_new_pc(t.qts, NULL);
    t.dev = qpci_device_find(t.bus, QPCI_DEVFN(6, 0));
    g_assert(t.dev);
    qpci_device_enable(t.dev);
    qpci_msix_enable(t.dev);
    t.bar = t.dev->msix_table_bar;
    t.next_ram = RAM_POOL;
    nvme_enable(&t, 8);
    ioq(&t, 1, 64);
    buf = ram_alloc(&t, 64 * KiB);
    for (int i = 0; i < 40; i++) {
        NvmeCmd c = rw(NVME_CMD_READ, i * 128, 128);

        prp_fill(&t, &c, buf, 64 * KiB);
        submit(&t, 1, &c, true);
    }
    qpci_unplug_acpi_device_test(t.qts, "hp0", 6);
    g_free(t.dev);
    qtest_qmp_device_add(t.qts, "nvme-accel", "hp1",
                         "{'addr': '06.0', 'drive': 'd1', 'serial': 'hp1'}");
    qpci_free_pc(t.bus);
    qtest_quit(t.qts);
}

/*
 * Bus Master Enable cleared, shadow doorbells on, an AER outstanding: the
 * function touches no memory, in either mode, and raises no error (ring
 * caches made with BME set kept fetching and posting, the module kept
 * running its pairs). Set again, the command held in the SQ runs.
 */
static void test_bus_master_disable(void)
{
    uint8_t pattern[512], now[512];
    uint16_t command;
    NvmeTest t;
    uint64_t buf;
    NvmeCmd c;
    Cqe cqe;

    nvme_start(&t, NULL);
    nvme_enable(&t, 8);
    buf = ram_alloc(&t, PG);
    shadow_doorbells_on(&t);
    ioq(&t, 1, 16);
    c = cmd(NVME_ADM_CMD_ASYNC_EV_REQ);
    submit(&t, 0, &c, true);
    g_assert_cmphex(io_prp(&t, 1, NVME_CMD_READ, 0, 1, buf), ==, 0);
    g_assert_cmpuint(qom_kernel_queues(&t), ==, kernel_sysfsdev ? 1 : 0);
    memset(pattern, 0xa5, sizeof(pattern));
    qtest_memwrite(t.qts, buf, pattern, sizeof(pattern));

    command = qpci_config_readw(t.dev, PCI_COMMAND);
    qpci_config_writew(t.dev, PCI_COMMAND, command & ~PCI_COMMAND_MASTER);
    g_assert_cmpuint(qom_kernel_queues(&t), ==, 0);
    c = rw(NVME_CMD_READ, 0, 1);
    c.dptr.prp1 = cpu_to_le64(buf);
    submit(&t, 1, &c, true);
    g_usleep(200 * 1000);
    g_assert_false(cqe_peek(&t, 1, &cqe));
    g_assert_false(cqe_peek(&t, 0, &cqe));
    qtest_memread(t.qts, buf, now, sizeof(now));
    g_assert_cmpmem(now, sizeof(now), pattern, sizeof(pattern));
    g_assert_cmphex(reg_read(&t, NVME_REG_CSTS) & NVME_CSTS_FAILED, ==, 0);

    /* Set again: the held read runs, the pairs go back to the module. */
    qpci_config_writew(t.dev, PCI_COMMAND, command);
    g_assert_cmphex(reap(&t, 1, true).status, ==, 0);
    qtest_memread(t.qts, buf, now, sizeof(now));
    g_assert_cmpuint(now[0], ==, 0);            /* the disk's zeroes */
    g_assert_cmpuint(qom_kernel_queues(&t), ==, kernel_sysfsdev ? 1 : 0);
    g_assert_cmphex(reg_read(&t, NVME_REG_CSTS) & NVME_CSTS_FAILED, ==, 0);
    g_assert_false(cqe_peek(&t, 0, &cqe));      /* the AER still waits */
    check_rw(&t, 1, 8, 8, 0, 70);
    nvme_stop(&t);
}

/*
 * Behind a vIOMMU the guest's addresses are I/O virtual addresses, which
 * the module would take as guest-physical: the pairs stay in QEMU, whose
 * DMA goes through the IOMMU (here off: the guest enables no remapping).
 */
static void test_viommu_keeps_queues_in_qemu(void)
{
    NvmeTest t;
    uint64_t buf;

    if (!qtest_has_device("intel-iommu")) {
        g_test_skip("no intel-iommu in this QEMU");
        return;
    }
    nvme_start(&t, " -device intel-iommu");
    nvme_enable(&t, 8);
    ioq(&t, 1, 16);
    g_assert_cmpuint(qom_kernel_queues(&t), ==, 0);
    buf = ram_alloc(&t, PG);
    for (int i = 0; i < 4; i++) {
        g_assert_cmphex(io_prp(&t, 1, NVME_CMD_READ, i, 1, buf), ==, 0);
    }
    check_rw(&t, 1, 8, 8, 0, 71);
    nvme_stop(&t);
}

/*
 * A realize that fails after the drive moved to the iothread (accel=kernel
 * with no kvm-accel mdev) undoes it: the iothread can be deleted and
 * another device, in another iothread, use the drive. (QEMU 10's block
 * layer also copes without the fix, even under ASan: a test of the retry a
 * management layer does, not of the leak.)
 */
static void test_realize_failure_releases_drive(void)
{
    NvmeTest t;
    QDict *resp;
    uint64_t buf;

    memset(&t, 0, sizeof(t));
    t.qts = qtest_init("-machine pc -m 512M -object iothread,id=io0 "
                       "-object iothread,id=io1 "
                       "-drive id=d0,if=none,file=null-co://,format=raw,"
                       "file.read-zeroes=on");
    resp = qtest_qmp(t.qts, "{'execute': 'device_add', 'arguments': "
                     "{'driver': 'nvme-accel', 'id': 'bad', 'addr': '06.0', "
                     "'drive': 'd0', 'serial': 'bad', 'iothread': 'io0', "
                     "'accel': 'kernel', "
                     "'sysfsdev': '/sys/bus/mdev/devices/nonexistent'}}");
    g_assert_nonnull(strstr(qdict_get_str(qdict_get_qdict(resp, "error"),
                                          "desc"), "nonexistent"));
    qobject_unref(resp);
    /* Nothing uses the iothread now: it may go, its AioContext with it. */
    qtest_qmp_assert_success(t.qts, "{'execute': 'object-del', "
                             "'arguments': {'id': 'io0'}}");
    qtest_qmp_device_add(t.qts, "nvme-accel", "good",
                         "{'addr': '06.0', 'drive': 'd0', 'serial': 'good', "
                         "'iothread': 'io1'}");
    t.bus = qpci_new_pc(t.qts, NULL);
    t.dev = qpci_device_find(t.bus, QPCI_DEVFN(6, 0));
    g_assert(t.dev);
    qpci_device_enable(t.dev);
    qpci_msix_enable(t.dev);
    t.bar = t.dev->msix_table_bar;
    t.next_ram = RAM_POOL;
    for (unsigned v = 0; v <= IOQ_MAX; v++) {
        msix_setup(&t, v);
    }
    nvme_enable(&t, 8);
    ioq(&t, 1, 16);
    buf = ram_alloc(&t, PG);
    for (int i = 0; i < 8; i++) {
        g_assert_cmphex(io_prp(&t, 1, NVME_CMD_READ, i, 1, buf), ==, 0);
    }
    g_free(t.dev);
    qpci_free_pc(t.bus);
    qtest_quit(t.qts);
}

static void test_iothread(void)
{
    NvmeTest t;

    nvme_start(&t, ",iothread=io0 -object iothread,id=io0");
    nvme_enable(&t, 8);
    ioq(&t, 1, 32);
    ioq(&t, 2, 32);
    check_rw(&t, 1, 0, 64, 0, 41);
    check_rw(&t, 2, 64, 64, 0x200, 42);
    g_assert_true(msix_wait(&t, 1));
    nvme_disable(&t);
    nvme_stop(&t);
}

/* A QEMU that stops answering fails the test instead of hanging it. */
static void watchdog_expired(int sig)
{
    static const char msg[] = "watchdog: QEMU stopped answering\n";

    if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
        /* nothing more we can do from a signal handler */
    }
    abort();
}

/*
 * A Write whose data pointer is not RAM (here: the controller's own
 * registers) fails with Data Transfer Error, and the device never reads
 * there: address_space_map() of MMIO bounces, reading the MMIO region from
 * the I/O context. In an iothread that read takes the BQL; with the main
 * loop holding it while it waits for the iothread (the reset's queue
 * change), QEMU deadlocked (found by generic-fuzz-nvme-accel-iothread).
 *
 * The doorbell, writes to RAM that keep the main loop busy while the
 * iothread fetches, and CC.EN=0 go in one qtest buffer that QEMU reads at
 * once (it reads 1 KiB at a time): the main loop holds the BQL throughout.
 * The iothread is usually there first; if it is late, the reset stops it
 * before it fetches: so, rounds (the old code deadlocked in 5 runs of 5).
 */
static void test_data_in_mmio_iothread(void)
{
    enum { FILL = 30, ROUNDS = 5 };
    uint64_t addr[FILL + 2];
    uint32_t val[FILL + 2];
    struct sigaction watchdog = { .sa_handler = watchdog_expired }, old;
    NvmeTest t;
    NvmeCmd c;
    uint64_t scratch;
    size_t len;

    nvme_start(&t, ",iothread=io0 -object iothread,id=io0");
    sigaction(SIGALRM, &watchdog, &old);
    alarm(3 * TIMEOUT_US / G_USEC_PER_SEC);
    for (int round = 0; round < ROUNDS; round++) {
        nvme_enable(&t, 8);
        ioq(&t, 1, 16);
        c = rw(NVME_CMD_WRITE, 0, 8);
        c.dptr.prp1 = cpu_to_le64(t.bar.addr);
        g_assert_cmphex(run(&t, 1, &c).status, ==,
                        NVME_DATA_TRAS_ERROR | NVME_DNR);

        c = rw(NVME_CMD_WRITE, 0, 8);
        c.dptr.prp1 = cpu_to_le64(t.bar.addr);
        submit(&t, 1, &c, false);
        scratch = ram_alloc(&t, PG);
        addr[0] = t.bar.addr + 0x1000 + 2 * 1 * 4;
        val[0] = t.q[1].sq_tail;
        for (int i = 1; i <= FILL; i++) {
            addr[i] = scratch + i * 4;
            val[i] = i;
        }
        addr[FILL + 1] = t.bar.addr + NVME_REG_CC;
        val[FILL + 1] = 0;
        len = 0;
        for (int i = 0; i < FILL + 2; i++) {
            g_autofree char *line = g_strdup_printf("writel 0x%" PRIx64
                                                    " 0x%x\n", addr[i],
                                                    val[i]);

            len += strlen(line);
        }
        g_assert_cmpuint(len, <=, 1024);
        qtest_writel_batch(t.qts, addr, val, FILL + 2);
        g_assert(wait_csts(&t, NVME_CSTS_READY, 0));
        memset(t.q, 0, sizeof(t.q));
        t.next_ram = RAM_POOL;
    }
    alarm(0);
    sigaction(SIGALRM, &old, NULL);

    /* The controller is whole. */
    nvme_enable(&t, 8);
    ioq(&t, 1, 16);
    check_rw(&t, 1, 0, 8, 0, 61);
    nvme_stop(&t);
}

/* QEMU's CPU time (all threads) per wall time over the next @ms. */
static double qemu_cpu_load(NvmeTest *t, unsigned ms)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat",
                                            (int)qtest_pid(t->qts));
    unsigned long long ticks[2];
    int64_t start = 0;

    for (int i = 0; i < 2; i++) {
        g_autofree char *stat = NULL;
        unsigned long long utime, stime;
        char *p;

        if (i) {
            g_usleep(ms * 1000);
        }
        g_assert_true(g_file_get_contents(path, &stat, NULL, NULL));
        /* Fields 14 and 15, after the parenthesised command name. */
        p = strrchr(stat, ')');
        g_assert_nonnull(p);
        g_assert_cmpint(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u "
                               "%*u %*u %llu %llu", &utime, &stime), ==, 2);
        ticks[i] = utime + stime;
        if (!i) {
            start = g_get_monotonic_time();
        }
    }
    return (double)(ticks[1] - ticks[0]) / sysconf(_SC_CLK_TCK) /
           ((g_get_monotonic_time() - start) / 1e6);
}

/* Doorbell writes that only wake the iothread: its polling time grows. */
static void warm_up_polling(NvmeTest *t)
{
    for (int i = 0; i < 200; i++) {
        sq_doorbell(t, 1, t->q[1].sq_tail);
    }
}

/*
 * An iothread that polls (poll-max-ns) must not poll for work its SQ
 * bottom half will not do: a shadow tail out of range, or commands beyond
 * the requests free while a slow backend holds them. Either kept the
 * iothread spinning at 100% CPU for as long as it lasted.
 */
static void test_sq_poll_no_spin(void)
{
    enum { NCMD = 511 };        /* a full SQ: more than a SQ's requests */
    uint64_t buf;
    double load;
    NvmeTest t;

    nvme_start_device(&t, NULL, "null-co://",
                      ",file.latency-ns=1000000000,file.read-zeroes=on",
                      ",iothread=io0 -object iothread,id=io0,"
                      "poll-max-ns=10000000");
    nvme_enable(&t, 8);
    shadow_doorbells_on(&t);
    ioq(&t, 1, 512);
    buf = ram_alloc(&t, PG);

    /* More reads than requests: the last ones wait for the first. */
    warm_up_polling(&t);
    for (int i = 0; i < NCMD; i++) {
        NvmeCmd c = rw(NVME_CMD_READ, i, 1);

        c.dptr.prp1 = cpu_to_le64(buf);
        submit(&t, 1, &c, i == NCMD - 1);
    }
    load = qemu_cpu_load(&t, 500);
    g_test_message("CPU with reads waiting for requests: %.0f%%", load * 100);
    g_assert_cmpfloat(load, <, 0.5);
    for (int i = 0; i < NCMD; i++) {
        g_assert_cmphex(reap(&t, 1, true).status, ==, 0);
    }

    /* A shadow tail out of range, reported once, then ignored. */
    warm_up_polling(&t);
    qtest_writel(t.qts, t.dbs + 2 * 1 * 4, 0xffff);
    sq_doorbell(&t, 1, t.q[1].sq_tail);
    load = qemu_cpu_load(&t, 500);
    g_test_message("CPU with a bad shadow tail: %.0f%%", load * 100);
    g_assert_cmpfloat(load, <, 0.5);

    qtest_writel(t.qts, t.dbs + 2 * 1 * 4, t.q[1].sq_tail);
    g_assert_cmphex(io_prp(&t, 1, NVME_CMD_READ, 0, 1, buf), ==, 0);
    nvme_stop(&t);
}

/*
 * Bus Master Enable cleared while the iothread reads guest memory: the
 * read was checked against the map with BME set and then made with it
 * clear, i.e. dispatched to the unassigned region, which takes the BQL,
 * held by the main loop waiting for the iothread to stop (deadlock, found
 * by generic-fuzz-nvme-accel-iothread). A new SQ shadow tail out of range
 * and a kick each time keep the iothread reading it while BME goes off
 * and on.
 */
static void test_bus_master_race_iothread(void)
{
    enum { TOGGLES = 1000 };
    struct sigaction watchdog = { .sa_handler = watchdog_expired }, old;
    uint16_t command;
    NvmeTest t;

    nvme_start(&t, ",iothread=io0 -object iothread,id=io0");
    nvme_enable(&t, 8);
    shadow_doorbells_on(&t);
    ioq(&t, 1, 16);
    command = qpci_config_readw(t.dev, PCI_COMMAND);
    sigaction(SIGALRM, &watchdog, &old);
    alarm(3 * TIMEOUT_US / G_USEC_PER_SEC);
    for (int i = 0; i < TOGGLES; i++) {
        qtest_writel(t.qts, t.dbs + 2 * 1 * 4, 0x8000 + i);
        sq_doorbell(&t, 1, 1);                  /* the ioeventfd: a kick */
        qpci_config_writew(t.dev, PCI_COMMAND, command & ~PCI_COMMAND_MASTER);
        qpci_config_writew(t.dev, PCI_COMMAND, command);
    }
    alarm(0);
    sigaction(SIGALRM, &old, NULL);

    /* The controller is whole once the host writes a valid tail. */
    qtest_writel(t.qts, t.dbs + 2 * 1 * 4, 0);
    check_rw(&t, 1, 0, 8, 0, 62);
    nvme_stop(&t);
}

/*
 * Not a test: "--bench DEVICE COUNT QD" drives COUNT 4 KiB reads through one
 * queue pair at queue depth QD, batching submissions and reaps so that the
 * qtest protocol costs little per command. scripts/bench-qemu-cost.sh runs
 * it under callgrind for two counts and reports QEMU's instructions per I/O
 * for nvme-accel and for -device nvme on the same backend.
 */
static int nvme_bench(const char *device, long count, unsigned qd)
{
    NvmeTest t;
    g_autofree uint8_t *sqes = g_malloc0(qd * 64);
    g_autofree uint8_t *cqes = g_malloc0(qd * 16);
    const uint32_t qsize = 1024;
    uint64_t buf;
    long done = 0;
    int64_t start;

    if (!strcmp(device, "nvme-accel-kernel")) {
        /* Kernel mode (NVME_ACCEL_TEST_SYSFSDEV/_BDEV): the module runs it. */
        g_assert(kernel_sysfsdev);
        nvme_start_device(&t, NULL, NULL, NULL, NULL);
    } else if (kernel_bdev) {
        /* The same block device, the I/O queues in QEMU. */
        nvme_start_device(&t, device, kernel_bdev, ",cache=none,aio=native",
                          !strcmp(device, "nvme-accel") ? ",accel=off" : "");
    } else {
        /* A null-co backend: the block layer costs next to nothing. */
        nvme_start_device(&t, device, "null-co://", ",file.read-zeroes=on",
                          NULL);
    }
    nvme_enable(&t, 8);
    ioq(&t, 1, qsize);
    buf = ram_alloc(&t, qd * PG);
    start = g_get_monotonic_time();
    while (done < count) {
        TestQueue *q = &t.q[1];
        unsigned n = MIN(qd, qsize - q->sq_tail);    /* no wrap in a batch */
        unsigned seen = 0;

        n = MIN(n, count - done);
        for (unsigned i = 0; i < n; i++) {
            NvmeCmd c = rw(NVME_CMD_READ, (done + i) * 8 % (DISK_SIZE / 512),
                           8);

            c.cid = cpu_to_le16(q->sq_tail + i);
            c.dptr.prp1 = cpu_to_le64(buf + i * PG);
            memcpy(sqes + i * 64, &c, 64);
        }
        qtest_memwrite(t.qts, q->sq + q->sq_tail * 64ULL, sqes, n * 64);
        q->sq_tail = (q->sq_tail + n) % qsize;
        sq_doorbell(&t, 1, q->sq_tail);
        while (seen < n) {
            unsigned avail = MIN(n - seen, qsize - q->cq_head), k;

            qtest_memread(t.qts, q->cq + q->cq_head * 16ULL, cqes, avail * 16);
            for (k = 0; k < avail; k++) {
                uint16_t st = lduw_le_p(cqes + k * 16 + 14);

                if ((st & 1) != q->phase) {
                    break;
                }
                g_assert_cmphex(st >> 1, ==, 0);
            }
            seen += k;
            q->cq_head += k;
            if (q->cq_head == qsize) {
                q->cq_head = 0;
                q->phase ^= 1;
            }
            if (k) {
                cq_doorbell(&t, 1, q->cq_head);
            }
        }
        done += n;
    }
    printf("%s: %ld reads of 4 KiB at QD %u in %.3f s\n", device, count, qd,
           (g_get_monotonic_time() - start) / 1e6);
    nvme_stop(&t);
    return 0;
}

int main(int argc, char **argv)
{
    kernel_sysfsdev = getenv("NVME_ACCEL_TEST_SYSFSDEV");
    kernel_bdev = getenv("NVME_ACCEL_TEST_BDEV");
    if (!kernel_bdev) {
        kernel_sysfsdev = NULL;
    }
    if (argc == 5 && !strcmp(argv[1], "--bench")) {
        return nvme_bench(argv[2], atol(argv[3]), atoi(argv[4]));
    }
    g_test_init(&argc, &argv, NULL);

    qtest_add_func("/nvme-accel/pci-identity", test_pci_identity);
    qtest_add_func("/nvme-accel/reset-values", test_reset_values);
    qtest_add_func("/nvme-accel/properties-reach-cap",
                   test_properties_reach_cap);
    qtest_add_func("/nvme-accel/admin-regs-and-shutdown",
                   test_admin_regs_and_shutdown);
    qtest_add_func("/nvme-accel/intms-pin-based", test_intms_pin_based);
    qtest_add_func("/nvme-accel/bad-params", test_bad_params);
    qtest_add_func("/nvme-accel/enable-identify", test_enable_identify);
    qtest_add_func("/nvme-accel/enable-bad-config", test_enable_bad_config);
    qtest_add_func("/nvme-accel/queue-management", test_queue_management);
    qtest_add_func("/nvme-accel/io-prp", test_io_prp);
    qtest_add_func("/nvme-accel/io-prp-chain", test_io_prp_chain);
    qtest_add_func("/nvme-accel/io-sgl", test_io_sgl);
    qtest_add_func("/nvme-accel/io-sgl-scattered", test_io_sgl_scattered);
    qtest_add_func("/nvme-accel/bounce-bounded", test_bounce_bounded);
    qtest_add_func("/nvme-accel/bounce-fair", test_bounce_fair);
    qtest_add_func("/nvme-accel/io-commands", test_io_commands);
    qtest_add_func("/nvme-accel/io-errors", test_io_errors);
    qtest_add_func("/nvme-accel/doorbell-errors-aer", test_doorbell_errors_aer);
    qtest_add_func("/nvme-accel/smart-aer", test_smart_aer);
    qtest_add_func("/nvme-accel/features", test_features);
    qtest_add_func("/nvme-accel/shadow-doorbells", test_shadow_doorbells);
    qtest_add_func("/nvme-accel/pin-interrupts-shadow-doorbells",
                   test_pin_interrupts_shadow_doorbells);
    qtest_add_func("/nvme-accel/interrupts", test_interrupts);
    qtest_add_func("/nvme-accel/pin-interrupts", test_pin_interrupts);
    qtest_add_func("/nvme-accel/reset-with-io-in-flight",
                   test_reset_with_io_in_flight);
    qtest_add_func("/nvme-accel/hostile-queues", test_hostile_queues);
    qtest_add_func("/nvme-accel/read-only", test_read_only);
    qtest_add_func("/nvme-accel/iothread", test_iothread);
    qtest_add_func("/nvme-accel/bus-master-disable", test_bus_master_disable);
    qtest_add_func("/nvme-accel/viommu-keeps-queues-in-qemu",
                   test_viommu_keeps_queues_in_qemu);
    qtest_add_func("/nvme-accel/realize-failure-releases-drive",
                   test_realize_failure_releases_drive);
    qtest_add_func("/nvme-accel/delete-sq-keeps-cq", test_delete_sq_keeps_cq);
    qtest_add_func("/nvme-accel/large-pages-prp", test_large_pages_prp);
    qtest_add_func("/nvme-accel/log-pages", test_log_pages);
    qtest_add_func("/nvme-accel/ns-resize", test_ns_resize);
    qtest_add_func("/nvme-accel/ns-resize-iothread", test_ns_resize_iothread);
    qtest_add_func("/nvme-accel/ns-resize-notice-later",
                   test_ns_resize_notice_later);
    qtest_add_func("/nvme-accel/write-cache", test_write_cache);
    qtest_add_func("/nvme-accel/backup-while-writing",
                   test_backup_while_writing);
    qtest_add_func("/nvme-accel/kernel-needs-raw", test_kernel_needs_raw);
    qtest_add_func("/nvme-accel/dirty-bitmap", test_dirty_bitmap);
    qtest_add_func("/nvme-accel/blockstats", test_blockstats);
    qtest_add_func("/nvme-accel/ring-remapped", test_ring_remapped);
    qtest_add_func("/nvme-accel/ring-remapped-iothread",
                   test_ring_remapped_iothread);
    qtest_add_func("/nvme-accel/d3hot-holds-dma", test_d3hot_holds_dma);
    qtest_add_func("/nvme-accel/pm-flr", test_pm_flr);
    qtest_add_func("/nvme-accel/aer-keeps-cqe-slot", test_aer_keeps_cqe_slot);
    qtest_add_func("/nvme-accel/reset-over-delete", test_reset_over_delete);
    qtest_add_func("/nvme-accel/reset-over-delete-iothread",
                   test_reset_over_delete_iothread);
    qtest_add_func("/nvme-accel/reset-over-delete-inflight",
                   test_reset_over_delete_inflight);
    qtest_add_func("/nvme-accel/hotplug-unplug", test_hotplug_unplug);
    qtest_add_func("/nvme-accel/deep-queue", test_deep_queue);
    qtest_add_func("/nvme-accel/kernel-switch", test_kernel_switch);
    qtest_add_func("/nvme-accel/kernel-take-back-full-cq",
                   test_kernel_take_back_full_cq);
    qtest_add_func("/nvme-accel/kernel-fdset", test_kernel_fdset);
    qtest_add_func("/nvme-accel/cq-head-aer", test_cq_head_aer);
    qtest_add_func("/nvme-accel/kernel-bdev-dead", test_kernel_bdev_dead);
    qtest_add_func("/nvme-accel/data-in-mmio-iothread",
                   test_data_in_mmio_iothread);
    qtest_add_func("/nvme-accel/sq-poll-no-spin", test_sq_poll_no_spin);
    qtest_add_func("/nvme-accel/bus-master-race-iothread",
                   test_bus_master_race_iothread);

    return g_test_run();
}
