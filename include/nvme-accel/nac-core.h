/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nvme-accel datapath core ("nac")
 *
 * The code every I/O command of an accelerated NVMe controller runs through,
 * written once and compiled into QEMU's userspace datapath, the kvm-accel
 * kernel module, the unit tests and the fuzzers:
 *
 *   - submission/completion queue state: doorbells, shadow doorbells and
 *     event indexes, phase tags, full/empty, interrupt decisions;
 *   - I/O command decode into a backend request;
 *   - data pointer walk (PRP lists, SGLs) into a scatter list.
 *
 * The core never allocates and never touches guest memory directly: the
 * caller passes a struct nac_mem whose ops copy to and from guest physical
 * addresses (QEMU: address_space_rw; the module: pinned pages / vfio_dma_rw).
 * This is the shape of drivers/vhost/vringh.c.
 *
 * Queue state is plain data (addresses, sizes, head, tail, phase, shadow
 * addresses): it can be handed from QEMU to the module and back.
 *
 * Functions that answer a guest command return an NVMe status field value
 * (NAC_SC_* | NAC_DNR, 0 on success). Functions that manage state return 0
 * or a negative errno.
 */
#ifndef NVME_ACCEL_NAC_CORE_H
#define NVME_ACCEL_NAC_CORE_H

#include "nac-compat.h"
#include "nac-nvme.h"

struct nac_mem_ops {
	/* Copy @len bytes at guest physical address @gpa; 0 or -EFAULT. */
	int (*read)(void *opaque, uint64_t gpa, void *buf, uint32_t len);
	int (*write)(void *opaque, uint64_t gpa, const void *buf, uint32_t len);
	/*
	 * Optional: is [@gpa, @gpa + @len) guest memory that the backend may
	 * transfer data to (@to_guest) or from? 0 or -EFAULT. Called once per
	 * merged scatter list segment after a successful walk.
	 */
	int (*translate)(void *opaque, uint64_t gpa, uint32_t len, bool to_guest);
};

struct nac_mem {
	const struct nac_mem_ops *ops;
	void *opaque;
};

/* --- queues ------------------------------------------------------------ */

struct nac_sq {
	uint64_t base;		/* guest address of entry 0 */
	uint64_t shadow_db;	/* shadow tail doorbell, 0 if none */
	uint64_t eventidx;	/* event index for the tail, 0 if none */
	uint32_t size;		/* entries, 2..65536 */
	uint32_t head;		/* next entry the controller fetches */
	uint32_t tail;		/* last valid tail the host gave us */
	uint16_t qid;
	uint16_t cqid;
};

struct nac_cq {
	uint64_t base;
	uint64_t shadow_db;	/* shadow head doorbell, 0 if none */
	uint64_t eventidx;
	uint32_t size;
	uint32_t head;		/* last valid head the host gave us */
	uint32_t tail;		/* next entry the controller writes */
	uint16_t qid;
	uint16_t vector;
	uint8_t  phase;		/* phase tag of the entries being written */
	bool     irq_enabled;
	/* Interrupt coalescing (Feature 08h), unless the vector opts out. */
	bool     coalesce;
	uint8_t  aggr_thr;	/* 0's based entry count */
	uint8_t  aggr_time;	/* 100 us units */
	uint32_t pending;	/* entries posted since the last interrupt */
	uint64_t pending_since;	/* ns timestamp of the first of those */
	/*
	 * Moderation the controller chooses where the host set no
	 * coalescing (aggr_thr and aggr_time 0): an interrupt once mod_thr
	 * entries wait, or the first has waited mod_time_ns. 0 (either) is
	 * off.
	 */
	uint32_t mod_thr;
	uint32_t mod_time_ns;
};

int nac_sq_init(struct nac_sq *sq, uint16_t qid, uint16_t cqid,
		uint64_t base, uint32_t size);
int nac_cq_init(struct nac_cq *cq, uint16_t qid, uint16_t vector,
		bool irq_enabled, uint64_t base, uint32_t size);
void nac_sq_set_shadow(struct nac_sq *sq, uint64_t shadow_db,
		       uint64_t eventidx);
void nac_cq_set_shadow(struct nac_cq *cq, uint64_t shadow_db,
		       uint64_t eventidx);

static inline bool nac_sq_empty(const struct nac_sq *sq)
{
	return sq->head == sq->tail;
}

/* Entries the host has submitted that the controller has not fetched. */
static inline uint32_t nac_sq_pending(const struct nac_sq *sq)
{
	return (sq->tail + sq->size - sq->head) % sq->size;
}

/* Full: one more entry would make tail == head (modulo, never "+1"). */
static inline bool nac_cq_full(const struct nac_cq *cq)
{
	return (cq->tail + 1) % cq->size == cq->head;
}

/* New tail written to the SQ tail doorbell; -EINVAL if out of range. */
int nac_sq_doorbell(struct nac_sq *sq, uint32_t tail);
/* New head written to the CQ head doorbell; -EINVAL if out of range. */
int nac_cq_doorbell(struct nac_cq *cq, uint32_t head);

/*
 * Shadow doorbells (Doorbell Buffer Config): pick up the value the host
 * wrote to the shadow buffer; same validation as the MMIO doorbell.
 */
int nac_sq_read_shadow(struct nac_sq *sq, const struct nac_mem *mem);
int nac_cq_read_shadow(struct nac_cq *cq, const struct nac_mem *mem);

/*
 * Before the controller stops looking at a queue: publish the tail seen so
 * far as event index (the host then rings the MMIO doorbell for anything
 * newer), then re-read the shadow tail to close the race with a host that
 * updated it before seeing the new event index. Returns 1 if entries
 * arrived meanwhile, 0 if the queue is idle, negative errno on a fault.
 */
int nac_sq_arm(struct nac_sq *sq, const struct nac_mem *mem);

/*
 * The same for a CQ head: publish the head seen so far as event index, so
 * that the host rings the MMIO head doorbell at its next reap (a full CQ
 * waiting for room, a pin-based interrupt waiting to drop), then re-read
 * the shadow head. Returns 1 if the host moved the head meanwhile, 0 if
 * not, negative errno on a fault or a bogus value.
 */
int nac_cq_arm(struct nac_cq *cq, const struct nac_mem *mem);

/* Copy the next entry out of the SQ; -EAGAIN if empty, -EFAULT. */
int nac_sq_fetch(struct nac_sq *sq, const struct nac_mem *mem,
		 struct nac_sqe *sqe);

/*
 * Give back the entry just fetched, before any completion reported the new
 * head: the next fetch reads it again.
 */
static inline void nac_sq_unfetch(struct nac_sq *sq)
{
	sq->head = (sq->head ? sq->head : sq->size) - 1;
}

/*
 * Post a completion: fills in the phase tag, writes the entry so that the
 * phase tag becomes visible last, advances the tail. @cqe->status holds the
 * status field without the phase tag. -EBUSY if full, -EFAULT.
 */
int nac_cq_post(struct nac_cq *cq, const struct nac_mem *mem,
		const struct nac_cqe *cqe);

enum nac_irq {
	NAC_IRQ_NONE,		/* nothing to signal */
	NAC_IRQ_NOW,		/* signal the vector now */
	NAC_IRQ_DEFER,		/* coalescing: ask again at *deadline */
};

/*
 * Should the CQ's vector fire? Honours interrupt coalescing (threshold and
 * time), else the controller's own moderation (mod_thr, mod_time_ns), and
 * skips the interrupt when the host's shadow head shows it has
 * already consumed every posted entry (it is polling). Call after a batch
 * of nac_cq_post(); @now is a monotonic ns clock. On NAC_IRQ_NOW the
 * pending count is reset: the caller must signal.
 */
enum nac_irq nac_cq_irq(struct nac_cq *cq, const struct nac_mem *mem,
			uint64_t now, uint64_t *deadline);

/* --- commands ---------------------------------------------------------- */

/* Controller settings the I/O path depends on. */
struct nac_ctrl {
	uint8_t  page_shift;	/* 12 + CC.MPS */
	bool     sgl;		/* SGLs advertised in Identify SGLS */
	uint32_t max_xfer;	/* MDTS in bytes; 0: no limit */
};

struct nac_ns {
	uint64_t nsze;		/* size in logical blocks */
	uint32_t nsid;
	uint8_t  lba_shift;
	bool     read_only;
};

struct nac_sg {
	uint64_t addr;
	uint32_t len;
};

/* Backend operations a command decodes into. */
enum nac_op {
	NAC_OP_READ,
	NAC_OP_WRITE,
	NAC_OP_FLUSH,
	NAC_OP_WRITE_ZEROES,
	NAC_OP_DISCARD,		/* Dataset Management with AD set */
	NAC_OP_NOP,		/* Dataset Management hints only */
	NAC_OP_COMPARE,
};

struct nac_req {
	/* Caller-provided storage, set up once per request slot. */
	struct nac_sg *sg;
	uint32_t sg_max;
	struct nac_dsm_range *ranges;	/* NAC_DSM_MAX_RANGES entries */

	/* Output of nac_cmd_decode(). */
	enum nac_op op;
	uint16_t cid;
	bool     fua;
	bool     deallocate;	/* Write Zeroes DEAC */
	uint64_t slba;
	uint32_t nlb;		/* 1's based block count */
	uint64_t len;		/* data bytes */
	uint32_t nsg;
	uint32_t nr_ranges;	/* DSM ranges, host endian */
	/*
	 * The SGL has more discontiguous blocks than @sg holds (nsg is 0):
	 * nac_req_read() and nac_req_write() walk it again from @sgl1.
	 */
	bool streamed;
	struct nac_sgl_desc sgl1;
};

/*
 * Validate and decode an NVM command set I/O command. On success the
 * request describes the operation and, for data commands, the guest
 * scatter list (merged where contiguous). DSM ranges are read from guest
 * memory and validated. Returns an NVMe status field value.
 */
uint16_t nac_cmd_decode(const struct nac_ctrl *ctrl, const struct nac_ns *ns,
			const struct nac_mem *mem, const struct nac_sqe *sqe,
			struct nac_req *req);

/*
 * Not an NVMe status: the SGL is valid (translate passed on every block)
 * but has more discontiguous blocks than @sg_max. Only SGL walks return
 * it; nac_map_req() turns it into a streamed request.
 */
#define NAC_SG_FULL		0xffff

/*
 * Walk a command's data pointer (PRP or SGL, by PSDT) for @len bytes.
 * @to_guest: the controller will write the guest's buffer (a read).
 */
uint16_t nac_map_dptr(const struct nac_ctrl *ctrl, const struct nac_mem *mem,
		      const struct nac_sqe *sqe, uint64_t len, bool to_guest,
		      struct nac_sg *sg, uint32_t sg_max, uint32_t *nsg);
uint16_t nac_map_prp(const struct nac_ctrl *ctrl, const struct nac_mem *mem,
		     uint64_t prp1, uint64_t prp2, uint64_t len, bool to_guest,
		     struct nac_sg *sg, uint32_t sg_max, uint32_t *nsg);
uint16_t nac_map_sgl(const struct nac_ctrl *ctrl, const struct nac_mem *mem,
		     const struct nac_sgl_desc *sgl1, uint64_t len,
		     bool to_guest, struct nac_sg *sg, uint32_t sg_max,
		     uint32_t *nsg);

/*
 * Map the data pointer of @sqe for req->len bytes into req->sg, or mark the
 * request streamed when its SGL does not fit (see nac_req.streamed).
 */
uint16_t nac_map_req(const struct nac_ctrl *ctrl, const struct nac_mem *mem,
		     const struct nac_sqe *sqe, bool to_guest,
		     struct nac_req *req);

/*
 * Copy req->len bytes between the request's guest buffer and a flat one,
 * streamed or not. 0, or -EFAULT/-EINVAL (a data transfer error).
 */
int nac_req_read(const struct nac_mem *mem, const struct nac_req *req,
		 void *buf);
int nac_req_write(const struct nac_mem *mem, const struct nac_req *req,
		  const void *buf);

/* Copy between a scatter list in guest memory and a flat buffer. */
int nac_sg_read(const struct nac_mem *mem, const struct nac_sg *sg,
		uint32_t nsg, void *buf, uint64_t len);
int nac_sg_write(const struct nac_mem *mem, const struct nac_sg *sg,
		 uint32_t nsg, const void *buf, uint64_t len);

/* Largest SGL the walk follows: bounds work and cycles in guest lists. */
#define NAC_SGL_MAX_DESC	1024

/*
 * Scatter list entries a PRP walk of @max_xfer bytes can need: the pages
 * it spans, plus one when it does not start on a page boundary.
 */
static inline uint32_t nac_prp_sg_max(uint32_t max_xfer, uint8_t page_shift)
{
	uint64_t page = 1ull << page_shift;

	return (uint32_t)((max_xfer + page - 1) >> page_shift) + 1;
}

#endif /* NVME_ACCEL_NAC_CORE_H */
