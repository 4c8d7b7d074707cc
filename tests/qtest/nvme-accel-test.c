/*
 * QTest testcase for nvme-accel
 *
 * Copyright (c) 2026 The nvme-accel authors
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or later.
 * See the COPYING file in the top-level directory.
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"
#include "qapi/error.h"
#include "libqos/pci-pc.h"
#include "hw/pci/pci_regs.h"
#include "block/nvme.h"

#define NVME_ACCEL_VENDOR   0x1af4
#define NVME_ACCEL_DEVICE   0x10f0

typedef struct NvmeAccelTest {
    QTestState *qts;
    QPCIBus *bus;
    QPCIDevice *dev;
    QPCIBar bar;
} NvmeAccelTest;

static void nvme_accel_start(NvmeAccelTest *t, const char *extra)
{
    t->qts = qtest_initf("-machine q35 "
                         "-drive id=d0,if=none,file=null-co://,"
                         "file.read-zeroes=on,format=raw "
                         "-device nvme-accel,addr=04.0,drive=d0,serial=acc0%s",
                         extra ? extra : "");
    t->bus = qpci_new_pc(t->qts, NULL);
    t->dev = qpci_device_find(t->bus, QPCI_DEVFN(4, 0));
    g_assert(t->dev);
    qpci_device_enable(t->dev);
    t->bar = qpci_iomap(t->dev, 0, NULL);
}

static void nvme_accel_stop(NvmeAccelTest *t)
{
    qpci_iounmap(t->dev, t->bar);
    g_free(t->dev);
    qpci_free_pc(t->bus);
    qtest_quit(t->qts);
}

static void test_pci_identity(void)
{
    NvmeAccelTest t;

    nvme_accel_start(&t, NULL);
    g_assert_cmphex(qpci_config_readw(t.dev, PCI_VENDOR_ID), ==,
                    NVME_ACCEL_VENDOR);
    g_assert_cmphex(qpci_config_readw(t.dev, PCI_DEVICE_ID), ==,
                    NVME_ACCEL_DEVICE);
    /* Mass storage, non-volatile memory, NVM Express I/O controller. */
    g_assert_cmphex(qpci_config_readw(t.dev, PCI_CLASS_DEVICE), ==, 0x0108);
    g_assert_cmphex(qpci_config_readb(t.dev, PCI_CLASS_PROG), ==, 0x02);
    g_assert_cmphex(qpci_find_capability(t.dev, PCI_CAP_ID_EXP, 0), !=, 0);
    g_assert_cmphex(qpci_find_capability(t.dev, PCI_CAP_ID_MSIX, 0), !=, 0);
    nvme_accel_stop(&t);
}

static void test_reset_values(void)
{
    NvmeAccelTest t;
    uint64_t cap;

    nvme_accel_start(&t, NULL);
    cap = qpci_io_readq(t.dev, t.bar, NVME_REG_CAP);
    g_assert_cmpint(NVME_CAP_MQES(cap), ==, 1023);
    g_assert_cmpint(NVME_CAP_CQR(cap), ==, 1);
    g_assert_cmpint(NVME_CAP_DSTRD(cap), ==, 0);
    g_assert_cmpint(NVME_CAP_CSS(cap) & NVME_CAP_CSS_NCSS, !=, 0);
    g_assert_cmpint(NVME_CAP_MPSMIN(cap), ==, 0);
    g_assert_cmpint(NVME_CAP_TO(cap), !=, 0);
    /* 32-bit halves agree with the 64-bit read. */
    g_assert_cmphex(qpci_io_readl(t.dev, t.bar, NVME_REG_CAP), ==,
                    (uint32_t)cap);
    g_assert_cmphex(qpci_io_readl(t.dev, t.bar, NVME_REG_CAP + 4), ==,
                    cap >> 32);

    g_assert_cmphex(qpci_io_readl(t.dev, t.bar, NVME_REG_VS), ==, 0x20000);
    g_assert_cmphex(qpci_io_readl(t.dev, t.bar, NVME_REG_CC), ==, 0);
    g_assert_cmphex(qpci_io_readl(t.dev, t.bar, NVME_REG_CSTS), ==, 0);
    g_assert_cmphex(qpci_io_readl(t.dev, t.bar, NVME_REG_AQA), ==, 0);
    g_assert_cmphex(qpci_io_readq(t.dev, t.bar, NVME_REG_ASQ), ==, 0);
    g_assert_cmphex(qpci_io_readq(t.dev, t.bar, NVME_REG_ACQ), ==, 0);
    nvme_accel_stop(&t);
}

static void test_properties_reach_cap(void)
{
    NvmeAccelTest t;
    uint64_t cap;

    nvme_accel_start(&t, ",max-queue-entries=64");
    cap = qpci_io_readq(t.dev, t.bar, NVME_REG_CAP);
    g_assert_cmpint(NVME_CAP_MQES(cap), ==, 63);
    nvme_accel_stop(&t);
}

static void test_admin_regs_and_shutdown(void)
{
    NvmeAccelTest t;

    nvme_accel_start(&t, NULL);
    qpci_io_writel(t.dev, t.bar, NVME_REG_AQA, 0x001f001f);
    qpci_io_writeq(t.dev, t.bar, NVME_REG_ASQ, 0x123456000ULL);
    qpci_io_writel(t.dev, t.bar, NVME_REG_ACQ, 0x789ab000);
    qpci_io_writel(t.dev, t.bar, NVME_REG_ACQ + 4, 0x1);
    g_assert_cmphex(qpci_io_readl(t.dev, t.bar, NVME_REG_AQA), ==, 0x001f001f);
    g_assert_cmphex(qpci_io_readq(t.dev, t.bar, NVME_REG_ASQ), ==,
                    0x123456000ULL);
    g_assert_cmphex(qpci_io_readq(t.dev, t.bar, NVME_REG_ACQ), ==,
                    0x1789ab000ULL);

    /* Writes to read-only registers are ignored. */
    qpci_io_writel(t.dev, t.bar, NVME_REG_VS, 0xffffffff);
    g_assert_cmphex(qpci_io_readl(t.dev, t.bar, NVME_REG_VS), ==, 0x20000);
    qpci_io_writel(t.dev, t.bar, NVME_REG_CSTS, 0xffffffff);
    g_assert_cmphex(qpci_io_readl(t.dev, t.bar, NVME_REG_CSTS), ==, 0);

    /* Interrupt mask set/clear. */
    qpci_io_writel(t.dev, t.bar, NVME_REG_INTMS, 0x5);
    g_assert_cmphex(qpci_io_readl(t.dev, t.bar, NVME_REG_INTMS), ==, 0x5);
    qpci_io_writel(t.dev, t.bar, NVME_REG_INTMC, 0x1);
    g_assert_cmphex(qpci_io_readl(t.dev, t.bar, NVME_REG_INTMC), ==, 0x4);

    /* Normal shutdown notification completes. */
    qpci_io_writel(t.dev, t.bar, NVME_REG_CC, 1 << CC_SHN_SHIFT);
    g_assert_cmphex(NVME_CSTS_SHST(qpci_io_readl(t.dev, t.bar,
                                                 NVME_REG_CSTS)), ==, 2);
    nvme_accel_stop(&t);
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
                     "-drive id=d0,if=none,file=null-co://,format=raw");
    expect_add_error(qts, "'serial': 'x'", "drive property not set");
    expect_add_error(qts, "'drive': 'd0'", "serial property not set");
    expect_add_error(qts, "'drive': 'd0', 'serial': 'x', "
                     "'max-queue-entries': 1",
                     "max-queue-entries must be between 2 and 65536");
    expect_add_error(qts, "'drive': 'd0', 'serial': 'x', 'max-ioqpairs': 0",
                     "max-ioqpairs must be between 1 and 128");
    /* The device still works after all that. */
    qtest_qmp_device_add(qts, "nvme-accel", "ok0",
                         "{'drive': 'd0', 'serial': 'ok'}");
    qtest_quit(qts);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    qtest_add_func("/nvme-accel/pci-identity", test_pci_identity);
    qtest_add_func("/nvme-accel/reset-values", test_reset_values);
    qtest_add_func("/nvme-accel/properties-reach-cap",
                   test_properties_reach_cap);
    qtest_add_func("/nvme-accel/admin-regs-and-shutdown",
                   test_admin_regs_and_shutdown);
    qtest_add_func("/nvme-accel/bad-params", test_bad_params);

    return g_test_run();
}
