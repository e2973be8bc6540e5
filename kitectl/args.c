/* SPDX-License-Identifier: MIT */
/* kitectl's argument handling: options of one command, numbers, sizes (no I/O but the usage line). */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kitectl.h"

int kc_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "kitectl: %s%s", cmd ? cmd : "", cmd ? ": " : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (kitectl --help)\n");
	return KC_USAGE;
}

int kc_parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
	unsigned long long v;
	char *end;

	if (!s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

int kc_parse_size_mib(const char *s, unsigned long long *mib)
{
	unsigned long long v, shift_kib;   /* the unit in KiB */
	char *end;

	if (!s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || !v)
		return -1;
	if (!*end || !strcmp(end, "M") || !strcmp(end, "MiB") || !strcmp(end, "m"))
		shift_kib = 1024;
	else if (!strcmp(end, "G") || !strcmp(end, "GiB") || !strcmp(end, "g"))
		shift_kib = 1024 * 1024;
	else if (!strcmp(end, "T") || !strcmp(end, "TiB") || !strcmp(end, "t"))
		shift_kib = 1024ULL * 1024 * 1024;
	else if (!strcmp(end, "K") || !strcmp(end, "KiB") || !strcmp(end, "k"))
		shift_kib = 1;
	else
		return -1;
	if (v > (1ULL << 42) / shift_kib)   /* above 2^32 MiB; keeps v * shift_kib from overflowing */
		return -1;
	v *= shift_kib;
	if (v % 1024)
		return -1;
	v /= 1024;
	if (v > 0xffffffffULL)
		return -1;
	*mib = v;
	return 0;
}

const char *kc_fmt_mib(unsigned long long mib, char *buf, size_t len)
{
	if (mib >= 1024 * 1024 && !(mib % (1024 * 1024)))
		snprintf(buf, len, "%lluT", mib / (1024 * 1024));
	else if (mib >= 1024 && !(mib % 1024))
		snprintf(buf, len, "%lluG", mib / 1024);
	else if (mib >= 1024)
		snprintf(buf, len, "%.1fG", mib / 1024.0);
	else
		snprintf(buf, len, "%lluM", mib);
	return buf;
}

int kc_parse_cpu_list(const char *s, int cpus[KC_MAX_CPUS], size_t *n)
{
	*n = 0;
	if (!s || !*s)
		return -1;
	for (;;) {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);
		char word[8];
		unsigned long long v;

		if (len == 0 || len >= sizeof(word) || *n == KC_MAX_CPUS)
			return -1;
		memcpy(word, s, len);
		word[len] = '\0';
		if (kc_parse_uint(word, 1023, &v) < 0)
			return -1;
		cpus[(*n)++] = (int)v;
		if (!comma)
			return 0;
		s = comma + 1;
	}
}

struct kc_opt *kc_opt(struct kc_opt *opts, size_t nopts, const char *name)
{
	for (size_t i = 0; i < nopts; i++)
		if (!strcmp(opts[i].name, name))
			return &opts[i];
	abort();   /* a programming error: the table lacks it */
}

static bool is_number(const char *s)
{
	unsigned long long v;

	return kc_parse_uint(s, ~0ULL, &v) == 0;
}

int kc_parse(struct kc *kc, const char *cmd, int argc, char **argv, struct kc_opt *opts, size_t nopts,
	     const char **pos, size_t maxpos, size_t *npos)
{
	bool words_only = false;

	*npos = 0;
	for (size_t i = 0; i < nopts; i++)
		opts[i].value = NULL;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *eq;
		size_t nlen;
		struct kc_opt *o = NULL;

		if (words_only || a[0] != '-' || !a[1]) {
			if (*npos >= maxpos)
				return kc_usage(cmd, "unexpected '%s'", a), -1;
			pos[(*npos)++] = a;
			continue;
		}
		if (!strcmp(a, "--")) {
			words_only = true;
			continue;
		}
		if (a[1] != '-')
			return kc_usage(cmd, "unknown option '%s'", a), -1;
		a += 2;
		eq = strchr(a, '=');
		nlen = eq ? (size_t)(eq - a) : strlen(a);
		if (nlen == 4 && !strncmp(a, "json", 4) && !eq) {
			kc->json = true;
			continue;
		}
		if (nlen == 4 && !strncmp(a, "sock", 4)) {
			if (!eq && i + 1 >= argc)
				return kc_usage(cmd, "--sock needs a path"), -1;
			kc->sock = eq ? eq + 1 : argv[++i];
			continue;
		}
		for (size_t k = 0; k < nopts; k++)
			if (strlen(opts[k].name) == nlen && !strncmp(opts[k].name, a, nlen))
				o = &opts[k];
		if (!o)
			return kc_usage(cmd, "unknown option '--%.*s'", (int)nlen, a), -1;
		switch (o->kind) {
		case KC_FLAG:
			if (eq)
				return kc_usage(cmd, "--%s takes no value", o->name), -1;
			o->value = "";
			break;
		case KC_VALUE:
			if (eq) {
				o->value = eq + 1;
			} else {
				if (i + 1 >= argc)
					return kc_usage(cmd, "--%s needs a value", o->name), -1;
				o->value = argv[++i];
			}
			break;
		case KC_OPTVALUE:
			if (eq)
				o->value = eq + 1;
			else if (i + 1 < argc && is_number(argv[i + 1]))
				o->value = argv[++i];
			else
				o->value = "";
			break;
		}
	}
	return 0;
}

char *kc_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(strlen(s) * 3 + 1), *p = out;

	if (!out)
		return NULL;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		    c == '_') {
			*p++ = (char)c;
		} else {
			*p++ = '%';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		}
	}
	*p = 0;
	return out;
}

char *kc_one_name(struct kc *kc, const char *what, const char *cmd, int argc, char **argv, struct kc_opt *opts,
		  size_t nopts, const char **raw)
{
	const char *pos[1];
	size_t npos;
	char *e;

	if (kc_parse(kc, cmd, argc, argv, opts, nopts, pos, 1, &npos) < 0)
		return NULL;
	if (npos != 1) {
		kc_usage(cmd, "%s is needed", what);
		return NULL;
	}
	*raw = pos[0];
	e = kc_escape(pos[0]);
	if (!e)
		fprintf(stderr, "kitectl: out of memory\n");
	return e;
}
