#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Build the test guest's bzImage from the linked setup ELF and the linked guest ELF.

usage: mkbzimage.py SETUP_ELF GUEST_ELF OUT

Layout of the result (Linux x86 boot protocol): boot sector + setup sectors (real-mode stub and
setup header), then the protected-mode image (what the guest ELF loads at 1 MiB). Patched here:
setup_sects, syssize, init_size; checked: "HdrS", version, the 0xAA55 boot flag.
"""
import struct
import sys


def flat_image(path):
    """(vaddr, file bytes, memory size) of the single PT_LOAD of an ELF64 x86-64 file."""
    data = open(path, "rb").read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        sys.exit("mkbzimage: %s: not a little-endian ELF64 file" % path)
    e_machine, = struct.unpack_from("<H", data, 18)
    if e_machine != 62:
        sys.exit("mkbzimage: %s: not x86-64" % path)
    e_phoff, = struct.unpack_from("<Q", data, 32)
    e_phentsize, e_phnum = struct.unpack_from("<HH", data, 54)
    loads = []
    for i in range(e_phnum):
        p_type, _, p_offset, p_vaddr, _, p_filesz, p_memsz, _ = struct.unpack_from(
            "<IIQQQQQQ", data, e_phoff + i * e_phentsize)
        if p_type == 1:
            loads.append((p_vaddr, data[p_offset:p_offset + p_filesz], p_memsz))
    if len(loads) != 1:
        sys.exit("mkbzimage: %s: expected exactly one PT_LOAD, found %d" % (path, len(loads)))
    return loads[0]


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    svaddr, setup, _ = flat_image(sys.argv[1])
    kvaddr, kernel, kmemsz = flat_image(sys.argv[2])
    if svaddr != 0:
        sys.exit("mkbzimage: setup must be linked at 0")
    if kvaddr != 0x100000:
        sys.exit("mkbzimage: guest image must be linked at 1 MiB")
    setup = bytearray(setup)
    if len(setup) < 0x26c or setup[0x202:0x206] != b"HdrS" or setup[0x1fe:0x200] != b"\x55\xaa":
        sys.exit("mkbzimage: setup has no valid header")
    if len(setup) > 0x4000:
        sys.exit("mkbzimage: setup too large (%d bytes, its zero page is at 0x5000)" % len(setup))
    sects = max(4, (len(setup) + 511) // 512 - 1)
    setup += bytes((sects + 1) * 512 - len(setup))
    kernel = bytes(kernel) + bytes(-len(kernel) % 16)
    init_size = (kmemsz + 4095) & ~4095
    setup[0x1f1] = sects
    struct.pack_into("<I", setup, 0x1f4, len(kernel) // 16)
    struct.pack_into("<I", setup, 0x260, init_size)
    with open(sys.argv[3], "wb") as f:
        f.write(setup)
        f.write(kernel)


if __name__ == "__main__":
    main()
