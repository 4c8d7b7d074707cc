#!/usr/bin/env python3
"""Write the seed corpus of QEMU's generic-fuzz configs for nvme-accel.

Each seed is a generic-fuzz input (tests/qtest/fuzz/generic_fuzz.c): commands
separated by "FUZZ", the first byte of a command its opcode. A random input
almost never points the admin queues at guest RAM, enables the controller
and rings a doorbell with a valid command behind it; these seeds do, so the
fuzzer starts from a controller with I/O queues and mutates from there.

Commands reach the device as the fuzzer's DMA patterns: whatever the
device reads from guest RAM next (an SQ entry, a PRP list, a shadow
doorbell) is filled from the next pattern. One pattern per expected read.

    tests/fuzz/gen-corpus-generic-nvme-accel.py tests/fuzz/corpus-generic-nvme-accel
"""

import hashlib
import os
import struct
import sys

SEP = b"FUZZ"
OP_WRITE, OP_PCI_WRITE = 3, 5
OP_ADD_DMA_PATTERN, OP_CLEAR_DMA_PATTERNS = 7, 8
OP_CLOCK_STEP = 9

# Register offsets; BAR 0 is fuzzable memory region 0 (the register file).
CC, AQA, ASQ, ACQ = 0x14, 0x24, 0x28, 0x30
DB = 0x1000                     # doorbells, DSTRD = 0

# Guest RAM (the configs give the machine 512 MiB).
ASQ_ADDR, ACQ_ADDR = 0x100000, 0x101000
IOCQ_ADDR, IOSQ_ADDR = 0x110000, 0x111000
DATA, PRPLIST, DBS, EIS = 0x200000, 0x210000, 0x220000, 0x221000
QSIZE = 16                      # entries in every queue here


class Seed:
    def __init__(self):
        self.cmds = []
        self.admin_tail = 0
        self.io_tail = {}

    def op(self, code, payload=b""):
        self.cmds.append(bytes([code]) + payload)

    def mmio(self, offset, value, size):
        sizes = {1: 0, 2: 1, 4: 2, 8: 3}
        self.op(OP_WRITE, struct.pack("<BBxxIQ", sizes[size], 0, offset,
                                      value))

    def pci(self, offset, value, size):
        sizes = {1: 0, 2: 1, 4: 2}
        self.op(OP_PCI_WRITE, struct.pack("<BBBxI", sizes[size], 0, offset,
                                          value))

    def patterns(self, *datas):
        self.op(OP_CLEAR_DMA_PATTERNS)
        for d in datas:
            self.op(OP_ADD_DMA_PATTERN, bytes([0, 0]) + d)

    def enable(self, cc=0x00460001):
        self.mmio(AQA, ((QSIZE - 1) << 16) | (QSIZE - 1), 4)
        self.mmio(ASQ, ASQ_ADDR, 8)
        self.mmio(ACQ, ACQ_ADDR, 8)
        self.mmio(CC, cc, 4)

    def admin(self, *sqes, extra=()):
        """Ring the admin SQ for @sqes; @extra: what they read next."""
        self.patterns(*sqes, *extra)
        self.admin_tail = (self.admin_tail + len(sqes)) % QSIZE
        self.mmio(DB, self.admin_tail, 4)
        self.mmio(DB + 4, self.admin_tail, 4)       # reap: CQ head

    def io(self, qid, *sqes, extra=()):
        self.patterns(*sqes, *extra)
        tail = (self.io_tail.get(qid, 0) + len(sqes)) % QSIZE
        self.io_tail[qid] = tail
        self.mmio(DB + 8 * qid, tail, 4)
        self.mmio(DB + 8 * qid + 4, tail, 4)

    def pairs(self, n=1, vector=0):
        for qid in range(1, n + 1):
            self.admin(create_cq(qid, IOCQ_ADDR + 0x2000 * (qid - 1), vector),
                       create_sq(qid, qid, IOSQ_ADDR + 0x2000 * (qid - 1)))

    def bytes(self):
        data = SEP.join(self.cmds)
        assert data.count(SEP) == len(self.cmds) - 1, "separator in a command"
        return data


_cid = [0]


def sqe(opcode, nsid=0, dptr1=0, dptr2=0, cdw10=0, cdw11=0, cdw12=0,
        cdw13=0, flags=0):
    _cid[0] += 1
    return struct.pack("<BBHIQQQQIIIIII", opcode, flags, _cid[0], nsid, 0, 0,
                       dptr1, dptr2, cdw10, cdw11, cdw12, cdw13, 0, 0)


def create_cq(qid, addr, vector=0):
    return sqe(0x05, dptr1=addr, cdw10=((QSIZE - 1) << 16) | qid,
               cdw11=(vector << 16) | 3)


def create_sq(qid, cqid, addr):
    return sqe(0x01, dptr1=addr, cdw10=((QSIZE - 1) << 16) | qid,
               cdw11=(cqid << 16) | 1)


def rw(opcode, slba, nlb, dptr1=DATA, dptr2=0, flags=0, cdw12=0):
    return sqe(opcode, nsid=1, dptr1=dptr1, dptr2=dptr2, cdw10=slba,
               cdw11=0, cdw12=cdw12 | (nlb - 1), flags=flags)


def sgl_data_block(addr, length):
    """An SGL Data Block descriptor as DPTR (dptr1, dptr2)."""
    return addr, length | (0x00 << 56)


def seeds():
    s = {}

    # Admin commands only: identify, features, logs, AER, abort.
    a = Seed()
    a.enable()
    a.admin(sqe(0x06, dptr1=DATA, cdw10=1))                 # Identify ctrl
    a.admin(sqe(0x06, nsid=1, dptr1=DATA, cdw10=0))         # Identify ns
    a.admin(sqe(0x06, dptr1=DATA, cdw10=2))                 # active ns list
    a.admin(sqe(0x06, nsid=1, dptr1=DATA, cdw10=3))         # ns descriptors
    a.admin(sqe(0x09, cdw10=0x07, cdw11=(3 << 16) | 3))     # Set nr queues
    a.admin(sqe(0x0a, cdw10=0x07))                          # Get nr queues
    a.admin(sqe(0x09, cdw10=0x08, cdw11=0x0a04))            # Set coalescing
    a.admin(sqe(0x09, cdw10=0x0b, cdw11=0xff))              # Set AEC
    a.admin(sqe(0x09, dptr1=DATA, cdw10=0x0e),              # Set timestamp
            extra=(struct.pack("<Q", 0x123456789),))
    a.admin(sqe(0x0a, dptr1=DATA, cdw10=0x0e))              # Get timestamp
    a.admin(sqe(0x02, dptr1=DATA, cdw10=(15 << 16) | 0x02))  # SMART log
    a.admin(sqe(0x02, dptr1=DATA, cdw10=(1023 << 16) | 0x01))  # error log
    a.admin(sqe(0x02, dptr1=DATA, cdw10=(1023 << 16) | 0x05))  # effects
    a.admin(sqe(0x0c), sqe(0x0c))                           # two AERs
    a.admin(sqe(0x08, cdw10=1))                             # Abort
    a.mmio(DB + 0x100, 1, 4)                                # bad doorbell
    a.admin(sqe(0x02, dptr1=DATA, cdw10=(15 << 16) | 0x01))  # error log
    a.mmio(CC, 0x00464001, 4)                               # shutdown
    s["admin"] = a

    # One queue pair, the I/O commands through PRPs, then deleted.
    b = Seed()
    b.enable()
    b.pairs(1)
    b.io(1, rw(0x01, 0, 8))                                 # write 4K
    b.io(1, rw(0x02, 0, 8))                                 # read 4K
    b.io(1, rw(0x02, 8, 16, dptr2=DATA + 0x1000))           # 8K, two PRPs
    b.io(1, rw(0x01, 16, 32, dptr2=PRPLIST),                # 16K, PRP list
         extra=(struct.pack("<QQQ", DATA + 0x1000, DATA + 0x2000,
                            DATA + 0x3000),))
    b.io(1, rw(0x05, 0, 8))                                 # compare
    b.io(1, sqe(0x00, nsid=1))                              # flush
    b.io(1, rw(0x08, 0, 64))                                # write zeroes
    b.io(1, sqe(0x09, nsid=1, dptr1=DATA, cdw11=4),         # DSM deallocate
         extra=(struct.pack("<IIQ", 0, 8, 0),))
    b.io(1, rw(0x02, 0x7fffffff, 8))                        # out of range
    b.admin(sqe(0x00, cdw10=1), sqe(0x04, cdw10=1))         # delete SQ, CQ
    b.mmio(CC, 0, 4)                                        # reset
    s["io-prp"] = b

    # SGL data pointers.
    c = Seed()
    c.enable()
    c.pairs(1)
    d1, d2 = sgl_data_block(DATA, 4096)
    c.io(1, rw(0x01, 0, 8, dptr1=d1, dptr2=d2, flags=0x40))
    c.io(1, rw(0x02, 0, 8, dptr1=PRPLIST, dptr2=(2 * 16) | (0x30 << 56),
               flags=0x40),                                 # last segment
         extra=(struct.pack("<QIxxxB", DATA, 2048, 0x00) +
                struct.pack("<QIxxxB", DATA + 0x1000, 2048, 0x00),))
    s["io-sgl"] = c

    # Shadow doorbells: Doorbell Buffer Config, then I/O rung through them.
    d = Seed()
    d.enable()
    d.pairs(2)
    d.admin(sqe(0x7c, dptr1=DBS, dptr2=EIS))
    # The MMIO doorbell only kicks (ioeventfd); the device then reads the
    # shadow tail (4 bytes), the entry, the shadow tail again after
    # publishing the event index, then the CQ's shadow head.
    for qid, op in ((1, 0x02), (2, 0x01)):
        d.patterns(struct.pack("<I", 1), rw(op, 0, 8), struct.pack("<I", 1))
        d.mmio(DB + 8 * qid, 1, 4)
    d.io(1, rw(0x02, 0, 8))                     # MMIO tail 2, shadow not
    d.mmio(CC, 0, 4)
    s["shadow"] = d

    # Queue changes and resets with I/O queues present; Bus Master Enable.
    e = Seed()
    e.enable()
    e.pairs(3)
    e.io(2, rw(0x02, 0, 8), rw(0x01, 8, 8))
    e.pci(0x04, 0x0002, 2)                      # BME off
    e.io(3, rw(0x02, 0, 8))
    e.pci(0x04, 0x0006, 2)                      # BME on
    e.admin(sqe(0x00, cdw10=2), sqe(0x04, cdw10=2))
    e.admin(create_cq(2, IOCQ_ADDR + 0x8000), create_sq(2, 2, IOSQ_ADDR))
    e.admin(sqe(0x04, cdw10=3))                 # CQ with an SQ: refused
    e.op(OP_CLOCK_STEP)
    e.mmio(CC, 0, 4)
    e.enable()
    e.pairs(1)
    s["queues-reset"] = e

    # Pin-based interrupts masked and unmasked.
    f = Seed()
    f.enable()
    f.pairs(1)
    f.mmio(0x0c, 1, 4)                          # INTMS
    f.io(1, rw(0x02, 0, 8))
    f.mmio(0x10, 1, 4)                          # INTMC
    s["intx"] = f
    return s


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, seed in seeds().items():
        data = seed.bytes()
        path = os.path.join(out, "seed-" + name)
        with open(path, "wb") as fh:
            fh.write(data)
        print(path, len(data), hashlib.sha1(data).hexdigest()[:12])


if __name__ == "__main__":
    main()
