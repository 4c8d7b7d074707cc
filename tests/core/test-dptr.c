// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests: PRP and SGL walks, every status a guest can provoke. */
#include <glib.h>
#include "fake-mem.h"

#define RAM_BASE	0x100000ULL
#define RAM_SIZE	(8u << 20)
#define PG		4096ULL
#define SG_MAX		64
#define DNR(sc)		((sc) | NAC_DNR)

static struct fake_mem fm;
static struct nac_ctrl ctrl = { .page_shift = 12, .sgl = true };
static struct nac_sg sg[SG_MAX];
static uint32_t nsg;

static void setup(void)
{
	fake_mem_init(&fm, RAM_BASE, RAM_SIZE);
	memset(sg, 0xa5, sizeof(sg));
	nsg = 0xdead;
}

static void teardown(void)
{
	fake_mem_destroy(&fm);
}

static uint64_t pg(unsigned n)
{
	return RAM_BASE + n * PG;
}

static uint16_t prp(uint64_t p1, uint64_t p2, uint64_t len)
{
	return nac_map_prp(&ctrl, &fm.mem, p1, p2, len, true, sg, SG_MAX, &nsg);
}

static void assert_sg(unsigned i, uint64_t addr, uint32_t len)
{
	g_assert_cmpuint(i, <, nsg);
	g_assert_cmphex(sg[i].addr, ==, addr);
	g_assert_cmpuint(sg[i].len, ==, len);
}

static void test_prp_single(void)
{
	setup();
	g_assert_cmphex(prp(pg(1) + 0x200, 0, 512), ==, 0);
	g_assert_cmpuint(nsg, ==, 1);
	assert_sg(0, pg(1) + 0x200, 512);
	/* Zero length maps nothing and reads nothing. */
	g_assert_cmphex(prp(0, 0, 0), ==, 0);
	g_assert_cmpuint(nsg, ==, 0);
	/* PRP1 must be dword aligned. */
	g_assert_cmphex(prp(pg(1) + 2, 0, 512), ==,
			DNR(NAC_SC_PRP_INVALID_OFFSET));
	teardown();
}

static void test_prp_two_pages(void)
{
	setup();
	/* PRP1 with offset, PRP2 a second page: 4 KiB straddling. */
	g_assert_cmphex(prp(pg(1) + 0x800, pg(7), 4096), ==, 0);
	g_assert_cmpuint(nsg, ==, 2);
	assert_sg(0, pg(1) + 0x800, 0x800);
	assert_sg(1, pg(7), 0x800);
	/* Contiguous pages merge into one segment. */
	g_assert_cmphex(prp(pg(1), pg(2), 8192), ==, 0);
	g_assert_cmpuint(nsg, ==, 1);
	assert_sg(0, pg(1), 8192);
	/* PRP2 as a data pointer may not have an offset. */
	g_assert_cmphex(prp(pg(1), pg(2) + 8, 8192), ==,
			DNR(NAC_SC_PRP_INVALID_OFFSET));
	teardown();
}

static void put_list(uint64_t at, const uint64_t *ent, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		fake_mem_put64(&fm, at + i * 8, ent[i]);
}

static void test_prp_list(void)
{
	uint64_t ent[] = { pg(20), pg(40), pg(41) };

	setup();
	put_list(pg(10), ent, 3);
	g_assert_cmphex(prp(pg(1), pg(10), 4 * PG), ==, 0);
	g_assert_cmpuint(nsg, ==, 3);
	assert_sg(0, pg(1), PG);
	assert_sg(1, pg(20), PG);
	assert_sg(2, pg(40), 2 * PG);
	/* Partial last page. */
	g_assert_cmphex(prp(pg(1) + 0x100, pg(10), 3 * PG), ==, 0);
	assert_sg(2, pg(40), PG + 0x100);	/* pg(40) and pg(41) merge */
	/* List pointer qword aligned, may have an offset. */
	put_list(pg(11) + 0x18, ent, 3);
	g_assert_cmphex(prp(pg(1), pg(11) + 0x18, 4 * PG), ==, 0);
	assert_sg(2, pg(40), 2 * PG);
	g_assert_cmphex(prp(pg(1), pg(11) + 0x1c, 4 * PG), ==,
			DNR(NAC_SC_PRP_INVALID_OFFSET));
	/* An entry with an offset. */
	ent[1] = pg(40) + 0x200;
	put_list(pg(10), ent, 3);
	g_assert_cmphex(prp(pg(1), pg(10), 4 * PG), ==,
			DNR(NAC_SC_PRP_INVALID_OFFSET));
	teardown();
}

static void test_prp_list_chain(void)
{
	uint64_t list1 = pg(10) + PG - 16, list2 = pg(12);
	uint64_t ent1[] = { pg(30), list2 };
	uint64_t ent2[] = { pg(50), pg(52), pg(54) };

	setup();
	/* First list page holds one data entry and the chain pointer. */
	put_list(list1, ent1, 2);
	put_list(list2, ent2, 3);
	g_assert_cmphex(prp(pg(1), list1, 5 * PG), ==, 0);
	g_assert_cmpuint(nsg, ==, 5);
	assert_sg(1, pg(30), PG);
	assert_sg(2, pg(50), PG);
	assert_sg(4, pg(54), PG);
	/* A chain pointer is a list entry: offset 0 only. */
	ent1[1] = list2 + 8;
	put_list(list1, ent1, 2);
	g_assert_cmphex(prp(pg(1), list1, 5 * PG), ==,
			DNR(NAC_SC_PRP_INVALID_OFFSET));
	/* A chain into unbacked memory. */
	ent1[1] = RAM_BASE + RAM_SIZE;
	put_list(list1, ent1, 2);
	g_assert_cmphex(prp(pg(1), list1, 5 * PG), ==,
			DNR(NAC_SC_DATA_TRANSFER_ERROR));
	teardown();
}

static void test_prp_full_list_page(void)
{
	/* 512 entries fill a list page exactly: no chain needed. */
	uint64_t list = pg(100);

	setup();
	for (unsigned i = 0; i < 512; i++)
		fake_mem_put64(&fm, list + i * 8, pg(200 + 2 * i));
	g_assert_cmphex(nac_map_prp(&ctrl, &fm.mem, pg(1), list, 513 * PG, false,
				    (struct nac_sg[1024]){ 0 }, 1024, &nsg), ==, 0);
	g_assert_cmpuint(nsg, ==, 513);
	/* Caller storage too small: refused, never overrun. */
	g_assert_cmphex(prp(pg(1), list, 513 * PG), ==,
			DNR(NAC_SC_INVALID_FIELD));
	g_assert_cmpuint(nsg, ==, SG_MAX);
	teardown();
}

static void test_prp_unbacked(void)
{
	uint64_t ent[] = { pg(20), RAM_BASE + RAM_SIZE + PG };

	setup();
	/* Data page outside guest RAM: Data Transfer Error via translate. */
	g_assert_cmphex(prp(RAM_BASE + RAM_SIZE, 0, 512), ==,
			DNR(NAC_SC_DATA_TRANSFER_ERROR));
	g_assert_cmphex(prp(pg(1), 0xfff0000000000000ULL, 2 * PG), ==,
			DNR(NAC_SC_DATA_TRANSFER_ERROR));
	put_list(pg(10), ent, 2);
	g_assert_cmphex(prp(pg(1), pg(10), 3 * PG), ==,
			DNR(NAC_SC_DATA_TRANSFER_ERROR));
	/* PRP list itself outside RAM. */
	g_assert_cmphex(prp(pg(1), 0x10, 3 * PG), ==,
			DNR(NAC_SC_DATA_TRANSFER_ERROR));
	/* A segment that wraps the address space. */
	g_assert_cmphex(prp(0xfffffffffffff000ULL, 0, 8192), !=, 0);
	teardown();
}

static void test_prp_large_pages(void)
{
	struct nac_ctrl big = { .page_shift = 16 };
	uint64_t ent[] = { RAM_BASE + 0x30000, RAM_BASE + 0x50000 };

	setup();
	put_list(RAM_BASE + 0x10000, ent, 2);
	g_assert_cmphex(nac_map_prp(&big, &fm.mem, RAM_BASE + 0x8000,
				    RAM_BASE + 0x10000, 0x8000 + 0x20000, true,
				    sg, SG_MAX, &nsg), ==, 0);
	g_assert_cmpuint(nsg, ==, 3);
	assert_sg(0, RAM_BASE + 0x8000, 0x8000);
	assert_sg(1, RAM_BASE + 0x30000, 0x10000);
	/* 0x1000 is an offset when pages are 64 KiB. */
	ent[0] += 0x1000;
	put_list(RAM_BASE + 0x10000, ent, 2);
	g_assert_cmphex(nac_map_prp(&big, &fm.mem, RAM_BASE + 0x8000,
				    RAM_BASE + 0x10000, 0x8000 + 0x20000, true,
				    sg, SG_MAX, &nsg), ==,
			DNR(NAC_SC_PRP_INVALID_OFFSET));
	teardown();
}

/* --- SGL --- */

static struct nac_sgl_desc desc(uint64_t addr, uint32_t len, uint8_t type)
{
	struct nac_sgl_desc d = {
		.addr = nac_cpu_to_le64(addr),
		.len = nac_cpu_to_le32(len),
		.type = type,
	};
	return d;
}

#define DATA(a, l)	desc(a, l, NAC_SGL_TYPE_DATA_BLOCK << 4)
#define SEG(a, n)	desc(a, (n) * 16, NAC_SGL_TYPE_SEGMENT << 4)
#define LAST(a, n)	desc(a, (n) * 16, NAC_SGL_TYPE_LAST_SEGMENT << 4)

static void put_descs(uint64_t at, const struct nac_sgl_desc *d, unsigned n)
{
	memcpy(fake_mem_ptr(&fm, at), d, n * sizeof(*d));
}

static uint16_t sgl(struct nac_sgl_desc d, uint64_t len)
{
	return nac_map_sgl(&ctrl, &fm.mem, &d, len, false, sg, SG_MAX, &nsg);
}

static void test_sgl_data_block(void)
{
	setup();
	g_assert_cmphex(sgl(DATA(pg(1) + 3, 1000), 1000), ==, 0);
	g_assert_cmpuint(nsg, ==, 1);
	assert_sg(0, pg(1) + 3, 1000);
	/* Too short and too long (SGLS bit 16 clear) both fail. */
	g_assert_cmphex(sgl(DATA(pg(1), 1000), 1024), ==,
			DNR(NAC_SC_SGL_INVALID_DATA_LEN));
	g_assert_cmphex(sgl(DATA(pg(1), 2048), 1024), ==,
			DNR(NAC_SC_SGL_INVALID_DATA_LEN));
	/* Sub type other than address. */
	g_assert_cmphex(sgl(desc(pg(1), 1024, 0x01), 1024), ==,
			DNR(NAC_SC_SGL_INVALID_TYPE));
	/* Bit bucket, keyed data block, reserved types. */
	g_assert_cmphex(sgl(desc(pg(1), 1024, 0x10), 1024), ==,
			DNR(NAC_SC_SGL_INVALID_TYPE));
	g_assert_cmphex(sgl(desc(pg(1), 1024, 0x40), 1024), ==,
			DNR(NAC_SC_SGL_INVALID_TYPE));
	g_assert_cmphex(sgl(desc(pg(1), 1024, 0xf0), 1024), ==,
			DNR(NAC_SC_SGL_INVALID_TYPE));
	/* Outside guest memory. */
	g_assert_cmphex(sgl(DATA(RAM_BASE - 512, 1024), 1024), ==,
			DNR(NAC_SC_DATA_TRANSFER_ERROR));
	teardown();
}

static void test_sgl_segments(void)
{
	struct nac_sgl_desc s1[] = {
		DATA(pg(20), 512), DATA(pg(20) + 512, 512), SEG(pg(11), 2),
	};
	struct nac_sgl_desc s2[] = { DATA(pg(30), 1024), LAST(pg(12), 1) };
	struct nac_sgl_desc s3[] = { DATA(pg(40), 2048) };

	setup();
	put_descs(pg(10), s1, 3);
	put_descs(pg(11), s2, 2);
	put_descs(pg(12), s3, 1);
	g_assert_cmphex(sgl(SEG(pg(10), 3), 4096), ==, 0);
	g_assert_cmpuint(nsg, ==, 3);
	assert_sg(0, pg(20), 1024);	/* merged */
	assert_sg(1, pg(30), 1024);
	assert_sg(2, pg(40), 2048);
	/* Last Segment straight from the SQE. */
	g_assert_cmphex(sgl(LAST(pg(12), 1), 2048), ==, 0);
	assert_sg(0, pg(40), 2048);
	/* Segment length not a multiple of 16, or zero. */
	g_assert_cmphex(sgl(desc(pg(12), 24, 0x30), 2048), ==,
			DNR(NAC_SC_SGL_INVALID_SEGMENT));
	g_assert_cmphex(sgl(LAST(pg(12), 0), 2048), ==,
			DNR(NAC_SC_SGL_INVALID_SEGMENT));
	/* Segment descriptor with a non-address sub type. */
	g_assert_cmphex(sgl(desc(pg(12), 16, 0x31), 2048), ==,
			DNR(NAC_SC_SGL_INVALID_TYPE));
	/* Segment in unbacked memory. */
	g_assert_cmphex(sgl(LAST(RAM_BASE + RAM_SIZE, 1), 2048), ==,
			DNR(NAC_SC_DATA_TRANSFER_ERROR));
	teardown();
}

static void test_sgl_bad_lists(void)
{
	struct nac_sgl_desc mid[] = {
		DATA(pg(20), 512), LAST(pg(12), 1), DATA(pg(21), 512),
	};
	struct nac_sgl_desc in_last[] = { DATA(pg(20), 512), SEG(pg(12), 1) };
	struct nac_sgl_desc loop[] = { DATA(pg(20), 16), SEG(pg(13), 2) };
	struct nac_sgl_desc bucket[] = { desc(0, 512, 0x10) };
	struct nac_sgl_desc extra[] = { DATA(pg(20), 512), LAST(pg(12), 1) };
	struct nac_sgl_desc data[] = { DATA(pg(40), 512) };

	setup();
	put_descs(pg(12), data, 1);
	/* A segment descriptor that is not the last one of its segment. */
	put_descs(pg(10), mid, 3);
	g_assert_cmphex(sgl(SEG(pg(10), 3), 1536), ==,
			DNR(NAC_SC_SGL_INVALID_COUNT));
	/* The last segment may not point further. */
	put_descs(pg(11), in_last, 2);
	g_assert_cmphex(sgl(LAST(pg(11), 2), 1024), ==,
			DNR(NAC_SC_SGL_INVALID_SEGMENT));
	/* A segment that points to itself ends, as too many descriptors. */
	put_descs(pg(13), loop, 2);
	g_assert_cmphex(sgl(SEG(pg(13), 2), 1ULL << 30), ==,
			DNR(NAC_SC_SGL_INVALID_COUNT));
	/* Bit buckets are not supported (SGLS bit 16 and 17 clear). */
	put_descs(pg(14), bucket, 1);
	g_assert_cmphex(sgl(LAST(pg(14), 1), 512), ==,
			DNR(NAC_SC_SGL_INVALID_TYPE));
	/* The data is complete, yet the list goes on. */
	put_descs(pg(15), extra, 2);
	g_assert_cmphex(sgl(SEG(pg(15), 2), 512), ==,
			DNR(NAC_SC_SGL_INVALID_DATA_LEN));
	teardown();
}

static void test_sgl_too_many_segments(void)
{
	struct nac_sgl_desc many[SG_MAX + 1];

	setup();
	/* More discontiguous blocks than the caller can hold: still valid. */
	for (unsigned i = 0; i <= SG_MAX; i++)
		many[i] = DATA(pg(100 + 2 * i), 512);
	put_descs(pg(10), many, SG_MAX + 1);
	g_assert_cmphex(sgl(LAST(pg(10), SG_MAX + 1), 512 * (SG_MAX + 1)), ==,
			NAC_SG_FULL);
	g_assert_cmpuint(nsg, ==, SG_MAX);
	/* Past the full list, the rest is still checked, translate too. */
	many[SG_MAX] = desc(pg(300), 512, 0x10);
	put_descs(pg(10), many, SG_MAX + 1);
	g_assert_cmphex(sgl(LAST(pg(10), SG_MAX + 1), 512 * (SG_MAX + 1)), ==,
			DNR(NAC_SC_SGL_INVALID_TYPE));
	many[SG_MAX] = DATA(RAM_BASE + RAM_SIZE, 512);
	put_descs(pg(10), many, SG_MAX + 1);
	g_assert_cmphex(sgl(LAST(pg(10), SG_MAX + 1), 512 * (SG_MAX + 1)), ==,
			DNR(NAC_SC_DATA_TRANSFER_ERROR));
	/* And so are the blocks that made it into the list. */
	many[SG_MAX] = DATA(pg(300), 512);
	many[0] = DATA(RAM_BASE + RAM_SIZE, 512);
	put_descs(pg(10), many, SG_MAX + 1);
	g_assert_cmphex(sgl(LAST(pg(10), SG_MAX + 1), 512 * (SG_MAX + 1)), ==,
			DNR(NAC_SC_DATA_TRANSFER_ERROR));
	teardown();
}

/* A request whose SGL does not fit its scatter list is streamed. */
static void test_sgl_streamed(void)
{
	enum { N = 3 * SG_MAX };
	static struct nac_sgl_desc many[N];
	static struct nac_sg big[N];
	struct nac_req req = { .sg = sg, .sg_max = SG_MAX, .len = N * 16 };
	struct nac_sgl_desc first = SEG(pg(10), N / 2);
	struct nac_sqe sqe = {
		.flags = NAC_PSDT_SGL_MPTR_CONTIG << NAC_SQE_PSDT_SHIFT,
	};
	uint8_t in[N * 16], out[N * 16];

	setup();
	/* 16 bytes here, 16 bytes there, over two segments. */
	for (unsigned i = 0; i < N; i++)
		many[i] = DATA(pg(100) + 32 * i, 16);
	put_descs(pg(10), many, N / 2 - 1);
	many[N / 2 - 1] = LAST(pg(20), N - (N / 2 - 1));
	put_descs(pg(10) + 16 * (N / 2 - 1), &many[N / 2 - 1], 1);
	many[N / 2 - 1] = DATA(pg(100) + 32 * (N / 2 - 1), 16);
	put_descs(pg(20), &many[N / 2 - 1], N - (N / 2 - 1));
	memcpy(&sqe.dptr1, &first, sizeof(first));
	for (unsigned i = 0; i < sizeof(in); i++)
		in[i] = i * 13;

	g_assert_cmphex(nac_map_req(&ctrl, &fm.mem, &sqe, true, &req), ==, 0);
	g_assert_true(req.streamed);
	g_assert_cmpuint(req.nsg, ==, 0);
	g_assert_cmpint(nac_req_write(&fm.mem, &req, in), ==, 0);
	for (unsigned i = 0; i < N; i++)
		g_assert_cmpmem(fake_mem_ptr(&fm, pg(100) + 32 * i), 16,
				in + 16 * i, 16);
	g_assert_cmpint(nac_req_read(&fm.mem, &req, out), ==, 0);
	g_assert_cmpmem(in, sizeof(in), out, sizeof(out));

	/* The guest breaks its list after the command was accepted. */
	many[0] = DATA(RAM_BASE + RAM_SIZE, 16);
	put_descs(pg(10), many, 1);
	g_assert_cmpint(nac_req_read(&fm.mem, &req, out), ==, -EFAULT);
	many[0] = DATA(pg(100), 32);
	put_descs(pg(10), many, 1);
	g_assert_cmpint(nac_req_write(&fm.mem, &req, in), ==, -EFAULT);

	/* A list that fits is mapped, not streamed. */
	req.sg = big;
	req.sg_max = N;
	many[0] = DATA(pg(100), 16);
	put_descs(pg(10), many, 1);
	g_assert_cmphex(nac_map_req(&ctrl, &fm.mem, &sqe, true, &req), ==, 0);
	g_assert_false(req.streamed);
	g_assert_cmpuint(req.nsg, ==, N);
	teardown();
}

/* More than NAC_SGL_MAX_DESC descriptors are refused, streamed or not. */
static void test_sgl_desc_limit(void)
{
	static struct nac_sgl_desc many[NAC_SGL_MAX_DESC + 1];
	struct nac_req req = { .sg = sg, .sg_max = SG_MAX };
	struct nac_sgl_desc first;
	struct nac_sqe sqe = {
		.flags = NAC_PSDT_SGL_MPTR_CONTIG << NAC_SQE_PSDT_SHIFT,
	};

	setup();
	for (unsigned i = 0; i <= NAC_SGL_MAX_DESC; i++)
		many[i] = DATA(pg(100) + 32 * i, 16);
	put_descs(pg(10), many, NAC_SGL_MAX_DESC + 1);
	first = LAST(pg(10), NAC_SGL_MAX_DESC);
	memcpy(&sqe.dptr1, &first, sizeof(first));
	req.len = NAC_SGL_MAX_DESC * 16;
	g_assert_cmphex(nac_map_req(&ctrl, &fm.mem, &sqe, false, &req), ==, 0);
	g_assert_true(req.streamed);
	first = LAST(pg(10), NAC_SGL_MAX_DESC + 1);
	memcpy(&sqe.dptr1, &first, sizeof(first));
	req.len += 16;
	g_assert_cmphex(nac_map_req(&ctrl, &fm.mem, &sqe, false, &req), ==,
			DNR(NAC_SC_SGL_INVALID_COUNT));
	teardown();
}

static void test_dptr_psdt(void)
{
	struct nac_sqe sqe = { 0 };
	struct nac_ctrl nosgl = { .page_shift = 12 };
	struct nac_sgl_desc d = DATA(pg(3), 512);

	setup();
	sqe.dptr1 = nac_cpu_to_le64(pg(2));
	g_assert_cmphex(nac_map_dptr(&ctrl, &fm.mem, &sqe, 512, true, sg,
				     SG_MAX, &nsg), ==, 0);
	assert_sg(0, pg(2), 512);
	memcpy(&sqe.dptr1, &d, sizeof(d));
	sqe.flags = NAC_PSDT_SGL_MPTR_CONTIG << NAC_SQE_PSDT_SHIFT;
	g_assert_cmphex(nac_map_dptr(&ctrl, &fm.mem, &sqe, 512, true, sg,
				     SG_MAX, &nsg), ==, 0);
	assert_sg(0, pg(3), 512);
	sqe.flags = NAC_PSDT_SGL_MPTR_SGL << NAC_SQE_PSDT_SHIFT;
	g_assert_cmphex(nac_map_dptr(&ctrl, &fm.mem, &sqe, 512, true, sg,
				     SG_MAX, &nsg), ==, 0);
	/* SGLs not advertised; PSDT 11b reserved. */
	g_assert_cmphex(nac_map_dptr(&nosgl, &fm.mem, &sqe, 512, true, sg,
				     SG_MAX, &nsg), ==, DNR(NAC_SC_INVALID_FIELD));
	sqe.flags = 3 << NAC_SQE_PSDT_SHIFT;
	g_assert_cmphex(nac_map_dptr(&ctrl, &fm.mem, &sqe, 512, true, sg,
				     SG_MAX, &nsg), ==, DNR(NAC_SC_INVALID_FIELD));
	teardown();
}

static void test_sg_copy(void)
{
	struct nac_sg two[] = { { pg(1) + 10, 6 }, { pg(5), 10 } };
	uint8_t in[16], out[16];

	setup();
	for (unsigned i = 0; i < sizeof(in); i++)
		in[i] = i * 7;
	g_assert_cmpint(nac_sg_write(&fm.mem, two, 2, in, 16), ==, 0);
	g_assert_cmpint(nac_sg_read(&fm.mem, two, 2, out, 16), ==, 0);
	g_assert_cmpmem(in, 16, out, 16);
	g_assert_cmpint(*(uint8_t *)fake_mem_ptr(&fm, pg(5)), ==, in[6]);
	/* Asking for more than the list holds. */
	g_assert_cmpint(nac_sg_read(&fm.mem, two, 2, out, 17), ==, -EINVAL);
	two[1].addr = RAM_BASE + RAM_SIZE;
	g_assert_cmpint(nac_sg_read(&fm.mem, two, 2, out, 16), ==, -EFAULT);
	teardown();
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/dptr/prp-single", test_prp_single);
	g_test_add_func("/dptr/prp-two-pages", test_prp_two_pages);
	g_test_add_func("/dptr/prp-list", test_prp_list);
	g_test_add_func("/dptr/prp-list-chain", test_prp_list_chain);
	g_test_add_func("/dptr/prp-full-list-page", test_prp_full_list_page);
	g_test_add_func("/dptr/prp-unbacked", test_prp_unbacked);
	g_test_add_func("/dptr/prp-large-pages", test_prp_large_pages);
	g_test_add_func("/dptr/sgl-data-block", test_sgl_data_block);
	g_test_add_func("/dptr/sgl-segments", test_sgl_segments);
	g_test_add_func("/dptr/sgl-bad-lists", test_sgl_bad_lists);
	g_test_add_func("/dptr/sgl-too-many-segments",
			test_sgl_too_many_segments);
	g_test_add_func("/dptr/sgl-streamed", test_sgl_streamed);
	g_test_add_func("/dptr/sgl-desc-limit", test_sgl_desc_limit);
	g_test_add_func("/dptr/psdt", test_dptr_psdt);
	g_test_add_func("/dptr/sg-copy", test_sg_copy);
	return g_test_run();
}
