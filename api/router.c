/* SPDX-License-Identifier: MIT */
/*
 * Method + path -> resource parser, as Firecracker routes them: on the first path segment, with
 * "GET request cannot have a body.", "Empty PUT request.", "Empty PATCH request.", "The ID cannot
 * be empty.", "API Resource IDs can only contain alphanumeric characters and underscores." and
 * "Invalid request method and/or path: METHOD segment." for everything else. Pure, any thread.
 */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"

#define API_MAX_SEG 4

enum method { M_GET, M_PUT, M_PATCH, M_OTHER };

/* The path's segments (leading '/'s trimmed, split at '/', a trailing empty one dropped). */
struct path {
	char buf[1024];
	const char *seg[API_MAX_SEG];
	unsigned n;
};

static int split(const char *url, struct path *p)
{
	char *s;

	while (*url == '/')
		url++;
	if (strlen(url) >= sizeof(p->buf))
		return -1;
	strcpy(p->buf, url);
	p->n = 0;
	s = p->buf;
	for (;;) {
		char *slash = strchr(s, '/');

		if (slash)
			*slash = '\0';
		if (!slash && !*s)
			break;          /* trailing empty segment */
		if (p->n == API_MAX_SEG)
			return -1;
		p->seg[p->n++] = s;
		if (!slash)
			break;
		s = slash + 1;
	}
	return 0;
}

static const char *seg(const struct path *p, unsigned i)
{
	return i < p->n ? p->seg[i] : NULL;
}

static int checked_id(const char *id, char *err, size_t errlen)
{
	if (!id || !*id) {
		snprintf(err, errlen, "The ID cannot be empty.");
		return -1;
	}
	for (const char *c = id; *c; c++) {
		if (!isalnum((unsigned char)*c) && *c != '_') {
			snprintf(err, errlen, "API Resource IDs can only contain alphanumeric characters and underscores.");
			return -1;
		}
	}
	return 0;
}

static int invalid(const char *method, const char *first, char *err, size_t errlen)
{
	snprintf(err, errlen, "Invalid request method and/or path: %.16s %.128s.", method, first);
	return -1;
}

static int parse_get(const struct path *p, struct api_cmd *cmd, char *err, size_t errlen)
{
	const char *first = seg(p, 0) ? seg(p, 0) : "", *second = seg(p, 1);

	if (!*first)
		cmd->op = API_GET_INFO;
	else if (!strcmp(first, "version"))
		cmd->op = API_GET_VERSION;
	else if (!strcmp(first, "machine-config"))
		cmd->op = API_GET_MACHINE;
	else if (!strcmp(first, "metrics"))
		cmd->op = API_GET_METRICS;          /* kite extension: Prometheus text */
	else if (!strcmp(first, "vm") && second && !strcmp(second, "config"))
		cmd->op = API_GET_VM_CONFIG;
	else if (!strcmp(first, "balloon") && !second)
		cmd->op = API_GET_BALLOON;
	else if (!strcmp(first, "balloon") && !strcmp(second, "statistics"))
		cmd->op = API_GET_BALLOON_STATS;
	else if (!strcmp(first, "balloon")) {
		snprintf(err, errlen, "Unrecognized GET request path `%.128s`.", second);
		return -1;
	} else
		return invalid("GET", first, err, errlen);
	return 0;
}

static int parse_put(const struct path *p, const char *body, size_t len, struct api_cmd *cmd, char *err,
		     size_t errlen)
{
	const char *first = seg(p, 0) ? seg(p, 0) : "";

	if (!strcmp(first, "actions"))
		return res_parse_actions(body, len, cmd, err, errlen);
	if (!strcmp(first, "balloon"))
		return res_parse_balloon(body, len, false, cmd, err, errlen);
	if (!strcmp(first, "boot-source"))
		return res_parse_boot(body, len, cmd, err, errlen);
	if (!strcmp(first, "drives"))
		return checked_id(seg(p, 1), err, errlen) < 0 ? -1 :
		       res_parse_drive(body, len, seg(p, 1), false, cmd, err, errlen);
	if (!strcmp(first, "network-interfaces"))
		return checked_id(seg(p, 1), err, errlen) < 0 ? -1 :
		       res_parse_net(body, len, seg(p, 1), false, cmd, err, errlen);
	if (!strcmp(first, "logger"))
		return res_parse_logger(body, len, cmd, err, errlen);
	if (!strcmp(first, "machine-config"))
		return res_parse_machine(body, len, false, cmd, err, errlen);
	if (!strcmp(first, "metrics"))
		return res_parse_metrics(body, len, cmd, err, errlen);
	if (!strcmp(first, "entropy"))
		return res_parse_entropy(body, len, cmd, err, errlen);
	if (!strcmp(first, "snapshot") && seg(p, 1) && !strcmp(seg(p, 1), "create") && p->n == 2)
		return res_parse_snapshot_create(body, len, cmd, err, errlen);
	if (!strcmp(first, "snapshot") && seg(p, 1) && !strcmp(seg(p, 1), "load") && p->n == 2)
		return res_parse_snapshot_load(body, len, cmd, err, errlen);
	if (!strcmp(first, "virtio-console"))
		return res_parse_vconsole(body, len, cmd, err, errlen);   /* kite extension */
	return invalid("PUT", first, err, errlen);
}

static int parse_patch(const struct path *p, const char *body, size_t len, struct api_cmd *cmd, char *err,
		       size_t errlen)
{
	const char *first = seg(p, 0) ? seg(p, 0) : "";

	if (!strcmp(first, "balloon"))
		return seg(p, 1) && !strcmp(seg(p, 1), "statistics") ?
		       res_parse_balloon_stats(body, len, cmd, err, errlen) :
		       res_parse_balloon(body, len, true, cmd, err, errlen);
	if (!strcmp(first, "drives"))
		return checked_id(seg(p, 1), err, errlen) < 0 ? -1 :
		       res_parse_drive(body, len, seg(p, 1), true, cmd, err, errlen);
	if (!strcmp(first, "network-interfaces"))
		return checked_id(seg(p, 1), err, errlen) < 0 ? -1 :
		       res_parse_net(body, len, seg(p, 1), true, cmd, err, errlen);
	if (!strcmp(first, "machine-config"))
		return res_parse_machine(body, len, true, cmd, err, errlen);
	if (!strcmp(first, "vm"))
		return res_parse_vm_state(body, len, cmd, err, errlen);
	return invalid("PATCH", first, err, errlen);
}

int api_parse(const char *method, const char *url, const char *body, size_t len, struct api_cmd *cmd,
	      char *err, size_t errlen)
{
	enum method m = !strcmp(method, "GET") ? M_GET : !strcmp(method, "PUT") ? M_PUT :
			!strcmp(method, "PATCH") ? M_PATCH : M_OTHER;
	struct path p;
	int ret;

	memset(cmd, 0, sizeof(*cmd));
	if (split(url, &p) < 0)
		return invalid(method, url, err, errlen);
	if (len > API_MAX_BODY) {
		snprintf(err, errlen, "Request payload with size %zu is larger than the limit of %d allowed by server.",
			 len, API_MAX_BODY);
		return -1;
	}
	switch (m) {
	case M_GET:
		if (len) {
			snprintf(err, errlen, "GET request cannot have a body.");
			return -1;
		}
		return parse_get(&p, cmd, err, errlen);
	case M_PUT:
	case M_PATCH:
		if (!len) {
			/* Firecracker checks the body before the path for these methods */
			snprintf(err, errlen, m == M_PUT ? "Empty PUT request." : "Empty PATCH request.");
			return -1;
		}
		ret = m == M_PUT ? parse_put(&p, body, len, cmd, err, errlen) : parse_patch(&p, body, len, cmd, err, errlen);
		if (ret < 0)
			api_cmd_free(cmd);
		return ret;
	default:
		return invalid(method, seg(&p, 0) ? seg(&p, 0) : "", err, errlen);
	}
}

void api_cmd_free(struct api_cmd *cmd)
{
	cJSON_Delete(cmd->json);
	cmd->json = NULL;
}
