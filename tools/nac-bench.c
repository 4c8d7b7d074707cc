// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Microbenchmark of the datapath core for one 4 KiB read: SQ doorbell,
 * fetch, decode + PRP walk, CQ post, interrupt decision, CQ head doorbell.
 * Guest memory is a flat buffer behind memcpy accessors, as in QEMU's
 * fast path, so the figure is the core's own cost.
 *
 *   nac-bench [commands]      prints ns per command
 *   valgrind --tool=callgrind --collect-atstart=no nac-bench 100000
 *                             prints instructions per command (the loop is
 *                             bracketed with CALLGRIND_TOGGLE_COLLECT)
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <valgrind/callgrind.h>
#include "nvme-accel/nac-core.h"

#define RAM_SIZE	(8u << 20)
#define RAM_BASE	0x100000000ULL
#define QSIZE		1024
#define SQ_BASE		(RAM_BASE)
#define CQ_BASE		(RAM_BASE + 0x10000)
#define DATA_BASE	(RAM_BASE + 0x100000)

static uint8_t *ram;

static int ram_read(void *opaque, uint64_t gpa, void *buf, uint32_t len)
{
	(void)opaque;
	if (gpa < RAM_BASE || gpa - RAM_BASE > RAM_SIZE - len)
		return -EFAULT;
	memcpy(buf, ram + (gpa - RAM_BASE), len);
	return 0;
}

static int ram_write(void *opaque, uint64_t gpa, const void *buf, uint32_t len)
{
	(void)opaque;
	if (gpa < RAM_BASE || gpa - RAM_BASE > RAM_SIZE - len)
		return -EFAULT;
	memcpy(ram + (gpa - RAM_BASE), buf, len);
	return 0;
}

static int ram_translate(void *opaque, uint64_t gpa, uint32_t len, bool w)
{
	(void)opaque;
	(void)w;
	return gpa < RAM_BASE || gpa - RAM_BASE > RAM_SIZE - len ? -EFAULT : 0;
}

static const struct nac_mem_ops ops = {
	.read = ram_read, .write = ram_write, .translate = ram_translate,
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 2000000;
	struct nac_mem mem = { .ops = &ops };
	struct nac_ctrl ctrl = { .page_shift = 12, .sgl = true,
				 .max_xfer = 512 * 1024 };
	struct nac_ns ns = { .nsze = 1 << 20, .nsid = 1, .lba_shift = 9 };
	struct nac_sg sg[129];
	struct nac_dsm_range ranges[NAC_DSM_MAX_RANGES];
	struct nac_req req = { .sg = sg, .sg_max = 129, .ranges = ranges };
	struct nac_sq sq;
	struct nac_cq cq;
	uint64_t t0, t1, deadline, irqs = 0, bad = 0;
	long i;

	ram = calloc(1, RAM_SIZE);
	if (!ram || n <= 0)
		return 1;
	nac_sq_init(&sq, 1, 1, SQ_BASE, QSIZE);
	nac_cq_init(&cq, 1, 1, true, CQ_BASE, QSIZE);
	/* A ring of 4 KiB reads, each to its own page. */
	for (i = 0; i < QSIZE; i++) {
		struct nac_sqe *s = (void *)(ram + i * 64);

		s->opcode = NAC_CMD_READ;
		s->cid = nac_cpu_to_le16(i);
		s->nsid = nac_cpu_to_le32(1);
		s->dptr1 = nac_cpu_to_le64(DATA_BASE + (i % 256) * 4096);
		s->cdw10 = nac_cpu_to_le32(i * 8);
		s->cdw12 = nac_cpu_to_le32(7);
	}

	t0 = now_ns();
	CALLGRIND_TOGGLE_COLLECT;
	for (i = 0; i < n; i++) {
		struct nac_sqe sqe;
		struct nac_cqe cqe = { 0 };

		nac_sq_doorbell(&sq, (sq.tail + 1) % QSIZE);
		nac_sq_fetch(&sq, &mem, &sqe);
		cqe.status = nac_cmd_decode(&ctrl, &ns, &mem, &sqe, &req);
		bad += cqe.status != 0;
		cqe.cid = sqe.cid;
		cqe.sq_head = sq.head;
		cqe.sq_id = 1;
		nac_cq_post(&cq, &mem, &cqe);
		irqs += nac_cq_irq(&cq, &mem, 0, &deadline) == NAC_IRQ_NOW;
		nac_cq_doorbell(&cq, cq.tail);
	}
	CALLGRIND_TOGGLE_COLLECT;
	t1 = now_ns();

	if (bad || irqs != (uint64_t)n) {
		fprintf(stderr, "nac-bench: %llu failed commands, %llu irqs\n",
			(unsigned long long)bad, (unsigned long long)irqs);
		return 1;
	}
	printf("nac-bench: %ld commands, %.1f ns per 4K read "
	       "(fetch+decode+PRP+complete+irq)\n", n, (double)(t1 - t0) / n);
	free(ram);
	return 0;
}
