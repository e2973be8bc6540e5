/* SPDX-License-Identifier: MIT */
/*
 * kited's DPU side, private to the dpu_*.c files: kite-dpu's process (dpu_proc.c), its control
 * socket (dpu_client.c), the ports and volumes kited made (dpu_res.c) and their routes
 * (dpu_routes.c).
 *
 * Locking: d->op serializes every DPU operation (requests to kite-dpu, a restart and its re-apply,
 * changes to the tables of ports and volumes); it is taken before kd->lock, never after. The
 * process fields below (state, proc, restarts) change with d->op and kd->lock both held, so GET
 * /dpu reads them under kd->lock alone and never waits for a slow kite-dpu.
 */
#ifndef KITED_DPU_H
#define KITED_DPU_H

#include <cjson/cJSON.h>

#include "kited.h"

#define DPU_DIR_MAX 160              /* longest state dir: its paths below fit KD_PATH_MAX */
#define DPU_TIMEOUT_MS 5000         /* one request to kite-dpu, connection to reply */
#define DPU_REPLY_MAX (8u << 20)    /* longest reply line accepted (stats of many ports) */

/* Members of a JSON object: the item, the string (NULL if not a string), the number (0 if not a
 * number). */
static inline const cJSON *dpu_item(const cJSON *o, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(o, key);
}

static inline const char *dpu_str(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(dpu_item(o, key));
}

static inline double dpu_num(const cJSON *o, const char *key)
{
	const cJSON *i = dpu_item(o, key);

	return cJSON_IsNumber(i) ? i->valuedouble : 0;
}

/* ---- dpu_client.c: one request on kite-dpu's control socket ---- */

enum { DPU_OK = 0, DPU_REFUSED = -1, DPU_UNAVAILABLE = -2 };

/* Sends `req` (a JSON object with "cmd") to the control socket at `path` on a connection of its own
 * and reads the one reply line, all within timeout_ms. DPU_OK: the reply is a JSON object with
 * "ok": true; *reply (if reply is not NULL) is it, for the caller to delete. DPU_REFUSED: kite-dpu
 * said "ok": false, err holds its "error". DPU_UNAVAILABLE: no connection, a timeout, the socket
 * closed early, or a reply that is not one line of a JSON object with a boolean "ok" (and a string
 * "error" when false); err says which. Any thread; never blocks longer than timeout_ms. */
int dpu_call(const char *path, const cJSON *req, cJSON **reply, int timeout_ms, char *err, size_t errlen);

/* ---- dpu_proc.c ---- */

enum dpu_state { DPU_DOWN, DPU_RUNNING, DPU_RESTARTING };

struct dpu {
	struct kited *kd;
	pthread_mutex_t op;
	char dir[KD_PATH_MAX];          /* DIR/dpu */
	char ctl[KD_PATH_MAX];          /* DIR/dpu/ctl.sock */
	char sock_dir[KD_PATH_MAX];     /* DIR/dpu/sockets */
	char img_dir[KD_PATH_MAX];      /* DIR/volumes */
	/* kite-dpu's process: d->op and kd->lock to change, either to read */
	enum dpu_state state;
	struct kd_proc proc;
	unsigned restarts;
	bool ran;                       /* a kite-dpu ran under this kited */
	/* the watcher thread (dpu_proc.c) */
	pthread_t thread;
	int wake_fd;                    /* eventfd: dpu_proc_ended wakes the thread */
	/* the resources kited made (dpu_res.c), under d->op: JSON arrays of the records that are
	 * DIR/dpu/ports.json and volumes.json (dpu_res.c's header describes them) */
	cJSON *ports;
	cJSON *vols;
};

/* A request to the running kite-dpu (d->op held): like dpu_call, but DPU_UNAVAILABLE at once with
 * "kite-dpu is down" / "restarting" when it does not run. */
int dpu_req(struct dpu *d, const cJSON *req, cJSON **reply, char *err, size_t errlen);

/* ---- dpu_res.c ---- */

/* Loads DIR/dpu/ports.json and volumes.json into the tables (d->op held). 0 or -1 (logged). */
int dpu_res_load(struct dpu *d);
/* Makes the running kite-dpu hold exactly the tables' ports and volumes (d->op held): after a
 * restart it has none, after an adoption it may miss some or hold some kited never recorded. 0, or
 * -1 if kite-dpu stopped answering (what could not be applied otherwise is logged and kept in the
 * tables). */
int dpu_res_apply(struct dpu *d);
/* Frees the tables (d->op held). */
void dpu_res_free(struct dpu *d);
/* Writes both tables (d->op held); 0 or -1 (logged). */
int dpu_res_save(struct dpu *d);
/* The record named `name` in a table, or NULL; dpu_res_drop deletes it from the table. */
cJSON *dpu_res_find(cJSON *table, const char *name);
void dpu_res_drop(cJSON *table, const char *name);
/* New records (dpu_res.c's header); vm NULL: not a VM's own. */
cJSON *dpu_port_rec(const char *name, const char *sock, unsigned vlan, const char *vm);
cJSON *dpu_vol_rec(const char *name, const char *image, const char *sock, unsigned long long size_mib,
		   bool readonly, double iops, double bps, const char *vm, bool ephemeral);
/* Makes a record's port (port_add) or volume (add_volume) in kite-dpu, or removes it by name:
 * DPU_OK, DPU_REFUSED or DPU_UNAVAILABLE with err. */
int dpu_res_add(struct dpu *d, const cJSON *rec, bool port, char *err, size_t errlen);
int dpu_res_remove(struct dpu *d, const char *name, bool port, char *err, size_t errlen);
/* The running VM other than `self` whose port (port true) or volume is `name`, or NULL; kd->lock
 * held. */
const struct vm *dpu_res_user(const struct kited *kd, const char *name, bool port, const struct vm *self);
/* A sparse image of size_mib MiB at path (refused if the file exists): 0, or -1 with err. */
int dpu_image_create(const char *path, unsigned long long size_mib, char *err, size_t errlen);
/* out = DIR/dpu/sockets/PREFIX-NAME.sock; -1 with err if it does not fit a Unix socket address. */
int dpu_sock_path(const struct dpu *d, const char *prefix, const char *name, char *out, size_t len, char *err,
		  size_t errlen);

#endif
