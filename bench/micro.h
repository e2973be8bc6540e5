/* SPDX-License-Identifier: MIT */
/*
 * What the C micro-benchmarks in bench/ share (header only, no state): the calling thread's CPU time,
 * the median (min-max) of a set of rounds, and the result line that prints it. Any thread.
 */
#ifndef KITE_BENCH_MICRO_H
#define KITE_BENCH_MICRO_H

#include <stdint.h>
#include <stdio.h>
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

/* Print "<prefix><name> MED UNIT (MIN-MAX)" with prec decimals, the bench/ result line that plot.py
 * reads (sorts v, n >= 1). */
static inline void micro_print_span(const char *prefix, const char *name, const char *unit, int prec,
				    double *v, unsigned n)
{
	double med, min, max;

	micro_summary(v, n, &med, &min, &max);
	printf("%s%s %.*f %s (%.*f-%.*f)\n", prefix, name, prec, med, unit, prec, min, prec, max);
}

#endif
