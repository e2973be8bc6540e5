/* SPDX-License-Identifier: MIT */
/* timer: LAPIC timer in periodic mode on vector 0x40, STI/HLT until kite.ticks (default 10) ticks. */
#include "guest.h"

#define LAPIC_LVT_TIMER	0x320
#define LAPIC_TIMER_ICR	0x380
#define LAPIC_TIMER_CCR	0x390
#define LAPIC_TIMER_DCR	0x3e0
#define TIMER_VECTOR	0x40
#define LVT_PERIODIC	(1u << 17)
#define LVT_MASKED	(1u << 16)

static volatile uint64_t ticks;

static void timer_irq(struct irq_frame *f)
{
	(void)f;
	ticks++;
	lapic_eoi();
}

void test_timer(void)
{
	uint64_t want = cmdline_u64("kite.ticks", 10);
	uint64_t halts = 0;

	require_interrupts();

	if (!want || want > 100000)
		guest_fail(GUEST_EXIT_USAGE, "kite.ticks=%lu out of range 1..100000", want);
	irq_set_handler(TIMER_VECTOR, timer_irq);
	lapic_enable();
	lapic_write(LAPIC_TIMER_DCR, 0x3);	/* divide by 16 */
	lapic_write(LAPIC_LVT_TIMER, TIMER_VECTOR | LVT_PERIODIC);
	lapic_write(LAPIC_TIMER_ICR, 100000);	/* ~1.6 ms at a 1 GHz APIC bus */
	uint64_t t0 = rdtsc();
	while (ticks < want) {
		/* sti;hlt is atomic: an interrupt between them still wakes the hlt. */
		__asm__ volatile("sti; hlt; cli" ::: "memory");
		halts++;
		if (rdtsc() - t0 > 60ULL * 1000 * 1000 * 1000)
			guest_fail(GUEST_EXIT_TIMEOUT, "only %lu of %lu timer interrupts", ticks, want);
	}
	lapic_write(LAPIC_LVT_TIMER, LVT_MASKED);
	lapic_write(LAPIC_TIMER_ICR, 0);
	guest_printf("timer: %lu LAPIC timer interrupts on vector 0x%x (%lu halts)\n", ticks, TIMER_VECTOR, halts);
}
