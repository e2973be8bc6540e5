/* SPDX-License-Identifier: MIT */
/* One HTTP request to kited over its Unix socket, with libcurl (CURLOPT_UNIX_SOCKET_PATH). */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kitectl.h"

#define KC_REPLY_MAX (64u << 20)   /* a reply larger than this is refused (a broken or hostile peer) */

static size_t on_data(char *p, size_t size, size_t n, void *opaque)
{
	struct kc_reply *r = opaque;
	size_t add = size * n;
	char *nb;

	if (r->len + add > KC_REPLY_MAX)
		return 0;   /* curl then fails the transfer */
	nb = realloc(r->body, r->len + add + 1);
	if (!nb)
		return 0;
	memcpy(nb + r->len, p, add);
	r->body = nb;
	r->len += add;
	r->body[r->len] = 0;
	return add;
}

int kc_request(const struct kc *kc, const char *method, const char *path, const char *body, struct kc_reply *r)
{
	struct curl_slist *hdrs = NULL;
	char url[4096], errbuf[CURL_ERROR_SIZE] = "";
	CURL *c;
	CURLcode rc;
	long oserr = 0;

	memset(r, 0, sizeof(*r));
	if (snprintf(url, sizeof(url), "http://localhost%s", path) >= (int)sizeof(url)) {
		kc_fail("request path too long");
		return -1;
	}
	c = curl_easy_init();
	if (!c) {
		kc_fail("cannot initialise libcurl");
		return -1;
	}
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, kc->sock);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	hdrs = curl_slist_append(hdrs, "Expect:");   /* no 100-continue round trip */
	if (body) {
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	else
		curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &oserr);
	curl_easy_cleanup(c);
	curl_slist_free_all(hdrs);
	if (rc != CURLE_OK) {
		if (rc == CURLE_COULDNT_CONNECT)
			kc_fail("cannot reach kited at %s: %s", kc->sock, oserr ? strerror((int)oserr) : curl_easy_strerror(rc));
		else
			kc_fail("%s %s on %s: %s", method, path, kc->sock, *errbuf ? errbuf : curl_easy_strerror(rc));
		kc_reply_free(r);
		return -1;
	}
	if (!r->body && !(r->body = calloc(1, 1))) {
		kc_fail("out of memory");
		return -1;
	}
	return 0;
}

void kc_reply_free(struct kc_reply *r)
{
	free(r->body);
	r->body = NULL;
	r->len = 0;
}
