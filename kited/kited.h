/* SPDX-License-Identifier: MIT */
/*
 * kited, the host manager (docs/kited.md): the model shared by its modules and the contracts
 * between them. Files and owners of each part:
 *   main.c        options, the state-dir lock, start-up (state_load, dpu_start, vm_adopt_all), signals
 *   http.c        libmicrohttpd server on the Unix socket, request bodies, replies (kd_reply_*)
 *   router.c      the route table: (method, path pattern) -> handler
 *   state.c       atomic JSON files in the state directory (state_write_json / state_read_json)
 *   vm.c          the VM model: definition from JSON and back, validation, the table of VMs
 *   vm_life.c     start / pause / resume / stop / delete / snapshot / restore, undo on failure
 *   vm_spawn.c    starting one kite (under kite-jailer or directly) and its process identity
 *   kite_client.c HTTP client of one kite's API socket (libcurl)
 *   supervise.c   the supervisor thread: pidfds of kites and kite-dpu, end of process -> vm_ended()
 *   host.c        GET /host
 *   metrics.c     GET /metrics (kited's own + kite's + kite-dpu's, labelled by VM)
 *   dpu_proc.c    start, adopt, restart kite-dpu; re-apply ports and volumes after a restart
 *   dpu_client.c  kite-dpu's control socket (JSON lines)
 *   dpu_res.c     ports and volumes: the /dpu routes, dpu_vm_acquire / dpu_vm_release
 *   seccomp.c     kited's own seccomp filter
 *
 * Threads: libmicrohttpd serves each connection on its own thread (handlers may block, e.g. while
 * a kite boots); the supervisor thread watches pidfds. Every access to the model (struct kited's VM
 * table, a struct vm, the DPU resource tables) holds kd->lock. A long operation on one VM (create,
 * start, stop, snapshot) marks the VM busy (vm->busy, state creating/stopping/...) under the lock,
 * then works without the lock; a second operation on a busy VM gets 409.
 */
#ifndef KITED_H
#define KITED_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define KD_NAME_MAX 48          /* VM, port and volume names: letters, digits, '-' */
#define KD_PATH_MAX 256

enum vm_state { VM_STOPPED, VM_CREATING, VM_STARTING, VM_RUNNING, VM_PAUSED, VM_STOPPING, VM_CRASHED };

/* A process, identified by pid and start time (/proc/PID/stat field 22) so that a recycled pid is
 * never adopted or signalled. */
struct kd_proc {
	pid_t pid;                  /* 0: none */
	unsigned long long start;   /* clock ticks since boot */
	int pidfd;                  /* -1: not watched */
	bool child;                 /* kited's own child (waitpid gives its status) */
};

/* What kite-dpu gave one VM (filled by dpu_vm_acquire, emptied by dpu_vm_release). */
struct vm_res {
	bool has_port;
	char port[KD_NAME_MAX + 1];
	char port_sock[KD_PATH_MAX];
	bool has_volume;
	char volume[KD_NAME_MAX + 8];
	char volume_sock[KD_PATH_MAX];
	bool volume_served_for_vm;  /* served at start, unserved at end (a VM's own disk) */
};

struct vm_def {
	char name[KD_NAME_MAX + 1];
	char kernel[KD_PATH_MAX], initrd[KD_PATH_MAX];
	char *cmdline;              /* malloc'd, may be NULL */
	unsigned cpus, memory_mib;
	/* disk: none, a VM-owned disk of disk_size_mib, or an existing volume by name */
	enum { DISK_NONE, DISK_OWN, DISK_VOLUME } disk;
	unsigned disk_size_mib;
	bool disk_ephemeral;
	char disk_volume[KD_NAME_MAX + 1];
	bool net;
	unsigned vlan;
	char mac[18];
	bool jail;
};

struct vm {
	struct vm_def def;
	enum vm_state state;
	bool busy;                  /* a long operation is under way (see the header comment) */
	bool stop_requested;        /* the next end of the process is a stop, not a crash */
	struct kd_proc proc;
	long long started_at;       /* unix time */
	struct vm_res res;
	int last_exit_status;       /* -1: unknown */
	int last_exit_signal;       /* 0: none */
	char error[256];            /* last failure, "" if none */
	struct vm *next;
};

struct kited {
	pthread_mutex_t lock;
	char state_dir[KD_PATH_MAX];
	char sock[KD_PATH_MAX];
	char kite_bin[KD_PATH_MAX], dpu_bin[KD_PATH_MAX], jailer_bin[KD_PATH_MAX];
	bool jail;
	unsigned uid, gid;
	char dpu_cores[64];
	struct vm *vms;             /* sorted by name */
	struct dpu *dpu;            /* dpu_proc.c / dpu_res.c private state */
};

/* ---- DPU side (dpu_*.c), called by the VM side. All with kd->lock NOT held unless said. ---- */

/* Adopt the running kite-dpu recorded in the state dir, or start one; re-apply ports and volumes;
 * start watching it. 0, or -1 with one log line (kited still starts: /dpu answers "down" and VM
 * starts needing it get 503 until it comes back). */
int dpu_start(struct kited *kd);
/* For a VM being started: a switch port named after it (def.net) and its volume served
 * (def.disk). Fills vm->res. On failure undoes what it made, returns -1 with a one-line reason in
 * err. */
int dpu_vm_acquire(struct kited *kd, struct vm *vm, char *err, size_t errlen);
/* The VM ended (or its start is undone): delete its port, stop serving its own volume, delete an
 * ephemeral disk's image. Idempotent; never fails (problems are logged). */
void dpu_vm_release(struct kited *kd, struct vm *vm);
/* VM deleted: also delete its own disk's image. */
void dpu_vm_forget(struct kited *kd, struct vm *vm);
/* kite-dpu's `stats` text (malloc'd, NULL if unavailable). */
char *dpu_stats_text(struct kited *kd);
/* The supervisor saw kite-dpu's pidfd become readable: restart it (with backoff) and re-apply. */
void dpu_proc_ended(struct kited *kd);

/* ---- VM side, called by the supervisor ---- */

/* The process of `vm` ended (status/signal as waitpid gives, or -1/0 for an adopted process):
 * state becomes stopped (asked for, or exit status 0) or crashed, resources released, state file
 * written. Takes kd->lock itself. */
void vm_ended(struct kited *kd, struct vm *vm, int status, int signal);

#endif
