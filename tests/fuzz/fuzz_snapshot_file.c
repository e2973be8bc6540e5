/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the VM-state file parser: common/snapshot_file.c (header, CRCs, sections, cursors)
 * and the loader's first reads (vmm/snapshot_info.c: the "config" and "vm" sections, the vCPU
 * count). Checks: a refused file gives a non-empty one-line error; an accepted one yields sections
 * whose cursors never read past their end (every read of every section is tried, each finish
 * either passes or gives a one-line error). Generated inputs: a valid file built with the writer
 * (random RAM layout, vCPU counts, section versions and payloads) then left alone, bit-flipped,
 * truncated or extended.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../vmm/snapshot.h"
#include "kite/snapshot.h"
#include "fuzz_regress.h"

static unsigned long refused, parsed, vm_ok;

static void one_line(const char *err)
{
	if (!err[0] || strchr(err, '\n'))
		abort();
}

/* Read a section every way a restore might, then finish it. */
static void walk(struct snap_reader *r, const char *name, uint32_t inst)
{
	struct snap_cursor c;
	char err[512], buf[64];

	err[0] = '\0';
	if (snap_section_open(r, name, inst, 3, &c, err, sizeof(err)) < 0) {
		one_line(err);
		return;
	}
	snap_get_str(&c, buf, sizeof(buf));
	while (snap_remaining(&c) && !c.bad) {
		(void)snap_get_u8(&c);
		(void)snap_get_u64(&c);
		(void)snap_get_u32(&c);
	}
	(void)snap_get_u16(&c);   /* one read too many: must mark the cursor bad, never overrun */
	if (!c.bad)
		abort();
	if (snap_cursor_finish(&c, err, sizeof(err)) == 0)
		abort();
	one_line(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "config", "vm", "vcpu", "irqchip", "pit", "clock", "serial" };
	struct vm_snapshot_info info;
	struct snap_reader *r;
	char err[512], *config = NULL;
	uint32_t inst;

	err[0] = '\0';
	r = snap_reader_parse(data, size, err, sizeof(err));
	if (!r) {
		refused++;
		one_line(err);
		return 0;
	}
	parsed++;
	if (vm_snapshot_read(r, "fuzz", &config, &info, err, sizeof(err)) == 0) {
		vm_ok++;
		if (!config || info.vcpus < 1 || info.mem_file_size != info.ram_size)
			abort();
		free(config);
	} else {
		one_line(err);
	}
	snap_reader_free(r);
	/* a fresh reader: the loader's reads above consumed sections */
	r = snap_reader_parse(data, size, err, sizeof(err));
	if (!r)
		abort();   /* the same bytes parsed a moment ago */
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		for (uint32_t k = 0; k < 3; k++)
			walk(r, names[i], k);
	(void)snap_reader_unconsumed(r, &inst);
	snap_reader_free(r);
	return 0;
}

size_t fuzz_make_input(uint64_t seed, uint8_t *buf, size_t cap)
{
	uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
	struct snap_writer *w = snap_writer_new();
	unsigned ncpu = 1 + fuzz_rand(&s) % 4, extra = fuzz_rand(&s) % 3;
	uint64_t ram = ((fuzz_rand(&s) % 8) + 1) << 24;
	const uint8_t *bytes;
	size_t len = 0;
	char err[256];

	if (!w)
		return 0;
	snap_section_begin(w, "config", 0, 1);
	snap_put_str(w, fuzz_rand(&s) % 2 ? "{\"machine-config\":{\"vcpu_count\":1,\"mem_size_mib\":128}}" : "{");
	snap_section_end(w);
	snap_section_begin(w, "vm", 0, 1 + (fuzz_rand(&s) % 8 == 0));
	snap_put_str(w, "0.1.0");
	snap_put_u64(w, ram);
	snap_put_u64(w, ram);
	snap_put_u64(w, fuzz_rand(&s) % 8 == 0 ? 4096 : 0);
	snap_put_u64(w, 0x100000000ull);
	snap_put_u32(w, ncpu);
	snap_put_u64(w, fuzz_rand(&s) % 8 == 0 ? ram - 4096 : ram);
	snap_put_u8(w, (uint8_t)(fuzz_rand(&s) % 2));
	snap_put_u32(w, fuzz_rand(&s) % 8 == 0 ? 8192 : 4096);
	snap_section_end(w);
	for (unsigned i = 0; i < ncpu + (fuzz_rand(&s) % 8 == 0); i++) {
		snap_section_begin(w, "vcpu", i, 1);
		for (unsigned k = fuzz_rand(&s) % 64; k; k--)
			snap_put_u32(w, (uint32_t)fuzz_rand(&s));
		snap_section_end(w);
	}
	for (unsigned i = 0; i < extra; i++) {
		snap_section_begin(w, fuzz_rand(&s) % 2 ? "irqchip" : "serial", i, 1 + fuzz_rand(&s) % 4);
		snap_put_u64(w, fuzz_rand(&s));
		snap_section_end(w);
	}
	if (snap_writer_bytes(w, &bytes, &len, err, sizeof(err)) == 0 && len <= cap) {
		memcpy(buf, bytes, len);
		switch (fuzz_rand(&s) % 4) {
		case 0:   /* valid */
			break;
		case 1:   /* bit flips */
			for (unsigned k = 1 + fuzz_rand(&s) % 4; k; k--)
				buf[fuzz_rand(&s) % len] ^= (uint8_t)(1u << (fuzz_rand(&s) % 8));
			break;
		case 2:   /* truncated */
			len = fuzz_rand(&s) % len;
			break;
		default:  /* extended */
			if (len + 16 <= cap)
				len += 16;
			break;
		}
	} else {
		len = 0;
	}
	snap_writer_free(w);
	return len;
}

int fuzz_report(void)
{
	printf("snapshot_file: %lu refused, %lu parsed, %lu with valid config and vm sections\n", refused, parsed,
	       vm_ok);
	if (!refused || !parsed || !vm_ok) {
		printf("snapshot_file: the inputs did not reach every outcome\n");
		return 1;
	}
	return 0;
}
