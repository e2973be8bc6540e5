/* SPDX-License-Identifier: MIT */
/*
 * What the C micro-benchmarks in bench/ share (header only, no state): the calling thread's CPU time,
 * and the median (min-max) of a set of rounds. Any thread.
 */
#ifndef KITE_BENCH_MICRO_H
#define KITE_BENCH_MICRO_H

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

/* The calling thread's CPU time in ns (CLOCK_THREAD_CPUTIME_ID: time the scheduler gives to other
 * threads on a shared core does not count). */
static inline uint64_t micro_thread_cpu_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static inline int micro_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median (the mean of the middle two for an even n), min and max of v[0..n), n >= 1 (sorts v). */
static inline void micro_summary(double *v, unsigned n, double *med, double *min, double *max)
{
	qsort(v, n, sizeof(*v), micro_cmp_double);
	*med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	*min = v[0];
	*max = v[n - 1];
}

#endif
