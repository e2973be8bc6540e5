/* SPDX-License-Identifier: MIT */
/* Inside the VMM control (vmm/control.c, vmm/control_run.c): its state. Owner thread only. */
#ifndef KITE_VMM_CONTROL_INTERNAL_H
#define KITE_VMM_CONTROL_INTERNAL_H

#include "kite/config.h"
#include "kite/virtio_options.h"
#include "kite/vm.h"
#include "kite/vmm_control.h"
#include "snapshot.h"
#include "term_grace.h"

struct evloop;

struct ctl_drive {
	char *drive_id, *path_on_host, *socket, *partuuid;
	bool is_root_device, is_read_only, cache_writeback, io_async;
	struct vmm_rate_limiter rate_limiter;
	enum vmm_transport transport;
	unsigned dev_index;          /* set at start: index in vm_config's blk[] (or vu_blk[] with socket) */
};

struct ctl_net {
	char *iface_id, *host_dev_name, *guest_mac, *socket;   /* socket: kite's vhost-user-net extension */
	unsigned mtu, queues;        /* queues: queue pairs, 0 = 1 */
	struct vmm_rate_limiter rx_rate_limiter, tx_rate_limiter;
	enum vmm_transport transport;
	unsigned dev_index;          /* set at start: index in vm_config's net[] (or vu_net[] with socket) */
};

struct vmm_control {
	struct kite_options *opts;   /* its vm_config is built at start (ctl_build_vm_config) */
	enum vmm_state state;
	char id[64];
	char *kernel, *initrd, *boot_args;
	struct vmm_machine machine;
	struct vmm_tuning tuning_default;   /* the command line's tuning flags (vmm_control_new) */
	struct ctl_drive drives[KITE_MAX_BLK];
	unsigned ndrives;
	struct ctl_net nets[KITE_MAX_NET];
	unsigned nnets;
	bool has_balloon;
	struct vmm_balloon balloon;
	bool entropy;
	char *vconsole;
	/* run time (control_run.c) */
	struct vm vm;
	bool vm_live;                /* vm created (vm_destroy owed) */
	struct evloop *loop;         /* the owner's loop (vmm_ctl_run) */
	int sig_fd, tick_fd;
	struct term_grace term;      /* SIGTERM's grace period */
	bool stop;                   /* leave vmm_ctl_run */
	int status;                  /* exit status when stopping before the VM exists */
	uint64_t starts_failed;
	/* a snapshot load between its two steps (vmm/control_snapshot.c) */
	struct snap_reader *snap;
	struct vm_snapshot_info snap_info;
	bool snap_failed;            /* a load failed: this kite may not start a VM any more */
};

/* Build opts->vm from the resources (root drive first). 0 or -1 with err. A VM restored from a
 * snapshot (restoring) needs no kernel. */
int ctl_build_vm_config(struct vmm_control *ctl, bool restoring, char *err, size_t errlen);
/* Watch the VM's loop, start the vCPUs (parked when paused), enter the owner's seccomp filter and
 * set the state (control_run.c). -1 with err: the VM is torn down. */
int ctl_vm_go(struct vmm_control *ctl, bool paused, char *err, size_t errlen);
/* Each TAP interface's limiters on its device (control_run.c). */
int ctl_apply_net_limits(struct vmm_control *ctl, char *err, size_t errlen);
/* Firecracker rate limiter -> ops/s and bytes/s (0 = unlimited). */
/* Firecracker's RateLimiter as kite's limiter: per TokenBucket rate = size * 1000 / refill_time per
 * second, burst = size, one_time = one_time_burst; an unset limiter or bucket is unlimited. */
void ctl_limiter_cfg(const struct vmm_rate_limiter *rl, struct limiter_cfg *out);
/* A PATCH's limiter applied to the configured one, as Firecracker does: a bucket the update names
 * replaces the old one (size or refill_time 0: that bucket off), one it omits stays. */
void ctl_limiter_merge(struct vmm_rate_limiter *cur, const struct vmm_rate_limiter *upd);
struct ctl_drive *ctl_find_drive(struct vmm_control *ctl, const char *id);
struct ctl_net *ctl_find_net(struct vmm_control *ctl, const char *id);
/* Destroy the VM if there is one (control_run.c). */
void ctl_vm_teardown(struct vmm_control *ctl);

#endif
