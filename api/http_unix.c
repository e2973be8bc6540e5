/* SPDX-License-Identifier: MIT */
/* An HTTP/1.1 server (libmicrohttpd) on a Unix socket, started under a seccomp filter (see
 * include/kite/http_unix.h). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kite/http_unix.h"
#include "kite/log.h"
#include "kite/seccomp.h"
#include "kite/unix_socket.h"

struct starter {
	const struct http_unix_server *cfg;
	int fd;
	struct MHD_Daemon *mhd;
};

/* libmicrohttpd's threads inherit the filter of the thread that creates them: this short-lived
 * thread installs the server's allowlist, then starts the server. */
static void *start_filtered(void *arg)
{
	struct starter *st = arg;
	const struct http_unix_server *cfg = st->cfg;

	if (seccomp_enter(cfg->filter) < 0)
		return NULL;
	st->mhd = MHD_start_daemon(cfg->mhd_flags, 0, NULL, NULL, cfg->on_request, cfg->cls,
				   MHD_OPTION_LISTEN_SOCKET, st->fd,
				   MHD_OPTION_CONNECTION_TIMEOUT, cfg->idle_s,
				   MHD_OPTION_NOTIFY_COMPLETED, cfg->on_completed, NULL,
				   MHD_OPTION_END);
	return NULL;
}

struct MHD_Daemon *http_unix_start(const struct http_unix_server *cfg)
{
	struct starter st = { .cfg = cfg };
	pthread_t starter;
	char err[512];

	if (unix_listen_check(cfg->path, cfg->prog, err, sizeof(err)) < 0) {
		log_err("%s", err);
		return NULL;
	}
	st.fd = unix_listen(cfg->path, cfg->backlog);
	if (st.fd < 0) {
		log_err("%s: cannot listen on the API socket: %m", cfg->path);
		return NULL;
	}
	if (pthread_create(&starter, NULL, start_filtered, &st) == 0)
		pthread_join(starter, NULL);
	if (!st.mhd) {
		log_err("%s: starting the HTTP server (libmicrohttpd) failed", cfg->path);
		close(st.fd);
		unlink(cfg->path);
		return NULL;
	}
	return st.mhd;
}

void http_unix_stop(struct MHD_Daemon *d, const char *path)
{
	if (!d)
		return;
	MHD_stop_daemon(d);   /* closes the listening socket too */
	unlink(path);
}

enum MHD_Result http_unix_respond(struct MHD_Connection *c, int status, char *body, bool text)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	size_t len = body ? strlen(body) : 0;

	resp = MHD_create_response_from_buffer(len, body, body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	if (body)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
					text ? "text/plain; version=0.0.4" : "application/json");
	ret = MHD_queue_response(c, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return ret;
}
