/* SPDX-License-Identifier: MIT */
/*
 * kited's client of one kite's HTTP API (docs/api.md): libcurl over the kite's Unix socket, one easy
 * handle per call (curl_global_init ran in main). Replies are read up to 8 MiB (GET /metrics of a
 * big VM). Any thread, no lock held: a call may take as long as kite takes (InstanceStart).
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kite/log.h"
#include "vm_internal.h"

#define KC_MAX_REPLY (8 << 20)

struct sink {
	char *p;
	size_t len;
	bool over;
};

static size_t on_data(char *data, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;
	size_t len = size * n;
	char *np;

	if (s->len + len > KC_MAX_REPLY) {
		s->over = true;
		return 0;
	}
	np = realloc(s->p, s->len + len + 1);
	if (!np)
		return 0;
	memcpy(np + s->len, data, len);
	s->p = np;
	s->len += len;
	s->p[s->len] = '\0';
	return len;
}

int kite_call(const char *sock, const char *method, const char *path, const char *body, long timeout_s,
	      long *status, char **reply, char *err, size_t errlen)
{
	char url[512];
	struct sink s = { 0 };
	struct curl_slist *hdr = NULL;
	CURL *c = curl_easy_init();
	CURLcode rc;

	*status = 0;
	if (reply)
		*reply = NULL;
	if (!c)
		return errf(err, errlen, "%s: libcurl: no handle", sock);
	snprintf(url, sizeof(url), "http://localhost%s", path);
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	if (body) {
		hdr = curl_slist_append(NULL, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	}
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK) {
		free(s.p);
		return errf(err, errlen, "%s %s on %s: %s", method, path, sock,
			    s.over ? "reply over 8 MiB" : curl_easy_strerror(rc));
	}
	if (reply)
		*reply = s.p;
	else
		free(s.p);
	return 0;
}

int kite_do(const char *sock, const char *method, const char *path, const char *body, long timeout_s, char *err,
	    size_t errlen)
{
	char *reply = NULL;
	long status;
	cJSON *j;

	if (kite_call(sock, method, path, body, timeout_s, &status, &reply, err, errlen) < 0)
		return -1;
	if (status >= 200 && status < 300) {
		free(reply);
		return 0;
	}
	j = reply ? cJSON_Parse(reply) : NULL;
	errf(err, errlen, "kite: %s %s: %ld %s", method, path, status,
	     cJSON_IsString(cJSON_GetObjectItem(j, "fault_message")) ? cJSON_GetObjectItem(j, "fault_message")->valuestring
								      : "(no fault message)");
	cJSON_Delete(j);
	free(reply);
	return -1;
}

int kite_do_json(const char *sock, const char *method, const char *path, cJSON *j, long timeout_s, char *err,
		 size_t errlen)
{
	char *body = j ? cJSON_PrintUnformatted(j) : NULL;
	int r;

	cJSON_Delete(j);
	if (!body)
		return errf(err, errlen, "kite: %s %s: out of memory", method, path);
	r = kite_do(sock, method, path, body, timeout_s, err, errlen);
	free(body);
	return r;
}

int kite_get_state(const char *sock, char *state, size_t len)
{
	char err[256], *reply = NULL;
	long status;
	cJSON *j, *s;
	int r = -1;

	if (kite_call(sock, "GET", "/", NULL, 5, &status, &reply, err, sizeof(err)) < 0 || status != 200) {
		free(reply);
		return -1;
	}
	j = cJSON_Parse(reply);
	s = cJSON_GetObjectItem(j, "state");
	if (cJSON_IsString(s)) {
		snprintf(state, len, "%s", s->valuestring);
		r = 0;
	}
	cJSON_Delete(j);
	free(reply);
	return r;
}
