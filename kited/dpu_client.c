/* SPDX-License-Identifier: MIT */
/*
 * kited's client of kite-dpu's control socket (docs/dpu.md "Control socket"): one JSON object per
 * line each way. Every request has a connection of its own (nothing stale survives a kite-dpu
 * restart), a deadline for the whole exchange, and a reply that must be exactly one JSON object
 * with a boolean "ok": kite-dpu is a peer like any other, a bad or slow one is an error.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "dpu.h"

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for `events` on fd until the deadline: 1 ready, 0 timed out, -1 error. */
static int wait_fd(int fd, short events, long long deadline)
{
	for (;;) {
		long long left = deadline - now_ms();
		struct pollfd p = { .fd = fd, .events = events };
		int r;

		if (left <= 0)
			return 0;
		r = poll(&p, 1, (int)(left > 60000 ? 60000 : left));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r > 0)
			return 1;
	}
}

static int connect_ctl(const char *path, long long deadline, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "kite-dpu control socket %s: path too long", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "kite-dpu control socket: socket: %s", strerror(errno));
		return -1;
	}
	/* A Unix stream connect either completes, or fails (EAGAIN: the backlog is full); retried
	 * until the deadline, as a busy control loop drains its backlog. */
	while ((r = connect(fd, (struct sockaddr *)&sa, sizeof(sa))) < 0 && (errno == EAGAIN || errno == EINTR)) {
		if (now_ms() >= deadline) {
			errno = ETIMEDOUT;
			break;
		}
		poll(NULL, 0, 1);   /* (poll: kited's HTTP threads may not nanosleep) */
	}
	if (r < 0) {
		snprintf(err, errlen, "kite-dpu control socket %s: connect: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int send_all(int fd, const char *buf, size_t len, long long deadline, char *err, size_t errlen)
{
	size_t done = 0;

	while (done < len) {
		ssize_t w = send(fd, buf + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w > 0) {
			done += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			int r = wait_fd(fd, POLLOUT, deadline);
			if (r > 0)
				continue;
			snprintf(err, errlen, "kite-dpu control socket: request not taken within the timeout");
			return -1;
		}
		snprintf(err, errlen, "kite-dpu control socket: send: %s", w < 0 ? strerror(errno) : "closed");
		return -1;
	}
	return 0;
}

/* Reads one line (without its '\n', NUL-terminated, malloc'd) before the deadline; NULL + err. */
static char *recv_line(int fd, long long deadline, char *err, size_t errlen)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);

	if (!buf) {
		snprintf(err, errlen, "kite-dpu control socket: out of memory");
		return NULL;
	}
	for (;;) {
		char *nl = memchr(buf, '\n', len);
		ssize_t r;

		if (nl) {
			if ((size_t)(nl - buf) != len - 1) {
				snprintf(err, errlen, "kite-dpu control socket: more than one reply line");
				break;
			}
			*nl = '\0';
			return buf;
		}
		if (len + 1 >= cap) {
			char *n;

			if (cap >= DPU_REPLY_MAX) {
				snprintf(err, errlen, "kite-dpu control socket: reply longer than %u bytes", DPU_REPLY_MAX);
				break;
			}
			n = realloc(buf, cap * 2);
			if (!n) {
				snprintf(err, errlen, "kite-dpu control socket: out of memory");
				break;
			}
			buf = n;
			cap *= 2;
		}
		r = recv(fd, buf + len, cap - 1 - len, MSG_DONTWAIT);
		if (r > 0) {
			len += (size_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN) {
			if (wait_fd(fd, POLLIN, deadline) > 0)
				continue;
			snprintf(err, errlen, "kite-dpu control socket: no reply within the timeout");
			break;
		}
		snprintf(err, errlen, "kite-dpu control socket: %s before the end of the reply",
			 r < 0 ? strerror(errno) : "closed");
		break;
	}
	free(buf);
	return NULL;
}

int dpu_call(const char *path, const cJSON *req, cJSON **reply, int timeout_ms, char *err, size_t errlen)
{
	long long deadline = now_ms() + timeout_ms;
	char *text = NULL, *line = NULL;
	cJSON *rep = NULL;
	const cJSON *ok, *e;
	int fd, ret = DPU_UNAVAILABLE;

	if (reply)
		*reply = NULL;
	line = cJSON_PrintUnformatted(req);
	if (!line || strchr(line, '\n') || asprintf(&text, "%s\n", line) < 0) {
		snprintf(err, errlen, "kite-dpu request: cannot encode");
		free(line);
		return DPU_UNAVAILABLE;
	}
	free(line);
	line = NULL;
	fd = connect_ctl(path, deadline, err, errlen);
	if (fd < 0) {
		free(text);
		return DPU_UNAVAILABLE;
	}
	if (send_all(fd, text, strlen(text), deadline, err, errlen) < 0)
		goto out;
	line = recv_line(fd, deadline, err, errlen);
	if (!line)
		goto out;
	rep = cJSON_Parse(line);
	ok = cJSON_GetObjectItemCaseSensitive(rep, "ok");
	e = cJSON_GetObjectItemCaseSensitive(rep, "error");
	if (!cJSON_IsObject(rep) || !cJSON_IsBool(ok) || (cJSON_IsFalse(ok) && !cJSON_IsString(e))) {
		snprintf(err, errlen, "kite-dpu control socket: bad reply '%.60s'", line);
		goto out;
	}
	if (cJSON_IsFalse(ok)) {
		snprintf(err, errlen, "%s", e->valuestring);
		ret = DPU_REFUSED;
		goto out;
	}
	ret = DPU_OK;
	if (reply) {
		*reply = rep;
		rep = NULL;
	}
out:
	cJSON_Delete(rep);
	free(line);
	free(text);
	close(fd);
	return ret;
}
