/* SPDX-License-Identifier: MIT */
/*
 * I/O threads (kite/iothread.h). The thread alternates between its pause gate (state under
 * t->lock), one evloop round and, if set, a polling phase; a wake eventfd on the loop gets it out
 * of epoll_wait when the owner pauses or stops it, and `interrupt` (an atomic copy of "paused or
 * stopping") out of polling, so it reaches the gate without waiting for device work.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "kite/evloop.h"
#include "kite/iothread.h"
#include "kite/log.h"
#include "kite/poll_window.h"
#include "kite/seccomp.h"

enum { START_PENDING, START_OK, START_FAILED };

struct iothread {
	char name[32];
	struct evloop *loop;
	int wakefd;
	pthread_t thread;
	bool running;              /* created and not yet joined (owner's thread only) */
	const char *seccomp_kind;
	pthread_mutex_t lock;      /* the fields below */
	pthread_cond_t cond;
	int start;
	unsigned pause_req;        /* nested pauses */
	bool parked;               /* the thread waits at its gate */
	bool stop;
	atomic_bool interrupt;     /* pause_req || stop: polling ends */
	iothread_poll_fn poll;     /* optional, set before start */
	void *poll_opaque;
	struct poll_window_cfg poll_cfg;
	struct poll_window pw;     /* the I/O thread's own */
	bool poll_expired;         /* the last polling phase ran out of window: the next wait adapts it */
};

/* Caller holds t->lock. */
static void update_interrupt(struct iothread *t)
{
	atomic_store(&t->interrupt, t->pause_req || t->stop);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void iothread_set_poll(struct iothread *t, iothread_poll_fn poll, void *opaque, const struct poll_window_cfg *cfg)
{
	t->poll = cfg->max_ns ? poll : NULL;
	t->poll_opaque = opaque;
	t->poll_cfg = *cfg;
}

const char *iothread_poll_mode(const struct iothread *t, char *buf, size_t len)
{
	if (!t->poll)
		snprintf(buf, len, "off");
	else if (t->poll_cfg.adaptive)
		snprintf(buf, len, "adaptive");
	else
		snprintf(buf, len, "%lluus", (unsigned long long)(t->poll_cfg.max_ns / 1000));
	return buf;
}

bool iothread_poll_stats(const struct iothread *t, struct poll_window_stats *out)
{
	if (!t->poll) {
		*out = (struct poll_window_stats){ 0 };
		return false;
	}
	poll_window_get_stats(&t->pw, out);
	return true;
}

/* The polling phase after a loop round (see kite/iothread.h); the window comes from t->pw. */
static void poll_phase(struct iothread *t)
{
	bool more = true;

	t->poll_expired = false;
	while (more && !atomic_load_explicit(&t->interrupt, memory_order_relaxed)) {
		uint64_t start = now_ns(), last = start, now = start, window = poll_window_next(&t->pw, start);
		bool expired = false, found_any = false;

		if (!window) {
			t->poll_expired = true;    /* not polling: the wait tells whether it would pay */
			return;
		}
		t->poll(t->poll_opaque, IOTHREAD_POLL_BEGIN);
		while (!atomic_load_explicit(&t->interrupt, memory_order_relaxed)) {
			bool found = t->poll(t->poll_opaque, IOTHREAD_POLL_CHECK);

			now = now_ns();
			if (found) {
				last = now;
				found_any = true;
			} else if (now - last >= window) {
				expired = true;
				break;
			} else {
				__builtin_ia32_pause();
			}
		}
		poll_window_expired(&t->pw, now, now - start, now - last, found_any || !expired);   /* a pause is no miss */
		more = t->poll(t->poll_opaque, IOTHREAD_POLL_END);
		if (more && expired)
			poll_window_waited(&t->pw, now_ns() - now);    /* came just after the window */
		t->poll_expired = expired && !more;
	}
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void on_wake(void *opaque, int fd, uint32_t events)
{
	uint64_t v;

	(void)opaque;
	(void)events;
	while (read(fd, &v, sizeof(v)) == sizeof(v))
		;
}

static void wake(struct iothread *t)
{
	uint64_t one = 1;

	if (write(t->wakefd, &one, sizeof(one)) != sizeof(one) && errno != EAGAIN)
		log_warn_rl("%s: waking its I/O thread failed: %m", t->name);
}

struct iothread *iothread_new(const char *name)
{
	struct iothread *t = calloc(1, sizeof(*t));

	if (!t) {
		log_err("%s: out of memory for its I/O thread", name);
		return NULL;
	}
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	t->loop = evloop_new();
	if (t->wakefd < 0 || !t->loop || evloop_add(t->loop, t->wakefd, EPOLLIN, on_wake, t) < 0) {
		log_err("%s: setting up its I/O thread's loop failed: %m", name);
		if (t->loop)
			evloop_free(t->loop);
		if (t->wakefd >= 0)
			close(t->wakefd);
		free(t);
		return NULL;
	}
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
	return t;
}

struct evloop *iothread_loop(const struct iothread *t)
{
	return t->loop;
}

const char *iothread_name(const struct iothread *t)
{
	return t->name;
}

/* At the gate: park while paused; false once asked to stop. */
static bool gate(struct iothread *t)
{
	bool go;

	pthread_mutex_lock(&t->lock);
	while (t->pause_req && !t->stop) {
		if (!t->parked) {
			t->parked = true;
			pthread_cond_broadcast(&t->cond);
		}
		pthread_cond_wait(&t->cond, &t->lock);
	}
	t->parked = false;
	go = !t->stop;
	pthread_mutex_unlock(&t->lock);
	return go;
}

static void *io_main(void *opaque)
{
	struct iothread *t = opaque;
	char comm[16] = "io:";
	int ok;

	memcpy(comm + 3, t->name, strnlen(t->name, sizeof(comm) - 4));   /* comm: 15 bytes at most */
	prctl(PR_SET_NAME, comm);
	ok = !t->seccomp_kind || seccomp_enter(t->seccomp_kind) == 0;
	pthread_mutex_lock(&t->lock);
	t->start = ok ? START_OK : START_FAILED;
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
	while (ok && gate(t)) {
		uint64_t wait_start = now_ns();
		int r = evloop_run_once(t->loop, -1);

		if (r < 0) {
			log_err("%s: its I/O thread's epoll_wait failed: %s; the thread ends", t->name, strerror(-r));
			break;
		}
		if (t->poll) {
			if (t->poll_expired)
				poll_window_waited(&t->pw, now_ns() - wait_start);
			poll_phase(t);
		}
	}
	if (ok)
		log_info("%s: its I/O thread used %llu us of CPU (%llu us polling without finding work, %llu windows cut by the budget)",
			 t->name, (unsigned long long)(thread_cpu_ns() / 1000),
			 (unsigned long long)(t->pw.st.vain_ns / 1000), (unsigned long long)t->pw.st.budget_cuts);
	/* a pauser may wait for the gate: an ended thread counts as parked */
	pthread_mutex_lock(&t->lock);
	t->parked = true;
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

int iothread_start(struct iothread *t, int cpu, const char *seccomp_kind)
{
	pthread_attr_t attr;
	int err, start;

	if (t->running)
		return 0;
	t->seccomp_kind = seccomp_kind;
	if (t->poll)      /* here, not on the thread: readers of its statistics never see it half set */
		poll_window_init(&t->pw, &t->poll_cfg, now_ns());
	t->start = START_PENDING;
	t->stop = false;
	update_interrupt(t);
	pthread_attr_init(&attr);
	if (cpu >= 0 && cpu < CPU_SETSIZE) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
	}
	err = pthread_create(&t->thread, &attr, io_main, t);
	pthread_attr_destroy(&attr);
	if (err) {
		log_err("%s: starting its I/O thread failed: %s", t->name, strerror(err));
		return -1;
	}
	t->running = true;
	pthread_mutex_lock(&t->lock);
	while (t->start == START_PENDING)
		pthread_cond_wait(&t->cond, &t->lock);
	start = t->start;
	pthread_mutex_unlock(&t->lock);
	if (start != START_OK) {
		iothread_stop(t);
		return -1;     /* seccomp_enter logged why */
	}
	return 0;
}

void iothread_pause(struct iothread *t)
{
	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	t->pause_req++;
	update_interrupt(t);
	if (t->running) {
		wake(t);
		while (!t->parked && !t->stop)
			pthread_cond_wait(&t->cond, &t->lock);
	}
	pthread_mutex_unlock(&t->lock);
}

void iothread_resume(struct iothread *t)
{
	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	if (t->pause_req && --t->pause_req == 0)
		pthread_cond_broadcast(&t->cond);
	update_interrupt(t);
	pthread_mutex_unlock(&t->lock);
}

void iothread_stop(struct iothread *t)
{
	if (!t || !t->running)
		return;
	pthread_mutex_lock(&t->lock);
	t->stop = true;
	update_interrupt(t);
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
	wake(t);
	pthread_join(t->thread, NULL);
	t->running = false;
}

void iothread_free(struct iothread *t)
{
	if (!t)
		return;
	iothread_stop(t);
	evloop_del(t->loop, t->wakefd);
	evloop_free(t->loop);
	close(t->wakefd);
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
	free(t);
}
