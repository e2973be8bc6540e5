/* SPDX-License-Identifier: MIT */
/* Route matching (router.c). Pure functions, any thread. */
#ifndef KITED_ROUTER_H
#define KITED_ROUTER_H

#include <stdbool.h>

#include "kited.h"

/* Does `path` match `pattern` ("{}" = one non-empty segment without '/')? On a match with req
 * non-NULL, the segments go to req->params / req->nparams. */
bool kd_route_match(const char *pattern, const char *path, struct kd_req *req);
/* The handler for method + path in the tables (the first match wins), with req's params filled; or
 * NULL with *status 404 (no pattern matches the path) or 405 (only with other methods). */
kd_handler kd_route_find(const struct kd_route *const *tables, unsigned ntables, const char *method,
			 const char *path, struct kd_req *req, int *status);

#endif
