// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Model-based test: a guest driver model submits random command streams,
 * with at most one planted fault per command, rings doorbells (sometimes
 * with bogus values) and reaps completions; the controller side runs the
 * core. For each command the generator knows, by construction, the status
 * the spec demands and the exact scatter list; every completion and every
 * decoded request is checked against that reference.
 */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include "fake-mem.h"

#define RAM_BASE	0x40000000ULL
#define RAM_PAGES	4096u
#define PG		4096ULL
#define SQ_BASE		(RAM_BASE + 0 * PG)	/* pages 0-15 */
#define CQ_BASE		(RAM_BASE + 16 * PG)	/* pages 16-17 */
#define LIST_FIRST	32u			/* list/segment pages 32-255 */
#define DATA_FIRST	256u
#define MAX_QD		64
#define NSZE		100000
#define MAX_SG		300

enum fault {
	F_NONE, F_OPCODE, F_NSID, F_LBA, F_MDTS, F_FUSE,
	F_PRP1_ALIGN, F_PRP2_OFFSET, F_LIST_ALIGN, F_ENTRY_OFFSET,
	F_DATA_UNBACKED, F_LIST_UNBACKED,
	F_SGL_TYPE, F_SGL_SUBTYPE, F_SGL_SHORT, F_SGL_LONG, F_SGL_SEGLEN,
	F_SGL_SEG_MIDDLE, F_SGL_UNBACKED,
	F_COUNT
};

struct expect {
	uint16_t cid;
	uint16_t status;
	enum nac_op op;
	uint64_t slba;
	uint32_t nlb;
	uint32_t nsg;
	struct nac_sg sg[MAX_SG];
};

static struct fake_mem fm;
static GRand *rnd;
static struct nac_ctrl ctrl = { .page_shift = 12, .sgl = true,
				.max_xfer = 512 * 1024 };
static struct nac_ns ns = { .nsze = NSZE, .nsid = 1, .lba_shift = 9 };
static unsigned next_list_page;

static uint32_t r(uint32_t n)
{
	return g_rand_int_range(rnd, 0, n);
}

static uint64_t list_page(void)
{
	uint64_t p = RAM_BASE + (LIST_FIRST + next_list_page) * PG;

	next_list_page = (next_list_page + 1) % (DATA_FIRST - LIST_FIRST);
	return p;
}

static uint64_t data_page(uint64_t prev)
{
	if (prev && r(3) == 0 && prev + PG < RAM_BASE + RAM_PAGES * PG)
		return prev + PG;
	return RAM_BASE + (DATA_FIRST + r(RAM_PAGES - DATA_FIRST)) * PG;
}

static void exp_add(struct expect *e, uint64_t addr, uint32_t len)
{
	if (e->nsg && e->sg[e->nsg - 1].addr + e->sg[e->nsg - 1].len == addr) {
		e->sg[e->nsg - 1].len += len;
		return;
	}
	g_assert_cmpuint(e->nsg, <, MAX_SG);
	e->sg[e->nsg].addr = addr;
	e->sg[e->nsg].len = len;
	e->nsg++;
}

/* Build a PRP data pointer for @len bytes; plant @f if it is a PRP fault. */
static enum fault build_prp(struct nac_sqe *s, uint64_t len, enum fault f,
			    struct expect *e)
{
	uint64_t off = r(2) ? 0 : r(1024) * 4;
	uint64_t prp1 = data_page(0) + off, first = PG - off, rem, prev, list;
	unsigned slots, i, n, bad = 0;

	if (first > len)
		first = len;
	rem = len - first;
	exp_add(e, prp1, first);
	if (f == F_PRP1_ALIGN) {
		prp1 |= 2;
		e->status = NAC_SC_PRP_INVALID_OFFSET;
	}
	s->dptr1 = nac_cpu_to_le64(prp1);
	if (!rem)
		return f == F_PRP1_ALIGN ? f : F_NONE;
	prev = prp1 & ~(PG - 1);
	if (rem <= PG) {
		uint64_t p2 = data_page(prev);

		exp_add(e, p2, rem);
		if (f == F_PRP2_OFFSET) {
			p2 += 0x200;
			e->status = NAC_SC_PRP_INVALID_OFFSET;
		} else if (f == F_DATA_UNBACKED) {
			p2 = RAM_BASE + RAM_PAGES * PG + r(100) * PG;
			e->status = NAC_SC_DATA_TRANSFER_ERROR;
		}
		s->dptr2 = nac_cpu_to_le64(p2);
		return (f == F_PRP2_OFFSET || f == F_DATA_UNBACKED ||
			f == F_PRP1_ALIGN) ? f : F_NONE;
	}
	/* A list, starting anywhere qword aligned in its page. */
	list = list_page() + (r(2) ? 0 : r(512) * 8);
	s->dptr2 = nac_cpu_to_le64(list);
	if (f == F_LIST_ALIGN) {
		s->dptr2 = nac_cpu_to_le64(list + 4);
		e->status = NAC_SC_PRP_INVALID_OFFSET;
	}
	if (f == F_LIST_UNBACKED) {
		s->dptr2 = nac_cpu_to_le64(RAM_BASE + RAM_PAGES * PG);
		e->status = NAC_SC_DATA_TRANSFER_ERROR;
	}
	n = (rem + PG - 1) / PG;
	bad = f == F_ENTRY_OFFSET || f == F_DATA_UNBACKED ? r(n) + 1 : 0;
	i = 0;
	while (n) {
		slots = (PG - (list & (PG - 1))) / 8;
		for (unsigned k = 0; k < slots && n; k++) {
			uint64_t ent;

			if (k == slots - 1 && n > 1) {
				uint64_t next = list_page();

				fake_mem_put64(&fm, list + k * 8, next);
				list = next;
				break;
			}
			ent = data_page(prev);
			prev = ent;
			exp_add(e, ent, rem < PG ? rem : PG);
			rem -= rem < PG ? rem : PG;
			n--;
			if (++i == bad) {
				if (f == F_ENTRY_OFFSET) {
					ent += 8;
					e->status = NAC_SC_PRP_INVALID_OFFSET;
				} else {
					ent = RAM_BASE + (RAM_PAGES + r(99)) * PG;
					e->status = NAC_SC_DATA_TRANSFER_ERROR;
				}
			}
			fake_mem_put64(&fm, list + k * 8, ent);
		}
	}
	switch (f) {
	case F_PRP1_ALIGN: case F_LIST_ALIGN: case F_LIST_UNBACKED:
	case F_ENTRY_OFFSET: case F_DATA_UNBACKED:
		return f;
	default:
		return F_NONE;
	}
}

static struct nac_sgl_desc sgl_desc(uint64_t addr, uint32_t len, uint8_t t)
{
	struct nac_sgl_desc d = { .addr = nac_cpu_to_le64(addr),
				  .len = nac_cpu_to_le32(len), .type = t };
	return d;
}

/* Build an SGL for @len bytes: 1-6 data blocks, in 0-2 segments. */
static enum fault build_sgl(struct nac_sqe *s, uint64_t len, enum fault f,
			    struct expect *e)
{
	struct nac_sgl_desc d[8], sgl1;
	unsigned k = 1 + r(6), i, split;
	uint64_t rem = len, seg1, seg2;
	bool planted = true;

	s->flags = NAC_PSDT_SGL_MPTR_CONTIG << NAC_SQE_PSDT_SHIFT;
	for (i = 0; i < k; i++) {
		uint64_t n = i == k - 1 ? rem : 1 + r(rem - (k - 1 - i));
		uint64_t a = data_page(0) + r(PG);

		if (n > rem - (k - 1 - i))
			n = rem - (k - 1 - i);
		if (!n) {
			k = i;
			break;
		}
		/* Blocks may cross pages; keep them inside RAM. */
		if (a + n > RAM_BASE + RAM_PAGES * PG)
			a = RAM_BASE + DATA_FIRST * PG;
		d[i] = sgl_desc(a, n, NAC_SGL_TYPE_DATA_BLOCK << 4);
		exp_add(e, a, n);
		rem -= n;
	}
	switch (f) {
	case F_SGL_TYPE:
		d[r(k)].type = (r(2) ? NAC_SGL_TYPE_BIT_BUCKET : 0x4 + r(12))
			       << 4;
		e->status = NAC_SC_SGL_INVALID_TYPE;
		break;
	case F_SGL_SUBTYPE:
		d[r(k)].type |= 1 + r(15);
		e->status = NAC_SC_SGL_INVALID_TYPE;
		break;
	case F_SGL_SHORT:
		d[k - 1].len = nac_cpu_to_le32(nac_le32(d[k - 1].len) - 1);
		e->status = NAC_SC_SGL_INVALID_DATA_LEN;
		if (!d[k - 1].len && k == 1)
			planted = false;
		break;
	case F_SGL_LONG:
		d[k - 1].len = nac_cpu_to_le32(nac_le32(d[k - 1].len) + 1);
		e->status = NAC_SC_SGL_INVALID_DATA_LEN;
		break;
	case F_SGL_UNBACKED:
		i = r(k);
		d[i].addr = nac_cpu_to_le64(RAM_BASE - PG);
		e->status = NAC_SC_DATA_TRANSFER_ERROR;
		break;
	default:
		planted = false;
	}
	if (k == 1 && r(2) && f != F_SGL_SEGLEN && f != F_SGL_SEG_MIDDLE) {
		sgl1 = d[0];
	} else if (k < 2 || r(2)) {
		seg1 = list_page();
		memcpy(fake_mem_ptr(&fm, seg1), d, k * 16);
		sgl1 = sgl_desc(seg1, k * 16, NAC_SGL_TYPE_LAST_SEGMENT << 4);
	} else {
		/* Segment: d[0..split) + pointer; Last Segment: the rest. */
		split = 1 + r(k - 1);
		seg1 = list_page();
		seg2 = list_page();
		memcpy(fake_mem_ptr(&fm, seg1), d, split * 16);
		memcpy(fake_mem_ptr(&fm, seg2), d + split, (k - split) * 16);
		sgl1 = sgl_desc(seg2, (k - split) * 16,
				NAC_SGL_TYPE_LAST_SEGMENT << 4);
		if (f == F_SGL_SEG_MIDDLE && split > 1) {
			/* The segment pointer before the last data block. */
			struct nac_sgl_desc *p = fake_mem_ptr(&fm, seg1);

			p[split - 1] = sgl1;
			memcpy(fake_mem_ptr(&fm, seg1 + split * 16), &d[split - 1],
			       16);
			e->status = NAC_SC_SGL_INVALID_COUNT;
			planted = true;
			split++;
		} else {
			memcpy(fake_mem_ptr(&fm, seg1 + split * 16), &sgl1, 16);
		}
		sgl1 = sgl_desc(seg1, (split + 1) * 16,
				NAC_SGL_TYPE_SEGMENT << 4);
	}
	if (f == F_SGL_SEGLEN && (sgl1.type >> 4) != NAC_SGL_TYPE_DATA_BLOCK) {
		sgl1.len = nac_cpu_to_le32(nac_le32(sgl1.len) + 8);
		e->status = NAC_SC_SGL_INVALID_SEGMENT;
		planted = true;
	}
	memcpy(&s->dptr1, &sgl1, 16);
	return planted ? f : F_NONE;
}

/* One random command with at most one planted fault. */
static void gen_command(struct nac_sqe *s, struct expect *e, uint16_t cid)
{
	enum fault f = r(3) ? F_NONE : 1 + r(F_COUNT - 1);
	uint32_t nlb = r(4) ? 1 + r(64) : 1 + r(1024);
	uint64_t slba;
	static const uint8_t ops[] = { NAC_CMD_READ, NAC_CMD_WRITE,
				       NAC_CMD_COMPARE, NAC_CMD_FLUSH,
				       NAC_CMD_WRITE_ZEROES };
	uint8_t opc = ops[r(sizeof(ops))];
	bool data = opc != NAC_CMD_FLUSH && opc != NAC_CMD_WRITE_ZEROES;
	enum fault planted = F_NONE;

	memset(s, 0, sizeof(*s));
	memset(e, 0, offsetof(struct expect, sg));
	s->opcode = opc;
	s->cid = nac_cpu_to_le16(cid);
	s->nsid = nac_cpu_to_le32(1);
	e->cid = cid;
	e->op = opc == NAC_CMD_READ ? NAC_OP_READ :
		opc == NAC_CMD_WRITE ? NAC_OP_WRITE :
		opc == NAC_CMD_COMPARE ? NAC_OP_COMPARE :
		opc == NAC_CMD_FLUSH ? NAC_OP_FLUSH : NAC_OP_WRITE_ZEROES;

	if (f == F_MDTS && data)
		nlb = 1025 + r(64);
	slba = r(NSZE - nlb + 1);
	if (f == F_LBA && opc != NAC_CMD_FLUSH)
		slba = NSZE - nlb + 1 + r(1000);
	s->cdw10 = nac_cpu_to_le32((uint32_t)slba);
	s->cdw11 = nac_cpu_to_le32(slba >> 32);
	s->cdw12 = nac_cpu_to_le32(nlb - 1);
	if (opc != NAC_CMD_FLUSH) {
		e->slba = slba;
		e->nlb = nlb;
	}
	if (data && f != F_MDTS && nlb <= 1024) {
		if (r(2))
			planted = build_sgl(s, (uint64_t)nlb * 512, f, e);
		else
			planted = build_prp(s, (uint64_t)nlb * 512, f, e);
	}
	/* Faults checked before the data pointer override it. */
	switch (f) {
	case F_OPCODE:
		s->opcode = 0x80 + r(0x7f);
		e->status = NAC_SC_INVALID_OPCODE;
		planted = f;
		break;
	case F_NSID:
		s->nsid = nac_cpu_to_le32(r(2) ? 0 : 2 + r(100));
		e->status = NAC_SC_INVALID_NS;
		planted = f;
		break;
	case F_FUSE:
		s->flags |= 1 + r(3);
		e->status = NAC_SC_INVALID_FIELD;
		planted = f;
		break;
	case F_LBA:
		if (opc != NAC_CMD_FLUSH) {
			e->status = NAC_SC_LBA_RANGE;
			planted = f;
		}
		break;
	case F_MDTS:
		if (data) {
			e->status = NAC_SC_INVALID_FIELD;
			planted = f;
		}
		break;
	default:
		break;
	}
	if (planted == F_NONE) {
		e->status = 0;
	} else {
		e->status |= NAC_DNR;
	}
	if (!data || e->status)
		e->nsg = 0;
}

struct model {
	struct nac_sq sq;
	struct nac_cq cq;
	/* Guest view. */
	uint32_t g_sq_tail, g_sq_head, g_cq_head;
	uint8_t g_phase;
	uint16_t next_cid;
	struct expect *inflight;	/* ring indexed by SQ slot */
	unsigned outstanding;
	unsigned done, failed_as_planned;
};

static void controller_run(struct model *m, unsigned budget,
			   struct nac_req *req)
{
	struct nac_sqe sqe;

	while (budget-- && !nac_sq_empty(&m->sq) && !nac_cq_full(&m->cq)) {
		uint32_t slot = m->sq.head;
		struct expect *e = &m->inflight[slot];
		struct nac_cqe cqe = { 0 };
		uint16_t status;

		g_assert_cmpint(nac_sq_fetch(&m->sq, &fm.mem, &sqe), ==, 0);
		status = nac_cmd_decode(&ctrl, &ns, &fm.mem, &sqe, req);
		if (status != e->status) {
			g_test_message("cid %u: status 0x%x, reference 0x%x",
				       e->cid, status, e->status);
			g_assert_not_reached();
		}
		if (!status) {
			g_assert_cmpint(req->op, ==, e->op);
			g_assert_cmpuint(req->slba, ==, e->slba);
			g_assert_cmpuint(req->nlb, ==, e->nlb);
			g_assert_cmpuint(req->nsg, ==, e->nsg);
			for (uint32_t i = 0; i < e->nsg; i++) {
				g_assert_cmphex(req->sg[i].addr, ==, e->sg[i].addr);
				g_assert_cmpuint(req->sg[i].len, ==, e->sg[i].len);
			}
		}
		cqe.cid = sqe.cid;
		cqe.status = status;
		cqe.sq_head = m->sq.head;
		cqe.sq_id = 1;
		g_assert_cmpint(nac_cq_post(&m->cq, &fm.mem, &cqe), ==, 0);
	}
}

static void guest_reap(struct model *m)
{
	for (;;) {
		struct nac_cqe *c = fake_mem_ptr(&fm, CQ_BASE +
						 m->g_cq_head * 16ULL);
		uint16_t st = nac_le16(c->status);
		struct expect *e;

		if ((st & 1) != m->g_phase)
			break;
		e = &m->inflight[m->g_sq_head];
		g_assert_cmpuint(nac_le16(c->cid), ==, e->cid);
		g_assert_cmphex(st >> 1, ==, e->status);
		m->g_sq_head = (m->g_sq_head + 1) % m->sq.size;
		g_assert_cmpuint(nac_le16(c->sq_head), ==, m->g_sq_head);
		m->outstanding--;
		m->done++;
		m->failed_as_planned += e->status != 0;
		if (++m->g_cq_head == m->cq.size) {
			m->g_cq_head = 0;
			m->g_phase ^= 1;
		}
	}
	if (r(8) == 0) {
		/* A bogus head: beyond what was posted, or past the end. */
		uint32_t bogus = r(2) ? m->cq.size + r(10) :
				 (m->cq.tail + 1 + r(m->cq.size - 1)) %
				 m->cq.size;
		uint32_t posted = (m->cq.tail + m->cq.size - m->cq.head) %
				  m->cq.size;
		uint32_t moved = (bogus + m->cq.size - m->cq.head) % m->cq.size;

		if (bogus >= m->cq.size || moved > posted) {
			g_assert_cmpint(nac_cq_doorbell(&m->cq, bogus), ==,
					-EINVAL);
		}
	}
	g_assert_cmpint(nac_cq_doorbell(&m->cq, m->g_cq_head), ==, 0);
}

static void run_model(uint32_t seed, unsigned steps)
{
	struct nac_sg *sg = g_new(struct nac_sg, MAX_SG);
	struct nac_dsm_range *ranges = g_new(struct nac_dsm_range, 256);
	struct nac_req req = { .sg = sg, .sg_max = MAX_SG, .ranges = ranges };
	struct model m = { 0 };
	uint32_t sqsize, cqsize;

	rnd = g_rand_new_with_seed(seed);
	fake_mem_init(&fm, RAM_BASE, RAM_PAGES * PG);
	sqsize = 2 + r(MAX_QD - 1);
	cqsize = 2 + r(MAX_QD - 1);
	g_assert_cmpint(nac_sq_init(&m.sq, 1, 1, SQ_BASE, sqsize), ==, 0);
	g_assert_cmpint(nac_cq_init(&m.cq, 1, 1, true, CQ_BASE, cqsize), ==, 0);
	m.g_phase = 1;
	m.inflight = g_new0(struct expect, sqsize);

	for (unsigned step = 0; step < steps; step++) {
		unsigned k = r(4), i;

		/* Submit up to k, leaving one slot free (SQ full rule). */
		for (i = 0; i < k && m.outstanding < sqsize - 1; i++) {
			struct nac_sqe *s = fake_mem_ptr(&fm, SQ_BASE +
							 m.g_sq_tail * 64ULL);

			gen_command(s, &m.inflight[m.g_sq_tail], m.next_cid++);
			m.g_sq_tail = (m.g_sq_tail + 1) % sqsize;
			m.outstanding++;
		}
		if (r(10) == 0)
			g_assert_cmpint(nac_sq_doorbell(&m.sq, sqsize + r(1000)),
					==, -EINVAL);
		g_assert_cmpint(nac_sq_doorbell(&m.sq, m.g_sq_tail), ==, 0);
		controller_run(&m, r(6), &req);
		if (r(2))
			guest_reap(&m);
	}
	/* Drain. */
	while (m.outstanding) {
		controller_run(&m, ~0u, &req);
		guest_reap(&m);
	}
	g_test_message("seed %u: %u commands, %u failed as planned", seed,
		       m.done, m.failed_as_planned);
	g_assert_cmpuint(m.done, >, steps / 2);
	g_assert_cmpuint(m.failed_as_planned, >, 0);
	g_free(m.inflight);
	g_free(sg);
	g_free(ranges);
	fake_mem_destroy(&fm);
	g_rand_free(rnd);
}

static void test_model_seeds(void)
{
	const char *env = getenv("NAC_MODEL_SEEDS");
	unsigned seeds = env ? atoi(env) : 200;

	for (unsigned s = 1; s <= seeds; s++)
		run_model(s, 3000);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/model/random-streams", test_model_seeds);
	return g_test_run();
}
