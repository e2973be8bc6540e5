/* SPDX-License-Identifier: MIT */
/* SIGTERM's graceful stop: Ctrl-Alt-Del to a listening guest and a bounded wait (term_grace.h). */
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "board.h"
#include "kite/legacy_devices.h"
#include "kite/log.h"
#include "term_grace.h"

/* Ctrl, Alt, Del (extended): Firecracker's sequence, scancode set 2, presses only. */
static const uint8_t ctrl_alt_del[] = { 0x14, 0x11, 0xe0, 0x71 };

int term_send_ctrl_alt_del(struct vm *vm, bool only_if_listening)
{
	struct i8042 *kbc = board_kbc(vm);

	if (!kbc || (only_if_listening && !i8042_kbd_irq_enabled(kbc)))
		return -1;
	return i8042_send_keys(kbc, ctrl_alt_del, sizeof(ctrl_alt_del));
}

void term_grace_init(struct term_grace *g)
{
	g->timer_fd = -1;
}

bool term_grace_start(struct term_grace *g, struct vm *vm, struct evloop *loop, evloop_cb expired, void *opaque)
{
	struct itimerspec its = { .it_value = { .tv_sec = KITE_TERM_GRACE_MS / 1000,
						.tv_nsec = (KITE_TERM_GRACE_MS % 1000) * 1000000L } };

	if (g->timer_fd >= 0 || term_send_ctrl_alt_del(vm, true) < 0)
		return false;
	g->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (g->timer_fd < 0 || timerfd_settime(g->timer_fd, 0, &its, NULL) < 0 ||
	    evloop_add(loop, g->timer_fd, EPOLLIN, expired, opaque) < 0) {
		log_warn("vm: SIGTERM: no timer for the grace period (%m): stopping at once");
		if (g->timer_fd >= 0)
			close(g->timer_fd);
		g->timer_fd = -1;
		return false;
	}
	log_info("vm: SIGTERM: sent Ctrl-Alt-Del, waiting up to %d ms for the guest to stop", KITE_TERM_GRACE_MS);
	return true;
}

void term_grace_end(struct term_grace *g, struct evloop *loop)
{
	if (g->timer_fd < 0)
		return;
	evloop_del(loop, g->timer_fd);
	close(g->timer_fd);
	g->timer_fd = -1;
}
