/* SPDX-License-Identifier: MIT */
/*
 * Inside kite's HTTP API (api/). A request goes through three steps:
 *  1. api/server.c (the API thread, libmicrohttpd) collects method, path and body;
 *  2. api_parse() (api/router.c and the api/res_*.c parsers; pure functions, any thread) turns them
 *     into a struct api_cmd or a Firecracker-worded fault message;
 *  3. api_exec() (api/exec.c) runs the command on the owner thread, through kite/vmm_control.h,
 *     after api/queue.c carried it there.
 * Replies: 204 without body, 200 with JSON, or 400 {"fault_message": "..."}.
 */
#ifndef KITE_API_INTERNAL_H
#define KITE_API_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kite/vmm_control.h"

#define API_MAX_BODY  51200      /* Firecracker's default --http-api-max-payload-size */
#define API_ERR_LEN   1024

struct cJSON;

enum api_op {
	API_GET_INFO, API_GET_VERSION, API_GET_VM_CONFIG, API_GET_MACHINE, API_GET_BALLOON,
	API_GET_BALLOON_STATS, API_GET_METRICS,
	API_PUT_BOOT, API_PUT_MACHINE, API_PATCH_MACHINE, API_PUT_DRIVE, API_PATCH_DRIVE, API_PUT_NET,
	API_PATCH_NET, API_PUT_BALLOON, API_PATCH_BALLOON, API_PATCH_BALLOON_STATS, API_PUT_ENTROPY,
	API_PUT_LOGGER, API_PUT_METRICS, API_PUT_VCONSOLE,
	API_START, API_CTRL_ALT_DEL, API_FLUSH_METRICS, API_PAUSE, API_RESUME,
	API_SNAPSHOT_CREATE, API_SNAPSHOT_LOAD,
};

struct api_logger {
	const char *log_path;        /* NULL = keep */
	const char *level;           /* NULL = keep; Error, Warning, Info, Debug, Trace, Off */
};

struct api_cmd {
	enum api_op op;
	struct cJSON *json;          /* the parsed body: owns every string below */
	union {
		struct vmm_boot boot;
		struct vmm_machine_update machine;
		struct vmm_drive drive;
		struct vmm_net net;
		struct vmm_balloon balloon;
		uint32_t amount_mib;
		unsigned interval_s;
		struct api_logger logger;
		const char *path;            /* metrics_path, console output */
		struct vmm_snapshot_create snap_create;
		struct vmm_snapshot_load snap_load;
	} u;
};

struct api_reply {
	int status;                  /* 200, 204, 400 */
	char *body;                  /* malloc'd JSON or text; NULL for 204 */
	bool text;                   /* body is text/plain (GET /metrics), else application/json */
};

/* Step 2. Returns 0 (cmd filled; api_cmd_free it) or -1 (err holds the fault message). */
int api_parse(const char *method, const char *url, const char *body, size_t len, struct api_cmd *cmd,
	      char *err, size_t errlen);
void api_cmd_free(struct api_cmd *cmd);

/* Step 3 (owner thread): fills reply. */
void api_exec(struct vmm_control *ctl, const struct api_cmd *cmd, struct api_reply *reply);
/* A 400 reply with {"fault_message": msg}. */
void api_reply_fault(struct api_reply *reply, const char *msg);

/* ---- body parsing helpers (api/json_body.c) ---- */
enum api_ftype { F_STR, F_BOOL, F_UINT, F_ENUM, F_LIMITER, F_OBJECT, F_ARRAY };

struct api_field {
	const char *name;
	enum api_ftype type;
	bool required;
	uint64_t max;                /* F_UINT: largest value (its Rust type's) */
	const char *const *variants; /* F_ENUM: NULL-terminated */
	const char *rust_type;       /* F_UINT: "u8", "u32", ... for serde-like messages */
};

/* Parse body as one JSON object whose keys are all in fields (n entries) with the right types and
 * every required one present; a JSON null counts as absent for an optional field. Returns the
 * tree or NULL with err = "An error occurred when deserializing the json body of a request: ...". */
struct cJSON *api_body_object(const char *body, size_t len, const char *what, const struct api_field *fields,
			      unsigned n, char *err, size_t errlen);
/* Typed reads of a checked object (absent/null: the default). */
const char *api_str(const struct cJSON *o, const char *name);
bool api_bool(const struct cJSON *o, const char *name, bool dflt);
uint64_t api_uint(const struct cJSON *o, const char *name, uint64_t dflt);
bool api_has(const struct cJSON *o, const char *name);
/* Index of an F_ENUM value in its variants, -1 when absent. */
int api_enum(const struct cJSON *o, const char *name, const char *const *variants);
void api_limiter(const struct cJSON *o, const char *name, struct vmm_rate_limiter *rl);

/* ---- resource parsers (api/res_*.c): body -> cmd; id = the path's id or NULL ---- */
int res_parse_actions(const char *body, size_t len, struct api_cmd *cmd, char *err, size_t errlen);
int res_parse_vm_state(const char *body, size_t len, struct api_cmd *cmd, char *err, size_t errlen);
int res_parse_boot(const char *body, size_t len, struct api_cmd *cmd, char *err, size_t errlen);
int res_parse_machine(const char *body, size_t len, bool patch, struct api_cmd *cmd, char *err, size_t errlen);
int res_parse_drive(const char *body, size_t len, const char *id, bool patch, struct api_cmd *cmd, char *err,
		    size_t errlen);
int res_parse_net(const char *body, size_t len, const char *id, bool patch, struct api_cmd *cmd, char *err,
		  size_t errlen);
int res_parse_balloon(const char *body, size_t len, bool patch, struct api_cmd *cmd, char *err, size_t errlen);
int res_parse_balloon_stats(const char *body, size_t len, struct api_cmd *cmd, char *err, size_t errlen);
int res_parse_logger(const char *body, size_t len, struct api_cmd *cmd, char *err, size_t errlen);
int res_parse_metrics(const char *body, size_t len, struct api_cmd *cmd, char *err, size_t errlen);
int res_parse_entropy(const char *body, size_t len, struct api_cmd *cmd, char *err, size_t errlen);
int res_parse_snapshot_create(const char *body, size_t len, struct api_cmd *cmd, char *err, size_t errlen);
int res_parse_snapshot_load(const char *body, size_t len, struct api_cmd *cmd, char *err, size_t errlen);
int res_parse_vconsole(const char *body, size_t len, struct api_cmd *cmd, char *err, size_t errlen);

/* ---- JSON replies (api/json_out.c), each a malloc'd string or NULL when out of memory ---- */
char *api_json_instance(const struct vmm_control *ctl);
char *api_json_machine(const struct vmm_control *ctl);
char *api_json_vm_config(const struct vmm_control *ctl);
char *api_json_balloon(const struct vmm_balloon *b);
char *api_json_balloon_stats(const struct vmm_balloon_stats *s);

/* ---- snapshots (api/launch.c), owner thread ---- */
/* PUT /snapshot/load: open the state file, apply its configuration through the resources (as a
 * config file's), then load. 0 or -1 with err. */
int api_snapshot_load(struct vmm_control *ctl, const struct vmm_snapshot_load *l, char *err, size_t errlen);

/* ---- metrics (api/metrics.c), owner thread ---- */
int api_metrics_set_path(const char *path, char *err, size_t errlen);
/* Append one JSON line to the metrics file (no-op without one). 0 or -1 with err. */
int api_metrics_flush(struct vmm_control *ctl, char *err, size_t errlen);
/* Prometheus text exposition of the counters, malloc'd. */
char *api_metrics_prometheus(struct vmm_control *ctl);
void api_metrics_count_request(bool ok);

#endif
