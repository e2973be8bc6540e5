/* SPDX-License-Identifier: MIT */
/*
 * The switch host: one vswitch, the poller thread it lives on, and a mailbox through which the
 * control thread runs configuration changes on that poller thread (so the fast path takes no lock:
 * the poller checks one atomic flag per round). Every port of the switch (vhost-user-net ports,
 * TAP uplinks) is polled by this same poller, so the whole switch is single-threaded.
 */
#ifndef KITE_DPU_NET_HOST_H
#define KITE_DPU_NET_HOST_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "../switch/switch.h"

struct dpu_poller;

/* Something the host polls besides the vhost queues (TAP uplinks). */
struct vsw_host_poll_item {
	unsigned (*fn)(void *opaque);
	void *opaque;
};

#define VSW_HOST_MAX_ITEMS 16

struct vsw_host {
	struct vswitch *sw;
	struct dpu_poller *poller;
	bool direct;                 /* no poller thread (tests): calls run at once */
	pthread_mutex_t call_lock;   /* one caller at a time */
	pthread_mutex_t mb_lock;
	pthread_cond_t mb_cond;
	atomic_bool mb_pending;
	void (*mb_fn)(struct vsw_host *h, void *arg);
	void *mb_arg;
	bool mb_done;
	pthread_t poll_thread;       /* the poller thread, once it ran vsw_host_poll */
	atomic_bool poll_thread_known;
	uint64_t last_age_ns;
	/* poller-thread owned: extra poll items (changed through vsw_host_call) */
	struct vsw_host_poll_item items[VSW_HOST_MAX_ITEMS];
	unsigned nitems;
};

/* direct = true: no poller thread drives the host (unit tests); vsw_host_call runs fn in place. */
struct vsw_host *vsw_host_new(const struct vswitch_config *cfg, struct dpu_poller *poller, bool direct);
void vsw_host_free(struct vsw_host *h);
/* Run fn(h, arg) on the poller thread and wait for it. Control thread only. */
void vsw_host_call(struct vsw_host *h, void (*fn)(struct vsw_host *h, void *arg), void *arg);
/* The host's own poll function (mailbox, FDB aging, extra items). Registered on the poller by
 * vsw_host_new; exposed for tests that drive it by hand. */
unsigned vsw_host_poll(void *opaque);
/* Add / remove an extra poll item (control thread; goes through vsw_host_call). */
int vsw_host_add_item(struct vsw_host *h, unsigned (*fn)(void *), void *opaque);
void vsw_host_del_item(struct vsw_host *h, unsigned (*fn)(void *), void *opaque);

#endif
