/* SPDX-License-Identifier: MIT */
/* Tests that need almost nothing: hello, spin and idle. */
#include "guest.h"

void test_hello(void)
{
	guest_printf("kite-guest: hello from the kite test guest\n");
}

void test_spin(void)
{
	guest_printf("spin: looping until the VMM stops us\n");
	for (;;)
		cpu_relax();
}

void test_idle(void)
{
	guest_printf("idle: halted with interrupts off until the VMM stops us\n");
	for (;;)
		__asm__ volatile("cli; hlt");
}
