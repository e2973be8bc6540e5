/* SPDX-License-Identifier: MIT */
/* kitectl's output: the API's JSON (--json), tables, key/value lines, the one-line errors. */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kitectl.h"

int kc_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("kitectl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return KC_ERR;
}

/* The first line of a text, at most 200 bytes, for an error line. */
static void first_line(const char *s, char *buf, size_t len)
{
	size_t n = strcspn(s, "\r\n");

	if (n >= len)
		n = len - 1;
	memcpy(buf, s, n);
	buf[n] = 0;
}

int kc_finish(const struct kc *kc, struct kc_reply *r, bool print_json, cJSON **json)
{
	cJSON *j = NULL;
	char line[201];

	if (json)
		*json = NULL;
	if (r->len) {
		j = cJSON_ParseWithLength(r->body, r->len);
	}
	if (r->status >= 400 || r->status < 200) {
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");

		if (cJSON_IsString(e) && *e->valuestring) {
			first_line(e->valuestring, line, sizeof(line));
			kc_fail("%s", line);
		} else {
			first_line(r->body, line, sizeof(line));
			kc_fail("HTTP %ld%s%s", r->status, *line ? ": " : "", line);
		}
		cJSON_Delete(j);
		return KC_ERR;
	}
	if (r->len && !j) {
		first_line(r->body, line, sizeof(line));
		return kc_fail("kited's reply is not JSON: %s", line);
	}
	if (kc->json && print_json && j) {
		char *txt = cJSON_Print(j);

		if (txt)
			puts(txt);
		free(txt);
	}
	if (json)
		*json = j;
	else
		cJSON_Delete(j);
	return KC_OK;
}

int kc_call(const struct kc *kc, const char *method, const char *body, cJSON **json, bool print_json,
	    const char *pathfmt, ...)
{
	struct kc_reply r;
	char path[2048];
	va_list ap;
	int n, ret;

	if (json)
		*json = NULL;
	va_start(ap, pathfmt);
	n = vsnprintf(path, sizeof(path), pathfmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(path))
		return kc_fail("request path too long");
	if (kc_request(kc, method, path, body, &r) < 0)
		return KC_ERR;
	ret = kc_finish(kc, &r, print_json, json);
	kc_reply_free(&r);
	return ret;
}

void kc_table_init(struct kc_table *t, size_t ncol, const char *const *head)
{
	memset(t, 0, sizeof(*t));
	t->ncol = ncol < KC_TABLE_MAXCOL ? ncol : KC_TABLE_MAXCOL;
	for (size_t i = 0; i < t->ncol; i++)
		t->head[i] = head[i];
}

void kc_table_row(struct kc_table *t, const char *const *cells)
{
	if (t->nrow == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 16;
		char **nc = realloc(t->cells, cap * t->ncol * sizeof(*nc));

		if (!nc)
			return;   /* out of memory: the row is left out */
		t->cells = nc;
		t->cap = cap;
	}
	for (size_t i = 0; i < t->ncol; i++)
		t->cells[t->nrow * t->ncol + i] = strdup(cells[i] ? cells[i] : "-");
	t->nrow++;
}

static const char *cell(const struct kc_table *t, size_t row, size_t col)
{
	const char *s = row ? t->cells[(row - 1) * t->ncol + col] : t->head[col];

	return s ? s : "-";
}

void kc_table_print(struct kc_table *t)
{
	size_t w[KC_TABLE_MAXCOL] = { 0 };

	for (size_t r = 0; r <= t->nrow; r++)
		for (size_t c = 0; c < t->ncol; c++)
			if (strlen(cell(t, r, c)) > w[c])
				w[c] = strlen(cell(t, r, c));
	for (size_t r = 0; r <= t->nrow; r++) {
		for (size_t c = 0; c < t->ncol; c++) {
			if (c + 1 < t->ncol)
				printf("%-*s  ", (int)w[c], cell(t, r, c));
			else
				printf("%s\n", cell(t, r, c));
		}
	}
	for (size_t i = 0; i < t->nrow * t->ncol; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

const char *kc_jstr(const cJSON *o, const char *key, char *buf, size_t len)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (cJSON_IsString(v))
		snprintf(buf, len, "%s", v->valuestring);
	else if (cJSON_IsBool(v))
		snprintf(buf, len, "%s", cJSON_IsTrue(v) ? "yes" : "no");
	else if (cJSON_IsNumber(v) && v->valuedouble == (double)(long long)v->valuedouble)
		snprintf(buf, len, "%lld", (long long)v->valuedouble);
	else if (cJSON_IsNumber(v))
		snprintf(buf, len, "%g", v->valuedouble);
	else
		snprintf(buf, len, "-");
	return buf;
}

double kc_jnum(const cJSON *o, const char *key, double dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

void kc_print_kv(const cJSON *o, const char *prefix)
{
	const cJSON *it;
	char buf[512], name[256];

	cJSON_ArrayForEach(it, o) {
		if (!it->string)
			continue;
		snprintf(name, sizeof(name), "%s%s%s", prefix ? prefix : "", prefix ? "." : "", it->string);
		if (cJSON_IsObject(it)) {
			kc_print_kv(it, name);
		} else if (cJSON_IsArray(it)) {
			char *txt = cJSON_PrintUnformatted(it);

			printf("%s: %s\n", name, txt ? txt : "[...]");
			free(txt);
		} else {
			printf("%s: %s\n", name, kc_jstr(o, it->string, buf, sizeof(buf)));
		}
	}
}

int kc_get_list(struct kc *kc, const char *cmd, const char *path, int argc, char **argv, cJSON **list)
{
	struct kc_opt opts[] = { { "names", KC_FLAG, NULL } };
	const char *pos[1];
	size_t npos;
	bool names;
	int ret;

	*list = NULL;
	if (kc_parse(kc, cmd, argc, argv, opts, 1, pos, 0, &npos) < 0)
		return KC_USAGE;
	names = opts[0].value != NULL;
	ret = kc_call(kc, "GET", NULL, list, !names, "%s", path);
	if (ret || (kc->json && !names))
		return ret;
	if (!cJSON_IsArray(*list))
		return kc_fail("GET %s: kited's reply is not a list", path);
	if (names) {
		const cJSON *it;

		cJSON_ArrayForEach(it, *list) {
			const cJSON *n = cJSON_GetObjectItemCaseSensitive(it, "name");

			if (cJSON_IsString(n))
				puts(n->valuestring);
		}
		return KC_OK;
	}
	return KC_LIST_TABLE;
}

int kc_get_kv(struct kc *kc, const char *cmd, const char *path, int argc, char **argv)
{
	const char *pos[1];
	size_t npos;
	cJSON *o;
	int ret;

	if (kc_parse(kc, cmd, argc, argv, NULL, 0, pos, 0, &npos) < 0)
		return KC_USAGE;
	ret = kc_call(kc, "GET", NULL, &o, true, "%s", path);
	if (!ret && !kc->json)
		kc_print_kv(o, NULL);
	cJSON_Delete(o);
	return ret;
}
