// SPDX-License-Identifier: GPL-2.0-or-later
#include <stdlib.h>
#include <stdio.h>
#include "fake-mem.h"

bool fake_mem_contains(const struct fake_mem *fm, uint64_t gpa, uint64_t len)
{
	return gpa >= fm->base && len <= fm->size &&
	       gpa - fm->base <= fm->size - len;
}

static int fm_read(void *opaque, uint64_t gpa, void *buf, uint32_t len)
{
	struct fake_mem *fm = opaque;

	fm->reads++;
	if (!fake_mem_contains(fm, gpa, len))
		return -EFAULT;
	memcpy(buf, fm->ram + (gpa - fm->base), len);
	return 0;
}

static int fm_write(void *opaque, uint64_t gpa, const void *buf, uint32_t len)
{
	struct fake_mem *fm = opaque;

	fm->writes++;
	if (!fake_mem_contains(fm, gpa, len))
		return -EFAULT;
	memcpy(fm->ram + (gpa - fm->base), buf, len);
	return 0;
}

static int fm_translate(void *opaque, uint64_t gpa, uint32_t len, bool to_guest)
{
	struct fake_mem *fm = opaque;

	(void)to_guest;
	fm->translates++;
	return fake_mem_contains(fm, gpa, len) ? 0 : -EFAULT;
}

const struct nac_mem_ops fake_mem_ops = {
	.read = fm_read,
	.write = fm_write,
	.translate = fm_translate,
};

void fake_mem_init(struct fake_mem *fm, uint64_t base, uint64_t size)
{
	memset(fm, 0, sizeof(*fm));
	fm->ram = calloc(1, size);
	if (!fm->ram) {
		perror("calloc");
		abort();
	}
	fm->base = base;
	fm->size = size;
	fm->mem.ops = &fake_mem_ops;
	fm->mem.opaque = fm;
}

void fake_mem_destroy(struct fake_mem *fm)
{
	free(fm->ram);
	fm->ram = NULL;
}

void *fake_mem_ptr(struct fake_mem *fm, uint64_t gpa)
{
	if (!fake_mem_contains(fm, gpa, 1))
		abort();
	return fm->ram + (gpa - fm->base);
}

void fake_mem_put64(struct fake_mem *fm, uint64_t gpa, uint64_t val)
{
	uint64_t le = nac_cpu_to_le64(val);

	memcpy(fake_mem_ptr(fm, gpa), &le, 8);
}

void fake_mem_put32(struct fake_mem *fm, uint64_t gpa, uint32_t val)
{
	uint32_t le = nac_cpu_to_le32(val);

	memcpy(fake_mem_ptr(fm, gpa), &le, 4);
}

uint32_t fake_mem_get32(struct fake_mem *fm, uint64_t gpa)
{
	uint32_t le;

	memcpy(&le, fake_mem_ptr(fm, gpa), 4);
	return nac_le32(le);
}
