/* SPDX-License-Identifier: MIT */
/* kite --stats: one line per I/O thread with its polling window's statistics (kite/poll_window.h). */
#include <stdio.h>

#include "kite/iothread.h"
#include "kite/poll_window.h"
#include "kite/vm.h"

void vm_print_iothread_stats(struct vm *vm)
{
	for (unsigned i = 0; i < vm->niothreads; i++) {
		struct poll_window_stats st;
		char mode[32], line[512];

		iothread_poll_stats(vm->iothreads[i], &st);   /* zeros for a thread that does not poll */
		poll_window_stats_format(&st, line, sizeof(line));
		fprintf(stderr, "kite: stats: io:%s: poll=%s %s\n", iothread_name(vm->iothreads[i]),
			iothread_poll_mode(vm->iothreads[i], mode, sizeof(mode)), line);
	}
}
