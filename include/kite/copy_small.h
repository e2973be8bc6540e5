/* SPDX-License-Identifier: MIT */
/*
 * copy_small(): memcpy for the short copies of the data paths (virtio-net headers, 64-byte frames),
 * inlined as a few fixed-size unaligned 16-byte loads and stores instead of a call into the C
 * library's memmove per segment. Lengths up to COPY_SMALL_MAX are two runs of 16-byte blocks, one
 * from the start and one ending exactly at the end (they may overlap), so a 64-byte frame is four
 * loads and four stores, 76 bytes (12-byte header + 64) eight; longer copies call memcpy.
 *
 * Contract: exactly bytes [0, n) of dst are written and [0, n) of src read (never a byte past
 * either end: the buffers are guest memory whose bounds were checked); src and dst should not
 * overlap. A guest can make them overlap (its receive buffer over its own transmit buffer, or two
 * guests' shared memory): the bytes written are then unspecified, but still only [0, n) of dst is
 * written and [0, n) of src read, so nothing outside the checked ranges is touched. Any thread.
 */
#ifndef KITE_COPY_SMALL_H
#define KITE_COPY_SMALL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define COPY_SMALL_MAX 256

typedef uint8_t copy_small_v16 __attribute__((vector_size(16)));

/* k 16-byte blocks from the front of [s, s + n), then k ending at n (n >= 16 k); k is a constant at
 * every call, so each case is straight-line code. */
static inline __attribute__((always_inline)) void copy_small_run16(uint8_t *d, const uint8_t *s, size_t n,
								    unsigned k)
{
	copy_small_v16 v;

#pragma GCC unroll 8
	for (unsigned i = 0; i < k; i++) {
		__builtin_memcpy(&v, s + 16 * i, 16);
		__builtin_memcpy(d + 16 * i, &v, 16);
	}
#pragma GCC unroll 8
	for (unsigned i = 0; i < k; i++) {
		__builtin_memcpy(&v, s + n - 16 * (k - i), 16);
		__builtin_memcpy(d + n - 16 * (k - i), &v, 16);
	}
}

/* w <= n <= 2 w bytes (w = 2, 4 or 8, a constant at every call): the first w and the last w. Also
 * for callers whose n is known to be in that range (a virtio-net header: 10 or 12 bytes, w = 8). */
static inline __attribute__((always_inline)) void copy_small_ends(uint8_t *d, const uint8_t *s, size_t n,
								   unsigned w)
{
	uint64_t a, b;

	__builtin_memcpy(&a, s, w);
	__builtin_memcpy(&b, s + n - w, w);
	__builtin_memcpy(d, &a, w);
	__builtin_memcpy(d + n - w, &b, w);
}

static inline __attribute__((always_inline)) void copy_small(void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;

	if (n >= 16) {
		if (n <= 32)
			copy_small_run16(d, s, n, 1);
		else if (n <= 64)
			copy_small_run16(d, s, n, 2);
		else if (n <= 128)
			copy_small_run16(d, s, n, 4);
		else if (n <= COPY_SMALL_MAX)
			copy_small_run16(d, s, n, 8);
		else
			memcpy(d, s, n);
	} else if (n >= 8) {
		copy_small_ends(d, s, n, 8);
	} else if (n >= 4) {
		copy_small_ends(d, s, n, 4);
	} else if (n >= 2) {
		copy_small_ends(d, s, n, 2);
	} else if (n == 1) {
		*d = *s;
	}
}

#endif
