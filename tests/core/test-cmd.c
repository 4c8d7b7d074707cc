// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests: I/O command decode and its validation statuses. */
#include <glib.h>
#include "fake-mem.h"

#define RAM_BASE	0x100000ULL
#define RAM_SIZE	(1u << 20)
#define PG		4096ULL
#define DNR(sc)		((sc) | NAC_DNR)

static struct fake_mem fm;
static struct nac_ctrl ctrl = { .page_shift = 12, .sgl = true,
				.max_xfer = 128 * 1024 };
static struct nac_ns ns = { .nsze = 1000, .nsid = 1, .lba_shift = 9 };
static struct nac_sg sg[40];
static struct nac_dsm_range ranges[NAC_DSM_MAX_RANGES];
static struct nac_req req = { .sg = sg, .sg_max = 40, .ranges = ranges };

static void setup(void)
{
	fake_mem_init(&fm, RAM_BASE, RAM_SIZE);
	ns.read_only = false;
}

static void teardown(void)
{
	fake_mem_destroy(&fm);
}

static struct nac_sqe rw(uint8_t opc, uint64_t slba, uint32_t nlb0,
			 uint32_t cdw12_flags)
{
	struct nac_sqe s = {
		.opcode = opc,
		.cid = nac_cpu_to_le16(0x1234),
		.nsid = nac_cpu_to_le32(1),
		.dptr1 = nac_cpu_to_le64(RAM_BASE + PG),
		.dptr2 = nac_cpu_to_le64(RAM_BASE + 2 * PG),
		.cdw10 = nac_cpu_to_le32((uint32_t)slba),
		.cdw11 = nac_cpu_to_le32(slba >> 32),
		.cdw12 = nac_cpu_to_le32(nlb0 | cdw12_flags),
	};
	return s;
}

static uint16_t decode(const struct nac_sqe *s)
{
	return nac_cmd_decode(&ctrl, &ns, &fm.mem, s, &req);
}

static void test_read_write_compare(void)
{
	struct nac_sqe s;

	setup();
	s = rw(NAC_CMD_READ, 10, 7, 0);
	g_assert_cmphex(decode(&s), ==, 0);
	g_assert_cmpint(req.op, ==, NAC_OP_READ);
	g_assert_cmpuint(req.slba, ==, 10);
	g_assert_cmpuint(req.nlb, ==, 8);
	g_assert_cmpuint(req.len, ==, 4096);
	g_assert_cmphex(req.cid, ==, nac_cpu_to_le16(0x1234));
	g_assert_false(req.fua);
	g_assert_cmpuint(req.nsg, ==, 1);
	g_assert_cmphex(req.sg[0].addr, ==, RAM_BASE + PG);

	s = rw(NAC_CMD_WRITE, 0x10, 15, NAC_RW_FUA);
	g_assert_cmphex(decode(&s), ==, 0);
	g_assert_cmpint(req.op, ==, NAC_OP_WRITE);
	g_assert_true(req.fua);
	g_assert_cmpuint(req.nsg, ==, 1);
	g_assert_cmpuint(req.sg[0].len, ==, 8192);

	s = rw(NAC_CMD_COMPARE, 1, 0, 0);
	g_assert_cmphex(decode(&s), ==, 0);
	g_assert_cmpint(req.op, ==, NAC_OP_COMPARE);
	g_assert_cmpuint(req.len, ==, 512);
	teardown();
}

static void test_lba_range(void)
{
	struct nac_sqe s;

	setup();
	s = rw(NAC_CMD_READ, 992, 7, 0);		/* last 8 blocks */
	g_assert_cmphex(decode(&s), ==, 0);
	s = rw(NAC_CMD_READ, 993, 7, 0);
	g_assert_cmphex(decode(&s), ==, DNR(NAC_SC_LBA_RANGE));
	s = rw(NAC_CMD_WRITE, 1000, 0, 0);
	g_assert_cmphex(decode(&s), ==, DNR(NAC_SC_LBA_RANGE));
	/* slba + nlb wrapping 64 bits must not look small. */
	s = rw(NAC_CMD_READ, UINT64_MAX, 1, 0);
	g_assert_cmphex(decode(&s), ==, DNR(NAC_SC_LBA_RANGE));
	s = rw(NAC_CMD_WRITE_ZEROES, UINT64_MAX - 1, 0xffff, 0);
	g_assert_cmphex(decode(&s), ==, DNR(NAC_SC_LBA_RANGE));
	teardown();
}

static void test_mdts(void)
{
	struct nac_sqe s;

	setup();
	s = rw(NAC_CMD_READ, 0, 255, 0);		/* 128 KiB = MDTS */
	s.dptr2 = nac_cpu_to_le64(RAM_BASE + 0x80000);
	for (unsigned i = 0; i < 31; i++)
		fake_mem_put64(&fm, RAM_BASE + 0x80000 + i * 8,
			       RAM_BASE + (3 + i) * PG);
	g_assert_cmphex(decode(&s), ==, 0);
	s = rw(NAC_CMD_READ, 0, 256, 0);
	g_assert_cmphex(decode(&s), ==, DNR(NAC_SC_INVALID_FIELD));
	/* Write Zeroes moves no data: MDTS does not apply. */
	s = rw(NAC_CMD_WRITE_ZEROES, 0, 999, 0);
	g_assert_cmphex(decode(&s), ==, 0);
	teardown();
}

static void test_namespace_checks(void)
{
	struct nac_sqe s;

	setup();
	s = rw(NAC_CMD_READ, 0, 0, 0);
	s.nsid = nac_cpu_to_le32(2);
	g_assert_cmphex(decode(&s), ==, DNR(NAC_SC_INVALID_NS));
	s.nsid = 0;
	g_assert_cmphex(decode(&s), ==, DNR(NAC_SC_INVALID_NS));
	s.nsid = nac_cpu_to_le32(0xffffffff);
	g_assert_cmphex(decode(&s), ==, DNR(NAC_SC_INVALID_NS));

	s = rw(NAC_CMD_FLUSH, 0, 0, 0);
	g_assert_cmphex(decode(&s), ==, 0);
	g_assert_cmpint(req.op, ==, NAC_OP_FLUSH);
	s.nsid = nac_cpu_to_le32(0xffffffff);
	g_assert_cmphex(decode(&s), ==, 0);
	s.nsid = 0;
	g_assert_cmphex(decode(&s), ==, DNR(NAC_SC_INVALID_NS));
	teardown();
}

static void test_read_only(void)
{
	struct nac_sqe s;

	setup();
	ns.read_only = true;
	s = rw(NAC_CMD_WRITE, 0, 0, 0);
	g_assert_cmphex(decode(&s), ==, DNR(NAC_SC_NS_WRITE_PROTECTED));
	s = rw(NAC_CMD_WRITE_ZEROES, 0, 0, 0);
	g_assert_cmphex(decode(&s), ==, DNR(NAC_SC_NS_WRITE_PROTECTED));
	s = rw(NAC_CMD_DSM, 0, 0, 0);
	s.cdw10 = 0;
	s.cdw11 = nac_cpu_to_le32(NAC_DSM_AD);
	g_assert_cmphex(decode(&s), ==, DNR(NAC_SC_NS_WRITE_PROTECTED));
	/* Reads, compares and flushes still work. */
	s = rw(NAC_CMD_READ, 0, 0, 0);
	g_assert_cmphex(decode(&s), ==, 0);
	s = rw(NAC_CMD_COMPARE, 0, 0, 0);
	g_assert_cmphex(decode(&s), ==, 0);
	s = rw(NAC_CMD_FLUSH, 0, 0, 0);
	g_assert_cmphex(decode(&s), ==, 0);
	teardown();
}

static void test_write_zeroes(void)
{
	struct nac_sqe s;

	setup();
	s = rw(NAC_CMD_WRITE_ZEROES, 100, 99, NAC_WZ_DEAC | NAC_RW_FUA);
	g_assert_cmphex(decode(&s), ==, 0);
	g_assert_cmpint(req.op, ==, NAC_OP_WRITE_ZEROES);
	g_assert_cmpuint(req.slba, ==, 100);
	g_assert_cmpuint(req.nlb, ==, 100);
	g_assert_true(req.deallocate);
	g_assert_true(req.fua);
	g_assert_cmpuint(req.nsg, ==, 0);
	teardown();
}

static void put_range(unsigned i, uint64_t slba, uint32_t nlb)
{
	uint64_t at = RAM_BASE + PG + i * 16;

	fake_mem_put32(&fm, at, 0);
	fake_mem_put32(&fm, at + 4, nlb);
	fake_mem_put64(&fm, at + 8, slba);
}

static void test_dsm(void)
{
	struct nac_sqe s = {
		.opcode = NAC_CMD_DSM,
		.nsid = nac_cpu_to_le32(1),
		.dptr1 = nac_cpu_to_le64(RAM_BASE + PG),
		.cdw10 = nac_cpu_to_le32(2),		/* 3 ranges */
		.cdw11 = nac_cpu_to_le32(NAC_DSM_AD),
	};

	setup();
	put_range(0, 0, 8);
	put_range(1, 500, 500);
	put_range(2, 1000, 0);
	g_assert_cmphex(decode(&s), ==, 0);
	g_assert_cmpint(req.op, ==, NAC_OP_DISCARD);
	g_assert_cmpuint(req.nr_ranges, ==, 3);
	g_assert_cmpuint(req.ranges[1].slba, ==, 500);
	g_assert_cmpuint(req.ranges[1].nlb, ==, 500);
	put_range(1, 500, 501);
	g_assert_cmphex(decode(&s), ==, DNR(NAC_SC_LBA_RANGE));
	put_range(1, UINT64_MAX, 2);
	g_assert_cmphex(decode(&s), ==, DNR(NAC_SC_LBA_RANGE));
	/* Range list in unbacked memory. */
	s.dptr1 = nac_cpu_to_le64(RAM_BASE + RAM_SIZE - 16);
	g_assert_cmphex(decode(&s), ==, DNR(NAC_SC_DATA_TRANSFER_ERROR));
	/* 256 ranges spill over a page: PRP2 carries the rest. */
	s.dptr1 = nac_cpu_to_le64(RAM_BASE + PG + 0x800);
	s.dptr2 = nac_cpu_to_le64(RAM_BASE + 4 * PG);
	s.cdw10 = nac_cpu_to_le32(255);
	g_assert_cmphex(decode(&s), ==, 0);
	g_assert_cmpuint(req.nr_ranges, ==, 256);
	/* A caller without range storage gets an error, not a crash. */
	req.ranges = NULL;
	g_assert_cmphex(decode(&s), ==, NAC_SC_INTERNAL);
	req.ranges = ranges;
	/* Without AD, DSM is a hint: nothing to do. */
	s.cdw11 = nac_cpu_to_le32(1);	/* IDR */
	g_assert_cmphex(decode(&s), ==, 0);
	g_assert_cmpint(req.op, ==, NAC_OP_NOP);
	teardown();
}

static void test_bad_commands(void)
{
	struct nac_sqe s;
	static const uint8_t bad_opcodes[] = { 0x03, 0x04, 0x0c, 0x0d, 0x11,
					       0x15, 0x7f, 0x80, 0xff };

	setup();
	for (unsigned i = 0; i < sizeof(bad_opcodes); i++) {
		s = rw(bad_opcodes[i], 0, 0, 0);
		g_assert_cmphex(decode(&s), ==, DNR(NAC_SC_INVALID_OPCODE));
	}
	/* Fused operations are not supported. */
	s = rw(NAC_CMD_READ, 0, 0, 0);
	s.flags = 1;
	g_assert_cmphex(decode(&s), ==, DNR(NAC_SC_INVALID_FIELD));
	s.flags = 2;
	g_assert_cmphex(decode(&s), ==, DNR(NAC_SC_INVALID_FIELD));
	/* A bad data pointer surfaces with its own status. */
	s = rw(NAC_CMD_WRITE, 0, 15, 0);
	s.dptr2 = nac_cpu_to_le64(RAM_BASE + 2 * PG + 4);
	g_assert_cmphex(decode(&s), ==, DNR(NAC_SC_PRP_INVALID_OFFSET));
	teardown();
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/cmd/read-write-compare", test_read_write_compare);
	g_test_add_func("/cmd/lba-range", test_lba_range);
	g_test_add_func("/cmd/mdts", test_mdts);
	g_test_add_func("/cmd/namespace-checks", test_namespace_checks);
	g_test_add_func("/cmd/read-only", test_read_only);
	g_test_add_func("/cmd/write-zeroes", test_write_zeroes);
	g_test_add_func("/cmd/dsm", test_dsm);
	g_test_add_func("/cmd/bad-commands", test_bad_commands);
	return g_test_run();
}
