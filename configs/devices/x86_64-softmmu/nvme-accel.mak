# Minimal x86_64 machine set for nvme-accel: the PC machines, our device, and
# the peers it is benchmarked against (upstream nvme, virtio-blk).
CONFIG_I440FX=y
CONFIG_Q35=y
CONFIG_SERIAL_ISA=y
CONFIG_NVME_PCI=y
CONFIG_NVME_ACCEL=y
CONFIG_VIRTIO_PCI=y
CONFIG_VIRTIO_BLK=y
