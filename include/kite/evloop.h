/* SPDX-License-Identifier: MIT */
/*
 * One epoll event loop per process (kite: device work; kite-dpu: control plane). Callbacks run on the
 * loop's thread. evloop_stop() may be called from any thread or a signal handler (it writes an eventfd).
 */
#ifndef KITE_EVLOOP_H
#define KITE_EVLOOP_H

#include <stdbool.h>
#include <stdint.h>

struct evloop;

/* events: EPOLLIN/EPOLLOUT/... as returned by epoll. */
typedef void (*evloop_cb)(void *opaque, int fd, uint32_t events);

struct evloop *evloop_new(void);
void evloop_free(struct evloop *loop);
/* Watch fd; the loop does not own fd. Returns 0 or -errno. */
int evloop_add(struct evloop *loop, int fd, uint32_t events, evloop_cb cb, void *opaque);
int evloop_mod(struct evloop *loop, int fd, uint32_t events);
/* Safe to call from inside a callback, also for the fd being dispatched. */
int evloop_del(struct evloop *loop, int fd);
/* Runs until evloop_stop(). Returns 0, or -errno if epoll itself failed. */
int evloop_run(struct evloop *loop);
/* Runs at most one epoll_wait round with the given timeout (ms, -1 = block). For tests and pollers. */
int evloop_run_once(struct evloop *loop, int timeout_ms);
void evloop_stop(struct evloop *loop);
bool evloop_stopped(const struct evloop *loop);
/* The loop's epoll fd: readable when a round has work, so that one loop can serve another
 * (watch it, then evloop_run_once(inner, 0)). Not owned by the caller. */
int evloop_fd(const struct evloop *loop);

#endif
