/* SPDX-License-Identifier: MIT */
/*
 * kite-dpu polling threads. Each poller is one thread (optionally pinned to a core) that calls its
 * poll functions round robin. A poll function does a bounded batch of work and returns how much it
 * did; when a whole round did nothing the poller backs off: busy-poll for its spin window (adaptive, below), then
 * sleeps.
 *
 * Sleeping: an item may name a wake fd (an eventfd such as a vring's kick fd) and an arm function.
 * Before it sleeps the poller arms every such item (the item asks its peer to signal the fd, e.g. by
 * re-enabling guest kicks, then re-checks for work that raced in), and blocks until a wake fd or the
 * poller's own control eventfd (poller_add/del, poller_free) fires. The timeout is POLLER_IDLE_MAX_NS
 * when every item is armed and idle, and otherwise the timed back-off (20 us growing to 1 ms), so
 * items without a fd (TAP, DPDK uplinks) or with work no fd signals (I/O completions) behave as
 * before; an item with a deadline of its own (a held interrupt) bounds the sleep with
 * poller_wake_within. On waking it disarms the items again and busy-polls. Wake fds are registered
 * edge-triggered: the poller never reads them.
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

/* Do up to a batch of work; return the amount done (0 = idle). Runs on the poller thread.
 * An item that did nothing but waits for I/O the kernel does on another thread (an io_uring request
 * handed to an io-wq worker, a disk read) whose completion signals one of its wake fds returns
 * POLLER_IO_WAIT: when a whole round did nothing and an item said so, the poller goes to sleep at
 * once instead of spinning its window first, so that it leaves its core to that worker (on a
 * pinned poller the worker may well share the core) and is woken by the completion. */
typedef unsigned (*dpu_poll_fn)(void *opaque);
#define POLLER_IO_WAIT (1u << 31)

/*
 * Poller thread, for an item with a wake fd. arm=true: the poller is about to sleep; make the fd
 * signal new work (e.g. enable kicks) and check once more. Return POLLER_ARM_IDLE (nothing pending),
 * POLLER_ARM_TIMED (armed, but waiting for work no fd signals, such as I/O in flight: sleep with the
 * timed back-off) or POLLER_ARM_BUSY (work came in: do not sleep). arm=false: the
 * poller is polling again (e.g. disable kicks); the return value is ignored.
 */
enum { POLLER_ARM_IDLE, POLLER_ARM_TIMED, POLLER_ARM_BUSY };
typedef int (*dpu_arm_fn)(void *opaque, bool arm);
#define POLLER_IDLE_MAX_NS 10000000   /* the longest sleep when every item is armed and idle */

/* cpu < 0: not pinned. start_thread=false: no thread, the caller drives poller_run_once() (tests). */
struct dpu_poller *poller_new(int cpu, bool start_thread);
void poller_free(struct dpu_poller *p);          /* stops and joins the thread */
/* Control thread. 0 or -errno. poller_add() is poller_add_fd() with no wake fd. */
int poller_add(struct dpu_poller *p, dpu_poll_fn fn, void *opaque);
/* wake_fd >= 0 with arm: see above; the caller keeps the fd open until poller_del() returns. If the
 * fd cannot be watched (logged) the item is added without it. */
int poller_add_fd(struct dpu_poller *p, dpu_poll_fn fn, void *opaque, int wake_fd, dpu_arm_fn arm);
/* The same with up to POLLER_MAX_WAKE_FDS wake fds (negative entries are skipped), e.g. a vring's kick
 * fd and an eventfd its I/O completions signal. If one cannot be watched, the item gets none. */
#define POLLER_MAX_WAKE_FDS 2
int poller_add_fds(struct dpu_poller *p, dpu_poll_fn fn, void *opaque, const int *wake_fds, unsigned nfds,
		   dpu_arm_fn arm);
void poller_del(struct dpu_poller *p, dpu_poll_fn fn, void *opaque);
/* One round over all items; returns the work done (POLLER_IO_WAIT ored in when an item said so and
 * there was none). Only when there is no thread. */
unsigned poller_run_once(struct dpu_poller *p);
/* Poller thread, from an item's poll or arm function: the next sleep lasts at most ns (an item's
 * deadline, such as a held interrupt; the smallest asked for wins; cleared by each sleep). Elsewhere
 * a no-op. */
void poller_wake_within(uint64_t ns);
/* Tests, without a thread: one sleep stage as the thread's (arm, sleep, disarm); false if an item
 * had work (nothing slept). */
bool poller_sleep_once(struct dpu_poller *p);
/* Tests: the sleep when every item is armed and idle (default POLLER_IDLE_MAX_NS). */
void poller_set_idle_max_ns(struct dpu_poller *p, uint64_t ns);
int poller_cpu(const struct dpu_poller *p);
unsigned poller_nr_items(const struct dpu_poller *p);
/* Counters for stats: rounds, rounds that did work, sleeps (timed or on wake fds). */
void poller_counters(const struct dpu_poller *p, uint64_t *rounds, uint64_t *busy_rounds, uint64_t *sleeps);

/*
 * The adaptive spin: after a round that found work, the poller busy-polls for its spin window before
 * it sleeps. The window starts at the poller's bound (poller_set_spin_max_ns, default
 * POLLER_SPIN_DEFAULT_NS). poller_spin_next(window, slept_ns, max_ns) is the window after a sleep
 * (that followed a whole spin) which new work ended after slept_ns: sooner than the bound means a
 * longer spin would have found that work without a wake-up, and the window doubles (from
 * POLLER_SPIN_MIN_NS at least, up to the bound); later means the spin found nothing that a sleep
 * would have missed, and the window halves (below POLLER_SPIN_MIN_NS: 0, the poller then sleeps after
 * POLLER_IDLE_CHECK empty rounds). Under load no sleep happens and the window stays.
 * The bound is what a spin may cost to save one sleep and wake-up: spinning longer than those cost
 * (in CPU time; about 8-10 us on the development VM, docs/benchmarks.md) is the worse bet (ski
 * rental). With a larger bound, a guest whose requests come a little less often than that keeps the
 * poller spinning through every gap: a whole core for, e.g., one request per 20-50 us, for a latency
 * below one wake-up. A slow guest, whose requests come further apart than the bound, stops paying
 * for the spin. poller_spin_next is pure: no clock, no state.
 */
#define POLLER_SPIN_DEFAULT_NS 10000
#define POLLER_SPIN_MIN_NS 2000
#define POLLER_IDLE_CHECK  64       /* empty rounds between two looks at the clock */
uint64_t poller_spin_next(uint64_t window_ns, uint64_t slept_ns, uint64_t max_ns);
/* The bound on the spin window (control thread, at any time; the thread applies it at its next
 * idle look at the clock). 0: the poller never spins, it sleeps as soon as a round finds nothing. */
void poller_set_spin_max_ns(struct dpu_poller *p, uint64_t ns);
/* The poller's current spin window (stats). */
uint64_t poller_spin_ns(const struct dpu_poller *p);

#endif
