/*
 * nvme-accel: guest memory access for the datapath core
 *
 * The device only touches guest RAM. Queue rings are accessed through a
 * MemoryRegionCache (the direct pointer virtio uses for its rings); every
 * other access (PRP lists, SGL segments, shadow doorbells, admin data) is
 * translated and checked each time.
 *
 * Copyright (c) 2026 The nvme-accel authors
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or later.
 * See the COPYING file in the top-level directory.
 */

#include "qemu/osdep.h"
#include "qemu/rcu.h"
#include "qemu/main-loop.h"
#include "exec/memory.h"
#include "mdev-accel.h"
#include "trace.h"

/* --- guest memory for the datapath core -------------------------------- */

/*
 * The device only ever touches guest RAM: queues, PRP lists, SGL segments
 * and data in MMIO (the IOAPIC, another device's BAR, our own doorbells) are
 * refused, as the kernel datapath, which sees only the RAM QEMU maps through
 * VFIO, refuses them.
 */
static bool nvme_accel_mr_is_ram(MemoryRegion *mr, bool is_write)
{
    return memory_region_is_ram(mr) && !memory_region_is_ram_device(mr) &&
           !(is_write && mr->readonly);
}

bool nvme_accel_is_ram(NvmeAccelCtrl *n, uint64_t gpa, uint64_t len,
                       bool is_write)
{
    AddressSpace *as = pci_get_address_space(PCI_DEVICE(n));

    if (gpa + len < gpa) {
        return false;
    }
    RCU_READ_LOCK_GUARD();
    while (len) {
        hwaddr xlat, plen = len;
        MemoryRegion *mr = address_space_translate(as, gpa, &xlat, &plen,
                                                   is_write,
                                                   MEMTXATTRS_UNSPECIFIED);

        if (!nvme_accel_mr_is_ram(mr, is_write) || !plen) {
            return false;
        }
        gpa += plen;
        len -= plen;
    }
    return true;
}

/*
 * Copy to or from guest RAM through a MemoryRegionCache: translated once,
 * never dispatched to MMIO. The map can change after nvme_accel_is_ram()
 * (Bus Master Enable cleared, a BAR moved over RAM): what is not RAM any
 * more fails here instead of reaching some device's registers, or the
 * unassigned region, whose dispatch takes the BQL. From an iothread that
 * deadlocked: the main loop holds the BQL while it waits for the iothread
 * (a queue change, Bus Master Enable itself). Behind a vIOMMU the cache
 * has no pointer: there the DMA helpers translate, as before.
 */
static int nvme_accel_ram_copy(NvmeAccelCtrl *n, uint64_t gpa, void *buf,
                               uint32_t len, bool is_write)
{
    AddressSpace *as = pci_get_address_space(PCI_DEVICE(n));

    if (!nvme_accel_is_ram(n, gpa, len, is_write)) {
        return -EFAULT;
    }
    while (len) {
        MemoryRegionCache cache;
        int64_t l = address_space_cache_init(&cache, as, gpa, len, is_write);

        if (l > 0 && !cache.ptr && memory_region_is_iommu(cache.mrs.mr)) {
            address_space_cache_destroy(&cache);
            return pci_dma_rw(PCI_DEVICE(n), gpa, buf, len,
                              is_write ? DMA_DIRECTION_FROM_DEVICE :
                              DMA_DIRECTION_TO_DEVICE,
                              MEMTXATTRS_UNSPECIFIED) ? -EFAULT : 0;
        }
        if (l <= 0 || !cache.ptr) {
            address_space_cache_destroy(&cache);
            return -EFAULT;
        }
        if (is_write) {
            address_space_write_cached(&cache, 0, buf, l);
            /* Dirty logging and TCG code invalidation. */
            address_space_cache_invalidate(&cache, 0, l);
        } else {
            address_space_read_cached(&cache, 0, buf, l);
        }
        address_space_cache_destroy(&cache);
        gpa += l;
        buf = (uint8_t *)buf + l;
        len -= l;
    }
    return 0;
}

static int nvme_accel_mem_read(void *opaque, uint64_t gpa, void *buf,
                               uint32_t len)
{
    return nvme_accel_ram_copy(opaque, gpa, buf, len, false);
}

static int nvme_accel_mem_write(void *opaque, uint64_t gpa, const void *buf,
                                uint32_t len)
{
    return nvme_accel_ram_copy(opaque, gpa, (void *)buf, len, true);
}

/* Data moves later, through the DMA helpers: check it is RAM now. */
static int nvme_accel_mem_translate(void *opaque, uint64_t gpa, uint32_t len,
                                    bool to_guest)
{
    return nvme_accel_is_ram(opaque, gpa, len, to_guest) ? 0 : -EFAULT;
}

static const struct nac_mem_ops nvme_accel_mem_ops = {
    .read = nvme_accel_mem_read,
    .write = nvme_accel_mem_write,
    .translate = nvme_accel_mem_translate,
};

/*
 * The I/O path checks data buffers when it maps them for the block layer
 * (nvme_accel_map_data), so its decode needs no separate translate step.
 */
static const struct nac_mem_ops nvme_accel_io_mem_ops = {
    .read = nvme_accel_mem_read,
    .write = nvme_accel_mem_write,
};

void nvme_accel_mem_init(NvmeAccelCtrl *n)
{
    n->mem.ops = &nvme_accel_mem_ops;
    n->mem.opaque = n;
    n->io_mem.ops = &nvme_accel_io_mem_ops;
    n->io_mem.opaque = n;
}

/* --- queue rings --------------------------------------------------------- */

/*
 * A ring's mapping is replaced under RCU, as virtio's region caches are:
 * the I/O context reads it without the BQL, and a memory map change
 * (mdev-accel-queue.c's listener) swaps in a new one at once, so no access
 * after the change goes to where the ring was.
 */
struct NvmeAccelRingCache {
    struct rcu_head rcu;
    MemoryRegionCache cache;
};

static int nvme_accel_ring_read(void *opaque, uint64_t gpa, void *buf,
                                uint32_t len)
{
    NvmeAccelRing *r = opaque;
    NvmeAccelRingCache *c;

    RCU_READ_LOCK_GUARD();
    c = qatomic_rcu_read(&r->c);
    if (likely(c && gpa >= r->base && gpa - r->base <= r->len - len)) {
        address_space_read_cached(&c->cache, gpa - r->base, buf, len);
        return 0;
    }
    return nvme_accel_mem_read(r->ctrl, gpa, buf, len);
}

static int nvme_accel_ring_write(void *opaque, uint64_t gpa, const void *buf,
                                 uint32_t len)
{
    NvmeAccelRing *r = opaque;
    NvmeAccelRingCache *c;

    RCU_READ_LOCK_GUARD();
    c = qatomic_rcu_read(&r->c);
    if (likely(c && gpa >= r->base && gpa - r->base <= r->len - len)) {
        address_space_write_cached(&c->cache, gpa - r->base, buf, len);
        /* Dirty logging and TCG code invalidation. */
        address_space_cache_invalidate(&c->cache, gpa - r->base, len);
        return 0;
    }
    return nvme_accel_mem_write(r->ctrl, gpa, buf, len);
}

static const struct nac_mem_ops nvme_accel_ring_ops = {
    .read = nvme_accel_ring_read,
    .write = nvme_accel_ring_write,
    .translate = nvme_accel_mem_translate,
};

static void nvme_accel_ring_cache_free(NvmeAccelRingCache *c)
{
    address_space_cache_destroy(&c->cache);
    g_free(c);
}

/*
 * A direct mapping of the ring, or NULL: only a ring wholly in one RAM
 * region maps; anything else (MMIO, ROM, an IOMMU in front, two regions)
 * goes through the checked path, which refuses what is not RAM (the queue
 * then fails its fetches or posts, as the host made it). No IOMMU
 * translation here: the listener calls this on every memory map change.
 */
static NvmeAccelRingCache *nvme_accel_ring_map(NvmeAccelRing *r)
{
    AddressSpace *as = pci_get_address_space(PCI_DEVICE(r->ctrl));
    NvmeAccelRingCache *c = g_new0(NvmeAccelRingCache, 1);
    int64_t mapped;

    mapped = address_space_cache_init(&c->cache, as, r->base, r->len,
                                      r->is_write);
    if (mapped < 0 || (uint64_t)mapped < r->len || !c->cache.ptr ||
        !nvme_accel_mr_is_ram(c->cache.mrs.mr, r->is_write)) {
        nvme_accel_ring_cache_free(c);
        return NULL;
    }
    return c;
}

/* BQL held: the only writer. Readers hold the RCU read lock. */
static void nvme_accel_ring_set(NvmeAccelRing *r, NvmeAccelRingCache *c)
{
    NvmeAccelRingCache *old = r->c;

    qatomic_rcu_set(&r->c, c);
    if (old) {
        call_rcu(old, nvme_accel_ring_cache_free, rcu);
    }
}

void nvme_accel_ring_init(NvmeAccelCtrl *n, NvmeAccelRing *r, uint64_t base,
                          uint64_t len, bool is_write)
{
    r->ctrl = n;
    r->base = base;
    r->len = len;
    r->is_write = is_write;
    r->mem.ops = &nvme_accel_ring_ops;
    r->mem.opaque = r;
    r->c = NULL;
    nvme_accel_ring_set(r, nvme_accel_ring_map(r));
}

void nvme_accel_ring_destroy(NvmeAccelRing *r)
{
    nvme_accel_ring_set(r, NULL);
}

/*
 * Map the ring again where the address space maps it now. Only the main
 * loop (BQL held) changes r->c. Returns whether that changed anything.
 */
bool nvme_accel_ring_refresh(NvmeAccelRing *r)
{
    NvmeAccelRingCache *c = nvme_accel_ring_map(r), *old = r->c;

    assert(bql_locked());
    if (!c && !old) {
        return false;
    }
    if (c && old && c->cache.ptr == old->cache.ptr &&
        c->cache.mrs.mr == old->cache.mrs.mr &&
        c->cache.xlat == old->cache.xlat) {
        nvme_accel_ring_cache_free(c);
        return false;
    }
    nvme_accel_ring_set(r, c);
    return true;
}
