/* SPDX-License-Identifier: MIT */
/*
 * Device interrupts through the IOAPIC, routed as the MADT says:
 *   pit: PIT channel 0 at ~1 kHz on ISA IRQ 0 (GSI from the interrupt source override), count
 *        kite.ticks (default 10) interrupts with STI/HLT;
 *   serial_irq: 16550 THR-empty interrupt (IER.ETBEI) on ISA IRQ 4: a message sent one byte per
 *        interrupt, the handler checks IIR says "THR empty".
 *   serial_echo: 16550 received-data interrupt (IER.ERBFI) on ISA IRQ 4: every line received is
 *        printed back as "serial_echo: got 'LINE'"; the line "quit" ends the test (input from the
 *        host's console: stdio or a console socket).
 */
#include "guest.h"

#define PIT_VECTOR	0x41
#define UART_VECTOR	0x44
#define PIT_HZ		1193182u

static volatile uint64_t pit_ticks;
static volatile unsigned uart_irqs, uart_pos, uart_bad_iir;
static const char uart_msg[] = "serial_irq: sent by THR-empty interrupts\n";

static uint64_t ioapic_setup(struct acpi_info *ai)
{
	int rc = acpi_scan(ai);

	if (rc)
		guest_fail(rc, "no usable ACPI tables");
	if (!ai->ioapic)
		guest_fail(GUEST_EXIT_NO_TABLES, "no IOAPIC in the MADT");
	if (ai->ioapic != KITE_IOAPIC_GPA)
		guest_fail(GUEST_EXIT_CHECK, "IOAPIC at 0x%lx: only 0x%llx is mapped", ai->ioapic, KITE_IOAPIC_GPA);
	lapic_enable();
	return ai->ioapic;
}

static void wait_irqs(volatile uint64_t *count, uint64_t want, const char *what)
{
	uint64_t t0 = rdtsc();

	while (*count < want) {
		__asm__ volatile("sti; hlt; cli" ::: "memory");
		if (rdtsc() - t0 > 60ULL * 1000 * 1000 * 1000)
			guest_fail(GUEST_EXIT_TIMEOUT, "only %lu of %lu %s interrupts", *count, want, what);
	}
}

static void pit_irq(struct irq_frame *f)
{
	(void)f;
	pit_ticks++;
	lapic_eoi();
}

void test_pit(void)
{
	struct acpi_info ai;
	uint64_t ioapic = ioapic_setup(&ai);
	uint64_t want = cmdline_u64("kite.ticks", 10);
	unsigned gsi = ai.irq0_gsi ? (unsigned)ai.irq0_gsi : 0;

	require_interrupts();

	if (!want || want > 100000)
		guest_fail(GUEST_EXIT_USAGE, "kite.ticks=%lu out of range 1..100000", want);
	if (gsi >= ioapic_pins(ioapic))
		guest_fail(GUEST_EXIT_CHECK, "IRQ 0 routed to GSI %u, the IOAPIC has %u pins", gsi, ioapic_pins(ioapic));
	guest_printf("pit: ISA IRQ 0 is GSI %u, IOAPIC at 0x%lx with %u pins\n", gsi, ioapic, ioapic_pins(ioapic));
	irq_set_handler(PIT_VECTOR, pit_irq);
	ioapic_route(ioapic, gsi, PIT_VECTOR, lapic_id());
	uint16_t div = PIT_HZ / 1000;
	outb(0x43, 0x34);	/* channel 0, lobyte/hibyte, mode 2 (rate generator) */
	outb(0x40, div & 0xff);
	outb(0x40, div >> 8);
	wait_irqs(&pit_ticks, want, "PIT");
	ioapic_mask(ioapic, gsi);
	outb(0x43, 0x30);	/* mode 0, count never reloaded: one-shot and stop */
	outb(0x40, 0);
	outb(0x40, 0);
	guest_printf("pit: %lu PIT interrupts on vector 0x%x\n", pit_ticks, PIT_VECTOR);
}

static void uart_irq(struct irq_frame *f)
{
	(void)f;
	uint8_t iir = inb(COM1 + 2);

	uart_irqs++;
	if ((iir & 0x0f) == 0x02) {	/* THR empty */
		if (uart_pos < sizeof(uart_msg) - 1)
			outb(COM1, (uint8_t)uart_msg[uart_pos++]);
		else
			outb(COM1 + 1, 0);	/* done: IER off */
	} else if (!(iir & 1)) {
		uart_bad_iir++;
	}
	lapic_eoi();
}

void test_serial_irq(void)
{
	struct acpi_info ai;
	uint64_t ioapic = ioapic_setup(&ai);
	volatile uint64_t sent = 0;

	require_interrupts();

	irq_set_handler(UART_VECTOR, uart_irq);
	ioapic_route(ioapic, 4, UART_VECTOR, lapic_id());
	outb(COM1 + 4, 0x0b);	/* DTR, RTS, OUT2 (the PC's IRQ enable) */
	outb(COM1 + 1, 0x02);	/* IER: THR empty */
	uint64_t t0 = rdtsc();
	while (uart_pos < sizeof(uart_msg) - 1) {
		__asm__ volatile("sti; hlt; cli" ::: "memory");
		sent = uart_pos;
		if (rdtsc() - t0 > 60ULL * 1000 * 1000 * 1000)
			guest_fail(GUEST_EXIT_TIMEOUT, "THR-empty interrupts stopped after %lu bytes", sent);
	}
	outb(COM1 + 1, 0);
	ioapic_mask(ioapic, 4);
	if (uart_bad_iir)
		guest_fail(GUEST_EXIT_CHECK, "%u interrupts with an unexpected IIR", uart_bad_iir);
	guest_printf("serial_irq: %u bytes in %u interrupts on IRQ 4\n", uart_pos, uart_irqs);
}

static volatile uint8_t echo_buf[256];
static volatile unsigned echo_head, echo_tail;   /* written by the handler / the loop */

static void uart_rx_irq(struct irq_frame *f)
{
	(void)f;
	/* drain the FIFO: LSR.DR while bytes wait (one interrupt may stand for several) */
	while (inb(COM1 + 5) & 0x01) {
		uint8_t b = inb(COM1);

		if (echo_head - echo_tail < sizeof(echo_buf))
			echo_buf[echo_head++ % sizeof(echo_buf)] = b;
	}
	lapic_eoi();
}

void test_serial_echo(void)
{
	struct acpi_info ai;
	uint64_t ioapic = ioapic_setup(&ai);
	char line[80];
	unsigned len = 0, lines = 0;

	require_interrupts();

	irq_set_handler(UART_VECTOR, uart_rx_irq);
	ioapic_route(ioapic, 4, UART_VECTOR, lapic_id());
	outb(COM1 + 2, 0x07);	/* FCR: FIFO on, both cleared */
	outb(COM1 + 4, 0x0b);	/* DTR, RTS, OUT2 */
	outb(COM1 + 1, 0x01);	/* IER: received data */
	guest_printf("serial_echo: ready, type lines, 'quit' ends\n");
	for (;;) {
		__asm__ volatile("cli" ::: "memory");
		if (echo_tail == echo_head) {
			__asm__ volatile("sti; hlt; cli" ::: "memory");
			continue;
		}
		__asm__ volatile("sti" ::: "memory");
		char c = (char)echo_buf[echo_tail++ % sizeof(echo_buf)];

		if (c != '\n' && c != '\r') {
			if (len < sizeof(line) - 1)
				line[len++] = c;
			continue;
		}
		if (!len)
			continue;
		line[len] = 0;
		len = 0;
		lines++;
		guest_printf("serial_echo: got '%s'\n", line);
		if (!strcmp(line, "quit"))
			break;
	}
	outb(COM1 + 1, 0);
	ioapic_mask(ioapic, 4);
	guest_printf("serial_echo: %u lines\n", lines);
}
