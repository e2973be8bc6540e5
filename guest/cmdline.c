/* SPDX-License-Identifier: MIT */
/* The kernel command line: space-separated words, kite.* options are "key=value". */
#include "guest.h"

#define CMDLINE_MAX 2048

static char cmdline[CMDLINE_MAX];

void cmdline_set(const char *s)
{
	size_t n = 0;

	while (s && s[n] && n < CMDLINE_MAX - 1) {
		cmdline[n] = s[n];
		n++;
	}
	cmdline[n] = '\0';
}

const char *cmdline_text(void)
{
	return cmdline;
}

/* Start of the value of key, with its length, or NULL. The last occurrence wins. */
static const char *find_value(const char *key, size_t *len)
{
	size_t klen = strlen(key);
	const char *found = NULL;
	const char *p = cmdline;

	while (*p) {
		while (*p == ' ')
			p++;
		const char *w = p;
		while (*p && *p != ' ')
			p++;
		size_t wlen = (size_t)(p - w);
		if (wlen > klen && !memcmp(w, key, klen) && w[klen] == '=') {
			found = w + klen + 1;
			*len = wlen - klen - 1;
		} else if (wlen == klen && !memcmp(w, key, klen)) {
			found = w + klen;
			*len = 0;
		}
	}
	return found;
}

bool cmdline_str(const char *key, char *buf, size_t size)
{
	size_t len;
	const char *v = find_value(key, &len);

	if (!v || len >= size)
		return false;
	memcpy(buf, v, len);
	buf[len] = '\0';
	return true;
}

uint64_t cmdline_u64(const char *key, uint64_t def)
{
	size_t len;
	const char *v = find_value(key, &len);
	uint64_t r = 0;
	unsigned base = 10;
	size_t i = 0;

	if (!v)
		return def;
	if (len > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
		base = 16;
		i = 2;
	}
	if (i == len)
		guest_fail(GUEST_EXIT_USAGE, "option %s has an empty value", key);
	for (; i < len; i++) {
		char c = v[i];
		unsigned d;
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (base == 16 && c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (base == 16 && c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			guest_fail(GUEST_EXIT_USAGE, "option %s: '%c' is not a digit", key, c);
		if (r > (~0ULL - d) / base)
			guest_fail(GUEST_EXIT_USAGE, "option %s: value too large", key);
		r = r * base + d;
	}
	return r;
}
