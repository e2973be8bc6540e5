/* SPDX-License-Identifier: MIT */
/* kited's HTTP server (http.c); the reply and body helpers are declared in kited.h. */
#ifndef KITED_HTTP_H
#define KITED_HTTP_H

#include "kited.h"

struct kd_http;

/* Listens on kd->sock (mode 0600; a live socket is refused, a stale one replaced) and serves each
 * connection on its own thread. NULL after one log line. Main thread. */
struct kd_http *kd_http_start(struct kited *kd);
/* Stops serving (waits for the connection threads) and removes the socket. */
void kd_http_stop(struct kd_http *s);

#endif
