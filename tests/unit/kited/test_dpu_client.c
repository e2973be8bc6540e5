/* SPDX-License-Identifier: MIT */
/*
 * kited's client of kite-dpu's control socket (kited/dpu_client.c) against a peer that answers
 * what each case says: a good reply, a refusal, and every kind of bad or missing reply, each of
 * which must be DPU_UNAVAILABLE with its reason, within the timeout, never a hang or a crash.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "dpu.h"

struct peer {
	char path[108];
	int lfd;
	const char *reply;      /* bytes sent after the request line; NULL: never answer */
	size_t reply_len;
	char request[4096];     /* what the client sent */
	pthread_t thread;
};

static void *peer_run(void *arg)
{
	struct peer *p = arg;
	size_t len = 0;
	int c = accept(p->lfd, NULL, NULL);

	if (c < 0)
		return NULL;
	while (len < sizeof(p->request) - 1 && !memchr(p->request, '\n', len)) {
		ssize_t r = recv(c, p->request + len, sizeof(p->request) - 1 - len, 0);
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	if (p->reply) {
		size_t done = 0;

		while (done < p->reply_len) {
			ssize_t w = send(c, p->reply + done, p->reply_len - done, MSG_NOSIGNAL);
			if (w <= 0)
				break;
			done += (size_t)w;
		}
	} else {
		char b;

		while (recv(c, &b, 1, 0) > 0)   /* silent: until the client gives up */
			;
	}
	close(c);
	return NULL;
}

static void peer_start(struct peer *p, const char *reply, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memset(p, 0, sizeof(*p));
	snprintf(p->path, sizeof(p->path), "/tmp/kd-dpu-client-%d.sock", (int)getpid());
	unlink(p->path);
	strcpy(sa.sun_path, p->path);
	p->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(p->lfd >= 0);
	assert_int_equal(bind(p->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(p->lfd, 1), 0);
	p->reply = reply;
	p->reply_len = len;
	assert_int_equal(pthread_create(&p->thread, NULL, peer_run, p), 0);
}

static void peer_end(struct peer *p)
{
	pthread_join(p->thread, NULL);
	close(p->lfd);
	unlink(p->path);
}

/* One request {"cmd": "help"} against a peer answering `reply`: the result, err, *rep. */
static int exchange(const char *reply, size_t len, int timeout_ms, char *err, size_t errlen, cJSON **rep,
		    char *sent, size_t sentlen)
{
	struct peer p;
	cJSON *req = cJSON_CreateObject();
	int r;

	cJSON_AddStringToObject(req, "cmd", "help");
	peer_start(&p, reply, len);
	r = dpu_call(p.path, req, rep, timeout_ms, err, errlen);
	peer_end(&p);
	if (sent)
		snprintf(sent, sentlen, "%s", p.request);
	cJSON_Delete(req);
	return r;
}

static void test_good_reply(void **state)
{
	char err[256] = "", sent[4096];
	cJSON *rep = NULL;
	const char *ok = "{\"commands\":[\"help\"],\"ok\":true}\n";

	(void)state;
	assert_int_equal(exchange(ok, strlen(ok), 2000, err, sizeof(err), &rep, sent, sizeof(sent)), DPU_OK);
	assert_string_equal(sent, "{\"cmd\":\"help\"}\n");   /* one line, in one piece */
	assert_true(cJSON_IsArray(cJSON_GetObjectItem(rep, "commands")));
	cJSON_Delete(rep);
}

static void test_refused(void **state)
{
	char err[256] = "";
	cJSON *rep = (cJSON *)1;
	const char *no = "{\"ok\":false,\"error\":\"no port x\"}\n";

	(void)state;
	assert_int_equal(exchange(no, strlen(no), 2000, err, sizeof(err), &rep, NULL, 0), DPU_REFUSED);
	assert_string_equal(err, "no port x");
	assert_null(rep);
}

static void test_long_reply(void **state)
{
	size_t n = 3 << 20;   /* stats of many ports: longer than a request line may be */
	char *big = malloc(n + 64), err[256] = "";
	cJSON *rep = NULL;
	int len;

	(void)state;
	len = sprintf(big, "{\"ok\":true,\"stats\":\"");
	memset(big + len, 'x', n);
	len += (int)n;
	len += sprintf(big + len, "\"}\n");
	assert_int_equal(exchange(big, (size_t)len, 5000, err, sizeof(err), &rep, NULL, 0), DPU_OK);
	assert_int_equal(strlen(cJSON_GetObjectItem(rep, "stats")->valuestring), n);
	cJSON_Delete(rep);
	free(big);
}

static void test_bad_replies(void **state)
{
	static const struct { const char *reply; const char *why; } cases[] = {
		{ "not json\n", "bad reply" },
		{ "[1,2]\n", "bad reply" },
		{ "{\"ok\":\"yes\"}\n", "bad reply" },
		{ "{\"ok\":false}\n", "bad reply" },               /* a refusal must say why */
		{ "{\"ok\":false,\"error\":7}\n", "bad reply" },
		{ "{\"ok\":true}\n{\"ok\":true}\n", "more than one" },
		{ "{\"ok\":true", "closed" },                       /* cut short */
		{ "", "closed" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[256] = "";
		cJSON *rep = (cJSON *)1;

		assert_int_equal(exchange(cases[i].reply, strlen(cases[i].reply), 2000, err, sizeof(err), &rep, NULL, 0),
				 DPU_UNAVAILABLE);
		assert_non_null(strstr(err, cases[i].why));
		assert_null(rep);
	}
}

static void test_silent_peer(void **state)
{
	char err[256] = "";
	cJSON *rep = NULL;

	(void)state;
	assert_int_equal(exchange(NULL, 0, 200, err, sizeof(err), &rep, NULL, 0), DPU_UNAVAILABLE);
	assert_non_null(strstr(err, "no reply within the timeout"));
}

static void test_no_socket(void **state)
{
	char err[256] = "";
	cJSON *req = cJSON_CreateObject(), *rep = NULL;

	(void)state;
	cJSON_AddStringToObject(req, "cmd", "help");
	assert_int_equal(dpu_call("/nonexistent/ctl.sock", req, &rep, 200, err, sizeof(err)), DPU_UNAVAILABLE);
	assert_non_null(strstr(err, "connect"));
	cJSON_Delete(req);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_reply),  cmocka_unit_test(test_refused),     cmocka_unit_test(test_long_reply),
		cmocka_unit_test(test_bad_replies), cmocka_unit_test(test_silent_peer), cmocka_unit_test(test_no_socket),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
