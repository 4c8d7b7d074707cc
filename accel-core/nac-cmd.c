// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * nvme-accel datapath core: NVM command set I/O command decode.
 *
 * Read, Write, Compare, Flush, Write Zeroes and Dataset Management become a
 * struct nac_req the backend executes (QEMU's block layer or bios in the
 * module). Everything the guest controls is checked here, once, for both.
 */
#include "nvme-accel/nac-core.h"

/* Starting LBA and block count shared by Read/Write/Compare/Write Zeroes. */
static uint16_t nac_decode_range(const struct nac_ns *ns,
				 const struct nac_sqe *sqe,
				 struct nac_req *req)
{
	uint32_t cdw12 = nac_le32(sqe->cdw12);

	req->slba = (uint64_t)nac_le32(sqe->cdw11) << 32 | nac_le32(sqe->cdw10);
	req->nlb = (cdw12 & NAC_RW_NLB_MASK) + 1;
	req->fua = cdw12 & NAC_RW_FUA;
	/* slba + nlb must not pass the end (nor wrap around it). */
	if (nac_unlikely(req->slba >= ns->nsze ||
			 ns->nsze - req->slba < req->nlb))
		return NAC_SC_LBA_RANGE | NAC_DNR;
	return 0;
}

static uint16_t nac_decode_rw(const struct nac_ctrl *ctrl,
			      const struct nac_ns *ns,
			      const struct nac_mem *mem,
			      const struct nac_sqe *sqe, struct nac_req *req,
			      bool to_guest)
{
	uint16_t status = nac_decode_range(ns, sqe, req);

	if (status)
		return status;
	req->len = (uint64_t)req->nlb << ns->lba_shift;
	if (nac_unlikely(ctrl->max_xfer && req->len > ctrl->max_xfer))
		return NAC_SC_INVALID_FIELD | NAC_DNR;
	if (req->op == NAC_OP_WRITE && ns->read_only)
		return NAC_SC_NS_WRITE_PROTECTED | NAC_DNR;
	return nac_map_req(ctrl, mem, sqe, to_guest, req);
}

static uint16_t nac_decode_write_zeroes(const struct nac_ns *ns,
					const struct nac_sqe *sqe,
					struct nac_req *req)
{
	uint16_t status = nac_decode_range(ns, sqe, req);

	if (status)
		return status;
	if (ns->read_only)
		return NAC_SC_NS_WRITE_PROTECTED | NAC_DNR;
	req->deallocate = nac_le32(sqe->cdw12) & NAC_WZ_DEAC;
	return 0;
}

static uint16_t nac_decode_dsm(const struct nac_ctrl *ctrl,
			       const struct nac_ns *ns,
			       const struct nac_mem *mem,
			       const struct nac_sqe *sqe, struct nac_req *req)
{
	uint32_t nr = (nac_le32(sqe->cdw10) & 0xff) + 1;
	uint16_t status;
	uint32_t i;

	if (!(nac_le32(sqe->cdw11) & NAC_DSM_AD)) {
		/* Attributes without deallocate are hints we may ignore. */
		req->op = NAC_OP_NOP;
		return 0;
	}
	if (ns->read_only)
		return NAC_SC_NS_WRITE_PROTECTED | NAC_DNR;
	/* The caller provides range storage only where it executes DSM. */
	if (!req->ranges)
		return NAC_SC_INTERNAL;
	req->len = nr * sizeof(struct nac_dsm_range);
	status = nac_map_req(ctrl, mem, sqe, false, req);
	if (status)
		return status;
	if (nac_req_read(mem, req, req->ranges))
		return NAC_SC_DATA_TRANSFER_ERROR | NAC_DNR;
	for (i = 0; i < nr; i++) {
		struct nac_dsm_range *r = &req->ranges[i];

		r->cattr = nac_le32(r->cattr);
		r->nlb = nac_le32(r->nlb);
		r->slba = nac_le64(r->slba);
		if (nac_unlikely(r->slba > ns->nsze ||
				 ns->nsze - r->slba < r->nlb))
			return NAC_SC_LBA_RANGE | NAC_DNR;
	}
	req->nr_ranges = nr;
	req->op = NAC_OP_DISCARD;
	return 0;
}

uint16_t nac_cmd_decode(const struct nac_ctrl *ctrl, const struct nac_ns *ns,
			const struct nac_mem *mem, const struct nac_sqe *sqe,
			struct nac_req *req)
{
	uint32_t nsid = nac_le32(sqe->nsid);

	req->cid = sqe->cid;
	req->fua = false;
	req->deallocate = false;
	req->slba = 0;
	req->nlb = 0;
	req->len = 0;
	req->nsg = 0;
	req->nr_ranges = 0;
	req->streamed = false;

	/* Fused operations are not supported (Identify FUSES = 0). */
	if (nac_unlikely(sqe->flags & NAC_SQE_FUSE_MASK))
		return NAC_SC_INVALID_FIELD | NAC_DNR;

	if (sqe->opcode == NAC_CMD_FLUSH) {
		/* Flush may address every namespace (VWC.FB = 11b). */
		if (nac_unlikely(nsid != ns->nsid && nsid != 0xffffffff))
			return NAC_SC_INVALID_NS | NAC_DNR;
		req->op = NAC_OP_FLUSH;
		return 0;
	}
	if (nac_unlikely(nsid != ns->nsid))
		return NAC_SC_INVALID_NS | NAC_DNR;

	switch (sqe->opcode) {
	case NAC_CMD_READ:
		req->op = NAC_OP_READ;
		return nac_decode_rw(ctrl, ns, mem, sqe, req, true);
	case NAC_CMD_WRITE:
		req->op = NAC_OP_WRITE;
		return nac_decode_rw(ctrl, ns, mem, sqe, req, false);
	case NAC_CMD_COMPARE:
		req->op = NAC_OP_COMPARE;
		return nac_decode_rw(ctrl, ns, mem, sqe, req, false);
	case NAC_CMD_WRITE_ZEROES:
		req->op = NAC_OP_WRITE_ZEROES;
		return nac_decode_write_zeroes(ns, sqe, req);
	case NAC_CMD_DSM:
		return nac_decode_dsm(ctrl, ns, mem, sqe, req);
	default:
		return NAC_SC_INVALID_OPCODE | NAC_DNR;
	}
}
