/* SPDX-License-Identifier: MIT */
/*
 * SIGTERM's graceful stop (vmm/term_grace.c), the same in kite's two run loops (vm_run() without the
 * API, vmm_ctl_run() with it): when the guest's i8042 driver listens (it wrote the command byte with
 * the keyboard interrupt on, as Linux does), kite sends Ctrl-Alt-Del and gives the guest
 * KITE_TERM_GRACE_MS to end the VM (reset or power-off); otherwise, at the end of the grace period
 * or at a second signal the caller stops at once with 128 + SIGTERM.
 * Owner thread of `loop` only (the thread that runs it).
 */
#ifndef KITE_VMM_TERM_GRACE_H
#define KITE_VMM_TERM_GRACE_H

#include <stdbool.h>

#include "kite/evloop.h"

#define KITE_TERM_GRACE_MS 2000

struct vm;

struct term_grace {
	int timer_fd;                /* -1 = no grace period running */
};

/* Firecracker's Ctrl-Alt-Del (set-2 scancodes, presses only) on the VM's i8042; with
 * only_if_listening, only when a driver enabled the keyboard interrupt. 0 sent, -1 not. */
int term_send_ctrl_alt_del(struct vm *vm, bool only_if_listening);

void term_grace_init(struct term_grace *g);
/* At SIGTERM: true = Ctrl-Alt-Del sent and the one-shot timer armed on loop (expired(opaque, ...)
 * runs when the grace period ends); false = stop now (no listener, a grace period already running,
 * or no timer: logged). */
bool term_grace_start(struct term_grace *g, struct vm *vm, struct evloop *loop, evloop_cb expired, void *opaque);
/* Remove the timer from loop and close it (no-op when none). */
void term_grace_end(struct term_grace *g, struct evloop *loop);

#endif
