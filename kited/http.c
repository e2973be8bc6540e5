/* SPDX-License-Identifier: MIT */
/*
 * kited's HTTP/1.1 server on its Unix socket (kite/http_unix.h: libmicrohttpd, one thread per
 * connection: a handler may block while a kite boots or stops, and holds up only its own client).
 * A request's body (at most KD_MAX_BODY bytes; a longer one gets 413 once read) must be a JSON
 * object; the route table picks the handler (router.c). Replies: JSON, Prometheus text, or {"error": "..."} with the status.
 */
#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "kite/http_unix.h"
#include "kite/log.h"
#include "router.h"

#define KD_IDLE_S 60

struct kd_http {
	struct MHD_Daemon *mhd;
	struct kited *kd;
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
	return http_unix_respond(c, rep.status, rep.body, rep.text);
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

struct kd_http *kd_http_start(struct kited *kd)
{
	struct kd_http *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->kd = kd;
	s->mhd = http_unix_start(&(struct http_unix_server){
		.path = kd->sock, .prog = "kited", .filter = "http", .backlog = 64,
		.mhd_flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL,
		.idle_s = KD_IDLE_S, .on_request = on_request, .cls = s, .on_completed = on_completed,
	});
	if (!s->mhd) {
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
	http_unix_stop(s->mhd, s->kd->sock);
	free(s);
}
