/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for kite-dpu's control socket: the input is split at '\n' into request lines, each fed to
 * dpu_ctl_handle_line() (what a control-socket client gets back), with the block service's commands
 * (add_volume, remove_volume, set_qos, list_volumes) and the built-in stats/help registered.
 * Checks on every reply: it is a JSON object with a boolean "ok"; it never echoes an encryption key.
 *
 * Runs in a private temporary directory (image files "img", "img2" are recreated for every input; the
 * caller's working directory is restored after each input).
 * Requests whose strings contain '/' are skipped: add_volume would bind and unlink sockets at the
 * given paths, and the fuzzer must not touch files outside its directory. Every volume is removed
 * after each input. The switch service (dpu/net) is not linked: its ports create TAP devices.
 *
 * Builds: meson test (suite 'unit') with fuzz_regress.c over tests/fuzz/corpus/dpu_control/ and
 * generated inputs; with clang also fuzz_dpu_control_libfuzzer.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "fuzz_regress.h"
#include "../../dpu/poller.h"
#include "kite/evloop.h"
#include "kite/log.h"
#include "../../dpu/dpu.h"

#define MAX_REQ 8192

static struct evloop *loop;
static struct dpu_poller *poller;
static char dir[64];
static int home_fd = -1;   /* the caller's working directory, restored after each input */

static struct {
	unsigned long lines, skipped, ok, refused, volumes_added;
} st;

/* dpu/main.c's services, for a process without threads: one poller that is never run. */
struct evloop *dpu_loop(void)
{
	return loop;
}

struct dpu_poller *dpu_poller_pick(int index)
{
	(void)index;
	return poller;
}

static void cleanup(void)
{
	char path[128];

	dpu_blk_shutdown();
	dpu_ctl_close();
	for (const char *const *n = (const char *const[]){ "img", "img2", NULL }; *n; n++) {
		snprintf(path, sizeof(path), "%s/%s", dir, *n);
		unlink(path);
	}
	if (chdir("/") == 0)
		rmdir(dir);   /* fails (harmlessly) if a request left a socket behind */
}

static void init(void)
{
	kite_log_init("fuzz-dpu-control", KITE_LOG_ERR);
	if (getenv("FUZZ_VERBOSE"))
		kite_log_set_level(KITE_LOG_DEBUG);
	snprintf(dir, sizeof(dir), "/tmp/kite-fuzz-ctl-XXXXXX");
	home_fd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (home_fd < 0 || !mkdtemp(dir) || chdir(dir) < 0) {
		fprintf(stderr, "fuzz_dpu_control: cannot make a temporary directory\n");
		abort();
	}
	loop = evloop_new();
	poller = poller_new(-1, false);
	if (!loop || !poller) {
		fprintf(stderr, "fuzz_dpu_control: cannot create the event loop or poller\n");
		abort();
	}
	dpu_blk_init();
	char ctl[96];
	snprintf(ctl, sizeof(ctl), "%s/ctl.sock", dir);
	if (dpu_ctl_listen(ctl) < 0)   /* registers stats and help */
		abort();
	atexit(cleanup);
}

static void make_image(const char *name, off_t size)
{
	int fd = open(name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, size) < 0)
		abort();
	close(fd);
}

/* Does any string (key or value) in the tree contain '/'? */
static bool has_path(const cJSON *j)
{
	for (; j; j = j->next) {
		if (j->string && strchr(j->string, '/'))
			return true;
		if (cJSON_IsString(j) && strchr(j->valuestring, '/'))
			return true;
		if (has_path(j->child))
			return true;
	}
	return false;
}

static void check_reply(const char *req, const char *out)
{
	cJSON *r = cJSON_Parse(out);
	const cJSON *ok = cJSON_GetObjectItemCaseSensitive(r, "ok");

	if (!cJSON_IsObject(r) || !cJSON_IsBool(ok)) {
		fprintf(stderr, "fuzz_dpu_control: reply is not an object with a bool \"ok\": %s\n", out);
		abort();
	}
	if (cJSON_IsTrue(ok)) {
		st.ok++;
	} else {
		st.refused++;
		if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(r, "error"))) {
			fprintf(stderr, "fuzz_dpu_control: refusal without a string \"error\": %s\n", out);
			abort();
		}
	}
	/* A key must never come back (the request may be refused with the key's field named, not its value). */
	cJSON *q = cJSON_Parse(req);
	const cJSON *key = cJSON_GetObjectItemCaseSensitive(q, "key");
	const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(q, "cmd");
	if (cJSON_IsString(key) && strlen(key->valuestring) >= 16 && strstr(out, key->valuestring)) {
		fprintf(stderr, "fuzz_dpu_control: the reply echoes the key\n");
		abort();
	}
	if (cJSON_IsTrue(ok) && cJSON_IsString(cmd) && !strcmp(cmd->valuestring, "add_volume"))
		st.volumes_added++;
	cJSON_Delete(q);
	cJSON_Delete(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char line[MAX_REQ + 1];
	size_t pos = 0;

	if (!loop)
		init();
	else if (chdir(dir) < 0)
		abort();
	make_image("img", 1 << 20);
	make_image("img2", 4096 + 512);
	while (pos < size) {
		const uint8_t *nl = memchr(data + pos, '\n', size - pos);
		size_t len = (nl ? (size_t)(nl - data) : size) - pos;
		size_t n = len > MAX_REQ ? MAX_REQ : len;

		memcpy(line, data + pos, n);
		line[n] = '\0';
		pos += len + 1;
		if (!n)
			continue;
		st.lines++;
		cJSON *pre = cJSON_Parse(line);
		bool skip = has_path(pre);
		cJSON_Delete(pre);
		if (skip) {
			st.skipped++;
			continue;
		}
		char *out = dpu_ctl_handle_line(line);
		if (!out)
			abort();
		check_reply(line, out);
		free(out);
	}
	dpu_blk_shutdown();
	if (fchdir(home_fd) < 0)   /* so that relative corpus paths keep working */
		abort();
	return 0;
}

/* ---- generator for the meson run ---- */

static const char *const cmds[] = { "add_volume", "remove_volume", "set_qos", "list_volumes", "stats", "help",
				    "nope", "" };
static const char *const names[] = { "v0", "v1", "img", "", "ctl.sock" };
static const char *const files_[] = { "img", "img2", "missing", "s0", "ctl.sock", "" };
static const char *const keys[] = { "name", "image", "socket", "queues", "iops", "bps", "core", "readonly",
				    "direct", "key", "cmd" };

static void put_value(FILE *f, uint64_t *s, const char *key)
{
	switch (fuzz_rand(s) % 9) {
	case 0: fprintf(f, "%d", (int)(fuzz_rand(s) % 20) - 5); break;
	case 1: fprintf(f, "%.17g", (double)(int64_t)fuzz_rand(s) * 1e3); break;
	case 2: fprintf(f, "%s", fuzz_rand(s) & 1 ? "true" : "false"); break;
	case 3: fprintf(f, "null"); break;
	case 4: fprintf(f, "[1,\"x\",{}]"); break;
	case 5: {
		unsigned n = fuzz_rand(s) % 3 ? 128 : (unsigned)(fuzz_rand(s) % 140);
		fputc('"', f);
		for (unsigned i = 0; i < n; i++)
			fputc("0123456789abcdefXg"[fuzz_rand(s) % (i == 7 ? 18 : 16)], f);
		fputc('"', f);
		break;
	}
	default:
		if (!strcmp(key, "name"))
			fprintf(f, "\"%s\"", names[fuzz_rand(s) % 5]);
		else
			fprintf(f, "\"%s\"", files_[fuzz_rand(s) % 6]);
	}
}

size_t fuzz_make_input(uint64_t seed, uint8_t *buf, size_t cap)
{
	uint64_t s = seed | 1;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	unsigned nlines = 1 + fuzz_rand(&s) % 6;

	for (unsigned l = 0; l < nlines; l++) {
		unsigned c = fuzz_rand(&s) % 8;
		fprintf(f, "{\"cmd\":\"%s\"", cmds[c < 3 && fuzz_rand(&s) % 3 == 0 ? 0 : c]);
		unsigned nkeys = fuzz_rand(&s) % 7;
		if (c == 0 || fuzz_rand(&s) % 4 == 0) {   /* mostly-valid volume */
			fprintf(f, ",\"name\":\"%s\",\"image\":\"%s\",\"socket\":\"s%u\"", names[fuzz_rand(&s) % 2],
				fuzz_rand(&s) % 4 ? "img" : "img2", (unsigned)(fuzz_rand(&s) % 3));
		}
		for (unsigned k = 0; k < nkeys; k++) {
			const char *key = keys[fuzz_rand(&s) % 11];
			fprintf(f, ",\"%s\":", key);
			put_value(f, &s, key);
		}
		fputs("}\n", f);
	}
	fclose(f);
	if (!text)
		return 0;
	/* Some byte-level damage. */
	if (len && fuzz_rand(&s) % 4 == 0)
		for (unsigned i = fuzz_rand(&s) % 4; i < 4; i++)
			text[fuzz_rand(&s) % len] = (char)fuzz_rand(&s);
	if (len > cap)
		len = cap;
	memcpy(buf, text, len);
	free(text);
	return len;
}

int fuzz_report(void)
{
	printf("fuzz_dpu_control: %lu lines (%lu skipped for paths), %lu ok, %lu refused, %lu volumes added\n",
	       st.lines, st.skipped, st.ok, st.refused, st.volumes_added);
	if (!st.ok || !st.refused || !st.volumes_added) {
		printf("fuzz_dpu_control: the run did not reach both accepted and refused requests and a created volume\n");
		return 1;
	}
	return 0;
}
