/* SPDX-License-Identifier: MIT */
/* The polling window and its CPU budget (kite/poll_window.h). */
#include <stdio.h>

#include "kite/poll_window.h"

/* Statistics: one writer (the window's thread), readers anywhere (kite/poll_window.h). */
#define ST_SET(w, f, v) __atomic_store_n(&(w)->st.f, (v), __ATOMIC_RELAXED)
#define ST_ADD(w, f, v) ST_SET(w, f, (w)->st.f + (v))

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
	w->st.window_ns = w->window_ns;
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
		ST_ADD(w, budget_cuts, 1);
		return left;
	}
	return w->window_ns;
}

void poll_window_expired(struct poll_window *w, uint64_t now_ns, uint64_t polled_ns, uint64_t idle_ns, bool found)
{
	roll_period(w, now_ns);
	w->idle_ns += idle_ns;
	ST_ADD(w, windows, 1);
	ST_ADD(w, found, found ? 1 : 0);
	ST_ADD(w, useful_ns, polled_ns > idle_ns ? polled_ns - idle_ns : 0);
	ST_ADD(w, vain_ns, idle_ns);
	ST_SET(w, last_ns, polled_ns);
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
	ST_SET(w, window_ns, w->window_ns);
}

void poll_window_waited(struct poll_window *w, uint64_t waited_ns)
{
	uint64_t max = w->cfg.max_ns;

	if (!w->cfg.adaptive)
		return;
	if (w->holdoff) {
		w->holdoff--;
		ST_ADD(w, backoff_skips, 1);
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
	ST_SET(w, window_ns, w->window_ns);
}

void poll_window_get_stats(const struct poll_window *w, struct poll_window_stats *out)
{
	out->windows = __atomic_load_n(&w->st.windows, __ATOMIC_RELAXED);
	out->found = __atomic_load_n(&w->st.found, __ATOMIC_RELAXED);
	out->useful_ns = __atomic_load_n(&w->st.useful_ns, __ATOMIC_RELAXED);
	out->vain_ns = __atomic_load_n(&w->st.vain_ns, __ATOMIC_RELAXED);
	out->window_ns = __atomic_load_n(&w->st.window_ns, __ATOMIC_RELAXED);
	out->last_ns = __atomic_load_n(&w->st.last_ns, __ATOMIC_RELAXED);
	out->budget_cuts = __atomic_load_n(&w->st.budget_cuts, __ATOMIC_RELAXED);
	out->backoff_skips = __atomic_load_n(&w->st.backoff_skips, __ATOMIC_RELAXED);
}

void poll_window_stats_each(const struct poll_window_stats *st, poll_window_stat_fn emit, void *opaque)
{
	emit(opaque, "poll_windows", st->windows);
	emit(opaque, "poll_found", st->found);
	emit(opaque, "poll_useful_ns", st->useful_ns);
	emit(opaque, "poll_vain_ns", st->vain_ns);
	emit(opaque, "poll_window_ns", st->window_ns);
	emit(opaque, "poll_last_ns", st->last_ns);
	emit(opaque, "poll_budget_cuts", st->budget_cuts);
	emit(opaque, "poll_backoff_skips", st->backoff_skips);
}

struct fmt_sink {
	char *buf;
	size_t len;
	int n;
};

static void fmt_one(void *opaque, const char *name, uint64_t value)
{
	struct fmt_sink *s = opaque;
	size_t at = s->n >= 0 && (size_t)s->n < s->len ? (size_t)s->n : s->len;
	int r;

	if (s->n < 0)
		return;
	r = snprintf(s->buf + at, s->len - at, "%s%s=%llu", s->n ? " " : "", name, (unsigned long long)value);
	s->n = r < 0 ? r : s->n + r;
}

int poll_window_stats_format(const struct poll_window_stats *st, char *buf, size_t len)
{
	struct fmt_sink s = { buf, len, 0 };

	if (len)
		buf[0] = '\0';
	poll_window_stats_each(st, fmt_one, &s);
	return s.n;
}
