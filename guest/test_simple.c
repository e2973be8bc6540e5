/* SPDX-License-Identifier: MIT */
/* Tests that need almost nothing: hello and spin. */
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
