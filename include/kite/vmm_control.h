/* SPDX-License-Identifier: MIT */
/*
 * The narrow control interface of the VMM (vmm/control*.c), for kite's HTTP API (api/) and its
 * Firecracker-format config file: the VM's resources before start (boot source, machine, drives,
 * network interfaces, balloon, entropy, console), start, pause, resume, Ctrl-Alt-Del, the runtime
 * changes Firecracker allows (drive path and limiter, interface limiters, balloon target and
 * statistics period), reads of all of it, and the counters behind the metrics.
 *
 * Threads: every vmm_ctl_* function runs on the owner thread only, the one inside vmm_ctl_run()
 * (or before it, on the thread that created the control). Nothing here is locked; the API thread
 * reaches these functions only through a command queue (api/queue.c) served by vmm_ctl_run().
 *
 * Errors: functions returning int give 0, or -1 with a one-line message in err (errlen bytes, never
 * truncated mid-UTF-8 by design: messages are ASCII plus user strings), worded as Firecracker words
 * them where Firecracker has the same error (e.g. "The requested operation is not supported after
 * starting the microVM."). Strings in the structs below are borrowed for the call; the control
 * copies what it keeps.
 */
#ifndef KITE_VMM_CONTROL_H
#define KITE_VMM_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VMM_ERR_PRE_BOOT  "The requested operation is not supported before starting the microVM."
#define VMM_ERR_POST_BOOT "The requested operation is not supported after starting the microVM."

enum vmm_state { VMM_NOT_STARTED = 0, VMM_RUNNING, VMM_PAUSED };

/* Firecracker's TokenBucket: `size` tokens refilled every `refill_time` ms; one_time_burst extra. */
struct vmm_token_bucket {
	bool set;
	uint64_t size, one_time_burst, refill_time;
};

struct vmm_rate_limiter {
	bool set;
	struct vmm_token_bucket bandwidth, ops;
};

enum vmm_huge_pages { VMM_HUGE_NONE = 0, VMM_HUGE_2M };
/* kite's "hugepages": auto = hugetlb pages when enough are reserved and free (else THP), on =
 * required (the start fails without them), off = never. Firecracker's huge_pages "2M" is "on". */
enum vmm_hugepages_mode { VMM_HP_AUTO = 0, VMM_HP_ON, VMM_HP_OFF };

#define VMM_MAX_PINS 64

/* Host tuning, kite extensions (fixed at InstanceStart): pinned vCPUs and I/O threads, whether
 * virtio-blk/-net devices get I/O threads, huge pages. Its defaults are kite's command-line flags
 * (--pin-vcpus, --pin-io, --iothreads, --hugepages), else none, on, auto. */
struct vmm_tuning {
	unsigned npin;               /* vCPU i on host CPU pin[i % npin]; 0 = none */
	int pin[VMM_MAX_PINS];
	unsigned npin_io;            /* I/O thread i on host CPU pin_io[i % npin_io]; 0 = none */
	int pin_io[VMM_MAX_PINS];
	bool iothreads;
	enum vmm_hugepages_mode hugepages;
};

struct vmm_machine {
	unsigned vcpu_count;
	uint64_t mem_size_mib;
	bool smt;
	bool track_dirty_pages;
	enum vmm_huge_pages huge_pages;
	struct vmm_tuning t;
};

/* A PUT (replace) fills every Firecracker has_* (with Firecracker's defaults) and sets the tuning
 * fields it does not name to their defaults; a PATCH changes only what it names. */
struct vmm_machine_update {
	bool replace;
	bool has_vcpu_count, has_mem, has_smt, has_dirty, has_huge;
	bool has_pin, has_pin_io, has_iothreads, has_hugepages;
	struct vmm_machine m;
};

struct vmm_boot {
	const char *kernel_image_path;
	const char *initrd_path;     /* NULL = none */
	const char *boot_args;       /* NULL = Firecracker's default command line */
};

enum vmm_transport { VMM_TRANSPORT_DEFAULT = 0, VMM_TRANSPORT_PCI, VMM_TRANSPORT_MMIO };

struct vmm_drive {
	const char *drive_id;
	const char *path_on_host;    /* NULL: not given (PATCH, or vhost-user-blk) */
	const char *socket;          /* vhost-user-blk backend socket, NULL = virtio-blk */
	const char *partuuid;
	bool is_root_device;
	bool is_read_only;
	bool cache_writeback;        /* cache_type "Writeback" (else "Unsafe") */
	bool io_async;               /* io_engine "Async" (else "Sync") */
	struct vmm_rate_limiter rate_limiter;
	enum vmm_transport transport;   /* kite extension */
};

struct vmm_net {
	const char *iface_id;
	const char *host_dev_name;   /* NULL on PATCH, or with socket */
	const char *socket;          /* kite extension: vhost-user-net backend socket, NULL = TAP */
	const char *guest_mac;       /* NULL = none */
	unsigned mtu;                /* 0 = not advertised */
	unsigned queues;             /* kite extension: queue pairs, 0 = 1 */
	struct vmm_rate_limiter rx_rate_limiter, tx_rate_limiter;
	enum vmm_transport transport;   /* kite extension */
};

struct vmm_balloon {
	uint32_t amount_mib;
	bool deflate_on_oom;
	unsigned stats_polling_interval_s;
};

/* GET /balloon/statistics: what the driver last reported (has[tag] set for the tags it sent). */
#define VMM_BALLOON_NSTATS 16
struct vmm_balloon_stats {
	uint32_t target_pages, actual_pages;
	bool has[VMM_BALLOON_NSTATS];
	uint64_t val[VMM_BALLOON_NSTATS];   /* virtio tags: 0 swap_in .. 9 hugetlb_failures, ... */
};

struct vmm_control;
struct kite_options;

/* Take over the settings (vcpus, memory, console, ... of the command line) as the starting point. */
struct vmm_control *vmm_control_new(struct kite_options *opts);
void vmm_control_free(struct vmm_control *ctl);

enum vmm_state vmm_ctl_state(const struct vmm_control *ctl);
const char *vmm_ctl_id(const struct vmm_control *ctl);

int vmm_ctl_set_boot(struct vmm_control *ctl, const struct vmm_boot *b, char *err, size_t errlen);
/* NULL-safe getters of what is configured; false = no boot source yet. */
bool vmm_ctl_get_boot(const struct vmm_control *ctl, struct vmm_boot *out);

/* Pre-boot only; after boot a tuning field is refused naming it (VMM_ERR_POST_BOOT + why). Pinned
 * host CPUs must exist (sysconf _SC_NPROCESSORS_CONF). */
int vmm_ctl_set_machine(struct vmm_control *ctl, const struct vmm_machine_update *u, char *err, size_t errlen);
void vmm_ctl_get_machine(const struct vmm_control *ctl, struct vmm_machine *out);

/* PUT /drives/{id} (pre-boot: insert or replace) and PATCH (post-boot: path and/or limiter). */
int vmm_ctl_put_drive(struct vmm_control *ctl, const struct vmm_drive *d, char *err, size_t errlen);
int vmm_ctl_patch_drive(struct vmm_control *ctl, const struct vmm_drive *d, char *err, size_t errlen);
unsigned vmm_ctl_drive_count(const struct vmm_control *ctl);
bool vmm_ctl_get_drive(const struct vmm_control *ctl, unsigned i, struct vmm_drive *out);

int vmm_ctl_put_net(struct vmm_control *ctl, const struct vmm_net *n, char *err, size_t errlen);
int vmm_ctl_patch_net(struct vmm_control *ctl, const struct vmm_net *n, char *err, size_t errlen);
unsigned vmm_ctl_net_count(const struct vmm_control *ctl);
bool vmm_ctl_get_net(const struct vmm_control *ctl, unsigned i, struct vmm_net *out);

int vmm_ctl_put_balloon(struct vmm_control *ctl, const struct vmm_balloon *b, char *err, size_t errlen);
int vmm_ctl_patch_balloon(struct vmm_control *ctl, uint32_t amount_mib, char *err, size_t errlen);
int vmm_ctl_patch_balloon_stats(struct vmm_control *ctl, unsigned interval_s, char *err, size_t errlen);
int vmm_ctl_get_balloon(const struct vmm_control *ctl, struct vmm_balloon *out, char *err, size_t errlen);
int vmm_ctl_get_balloon_stats(const struct vmm_control *ctl, struct vmm_balloon_stats *out, char *err, size_t errlen);

int vmm_ctl_put_entropy(struct vmm_control *ctl, char *err, size_t errlen);
bool vmm_ctl_has_entropy(const struct vmm_control *ctl);
/* kite extension: virtio-console hvc0 output "stdio" or "file:PATH" (pre-boot). */
int vmm_ctl_put_vconsole(struct vmm_control *ctl, const char *output, char *err, size_t errlen);
const char *vmm_ctl_get_vconsole(const struct vmm_control *ctl);

/* InstanceStart: create the VM from the configuration and run it. A failure leaves the
 * configuration as it was (fix it and start again). */
int vmm_ctl_start(struct vmm_control *ctl, char *err, size_t errlen);
/* Every vCPU out of KVM_RUN and waiting, device work stopped; idempotent. */
int vmm_ctl_pause(struct vmm_control *ctl, char *err, size_t errlen);
int vmm_ctl_resume(struct vmm_control *ctl, char *err, size_t errlen);
/* Ctrl-Alt-Del on the i8042 keyboard (the guest decides what it means). */
int vmm_ctl_ctrl_alt_del(struct vmm_control *ctl, char *err, size_t errlen);

/* Snapshots (vmm/control_snapshot.c; files: vmm/snapshot.h). Firecracker's PUT /snapshot/create:
 * the VM must be paused; Diff needs dirty page tracking (machine-config track_dirty_pages, or
 * enable_diff_snapshots at load). The caller passes the configuration as Firecracker's JSON
 * (GET /vm/config), stored in the state file to rebuild the board on load. */
enum vmm_snapshot_type { VMM_SNAPSHOT_FULL = 0, VMM_SNAPSHOT_DIFF };

struct vmm_snapshot_create {
	enum vmm_snapshot_type type;
	const char *snapshot_path;
	const char *mem_file_path;
};

struct vmm_snapshot_load {
	const char *snapshot_path;
	const char *mem_path;        /* mem_backend.backend_path (backend_type File) */
	bool enable_diff_snapshots;
	bool resume_vm;
};

int vmm_ctl_snapshot_create(struct vmm_control *ctl, const struct vmm_snapshot_create *s, const char *config_json,
			    char *err, size_t errlen);
/* PUT /snapshot/load in two steps around the configuration, which the caller applies through the
 * usual resources (api/launch.c) between them:
 *  1. vmm_ctl_snapshot_open: only on a fresh kite (nothing configured, not started); reads and
 *     validates the state file whole and returns its configuration (*config_json, malloc'd);
 *  2. vmm_ctl_snapshot_load: checks the memory file, builds the VM and board from that
 *     configuration without a kernel, sets every vCPU, irqchip, PIT, clock and device state, then
 *     starts the vCPUs running (resume_vm) or paused.
 * A failure at any point leaves no guest code run and this kite unable to start a VM (start a new
 * one); vmm_ctl_snapshot_abort ends a load between the steps. */
int vmm_ctl_snapshot_open(struct vmm_control *ctl, const char *snapshot_path, char **config_json, char *err,
			  size_t errlen);
int vmm_ctl_snapshot_load(struct vmm_control *ctl, const struct vmm_snapshot_load *l, char *err, size_t errlen);
void vmm_ctl_snapshot_abort(struct vmm_control *ctl);

/* Counters for the metrics: emit(opaque, name, device or NULL, value) for each; see vmm/control_metrics.c. */
typedef void (*vmm_counter_fn)(void *opaque, const char *name, const char *device, uint64_t value);
void vmm_ctl_counters(struct vmm_control *ctl, vmm_counter_fn emit, void *opaque);

/* Run the owner's loop on this thread: serve `cmd_fd` (readable: call on_cmd), SIGINT/SIGTERM, and
 * once started the VM's event loop (not while paused). Returns when the VM ended (its exit status),
 * or on a stop signal (128 + signal). `tick` (may be NULL) is called every tick_s seconds. */
int vmm_ctl_run(struct vmm_control *ctl, int cmd_fd, void (*on_cmd)(void *opaque), void *opaque,
		void (*tick)(void *opaque), unsigned tick_s);

#endif
