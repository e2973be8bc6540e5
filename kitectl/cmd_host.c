/* SPDX-License-Identifier: MIT */
/* kitectl host (GET /host) and kitectl raw METHOD PATH [BODY]. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kitectl.h"

int kc_cmd_host(struct kc *kc, int argc, char **argv)
{
	return kc_get_kv(kc, "host", "/host", argc, argv);
}

/* BODY "-": standard input (malloc'd; NULL after one line on stderr). */
static char *read_stdin(void)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);

	while (buf) {
		size_t n = fread(buf + len, 1, cap - len - 1, stdin);

		len += n;
		if (n == 0)
			break;
		if (len + 1 == cap) {
			char *nb = cap < (64u << 20) ? realloc(buf, cap * 2) : NULL;

			if (!nb) {
				free(buf);
				kc_fail("raw: the body on standard input is too large");
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
	}
	if (!buf) {
		kc_fail("out of memory");
		return NULL;
	}
	buf[len] = 0;
	return buf;
}

/* The reply body on stdout, whatever the status; exit 1 for a status >= 400. */
int kc_cmd_raw(struct kc *kc, int argc, char **argv)
{
	const char *pos[3];
	size_t npos;
	struct kc_reply r;
	char *stdin_body = NULL;
	int ret;

	if (kc_parse(kc, "raw", argc, argv, NULL, 0, pos, 3, &npos) < 0)
		return KC_USAGE;
	if (npos < 2)
		return kc_usage("raw", "METHOD PATH [BODY] ('-' reads the body from standard input)");
	for (const char *m = pos[0]; *m; m++)
		if (!isupper((unsigned char)*m))
			return kc_usage("raw", "METHOD '%s' is not an upper-case HTTP method", pos[0]);
	if (pos[1][0] != '/')
		return kc_usage("raw", "PATH '%s' does not start with '/'", pos[1]);
	if (npos == 3 && !strcmp(pos[2], "-") && !(stdin_body = read_stdin()))
		return KC_ERR;
	ret = kc_request(kc, pos[0], pos[1], stdin_body ? stdin_body : npos == 3 ? pos[2] : NULL, &r);
	free(stdin_body);
	if (ret < 0)
		return KC_ERR;
	fwrite(r.body, 1, r.len, stdout);
	if (r.len && r.body[r.len - 1] != '\n')
		putchar('\n');
	ret = r.status >= 400 || r.status < 100 ? KC_ERR : KC_OK;
	kc_reply_free(&r);
	return ret;
}
