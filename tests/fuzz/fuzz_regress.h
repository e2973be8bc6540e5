/* SPDX-License-Identifier: MIT */
/*
 * Hooks a fuzz target provides so that fuzz_regress.c can run it as a deterministic meson test:
 * LLVMFuzzerTestOneInput() (the target itself), plus an input generator and a final report.
 */
#ifndef KITE_FUZZ_REGRESS_H
#define KITE_FUZZ_REGRESS_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Build the n-th pseudo-random input from `seed` into buf (cap bytes); returns its length. */
size_t fuzz_make_input(uint64_t seed, uint8_t *buf, size_t cap);
/* After all inputs: 0 if the run exercised what it should (else prints why and returns 1). */
int fuzz_report(void);

/* Small deterministic PRNG (xorshift64*) for generators. */
static inline uint64_t fuzz_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

#endif
