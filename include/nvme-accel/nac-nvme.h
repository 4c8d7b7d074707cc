/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nvme-accel datapath core: the NVMe 2.0 definitions the I/O path needs.
 *
 * QEMU has include/block/nvme.h and Linux include/linux/nvme.h; the core
 * builds in both worlds and in plain userspace, so it carries the small
 * subset it uses under its own prefix. Layouts are little-endian on the wire.
 */
#ifndef NVME_ACCEL_NAC_NVME_H
#define NVME_ACCEL_NAC_NVME_H

#include "nac-compat.h"

/* Submission queue entry (NVMe 2.0 base, figure 88). */
struct nac_sqe {
	uint8_t  opcode;
	uint8_t  flags;		/* FUSE (1:0), PSDT (7:6) */
	uint16_t cid;
	uint32_t nsid;
	uint32_t cdw2;
	uint32_t cdw3;
	uint64_t mptr;
	uint64_t dptr1;		/* PRP1, or first 8 bytes of SGL1 */
	uint64_t dptr2;		/* PRP2, or last 8 bytes of SGL1 */
	uint32_t cdw10;
	uint32_t cdw11;
	uint32_t cdw12;
	uint32_t cdw13;
	uint32_t cdw14;
	uint32_t cdw15;
};

/*
 * Completion queue entry (figure 90). nac_cq_post() takes it host endian,
 * except @cid, which is opaque and passed back as fetched from the SQE.
 */
struct nac_cqe {
	uint32_t result;
	uint32_t dw1;
	uint16_t sq_head;
	uint16_t sq_id;
	uint16_t cid;
	uint16_t status;	/* phase in bit 0, status field in 15:1 */
};

/* SGL descriptor (figure 114). */
struct nac_sgl_desc {
	uint64_t addr;
	uint32_t len;
	uint8_t  rsvd[3];
	uint8_t  type;		/* descriptor type (7:4), sub type (3:0) */
};

/* Dataset Management range (figure 371). */
struct nac_dsm_range {
	uint32_t cattr;
	uint32_t nlb;
	uint64_t slba;
};

#define NAC_SQE_SIZE		64
#define NAC_CQE_SIZE		16
#define NAC_SQE_FUSE_MASK	0x03
#define NAC_SQE_PSDT_SHIFT	6
#define NAC_PSDT_PRP		0
#define NAC_PSDT_SGL_MPTR_CONTIG 1
#define NAC_PSDT_SGL_MPTR_SGL	2

#define NAC_SGL_TYPE_DATA_BLOCK		0x0
#define NAC_SGL_TYPE_BIT_BUCKET		0x1
#define NAC_SGL_TYPE_SEGMENT		0x2
#define NAC_SGL_TYPE_LAST_SEGMENT	0x3
#define NAC_SGL_SUBTYPE_ADDRESS		0x0

/* NVM command set I/O opcodes. */
enum {
	NAC_CMD_FLUSH		= 0x00,
	NAC_CMD_WRITE		= 0x01,
	NAC_CMD_READ		= 0x02,
	NAC_CMD_COMPARE		= 0x05,
	NAC_CMD_WRITE_ZEROES	= 0x08,
	NAC_CMD_DSM		= 0x09,
};

/* Read/Write CDW12 */
#define NAC_RW_NLB_MASK		0xffff
#define NAC_RW_FUA		(1u << 30)
#define NAC_RW_LR		(1u << 31)
#define NAC_RW_PRINFO_SHIFT	26
#define NAC_RW_PRINFO_MASK	0xf
#define NAC_WZ_DEAC		(1u << 25)
/* Dataset Management CDW11 */
#define NAC_DSM_AD		(1u << 2)
#define NAC_DSM_MAX_RANGES	256

/*
 * Status field (CQE DW3 31:17), as QEMU keeps it: SCT in 10:8, SC in 7:0,
 * More in 13, DNR in 14. The CQE carries it shifted left by one, above the
 * phase tag.
 */
#define NAC_DNR			0x4000
#define NAC_MORE		0x2000
enum {
	NAC_SC_SUCCESS			= 0x0000,
	NAC_SC_INVALID_OPCODE		= 0x0001,
	NAC_SC_INVALID_FIELD		= 0x0002,
	NAC_SC_CID_CONFLICT		= 0x0003,
	NAC_SC_DATA_TRANSFER_ERROR	= 0x0004,
	NAC_SC_INTERNAL			= 0x0006,
	NAC_SC_ABORT_REQ		= 0x0007,
	NAC_SC_ABORT_SQ_DELETED		= 0x0008,
	NAC_SC_INVALID_NS		= 0x000b,
	NAC_SC_CMD_SEQ_ERROR		= 0x000c,
	NAC_SC_SGL_INVALID_SEGMENT	= 0x000d,
	NAC_SC_SGL_INVALID_COUNT	= 0x000e,
	NAC_SC_SGL_INVALID_DATA_LEN	= 0x000f,
	NAC_SC_SGL_INVALID_MD_LEN	= 0x0010,
	NAC_SC_SGL_INVALID_TYPE		= 0x0011,
	NAC_SC_PRP_INVALID_OFFSET	= 0x0013,
	NAC_SC_SGL_INVALID_OFFSET	= 0x0016,
	NAC_SC_NS_WRITE_PROTECTED	= 0x0020,
	NAC_SC_LBA_RANGE		= 0x0080,
	NAC_SC_CAP_EXCEEDED		= 0x0081,
	NAC_SC_NS_NOT_READY		= 0x0082,
	/* Media and data integrity errors (SCT 2). */
	NAC_SC_WRITE_FAULT		= 0x0280,
	NAC_SC_UNRECOVERED_READ		= 0x0281,
	NAC_SC_COMPARE_FAILURE		= 0x0285,
	NAC_SC_ACCESS_DENIED		= 0x0286,
};

#endif /* NVME_ACCEL_NAC_NVME_H */
