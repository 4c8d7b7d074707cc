/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A guest physical memory for the core's userspace tests and fuzzers: one
 * flat RAM region at a base address, everything else unbacked, accessed
 * only through struct nac_mem_ops like QEMU and the module do.
 */
#ifndef NAC_TEST_FAKE_MEM_H
#define NAC_TEST_FAKE_MEM_H

#include "nvme-accel/nac-core.h"

struct fake_mem {
	uint8_t *ram;
	uint64_t base;
	uint64_t size;
	unsigned reads, writes, translates;
	struct nac_mem mem;
};

void fake_mem_init(struct fake_mem *fm, uint64_t base, uint64_t size);
void fake_mem_destroy(struct fake_mem *fm);
bool fake_mem_contains(const struct fake_mem *fm, uint64_t gpa, uint64_t len);
void *fake_mem_ptr(struct fake_mem *fm, uint64_t gpa);
void fake_mem_put64(struct fake_mem *fm, uint64_t gpa, uint64_t val);
void fake_mem_put32(struct fake_mem *fm, uint64_t gpa, uint32_t val);
uint32_t fake_mem_get32(struct fake_mem *fm, uint64_t gpa);

extern const struct nac_mem_ops fake_mem_ops;

#endif
