/* SPDX-License-Identifier: MIT */
/*
 * An HTTP/1.1 server (libmicrohttpd) on a Unix socket: kite's API (api/server.c) and kited's
 * (kited/http.c); api/http_unix.c.
 *
 * http_unix_start() refuses a path where a server listens or that is no socket (unix_listen_check,
 * naming cfg->prog), listens there (unix_listen: mode 0600, backlog cfg->backlog), then starts
 * libmicrohttpd on that socket (cfg->mhd_flags, an idle connection dropped after cfg->idle_s,
 * cfg->on_request with cfg->cls, cfg->on_completed) from a short-lived thread that first enters the
 * seccomp filter cfg->filter (seccomp_enter), so every thread of the server inherits that filter
 * (docs/security.md). Returns the daemon; NULL after one log line naming the path, with nothing
 * left at it (nor a stale socket that was there). Main thread, before the filters of the main
 * thread go on.
 *
 * http_unix_stop() stops the daemon (libmicrohttpd closes the listening socket and joins its
 * threads) and removes `path`; NULL does nothing.
 *
 * http_unix_respond() queues a reply on the connection: `status`, and `body` (taken: freed whatever
 * happens; NULL: no body) as JSON, or as Prometheus text when `text`. libmicrohttpd's MHD_YES, or
 * MHD_NO when it could not (the connection is closed). The server's threads.
 */
#ifndef KITE_HTTP_UNIX_H
#define KITE_HTTP_UNIX_H

#include <microhttpd.h>
#include <stdbool.h>

struct http_unix_server {
	const char *path;           /* the socket */
	const char *prog;           /* the server, in the refusal's line ("kite", "kited") */
	const char *filter;         /* the seccomp filter of the server's threads */
	int backlog;
	unsigned int mhd_flags;     /* MHD_USE_... */
	unsigned int idle_s;
	MHD_AccessHandlerCallback on_request;
	void *cls;                  /* on_request's */
	MHD_RequestCompletedCallback on_completed;   /* called with NULL as its cls */
};

struct MHD_Daemon *http_unix_start(const struct http_unix_server *cfg);
void http_unix_stop(struct MHD_Daemon *d, const char *path);
enum MHD_Result http_unix_respond(struct MHD_Connection *c, int status, char *body, bool text);

#endif
