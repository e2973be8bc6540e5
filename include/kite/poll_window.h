/* SPDX-License-Identifier: MIT */
/*
 * The polling window of an I/O thread (kite/iothread.h): how long the thread polls its device after
 * work before it blocks on its eventfds again. Pure bookkeeping, no clock of its own: the caller
 * passes monotonic nanoseconds, so a test can feed it any sequence. One thread only (the I/O
 * thread's), no locking.
 *
 * Fixed (adaptive false): the window is max_ns. Adaptive: it starts at 0 and moves with two
 * signals. A window that ran out without finding any work halves (below POLL_WINDOW_START_NS: 0);
 * one that found work stays. After a window ran out (or with a window of 0) the thread waits for
 * its next work (poll_window_waited): if that came no later than max_ns after the window began, a
 * longer window would have caught it: the window doubles (from 0: POLL_WINDOW_START_NS), up to
 * max_ns, unless the window just missed (then the work may have come only because the thread
 * stopped polling: a vCPU sharing its core); if it came later, the window halves. When polling
 * drops to 0 after a miss, the next `holdoff` waits do not start it again; that holdoff doubles
 * with every such miss (POLL_WINDOW_BACKOFF_MIN..MAX waits) and resets when a window finds work.
 *
 * Budget: the time spent polling without finding work (each window's tail after its last find)
 * counts against budget_pct percent of one core per POLL_BUDGET_PERIOD_NS; once spent, the window
 * is 0 (the thread blocks, as without polling) until the next period, and a window is cut to what
 * is left. 100: no cap.
 *
 * Statistics (struct poll_window_stats): written by the window's thread with relaxed atomic stores,
 * so that any thread may read them (poll_window_get_stats) while it runs; each field is whole, the
 * set is no snapshot (fields may be one window apart).
 */
#ifndef KITE_POLL_WINDOW_H
#define KITE_POLL_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POLL_WINDOW_START_NS   4000ULL          /* an adaptive window's first size, and its floor */
#define POLL_WINDOW_BACKOFF_MIN 8
#define POLL_WINDOW_BACKOFF_MAX 1024
#define POLL_BUDGET_PERIOD_NS  1000000000ULL    /* the budget renews every second */

struct poll_window_cfg {
	uint64_t max_ns;       /* fixed: the window; adaptive: its ceiling. 0: no polling */
	bool adaptive;
	unsigned budget_pct;   /* 1..100 (100: no cap); 0 is taken as 100 */
};

/* What the window did; every time in ns of CLOCK_MONOTONIC. */
struct poll_window_stats {
	uint64_t windows;        /* windows polled (each ran out, or a pause ended it) */
	uint64_t found;          /* of them, the windows that found work (or a pause ended) */
	uint64_t useful_ns;      /* polled up to each window's last find */
	uint64_t vain_ns;        /* polled without finding work (each window's tail after its last find) */
	uint64_t window_ns;      /* the current window (adaptive: its size now; 0: not polling) */
	uint64_t last_ns;        /* how long the last window polled */
	uint64_t budget_cuts;    /* windows cut or skipped by the budget */
	uint64_t backoff_skips;  /* waits after which the back-off kept polling off (no probe) */
};

struct poll_window {
	struct poll_window_cfg cfg;
	uint64_t window_ns;      /* the current window */
	uint64_t period_start_ns;
	uint64_t idle_ns;        /* polled without finding work in this period */
	bool missed;             /* the last window ran out without finding work */
	unsigned holdoff;        /* waits left before a window of 0 may grow */
	unsigned backoff;        /* the next holdoff */
	struct poll_window_stats st;   /* see above: read them with poll_window_get_stats */
};

void poll_window_init(struct poll_window *w, const struct poll_window_cfg *cfg, uint64_t now_ns);

/* How long to poll from now_ns on (ns), counting from the last find; 0: do not poll, block. */
uint64_t poll_window_next(struct poll_window *w, uint64_t now_ns);

/* A window ran out at now_ns after polling polled_ns in all: idle_ns of them since its last find (or
 * its start) without work; found: it found work before that (a caller passes true for a window a
 * pause ended: that is no miss). */
void poll_window_expired(struct poll_window *w, uint64_t now_ns, uint64_t polled_ns, uint64_t idle_ns, bool found);

/* After a window ran out (or, with a window of 0, without polling) the thread waited waited_ns for
 * its next work: the adaptive window grows or shrinks (see above); fixed: nothing. */
void poll_window_waited(struct poll_window *w, uint64_t waited_ns);

/* The statistics so far (see above). Any thread. */
void poll_window_get_stats(const struct poll_window *w, struct poll_window_stats *out);

/* The statistics as `name=value` pairs separated by spaces (poll_windows=N poll_found=N
 * poll_useful_ns=N poll_vain_ns=N poll_window_ns=N poll_last_ns=N poll_budget_cuts=N
 * poll_backoff_skips=N), the format of kite --stats; truncated to len. Returns what snprintf does. */
int poll_window_stats_format(const struct poll_window_stats *st, char *buf, size_t len);

/* Each statistic's name (as above: poll_windows, ...) and value, in that order: emit(opaque, name, value). */
typedef void (*poll_window_stat_fn)(void *opaque, const char *name, uint64_t value);
void poll_window_stats_each(const struct poll_window_stats *st, poll_window_stat_fn emit, void *opaque);

#endif
