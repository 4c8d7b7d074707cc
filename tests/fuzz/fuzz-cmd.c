// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: one SQE, decoded and its data pointer walked, against a
 * small guest memory whose contents come from the input (PRP lists, SGL
 * segments, DSM ranges), with controller and namespace settings drawn from
 * the input too. Checks the core's own invariants on success.
 *
 * Input: [settings 8][sqe 64][guest memory ...]
 */
#include <stdlib.h>
#include "../core/fake-mem.h"

#define RAM_BASE	0x10000ULL
#define RAM_SIZE	(64u * 1024)
#define SG_MAX		40

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fake_mem fm;
	struct nac_sg sg[SG_MAX];
	struct nac_dsm_range ranges[NAC_DSM_MAX_RANGES];
	struct nac_req req = { .sg = sg, .sg_max = SG_MAX, .ranges = ranges };
	struct nac_ctrl ctrl;
	struct nac_ns ns;
	struct nac_sqe sqe;
	uint64_t total = 0;
	uint16_t status;

	if (size < 8 + sizeof(sqe))
		return 0;
	if (!fm.ram)
		fake_mem_init(&fm, RAM_BASE, RAM_SIZE);
	memset(fm.ram, 0, RAM_SIZE);
	memcpy(fm.ram, data + 72, size - 72 < RAM_SIZE ? size - 72 : RAM_SIZE);

	ctrl.page_shift = 12 + data[0] % 5;
	ctrl.sgl = data[1] & 1;
	ctrl.max_xfer = (data[1] & 2) ? 0 : 4096u << (data[2] % 6);
	ns.nsid = 1;
	ns.lba_shift = data[3] & 1 ? 12 : 9;
	ns.nsze = 1 + (data[4] | data[5] << 8);
	ns.read_only = data[6] & 1;
	memcpy(&sqe, data + 8, sizeof(sqe));

	status = nac_cmd_decode(&ctrl, &ns, &fm.mem, &sqe, &req);
	if (status)
		return 0;
	/* A successful decode never describes more than it may. */
	if (req.nsg > SG_MAX)
		abort();
	for (uint32_t i = 0; i < req.nsg; i++) {
		if (!fake_mem_contains(&fm, req.sg[i].addr, req.sg[i].len) ||
		    !req.sg[i].len)
			abort();
		total += req.sg[i].len;
	}
	if (req.streamed) {
		/*
		 * Too scattered to hold: the list is walked again on copy, and
		 * with guest memory unchanged that walk must succeed too.
		 */
		uint8_t *buf = req.len <= (1u << 20) ? malloc(req.len + 1) : NULL;

		if (req.nsg)
			abort();
		if (buf && (nac_req_read(&fm.mem, &req, buf) ||
			    nac_req_write(&fm.mem, &req, buf)))
			abort();
		free(buf);
		total = req.len;
	}
	if (total != req.len && req.op != NAC_OP_FLUSH &&
	    req.op != NAC_OP_WRITE_ZEROES && req.op != NAC_OP_NOP)
		abort();
	if (req.op == NAC_OP_READ || req.op == NAC_OP_WRITE ||
	    req.op == NAC_OP_COMPARE || req.op == NAC_OP_WRITE_ZEROES) {
		if (req.slba + req.nlb > ns.nsze || req.slba + req.nlb < req.slba)
			abort();
		if (ctrl.max_xfer && req.op != NAC_OP_WRITE_ZEROES &&
		    req.len > ctrl.max_xfer)
			abort();
	}
	if (ns.read_only && (req.op == NAC_OP_WRITE ||
			     req.op == NAC_OP_WRITE_ZEROES ||
			     req.op == NAC_OP_DISCARD))
		abort();
	for (uint32_t i = 0; i < req.nr_ranges; i++)
		if (req.ranges[i].slba + req.ranges[i].nlb > ns.nsze)
			abort();
	return 0;
}
