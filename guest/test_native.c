/* SPDX-License-Identifier: MIT */
/*
 * native: register the kvm-pvm PV cell (pvm.c; nothing on other hosts) and run a CPL0 loop of
 * kite.loops iterations (default 1e8), reporting the TSC cycles it took. Without native mode a
 * kvm-pvm host would emulate it at ~5 us per instruction, so the run itself is the check.
 */
#include "guest.h"

void test_native(void)
{
	uint64_t loops = cmdline_u64("kite.loops", 100000000ULL);
	bool pvm = pvm_detect();

	uint64_t junk;
	/* the #GP guard pvm_detect() relies on: an MSR no CPU has */
	guest_printf("native: rdmsr of an unknown MSR %s\n", safe_rdmsr(0x4b564dff, &junk) ? "faulted (#GP caught)" : "read without fault");
	if (!loops)
		guest_fail(GUEST_EXIT_USAGE, "kite.loops must be at least 1");
	if (pvm && !pvm_enable_native())
		guest_fail(GUEST_EXIT_CHECK, "kvm-pvm host detected but the PV cell was refused");
	guest_printf("native: %s\n", pvm ? "kvm-pvm host, PV cell registered: CPL0 runs natively"
					 : "not a kvm-pvm host: nothing to enable");
	uint64_t n = loops;
	uint64_t t0 = rdtsc();
	__asm__ volatile("1: dec %0; jnz 1b" : "+r"(n) : : "cc");
	uint64_t t1 = rdtsc();
	if (n)
		guest_fail(GUEST_EXIT_CHECK, "loop counter ended at %lu", n);
	guest_printf("native: loop of %lu iterations took %lu TSC cycles (%s)\n", loops, t1 - t0,
		     pvm ? "native" : "host default");
}
