/* SPDX-License-Identifier: MIT */
/*
 * kited's HTTP/1.1 server on its Unix socket (libmicrohttpd, one thread per connection: a handler
 * may block while a kite boots or stops, and holds up only its own client). A request's body (at
 * most KD_MAX_BODY bytes; a longer one gets 413 once read) must be a JSON object; the route table
 * picks the handler (router.c). Replies: JSON, Prometheus text, or {"error": "..."} with the status.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "http.h"
#include "kite/log.h"
#include "kite/seccomp.h"
#include "kite/unix_socket.h"
#include "router.h"

#define KD_IDLE_S 60

struct kd_http {
	struct MHD_Daemon *mhd;
	struct kited *kd;
	int fd;
};

struct conn_state {
	char *body;
	size_t len;                 /* bytes received (may exceed what body holds) */
};

void kd_reply_json(struct kd_reply *rep, int status, cJSON *j)
{
	char *text = j ? cJSON_PrintUnformatted(j) : NULL;

	cJSON_Delete(j);
	free(rep->body);
	rep->text = false;
	if (!text) {
		rep->status = 500;
		rep->body = strdup("{\"error\": \"out of memory\"}");
		return;
	}
	rep->status = status;
	rep->body = text;
}

void kd_reply_error(struct kd_reply *rep, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	cJSON *j = cJSON_CreateObject();

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (j && !cJSON_AddStringToObject(j, "error", msg)) {
		cJSON_Delete(j);
		j = NULL;
	}
	kd_reply_json(rep, status, j);
}

void kd_reply_text(struct kd_reply *rep, int status, char *text)
{
	free(rep->body);
	rep->status = status;
	rep->body = text;
	rep->text = true;
}

void kd_reply_empty(struct kd_reply *rep, int status)
{
	free(rep->body);
	rep->status = status;
	rep->body = NULL;
	rep->text = false;
}

const char *kd_query(const struct kd_req *req, const char *key)
{
	return req->conn ? MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key) : NULL;
}

static enum MHD_Result respond(struct MHD_Connection *c, struct kd_reply *r)
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

static void dispatch(struct kited *kd, struct MHD_Connection *c, const char *method, const char *url,
		     struct conn_state *cs, struct kd_reply *rep)
{
	static const struct kd_route *const tables[] = { kd_vm_routes, kd_dpu_routes };
	struct kd_req req = { .method = method, .path = url, .conn = c };
	kd_handler h;
	int status = 0;

	h = kd_route_find(tables, 2, method, url, &req, &status);
	if (!h) {
		kd_reply_error(rep, status, status == 405 ? "%s %s: method not allowed" : "%s %s: no such path", method,
			       url);
		return;
	}
	if (cs->len > KD_MAX_BODY) {
		kd_reply_error(rep, 413, "%s %s: body of %zu bytes is over the limit of %d", method, url, cs->len,
			       KD_MAX_BODY);
		return;
	}
	if (cs->len) {
		req.body = cJSON_ParseWithLength(cs->body, cs->len);
		if (!req.body || !cJSON_IsObject(req.body)) {
			cJSON_Delete(req.body);
			kd_reply_error(rep, 400, "%s %s: the body is not a JSON object", method, url);
			return;
		}
	}
	h(kd, &req, rep);
	cJSON_Delete(req.body);
	if (!rep->status)
		kd_reply_error(rep, 500, "%s %s: handler gave no reply", method, url);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct kd_http *s = cls;
	struct conn_state *cs = *con_cls;
	struct kd_reply rep = { 0 };

	(void)version;
	if (!cs) {
		cs = calloc(1, sizeof(*cs));
		if (!cs)
			return MHD_NO;
		*con_cls = cs;
		return MHD_YES;
	}
	if (*upload_size) {
		if (cs->len + *upload_size <= KD_MAX_BODY) {
			char *nb = realloc(cs->body, cs->len + *upload_size);

			if (!nb)
				return MHD_NO;
			cs->body = nb;
			memcpy(cs->body + cs->len, upload, *upload_size);
		}
		cs->len += *upload_size;
		*upload_size = 0;
		return MHD_YES;
	}
	dispatch(s->kd, c, method, url, cs, &rep);
	return respond(c, &rep);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct conn_state *cs = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (cs)
		free(cs->body);
	free(cs);
	*con_cls = NULL;
}

static int check_path(const char *path)
{
	char err[512];

	if (unix_listen_check(path, "kited", err, sizeof(err)) < 0) {
		log_err("%s", err);
		return -1;
	}
	return 0;
}

/* libmicrohttpd's threads inherit the filter of the thread that starts the server: a short-lived
 * starter thread installs the "http" allowlist first (seccomp.c, docs/security.md). */
static void *start_filtered(void *arg)
{
	struct kd_http *s = arg;

	if (seccomp_enter("http") < 0)
		return NULL;
	s->mhd = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0,
				  NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET, s->fd,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)KD_IDLE_S,
				  MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
	return NULL;
}

struct kd_http *kd_http_start(struct kited *kd)
{
	pthread_t starter;
	struct kd_http *s;

	if (check_path(kd->sock) < 0)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->kd = kd;
	s->fd = unix_listen(kd->sock, 64);
	if (s->fd < 0) {
		log_err("%s: cannot listen on the API socket: %m", kd->sock);
		free(s);
		return NULL;
	}
	if (pthread_create(&starter, NULL, start_filtered, s) == 0)
		pthread_join(starter, NULL);
	if (!s->mhd) {
		log_err("%s: starting the HTTP server (libmicrohttpd) failed", kd->sock);
		close(s->fd);
		unlink(kd->sock);
		free(s);
		return NULL;
	}
	log_info("listening on %s", kd->sock);
	return s;
}

void kd_http_stop(struct kd_http *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->mhd);
	unlink(s->kd->sock);
	free(s);
}
