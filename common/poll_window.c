/* SPDX-License-Identifier: MIT */
/* The polling window and its CPU budget (kite/poll_window.h). */
#include "kite/poll_window.h"

static uint64_t budget_ns(const struct poll_window *w)
{
	return POLL_BUDGET_PERIOD_NS / 100 * w->cfg.budget_pct;
}

void poll_window_init(struct poll_window *w, const struct poll_window_cfg *cfg, uint64_t now_ns)
{
	*w = (struct poll_window){ .cfg = *cfg, .period_start_ns = now_ns };
	if (!w->cfg.budget_pct || w->cfg.budget_pct > 100)
		w->cfg.budget_pct = 100;
	w->window_ns = cfg->adaptive ? 0 : cfg->max_ns;
	w->backoff = POLL_WINDOW_BACKOFF_MIN;
}

static void roll_period(struct poll_window *w, uint64_t now_ns)
{
	if (now_ns - w->period_start_ns >= POLL_BUDGET_PERIOD_NS) {
		w->period_start_ns = now_ns;
		w->idle_ns = 0;
	}
}

uint64_t poll_window_next(struct poll_window *w, uint64_t now_ns)
{
	uint64_t left;

	roll_period(w, now_ns);
	if (!w->window_ns || w->cfg.budget_pct == 100)
		return w->window_ns;
	left = w->idle_ns < budget_ns(w) ? budget_ns(w) - w->idle_ns : 0;
	if (left < w->window_ns) {
		w->capped++;
		return left;
	}
	return w->window_ns;
}

void poll_window_expired(struct poll_window *w, uint64_t now_ns, uint64_t idle_ns, bool found)
{
	roll_period(w, now_ns);
	w->idle_ns += idle_ns;
	w->idle_total_ns += idle_ns;
	if (!w->cfg.adaptive)
		return;
	w->missed = !found;
	if (found) {
		w->backoff = POLL_WINDOW_BACKOFF_MIN;
		return;
	}
	w->window_ns /= 2;
	if (w->window_ns < POLL_WINDOW_START_NS) {
		/* polling found nothing even at the smallest window: try again only after a while */
		w->window_ns = 0;
		w->holdoff = w->backoff;
		if (w->backoff < POLL_WINDOW_BACKOFF_MAX)
			w->backoff *= 2;
	}
}

void poll_window_waited(struct poll_window *w, uint64_t waited_ns)
{
	uint64_t max = w->cfg.max_ns;

	if (!w->cfg.adaptive)
		return;
	if (w->holdoff) {
		w->holdoff--;
		return;
	}
	if (w->window_ns <= max && waited_ns <= max - w->window_ns) {
		/* a window up to max would have caught it, unless polling just missed it: the work
		 * may have come only because the thread stopped polling (a vCPU on the same core) */
		if (w->missed && w->window_ns)
			return;
		w->window_ns = w->window_ns ? w->window_ns * 2 : POLL_WINDOW_START_NS;
		if (w->window_ns > max)
			w->window_ns = max;
	} else {
		w->window_ns /= 2;
		if (w->window_ns < POLL_WINDOW_START_NS)
			w->window_ns = 0;
	}
}
