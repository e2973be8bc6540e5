/* SPDX-License-Identifier: MIT */
/*
 * kite-dpu process services shared by its parts (block volumes here, switch ports in dpu/switch and
 * dpu/net): the control thread's event loop, the pollers, the control-socket command registry and the
 * statistics registry. Everything here runs on the control thread.
 *
 * Other services plug in without editing dpu/: from a constructor, or from a function main calls,
 *	dpu_ctl_register("add_port", my_add_port);
 *	dpu_stats_register(my_stats_text);
 *	dpu_config_register("ports", my_ports_check, my_ports_apply);
 *	dpu_shutdown_register(my_teardown);
 */
#ifndef KITE_DPU_DPU_H
#define KITE_DPU_DPU_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

struct evloop;
struct dpu_poller;

struct evloop *dpu_loop(void);
/* The poller for a core index from the "cores" list (-1 = the least loaded). Never NULL once started. */
struct dpu_poller *dpu_poller_pick(int index);

/* A control command: fill `reply` (an object; "ok": true is added for you) and return 0, or return -1
 * with a one-line reason in err (sent back as {"ok": false, "error": err}). Never log secrets. */
typedef int (*dpu_ctl_fn)(const cJSON *req, cJSON *reply, char *err, size_t errlen);
int dpu_ctl_register(const char *cmd, dpu_ctl_fn fn);
/* Append Prometheus text to f. */
typedef void (*dpu_stats_fn)(FILE *f);
int dpu_stats_register(dpu_stats_fn fn);
/*
 * A top-level config-file key handled by a service (config.c). `check` refuses what the section cannot
 * take (an unknown key, a wrong type) before anything starts, creating nothing; `apply` creates what
 * it describes once the pollers and the control socket run. Both return 0, or -1 with a one-line
 * reason in err naming the key or object (main logs it with the file's name). `check` may be NULL.
 */
typedef int (*dpu_config_fn)(const cJSON *section, char *err, size_t errlen);
int dpu_config_register(const char *key, dpu_config_fn check, dpu_config_fn apply);
/* Refuse a key of object o that is not in `known` (NULL-terminated): 0, or -1 with
 * "<what>: unknown key 'x' (known: a, b)" in err. */
int dpu_config_check_keys(const cJSON *o, const char *what, const char *const *known, char *err, size_t errlen);

/* Called on shutdown (control thread, pollers still running), last registered first: remove your
 * poller items and free your objects here. */
typedef void (*dpu_shutdown_fn)(void);
int dpu_shutdown_register(dpu_shutdown_fn fn);
void dpu_shutdown_run(void);

/* confine.c (control thread): --image-dir / --socket-dir. set: 0, or -1 with the reason in err.
 * image/socket: 0 when `path` may be used (always without the option), or -1 with a one-line
 * refusal naming the path in err (a ".." component, or a real path outside the directory). */
int dpu_confine_set(const char *image_dir, const char *socket_dir, char *err, size_t errlen);
int dpu_confine_image(const char *path, char *err, size_t errlen);
int dpu_confine_socket(const char *path, char *err, size_t errlen);

/* control.c */
int dpu_ctl_listen(const char *path);

/* seccomp.c: registers kite-dpu's per-thread allowlists (main, before the pollers start). */
void dpu_seccomp_register(int level);
void dpu_ctl_close(void);
int dpu_ctl_run(const char *cmd, const cJSON *req, cJSON *reply, char *err, size_t errlen);
/* One request line (without its newline) to its reply line (malloc'd, no newline; NULL if out of
 * memory): what a control-socket client gets back. Used by the socket and by the fuzz target. */
char *dpu_ctl_handle_line(const char *line);
/* Prometheus text of every registered service (malloc'd). */
char *dpu_stats_text(void);
/* config.c: the whole file. Check: every top-level key is "cores", "control", "spin_usecs" or a registered section,
 * and each present section passes its check. Apply: each present section's apply, in registration
 * order. 0, or -1 with the reason in err. */
int dpu_config_check(const cJSON *root, char *err, size_t errlen);
int dpu_config_apply(const cJSON *root, char *err, size_t errlen);
/* The checked "cores" list into cores[] (at most max); returns how many (0 when absent). */
int dpu_config_cores(const cJSON *root, int *cores, unsigned max);
/* The checked "spin_usecs" (every poller's spin bound, dpu/poller.h) in ns; POLLER_SPIN_DEFAULT_NS
 * when absent (root may be NULL). */
uint64_t dpu_config_spin_ns(const cJSON *root);
#define DPU_SPIN_USECS_MAX 1000
/* Most pollers ("cores" entries). */
#define DPU_MAX_POLLERS 64

/* blk service (dpu/blk/service.c) */
void dpu_blk_init(void);
void dpu_blk_shutdown(void);

#endif
