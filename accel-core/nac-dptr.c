// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * nvme-accel datapath core: data pointer walk.
 *
 * PRP1/PRP2, PRP lists over several list pages, and SGLs (data block,
 * segment, last segment) become a scatter list of guest physical ranges,
 * merged where contiguous. Every rule of NVMe 2.0 4.1 (PRP) and 4.3 (SGL)
 * that a guest can break is answered with the status the spec names.
 */
#include "nvme-accel/nac-core.h"

/* PRP list entries read per guest memory access. */
#define NAC_PRP_CHUNK	32

static uint16_t nac_sg_add(struct nac_sg *sg, uint32_t sg_max, uint32_t *nsg,
			   uint64_t addr, uint32_t len, uint16_t overflow)
{
	uint32_t n = *nsg;

	if (n && sg[n - 1].addr + sg[n - 1].len == addr &&
	    (uint64_t)sg[n - 1].len + len <= UINT32_MAX) {
		sg[n - 1].len += len;
		return 0;
	}
	if (nac_unlikely(n == sg_max))
		return overflow;
	sg[n].addr = addr;
	sg[n].len = len;
	*nsg = n + 1;
	return 0;
}

/* Check every segment is guest memory the backend may use. */
static uint16_t nac_sg_translate(const struct nac_mem *mem,
				 const struct nac_sg *sg, uint32_t nsg,
				 bool to_guest)
{
	uint32_t i;

	for (i = 0; i < nsg; i++) {
		if (nac_unlikely(sg[i].addr + sg[i].len < sg[i].addr))
			return NAC_SC_DATA_TRANSFER_ERROR | NAC_DNR;
		if (mem->ops->translate &&
		    mem->ops->translate(mem->opaque, sg[i].addr, sg[i].len,
					to_guest))
			return NAC_SC_DATA_TRANSFER_ERROR | NAC_DNR;
	}
	return 0;
}

/*
 * Walk a PRP list starting at @list for @remaining bytes of whole pages.
 * Entries hold page-aligned data pages; the last entry of a list page that
 * is not enough points to the next list page.
 */
static uint16_t nac_prp_list(const struct nac_ctrl *ctrl,
			     const struct nac_mem *mem, uint64_t list,
			     uint64_t remaining, struct nac_sg *sg,
			     uint32_t sg_max, uint32_t *nsg)
{
	uint64_t page = 1ULL << ctrl->page_shift, mask = page - 1;
	uint64_t ent[NAC_PRP_CHUNK];
	uint16_t status;

	while (remaining) {
		uint64_t in_page = (page - (list & mask)) / sizeof(uint64_t);
		uint64_t needed = (remaining + mask) >> ctrl->page_shift;
		bool chain = needed > in_page;
		uint64_t count = chain ? in_page : needed;
		uint64_t i, n;

		for (i = 0; i < count; i += n) {
			uint64_t j;

			n = count - i < NAC_PRP_CHUNK ? count - i : NAC_PRP_CHUNK;
			if (mem->ops->read(mem->opaque, list + i * 8, ent, n * 8))
				return NAC_SC_DATA_TRANSFER_ERROR | NAC_DNR;
			for (j = 0; j < n; j++) {
				uint64_t e = nac_le64(ent[j]);
				uint32_t len;

				/* Every list entry, the chain pointer too. */
				if (nac_unlikely(e & mask))
					return NAC_SC_PRP_INVALID_OFFSET | NAC_DNR;
				if (chain && i + j == count - 1) {
					list = e;
					break;
				}
				len = remaining < page ? remaining : page;
				status = nac_sg_add(sg, sg_max, nsg, e, len,
						    NAC_SC_INVALID_FIELD | NAC_DNR);
				if (status)
					return status;
				remaining -= len;
			}
		}
	}
	return 0;
}

uint16_t nac_map_prp(const struct nac_ctrl *ctrl, const struct nac_mem *mem,
		     uint64_t prp1, uint64_t prp2, uint64_t len, bool to_guest,
		     struct nac_sg *sg, uint32_t sg_max, uint32_t *nsg)
{
	uint64_t page = 1ULL << ctrl->page_shift, mask = page - 1;
	uint64_t first;
	uint16_t status;

	*nsg = 0;
	if (!len)
		return 0;
	/* PRP1 may carry an offset, but it must be dword aligned. */
	if (nac_unlikely(prp1 & 3))
		return NAC_SC_PRP_INVALID_OFFSET | NAC_DNR;
	first = page - (prp1 & mask);
	if (first > len)
		first = len;
	status = nac_sg_add(sg, sg_max, nsg, prp1, first,
			    NAC_SC_INVALID_FIELD | NAC_DNR);
	if (status)
		return status;
	len -= first;

	if (len && len <= page) {
		/* PRP2 is the second data page: no offset allowed. */
		if (nac_unlikely(prp2 & mask))
			return NAC_SC_PRP_INVALID_OFFSET | NAC_DNR;
		status = nac_sg_add(sg, sg_max, nsg, prp2, len,
				    NAC_SC_INVALID_FIELD | NAC_DNR);
	} else if (len) {
		/* PRP2 points to a PRP list: qword aligned, may have offset. */
		if (nac_unlikely(prp2 & 7))
			return NAC_SC_PRP_INVALID_OFFSET | NAC_DNR;
		status = nac_prp_list(ctrl, mem, prp2, len, sg, sg_max, nsg);
	}
	if (status)
		return status;
	return nac_sg_translate(mem, sg, *nsg, to_guest);
}

/*
 * One walk of an SGL for @remaining bytes. Each data block goes into the
 * scatter list until it is full (the rest is then checked with translate
 * as it goes), or, in copy mode, is copied to or from @buf.
 */
struct nac_sgl_walk {
	const struct nac_mem *mem;
	bool copy;
	bool to_guest;
	struct nac_sg *sg;
	uint32_t sg_max;
	uint32_t *nsg;
	bool full;		/* @sg ran out of entries */
	uint8_t *buf;		/* copy mode */
	uint64_t remaining;
	uint32_t ndesc;
};

static uint16_t nac_sgl_data(struct nac_sgl_walk *w,
			     const struct nac_sgl_desc *d)
{
	const struct nac_mem *mem = w->mem;
	uint64_t addr = nac_le64(d->addr);
	uint32_t len = nac_le32(d->len);

	if (nac_unlikely((d->type & 0xf) != NAC_SGL_SUBTYPE_ADDRESS))
		return NAC_SC_SGL_INVALID_TYPE | NAC_DNR;
	if (!len)
		return 0;
	/* We do not advertise SGLs longer than the transfer (SGLS bit 16). */
	if (nac_unlikely(len > w->remaining))
		return NAC_SC_SGL_INVALID_DATA_LEN | NAC_DNR;
	if (nac_unlikely(addr + len < addr))
		return NAC_SC_DATA_TRANSFER_ERROR | NAC_DNR;
	w->remaining -= len;
	if (w->copy) {
		int ret = w->to_guest ?
			  mem->ops->write(mem->opaque, addr, w->buf, len) :
			  mem->ops->read(mem->opaque, addr, w->buf, len);

		if (ret)
			return NAC_SC_DATA_TRANSFER_ERROR | NAC_DNR;
		w->buf += len;
		return 0;
	}
	if (!w->full && nac_sg_add(w->sg, w->sg_max, w->nsg, addr, len, 1))
		w->full = true;
	/* Not in the list: checked now, as the list is at the end. */
	if (w->full && mem->ops->translate &&
	    mem->ops->translate(mem->opaque, addr, len, w->to_guest))
		return NAC_SC_DATA_TRANSFER_ERROR | NAC_DNR;
	return 0;
}

/* A segment descriptor: where the next segment is, and how long. */
static uint16_t nac_sgl_segment_ok(const struct nac_sgl_desc *d)
{
	uint32_t len = nac_le32(d->len);

	if (nac_unlikely((d->type & 0xf) != NAC_SGL_SUBTYPE_ADDRESS))
		return NAC_SC_SGL_INVALID_TYPE | NAC_DNR;
	if (nac_unlikely(!len || len % sizeof(struct nac_sgl_desc)))
		return NAC_SC_SGL_INVALID_SEGMENT | NAC_DNR;
	return 0;
}

static uint16_t nac_sgl_walk(struct nac_sgl_walk *w,
			     const struct nac_sgl_desc *sgl1)
{
	const struct nac_mem *mem = w->mem;
	struct nac_sgl_desc seg = *sgl1, d[8];
	bool last = false;
	uint16_t status;

	switch (sgl1->type >> 4) {
	case NAC_SGL_TYPE_DATA_BLOCK:
		status = nac_sgl_data(w, sgl1);
		goto done;
	case NAC_SGL_TYPE_SEGMENT:
		break;
	case NAC_SGL_TYPE_LAST_SEGMENT:
		last = true;
		break;
	default:
		return NAC_SC_SGL_INVALID_TYPE | NAC_DNR;
	}

	/* @seg describes the next segment to read. */
	for (;;) {
		uint64_t addr = nac_le64(seg.addr);
		uint32_t n = nac_le32(seg.len) / sizeof(struct nac_sgl_desc);
		uint32_t i = 0, k, chunk;
		bool next = false;

		status = nac_sgl_segment_ok(&seg);
		if (status)
			return status;
		if (!w->remaining)	/* more list than data */
			return NAC_SC_SGL_INVALID_DATA_LEN | NAC_DNR;
		if (nac_unlikely(w->ndesc + n > NAC_SGL_MAX_DESC))
			return NAC_SC_SGL_INVALID_COUNT | NAC_DNR;
		w->ndesc += n;

		while (i < n) {
			chunk = n - i < 8 ? n - i : 8;
			if (mem->ops->read(mem->opaque, addr + i * 16ULL, d,
					   chunk * sizeof(d[0])))
				return NAC_SC_DATA_TRANSFER_ERROR | NAC_DNR;
			for (k = 0; k < chunk; k++, i++) {
				uint8_t type = d[k].type >> 4;

				if (type == NAC_SGL_TYPE_DATA_BLOCK) {
					status = nac_sgl_data(w, &d[k]);
					if (status)
						return status;
					continue;
				}
				if (type != NAC_SGL_TYPE_SEGMENT &&
				    type != NAC_SGL_TYPE_LAST_SEGMENT)
					return NAC_SC_SGL_INVALID_TYPE | NAC_DNR;
				/* A segment descriptor may only end a segment */
				if (i != n - 1)
					return NAC_SC_SGL_INVALID_COUNT |
					       NAC_DNR;
				/* ... and the last segment may not have one. */
				if (last)
					return NAC_SC_SGL_INVALID_SEGMENT |
					       NAC_DNR;
				seg = d[k];
				last = type == NAC_SGL_TYPE_LAST_SEGMENT;
				next = true;
			}
		}
		if (!next)
			break;
	}

done:
	if (status)
		return status;
	if (nac_unlikely(w->remaining))
		return NAC_SC_SGL_INVALID_DATA_LEN | NAC_DNR;
	return 0;
}

uint16_t nac_map_sgl(const struct nac_ctrl *ctrl, const struct nac_mem *mem,
		     const struct nac_sgl_desc *sgl1, uint64_t len,
		     bool to_guest, struct nac_sg *sg, uint32_t sg_max,
		     uint32_t *nsg)
{
	struct nac_sgl_walk w = {
		.mem = mem, .to_guest = to_guest, .sg = sg, .sg_max = sg_max,
		.nsg = nsg, .remaining = len,
	};
	uint16_t status;

	(void)ctrl;
	*nsg = 0;
	status = nac_sgl_walk(&w, sgl1);
	if (!status)
		status = nac_sg_translate(mem, sg, *nsg, to_guest);
	return status ? status : w.full ? NAC_SG_FULL : 0;
}

/* SGL1 spans dptr1 and dptr2: copy it out field by field. */
static void nac_sqe_sgl1(const struct nac_sqe *sqe, struct nac_sgl_desc *sgl1)
{
	memcpy(sgl1, &sqe->dptr1, sizeof(sqe->dptr1));
	memcpy((uint8_t *)sgl1 + sizeof(sqe->dptr1), &sqe->dptr2,
	       sizeof(sqe->dptr2));
}

uint16_t nac_map_dptr(const struct nac_ctrl *ctrl, const struct nac_mem *mem,
		      const struct nac_sqe *sqe, uint64_t len, bool to_guest,
		      struct nac_sg *sg, uint32_t sg_max, uint32_t *nsg)
{
	struct nac_sgl_desc sgl1;

	switch (sqe->flags >> NAC_SQE_PSDT_SHIFT) {
	case NAC_PSDT_PRP:
		return nac_map_prp(ctrl, mem, nac_le64(sqe->dptr1),
				   nac_le64(sqe->dptr2), len, to_guest,
				   sg, sg_max, nsg);
	case NAC_PSDT_SGL_MPTR_CONTIG:
	case NAC_PSDT_SGL_MPTR_SGL:
		/* No metadata is supported, so MPTR is never used. */
		if (!ctrl->sgl)
			return NAC_SC_INVALID_FIELD | NAC_DNR;
		nac_sqe_sgl1(sqe, &sgl1);
		return nac_map_sgl(ctrl, mem, &sgl1, len, to_guest,
				   sg, sg_max, nsg);
	default:
		return NAC_SC_INVALID_FIELD | NAC_DNR;
	}
}

/* Walk @len bytes of a scatter list, copying with @read or @write. */
static int nac_sg_copy(const struct nac_mem *mem, const struct nac_sg *sg,
		       uint32_t nsg, uint8_t *buf, uint64_t len, bool to_guest)
{
	uint32_t i;

	for (i = 0; i < nsg && len; i++) {
		uint32_t n = sg[i].len < len ? sg[i].len : (uint32_t)len;
		int ret = to_guest ?
			  mem->ops->write(mem->opaque, sg[i].addr, buf, n) :
			  mem->ops->read(mem->opaque, sg[i].addr, buf, n);

		if (ret)
			return -EFAULT;
		buf += n;
		len -= n;
	}
	return len ? -EINVAL : 0;
}

uint16_t nac_map_req(const struct nac_ctrl *ctrl, const struct nac_mem *mem,
		     const struct nac_sqe *sqe, bool to_guest,
		     struct nac_req *req)
{
	uint16_t status;

	req->streamed = false;
	status = nac_map_dptr(ctrl, mem, sqe, req->len, to_guest, req->sg,
			      req->sg_max, &req->nsg);
	if (status != NAC_SG_FULL)
		return status;
	/* Valid, only too scattered to hold: walk it again when copying. */
	req->nsg = 0;
	req->streamed = true;
	nac_sqe_sgl1(sqe, &req->sgl1);
	return 0;
}

static int nac_req_copy(const struct nac_mem *mem, const struct nac_req *req,
			uint8_t *buf, bool to_guest)
{
	struct nac_sgl_walk w = {
		.mem = mem, .copy = true, .to_guest = to_guest, .buf = buf,
		.remaining = req->len,
	};

	if (!req->streamed)
		return nac_sg_copy(mem, req->sg, req->nsg, buf, req->len,
				   to_guest);
	/* The guest may have changed its list since: same checks again. */
	return nac_sgl_walk(&w, &req->sgl1) ? -EFAULT : 0;
}

int nac_req_read(const struct nac_mem *mem, const struct nac_req *req,
		 void *buf)
{
	return nac_req_copy(mem, req, buf, false);
}

int nac_req_write(const struct nac_mem *mem, const struct nac_req *req,
		  const void *buf)
{
	return nac_req_copy(mem, req, (uint8_t *)buf, true);
}

int nac_sg_read(const struct nac_mem *mem, const struct nac_sg *sg,
		uint32_t nsg, void *buf, uint64_t len)
{
	return nac_sg_copy(mem, sg, nsg, buf, len, false);
}

int nac_sg_write(const struct nac_mem *mem, const struct nac_sg *sg,
		 uint32_t nsg, const void *buf, uint64_t len)
{
	return nac_sg_copy(mem, sg, nsg, (uint8_t *)buf, len, true);
}
