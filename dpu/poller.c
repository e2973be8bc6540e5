/* SPDX-License-Identifier: MIT */
/* kite-dpu polling threads: lock-free item list (pointer swap + grace period), adaptive back-off. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "poller.h"
#include "kite/log.h"
#include "kite/seccomp.h"

/* Idle rounds spent busy-polling, then yielding, before sleeping (up to SLEEP_MAX_NS). */
#define IDLE_SPIN   2000
#define IDLE_YIELD  4000
#define SLEEP_MIN_NS 20000
#define SLEEP_MAX_NS 1000000

struct poll_item {
	dpu_poll_fn fn;
	void *opaque;
};

struct poll_set {
	unsigned n;
	struct poll_item items[];
};

struct dpu_poller {
	int cpu;
	bool has_thread;
	pthread_t tid;
	_Atomic(struct poll_set *) set;
	_Atomic uint64_t epoch;          /* completed rounds */
	atomic_bool stop;
	_Atomic uint64_t busy_rounds, sleeps;
};

static unsigned run_round(struct dpu_poller *p)
{
	struct poll_set *s = atomic_load_explicit(&p->set, memory_order_acquire);
	unsigned work = 0;

	for (unsigned i = 0; i < s->n; i++)
		work += s->items[i].fn(s->items[i].opaque);
	atomic_fetch_add_explicit(&p->epoch, 1, memory_order_release);
	if (work)
		atomic_fetch_add_explicit(&p->busy_rounds, 1, memory_order_relaxed);
	return work;
}

static void *poller_thread(void *arg)
{
	struct dpu_poller *p = arg;
	uint64_t idle = 0, sleep_ns = SLEEP_MIN_NS;

	/* This thread's first allocation attaches it to a malloc arena; once a process has more than 8
	 * arenas, glibc then reads /sys/devices/system/cpu/online for the arena limit. Do it before the
	 * filter, which allows no open (encrypted volumes allocate bounce buffers here later). */
	void *volatile warm = malloc(1);   /* volatile: the compiler may not drop the pair */
	free(warm);
	if (seccomp_enter("poller") < 0)   /* before the first ring or frame is read */
		kite_die("poller on cpu %d: cannot install its seccomp filter", p->cpu);

	while (!atomic_load_explicit(&p->stop, memory_order_relaxed)) {
		if (run_round(p)) {
			idle = 0;
			sleep_ns = SLEEP_MIN_NS;
			continue;
		}
		idle++;
		if (idle < IDLE_SPIN)
			continue;
		if (idle < IDLE_YIELD) {
			sched_yield();
			continue;
		}
		struct timespec ts = { 0, (long)sleep_ns };
		nanosleep(&ts, NULL);
		atomic_fetch_add_explicit(&p->sleeps, 1, memory_order_relaxed);
		if (sleep_ns < SLEEP_MAX_NS)
			sleep_ns = sleep_ns * 2 > SLEEP_MAX_NS ? SLEEP_MAX_NS : sleep_ns * 2;
	}
	return NULL;
}

struct dpu_poller *poller_new(int cpu, bool start_thread)
{
	struct dpu_poller *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->cpu = cpu;
	atomic_init(&p->set, calloc(1, sizeof(struct poll_set)));
	if (!atomic_load(&p->set)) {
		free(p);
		return NULL;
	}
	if (!start_thread)
		return p;
	int err = pthread_create(&p->tid, NULL, poller_thread, p);
	if (err) {
		log_err("poller on cpu %d: cannot start its thread: %s", cpu, strerror(err));
		free(atomic_load(&p->set));
		free(p);
		return NULL;
	}
	p->has_thread = true;
	if (cpu >= 0) {
		cpu_set_t cs;
		CPU_ZERO(&cs);
		CPU_SET(cpu, &cs);
		err = pthread_setaffinity_np(p->tid, sizeof(cs), &cs);
		if (err)
			log_warn("poller: cannot pin to cpu %d: %s (running unpinned)", cpu, strerror(err));
	}
	char name[16];
	snprintf(name, sizeof(name), "dpu-poll%d", (cpu < 0 ? 0 : cpu) % 1000);
	pthread_setname_np(p->tid, name);
	return p;
}

void poller_free(struct dpu_poller *p)
{
	if (!p)
		return;
	if (p->has_thread) {
		atomic_store(&p->stop, true);
		pthread_join(p->tid, NULL);
	}
	free(atomic_load(&p->set));
	free(p);
}

/* Publish `ns` and free the old set once the poller cannot be using it any more. */
static void set_swap(struct dpu_poller *p, struct poll_set *ns)
{
	struct poll_set *old = atomic_exchange_explicit(&p->set, ns, memory_order_acq_rel);

	if (p->has_thread) {
		uint64_t e = atomic_load_explicit(&p->epoch, memory_order_acquire);
		while (atomic_load_explicit(&p->epoch, memory_order_acquire) <= e) {
			struct timespec ts = { 0, 50000 };
			nanosleep(&ts, NULL);
		}
	}
	free(old);
}

int poller_add(struct dpu_poller *p, dpu_poll_fn fn, void *opaque)
{
	struct poll_set *s = atomic_load(&p->set);
	struct poll_set *ns = malloc(sizeof(*ns) + (s->n + 1) * sizeof(ns->items[0]));

	if (!ns)
		return -ENOMEM;
	ns->n = s->n + 1;
	memcpy(ns->items, s->items, s->n * sizeof(s->items[0]));
	ns->items[s->n] = (struct poll_item){ fn, opaque };
	set_swap(p, ns);
	return 0;
}

void poller_del(struct dpu_poller *p, dpu_poll_fn fn, void *opaque)
{
	struct poll_set *s = atomic_load(&p->set);
	struct poll_set *ns = malloc(sizeof(*ns) + s->n * sizeof(ns->items[0]));

	if (!ns)
		abort();   /* cannot wait safely without a new set: out of memory here is fatal */
	ns->n = 0;
	for (unsigned i = 0; i < s->n; i++)
		if (s->items[i].fn != fn || s->items[i].opaque != opaque)
			ns->items[ns->n++] = s->items[i];
	set_swap(p, ns);
}

unsigned poller_run_once(struct dpu_poller *p)
{
	return run_round(p);
}

int poller_cpu(const struct dpu_poller *p)
{
	return p->cpu;
}

unsigned poller_nr_items(const struct dpu_poller *p)
{
	return atomic_load(&((struct dpu_poller *)p)->set)->n;
}

void poller_counters(const struct dpu_poller *p, uint64_t *rounds, uint64_t *busy_rounds, uint64_t *sleeps)
{
	struct dpu_poller *q = (struct dpu_poller *)p;

	*rounds = atomic_load(&q->epoch);
	*busy_rounds = atomic_load(&q->busy_rounds);
	*sleeps = atomic_load(&q->sleeps);
}
