/* SPDX-License-Identifier: MIT */
/*
 * tsc_khz: print this host's TSC frequency in kHz, measured: TSC ticks over ~200 ms of
 * CLOCK_MONOTONIC_RAW, three times, the median. The nested test lab (tests/lib/nested-run.sh) gives
 * it to the L1 kernel as tsc_early_khz: under QEMU TCG the L1's TSC runs at the host's TSC rate, and
 * an L1 that calibrates itself while the host is loaded can be far off (568 MHz for 2596 MHz seen
 * here), which delays every timer KVM emulates for L2. The host kernel's own "tsc: Detected" line
 * is not a source one can count on: the kernel log ring overwrites it on a long-running host and
 * may not be readable at all.
 * Exit status 0 with one line "KHZ"; 1 (nothing printed) where there is no usable TSC.
 */
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <x86intrin.h>

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* TSC ticks per ms over about 200 ms of wall time (busy loop: no sleep to be woken late from) */
static double sample_khz(void)
{
	double t0 = now_ns(), t1;
	uint64_t c0 = __rdtsc(), c1;

	do {
		t1 = now_ns();
		c1 = __rdtsc();
	} while (t1 - t0 < 200e6);
	return c1 > c0 ? (double)(c1 - c0) * 1e6 / (t1 - t0) : 0;
}

int main(void)
{
	double s[3], t;

	for (int i = 0; i < 3; i++)
		s[i] = sample_khz();
	/* median of three */
	if (s[0] > s[1]) { t = s[0]; s[0] = s[1]; s[1] = t; }
	if (s[1] > s[2]) { t = s[1]; s[1] = s[2]; s[2] = t; }
	if (s[0] > s[1]) { t = s[0]; s[0] = s[1]; s[1] = t; }
	if (s[1] < 1e5 || s[1] > 1e8)   /* outside 100 MHz .. 100 GHz: not a TSC to trust */
		return 1;
	printf("%.0f\n", s[1]);
	return 0;
}
