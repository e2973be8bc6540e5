/* SPDX-License-Identifier: MIT */
/* Prometheus text lines: a vm="NAME" label added, a label read back. Pure, any thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm_internal.h"

int kd_buf_add(struct kd_buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *np;

		while (cap < b->len + n + 1)
			cap *= 2;
		np = realloc(b->p, cap);
		if (!np)
			return -1;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int prom_add_line(struct kd_buf *out, const char *line, size_t len, const char *vm)
{
	size_t name_end = 0;
	char label[KD_NAME_MAX + 16];
	int r = 0;

	if (!vm || len == 0 || line[0] == '#') {
		r |= kd_buf_add(out, line, len);
		return r | kd_buf_add(out, "\n", 1);
	}
	while (name_end < len && line[name_end] != '{' && line[name_end] != ' ')
		name_end++;
	r |= kd_buf_add(out, line, name_end);
	if (name_end < len && line[name_end] == '{') {
		bool empty = name_end + 1 < len && line[name_end + 1] == '}';

		snprintf(label, sizeof(label), "{vm=\"%s\"%s", vm, empty ? "" : ",");
		r |= kd_buf_add(out, label, strlen(label));
		r |= kd_buf_add(out, line + name_end + 1, len - name_end - 1);
	} else {
		snprintf(label, sizeof(label), "{vm=\"%s\"}", vm);
		r |= kd_buf_add(out, label, strlen(label));
		r |= kd_buf_add(out, line + name_end, len - name_end);
	}
	return r | kd_buf_add(out, "\n", 1);
}

bool prom_label(const char *line, size_t len, const char *key, char *val, size_t vlen)
{
	char pat[64];
	const char *p, *end = line + len, *q;
	int n = snprintf(pat, sizeof(pat), "%s=\"", key);

	if (n <= 0 || (size_t)n >= sizeof(pat) || line[0] == '#')
		return false;
	for (p = line; p + n <= end; p++) {
		if (memcmp(p, pat, (size_t)n) || (p > line && p[-1] != '{' && p[-1] != ','))
			continue;
		p += n;
		for (q = p; q < end && *q != '"'; q++)
			;
		if (q >= end || (size_t)(q - p) >= vlen)
			return false;
		memcpy(val, p, (size_t)(q - p));
		val[q - p] = '\0';
		return true;
	}
	return false;
}
