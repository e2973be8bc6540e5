/* SPDX-License-Identifier: MIT */
/*
 * Route matching: (method, pattern) -> handler, over the VM side's table (routes.c) and the DPU
 * side's (kd_dpu_routes, dpu_res.c). A path no pattern matches is 404; a path some pattern matches
 * with another method is 405. Pure functions, any thread.
 */
#include <string.h>

#include "router.h"

bool kd_route_match(const char *pattern, const char *path, struct kd_req *req)
{
	const char *p = pattern, *s = path;
	unsigned n = 0;

	while (*p) {
		if (p[0] == '{' && p[1] == '}') {
			size_t len = strcspn(s, "/");

			if (len == 0 || len >= sizeof(req->params[0]) || n >= KD_MAX_PARAMS)
				return false;
			if (req) {
				memcpy(req->params[n], s, len);
				req->params[n][len] = '\0';
			}
			n++;
			s += len;
			p += 2;
			continue;
		}
		if (*p != *s)
			return false;
		p++;
		s++;
	}
	if (*s)
		return false;
	if (req)
		req->nparams = n;
	return true;
}

static const struct kd_route *find_in(const struct kd_route *table, const char *method, const char *path,
				      struct kd_req *req, bool *path_known)
{
	for (const struct kd_route *r = table; r->pattern; r++) {
		if (!kd_route_match(r->pattern, path, NULL))
			continue;
		*path_known = true;
		if (!strcmp(r->method, method)) {
			kd_route_match(r->pattern, path, req);
			return r;
		}
	}
	return NULL;
}

kd_handler kd_route_find(const struct kd_route *const *tables, unsigned ntables, const char *method,
			 const char *path, struct kd_req *req, int *status)
{
	bool path_known = false;

	for (unsigned i = 0; i < ntables; i++) {
		const struct kd_route *r = find_in(tables[i], method, path, req, &path_known);

		if (r)
			return r->handler;
	}
	*status = path_known ? 405 : 404;
	return NULL;
}
