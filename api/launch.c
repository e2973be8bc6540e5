/* SPDX-License-Identifier: MIT */
/*
 * api_run(): the Firecracker-format config file, the server, the owner's loop, the periodic
 * metrics. The config file's sections go through the same parsers and commands as API requests
 * (so they are checked the same way), then InstanceStart.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_queue.h"
#include "kite/api.h"
#include "kite/log.h"

#define API_METRICS_PERIOD_S 60
#define API_CONFIG_MAX (1 << 20)

/* One request through parse + exec, on this (the owner) thread. */
static int apply(struct vmm_control *ctl, const char *file, const char *method, const char *path, const cJSON *v)
{
	char *body = v ? cJSON_PrintUnformatted(v) : strdup("");
	char err[API_ERR_LEN];
	struct api_reply reply;
	struct api_cmd cmd;
	int ret = 0;

	if (!body) {
		log_err("%s: out of memory", file);
		return -1;
	}
	if (api_parse(method, path, body, strlen(body), &cmd, err, sizeof(err)) < 0) {
		log_err("%s: %s: %s", file, path, err);
		free(body);
		return -1;
	}
	api_exec(ctl, &cmd, &reply);
	if (reply.status == 400) {
		cJSON *f = reply.body ? cJSON_Parse(reply.body) : NULL;
		const cJSON *msg = cJSON_GetObjectItemCaseSensitive(f, "fault_message");

		log_err("%s: %s: %s", file, path, cJSON_IsString(msg) ? msg->valuestring : reply.body ? reply.body : "error");
		cJSON_Delete(f);
		ret = -1;
	}
	free(reply.body);
	api_cmd_free(&cmd);
	free(body);
	return ret;
}

static int apply_list(struct vmm_control *ctl, const char *file, const cJSON *list, const char *prefix,
		      const char *id_key)
{
	const cJSON *e;

	if (!cJSON_IsArray(list)) {
		log_err("%s: \"%s\" must be an array", file, prefix);
		return -1;
	}
	cJSON_ArrayForEach(e, list) {
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, id_key);
		char path[256];

		if (!cJSON_IsString(id) || strlen(id->valuestring) > 200) {
			log_err("%s: every entry of \"%s\" needs a string \"%s\"", file, prefix, id_key);
			return -1;
		}
		snprintf(path, sizeof(path), "/%s/%s", prefix, id->valuestring);
		if (apply(ctl, file, "PUT", path, e) < 0)
			return -1;
	}
	return 0;
}

/* Apply a Firecracker config document's sections, in the order they must be applied (logger and
 * metrics first, machine before balloon). A snapshot's configuration skips the boot source: the
 * kernel is in the snapshot's memory, and need not exist any more. */
static int apply_config(struct vmm_control *ctl, const char *file, const cJSON *root, bool snapshot)
{
	static const char *const config_order[] = { "logger", "metrics", "machine-config", "boot-source", "drives",
						    "network-interfaces", "balloon", "entropy", "virtio-console" };
	const cJSON *item;

	if (!cJSON_IsObject(root)) {
		log_err("%s: not a JSON object (Firecracker's config file format)", file);
		return -1;
	}
	cJSON_ArrayForEach(item, root) {
		bool known = false;

		for (unsigned i = 0; i < sizeof(config_order) / sizeof(config_order[0]); i++)
			known |= !strcmp(item->string, config_order[i]);
		/* GET /vm/config also names the sections kite has not (all null) */
		if (!known && !cJSON_IsNull(item)) {
			log_err("%s: unknown or unsupported section \"%s\"", file, item->string);
			return -1;
		}
	}
	for (unsigned i = 0; i < sizeof(config_order) / sizeof(config_order[0]); i++) {
		const char *name = config_order[i];
		char path[64] = "/";

		item = cJSON_GetObjectItemCaseSensitive(root, name);
		if (!item || cJSON_IsNull(item) || (snapshot && !strcmp(name, "boot-source")))
			continue;
		strncat(path, name, sizeof(path) - 2);
		if (!strcmp(name, "drives") ? apply_list(ctl, file, item, "drives", "drive_id") < 0 :
		    !strcmp(name, "network-interfaces") ? apply_list(ctl, file, item, "network-interfaces", "iface_id") < 0 :
		    apply(ctl, file, "PUT", path, item) < 0)
			return -1;
	}
	return 0;
}

static int load_config(struct vmm_control *ctl, const char *file)
{
	FILE *f = fopen(file, "re");
	char *text = f ? malloc(API_CONFIG_MAX + 1) : NULL;
	size_t n = text ? fread(text, 1, API_CONFIG_MAX + 1, f) : 0;
	cJSON *root = NULL;
	int ret = -1;

	if (f)
		fclose(f);
	if (!text) {
		log_err("%s: cannot read the config file: %m", file);
		goto out;
	}
	if (n > API_CONFIG_MAX) {
		log_err("%s: config file larger than %d bytes", file, API_CONFIG_MAX);
		goto out;
	}
	root = cJSON_ParseWithLength(text, n);
	if (apply_config(ctl, file, root, false) < 0)
		goto out;
	{
		cJSON *start = cJSON_Parse("{\"action_type\":\"InstanceStart\"}");

		ret = start ? apply(ctl, file, "PUT", "/actions", start) : -1;
		cJSON_Delete(start);
	}
out:
	cJSON_Delete(root);
	free(text);
	return ret;
}

int api_snapshot_load(struct vmm_control *ctl, const struct vmm_snapshot_load *l, char *err, size_t errlen)
{
	char *config = NULL;
	cJSON *root;

	if (vmm_ctl_snapshot_open(ctl, l->snapshot_path, &config, err, errlen) < 0)
		return -1;
	root = cJSON_Parse(config);
	free(config);
	if (apply_config(ctl, l->snapshot_path, root, true) < 0) {
		snprintf(err, errlen, "Load snapshot error: the snapshot's configuration: %s", kite_log_last_error());
		cJSON_Delete(root);
		vmm_ctl_snapshot_abort(ctl);
		return -1;
	}
	cJSON_Delete(root);
	return vmm_ctl_snapshot_load(ctl, l, err, errlen);
}

/* kite --restore DIR: DIR/vm.state and DIR/vm.mem, resumed at once. */
static int restore_dir(struct vmm_control *ctl, const char *dir)
{
	char state[4096], mem[4096], err[API_ERR_LEN];
	struct vmm_snapshot_load l = { .snapshot_path = state, .mem_path = mem, .resume_vm = true };

	if (snprintf(state, sizeof(state), "%s/" KITE_SNAPSHOT_STATE_FILE, dir) >= (int)sizeof(state) ||
	    snprintf(mem, sizeof(mem), "%s/" KITE_SNAPSHOT_MEM_FILE, dir) >= (int)sizeof(mem)) {
		log_err("--restore %s: path too long", dir);
		return -1;
	}
	if (api_snapshot_load(ctl, &l, err, sizeof(err)) < 0) {
		log_err("--restore %s: %s", dir, err);
		return -1;
	}
	return 0;
}

struct run_ctx {
	struct vmm_control *ctl;
	struct api_queue *q;
};

static void serve(void *opaque)
{
	struct run_ctx *r = opaque;

	api_queue_serve(r->q, r->ctl);
}

static void tick(void *opaque)
{
	struct run_ctx *r = opaque;
	char err[API_ERR_LEN];

	if (vmm_ctl_state(r->ctl) != VMM_NOT_STARTED && api_metrics_flush(r->ctl, err, sizeof(err)) < 0)
		log_warn("api: periodic metrics: %s", err);
}

int api_run(struct vmm_control *ctl, const char *sock, const char *config_file, const char *restore)
{
	struct run_ctx r = { .ctl = ctl };
	struct api_server *srv = NULL;
	int status;

	r.q = api_queue_new();
	if (!r.q)
		return 1;
	/* The server first: the config file may start the VM, and from then on this thread is under
	 * its seccomp filter (no new sockets). Requests wait in the queue until the loop below. */
	if (sock && !(srv = api_server_start(sock, r.q))) {
		api_queue_free(r.q);
		return 1;
	}
	if ((config_file && load_config(ctl, config_file) < 0) || (restore && restore_dir(ctl, restore) < 0)) {
		api_queue_close(r.q);
		api_server_stop(srv);
		api_queue_free(r.q);
		return 1;
	}
	status = vmm_ctl_run(ctl, api_queue_fd(r.q), serve, &r, tick, API_METRICS_PERIOD_S);
	api_queue_close(r.q);
	api_server_stop(srv);
	api_queue_free(r.q);
	return status;
}
