/* SPDX-License-Identifier: MIT */
/* The guest `native` test's loop (dec; jnz, N iterations) on the host, timed with the TSC. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <x86intrin.h>

int main(int argc, char **argv)
{
	uint64_t loops = argc > 1 ? strtoull(argv[1], NULL, 0) : 100000000ULL;
	uint64_t n = loops;
	struct timespec a, b;

	if (!loops) {
		fprintf(stderr, "hostloop: iterations must be at least 1\n");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	uint64_t t0 = __rdtsc();
	__asm__ volatile("1: dec %0; jnz 1b" : "+r"(n) : : "cc");
	uint64_t t1 = __rdtsc();
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("host_loop_iterations %llu count\n", (unsigned long long)loops);
	printf("host_loop_tsc %llu cycles\n", (unsigned long long)(t1 - t0));
	printf("host_loop_time %.1f ms\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 1e6);
	return 0;
}
