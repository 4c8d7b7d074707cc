// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests: SQ/CQ state, doorbells, shadow doorbells, interrupts. */
#include <glib.h>
#include "fake-mem.h"

#define RAM_BASE	0x100000ULL
#define RAM_SIZE	(1u << 20)
#define SQ_BASE		(RAM_BASE + 0x10000)
#define CQ_BASE		(RAM_BASE + 0x20000)
#define DB_SQ		(RAM_BASE + 0x30000)
#define DB_CQ		(RAM_BASE + 0x30004)
#define EI_SQ		(RAM_BASE + 0x31000)
#define EI_CQ		(RAM_BASE + 0x31004)

static struct fake_mem fm;

static void setup(void)
{
	fake_mem_init(&fm, RAM_BASE, RAM_SIZE);
}

static void teardown(void)
{
	fake_mem_destroy(&fm);
}

static void put_sqe(uint32_t slot, uint16_t cid)
{
	struct nac_sqe *e = fake_mem_ptr(&fm, SQ_BASE + slot * 64ULL);

	memset(e, 0, sizeof(*e));
	e->opcode = NAC_CMD_READ;
	e->cid = nac_cpu_to_le16(cid);
}

static void test_init_validation(void)
{
	struct nac_sq sq;
	struct nac_cq cq;

	g_assert_cmpint(nac_sq_init(&sq, 1, 1, SQ_BASE, 1), ==, -EINVAL);
	g_assert_cmpint(nac_sq_init(&sq, 1, 1, SQ_BASE, 65537), ==, -EINVAL);
	g_assert_cmpint(nac_sq_init(&sq, 1, 1, SQ_BASE, 65536), ==, 0);
	g_assert_cmpint(nac_sq_init(&sq, 1, 1, UINT64_MAX - 64, 2), ==, -EINVAL);
	g_assert_cmpint(nac_cq_init(&cq, 1, 0, true, CQ_BASE, 0), ==, -EINVAL);
	g_assert_cmpint(nac_cq_init(&cq, 1, 0, true, CQ_BASE, 2), ==, 0);
	g_assert_cmpint(cq.phase, ==, 1);
	g_assert_cmpint(nac_cq_init(&cq, 1, 0, true, UINT64_MAX - 16, 2), ==,
			-EINVAL);
}

static void test_sq_fetch_wrap(void)
{
	struct nac_sq sq;
	struct nac_sqe e;
	uint32_t i;

	setup();
	g_assert_cmpint(nac_sq_init(&sq, 1, 1, SQ_BASE, 4), ==, 0);
	g_assert_cmpint(nac_sq_fetch(&sq, &fm.mem, &e), ==, -EAGAIN);
	/* Three rounds around a 4-entry ring, one to three at a time. */
	for (i = 0; i < 12; i++) {
		put_sqe(i % 4, 100 + i);
		g_assert_cmpint(nac_sq_doorbell(&sq, (i + 1) % 4), ==, 0);
		g_assert_cmpint(nac_sq_pending(&sq), ==, 1);
		g_assert_cmpint(nac_sq_fetch(&sq, &fm.mem, &e), ==, 0);
		g_assert_cmpint(nac_le16(e.cid), ==, 100 + i);
		g_assert_cmpint(sq.head, ==, (i + 1) % 4);
		g_assert_true(nac_sq_empty(&sq));
	}
	/* Full SQ: 3 entries outstanding. */
	for (i = 0; i < 3; i++)
		put_sqe((sq.tail + i) % 4, 200 + i);
	g_assert_cmpint(nac_sq_doorbell(&sq, (sq.tail + 3) % 4), ==, 0);
	g_assert_cmpint(nac_sq_pending(&sq), ==, 3);
	for (i = 0; i < 3; i++) {
		g_assert_cmpint(nac_sq_fetch(&sq, &fm.mem, &e), ==, 0);
		g_assert_cmpint(nac_le16(e.cid), ==, 200 + i);
	}
	g_assert_cmpint(nac_sq_fetch(&sq, &fm.mem, &e), ==, -EAGAIN);
	teardown();
}

static void test_sq_bad_doorbell(void)
{
	struct nac_sq sq;

	g_assert_cmpint(nac_sq_init(&sq, 1, 1, SQ_BASE, 16), ==, 0);
	g_assert_cmpint(nac_sq_doorbell(&sq, 5), ==, 0);
	g_assert_cmpint(nac_sq_doorbell(&sq, 16), ==, -EINVAL);
	g_assert_cmpint(nac_sq_doorbell(&sq, 0xffffffff), ==, -EINVAL);
	g_assert_cmpint(sq.tail, ==, 5);
}

static void test_sq_fetch_fault(void)
{
	struct nac_sq sq;
	struct nac_sqe e;

	setup();
	/* Queue whose second entry lies past the end of RAM. */
	g_assert_cmpint(nac_sq_init(&sq, 1, 1, RAM_BASE + RAM_SIZE - 64, 4),
			==, 0);
	g_assert_cmpint(nac_sq_doorbell(&sq, 2), ==, 0);
	g_assert_cmpint(nac_sq_fetch(&sq, &fm.mem, &e), ==, 0);
	g_assert_cmpint(nac_sq_fetch(&sq, &fm.mem, &e), ==, -EFAULT);
	g_assert_cmpint(sq.head, ==, 1);
	teardown();
}

static uint16_t cqe_status(uint32_t slot)
{
	return fake_mem_get32(&fm, CQ_BASE + slot * 16ULL + 12) >> 16;
}

static void test_cq_post_phase_full(void)
{
	struct nac_cq cq;
	struct nac_cqe c = { .result = 0xdeadbeef, .sq_head = 3, .sq_id = 1 };
	uint32_t i;

	setup();
	g_assert_cmpint(nac_cq_init(&cq, 1, 0, true, CQ_BASE, 4), ==, 0);
	for (i = 0; i < 3; i++) {
		c.cid = nac_cpu_to_le16(i);
		c.status = i == 1 ? (NAC_SC_LBA_RANGE | NAC_DNR) : 0;
		g_assert_cmpint(nac_cq_post(&cq, &fm.mem, &c), ==, 0);
	}
	g_assert_true(nac_cq_full(&cq));
	g_assert_cmpint(nac_cq_post(&cq, &fm.mem, &c), ==, -EBUSY);
	g_assert_cmphex(fake_mem_get32(&fm, CQ_BASE), ==, 0xdeadbeef);
	g_assert_cmphex(fake_mem_get32(&fm, CQ_BASE + 8), ==, 0x00010003);
	g_assert_cmphex(cqe_status(0), ==, 1);
	g_assert_cmphex(cqe_status(1), ==, ((NAC_SC_LBA_RANGE | NAC_DNR) << 1) | 1);
	g_assert_cmphex(fake_mem_get32(&fm, CQ_BASE + 16 + 12) & 0xffff, ==, 1);
	/* Host consumes two, we wrap: the phase tag flips at slot 0. */
	g_assert_cmpint(nac_cq_doorbell(&cq, 2), ==, 0);
	g_assert_cmpint(nac_cq_post(&cq, &fm.mem, &c), ==, 0);	/* slot 3 */
	g_assert_cmpint(nac_cq_post(&cq, &fm.mem, &c), ==, 0);	/* slot 0 */
	g_assert_cmpint(cq.phase, ==, 0);
	g_assert_cmphex(cqe_status(3) & 1, ==, 1);
	g_assert_cmphex(cqe_status(0) & 1, ==, 0);
	g_assert_true(nac_cq_full(&cq));
	teardown();
}

static void test_cq_bad_doorbell(void)
{
	struct nac_cq cq;
	struct nac_cqe c = { 0 };

	setup();
	g_assert_cmpint(nac_cq_init(&cq, 1, 0, true, CQ_BASE, 8), ==, 0);
	/* Nothing posted: the head cannot move. */
	g_assert_cmpint(nac_cq_doorbell(&cq, 1), ==, -EINVAL);
	g_assert_cmpint(nac_cq_doorbell(&cq, 0), ==, 0);
	g_assert_cmpint(nac_cq_post(&cq, &fm.mem, &c), ==, 0);
	g_assert_cmpint(nac_cq_post(&cq, &fm.mem, &c), ==, 0);
	g_assert_cmpint(nac_cq_doorbell(&cq, 3), ==, -EINVAL);
	g_assert_cmpint(nac_cq_doorbell(&cq, 8), ==, -EINVAL);
	g_assert_cmpint(nac_cq_doorbell(&cq, 1), ==, 0);
	/* Moving backwards would claim 7 consumed out of 1. */
	g_assert_cmpint(nac_cq_doorbell(&cq, 0), ==, -EINVAL);
	g_assert_cmpint(nac_cq_doorbell(&cq, 2), ==, 0);
	g_assert_cmpint(cq.head, ==, 2);
	teardown();
}

static void test_cq_post_fault(void)
{
	struct nac_cq cq;
	struct nac_cqe c = { 0 };

	setup();
	g_assert_cmpint(nac_cq_init(&cq, 1, 0, true, RAM_BASE + RAM_SIZE, 4),
			==, 0);
	g_assert_cmpint(nac_cq_post(&cq, &fm.mem, &c), ==, -EFAULT);
	g_assert_cmpint(cq.tail, ==, 0);
	teardown();
}

static void test_shadow_doorbells(void)
{
	struct nac_sq sq;
	struct nac_cq cq;
	struct nac_cqe c = { 0 };

	setup();
	g_assert_cmpint(nac_sq_init(&sq, 1, 1, SQ_BASE, 8), ==, 0);
	g_assert_cmpint(nac_cq_init(&cq, 1, 0, true, CQ_BASE, 8), ==, 0);
	/* Without shadow addresses these are no-ops. */
	g_assert_cmpint(nac_sq_read_shadow(&sq, &fm.mem), ==, 0);
	nac_sq_set_shadow(&sq, DB_SQ, EI_SQ);
	nac_cq_set_shadow(&cq, DB_CQ, EI_CQ);

	fake_mem_put32(&fm, DB_SQ, 5);
	g_assert_cmpint(nac_sq_read_shadow(&sq, &fm.mem), ==, 0);
	g_assert_cmpint(sq.tail, ==, 5);
	fake_mem_put32(&fm, DB_SQ, 9);
	g_assert_cmpint(nac_sq_read_shadow(&sq, &fm.mem), ==, -EINVAL);
	g_assert_cmpint(sq.tail, ==, 5);

	g_assert_cmpint(nac_cq_post(&cq, &fm.mem, &c), ==, 0);
	fake_mem_put32(&fm, DB_CQ, 1);
	g_assert_cmpint(nac_cq_read_shadow(&cq, &fm.mem), ==, 0);
	g_assert_cmpint(cq.head, ==, 1);
	fake_mem_put32(&fm, DB_CQ, 4);
	g_assert_cmpint(nac_cq_read_shadow(&cq, &fm.mem), ==, -EINVAL);

	/* Unbacked shadow buffer. */
	nac_sq_set_shadow(&sq, RAM_BASE + RAM_SIZE, EI_SQ);
	g_assert_cmpint(nac_sq_read_shadow(&sq, &fm.mem), ==, -EFAULT);
	teardown();
}

/* A host that rings the shadow doorbell right as we publish the event index. */
static int racing_write(void *opaque, uint64_t gpa, const void *buf,
			uint32_t len)
{
	int ret = fake_mem_ops.write(opaque, gpa, buf, len);

	if (gpa == EI_SQ)
		fake_mem_put32(&fm, DB_SQ, 3);
	return ret;
}

static void test_sq_arm_eventidx(void)
{
	struct nac_mem_ops ops = fake_mem_ops;
	struct nac_mem racy = { .ops = &ops, .opaque = &fm };
	struct nac_sqe e;
	struct nac_sq sq;

	setup();
	g_assert_cmpint(nac_sq_init(&sq, 1, 1, SQ_BASE, 8), ==, 0);
	nac_sq_set_shadow(&sq, DB_SQ, EI_SQ);
	fake_mem_put32(&fm, DB_SQ, 2);
	g_assert_cmpint(nac_sq_read_shadow(&sq, &fm.mem), ==, 0);
	g_assert_cmpint(nac_sq_fetch(&sq, &fm.mem, &e), ==, 0);
	g_assert_cmpint(nac_sq_fetch(&sq, &fm.mem, &e), ==, 0);
	/* Idle: event index = tail, nothing new. */
	g_assert_cmpint(nac_sq_arm(&sq, &fm.mem), ==, 0);
	g_assert_cmpint(fake_mem_get32(&fm, EI_SQ), ==, 2);
	/* The host slipped an entry in: arm must see it. */
	ops.write = racing_write;
	g_assert_cmpint(nac_sq_arm(&sq, &racy), ==, 1);
	g_assert_cmpint(sq.tail, ==, 3);
	/* A bogus shadow value is reported, not used. */
	fake_mem_put32(&fm, DB_SQ, 100);
	g_assert_cmpint(nac_sq_arm(&sq, &fm.mem), ==, -EINVAL);
	g_assert_cmpint(sq.tail, ==, 3);
	teardown();
}

/* A host that reaps right as we publish the CQ event index. */
static int racing_cq_write(void *opaque, uint64_t gpa, const void *buf,
			   uint32_t len)
{
	int ret = fake_mem_ops.write(opaque, gpa, buf, len);

	if (gpa == EI_CQ)
		fake_mem_put32(&fm, DB_CQ, 2);
	return ret;
}

static void test_cq_arm_eventidx(void)
{
	struct nac_mem_ops ops = fake_mem_ops;
	struct nac_mem racy = { .ops = &ops, .opaque = &fm };
	struct nac_cqe c = { 0 };
	struct nac_cq cq;

	setup();
	g_assert_cmpint(nac_cq_init(&cq, 1, 0, true, CQ_BASE, 8), ==, 0);
	/* No shadow doorbells: nothing to publish. */
	g_assert_cmpint(nac_cq_arm(&cq, &fm.mem), ==, 0);
	nac_cq_set_shadow(&cq, DB_CQ, EI_CQ);
	fake_mem_put32(&fm, EI_CQ, 0xdead);
	g_assert_cmpint(nac_cq_post(&cq, &fm.mem, &c), ==, 0);
	g_assert_cmpint(nac_cq_post(&cq, &fm.mem, &c), ==, 0);
	g_assert_cmpint(nac_cq_post(&cq, &fm.mem, &c), ==, 0);
	fake_mem_put32(&fm, DB_CQ, 1);
	/* The host reaped one: head 1 becomes the event index. */
	g_assert_cmpint(nac_cq_arm(&cq, &fm.mem), ==, 1);
	g_assert_cmpint(cq.head, ==, 1);
	g_assert_cmpint(fake_mem_get32(&fm, EI_CQ), ==, 0);
	g_assert_cmpint(nac_cq_arm(&cq, &fm.mem), ==, 0);
	g_assert_cmpint(fake_mem_get32(&fm, EI_CQ), ==, 1);
	/* The host reaped again as the index was published: arm sees it. */
	ops.write = racing_cq_write;
	g_assert_cmpint(nac_cq_arm(&cq, &racy), ==, 1);
	g_assert_cmpint(cq.head, ==, 2);
	/* A head beyond the tail is reported, not used. */
	fake_mem_put32(&fm, DB_CQ, 5);
	g_assert_cmpint(nac_cq_arm(&cq, &fm.mem), ==, -EINVAL);
	g_assert_cmpint(cq.head, ==, 2);
	/* Unbacked event index. */
	nac_cq_set_shadow(&cq, DB_CQ, RAM_BASE + RAM_SIZE);
	g_assert_cmpint(nac_cq_arm(&cq, &fm.mem), ==, -EFAULT);
	teardown();
}

/* Post one entry, then ask about the interrupt at @now. */
static void post_irq(struct nac_cq *cq, uint64_t now, enum nac_irq want,
		     uint64_t *deadline)
{
	struct nac_cqe c = { 0 };

	g_assert_cmpint(nac_cq_post(cq, &fm.mem, &c), ==, 0);
	g_assert_cmpint(nac_cq_irq(cq, &fm.mem, now, deadline), ==, want);
}

static void test_irq_decisions(void)
{
	struct nac_cq cq;
	struct nac_cqe c = { 0 };
	uint64_t deadline = 0;
	int i;

	setup();
	g_assert_cmpint(nac_cq_init(&cq, 1, 0, true, CQ_BASE, 64), ==, 0);
	g_assert_cmpint(nac_cq_irq(&cq, &fm.mem, 1000, &deadline), ==,
			NAC_IRQ_NONE);
	post_irq(&cq, 1000, NAC_IRQ_NOW, &deadline);
	g_assert_cmpint(nac_cq_irq(&cq, &fm.mem, 1000, &deadline), ==,
			NAC_IRQ_NONE);

	/* Coalescing: threshold 4 entries (0's based 3), time 200 us. */
	cq.aggr_thr = 3;
	cq.aggr_time = 2;
	for (i = 0; i < 3; i++) {
		post_irq(&cq, 10000 + i, NAC_IRQ_DEFER, &deadline);
		g_assert_cmpuint(deadline, ==, 10000 + 200000);
	}
	g_assert_cmpint(nac_cq_irq(&cq, &fm.mem, 210000, &deadline), ==,
			NAC_IRQ_NOW);
	for (i = 0; i < 4; i++)
		g_assert_cmpint(nac_cq_post(&cq, &fm.mem, &c), ==, 0);
	g_assert_cmpint(nac_cq_irq(&cq, &fm.mem, 300000, &deadline), ==,
			NAC_IRQ_NOW);

	/* The vector opted out of coalescing (Interrupt Vector Config CD). */
	cq.coalesce = false;
	post_irq(&cq, 400000, NAC_IRQ_NOW, &deadline);

	/* Aggregation time 0 means no delay. */
	cq.coalesce = true;
	cq.aggr_time = 0;
	post_irq(&cq, 500000, NAC_IRQ_NOW, &deadline);

	/* Interrupts disabled for this CQ (IEN = 0). */
	cq.irq_enabled = false;
	post_irq(&cq, 600000, NAC_IRQ_NONE, &deadline);
	teardown();
}

/* The controller's own moderation, where the host set no coalescing. */
static void test_irq_moderation(void)
{
	struct nac_cq cq;
	struct nac_cqe c = { 0 };
	uint64_t deadline = 0;
	int i;

	setup();
	g_assert_cmpint(nac_cq_init(&cq, 1, 0, true, CQ_BASE, 64), ==, 0);
	/* Four entries or 100 us. */
	cq.mod_thr = 4;
	cq.mod_time_ns = 100000;
	for (i = 0; i < 3; i++) {
		post_irq(&cq, 10000 + i, NAC_IRQ_DEFER, &deadline);
		g_assert_cmpuint(deadline, ==, 10000 + 100000);
	}
	post_irq(&cq, 20000, NAC_IRQ_NOW, &deadline);
	/* None waits longer than the time. */
	post_irq(&cq, 30000, NAC_IRQ_DEFER, &deadline);
	g_assert_cmpint(nac_cq_irq(&cq, &fm.mem, 129999, &deadline), ==,
			NAC_IRQ_DEFER);
	g_assert_cmpuint(deadline, ==, 130000);
	g_assert_cmpint(nac_cq_irq(&cq, &fm.mem, 130000, &deadline), ==,
			NAC_IRQ_NOW);

	/* A vector that opted out of coalescing is not moderated either. */
	cq.coalesce = false;
	post_irq(&cq, 200000, NAC_IRQ_NOW, &deadline);
	cq.coalesce = true;
	/* A threshold of one entry, or no time: at once. */
	cq.mod_thr = 1;
	post_irq(&cq, 300000, NAC_IRQ_NOW, &deadline);
	cq.mod_thr = 4;
	cq.mod_time_ns = 0;
	post_irq(&cq, 400000, NAC_IRQ_NOW, &deadline);
	/* A full CQ: the host must reap first. */
	g_assert_cmpint(nac_cq_doorbell(&cq, cq.tail), ==, 0);
	cq.mod_thr = 64;
	cq.mod_time_ns = 1000000;
	for (i = 0; i < 62; i++)
		g_assert_cmpint(nac_cq_post(&cq, &fm.mem, &c), ==, 0);
	g_assert_cmpint(nac_cq_irq(&cq, &fm.mem, 410000, &deadline), ==,
			NAC_IRQ_DEFER);
	g_assert_cmpint(nac_cq_post(&cq, &fm.mem, &c), ==, 0);
	g_assert_true(nac_cq_full(&cq));
	g_assert_cmpint(nac_cq_irq(&cq, &fm.mem, 410001, &deadline), ==,
			NAC_IRQ_NOW);
	g_assert_cmpint(nac_cq_doorbell(&cq, cq.tail), ==, 0);
	/* The host set a time with a one-entry threshold: no delay. */
	cq.aggr_time = 1;
	post_irq(&cq, 420000, NAC_IRQ_NOW, &deadline);
	/* The host's coalescing replaces ours: 2 entries or 100 us. */
	cq.aggr_thr = 1;
	cq.aggr_time = 1;
	post_irq(&cq, 500000, NAC_IRQ_DEFER, &deadline);
	g_assert_cmpuint(deadline, ==, 500000 + 100000);
	post_irq(&cq, 500001, NAC_IRQ_NOW, &deadline);
	teardown();
}

static void test_irq_host_polling(void)
{
	struct nac_cq cq;
	struct nac_cqe c = { 0 };
	uint64_t deadline;

	setup();
	g_assert_cmpint(nac_cq_init(&cq, 1, 0, true, CQ_BASE, 8), ==, 0);
	nac_cq_set_shadow(&cq, DB_CQ, EI_CQ);
	g_assert_cmpint(nac_cq_post(&cq, &fm.mem, &c), ==, 0);
	g_assert_cmpint(nac_cq_post(&cq, &fm.mem, &c), ==, 0);
	/* Host has seen one of two: it still needs the interrupt. */
	fake_mem_put32(&fm, DB_CQ, 1);
	g_assert_cmpint(nac_cq_irq(&cq, &fm.mem, 0, &deadline), ==, NAC_IRQ_NOW);
	/* Host already reaped everything: no interrupt. */
	g_assert_cmpint(nac_cq_post(&cq, &fm.mem, &c), ==, 0);
	fake_mem_put32(&fm, DB_CQ, 3);
	g_assert_cmpint(nac_cq_irq(&cq, &fm.mem, 0, &deadline), ==,
			NAC_IRQ_NONE);
	/* Held by moderation, then the host polled it: none either. */
	cq.mod_thr = 4;
	cq.mod_time_ns = 100000;
	post_irq(&cq, 1000, NAC_IRQ_DEFER, &deadline);
	fake_mem_put32(&fm, DB_CQ, 4);
	g_assert_cmpint(nac_cq_irq(&cq, &fm.mem, 101000, &deadline), ==,
			NAC_IRQ_NONE);
	teardown();
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/queue/init-validation", test_init_validation);
	g_test_add_func("/queue/sq-fetch-wrap", test_sq_fetch_wrap);
	g_test_add_func("/queue/sq-bad-doorbell", test_sq_bad_doorbell);
	g_test_add_func("/queue/sq-fetch-fault", test_sq_fetch_fault);
	g_test_add_func("/queue/cq-post-phase-full", test_cq_post_phase_full);
	g_test_add_func("/queue/cq-bad-doorbell", test_cq_bad_doorbell);
	g_test_add_func("/queue/cq-post-fault", test_cq_post_fault);
	g_test_add_func("/queue/shadow-doorbells", test_shadow_doorbells);
	g_test_add_func("/queue/sq-arm-eventidx", test_sq_arm_eventidx);
	g_test_add_func("/queue/cq-arm-eventidx", test_cq_arm_eventidx);
	g_test_add_func("/queue/irq-decisions", test_irq_decisions);
	g_test_add_func("/queue/irq-moderation", test_irq_moderation);
	g_test_add_func("/queue/irq-host-polling", test_irq_host_polling);
	return g_test_run();
}
