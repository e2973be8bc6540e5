/* SPDX-License-Identifier: MIT */
/*
 * PUT /snapshot/create and PUT /snapshot/load (Firecracker's SnapshotCreateParams and
 * SnapshotLoadParams). Load takes Firecracker's mem_backend {backend_type File|Uffd, backend_path}
 * or its older mem_file_path (exactly one of them); kite has no Uffd backend and says so.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"

static const char *const snapshot_types[] = { "Full", "Diff", NULL };
static const char *const backend_types[] = { "File", "Uffd", NULL };

int res_parse_snapshot_create(const char *body, size_t len, struct api_cmd *cmd, char *err, size_t errlen)
{
	static const struct api_field f[] = {
		{ "snapshot_type", F_ENUM, false, 0, snapshot_types, NULL },
		{ "snapshot_path", F_STR, true, 0, NULL, NULL },
		{ "mem_file_path", F_STR, true, 0, NULL, NULL },
		{ "version", F_STR, false, 0, NULL, NULL },   /* Firecracker's deprecated target version */
	};

	cmd->json = api_body_object(body, len, "CreateSnapshotParams", f, 4, err, errlen);
	if (!cmd->json)
		return -1;
	cmd->op = API_SNAPSHOT_CREATE;
	cmd->u.snap_create.type = api_enum(cmd->json, "snapshot_type", snapshot_types) == 1 ? VMM_SNAPSHOT_DIFF
											     : VMM_SNAPSHOT_FULL;
	cmd->u.snap_create.snapshot_path = api_str(cmd->json, "snapshot_path");
	cmd->u.snap_create.mem_file_path = api_str(cmd->json, "mem_file_path");
	if (!*cmd->u.snap_create.snapshot_path || !*cmd->u.snap_create.mem_file_path) {
		snprintf(err, errlen, "Create snapshot error: snapshot_path and mem_file_path must not be empty");
		return -1;
	}
	return 0;
}

/* mem_backend's own fields, checked like a body. Returns backend_path or NULL with err. */
static const char *mem_backend(const cJSON *mb, char *err, size_t errlen)
{
	static const struct api_field f[] = {
		{ "backend_path", F_STR, true, 0, NULL, NULL },
		{ "backend_type", F_ENUM, true, 0, backend_types, NULL },
	};
	char *text = cJSON_PrintUnformatted(mb);
	cJSON *o = text ? api_body_object(text, strlen(text), "MemBackendConfig", f, 2, err, errlen) : NULL;
	int type;

	if (!text)
		snprintf(err, errlen, "Internal VMM error: out of memory");
	free(text);
	if (!o)
		return NULL;
	type = api_enum(o, "backend_type", backend_types);
	cJSON_Delete(o);
	if (type == 1) {
		snprintf(err, errlen, "Load snapshot error: the Uffd memory backend is not supported by kite; use File");
		return NULL;
	}
	return cJSON_GetObjectItemCaseSensitive(mb, "backend_path")->valuestring;
}

int res_parse_snapshot_load(const char *body, size_t len, struct api_cmd *cmd, char *err, size_t errlen)
{
	static const struct api_field f[] = {
		{ "snapshot_path", F_STR, true, 0, NULL, NULL },
		{ "mem_file_path", F_STR, false, 0, NULL, NULL },
		{ "mem_backend", F_OBJECT, false, 0, NULL, NULL },
		{ "enable_diff_snapshots", F_BOOL, false, 0, NULL, NULL },
		{ "track_dirty_pages", F_BOOL, false, 0, NULL, NULL },   /* Firecracker's newer name */
		{ "resume_vm", F_BOOL, false, 0, NULL, NULL },
	};
	struct vmm_snapshot_load *l = &cmd->u.snap_load;
	bool has_file, has_backend;

	cmd->json = api_body_object(body, len, "LoadSnapshotParams", f, 6, err, errlen);
	if (!cmd->json)
		return -1;
	cmd->op = API_SNAPSHOT_LOAD;
	has_file = api_has(cmd->json, "mem_file_path");
	has_backend = api_has(cmd->json, "mem_backend");
	if (has_file && has_backend) {
		snprintf(err, errlen, "An error occurred when deserializing the json body of a request: too many fields: "
			 "either `mem_backend` or `mem_file_path` exclusively.");
		return -1;
	}
	if (!has_file && !has_backend) {
		snprintf(err, errlen, "An error occurred when deserializing the json body of a request: missing field: "
			 "either `mem_backend` or `mem_file_path` is required.");
		return -1;
	}
	l->snapshot_path = api_str(cmd->json, "snapshot_path");
	l->mem_path = has_file ? api_str(cmd->json, "mem_file_path")
			       : mem_backend(cJSON_GetObjectItemCaseSensitive(cmd->json, "mem_backend"), err, errlen);
	if (!l->mem_path)
		return -1;
	if (!*l->snapshot_path || !*l->mem_path) {
		snprintf(err, errlen, "Load snapshot error: snapshot_path and the memory file path must not be empty");
		return -1;
	}
	l->enable_diff_snapshots = api_bool(cmd->json, "enable_diff_snapshots", false) ||
				   api_bool(cmd->json, "track_dirty_pages", false);
	l->resume_vm = api_bool(cmd->json, "resume_vm", false);
	return 0;
}
