/* SPDX-License-Identifier: MIT */
/* Ways to end the VM that are not the debug-exit port: i8042 reset, triple fault, ACPI S5. */
#include "guest.h"

#define SLP_EN	(1u << 13)
#define SCI_EN	1u

static void wait_for_end(const char *what)
{
	/* The VM should be gone by now; give the VMM some time to act on the request. */
	uint64_t t0 = rdtsc();

	while (rdtsc() - t0 < 20ULL * 1000 * 1000 * 1000)
		cpu_relax();
	guest_fail(GUEST_EXIT_NO_EFFECT, "%s did not end the VM", what);
}

void test_reset(void)
{
	guest_printf("reset: pulsing the reset line through the i8042 (0xfe to port 0x64)\n");
	for (unsigned i = 0; i < 100000 && (inb(0x64) & 0x02); i++)
		cpu_relax();	/* input buffer full: wait (an absent controller reads 0xff: bounded) */
	outb(0x64, 0xfe);
	wait_for_end("i8042 reset");
}

/* A keyboard driver that acts on Ctrl-Alt-Del as Linux does (ends the VM): it enables the keyboard
 * interrupt in the controller's command byte (what kite's SIGTERM grace looks for), then polls the
 * data port for the set-2 sequence 14 11 E0 71 and pulses the reset line. */
void test_cad(void)
{
	static const uint8_t seq[] = { 0x14, 0x11, 0xe0, 0x71 };
	unsigned got = 0;

	for (unsigned i = 0; i < 100000 && (inb(0x64) & 0x02); i++)
		cpu_relax();
	outb(0x64, 0x60);                 /* write the command byte: */
	for (unsigned i = 0; i < 100000 && (inb(0x64) & 0x02); i++)
		cpu_relax();
	outb(0x60, 0x01);                 /* keyboard interrupt on (interrupts stay masked here: polled) */
	guest_printf("cad: keyboard driver listening for Ctrl-Alt-Del\n");
	while (got < sizeof(seq)) {
		uint8_t b;

		if (!(inb(0x64) & 0x01)) {
			cpu_relax();
			continue;
		}
		b = inb(0x60);
		got = b == seq[got] ? got + 1 : b == seq[0];
	}
	guest_printf("cad: Ctrl-Alt-Del received, resetting\n");
	outb(0x64, 0xfe);
	wait_for_end("i8042 reset after Ctrl-Alt-Del");
}

void test_triplefault(void)
{
	guest_printf("triplefault: dropping the IDT and raising #UD\n");
	idt_break();
	__asm__ volatile("ud2");
	wait_for_end("triple fault");
}

void test_poweroff(void)
{
	struct acpi_info ai;
	int rc = acpi_scan(&ai);

	if (rc)
		guest_fail(rc, "no usable ACPI tables");
	if (!ai.fadt || !ai.pm1a_cnt)
		guest_fail(GUEST_EXIT_NO_TABLES, "no FADT or no PM1a_CNT_BLK in it");
	if (ai.s5_typ < 0)
		guest_fail(GUEST_EXIT_NO_TABLES, "no \\_S5 package in the DSDT");
	uint16_t cnt = inw(ai.pm1a_cnt);
	if (!(cnt & SCI_EN) && ai.smi_cmd && ai.acpi_enable) {
		outb(ai.smi_cmd, ai.acpi_enable);
		for (unsigned i = 0; i < 100000 && !(inw(ai.pm1a_cnt) & SCI_EN); i++)
			cpu_relax();
	}
	guest_printf("poweroff: FADT PM1a_CNT at port 0x%x, \\_S5 SLP_TYP %d, writing SLP_EN\n",
		     ai.pm1a_cnt, ai.s5_typ);
	outw(ai.pm1a_cnt, (uint16_t)((inw(ai.pm1a_cnt) & ~(7u << 10)) | ((unsigned)ai.s5_typ << 10) | SLP_EN));
	wait_for_end("ACPI S5 (poweroff)");
}
