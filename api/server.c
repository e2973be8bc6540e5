/* SPDX-License-Identifier: MIT */
/*
 * The HTTP/1.1 server on the API's Unix socket: libmicrohttpd, with its own thread, on a socket
 * kite creates (kite/http_unix.h, common/unix_socket.c). Each request's body is collected (at most API_MAX_BODY bytes
 * kept; a longer one is refused after it was read), parsed here on the API thread, and carried to
 * the owner through the command queue; the API thread never touches VM state. A slow client only
 * holds its own connection (libmicrohttpd reads without blocking); an idle one is dropped after
 * API_IDLE_S seconds.
 */
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

#include "api_queue.h"
#include "kite/api.h"
#include "kite/http_unix.h"
#include "kite/log.h"

#define API_IDLE_S 10

struct api_server {
	struct MHD_Daemon *mhd;
	struct api_queue *q;
	char *path;
};

struct api_request {
	char body[API_MAX_BODY];
	size_t len;                  /* bytes received (may exceed what body holds) */
};

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
	return http_unix_respond(c, reply.status, reply.body, reply.text);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)c;
	(void)toe;
	free(*con_cls);
	*con_cls = NULL;
}

struct api_server *api_server_start(const char *path, struct api_queue *q)
{
	struct api_server *s = calloc(1, sizeof(*s));

	if (!s || !(s->path = strdup(path))) {
		free(s);
		log_err("%s: out of memory", path);
		return NULL;
	}
	s->q = q;
	s->mhd = http_unix_start(&(struct http_unix_server){
		.path = path, .prog = "kite", .filter = "api", .backlog = 16,
		.mhd_flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, .idle_s = API_IDLE_S,
		.on_request = on_request, .cls = s, .on_completed = on_completed,
	});
	if (!s->mhd) {
		free(s->path);
		free(s);
		return NULL;
	}
	log_info("api: listening on %s", path);
	return s;
}

void api_server_stop(struct api_server *s)
{
	if (!s)
		return;
	http_unix_stop(s->mhd, s->path);
	free(s->path);
	free(s);
}
