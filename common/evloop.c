/* SPDX-License-Identifier: MIT */
/*
 * epoll event loop. Each watched fd has a handler record; epoll's data.ptr points to it. A handler
 * deleted while a dispatch round is running is only unlinked and marked dead, and freed when the
 * round ends, so a callback may delete any fd (also its own) safely. evloop_stop() writes an
 * eventfd, which is async-signal-safe.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "kite/evloop.h"
#include "kite/log.h"

#define EVLOOP_BATCH 32

struct evloop_handler {
	int fd;
	bool dead;
	evloop_cb cb;
	void *opaque;
	struct evloop_handler *next;
};

struct evloop {
	int epfd;
	int stopfd;
	atomic_bool stopped;
	pthread_mutex_t lock;            /* protects the lists below */
	struct evloop_handler *handlers; /* live handlers */
	struct evloop_handler *graveyard;/* deleted during a round, freed after it */
	unsigned dispatching;            /* rounds in progress */
};

struct evloop *evloop_new(void)
{
	struct evloop *loop = calloc(1, sizeof(*loop));
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };

	if (!loop) {
		log_err("evloop: allocation failed");
		return NULL;
	}
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		log_err("evloop: epoll_create1 failed: %m");
		free(loop);
		return NULL;
	}
	loop->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->stopfd < 0 || epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->stopfd, &ev) < 0) {
		log_err("evloop: stop eventfd setup failed: %m");
		if (loop->stopfd >= 0)
			close(loop->stopfd);
		close(loop->epfd);
		free(loop);
		return NULL;
	}
	pthread_mutex_init(&loop->lock, NULL);
	atomic_init(&loop->stopped, false);
	return loop;
}

static void free_list(struct evloop_handler *h)
{
	while (h) {
		struct evloop_handler *next = h->next;
		free(h);
		h = next;
	}
}

void evloop_free(struct evloop *loop)
{
	if (!loop)
		return;
	free_list(loop->handlers);
	free_list(loop->graveyard);
	close(loop->stopfd);
	close(loop->epfd);
	pthread_mutex_destroy(&loop->lock);
	free(loop);
}

static struct evloop_handler *find_locked(struct evloop *loop, int fd, struct evloop_handler ***link)
{
	struct evloop_handler **pp = &loop->handlers;

	for (; *pp; pp = &(*pp)->next) {
		if ((*pp)->fd == fd) {
			if (link)
				*link = pp;
			return *pp;
		}
	}
	return NULL;
}

int evloop_add(struct evloop *loop, int fd, uint32_t events, evloop_cb cb, void *opaque)
{
	struct evloop_handler *h;
	struct epoll_event ev;
	int ret = 0;

	if (fd < 0 || !cb)
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->fd = fd;
	h->cb = cb;
	h->opaque = opaque;
	ev.events = events;
	ev.data.ptr = h;

	pthread_mutex_lock(&loop->lock);
	if (find_locked(loop, fd, NULL)) {
		ret = -EEXIST;
	} else if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		ret = -errno;
	} else {
		h->next = loop->handlers;
		loop->handlers = h;
	}
	pthread_mutex_unlock(&loop->lock);
	if (ret)
		free(h);
	return ret;
}

int evloop_mod(struct evloop *loop, int fd, uint32_t events)
{
	struct evloop_handler *h;
	struct epoll_event ev;
	int ret = 0;

	pthread_mutex_lock(&loop->lock);
	h = find_locked(loop, fd, NULL);
	if (!h) {
		ret = -ENOENT;
	} else {
		ev.events = events;
		ev.data.ptr = h;
		if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
			ret = -errno;
	}
	pthread_mutex_unlock(&loop->lock);
	return ret;
}

int evloop_del(struct evloop *loop, int fd)
{
	struct evloop_handler *h, **link = NULL;

	pthread_mutex_lock(&loop->lock);
	h = find_locked(loop, fd, &link);
	if (!h) {
		pthread_mutex_unlock(&loop->lock);
		return -ENOENT;
	}
	/* The fd may already be closed by the caller; a failing EPOLL_CTL_DEL is then harmless. */
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	*link = h->next;
	h->dead = true;
	if (loop->dispatching) {
		/* An event for h may be pending in the round's batch: free it after the round. */
		h->next = loop->graveyard;
		loop->graveyard = h;
	} else {
		free(h);
	}
	pthread_mutex_unlock(&loop->lock);
	return 0;
}

static void drain_stopfd(struct evloop *loop)
{
	uint64_t v;

	while (read(loop->stopfd, &v, sizeof(v)) == sizeof(v))
		;
}

int evloop_run_once(struct evloop *loop, int timeout_ms)
{
	struct epoll_event evs[EVLOOP_BATCH];
	struct evloop_handler *dead = NULL;
	int n;

	pthread_mutex_lock(&loop->lock);
	loop->dispatching++;
	pthread_mutex_unlock(&loop->lock);

	n = epoll_wait(loop->epfd, evs, EVLOOP_BATCH, timeout_ms);
	if (n < 0)
		n = (errno == EINTR) ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		struct evloop_handler *h = evs[i].data.ptr;
		bool live;

		if (!h) {
			drain_stopfd(loop);
			continue;
		}
		pthread_mutex_lock(&loop->lock);
		live = !h->dead;
		pthread_mutex_unlock(&loop->lock);
		if (live)
			h->cb(h->opaque, h->fd, evs[i].events);
	}

	pthread_mutex_lock(&loop->lock);
	if (--loop->dispatching == 0) {
		dead = loop->graveyard;
		loop->graveyard = NULL;
	}
	pthread_mutex_unlock(&loop->lock);
	free_list(dead);
	return n < 0 ? n : 0;
}

int evloop_run(struct evloop *loop)
{
	while (!atomic_load(&loop->stopped)) {
		int ret = evloop_run_once(loop, -1);

		if (ret < 0) {
			log_err("evloop: epoll_wait failed: %s", strerror(-ret));
			return ret;
		}
	}
	return 0;
}

void evloop_stop(struct evloop *loop)
{
	uint64_t one = 1;
	ssize_t r;

	atomic_store(&loop->stopped, true);
	r = write(loop->stopfd, &one, sizeof(one));
	(void)r;
}

int evloop_fd(const struct evloop *loop)
{
	return loop->epfd;
}

bool evloop_stopped(const struct evloop *loop)
{
	return atomic_load(&((struct evloop *)loop)->stopped);
}
