// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: a hostile host drives one SQ/CQ pair through MMIO
 * doorbells, shadow doorbells and event indexes while the controller
 * fetches and completes; the input is the sequence of actions. Checks
 * head/tail/phase invariants after every step.
 */
#include <stdlib.h>
#include "../core/fake-mem.h"

#define RAM_BASE	0x10000ULL
#define RAM_SIZE	(16u * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct nac_sq *sq, const struct nac_cq *cq)
{
	if (sq->head >= sq->size || sq->tail >= sq->size ||
	    cq->head >= cq->size || cq->tail >= cq->size || cq->phase > 1)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fake_mem fm;
	struct nac_sq sq;
	struct nac_cq cq;
	struct nac_sqe sqe;
	uint64_t deadline, now = 0;
	size_t i;

	if (size < 4)
		return 0;
	if (!fm.ram)
		fake_mem_init(&fm, RAM_BASE, RAM_SIZE);
	memset(fm.ram, 0, RAM_SIZE);
	/* Queues may straddle the end of RAM: faults must be clean. */
	if (nac_sq_init(&sq, 1, 1, RAM_BASE + data[0] * 64ULL, 2 + data[1] % 64) ||
	    nac_cq_init(&cq, 1, 0, true, RAM_BASE + 0x2000 + data[2] * 64ULL,
			2 + data[3] % 64))
		abort();
	if (data[0] & 1) {
		nac_sq_set_shadow(&sq, RAM_BASE + 0x3f00, RAM_BASE + 0x3f08);
		nac_cq_set_shadow(&cq, RAM_BASE + 0x3f04, RAM_BASE + 0x3f0c);
	}
	cq.aggr_thr = data[1] >> 4;
	cq.aggr_time = data[2] >> 4;

	for (i = 4; i + 2 < size; i += 3) {
		uint16_t v = data[i + 1] | data[i + 2] << 8;
		struct nac_cqe cqe = { .cid = v };
		uint32_t head = cq.head;

		switch (data[i] % 8) {
		case 0:
			nac_sq_doorbell(&sq, v);
			break;
		case 1:
			if (nac_cq_doorbell(&cq, v) == 0 && v != head &&
			    (v + cq.size - head) % cq.size >
			    (cq.tail + cq.size - head) % cq.size)
				abort();
			break;
		case 2:
			fake_mem_put32(&fm, RAM_BASE + 0x3f00 + (v & 4), v >> 3);
			nac_sq_read_shadow(&sq, &fm.mem);
			nac_cq_read_shadow(&cq, &fm.mem);
			break;
		case 3:
			nac_sq_arm(&sq, &fm.mem);
			break;
		case 4:
			if (nac_sq_fetch(&sq, &fm.mem, &sqe) == -EAGAIN &&
			    !nac_sq_empty(&sq))
				abort();
			break;
		case 5:
			if (nac_cq_post(&cq, &fm.mem, &cqe) == -EBUSY &&
			    !nac_cq_full(&cq))
				abort();
			break;
		case 6:
			now += v * 1000ULL;
			/* A held interrupt is due within the longest hold. */
			if (nac_cq_irq(&cq, &fm.mem, now, &deadline) ==
			    NAC_IRQ_DEFER &&
			    (deadline <= now ||
			     deadline > cq.pending_since +
					(cq.aggr_time * 100000ULL > cq.mod_time_ns ?
					 cq.aggr_time * 100000ULL : cq.mod_time_ns)))
				abort();
			break;
		case 7:
			cq.coalesce = v & 1;
			cq.mod_thr = v >> 1 & 0x3f;
			cq.mod_time_ns = (v >> 7) * 1000;
			break;
		}
		check(&sq, &cq);
	}
	return 0;
}
