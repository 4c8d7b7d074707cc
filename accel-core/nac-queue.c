// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * nvme-accel datapath core: submission and completion queue state.
 *
 * Every value read from a doorbell or a shadow doorbell is the guest's word
 * and is range-checked before it moves a head or tail.
 */
#include "nvme-accel/nac-core.h"

static int nac_queue_check(uint64_t base, uint32_t size, uint32_t esize)
{
	if (size < 2 || size > 65536)
		return -EINVAL;
	/* The queue must not wrap the guest physical address space. */
	if (base + (uint64_t)size * esize < base)
		return -EINVAL;
	return 0;
}

int nac_sq_init(struct nac_sq *sq, uint16_t qid, uint16_t cqid,
		uint64_t base, uint32_t size)
{
	int ret = nac_queue_check(base, size, NAC_SQE_SIZE);

	if (ret)
		return ret;
	memset(sq, 0, sizeof(*sq));
	sq->base = base;
	sq->size = size;
	sq->qid = qid;
	sq->cqid = cqid;
	return 0;
}

int nac_cq_init(struct nac_cq *cq, uint16_t qid, uint16_t vector,
		bool irq_enabled, uint64_t base, uint32_t size)
{
	int ret = nac_queue_check(base, size, NAC_CQE_SIZE);

	if (ret)
		return ret;
	memset(cq, 0, sizeof(*cq));
	cq->base = base;
	cq->size = size;
	cq->qid = qid;
	cq->vector = vector;
	cq->irq_enabled = irq_enabled;
	cq->phase = 1;
	cq->coalesce = true;
	return 0;
}

void nac_sq_set_shadow(struct nac_sq *sq, uint64_t shadow_db,
		       uint64_t eventidx)
{
	sq->shadow_db = shadow_db;
	sq->eventidx = eventidx;
}

void nac_cq_set_shadow(struct nac_cq *cq, uint64_t shadow_db,
		       uint64_t eventidx)
{
	cq->shadow_db = shadow_db;
	cq->eventidx = eventidx;
}

int nac_sq_doorbell(struct nac_sq *sq, uint32_t tail)
{
	if (nac_unlikely(tail >= sq->size))
		return -EINVAL;
	sq->tail = tail;
	return 0;
}

/*
 * The host may only move the head over entries the controller has posted:
 * the distance it moves must not exceed the number of outstanding entries.
 */
int nac_cq_doorbell(struct nac_cq *cq, uint32_t head)
{
	uint32_t posted, consumed;

	if (nac_unlikely(head >= cq->size))
		return -EINVAL;
	posted = (cq->tail + cq->size - cq->head) % cq->size;
	consumed = (head + cq->size - cq->head) % cq->size;
	if (nac_unlikely(consumed > posted))
		return -EINVAL;
	cq->head = head;
	return 0;
}

static int nac_read_u32(const struct nac_mem *mem, uint64_t gpa, uint32_t *val)
{
	uint32_t le;

	if (mem->ops->read(mem->opaque, gpa, &le, sizeof(le)))
		return -EFAULT;
	*val = nac_le32(le);
	return 0;
}

static int nac_write_u32(const struct nac_mem *mem, uint64_t gpa, uint32_t val)
{
	uint32_t le = nac_cpu_to_le32(val);

	return mem->ops->write(mem->opaque, gpa, &le, sizeof(le)) ? -EFAULT : 0;
}

int nac_sq_read_shadow(struct nac_sq *sq, const struct nac_mem *mem)
{
	uint32_t tail;

	if (!sq->shadow_db)
		return 0;
	if (nac_read_u32(mem, sq->shadow_db, &tail))
		return -EFAULT;
	/* Entries are read after the tail that announced them. */
	nac_rmb();
	return nac_sq_doorbell(sq, tail);
}

int nac_cq_read_shadow(struct nac_cq *cq, const struct nac_mem *mem)
{
	uint32_t head;

	if (!cq->shadow_db)
		return 0;
	if (nac_read_u32(mem, cq->shadow_db, &head))
		return -EFAULT;
	return nac_cq_doorbell(cq, head);
}

int nac_sq_arm(struct nac_sq *sq, const struct nac_mem *mem)
{
	uint32_t old = sq->tail;
	int ret;

	if (!sq->shadow_db)
		return nac_sq_empty(sq) ? 0 : 1;
	if (sq->eventidx && nac_write_u32(mem, sq->eventidx, sq->tail))
		return -EFAULT;
	/* Event index store before the shadow tail load (Linux: mb()). */
	nac_mb();
	ret = nac_sq_read_shadow(sq, mem);
	if (ret)
		return ret;
	return sq->tail != old || !nac_sq_empty(sq);
}

int nac_cq_arm(struct nac_cq *cq, const struct nac_mem *mem)
{
	uint32_t old = cq->head;
	int ret;

	if (!cq->shadow_db)
		return 0;
	if (cq->eventidx && nac_write_u32(mem, cq->eventidx, cq->head))
		return -EFAULT;
	/* Event index store before the shadow head load (Linux: mb()). */
	nac_mb();
	ret = nac_cq_read_shadow(cq, mem);
	if (ret)
		return ret;
	return cq->head != old;
}

int nac_sq_fetch(struct nac_sq *sq, const struct nac_mem *mem,
		 struct nac_sqe *sqe)
{
	if (nac_sq_empty(sq))
		return -EAGAIN;
	if (mem->ops->read(mem->opaque,
			   sq->base + (uint64_t)sq->head * NAC_SQE_SIZE,
			   sqe, NAC_SQE_SIZE))
		return -EFAULT;
	sq->head = sq->head + 1 == sq->size ? 0 : sq->head + 1;
	return 0;
}

int nac_cq_post(struct nac_cq *cq, const struct nac_mem *mem,
		const struct nac_cqe *cqe)
{
	uint64_t addr = cq->base + (uint64_t)cq->tail * NAC_CQE_SIZE;
	struct nac_cqe le = {
		.result = nac_cpu_to_le32(cqe->result),
		.dw1 = nac_cpu_to_le32(cqe->dw1),
		.sq_head = nac_cpu_to_le16(cqe->sq_head),
		.sq_id = nac_cpu_to_le16(cqe->sq_id),
		.cid = cqe->cid,	/* opaque to the controller: as fetched */
		.status = nac_cpu_to_le16((uint16_t)(cqe->status << 1) |
					  cq->phase),
	};

	if (nac_unlikely(nac_cq_full(cq)))
		return -EBUSY;
	/*
	 * DW0-2 first, then DW3 with CID, status and the phase tag: the host
	 * owns the entry as soon as it sees the new phase.
	 */
	if (mem->ops->write(mem->opaque, addr, &le, 12))
		return -EFAULT;
	nac_wmb();
	if (mem->ops->write(mem->opaque, addr + 12, &le.cid, 4))
		return -EFAULT;
	if (++cq->tail == cq->size) {
		cq->tail = 0;
		cq->phase ^= 1;
	}
	if (cq->pending++ == 0)
		cq->pending_since = 0;
	return 0;
}

/*
 * The host has consumed everything we posted if its shadow head caught up
 * with our tail; then it is polling and an interrupt would be wasted. The
 * shadow head is only compared, never trusted for anything else.
 */
static bool nac_cq_host_caught_up(struct nac_cq *cq, const struct nac_mem *mem)
{
	uint32_t head;

	if (!cq->shadow_db)
		return false;
	/* Our CQE stores before the shadow head load. */
	nac_mb();
	if (nac_read_u32(mem, cq->shadow_db, &head))
		return false;
	return head == cq->tail;
}

enum nac_irq nac_cq_irq(struct nac_cq *cq, const struct nac_mem *mem,
			uint64_t now, uint64_t *deadline)
{
	uint64_t due = 0;

	if (!cq->irq_enabled || !cq->pending)
		return NAC_IRQ_NONE;
	if (nac_cq_host_caught_up(cq, mem)) {
		cq->pending = 0;
		return NAC_IRQ_NONE;
	}
	/*
	 * Coalescing applies when both a threshold above one entry and an
	 * aggregation time are set: a zero time means "no delay". Where the
	 * host set neither (the reset value), the controller may moderate;
	 * not a vector that opted out of coalescing, nor a full CQ (the host
	 * must make room before anything else completes).
	 */
	if (cq->aggr_thr && cq->aggr_time) {
		if (cq->coalesce && cq->pending <= cq->aggr_thr)
			due = (uint64_t)cq->aggr_time * 100000;
	} else if (cq->mod_time_ns && cq->coalesce && !cq->aggr_thr &&
		   !cq->aggr_time && cq->pending < cq->mod_thr &&
		   !nac_cq_full(cq)) {
		due = cq->mod_time_ns;
	}
	if (due) {
		if (!cq->pending_since)
			cq->pending_since = now ? now : 1;
		due += cq->pending_since;
		if (now < due) {
			*deadline = due;
			return NAC_IRQ_DEFER;
		}
	}
	cq->pending = 0;
	cq->pending_since = 0;
	return NAC_IRQ_NOW;
}
