/* SPDX-License-Identifier: MIT */
/*
 * smp: count CPUs in the MADT (and the MP table when present), start every AP one at a time with
 * INIT/SIPI/SIPI into the real-mode trampoline, each AP reports its APIC id and bumps a counter.
 */
#include "guest.h"

extern const uint8_t tramp_start[], tramp_end[];

volatile uint64_t ap_stack_top;
static volatile uint32_t ap_count;
static uint8_t ap_stacks[GUEST_MAX_CPUS][GUEST_STACK_SIZE] __attribute__((aligned(16), section(".stacks")));

void ap_main(void)
{
	idt_load();
	lapic_enable();
	guest_printf("smp: AP with APIC id %u is up\n", lapic_id());
	__atomic_add_fetch(&ap_count, 1, __ATOMIC_SEQ_CST);
	for (;;)
		__asm__ volatile("cli; hlt");
}

/* TSC cycles to wait for one AP: generous, as every instruction may be emulated (~5 us). */
#define AP_TIMEOUT_TSC	(30ULL * 1000 * 1000 * 1000)

void test_smp(void)
{
	struct acpi_info ai;
	int rc = acpi_scan(&ai);

	if (rc)
		guest_fail(rc, "no usable ACPI tables");
	if (!ai.madt || !ai.ncpus)
		guest_fail(GUEST_EXIT_NO_TABLES, "no MADT or no enabled CPU in it");
	guest_printf("smp: MADT lists %u enabled CPUs\n", ai.ncpus);
	int mp = mptable_cpus();
	if (mp >= 0) {
		guest_printf("smp: MP table lists %d CPUs\n", mp);
		/* SeaBIOS lists only the CPUs it saw itself; kite's tests ask for the strict check. */
		if ((unsigned)mp != ai.ncpus && cmdline_u64("kite.mptable", 0))
			guest_fail(GUEST_EXIT_CHECK, "MP table (%d CPUs) and MADT (%u) disagree", mp, ai.ncpus);
	}
	uint64_t expect = cmdline_u64("kite.expect_cpus", ai.ncpus);
	if (expect != ai.ncpus)
		guest_fail(GUEST_EXIT_CHECK, "firmware lists %u CPUs, expected %lu", ai.ncpus, expect);
	if (ai.ncpus > GUEST_MAX_CPUS)
		guest_fail(GUEST_EXIT_USAGE, "%u CPUs: the guest supports at most %u", ai.ncpus, GUEST_MAX_CPUS);

	size_t tlen = (size_t)(tramp_end - tramp_start);
	if (!e820_is_ram(TRAMP_BASE, 4096))
		guest_fail(GUEST_EXIT_CHECK, "trampoline page 0x%x is not usable RAM in the e820 map", TRAMP_BASE);
	memcpy((void *)(uintptr_t)TRAMP_BASE, tramp_start, tlen);

	lapic_enable();
	uint32_t bsp = lapic_id();
	guest_printf("smp: BSP has APIC id %u\n", bsp);
	unsigned slot = 1;
	for (unsigned i = 0; i < ai.nids; i++) {
		uint32_t id = ai.apic_ids[i];
		if (id == bsp)
			continue;
		uint32_t before = ap_count;
		ap_stack_top = (uint64_t)(uintptr_t)(ap_stacks[slot++] + GUEST_STACK_SIZE);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		lapic_start_ap(id, TRAMP_BASE >> 12);
		uint64_t t0 = rdtsc();
		while (ap_count == before) {
			if (rdtsc() - t0 > AP_TIMEOUT_TSC)
				guest_fail(GUEST_EXIT_TIMEOUT, "AP with APIC id %u did not start", id);
			cpu_relax();
		}
	}
	unsigned up = ap_count + 1;
	guest_printf("smp: %u of %u CPUs up\n", up, ai.ncpus);
	if (up != ai.ncpus)
		guest_fail(GUEST_EXIT_CHECK, "%u CPUs up, %u listed", up, ai.ncpus);
}
