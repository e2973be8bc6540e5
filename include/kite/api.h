/* SPDX-License-Identifier: MIT */
/*
 * kite's Firecracker-compatible HTTP API (api/, docs/api.md): the server on a Unix socket and the
 * Firecracker-format config file. vmm/main.c calls api_run() when --api-sock or --config-file is
 * given; everything else about the API stays inside api/.
 */
#ifndef KITE_API_H
#define KITE_API_H

struct vmm_control;
struct api_queue;
struct api_server;

/* Serve the API on `sock` (NULL = --no-api) after applying `config_file` in Firecracker's JSON
 * format (NULL = none; when given, the VM is started from it) or restoring the snapshot in directory
 * `restore` (NULL = none; KITE_SNAPSHOT_STATE_FILE and KITE_SNAPSHOT_MEM_FILE in it, resumed at
 * once). Runs the owner's loop on this thread (vmm_ctl_run) until the VM ends or a stop signal;
 * returns kite's exit status. */
int api_run(struct vmm_control *ctl, const char *sock, const char *config_file, const char *restore);

/* The files of a snapshot directory (kite --restore DIR). */
#define KITE_SNAPSHOT_STATE_FILE "vm.state"
#define KITE_SNAPSHOT_MEM_FILE   "vm.mem"

/* The HTTP server (api/server.c): listens on `path` (refused when a server listens there already
 * or the path is no socket; a stale socket file is replaced). NULL on error (logged). */
struct api_server *api_server_start(const char *path, struct api_queue *q);
void api_server_stop(struct api_server *s);

#endif
