/* SPDX-License-Identifier: MIT */
/*
 * Robustness of the loaders against hostile images: thousands of deterministic mutations of the
 * synthetic bzImage and ELF (header bytes, program headers, truncation). Each image sits in a heap
 * buffer of exactly its length, so ASan reports any read past the file's bytes; every result must be
 * 0 with a kernel inside RAM, or -1.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <unistd.h>

#include "fake_vm.h"
#include "images.h"
#include "kite/log.h"
#include "kite/x86/bootparam.h"
#include "kite/x86/layout.h"
#include "kite/x86/loader.h"

#define RAM (64ULL << 20)
#define ROUNDS 3000

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

static void mutate(uint8_t *img, size_t len, size_t hot_lo, size_t hot_hi)
{
	unsigned n = 1 + next() % 6;

	for (unsigned i = 0; i < n; i++) {
		size_t at = hot_lo + next() % (hot_hi - hot_lo);
		if (at >= len)
			continue;
		switch (next() % 4) {
		case 0: img[at] = (uint8_t)next(); break;
		case 1: img[at] ^= (uint8_t)(1U << (next() % 8)); break;
		case 2: img[at] = 0xff; break;
		default: img[at] = 0; break;
		}
	}
}

static void run_rounds(int elf)
{
	struct fake_vm f;
	size_t base_len;
	uint8_t *base;
	struct elf_img e;
	unsigned ok = 0, refused = 0;

	if (elf) {
		make_elf(&e);
		base_len = sizeof(e);
		base = malloc(base_len);
		memcpy(base, &e, base_len);
	} else {
		base = make_bzimage(&bz_default, &base_len);
	}
	int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC), saved = dup(2);
	assert_true(devnull >= 0 && saved >= 0);
	fake_vm_init(&f, RAM, 1);
	for (unsigned r = 0; r < ROUNDS; r++) {
		size_t len = base_len;
		if (next() % 4 == 0)
			len = next() % (base_len + 1);           /* truncated */
		uint8_t *img = malloc(len ? len : 1);
		memcpy(img, base, len);
		if (elf)
			mutate(img, len, 0, sizeof(Elf64_Ehdr) + 3 * sizeof(Elf64_Phdr));
		else
			mutate(img, len, BP_HDR_OFFSET, 0x270);

		struct boot_params *bp = calloc(1, sizeof(*bp));
		struct x86_kernel k;
		memset(&k, 0, sizeof(k));
		/* refusals log one line each: keep thousands of them out of the output */
		assert_int_equal(dup2(devnull, 2), 2);
		int ret = elf ? x86_load_elf(&f.vm, "mutant", img, len, bp, &k) :
				x86_load_bzimage(&f.vm, "mutant", img, len, bp, &k);
		assert_int_equal(dup2(saved, 2), 2);
		assert_true(ret == 0 || ret == -1);
		if (ret == 0) {
			assert_true(k.start >= KITE_X86_KERNEL_ADDR);
			assert_true(k.end <= RAM && k.start <= k.end);
			assert_true(k.entry >= KITE_X86_KERNEL_ADDR && k.entry < RAM);
			assert_int_equal(bp->sentinel, 0);
			ok++;
		} else {
			refused++;
		}
		free(bp);
		free(img);
	}
	printf("%s: %u mutants loaded, %u refused\n", elf ? "elf" : "bzImage", ok, refused);
	assert_true(ok > 0 && refused > 0);      /* the mutations hit both sides */
	fake_vm_fini(&f);
	free(base);
	close(devnull);
	close(saved);
}

static void bzimage_mutants(void **state)
{
	(void)state;
	run_rounds(0);
}

static void elf_mutants(void **state)
{
	(void)state;
	run_rounds(1);
}

int main(void)
{
	kite_log_init("test-x86-mutate", KITE_LOG_ERR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bzimage_mutants),
		cmocka_unit_test(elf_mutants),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
