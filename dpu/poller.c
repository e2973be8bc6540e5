/* SPDX-License-Identifier: MIT */
/* kite-dpu polling threads: lock-free item list (pointer swap + grace period), adaptive back-off,
 * sleeping on the items' wake fds. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "poller.h"
#include "kite/log.h"
#include "kite/seccomp.h"

/*
 * Idle back-off: busy-poll for the spin window (adaptive, poller.h: poller_spin_next) after the last
 * round that found work, then sleep (on the wake fds; timed: SLEEP_MIN_NS growing to SLEEP_MAX_NS).
 * No sched_yield() stage: on a shared core a yield hands the CPU away for a whole time slice while
 * work may already be waiting, whereas a sleep on the wake fds (kicks, I/O completions) is ended by
 * the scheduler as soon as one fires.
 */
#define IDLE_CHECK   POLLER_IDLE_CHECK
#define SLEEP_MIN_NS 20000
#define SLEEP_MAX_NS 1000000

struct poll_item {
	dpu_poll_fn fn;
	void *opaque;
	unsigned nfds;       /* wake fds (registered in p->epfd); 0: polled on a timer when idle */
	int wake_fd[POLLER_MAX_WAKE_FDS];
	dpu_arm_fn arm;
};

struct poll_set {
	unsigned n;
	struct poll_item items[];
};

struct dpu_poller {
	int cpu;
	bool has_thread;
	pthread_t tid;
	int epfd;                        /* the wake fds and ctl_fd, edge-triggered */
	int ctl_fd;                      /* eventfd: poller_add/del and poller_free wake the thread */
	_Atomic(struct poll_set *) set;
	_Atomic uint64_t epoch;          /* completed rounds and sleeps (the grace period's clock) */
	atomic_bool stop;
	_Atomic uint64_t idle_max_ns;    /* POLLER_IDLE_MAX_NS unless a test changed it */
	_Atomic uint64_t rounds, busy_rounds, sleeps;
	_Atomic uint64_t spin_ns;        /* the spin window (written by the thread, read for stats) */
	_Atomic uint64_t spin_max_ns;    /* its bound (poller_set_spin_max_ns; read by the thread) */
	uint64_t wake_within_ns;         /* poller_wake_within's bound on the next sleep (0 = none) */
	char name[16];                   /* dpu-pollN, set by the thread itself */
};

/* The poller whose round runs on this thread (poller_wake_within), set by the thread itself and by
 * poller_run_once and poller_sleep_once. */
static __thread struct dpu_poller *this_poller;

void poller_wake_within(uint64_t ns)
{
	struct dpu_poller *p = this_poller;

	if (!p)
		return;
	ns = ns ? ns : 1;
	if (!p->wake_within_ns || ns < p->wake_within_ns)
		p->wake_within_ns = ns;
}

/* The statistics counters have one writer, the poller thread (or poller_run_once's caller): a load
 * and a store, no locked read-modify-write on every round; readers see whole values. The epoch keeps
 * its locked increment: set_swap relies on it being a full barrier (the next round's load of the
 * set cannot pass it, so a round that still uses an old set always ends with a later epoch). */
static inline void bump(_Atomic uint64_t *c)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1, memory_order_relaxed);
}

static unsigned run_round(struct dpu_poller *p)
{
	struct poll_set *s = atomic_load_explicit(&p->set, memory_order_acquire);
	unsigned work = 0, io_wait = 0;

	for (unsigned i = 0; i < s->n; i++) {
		unsigned w = s->items[i].fn(s->items[i].opaque);

		io_wait |= w & POLLER_IO_WAIT;
		work += w & ~POLLER_IO_WAIT;
	}
	bump(&p->rounds);
	atomic_fetch_add_explicit(&p->epoch, 1, memory_order_release);
	if (work)
		bump(&p->busy_rounds);
	return work ? work : io_wait;
}

/* Disarm the first n items of s that have a wake fd. */
static void disarm(struct poll_set *s, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (s->items[i].nfds)
			s->items[i].arm(s->items[i].opaque, false);
}

/*
 * The sleep stage: arm the items with a wake fd, block on them (and ctl_fd) or, when some item needs
 * polling anyway, for timed_ns; disarm. Counts as a round for the grace period, since it uses the set.
 * Returns false if an item had work (nothing slept).
 */
static bool sleep_stage(struct dpu_poller *p, uint64_t timed_ns)
{
	struct poll_set *s = atomic_load_explicit(&p->set, memory_order_acquire);
	int mode = POLLER_ARM_IDLE;
	unsigned i;

	for (i = 0; i < s->n && mode != POLLER_ARM_BUSY; i++) {
		int m = s->items[i].nfds ? s->items[i].arm(s->items[i].opaque, true) : POLLER_ARM_TIMED;
		mode = m > mode ? m : mode;
	}
	if (mode != POLLER_ARM_BUSY) {
		uint64_t ns = mode == POLLER_ARM_IDLE ? atomic_load(&p->idle_max_ns) : timed_ns;
		if (p->wake_within_ns && p->wake_within_ns < ns)
			ns = p->wake_within_ns;    /* an item's deadline (a held interrupt) */
		struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };
		struct epoll_event ev[16];   /* the edge events are only consumed: every item runs next anyway */

		/* one call sleeps and consumes the events: epoll_pwait2 takes a timespec (the timed
		 * back-off is in microseconds; epoll_pwait has milliseconds). poller_new checked it. */
		(void)epoll_pwait2(p->epfd, ev, 16, &ts, NULL);
		bump(&p->sleeps);
	}
	p->wake_within_ns = 0;
	disarm(s, i);
	atomic_fetch_add_explicit(&p->epoch, 1, memory_order_release);
	return mode != POLLER_ARM_BUSY;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t poller_spin_next(uint64_t window_ns, uint64_t slept_ns, uint64_t max_ns)
{
	if (slept_ns < max_ns) {
		window_ns = window_ns < POLLER_SPIN_MIN_NS ? POLLER_SPIN_MIN_NS : window_ns * 2;
		return window_ns > max_ns ? max_ns : window_ns;
	}
	window_ns /= 2;
	return window_ns < POLLER_SPIN_MIN_NS ? 0 : window_ns;
}

static void *poller_thread(void *arg)
{
	struct dpu_poller *p = arg;
	uint64_t idle = 0, sleep_ns = SLEEP_MIN_NS, idle_since = 0;
	uint64_t spin_ns = UINT64_MAX, slept_at = 0;   /* the window starts at the bound; slept_at: a
							* sleep after a whole spin */

	pthread_setname_np(pthread_self(), p->name);   /* prctl: naming it from outside needs /proc */
	this_poller = p;
	/* The filter allows no open: what glibc's malloc opens on its own (the arena CPU count, and
	 * /proc/sys/vm/overcommit_memory at a thread heap's first shrink: encrypted volumes allocate
	 * and free bounce buffers here) is read by seccomp_enter's warm-up before the filter loads. */
	if (seccomp_enter("poller") < 0)   /* before the first ring or frame is read */
		kite_die("poller on cpu %d: cannot install its seccomp filter", p->cpu);

	while (!atomic_load_explicit(&p->stop, memory_order_relaxed)) {
		unsigned work = run_round(p);

		if (work && work != POLLER_IO_WAIT) {
			if (slept_at) {   /* the first work after a sleep: was the spin worth its time? */
				spin_ns = poller_spin_next(spin_ns, mono_ns() - slept_at,
							   atomic_load_explicit(&p->spin_max_ns, memory_order_relaxed));
				atomic_store_explicit(&p->spin_ns, spin_ns, memory_order_relaxed);
				slept_at = 0;
			}
			idle = 0;
			sleep_ns = SLEEP_MIN_NS;
			continue;
		}
		/* the clock is read every IDLE_CHECK idle rounds only: a round that finds work after a
		 * few idle ones (the common case under load) costs no clock read. Waiting only for I/O
		 * that signals its completion: sleep now (poller.h, POLLER_IO_WAIT). */
		uint64_t spin_end = 0;   /* the spin ran out: when */
		if (work != POLLER_IO_WAIT) {
			if (++idle % IDLE_CHECK)
				continue;
			if (idle == IDLE_CHECK) {
				uint64_t max = atomic_load_explicit(&p->spin_max_ns, memory_order_relaxed);

				idle_since = mono_ns();
				if (spin_ns > max) {    /* the start, or a lower bound set since */
					spin_ns = max;
					atomic_store_explicit(&p->spin_ns, spin_ns, memory_order_relaxed);
				}
			}
			spin_end = mono_ns();
			if (spin_end - idle_since < spin_ns)
				continue;
		}
		if (!sleep_stage(p, sleep_ns)) {
			idle = 0;
			sleep_ns = SLEEP_MIN_NS;
			continue;
		}
		if (spin_end && !slept_at)
			slept_at = spin_end;
		if (sleep_ns < SLEEP_MAX_NS)
			sleep_ns = sleep_ns * 2 > SLEEP_MAX_NS ? SLEEP_MAX_NS : sleep_ns * 2;
	}
	return NULL;
}

/* Wake the thread from its sleep stage (control thread). */
static void poller_kick(struct dpu_poller *p)
{
	uint64_t one = 1;

	if (write(p->ctl_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn_rl("poller on cpu %d: cannot wake it: %s", p->cpu, strerror(errno));
}

static void poller_destroy(struct dpu_poller *p)
{
	if (p->epfd >= 0)
		close(p->epfd);
	if (p->ctl_fd >= 0)
		close(p->ctl_fd);
	free(atomic_load(&p->set));
	free(p);
}

struct dpu_poller *poller_new(int cpu, bool start_thread)
{
	struct dpu_poller *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->cpu = cpu;
	atomic_init(&p->idle_max_ns, POLLER_IDLE_MAX_NS);
	atomic_init(&p->spin_ns, POLLER_SPIN_DEFAULT_NS);
	atomic_init(&p->spin_max_ns, POLLER_SPIN_DEFAULT_NS);
	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	p->ctl_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	atomic_init(&p->set, calloc(1, sizeof(struct poll_set)));
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.fd = p->ctl_fd };
	if (p->epfd < 0 || p->ctl_fd < 0 || epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->ctl_fd, &ev) < 0) {
		log_err("poller on cpu %d: cannot create its wake-up fds: %s", cpu, strerror(errno));
		poller_destroy(p);
		return NULL;
	}
	struct timespec now = { 0, 0 };
	struct epoll_event none[1];
	if (epoll_pwait2(p->epfd, none, 1, &now, NULL) < 0 && errno == ENOSYS) {
		log_err("poller on cpu %d: the kernel has no epoll_pwait2 (Linux 5.11 on), which it sleeps in", cpu);
		poller_destroy(p);
		return NULL;
	}
	if (!atomic_load(&p->set)) {
		poller_destroy(p);
		return NULL;
	}
	if (!start_thread)
		return p;
	snprintf(p->name, sizeof(p->name), "dpu-poll%d", (cpu < 0 ? 0 : cpu) % 1000);
	int err = pthread_create(&p->tid, NULL, poller_thread, p);
	if (err) {
		log_err("poller on cpu %d: cannot start its thread: %s", cpu, strerror(err));
		poller_destroy(p);
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
	return p;
}

void poller_free(struct dpu_poller *p)
{
	if (!p)
		return;
	if (p->has_thread) {
		atomic_store(&p->stop, true);
		poller_kick(p);
		pthread_join(p->tid, NULL);
	}
	poller_destroy(p);
}

/* Publish `ns` and free the old set once the poller cannot be using it any more. */
static void set_swap(struct dpu_poller *p, struct poll_set *ns)
{
	struct poll_set *old = atomic_exchange_explicit(&p->set, ns, memory_order_acq_rel);

	if (p->has_thread) {
		uint64_t e = atomic_load_explicit(&p->epoch, memory_order_acquire);
		poller_kick(p);    /* a sleeping poller holds the old set until it wakes */
		while (atomic_load_explicit(&p->epoch, memory_order_acquire) <= e) {
			struct timespec ts = { 0, 50000 };
			nanosleep(&ts, NULL);
		}
	}
	free(old);
}

int poller_add_fds(struct dpu_poller *p, dpu_poll_fn fn, void *opaque, const int *wake_fds, unsigned nfds,
		   dpu_arm_fn arm)
{
	struct poll_set *s = atomic_load(&p->set);
	struct poll_set *ns = malloc(sizeof(*ns) + (s->n + 1) * sizeof(ns->items[0]));
	struct poll_item it = { fn, opaque, 0, { -1, -1 }, arm };

	if (!ns)
		return -ENOMEM;
	for (unsigned i = 0; arm && i < nfds && i < POLLER_MAX_WAKE_FDS; i++) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.fd = wake_fds[i] };
		if (wake_fds[i] < 0)
			continue;
		if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, wake_fds[i], &ev) < 0) {
			log_warn_rl("poller on cpu %d: cannot watch wake fd %d: %s (polling it on a timer)", p->cpu,
				 wake_fds[i], strerror(errno));
			for (unsigned k = 0; k < it.nfds; k++)
				epoll_ctl(p->epfd, EPOLL_CTL_DEL, it.wake_fd[k], NULL);
			it.nfds = 0;
			break;
		}
		it.wake_fd[it.nfds++] = wake_fds[i];
	}
	ns->n = s->n + 1;
	memcpy(ns->items, s->items, s->n * sizeof(s->items[0]));
	ns->items[s->n] = it;
	set_swap(p, ns);
	return 0;
}

int poller_add_fd(struct dpu_poller *p, dpu_poll_fn fn, void *opaque, int wake_fd, dpu_arm_fn arm)
{
	return poller_add_fds(p, fn, opaque, &wake_fd, 1, arm);
}

int poller_add(struct dpu_poller *p, dpu_poll_fn fn, void *opaque)
{
	return poller_add_fds(p, fn, opaque, NULL, 0, NULL);
}

void poller_del(struct dpu_poller *p, dpu_poll_fn fn, void *opaque)
{
	struct poll_set *s = atomic_load(&p->set);
	struct poll_set *ns = malloc(sizeof(*ns) + s->n * sizeof(ns->items[0]));
	struct poll_item gone = { .nfds = 0 };

	if (!ns)
		abort();   /* cannot wait safely without a new set: out of memory here is fatal */
	ns->n = 0;
	for (unsigned i = 0; i < s->n; i++) {
		if (s->items[i].fn != fn || s->items[i].opaque != opaque)
			ns->items[ns->n++] = s->items[i];
		else
			gone = s->items[i];
	}
	set_swap(p, ns);
	for (unsigned k = 0; k < gone.nfds; k++)
		epoll_ctl(p->epfd, EPOLL_CTL_DEL, gone.wake_fd[k], NULL);
}

unsigned poller_run_once(struct dpu_poller *p)
{
	this_poller = p;
	return run_round(p);
}

bool poller_sleep_once(struct dpu_poller *p)
{
	this_poller = p;
	return sleep_stage(p, SLEEP_MIN_NS);
}

void poller_set_idle_max_ns(struct dpu_poller *p, uint64_t ns)
{
	atomic_store(&p->idle_max_ns, ns);
}

int poller_cpu(const struct dpu_poller *p)
{
	return p->cpu;
}

unsigned poller_nr_items(const struct dpu_poller *p)
{
	return atomic_load(&((struct dpu_poller *)p)->set)->n;
}

void poller_set_spin_max_ns(struct dpu_poller *p, uint64_t ns)
{
	atomic_store_explicit(&p->spin_max_ns, ns, memory_order_relaxed);
}

uint64_t poller_spin_ns(const struct dpu_poller *p)
{
	return atomic_load_explicit(&((struct dpu_poller *)p)->spin_ns, memory_order_relaxed);
}

void poller_counters(const struct dpu_poller *p, uint64_t *rounds, uint64_t *busy_rounds, uint64_t *sleeps)
{
	struct dpu_poller *q = (struct dpu_poller *)p;

	*rounds = atomic_load(&q->rounds);
	*busy_rounds = atomic_load(&q->busy_rounds);
	*sleeps = atomic_load(&q->sleeps);
}
