/* SPDX-License-Identifier: MIT */
/*
 * Metrics: Firecracker's metrics file (one JSON object per line, written at FlushMetrics and by the
 * periodic tick) and, as a kite extension, GET /metrics in Prometheus text. Both come from the same
 * counters: the API's own (requests, failures) and vmm_ctl_counters(). Owner thread only.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api_internal.h"

static int metrics_fd = -1;
static uint64_t requests, request_fails, flushes;

void api_metrics_count_request(bool ok)
{
	requests++;
	if (!ok)
		request_fails++;
}

int api_metrics_set_path(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0644);

	if (fd < 0) {
		snprintf(err, errlen, "Metrics error: Failed to open target file: %s", strerror(errno));
		return -1;
	}
	if (metrics_fd >= 0)
		close(metrics_fd);
	metrics_fd = fd;
	return 0;
}

struct json_sink {
	cJSON *root;
};

static void json_emit(void *opaque, const char *name, const char *device, uint64_t value)
{
	struct json_sink *s = opaque;
	const char *group = device ? device : "vmm";
	cJSON *g = cJSON_GetObjectItemCaseSensitive(s->root, group);

	if (!g)
		g = cJSON_AddObjectToObject(s->root, group);
	if (g)
		cJSON_AddNumberToObject(g, name, (double)value);
}

int api_metrics_flush(struct vmm_control *ctl, char *err, size_t errlen)
{
	struct json_sink s = { cJSON_CreateObject() };
	struct timespec ts;
	cJSON *api;
	char *line;
	size_t len;
	ssize_t w;

	if (metrics_fd < 0) {
		cJSON_Delete(s.root);
		return 0;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	cJSON_AddNumberToObject(s.root, "utc_timestamp_ms", (double)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
	api = cJSON_AddObjectToObject(s.root, "api_server");
	cJSON_AddNumberToObject(api, "requests", (double)requests);
	cJSON_AddNumberToObject(api, "request_fails", (double)request_fails);
	cJSON_AddNumberToObject(api, "metrics_flushes", (double)++flushes);
	vmm_ctl_counters(ctl, json_emit, &s);
	line = cJSON_PrintUnformatted(s.root);
	cJSON_Delete(s.root);
	if (!line) {
		snprintf(err, errlen, "Internal VMM error: out of memory");
		return -1;
	}
	len = strlen(line);
	line[len++] = '\n';   /* replaces the NUL: written with its length */
	w = write(metrics_fd, line, len);
	free(line);
	if (w != (ssize_t)len) {
		snprintf(err, errlen, "Internal VMM error: Metrics error: writing the metrics file failed: %s",
			 w < 0 ? strerror(errno) : "short write");
		return -1;
	}
	return 0;
}

struct prom_sink {
	char *buf;
	size_t len, cap;
	bool oom;
};

static void prom_printf(struct prom_sink *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void prom_printf(struct prom_sink *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (s->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(s->buf ? s->buf + s->len : NULL, s->buf ? s->cap - s->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			s->oom = true;
			return;
		}
		if (s->buf && s->len + (size_t)n < s->cap) {
			s->len += (size_t)n;
			return;
		}
		s->cap = (s->cap + (size_t)n + 1) * 2;
		s->buf = realloc(s->buf, s->cap);
		if (!s->buf) {
			s->oom = true;
			return;
		}
	}
}

static void prom_emit(void *opaque, const char *name, const char *device, uint64_t value)
{
	if (device)
		prom_printf(opaque, "kite_%s{device=\"%s\"} %llu\n", name, device, (unsigned long long)value);
	else
		prom_printf(opaque, "kite_%s %llu\n", name, (unsigned long long)value);
}

char *api_metrics_prometheus(struct vmm_control *ctl)
{
	struct prom_sink s = { 0 };

	prom_printf(&s, "# kite metrics (Prometheus text format 0.0.4)\n");
	prom_printf(&s, "kite_api_requests %llu\nkite_api_request_fails %llu\n", (unsigned long long)requests,
		    (unsigned long long)request_fails);
	vmm_ctl_counters(ctl, prom_emit, &s);
	if (s.oom) {
		free(s.buf);
		return NULL;
	}
	return s.buf;
}
