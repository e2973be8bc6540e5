/* SPDX-License-Identifier: MIT */
/*
 * An I/O thread: one thread serving one event loop (kite/evloop.h), for a device's data path
 * (kite: each virtio-blk and virtio-net device's kicks, io_uring completions, TAP and rate-limit
 * timers), so that no device waits behind another's work or behind the VMM's main loop.
 *
 * Thread contract:
 *  - iothread_new/start/stop/free: the owner's thread (kite: the main thread, vmm/vm.c).
 *  - The loop may be filled (evloop_add) before the thread starts and from any thread afterwards;
 *    its callbacks run on the I/O thread only, and take whatever locks the device needs (kite:
 *    dev->lock), as they did on the main loop.
 *  - iothread_pause() returns once the thread is parked outside any callback: until the matching
 *    iothread_resume() no callback runs, so the caller may free what a callback would touch
 *    (swap a disk image, tear down a ring). Pauses nest (a counter): the thread runs again when
 *    every pause is resumed. Any thread except the I/O thread itself; never with a lock a callback
 *    takes (the thread might be waiting for it inside a callback).
 *  - iothread_stop() ends and joins the thread (a paused thread too); afterwards the owner may use
 *    the loop on its own thread (teardown). Idempotent; a thread never started is "stopped".
 */
#ifndef KITE_IOTHREAD_H
#define KITE_IOTHREAD_H

#include <stdbool.h>
#include <stddef.h>

struct evloop;
struct iothread;

/* A stopped I/O thread and its empty loop; name (e.g. "virtio-blk0") for logs and the thread's
 * comm ("io:<name>", truncated to 15 bytes). NULL on failure (logged). */
struct iothread *iothread_new(const char *name);
struct evloop *iothread_loop(const struct iothread *t);
const char *iothread_name(const struct iothread *t);

/* Start the thread, pinned to host CPU `cpu` unless cpu < 0. The thread first calls
 * seccomp_enter(seccomp_kind) (unless NULL) and ends, failing the whole process's start, if that
 * fails: returns -1 (logged) then. 0 on success. */
int iothread_start(struct iothread *t, int cpu, const char *seccomp_kind);

/*
 * Polling (optional; set before the thread starts): after each loop round the thread calls
 * poll(opaque, IOTHREAD_POLL_BEGIN) (the device turns its notifications off), then
 * poll(opaque, IOTHREAD_POLL_CHECK) until a window (kite/poll_window.h: fixed, or adaptive, within
 * a CPU budget) passes without one returning true (true: it found and served work; the window
 * starts again), then poll(opaque, IOTHREAD_POLL_END) (notifications back on; true if work came in
 * meanwhile, which it served: polling goes on). A pause or stop ends polling at once (END is still
 * called). Callbacks run on the I/O thread, like the loop's. A loop round happens only on an event
 * (for a disk: a kick or a completion), so an idle device costs nothing and a busy one at most
 * cfg->max_ns of CPU per event. cfg->max_ns 0: no polling. At its end the thread logs its CPU time
 * and the time it polled in vain (info).
 */
enum iothread_poll_phase { IOTHREAD_POLL_BEGIN, IOTHREAD_POLL_CHECK, IOTHREAD_POLL_END };
typedef bool (*iothread_poll_fn)(void *opaque, enum iothread_poll_phase phase);
struct poll_window_cfg;
void iothread_set_poll(struct iothread *t, iothread_poll_fn poll, void *opaque, const struct poll_window_cfg *cfg);

/* The polling window's statistics so far (kite/poll_window.h); false and zeros when the thread does
 * not poll. Any thread, while the thread runs too. */
struct poll_window_stats;
bool iothread_poll_stats(const struct iothread *t, struct poll_window_stats *out);
/* "off", "adaptive" or the fixed window ("50us") in buf; returns buf. Any thread. */
const char *iothread_poll_mode(const struct iothread *t, char *buf, size_t len);

void iothread_pause(struct iothread *t);
void iothread_resume(struct iothread *t);
void iothread_stop(struct iothread *t);
/* Stop, then free the loop (its handlers must have been removed) and t. NULL is ignored. */
void iothread_free(struct iothread *t);

#endif
