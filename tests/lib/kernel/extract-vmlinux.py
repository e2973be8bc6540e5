#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Extract the uncompressed kernel ELF (vmlinux) from an x86 bzImage.

Usage: extract-vmlinux.py BZIMAGE OUT

The payload is located through the Linux x86 boot protocol header (>= 2.08):
setup_sects at 0x1f1, payload_offset/payload_length at 0x248/0x24c, relative to
the start of the protected-mode code at (setup_sects + 1) * 512. Supported
payload formats: xz, gzip (python), zstd, lz4 (external tools).
Exit status 0 and OUT written only if the result is a 64-bit ELF.
"""
import lzma
import os
import struct
import subprocess
import sys
import zlib


def fail(msg):
	sys.exit("extract-vmlinux: %s" % msg)


def payload_of(path):
	with open(path, "rb") as f:
		img = f.read()
	if len(img) < 0x250 or img[0x202:0x206] != b"HdrS":
		fail("%s: not a bzImage (no HdrS boot header)" % path)
	version = struct.unpack_from("<H", img, 0x206)[0]
	if version < 0x208:
		fail("%s: boot protocol %#x < 2.08 has no payload fields" % (path, version))
	setup_sects = img[0x1f1] or 4
	pm_start = (setup_sects + 1) * 512
	off, length = struct.unpack_from("<II", img, 0x248)
	start = pm_start + off
	if length == 0 or start + length > len(img):
		fail("%s: payload %#x+%#x outside the image (%d bytes)" % (path, start, length, len(img)))
	return img[start:start + length]


def decompress(data, path):
	if data.startswith(b"\xfd7zXZ\x00"):
		# the kernel's xz stream may be followed by the 4-byte size: stop at stream end
		return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data)
	if data.startswith(b"\x1f\x8b"):
		return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data)
	for magic, tool in ((b"\x28\xb5\x2f\xfd", ["zstd", "-dcq"]),
			    (b"\x02\x21\x4c\x18", ["lz4", "-dcq"])):
		if data.startswith(magic):
			r = subprocess.run(tool, input=data, stdout=subprocess.PIPE)
			if not r.stdout:
				fail("%s: %s failed with status %d" % (path, tool[0], r.returncode))
			return r.stdout
	fail("%s: unknown payload compression (magic %s)" % (path, data[:6].hex()))


def main():
	if len(sys.argv) != 3:
		fail("usage: extract-vmlinux.py BZIMAGE OUT")
	src, out = sys.argv[1], sys.argv[2]
	elf = decompress(payload_of(src), src)
	if elf[:5] != b"\x7fELF\x02":
		fail("%s: payload is not a 64-bit ELF" % src)
	tmp = out + ".tmp"
	with open(tmp, "wb") as f:
		f.write(elf)
	os.rename(tmp, out)


main()
