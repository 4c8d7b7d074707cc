/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nvme-accel datapath core: the few primitives the core needs, taken from
 * the kernel when built in the module and from the C library and compiler
 * builtins when built in userspace (QEMU, unit tests, fuzzers).
 */
#ifndef NVME_ACCEL_NAC_COMPAT_H
#define NVME_ACCEL_NAC_COMPAT_H

#ifdef __KERNEL__
#include <linux/types.h>
#include <linux/string.h>
#include <linux/errno.h>
#include <linux/compiler.h>
#include <linux/limits.h>
#include <asm/byteorder.h>
#include <asm/barrier.h>

#define nac_le16(x)         le16_to_cpu((__force __le16)(x))
#define nac_le32(x)         le32_to_cpu((__force __le32)(x))
#define nac_le64(x)         le64_to_cpu((__force __le64)(x))
#define nac_cpu_to_le16(x)  ((__force uint16_t)cpu_to_le16(x))
#define nac_cpu_to_le32(x)  ((__force uint32_t)cpu_to_le32(x))
#define nac_cpu_to_le64(x)  ((__force uint64_t)cpu_to_le64(x))
#define nac_rmb()           smp_rmb()
#define nac_wmb()           smp_wmb()
#define nac_mb()            smp_mb()
#define nac_likely(x)       likely(x)
#define nac_unlikely(x)     unlikely(x)
/* The core uses the C library's names for integer limits. */
#ifndef UINT32_MAX
#define UINT32_MAX          U32_MAX
#endif

#else /* userspace */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define nac_le16(x)         __builtin_bswap16(x)
#define nac_le32(x)         __builtin_bswap32(x)
#define nac_le64(x)         __builtin_bswap64(x)
#else
#define nac_le16(x)         ((uint16_t)(x))
#define nac_le32(x)         ((uint32_t)(x))
#define nac_le64(x)         ((uint64_t)(x))
#endif
#define nac_cpu_to_le16(x)  nac_le16(x)
#define nac_cpu_to_le32(x)  nac_le32(x)
#define nac_cpu_to_le64(x)  nac_le64(x)
/* Guest memory is shared with other CPUs: C11 fences, as QEMU's smp_*mb(). */
#define nac_rmb()           __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define nac_wmb()           __atomic_thread_fence(__ATOMIC_RELEASE)
#define nac_mb()            __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define nac_likely(x)       __builtin_expect(!!(x), 1)
#define nac_unlikely(x)     __builtin_expect(!!(x), 0)

#endif /* __KERNEL__ */

#endif /* NVME_ACCEL_NAC_COMPAT_H */
