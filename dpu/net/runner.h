/* SPDX-License-Identifier: MIT */
/*
 * The switch runner: one vswitch, the poller thread it lives on, and a mailbox through which the
 * control thread runs configuration changes on that poller thread (so the fast path takes no lock:
 * the poller checks one atomic flag per round). Every port of the switch (vhost-user-net ports,
 * TAP uplinks) is polled by this same poller, so the whole switch is single-threaded.
 */
#ifndef KITE_DPU_NET_RUNNER_H
#define KITE_DPU_NET_RUNNER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "../switch/switch.h"

struct dpu_poller;

/* Something the runner polls besides the vhost queues (TAP uplinks). */
struct vsw_runner_poll_item {
	unsigned (*fn)(void *opaque);
	void *opaque;
};

#define VSW_RUNNER_MAX_ITEMS 16

struct vsw_runner {
	struct vswitch *sw;
	struct dpu_poller *poller;
	bool direct;                 /* no poller thread (tests): calls run at once */
	pthread_mutex_t call_lock;   /* one caller at a time */
	pthread_mutex_t mb_lock;
	pthread_cond_t mb_cond;
	atomic_bool mb_pending;
	void (*mb_fn)(struct vsw_runner *h, void *arg);
	void *mb_arg;
	bool mb_done;
	pthread_t poll_thread;       /* the poller thread, once it ran vsw_runner_poll */
	atomic_bool poll_thread_known;
	uint64_t last_age_ns;
	/* poller-thread owned: extra poll items (changed through vsw_runner_call) */
	uint64_t rounds;             /* vsw_runner_poll calls (poller thread) */
	struct vsw_runner_poll_item items[VSW_RUNNER_MAX_ITEMS];
	unsigned nitems;
};

/* direct = true: no poller thread drives the runner (unit tests); vsw_runner_call runs fn in place. */
struct vsw_runner *vsw_runner_new(const struct vswitch_config *cfg, struct dpu_poller *poller, bool direct);
void vsw_runner_free(struct vsw_runner *h);
/* Run fn(h, arg) on the poller thread and wait for it. Control thread only. */
void vsw_runner_call(struct vsw_runner *h, void (*fn)(struct vsw_runner *h, void *arg), void *arg);
/* The runner's own poll function (mailbox, FDB aging, extra items). Registered on the poller by
 * vsw_runner_new; exposed for tests that drive it by hand. */
unsigned vsw_runner_poll(void *opaque);
/* Add / remove an extra poll item (control thread; goes through vsw_runner_call). */
int vsw_runner_add_item(struct vsw_runner *h, unsigned (*fn)(void *), void *opaque);
void vsw_runner_del_item(struct vsw_runner *h, unsigned (*fn)(void *), void *opaque);

#endif
