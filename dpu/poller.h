/* SPDX-License-Identifier: MIT */
/*
 * kite-dpu polling threads. Each poller is one thread (optionally pinned to a core) that calls its
 * poll functions round robin. A poll function does a bounded batch of work and returns how much it
 * did; when a whole round did nothing the poller backs off: busy-poll for a while, then
 * sched_yield(), then sleeps growing up to ~1 ms.
 *
 * The fast path takes no lock: the poller reads an immutable array of items published with an atomic
 * pointer swap. poller_add()/poller_del() (control thread only) build a new array, swap it in and wait
 * for the poller to finish the round that may still use the old one (an RCU-like grace period), so
 * after poller_del() returns the poller will never call fn(opaque) again.
 */
#ifndef KITE_DPU_POLLER_H
#define KITE_DPU_POLLER_H

#include <stdbool.h>
#include <stdint.h>

struct dpu_poller;

/* Do up to a batch of work; return the amount done (0 = idle). Runs on the poller thread. */
typedef unsigned (*dpu_poll_fn)(void *opaque);

/* cpu < 0: not pinned. start_thread=false: no thread, the caller drives poller_run_once() (tests). */
struct dpu_poller *poller_new(int cpu, bool start_thread);
void poller_free(struct dpu_poller *p);          /* stops and joins the thread */
int poller_add(struct dpu_poller *p, dpu_poll_fn fn, void *opaque);
void poller_del(struct dpu_poller *p, dpu_poll_fn fn, void *opaque);
/* One round over all items; returns the work done. Only when there is no thread. */
unsigned poller_run_once(struct dpu_poller *p);
int poller_cpu(const struct dpu_poller *p);
unsigned poller_nr_items(const struct dpu_poller *p);
/* Counters for stats: rounds, rounds that did work, sleeps. */
void poller_counters(const struct dpu_poller *p, uint64_t *rounds, uint64_t *busy_rounds, uint64_t *sleeps);

#endif
