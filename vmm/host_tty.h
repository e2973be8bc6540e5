/* SPDX-License-Identifier: MIT */
/* The host terminal behind a stdio console (vmm/host_tty.c). Main thread only. */
#ifndef KITE_VMM_HOST_TTY_H
#define KITE_VMM_HOST_TTY_H

/* Put stdin in raw mode if it is a terminal (no-op otherwise, or when already raw). */
void host_tty_raw_stdin(void);
/* Restore the settings saved by host_tty_raw_stdin() (also registered with atexit()). */
void host_tty_restore(void);

#endif
