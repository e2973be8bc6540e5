/* SPDX-License-Identifier: MIT */
/*
 * count: the snapshot tests' guest. Counts forever: step n mixes n into a running 64-bit checksum
 * (sum = (sum ^ n) * FNV prime, sum_0 = FNV offset), stores it in page n (mod the area's pages) of
 * a 4 MiB area at 16 MiB (so guest memory changes as it runs), and prints "count N sum 0xS". Every 16 steps
 * it re-adds the whole area and checks it against the running total it keeps of what it stored
 * ("count: memory checked at N"); a mismatch (memory lost or stale across a restore) fails with
 * exit 4. A host recomputes sum_N from N alone: a restored guest must go on with N+1 and the right
 * sum. kite.count_stop=N: pass after step N (default: never). For benchmarks of the dirty rate:
 * kite.count_pages=K stores each step's sum in K consecutive pages (wrapping in the area), and
 * kite.count_area_mib=M makes the area M MiB (4..512, at 16 MiB).
 */
#include "guest.h"

#define COUNT_AREA   0x1000000UL   /* 16 MiB; the guest maps the first GiB */
#define FNV_OFFSET   0xcbf29ce484222325ULL
#define FNV_PRIME    0x100000001b3ULL

static uint64_t area_pages;

static volatile uint64_t *count_slot(uint64_t n)
{
	return (volatile uint64_t *)(COUNT_AREA + (n % area_pages) * 4096UL);
}

void test_count(void)
{
	uint64_t stop = cmdline_u64("kite.count_stop", 0), sum = FNV_OFFSET, total = 0;
	uint64_t per_step = cmdline_u64("kite.count_pages", 1), area_mib = cmdline_u64("kite.count_area_mib", 4);

	if (area_mib < 4 || area_mib > 512 || per_step < 1 || per_step > area_mib * 256)
		guest_fail(GUEST_EXIT_USAGE, "count: kite.count_area_mib 4..512 and kite.count_pages 1..its pages");
	area_pages = area_mib * 256;
	for (uint64_t p = 0; p < area_pages; p++)
		*count_slot(p) = 0;
	guest_printf("count: counting (area 0x%lx, %lu pages, %lu per step)\n", COUNT_AREA, area_pages, per_step);
	for (uint64_t n = 1; !stop || n <= stop; n++) {
		sum = (sum ^ n) * FNV_PRIME;
		for (uint64_t j = 0; j < per_step; j++) {
			volatile uint64_t *slot = count_slot(n * per_step + j);

			total = total - *slot + sum;
			*slot = sum;
		}
		guest_printf("count %lu sum 0x%lx\n", n, sum);
		if (n % 16 == 0) {
			uint64_t check = 0;

			for (uint64_t p = 0; p < area_pages; p++)
				check += *count_slot(p);
			if (check != total)
				guest_fail(GUEST_EXIT_CHECK, "count: memory total 0x%lx at step %lu, expected 0x%lx", check,
					   n, total);
			guest_printf("count: memory checked at %lu\n", n);
		}
	}
}
