/*
 * nvme-accel: an NVMe controller whose I/O queues can run in the host kernel
 *
 * Copyright (c) 2026 The nvme-accel authors
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or later.
 * See the COPYING file in the top-level directory.
 */

#ifndef HW_NVME_MDEV_ACCEL_H
#define HW_NVME_MDEV_ACCEL_H

#include "hw/pci/pci_device.h"
#include "hw/block/block.h"
#include "block/nvme.h"

#define TYPE_NVME_ACCEL "nvme-accel"
OBJECT_DECLARE_SIMPLE_TYPE(NvmeAccelCtrl, NVME_ACCEL)

/* Register file: CAP..ACQ, then the doorbells from 0x1000. */
#define NVME_ACCEL_REG_SIZE     0x1000
#define NVME_ACCEL_DB_STRIDE    4

#define NVME_ACCEL_PCI_DEVICE_ID 0x10f0

typedef struct NvmeAccelParams {
    char        *serial;
    uint32_t    max_ioqpairs;
    uint32_t    max_queue_entries;
    uint8_t     mdts;
} NvmeAccelParams;

struct NvmeAccelCtrl {
    PCIDevice       parent_obj;

    MemoryRegion    bar0;
    MemoryRegion    iomem;
    BlockConf       blkconf;
    NvmeAccelParams params;

    /* Controller registers, host endian. */
    uint64_t        cap;
    uint32_t        vs;
    uint32_t        intms;
    uint32_t        cc;
    uint32_t        csts;
    uint32_t        aqa;
    uint64_t        asq;
    uint64_t        acq;
};

#endif /* HW_NVME_MDEV_ACCEL_H */
