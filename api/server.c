/* SPDX-License-Identifier: MIT */
/*
 * The HTTP/1.1 server on the API's Unix socket: libmicrohttpd, with its own thread, on a socket
 * kite creates (common/unix_socket.c). Each request's body is collected (at most API_MAX_BODY bytes
 * kept; a longer one is refused after it was read), parsed here on the API thread, and carried to
 * the owner through the command queue; the API thread never touches VM state. A slow client only
 * holds its own connection (libmicrohttpd reads without blocking); an idle one is dropped after
 * API_IDLE_S seconds.
 */
#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "api_queue.h"
#include "kite/api.h"
#include "kite/log.h"
#include "kite/seccomp.h"
#include "kite/unix_socket.h"

#define API_IDLE_S 10

struct api_server {
	struct MHD_Daemon *mhd;
	struct api_queue *q;
	char *path;
	int fd;
};

struct api_request {
	char body[API_MAX_BODY];
	size_t len;                  /* bytes received (may exceed what body holds) */
};

static enum MHD_Result respond(struct MHD_Connection *c, struct api_reply *r)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	size_t len = r->body ? strlen(r->body) : 0;

	resp = MHD_create_response_from_buffer(len, r->body, r->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		free(r->body);
		return MHD_NO;
	}
	if (r->body)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
					r->text ? "text/plain; version=0.0.4" : "application/json");
	ret = MHD_queue_response(c, (unsigned)r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct api_server *s = cls;
	struct api_request *req = *con_cls;
	struct api_reply reply = { 0 };
	struct api_cmd cmd;
	char err[API_ERR_LEN];

	(void)version;
	if (!req) {
		req = calloc(1, sizeof(*req));
		if (!req)
			return MHD_NO;
		*con_cls = req;
		return MHD_YES;
	}
	if (*upload_size) {
		if (req->len < sizeof(req->body)) {
			size_t room = sizeof(req->body) - req->len;

			memcpy(req->body + req->len, upload, *upload_size < room ? *upload_size : room);
		}
		req->len += *upload_size;
		*upload_size = 0;
		return MHD_YES;
	}
	if (api_parse(method, url, req->body, req->len, &cmd, err, sizeof(err)) < 0) {
		api_reply_fault(&reply, err);
	} else {
		api_queue_call(s->q, &cmd, &reply);
		api_cmd_free(&cmd);
	}
	return respond(c, &reply);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)c;
	(void)toe;
	free(*con_cls);
	*con_cls = NULL;
}

static int check_path(const char *path)
{
	char err[512];

	if (unix_listen_check(path, "kite", err, sizeof(err)) < 0) {
		log_err("%s", err);
		return -1;
	}
	return 0;
}

/* libmicrohttpd's thread inherits the filter of the thread that creates it: a short-lived starter
 * thread installs the API's allowlist, then starts the server (docs/security.md). */
static void *start_filtered(void *arg)
{
	struct api_server *s = arg;

	if (seccomp_enter("api") < 0)
		return NULL;
	s->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL, on_request, s,
				  MHD_OPTION_LISTEN_SOCKET, s->fd,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)API_IDLE_S,
				  MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
				  MHD_OPTION_END);
	return NULL;
}

struct api_server *api_server_start(const char *path, struct api_queue *q)
{
	pthread_t starter;
	struct api_server *s;

	if (check_path(path) < 0)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->path = strdup(path))) {
		free(s);
		log_err("%s: out of memory", path);
		return NULL;
	}
	s->q = q;
	s->fd = unix_listen(path, 16);
	if (s->fd < 0) {
		log_err("%s: cannot listen on the API socket: %m", path);
		goto fail;
	}
	if (pthread_create(&starter, NULL, start_filtered, s) == 0)
		pthread_join(starter, NULL);
	if (!s->mhd) {
		log_err("%s: starting the HTTP server (libmicrohttpd) failed", path);
		goto fail;
	}
	log_info("api: listening on %s", path);
	return s;
fail:
	if (s->fd >= 0) {
		close(s->fd);
		unlink(path);
	}
	free(s->path);
	free(s);
	return NULL;
}

void api_server_stop(struct api_server *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->mhd);   /* closes the listening socket too */
	unlink(s->path);
	free(s->path);
	free(s);
}
