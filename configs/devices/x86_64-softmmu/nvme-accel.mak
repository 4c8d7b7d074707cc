# Minimal x86_64 machine set for nvme-accel: the PC machines, our device, the
# peers it is benchmarked against (upstream nvme, virtio-blk), and the Intel
# vIOMMU it must keep its queues in QEMU behind.
CONFIG_I440FX=y
CONFIG_Q35=y
CONFIG_SERIAL_ISA=y
CONFIG_NVME_PCI=y
CONFIG_NVME_ACCEL=y
CONFIG_VIRTIO_PCI=y
CONFIG_VIRTIO_BLK=y
CONFIG_VTD=y
