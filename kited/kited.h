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
 *   dpu_res.c     ports and volumes: records, re-apply, dpu_vm_acquire / dpu_vm_release
 *   dpu_routes.c  the /dpu routes (kd_dpu_routes)
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
#define KD_MAX_PINS 64          /* host CPUs in a VM's pin_vcpus / pin_io (kite's limit) */

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
	bool disk_in_kite;          /* backend "kite": a DISK_OWN image kite opens itself (vm_local.c) */
	bool net;
	bool net_in_kite;           /* backend "kite": a TAP kite opens itself, no port, no VLAN */
	unsigned vlan;
	char mac[18];
	bool jail;
	/* host tuning (vm_tuning.c), given to kite as machine-config's kite extensions */
	unsigned npin_vcpus, npin_io;       /* 0: not pinned */
	int pin_vcpus[KD_MAX_PINS], pin_io[KD_MAX_PINS];
	bool iothreads;                     /* default true */
	enum kd_hugepages { KD_HP_AUTO = 0, KD_HP_ON, KD_HP_OFF } hugepages;
};

struct vm {
	struct vm_def def;
	enum vm_state state;
	bool busy;                  /* a long operation is under way (see the header comment) */
	bool stop_requested;        /* the next end of the process is a stop, not a crash */
	struct kd_proc proc;        /* kite itself (jailed: its host pid, from the jailer's pid file) */
	struct kd_proc jailer;      /* the kite-jailer above a jailed kite (pid 0: not jailed) */
	bool jailed;                /* this run of the VM is jailed */
	unsigned uid;               /* the VM's own uid, also its gid (jailed kite, its dirs, its sockets):
	                             * chosen at create (vm_uid_alloc), kept in vm.json; 0: none yet */
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
	unsigned uid_base, uid_count;   /* the VMs' uids: [uid_base, uid_base + uid_count) */
	char dpu_cores[64];
	struct vm *vms;             /* sorted by name */
	struct dpu *dpu;            /* dpu_proc.c / dpu_res.c private state */
};

/* ---- HTTP (http.c, router.c): what a route handler gets and gives ---- */

struct cJSON;

#define KD_MAX_BODY (64 * 1024)
#define KD_MAX_PARAMS 4

struct kd_req {
	const char *method;         /* "GET", "POST", ... */
	const char *path;           /* without the query */
	struct cJSON *body;         /* the body, a JSON object; NULL when the request had none */
	char params[KD_MAX_PARAMS][KD_NAME_MAX + 16];   /* the {} segments of the pattern, in order */
	unsigned nparams;
	void *conn;                 /* http.c's: for kd_query() */
};

struct kd_reply {
	int status;
	char *body;                 /* malloc'd; NULL: no body */
	bool text;                  /* text/plain (Prometheus), else application/json */
};

/* A handler runs on the connection's thread with kd->lock NOT held, and fills *rep (status 500
 * with "handler gave no reply" if it does not). */
typedef void (*kd_handler)(struct kited *kd, struct kd_req *req, struct kd_reply *rep);

/* A route: method and pattern, where "{}" matches one path segment (1 to KD_NAME_MAX + 15
 * characters, no '/'), e.g. "/vms/{}/start". */
struct kd_route {
	const char *method;
	const char *pattern;
	kd_handler handler;
};

/* The VM side's routes (router.c) and the DPU side's (dpu_routes.c), both terminated by a
 * {NULL, NULL, NULL} entry. The router tries the VM side's first. */
extern const struct kd_route kd_vm_routes[];
extern const struct kd_route kd_dpu_routes[];

/* Replies (http.c). kd_reply_json takes ownership of j (NULL: 500 out of memory). */
void kd_reply_json(struct kd_reply *rep, int status, struct cJSON *j);
void kd_reply_error(struct kd_reply *rep, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void kd_reply_text(struct kd_reply *rep, int status, char *text);   /* takes ownership */
void kd_reply_empty(struct kd_reply *rep, int status);              /* e.g. 204 */
/* The value of query parameter `key` ("?keep_image=true"), or NULL. */
const char *kd_query(const struct kd_req *req, const char *key);

/* Request bodies (http.c): every member of `o` must be one of `fields` with its type, else 400's
 * message in err ("web1: unknown field \"x\"", "memory_mib: expected an unsigned integer") and -1.
 * o NULL (no body) passes. */
enum kd_ftype { KD_F_STR, KD_F_UINT, KD_F_BOOL, KD_F_OBJECT, KD_F_STR_OR_NULL, KD_F_ARRAY };
struct kd_field {
	const char *name;
	enum kd_ftype type;
};
int kd_body_check(const struct cJSON *o, const char *what, const struct kd_field *fields, unsigned n, char *err,
		  size_t errlen);

/* ---- processes (vm_spawn.c) ---- */

/* Fork and exec argv[0] with stdin /dev/null, stdout and stderr to logfd, in a new session, with
 * no signal blocked. Runs on kited's spawner thread, the only thread that may fork and exec (the
 * HTTP threads' seccomp filter forbids both, and a child inherits the filter of the thread that
 * forks it); any thread may call it. The child is kited's (waitid works). Its pid and, when pidfd is
 * not NULL, a pidfd of it (O_CLOEXEC) in *pidfd; or -1 with errno (nothing left running). */
pid_t kd_spawn(char *const *argv, int logfd, int *pidfd);

/* ---- supervisor (supervise.c) ---- */

/* Watch kite-dpu's pidfd (replacing any previous one; -1 stops watching): when it becomes
 * readable the supervisor thread calls dpu_proc_ended(kd). The supervisor does not close it. */
void supervise_watch_dpu(struct kited *kd, int pidfd);

/* ---- DPU side (dpu_*.c), called by the VM side. All with kd->lock NOT held unless said. ---- */

/* Adopt the running kite-dpu recorded in the state dir, or start one; re-apply ports and volumes;
 * start watching it. 0, or -1 with one log line (kited still starts: /dpu answers "down" and VM
 * starts needing it get 503 until it comes back). */
int dpu_start(struct kited *kd);
/* For a VM being started: a switch port named after it (def.net) and its volume served
 * (def.disk; a VM's own disk DIR/volumes/NAME-disk.img is made sparse with def.disk_size_mib at its
 * first start). Fills vm->res. 0; on failure undoes what it made and returns minus the HTTP status
 * to answer (-409 name taken or volume in use, -404 unknown volume, -503 kite-dpu unavailable,
 * -400, -500) with a one-line reason in err. */
int dpu_vm_acquire(struct kited *kd, struct vm *vm, char *err, size_t errlen);
/* The VM ended (or its start is undone): delete its port, stop serving its own volume, delete an
 * ephemeral disk's image. Idempotent; never fails (problems are logged). */
void dpu_vm_release(struct kited *kd, struct vm *vm);
/* VM deleted: also delete its own disk's image. */
void dpu_vm_forget(struct kited *kd, struct vm *vm);
/* kite-dpu's `stats` text (Prometheus; the switch's samples carry port="NAME", the volumes'
 * volume="NAME"; a VM's port is named NAME, its own volume NAME-disk). malloc'd, NULL if
 * unavailable. */
char *dpu_stats_text(struct kited *kd);
/* GET /dpu's object ({"state", "pid", "restarts", "control"}), for GET /host and GET /metrics
 * (kited_dpu_restarts_total). Never NULL unless out of memory. */
struct cJSON *dpu_status_json(struct kited *kd);
/* The supervisor saw kite-dpu's pidfd become readable: wakes the DPU side's thread, which restarts
 * it (with backoff) and re-applies; returns at once. */
void dpu_proc_ended(struct kited *kd);

/* ---- VM side, called by the supervisor ---- */

/* The process of `vm` ended (status/signal as waitpid gives, or -1/0 for an adopted process):
 * state becomes stopped (asked for, or exit status 0) or crashed, resources released, state file
 * written. Takes kd->lock itself. */
void vm_ended(struct kited *kd, struct vm *vm, int status, int signal);

#endif
