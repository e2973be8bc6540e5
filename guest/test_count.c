/* SPDX-License-Identifier: MIT */
/*
 * count: the snapshot tests' guest. Counts forever: step n mixes n into a running 64-bit checksum
 * (sum = (sum ^ n) * FNV prime, sum_0 = FNV offset), stores it in page n % COUNT_PAGES of a 4 MiB
 * area at 16 MiB (so guest memory changes as it runs), and prints "count N sum 0xS". Every 16 steps
 * it re-adds the whole area and checks it against the running total it keeps of what it stored
 * ("count: memory checked at N"); a mismatch (memory lost or stale across a restore) fails with
 * exit 4. A host recomputes sum_N from N alone: a restored guest must go on with N+1 and the right
 * sum. kite.count_stop=N: pass after step N (default: never).
 */
#include "guest.h"

#define COUNT_AREA   0x1000000UL   /* 16 MiB; the guest maps the first GiB */
#define COUNT_PAGES  1024u
#define FNV_OFFSET   0xcbf29ce484222325ULL
#define FNV_PRIME    0x100000001b3ULL

static volatile uint64_t *count_slot(uint64_t n)
{
	return (volatile uint64_t *)(COUNT_AREA + (n % COUNT_PAGES) * 4096UL);
}

void test_count(void)
{
	uint64_t stop = cmdline_u64("kite.count_stop", 0), sum = FNV_OFFSET, total = 0;

	for (unsigned p = 0; p < COUNT_PAGES; p++)
		*count_slot(p) = 0;
	guest_printf("count: counting (area 0x%lx, %u pages)\n", COUNT_AREA, COUNT_PAGES);
	for (uint64_t n = 1; !stop || n <= stop; n++) {
		volatile uint64_t *slot = count_slot(n);

		sum = (sum ^ n) * FNV_PRIME;
		total = total - *slot + sum;
		*slot = sum;
		guest_printf("count %lu sum 0x%lx\n", n, sum);
		if (n % 16 == 0) {
			uint64_t check = 0;

			for (unsigned p = 0; p < COUNT_PAGES; p++)
				check += *count_slot(p);
			if (check != total)
				guest_fail(GUEST_EXIT_CHECK, "count: memory total 0x%lx at step %lu, expected 0x%lx", check,
					   n, total);
			guest_printf("count: memory checked at %lu\n", n);
		}
	}
}
