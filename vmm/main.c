/* SPDX-License-Identifier: MIT */
/* Placeholder until the VMM core lands. */
#include "kite/log.h"

int main(void)
{
	kite_log_init("kite", KITE_LOG_INFO);
	kite_die("not implemented yet");
}
