/* SPDX-License-Identifier: MIT */
/*
 * Inside kited's VM side: the VM model's helpers (vm.c), the route handlers (vm_life.c, host.c,
 * metrics.c), starting kites (vm_spawn.c), kite's API client (kite_client.c), the supervisor
 * (supervise.c). Locking as in kited.h: everything touching the VM table or a struct vm holds
 * kd->lock unless a function says otherwise.
 */
#ifndef KITED_VM_INTERNAL_H
#define KITED_VM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "kited.h"

#define KD_VERSION "0.1.0"

/* ---- vm.c: the model (pure but for the file checks of vm_def_parse) ---- */
const char *vm_state_name(enum vm_state s);
bool vm_name_ok(const char *name);
/* A create body into *d. check_files: kernel/initrd must be absolute readable regular files (at
 * create; a definition read back from the state dir is not refused for a vanished kernel).
 * host_mem_mib 0: no upper bound on memory_mib. 0, or -1 with the 400's message in err. */
int vm_def_parse(const struct cJSON *body, struct vm_def *d, bool check_files, bool default_jail,
		 unsigned long host_mem_mib, char *err, size_t errlen);
void vm_def_clear(struct vm_def *d);
/* The definition as a create body (what vm_def_parse reads back). */
struct cJSON *vm_def_json(const struct vm_def *d);
/* The API's VM object (docs/kited.md). */
struct cJSON *vm_api_json(const struct kited *kd, const struct vm *vm);
/* vm.json: {"definition": create body, "runtime": {...}}, and back (a new struct vm, state as
 * recorded; NULL with err). */
struct cJSON *vm_state_json(const struct vm *vm);
struct vm *vm_from_state_json(const struct cJSON *j, char *err, size_t errlen);
void vm_free(struct vm *vm);
/* A uid of [kd->uid_base, + uid_count) that no VM of the table has (the smallest: a deleted VM's
 * comes back), or 0 when all are taken. kd->lock held. */
unsigned vm_uid_alloc(const struct kited *kd);
/* The table (sorted by name). */
struct vm *vm_find(struct kited *kd, const char *name);
void vm_insert(struct kited *kd, struct vm *vm);
void vm_unlink(struct kited *kd, struct vm *vm);
/* Paths of a VM's files: DIR/vms/NAME[/what] (what NULL: the directory). false if too long. */
bool vm_path(const struct kited *kd, const char *name, const char *what, char *buf, size_t len);
/* The host paths of the VM's API socket and console (a socket when vm_console_socket, which
 * spawn_probe_kite sets at start, else a file). false if too long for a socket address. */
extern bool vm_console_socket;
bool vm_api_sock(const struct kited *kd, const char *name, char *buf, size_t len);
bool vm_console_path(const struct kited *kd, const char *name, bool *is_socket, char *buf, size_t len);
/* Backend "kite" devices (vm_local.c): the TAP kt-XXXXXXXX (a hash of the state directory and the
 * name), the image DIR/volumes/NAME-disk.img (false if too long). */
void local_tap_name(const struct kited *kd, const char *name, char *out, size_t len);
bool local_disk_image(const struct kited *kd, const char *name, char *out, size_t len);

/* ---- vm_tuning.c: a VM's host tuning ---- */
/* The create body's pin_vcpus, pin_io, iothreads, hugepages into *d (absent: none, none, true,
 * auto; d->memory_mib already set). check_host: every pinned CPU exists on this host (at create; a
 * definition read back is not refused for a CPU gone since). 0, or -1 with the 400's message. The
 * body's types are kd_body_check's. */
int vm_tuning_parse(const struct cJSON *body, struct vm_def *d, bool check_host, const char *what, char *err,
		    size_t errlen);
/* The same fields into j (the definition, the VM object, kite's machine-config): the lists only
 * when set, or null when null_if_none. */
void vm_tuning_json(struct cJSON *j, const struct vm_def *d, bool null_if_none);

/* ---- vm_life.c ---- */
/* Writes vm.json (kd->lock held). 0 or -1 (logged). */
int vm_save(struct kited *kd, struct vm *vm);
/* Start-up: every DIR/vms/NAME/vm.json into the table (main thread, before serving). */
int vm_load_all(struct kited *kd);
/* Start-up, after dpu_start: running VMs whose kite still lives are adopted, the others become
 * crashed (their resources released). */
void vm_adopt_all(struct kited *kd);
/* A VM's state changed: wakes whoever waits for it (kd->lock held). */
void vm_changed(void);
void h_vm_list(struct kited *kd, struct kd_req *req, struct kd_reply *rep);
void h_vm_create(struct kited *kd, struct kd_req *req, struct kd_reply *rep);
void h_vm_info(struct kited *kd, struct kd_req *req, struct kd_reply *rep);
void h_vm_delete(struct kited *kd, struct kd_req *req, struct kd_reply *rep);
void h_vm_start(struct kited *kd, struct kd_req *req, struct kd_reply *rep);
void h_vm_pause(struct kited *kd, struct kd_req *req, struct kd_reply *rep);
void h_vm_resume(struct kited *kd, struct kd_req *req, struct kd_reply *rep);
void h_vm_stop(struct kited *kd, struct kd_req *req, struct kd_reply *rep);
void h_vm_snapshot(struct kited *kd, struct kd_req *req, struct kd_reply *rep);
void h_vm_restore(struct kited *kd, struct kd_req *req, struct kd_reply *rep);

/* ---- host.c, metrics.c ---- */
unsigned long host_mem_mib(void);
void h_host(struct kited *kd, struct kd_req *req, struct kd_reply *rep);
void h_metrics(struct kited *kd, struct kd_req *req, struct kd_reply *rep);
/* A growing text buffer (malloc'd). kd_buf_add: 0, or -1 out of memory. */
struct kd_buf {
	char *p;
	size_t len, cap;
};
int kd_buf_add(struct kd_buf *b, const char *s, size_t n);
/* Appends one Prometheus line (without its '\n'; a '\n' is added) with vm="vm" as the first label
 * of a sample line (vm NULL: as it is). Comment lines are copied. Pure. */
int prom_add_line(struct kd_buf *out, const char *line, size_t len, const char *vm);
/* The value of label `key` in a sample line (into val), or false. Pure. */
bool prom_label(const char *line, size_t len, const char *key, char *val, size_t vlen);

/* ---- kite_client.c: one kite's API (libcurl over its Unix socket; any thread, no lock) ---- */
/* method path [body] -> HTTP status (0 if no reply) and the reply's body (malloc'd, may be NULL).
 * -1 with err when the request could not be made. */
int kite_call(const char *sock, const char *method, const char *path, const char *body, long timeout_s,
	      long *status, char **reply, char *err, size_t errlen);
/* A call that must succeed (2xx): 0, or -1 with err naming the call and kite's fault message. */
int kite_do(const char *sock, const char *method, const char *path, const char *body, long timeout_s,
	    char *err, size_t errlen);
/* kite_do with the body j (taken: deleted whatever happens; NULL, or a body that cannot be printed:
 * -1 with err "out of memory"). */
int kite_do_json(const char *sock, const char *method, const char *path, struct cJSON *j, long timeout_s,
		 char *err, size_t errlen);
/* GET / -> "Running", "Paused", "Not started" into state; 0 or -1. */
int kite_get_state(const char *sock, char *state, size_t len);

/* ---- vm_spawn.c: one kite process (no lock held) ---- */
/* Starts the VM's kite (under kite-jailer when vm->jailed) with its API socket; waits until the
 * socket answers. Fills vm->proc (and vm->jailer). 0, or -1 with err and nothing left running. */
int spawn_kite(struct kited *kd, struct vm *vm, char *err, size_t errlen);
/* Ends what spawn_kite started (SIGKILL, reaped if a child) and removes its jail. */
void spawn_kill(struct kited *kd, struct vm *vm);
/* Starts the spawner thread (main, at start). */
int spawn_init(void);
/* Asks `kite --help` whether it has --console socket:PATH (else the console goes to a file). Main
 * thread, at start. */
void spawn_probe_kite(struct kited *kd);
/* The jailer's --id of a VM: NAME-<hash of the state dir> (the cgroup's name is host-wide). */
void jail_id(const struct kited *kd, const char *name, char *out, size_t len);
/* Removes a jailed VM's jail directory (after its kite ended). */
void spawn_jail_cleanup(struct kited *kd, const char *name);
/* /proc/PID/stat field 22 (start time in clock ticks), 0 if no such process. */
unsigned long long proc_start_time(pid_t pid);
/* pidfd of pid, only if its start time is `start`: -1 otherwise (gone or recycled). */
int proc_open_checked(pid_t pid, unsigned long long start);
/* Send sig through the pidfd (never to a recycled pid). 0 or -1. */
int proc_signal(const struct kd_proc *p, int sig);

/* ---- vm_local.c: backend "kite" devices (no lock held; the VM busy or ended) ---- */
/* At start (vm->jailed set): makes the disk image (sparse, first start) owned by kite's uid, and
 * the TAP. 0, or -1 with err and nothing of the TAP left. */
int local_vm_acquire(struct kited *kd, struct vm *vm, char *err, size_t errlen);
/* At the VM's end or an undone start: deletes the TAP and an ephemeral image. Idempotent. */
void local_vm_release(struct kited *kd, struct vm *vm);
/* At delete: release, and the image too. */
void local_vm_forget(struct kited *kd, struct vm *vm);

/* ---- supervise.c ---- */
int supervise_init(void);   /* main, before anything is watched */
int supervise_start(struct kited *kd);
/* Watch vm's kite (vm->proc.pidfd, or vm->jailer's for a jailed child). kd->lock held. */
void supervise_watch_vm(struct kited *kd, struct vm *vm);
/* The watched process ended: stop watching (the fd stays the caller's). kd->lock held. */
void supervise_forget(struct kited *kd, int pidfd);

#endif
