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
 */
#ifndef KITE_POLL_WINDOW_H
#define KITE_POLL_WINDOW_H

#include <stdbool.h>
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

struct poll_window {
	struct poll_window_cfg cfg;
	uint64_t window_ns;      /* the current window */
	uint64_t period_start_ns;
	uint64_t idle_ns;        /* polled without finding work in this period */
	bool missed;             /* the last window ran out without finding work */
	unsigned holdoff;        /* waits left before a window of 0 may grow */
	unsigned backoff;        /* the next holdoff */
	/* statistics */
	uint64_t idle_total_ns;  /* polled without finding work, all periods */
	uint64_t capped;         /* windows cut or skipped by the budget */
};

void poll_window_init(struct poll_window *w, const struct poll_window_cfg *cfg, uint64_t now_ns);

/* How long to poll from now_ns on (ns), counting from the last find; 0: do not poll, block. */
uint64_t poll_window_next(struct poll_window *w, uint64_t now_ns);

/* A window ran out at now_ns: idle_ns polled since its last find (or its start) without work;
 * found: it found work before that. */
void poll_window_expired(struct poll_window *w, uint64_t now_ns, uint64_t idle_ns, bool found);

/* After a window ran out (or, with a window of 0, without polling) the thread waited waited_ns for
 * its next work: the adaptive window grows or shrinks (see above); fixed: nothing. */
void poll_window_waited(struct poll_window *w, uint64_t waited_ns);

#endif
