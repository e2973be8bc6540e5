/* SPDX-License-Identifier: MIT */
/* Tests that need almost nothing: hello, spin, idle and exec-hook. */
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

/* Pokes the test-only port of kite's -Dtest_hooks builds (devices/test_hook.c): kite's device
 * thread then calls execve, which its seccomp filter must stop. Spins until kite ends. */
void test_exec_hook(void)
{
	guest_printf("exec-hook: asking the device thread to execve\n");
	outb(0x5ec, 1);
	for (;;)
		cpu_relax();
}
