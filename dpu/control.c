/* SPDX-License-Identifier: MIT */
/* The control socket: JSON lines over a Unix stream socket, one reply line per request. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "kite/evloop.h"
#include "kite/log.h"
#include "kite/unix_socket.h"
#include "dpu.h"

#define MAX_CMDS 64
#define MAX_LINE 65536

struct ctl_cmd { const char *name; dpu_ctl_fn fn; };

static struct ctl_cmd cmds[MAX_CMDS];
static unsigned nr_cmds;
static dpu_stats_fn stats_fns[16];
static unsigned nr_stats;
static dpu_shutdown_fn shutdown_fns[16];
static unsigned nr_shutdown;
static int listen_fd = -1;
static char listen_path[108];

struct ctl_conn {
	int fd;
	size_t len;
	char buf[MAX_LINE];
};

int dpu_ctl_register(const char *cmd, dpu_ctl_fn fn)
{
	if (nr_cmds >= MAX_CMDS)
		return -1;
	cmds[nr_cmds++] = (struct ctl_cmd){ cmd, fn };
	return 0;
}

int dpu_stats_register(dpu_stats_fn fn)
{
	if (nr_stats >= sizeof(stats_fns) / sizeof(stats_fns[0]))
		return -1;
	stats_fns[nr_stats++] = fn;
	return 0;
}

int dpu_shutdown_register(dpu_shutdown_fn fn)
{
	if (nr_shutdown >= sizeof(shutdown_fns) / sizeof(shutdown_fns[0]))
		return -1;
	shutdown_fns[nr_shutdown++] = fn;
	return 0;
}

void dpu_shutdown_run(void)
{
	while (nr_shutdown)
		shutdown_fns[--nr_shutdown]();
}

char *dpu_stats_text(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	for (unsigned i = 0; i < nr_stats; i++)
		stats_fns[i](f);
	fclose(f);
	return text;
}

static int cmd_stats(const cJSON *req, cJSON *reply, char *err, size_t errlen)
{
	(void)req;
	char *text = dpu_stats_text();
	if (!text) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	cJSON_AddStringToObject(reply, "stats", text);
	free(text);
	return 0;
}

static int cmd_help(const cJSON *req, cJSON *reply, char *err, size_t errlen)
{
	(void)req; (void)err; (void)errlen;
	cJSON *a = cJSON_AddArrayToObject(reply, "commands");
	for (unsigned i = 0; i < nr_cmds; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(cmds[i].name));
	return 0;
}

int dpu_ctl_run(const char *cmd, const cJSON *req, cJSON *reply, char *err, size_t errlen)
{
	for (unsigned i = 0; i < nr_cmds; i++)
		if (!strcmp(cmds[i].name, cmd))
			return cmds[i].fn(req, reply, err, errlen);
	snprintf(err, errlen, "unknown command '%.64s'", cmd);
	return -1;
}

static void send_line(int fd, const char *s)
{
	size_t len = strlen(s), done = 0;

	while (done < len) {
		ssize_t w = send(fd, s + done, len - done, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		done += (size_t)w;
	}
	send(fd, "\n", 1, MSG_NOSIGNAL);
}

char *dpu_ctl_handle_line(const char *line)
{
	cJSON *req = cJSON_Parse(line);
	cJSON *reply = cJSON_CreateObject();
	char err[256] = "";
	int r = -1;

	const cJSON *cmd = req ? cJSON_GetObjectItemCaseSensitive(req, "cmd") : NULL;
	if (!cJSON_IsString(cmd))
		snprintf(err, sizeof(err), "request is not a JSON object with a string \"cmd\"");
	else
		r = dpu_ctl_run(cmd->valuestring, req, reply, err, sizeof(err));
	if (r < 0) {
		cJSON_Delete(reply);
		reply = cJSON_CreateObject();
		cJSON_AddBoolToObject(reply, "ok", false);
		cJSON_AddStringToObject(reply, "error", err);
		log_warn_rl("control: %s: %s", cJSON_IsString(cmd) ? cmd->valuestring : "(no command)", err);
	} else {
		cJSON_AddBoolToObject(reply, "ok", true);
	}
	char *out = cJSON_PrintUnformatted(reply);
	cJSON_Delete(reply);
	cJSON_Delete(req);
	return out;
}

static void handle_line(int fd, const char *line)
{
	char *out = dpu_ctl_handle_line(line);

	if (out)
		send_line(fd, out);
	free(out);
}

static void conn_readable(void *opaque, int fd, uint32_t events)
{
	struct ctl_conn *c = opaque;
	(void)events;

	ssize_t r = recv(fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, MSG_DONTWAIT);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0)
		goto close;
	c->len += (size_t)r;
	c->buf[c->len] = '\0';
	char *start = c->buf, *nl;
	while ((nl = memchr(start, '\n', c->len - (size_t)(start - c->buf)))) {
		*nl = '\0';
		if (nl > start)
			handle_line(fd, start);
		start = nl + 1;
	}
	c->len -= (size_t)(start - c->buf);
	memmove(c->buf, start, c->len);
	if (c->len == sizeof(c->buf) - 1) {
		log_warn_rl("control: request line longer than %d bytes, closing the client", MAX_LINE);
		goto close;
	}
	return;
close:
	evloop_del(dpu_loop(), fd);
	close(fd);
	free(c);
}

static void listen_readable(void *opaque, int fd, uint32_t events)
{
	(void)opaque; (void)events;
	int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (c < 0)
		return;
	struct ctl_conn *conn = calloc(1, sizeof(*conn));
	if (!conn || evloop_add(dpu_loop(), c, EPOLLIN, conn_readable, conn) < 0) {
		free(conn);
		close(c);
		return;
	}
	conn->fd = c;
}

int dpu_ctl_listen(const char *path)
{
	dpu_ctl_register("stats", cmd_stats);
	dpu_ctl_register("help", cmd_help);
	listen_fd = unix_listen(path, 8);
	if (listen_fd < 0) {
		log_err("control: cannot listen on %s: %s", path, strerror(errno));
		return -1;
	}
	snprintf(listen_path, sizeof(listen_path), "%s", path);
	if (evloop_add(dpu_loop(), listen_fd, EPOLLIN, listen_readable, NULL) < 0) {
		log_err("control: cannot watch %s", path);
		dpu_ctl_close();
		return -1;
	}
	return 0;
}

void dpu_ctl_close(void)
{
	if (listen_fd < 0)
		return;
	evloop_del(dpu_loop(), listen_fd);
	close(listen_fd);
	unlink(listen_path);
	listen_fd = -1;
}
