/* SPDX-License-Identifier: MIT */
/* The serial console on a Unix socket: one client, a ring for output, a pipe each way (see the header). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "console_sock.h"
#include "kite/evloop.h"
#include "kite/log.h"
#include "kite/unix_socket.h"

#define BUSY_LINE "console busy\n"

struct console_sock {
	struct evloop *loop;
	char *path;
	int listen_fd;
	int out_r, out_w;       /* UART -> here */
	int in_r, in_w;         /* here -> UART */
	int client;             /* -1: none */
	uint32_t client_ev;     /* what the client's fd is watched for now */
	bool client_in_eof;     /* the client shut down its write side */
	bool in_w_watched;      /* waiting for room in the input pipe */
	/* output not yet sent to a client: ring[(head + i) % size], i < len */
	uint8_t ring[CONSOLE_SOCK_RING];
	size_t head, len;
	uint64_t dropped;
	/* input read from the client, not yet in the pipe */
	uint8_t pend[512];
	size_t pend_off, pend_len;
};

static void ring_put(struct console_sock *cs, const uint8_t *p, size_t n)
{
	if (n > CONSOLE_SOCK_RING) {   /* only the newest bytes can be kept */
		cs->dropped += n - CONSOLE_SOCK_RING;
		p += n - CONSOLE_SOCK_RING;
		n = CONSOLE_SOCK_RING;
	}
	if (cs->len + n > CONSOLE_SOCK_RING) {   /* drop the oldest */
		size_t drop = cs->len + n - CONSOLE_SOCK_RING;

		cs->dropped += drop;
		cs->head = (cs->head + drop) % CONSOLE_SOCK_RING;
		cs->len -= drop;
	}
	for (size_t i = 0; i < n; i++)
		cs->ring[(cs->head + cs->len + i) % CONSOLE_SOCK_RING] = p[i];
	cs->len += n;
}

/* What the client's fd is watched for now. */
static uint32_t client_events(const struct console_sock *cs)
{
	uint32_t ev = 0;

	if (!cs->client_in_eof && !cs->pend_len)
		ev |= EPOLLIN;
	if (cs->len)
		ev |= EPOLLOUT;
	return ev;
}

static void client_detach(struct console_sock *cs, const char *why)
{
	if (cs->client < 0)
		return;
	log_debug("console %s: client detached (%s)", cs->path, why);
	evloop_del(cs->loop, cs->client);
	close(cs->client);
	cs->client = -1;
	cs->client_in_eof = false;
	cs->pend_off = cs->pend_len = 0;
	if (cs->in_w_watched) {
		evloop_del(cs->loop, cs->in_w);
		cs->in_w_watched = false;
	}
}

static void client_rewatch(struct console_sock *cs)
{
	uint32_t ev = client_events(cs);

	if (cs->client < 0 || ev == cs->client_ev)
		return;
	if (evloop_mod(cs->loop, cs->client, ev) < 0)
		client_detach(cs, "cannot watch it");
	else
		cs->client_ev = ev;
}

/* Send as much of the ring as the client takes now. */
static void flush_to_client(struct console_sock *cs)
{
	while (cs->client >= 0 && cs->len) {
		size_t chunk = cs->len;
		ssize_t n;

		if (cs->head + chunk > CONSOLE_SOCK_RING)
			chunk = CONSOLE_SOCK_RING - cs->head;
		n = write(cs->client, cs->ring + cs->head, chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			client_detach(cs, n < 0 ? strerror(errno) : "write returned 0");
			return;
		}
		cs->head = (cs->head + (size_t)n) % CONSOLE_SOCK_RING;
		cs->len -= (size_t)n;
	}
}

static void in_w_cb(void *opaque, int fd, uint32_t events);

/* Move pending client input into the UART's pipe; wait for room when it is full. */
static void push_input(struct console_sock *cs)
{
	while (cs->pend_len) {
		ssize_t n = write(cs->in_w, cs->pend + cs->pend_off, cs->pend_len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (!cs->in_w_watched && evloop_add(cs->loop, cs->in_w, EPOLLOUT, in_w_cb, cs) == 0)
				cs->in_w_watched = true;
			return;
		}
		if (n <= 0) {   /* cannot happen while the UART holds the read end; drop the input */
			log_warn("console %s: input to the UART failed, dropping it: %m", cs->path);
			cs->pend_len = 0;
			break;
		}
		cs->pend_off += (size_t)n;
		cs->pend_len -= (size_t)n;
	}
	cs->pend_off = 0;
	if (cs->in_w_watched) {
		evloop_del(cs->loop, cs->in_w);
		cs->in_w_watched = false;
	}
}

static void in_w_cb(void *opaque, int fd, uint32_t events)
{
	struct console_sock *cs = opaque;

	(void)fd;
	(void)events;
	push_input(cs);
	client_rewatch(cs);
}

/* Read the client's input while the pipe takes it. false: the client was detached. */
static bool client_read(struct console_sock *cs)
{
	while (!cs->pend_len && !cs->client_in_eof) {
		ssize_t n = read(cs->client, cs->pend, sizeof(cs->pend));

		if (n > 0) {
			cs->pend_len = (size_t)n;
			push_input(cs);
		} else if (n == 0) {
			cs->client_in_eof = true;   /* it may still read the output */
		} else if (errno == EAGAIN) {
			break;
		} else if (errno != EINTR) {
			client_detach(cs, strerror(errno));
			return false;
		}
	}
	return true;
}

static void client_cb(void *opaque, int fd, uint32_t events)
{
	struct console_sock *cs = opaque;

	if (fd != cs->client)
		return;
	if (events & EPOLLOUT)
		flush_to_client(cs);
	if (cs->client >= 0 && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !client_read(cs))
		return;
	/* EPOLLHUP: both directions closed (the client is gone); EPOLLERR: the socket failed */
	if (cs->client >= 0 && (events & (EPOLLHUP | EPOLLERR))) {
		client_detach(cs, "closed");
		return;
	}
	client_rewatch(cs);
}

/* A new client arrives while one is attached: if that one already closed (its hang-up not yet
 * dispatched by the loop), detach it now, so that a quick detach and re-attach is not refused. */
static void reap_client(struct console_sock *cs)
{
	struct pollfd pfd = { .fd = cs->client, .events = POLLIN };

	if (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLHUP | POLLERR)))
		client_cb(cs, cs->client, EPOLLIN | EPOLLHUP);
}

static void listen_cb(void *opaque, int fd, uint32_t events)
{
	struct console_sock *cs = opaque;
	int c;

	(void)events;
	c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (c < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log_warn("console %s: accept failed: %m", cs->path);
		return;
	}
	if (cs->client >= 0)
		reap_client(cs);
	if (cs->client >= 0) {
		/* best effort: the line fits in any fresh socket buffer */
		if (write(c, BUSY_LINE, strlen(BUSY_LINE)) < 0)
			log_debug("console %s: busy line not sent: %m", cs->path);
		close(c);
		return;
	}
	cs->client = c;
	cs->client_in_eof = false;
	cs->client_ev = client_events(cs);
	if (evloop_add(cs->loop, c, cs->client_ev, client_cb, cs) < 0) {
		log_warn("console %s: cannot watch the client", cs->path);
		close(c);
		cs->client = -1;
		return;
	}
	log_debug("console %s: client attached, %zu bytes of output waiting", cs->path, cs->len);
	flush_to_client(cs);
	client_rewatch(cs);
}

static void out_cb(void *opaque, int fd, uint32_t events)
{
	struct console_sock *cs = opaque;
	uint8_t buf[4096];
	ssize_t n;

	(void)events;
	n = read(fd, buf, sizeof(buf));
	if (n <= 0)
		return;   /* EAGAIN/EINTR; EOF cannot happen while we hold out_w */
	ring_put(cs, buf, (size_t)n);
	flush_to_client(cs);
	client_rewatch(cs);
}

static void close_fds(struct console_sock *cs)
{
	int *fds[] = { &cs->out_r, &cs->out_w, &cs->in_r, &cs->in_w };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (*fds[i] >= 0)
			close(*fds[i]);
}

struct console_sock *console_sock_new(struct evloop *loop, const char *path, int *out_fd, int *in_fd)
{
	struct console_sock *cs = calloc(1, sizeof(*cs));
	int out[2], in[2];

	if (!cs || !(cs->path = strdup(path))) {
		log_err("console %s: out of memory", path);
		free(cs);
		return NULL;
	}
	cs->loop = loop;
	cs->client = cs->listen_fd = cs->out_r = cs->out_w = cs->in_r = cs->in_w = -1;
	if (pipe2(out, O_CLOEXEC | O_NONBLOCK) < 0 || (cs->out_r = out[0], cs->out_w = out[1],
						       pipe2(in, O_CLOEXEC | O_NONBLOCK) < 0)) {
		log_err("console %s: cannot make its pipes: %m", path);
		goto fail;
	}
	cs->in_r = in[0];
	cs->in_w = in[1];
	cs->listen_fd = unix_listen(path, 4);
	if (cs->listen_fd < 0) {
		log_err("console %s: cannot listen: %m", path);
		goto fail;
	}
	if (evloop_add(loop, cs->out_r, EPOLLIN, out_cb, cs) < 0) {
		log_err("console %s: cannot watch the output pipe", path);
		goto fail;
	}
	if (evloop_add(loop, cs->listen_fd, EPOLLIN, listen_cb, cs) < 0) {
		log_err("console %s: cannot watch the socket", path);
		evloop_del(loop, cs->out_r);
		goto fail;
	}
	*out_fd = cs->out_w;
	*in_fd = cs->in_r;
	return cs;
fail:
	if (cs->listen_fd >= 0) {
		close(cs->listen_fd);
		unlink(path);
	}
	close_fds(cs);
	free(cs->path);
	free(cs);
	return NULL;
}

void console_sock_free(struct console_sock *cs)
{
	uint8_t buf[4096];
	ssize_t n;

	if (!cs)
		return;
	/* the guest's last words (e.g. its exit line) may still be in the pipe: hand them to the
	 * client as far as its socket takes them without waiting */
	while ((n = read(cs->out_r, buf, sizeof(buf))) > 0)
		ring_put(cs, buf, (size_t)n);
	flush_to_client(cs);
	client_detach(cs, "console closed");
	evloop_del(cs->loop, cs->listen_fd);
	evloop_del(cs->loop, cs->out_r);
	close(cs->listen_fd);
	unlink(cs->path);
	close_fds(cs);
	free(cs->path);
	free(cs);
}

uint64_t console_sock_dropped(const struct console_sock *cs)
{
	return cs->dropped;
}
