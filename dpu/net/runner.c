/* SPDX-License-Identifier: MIT */
/* The switch runner: mailbox to the poller thread, FDB aging, extra poll items (see runner.h). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../poller.h"
#include "kite/log.h"
#include "kite/ratelimit.h"

#include "runner.h"

#define AGE_PERIOD_NS 1000000000ull
#define AGE_CHECK_ROUNDS 4096    /* rounds between two looks at the clock for aging */

unsigned vsw_runner_poll(void *opaque)
{
	struct vsw_runner *h = opaque;
	unsigned work = 0;

	if (!atomic_load_explicit(&h->poll_thread_known, memory_order_relaxed)) {
		h->poll_thread = pthread_self();
		atomic_store_explicit(&h->poll_thread_known, true, memory_order_release);
	}
	if (atomic_load_explicit(&h->mb_pending, memory_order_acquire)) {
		pthread_mutex_lock(&h->mb_lock);
		if (h->mb_fn) {
			h->mb_fn(h, h->mb_arg);
			h->mb_fn = NULL;
			h->mb_done = true;
			atomic_store_explicit(&h->mb_pending, false, memory_order_release);
			pthread_cond_broadcast(&h->mb_cond);
		}
		pthread_mutex_unlock(&h->mb_lock);
		work++;
	}
	/* the switch reads the clock at most once per round, and only in a round with frames */
	vswitch_new_round(h->sw);
	for (unsigned i = 0; i < h->nitems; i++)
		work += h->items[i].fn(h->items[i].opaque);
	if (++h->rounds % AGE_CHECK_ROUNDS)
		return work;
	uint64_t now = rl_now_ns();
	if (now - h->last_age_ns > AGE_PERIOD_NS) {
		h->last_age_ns = now;
		vswitch_age(h->sw);
	}
	return work;
}

struct vsw_runner *vsw_runner_new(const struct vswitch_config *cfg, struct dpu_poller *poller, bool direct)
{
	struct vsw_runner *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->sw = vswitch_new(cfg);
	if (!h->sw) {
		free(h);
		return NULL;
	}
	h->poller = poller;
	h->direct = direct;
	pthread_mutex_init(&h->call_lock, NULL);
	pthread_mutex_init(&h->mb_lock, NULL);
	pthread_cond_init(&h->mb_cond, NULL);
	h->last_age_ns = rl_now_ns();
	if (poller && poller_add(poller, vsw_runner_poll, h) < 0) {
		log_err("vswitch: cannot add the switch to its poller");
		vswitch_free(h->sw);
		free(h);
		return NULL;
	}
	return h;
}

void vsw_runner_free(struct vsw_runner *h)
{
	if (!h)
		return;
	if (h->poller)
		poller_del(h->poller, vsw_runner_poll, h);
	vswitch_free(h->sw);
	pthread_mutex_destroy(&h->call_lock);
	pthread_mutex_destroy(&h->mb_lock);
	pthread_cond_destroy(&h->mb_cond);
	free(h);
}

void vsw_runner_call(struct vsw_runner *h, void (*fn)(struct vsw_runner *h, void *arg), void *arg)
{
	/* No poller thread, or called on it (a device op run by the poller): run in place. */
	if (h->direct || !h->poller ||
	    (atomic_load_explicit(&h->poll_thread_known, memory_order_acquire) &&
	     pthread_equal(h->poll_thread, pthread_self()))) {
		fn(h, arg);
		return;
	}
	pthread_mutex_lock(&h->call_lock);
	pthread_mutex_lock(&h->mb_lock);
	h->mb_fn = fn;
	h->mb_arg = arg;
	h->mb_done = false;
	atomic_store_explicit(&h->mb_pending, true, memory_order_release);
	while (!h->mb_done)
		pthread_cond_wait(&h->mb_cond, &h->mb_lock);
	pthread_mutex_unlock(&h->mb_lock);
	pthread_mutex_unlock(&h->call_lock);
}

struct item_arg {
	unsigned (*fn)(void *);
	void *opaque;
	int ret;
};

static void do_add_item(struct vsw_runner *h, void *arg)
{
	struct item_arg *a = arg;

	if (h->nitems >= VSW_RUNNER_MAX_ITEMS) {
		a->ret = -1;
		return;
	}
	h->items[h->nitems].fn = a->fn;
	h->items[h->nitems].opaque = a->opaque;
	h->nitems++;
	a->ret = 0;
}

static void do_del_item(struct vsw_runner *h, void *arg)
{
	struct item_arg *a = arg;

	for (unsigned i = 0; i < h->nitems; i++) {
		if (h->items[i].fn == a->fn && h->items[i].opaque == a->opaque) {
			h->items[i] = h->items[--h->nitems];
			return;
		}
	}
}

int vsw_runner_add_item(struct vsw_runner *h, unsigned (*fn)(void *), void *opaque)
{
	struct item_arg a = { fn, opaque, 0 };

	vsw_runner_call(h, do_add_item, &a);
	return a.ret;
}

void vsw_runner_del_item(struct vsw_runner *h, unsigned (*fn)(void *), void *opaque)
{
	struct item_arg a = { fn, opaque, 0 };

	vsw_runner_call(h, do_del_item, &a);
}
