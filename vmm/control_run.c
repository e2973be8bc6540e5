/* SPDX-License-Identifier: MIT */
/*
 * The VMM control (kite/vmm_control.h), part 2: InstanceStart, pause and resume, Ctrl-Alt-Del,
 * the runtime changes, the counters and the owner's loop.
 *
 * The loop (vmm_ctl_run) is an event loop of its own on the owner thread. It watches the command
 * fd, SIGINT/SIGTERM (signalfd), a tick timer and, once the VM runs, the epoll fd of the VM's loop
 * (the work of the devices without an I/O thread: console input, balloon, rng, vhost-user
 * frontends, timers). Pausing stops watching that fd and parks every I/O thread (vm_pause_io: the
 * virtio-blk/-net data paths), so no device work runs (kicks stay pending in their eventfds and
 * are served after resume), and parks every vCPU (vm_pause). A paused VM costs no CPU.
 *
 * SIGTERM while the guest runs: the graceful stop of vmm/term_grace.h (as without the API); at once
 * when the VM is paused or not started.
 */
#include <errno.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "board.h"
#include "control_internal.h"
#include "kite/evloop.h"
#include "kite/iothread.h"
#include "kite/log.h"
#include "kite/poll_window.h"
#include "kite/seccomp.h"
#include "kite/vcpu.h"
#include "kite/virtio_balloon.h"
#include "kite/virtio_blk_dev.h"
#include "kite/virtio_dev.h"
#include "kite/virtio_net.h"
#include "term_grace.h"

void ctl_vm_teardown(struct vmm_control *ctl)
{
	if (!ctl->vm_live)
		return;
	if (ctl->loop)
		evloop_del(ctl->loop, evloop_fd(ctl->vm.loop));
	vm_destroy(&ctl->vm);
	ctl->vm_live = false;
}

static void on_vm_loop(void *opaque, int fd, uint32_t events)
{
	struct vmm_control *ctl = opaque;

	(void)fd;
	(void)events;
	evloop_run_once(ctl->vm.loop, 0);
}

/* Each TAP interface's rx and tx limiters on its device (vm_config has one setting for both). */
int ctl_apply_net_limits(struct vmm_control *ctl, char *err, size_t errlen)
{
	for (unsigned i = 0; i < ctl->nnets; i++) {
		const struct ctl_net *n = &ctl->nets[i];
		struct limiter_cfg rx, tx;

		if (n->socket || (!n->rx_rate_limiter.set && !n->tx_rate_limiter.set))
			continue;
		ctl_limiter_cfg(&n->rx_rate_limiter, &rx);
		ctl_limiter_cfg(&n->tx_rate_limiter, &tx);
		if (net_set_limits(board_net(&ctl->vm, n->dev_index), &rx, &tx) < 0) {
			snprintf(err, errlen, "Start microvm error: %s", kite_log_last_error());
			return -1;
		}
	}
	return 0;
}

int ctl_vm_go(struct vmm_control *ctl, bool paused, char *err, size_t errlen)
{
	if (paused) {
		atomic_store(&ctl->vm.pause_req, true);   /* each vCPU parks before its first KVM_RUN */
		vm_pause_io(&ctl->vm, true);              /* each I/O thread before its first round */
	}
	if (evloop_add(ctl->loop, evloop_fd(ctl->vm.loop), paused ? 0 : EPOLLIN, on_vm_loop, ctl) < 0 ||
	    vm_start(&ctl->vm) < 0) {
		snprintf(err, errlen, "Start microvm error: starting the vCPUs failed");
		ctl_vm_teardown(ctl);
		return -1;
	}
	/* This thread serves the VM's device work from now on (docs/security.md) */
	if (seccomp_enter("vmm") < 0)
		vm_request_exit(&ctl->vm, 1);   /* logged; the VM ends at once */
	ctl->state = paused ? VMM_PAUSED : VMM_RUNNING;
	return 0;
}

int vmm_ctl_start(struct vmm_control *ctl, char *err, size_t errlen)
{
	if (ctl->state != VMM_NOT_STARTED) {
		snprintf(err, errlen, "%s", VMM_ERR_POST_BOOT);
		return -1;
	}
	if (ctl->snap_failed) {
		snprintf(err, errlen, "Start microvm error: a snapshot load failed in this kite; start a new one");
		return -1;
	}
	if (!ctl->loop && !(ctl->loop = evloop_new())) {
		snprintf(err, errlen, "Start microvm error: out of memory");
		goto fail;
	}
	if (ctl_build_vm_config(ctl, false, err, errlen) < 0)
		goto fail;
	if (config_validate(&ctl->opts->vm) < 0 || vm_create(&ctl->vm, &ctl->opts->vm) < 0) {
		/* vm_create cleaned up after itself: the configuration can be fixed and started again */
		snprintf(err, errlen, "Start microvm error: %s", kite_log_last_error());
		goto fail;
	}
	ctl->vm_live = true;
	if (ctl_apply_net_limits(ctl, err, errlen) < 0) {
		ctl_vm_teardown(ctl);
		goto fail;
	}
	if (ctl_vm_go(ctl, false, err, errlen) < 0)
		goto fail;
	log_info("vm: started (%u vCPUs, %llu MiB)", ctl->vm.ncpus, (unsigned long long)ctl->opts->vm.mem_mib);
	return 0;
fail:
	ctl->starts_failed++;
	return -1;
}

static int post_boot_only(const struct vmm_control *ctl, char *err, size_t errlen)
{
	if (ctl->state != VMM_NOT_STARTED)
		return 0;
	snprintf(err, errlen, "%s", VMM_ERR_PRE_BOOT);
	return -1;
}

int vmm_ctl_pause(struct vmm_control *ctl, char *err, size_t errlen)
{
	if (post_boot_only(ctl, err, errlen) < 0)
		return -1;
	if (ctl->state == VMM_PAUSED)
		return 0;
	vm_pause(&ctl->vm);
	evloop_mod(ctl->loop, evloop_fd(ctl->vm.loop), 0);   /* no device work while paused */
	vm_pause_io(&ctl->vm, true);                         /* on the I/O threads neither */
	ctl->state = VMM_PAUSED;
	log_info("vm: paused");
	return 0;
}

int vmm_ctl_resume(struct vmm_control *ctl, char *err, size_t errlen)
{
	if (post_boot_only(ctl, err, errlen) < 0)
		return -1;
	if (ctl->state == VMM_RUNNING)
		return 0;
	evloop_mod(ctl->loop, evloop_fd(ctl->vm.loop), EPOLLIN);
	vm_pause_io(&ctl->vm, false);
	vm_resume(&ctl->vm);
	ctl->state = VMM_RUNNING;
	log_info("vm: resumed");
	return 0;
}

int vmm_ctl_ctrl_alt_del(struct vmm_control *ctl, char *err, size_t errlen)
{
	if (post_boot_only(ctl, err, errlen) < 0)
		return -1;
	if (term_send_ctrl_alt_del(&ctl->vm, false) < 0) {
		snprintf(err, errlen, "Internal VMM error: i8042 error: i8042 internal buffer full.");
		return -1;
	}
	return 0;
}

/* A run-time change the device refused: Firecracker's wording around kite's reason. */
static int patch_failed(char *err, size_t errlen, const char *what, const char *why)
{
	snprintf(err, errlen, "%s %s Please verify the request arguments.", what, why);
	return -1;
}

#define DRIVE_PATCH_ERR "Drive config error: Unable to patch the block device:"
#define NET_PATCH_ERR   "Network config error: Unable to update the net device:"

int vmm_ctl_patch_drive(struct vmm_control *ctl, const struct vmm_drive *d, char *err, size_t errlen)
{
	struct vmm_rate_limiter rl;
	struct ctl_drive *cd;
	struct virtio_dev *dev;
	struct limiter_cfg limits;
	char *path = NULL;

	if (post_boot_only(ctl, err, errlen) < 0)
		return -1;
	if (!(cd = ctl_find_drive(ctl, d->drive_id))) {
		snprintf(err, errlen, "Drive config error: No block device with ID %s.", d->drive_id);
		return -1;
	}
	if (cd->socket)
		return patch_failed(err, errlen, DRIVE_PATCH_ERR, d->path_on_host || d->rate_limiter.set
			? "a vhost-user-blk drive has no path_on_host or rate_limiter in kite (its backend owns them)."
			: "kite reads a vhost-user-blk backend's configuration when it connects, not on request.");
	if (!d->path_on_host && !d->rate_limiter.set)
		return patch_failed(err, errlen, DRIVE_PATCH_ERR, "nothing to change (neither path_on_host nor rate_limiter).");
	dev = board_blk(&ctl->vm, cd->dev_index);
	if (d->path_on_host && !(path = strdup(d->path_on_host))) {
		snprintf(err, errlen, "Internal VMM error: out of memory");
		return -1;
	}
	rl = cd->rate_limiter;
	ctl_limiter_merge(&rl, &d->rate_limiter);
	ctl_limiter_cfg(&rl, &limits);
	/* both checked before either is applied where possible: the image is the one that can fail */
	if (path && blk_replace_image(dev, path) < 0) {
		free(path);
		return patch_failed(err, errlen, DRIVE_PATCH_ERR, kite_log_last_error());
	}
	if (path) {
		free(cd->path_on_host);
		cd->path_on_host = path;
	}
	if (d->rate_limiter.set) {
		if (blk_set_limits(dev, &limits) < 0)
			return patch_failed(err, errlen, DRIVE_PATCH_ERR, kite_log_last_error());
		cd->rate_limiter = rl;
	}
	return 0;
}

int vmm_ctl_patch_net(struct vmm_control *ctl, const struct vmm_net *n, char *err, size_t errlen)
{
	struct vmm_rate_limiter rx, tx;
	struct limiter_cfg rxl, txl;
	struct ctl_net *cn;

	if (post_boot_only(ctl, err, errlen) < 0)
		return -1;
	if (!(cn = ctl_find_net(ctl, n->iface_id))) {
		snprintf(err, errlen, "Network config error: Invalid interface ID - not found.");
		return -1;
	}
	if (cn->socket)
		return patch_failed(err, errlen, NET_PATCH_ERR,
				    "a vhost-user-net interface has no rate limiters in kite (its backend owns the data path).");
	rx = cn->rx_rate_limiter;
	tx = cn->tx_rate_limiter;
	ctl_limiter_merge(&rx, &n->rx_rate_limiter);
	ctl_limiter_merge(&tx, &n->tx_rate_limiter);
	ctl_limiter_cfg(&rx, &rxl);
	ctl_limiter_cfg(&tx, &txl);
	if (net_set_limits(board_net(&ctl->vm, cn->dev_index), &rxl, &txl) < 0)
		return patch_failed(err, errlen, NET_PATCH_ERR, kite_log_last_error());
	cn->rx_rate_limiter = rx;
	cn->tx_rate_limiter = tx;
	return 0;
}

static struct virtio_dev *live_balloon(const struct vmm_control *ctl, char *err, size_t errlen)
{
	struct virtio_dev *dev = ctl->vm_live ? board_balloon((struct vm *)&ctl->vm) : NULL;

	if (!dev)
		snprintf(err, errlen, "Balloon config error: No balloon device found.");
	return dev;
}

int vmm_ctl_get_balloon(const struct vmm_control *ctl, struct vmm_balloon *out, char *err, size_t errlen)
{
	if (!ctl->has_balloon) {
		snprintf(err, errlen, "Balloon config error: No balloon device found.");
		return -1;
	}
	*out = ctl->balloon;
	return 0;
}

int vmm_ctl_patch_balloon(struct vmm_control *ctl, uint32_t amount_mib, char *err, size_t errlen)
{
	struct virtio_dev *dev;

	if (post_boot_only(ctl, err, errlen) < 0 || !(dev = live_balloon(ctl, err, errlen)))
		return -1;
	if ((uint64_t)amount_mib > ctl->machine.mem_size_mib) {
		snprintf(err, errlen, "Balloon update error: Amount of pages requested cannot be greater than the "
			 "total amount of memory.");
		return -1;
	}
	balloon_set_target(dev, amount_mib * 256);
	ctl->balloon.amount_mib = amount_mib;
	return 0;
}

int vmm_ctl_patch_balloon_stats(struct vmm_control *ctl, unsigned interval_s, char *err, size_t errlen)
{
	struct virtio_dev *dev;

	if (post_boot_only(ctl, err, errlen) < 0 || !(dev = live_balloon(ctl, err, errlen)))
		return -1;
	if (balloon_set_stats_period(dev, interval_s) < 0) {
		snprintf(err, errlen, "Balloon update error: Cannot enable/disable statistics after boot.");
		return -1;
	}
	ctl->balloon.stats_polling_interval_s = interval_s;
	return 0;
}

int vmm_ctl_get_balloon_stats(const struct vmm_control *ctl, struct vmm_balloon_stats *out, char *err,
			      size_t errlen)
{
	struct virtio_dev *dev;
	uint32_t has;

	if (post_boot_only(ctl, err, errlen) < 0 || !(dev = live_balloon(ctl, err, errlen)))
		return -1;
	if (!ctl->balloon.stats_polling_interval_s) {
		snprintf(err, errlen, "Balloon config error: Statistics for the balloon device are not enabled");
		return -1;
	}
	memset(out, 0, sizeof(*out));
	balloon_get_stats(dev, &out->target_pages, &out->actual_pages, &has, out->val);
	for (unsigned t = 0; t < VMM_BALLOON_NSTATS; t++)
		out->has[t] = has & (1u << t);
	return 0;
}

/* Per-device counters, with Firecracker's metric names, under "block_<drive_id>" / "net_<iface_id>". */
struct counter_name {
	const char *name;
	size_t off;                  /* of a uint64_t in the device's counter struct */
};

#define BLK_C(n, f) { n, offsetof(struct blk_counters, f) }
#define NET_C(n, f) { n, offsetof(struct net_counters, f) }
static const struct counter_name blk_names[] = {
	BLK_C("read_count", read_ops), BLK_C("write_count", write_ops), BLK_C("flush_count", flush_ops),
	BLK_C("read_bytes", read_bytes), BLK_C("write_bytes", write_bytes), BLK_C("invalid_reqs_count", errors),
	BLK_C("rate_limiter_throttled_events", throttled), BLK_C("update_count", image_swaps),
	BLK_C("inline_write_count", inline_writes), BLK_C("inline_write_slow_count", inline_slow),
	BLK_C("inline_read_count", inline_reads), BLK_C("inline_read_slow_count", inline_read_slow),
};
static const struct counter_name net_names[] = {
	NET_C("rx_packets_count", rx_frames), NET_C("rx_bytes_count", rx_bytes), NET_C("tx_packets_count", tx_frames),
	NET_C("tx_bytes_count", tx_bytes), NET_C("tx_fails", tx_errors), NET_C("rx_fails", rx_dropped),
	NET_C("rx_rate_limiter_throttled", rx_throttled), NET_C("tx_rate_limiter_throttled", tx_throttled),
};
#define NET_PAIR_NAMES 6             /* net_names up to rx_fails: what a queue pair counts */

static void emit_group(vmm_counter_fn emit, void *opaque, const char *kind, const char *id,
		       const struct counter_name *names, unsigned n, const void *counters)
{
	char dev[80];

	snprintf(dev, sizeof(dev), "%s_%s", kind, id);
	for (unsigned k = 0; k < n; k++) {
		uint64_t v;

		memcpy(&v, (const uint8_t *)counters + names[k].off, sizeof(v));
		emit(opaque, names[k].name, dev, v);
	}
}

struct poll_sink {
	vmm_counter_fn emit;
	void *opaque;
	const char *dev;
};

static void emit_poll(void *opaque, const char *name, uint64_t value)
{
	struct poll_sink *s = opaque;

	s->emit(s->opaque, name, s->dev, value);
}

/* A drive's I/O thread's polling window (kite/poll_window.h; zeros while it does not poll), after
 * poll_adaptive: 1 when the window adapts (the default, kite/virtio_blk_dev.h), else 0. */
static void drive_poll_counters(struct virtio_dev *dev, const char *drive_id, vmm_counter_fn emit, void *opaque)
{
	struct poll_window_stats st;
	char name[80], mode[32];
	struct poll_sink s = { emit, opaque, name };

	if (!dev || !dev->io)
		return;
	snprintf(name, sizeof(name), "block_%s", drive_id);
	emit(opaque, "poll_adaptive", name, !strcmp(iothread_poll_mode(dev->io, mode, sizeof(mode)), "adaptive"));
	iothread_poll_stats(dev->io, &st);
	poll_window_stats_each(&st, emit_poll, &s);
}

static void device_counters(struct vmm_control *ctl, vmm_counter_fn emit, void *opaque)
{
	for (unsigned i = 0; i < ctl->ndrives; i++) {
		struct virtio_dev *dev = ctl->drives[i].socket ? NULL : board_blk(&ctl->vm, ctl->drives[i].dev_index);
		struct blk_counters c;

		if (dev && blk_get_counters(dev, &c)) {
			emit_group(emit, opaque, "block", ctl->drives[i].drive_id, blk_names,
				   sizeof(blk_names) / sizeof(blk_names[0]), &c);
			drive_poll_counters(dev, ctl->drives[i].drive_id, emit, opaque);
		}
	}
	for (unsigned i = 0; i < ctl->nnets; i++) {
		struct net_counters c;

		struct virtio_dev *dev = ctl->nets[i].socket ? NULL : board_net(&ctl->vm, ctl->nets[i].dev_index);
		unsigned pairs;

		if (!dev || !net_get_counters(dev, &c))
			continue;
		emit_group(emit, opaque, "net", ctl->nets[i].iface_id, net_names,
			   sizeof(net_names) / sizeof(net_names[0]), &c);
		/* per queue pair: "net_<iface_id>_pair<k>", the frame, byte and drop counters (the rate
		 * limiters are the device's: their two counters are left out) */
		pairs = net_get_pair_counters(dev, 0, &c);
		for (unsigned k = 0; k < pairs && net_get_pair_counters(dev, k, &c) > k; k++) {
			char id[64];

			snprintf(id, sizeof(id), "%s_pair%u", ctl->nets[i].iface_id, k);
			emit_group(emit, opaque, "net", id, net_names, NET_PAIR_NAMES, &c);
		}
	}
}

void vmm_ctl_counters(struct vmm_control *ctl, vmm_counter_fn emit, void *opaque)
{
	static const char *const vcpu_stats[] = { "exits", "io_exits", "mmio_exits", "halt_exits", "insn_emulation",
						   "signal_exits" };

	emit(opaque, "vmm_state", NULL, ctl->state);
	emit(opaque, "start_failures", NULL, ctl->starts_failed);
	if (!ctl->vm_live)
		return;
	emit(opaque, "vcpus", NULL, ctl->vm.ncpus);
	emit(opaque, "vcpus_parked", NULL, ctl->vm.parked);
	emit(opaque, "kvmclock_ctrl_fails", NULL, __atomic_load_n(&ctl->vm.kvmclock_ctrl_fails, __ATOMIC_RELAXED));
	for (unsigned i = 0; i < ctl->vm.ncpus; i++) {
		char dev[16];

		snprintf(dev, sizeof(dev), "vcpu%u", i);
		for (unsigned k = 0; k < sizeof(vcpu_stats) / sizeof(vcpu_stats[0]); k++) {
			uint64_t v;

			if (vm_vcpu_stat(&ctl->vm, i, vcpu_stats[k], &v) == 0)
				emit(opaque, vcpu_stats[k], dev, v);
		}
	}
	device_counters(ctl, emit, opaque);
}

/* ---- the owner's loop ---- */

static void stop_now(struct vmm_control *ctl, int status)
{
	if (ctl->vm_live)
		vm_request_exit(&ctl->vm, status);
	ctl->status = status;
	ctl->stop = true;
}

static void on_term_timer(void *opaque, int fd, uint32_t events)
{
	struct vmm_control *ctl = opaque;

	(void)fd;
	(void)events;
	log_info("vm: the guest did not stop within %d ms of SIGTERM, stopping it", KITE_TERM_GRACE_MS);
	stop_now(ctl, KITE_EXIT_SIGNAL_BASE + SIGTERM);
}

static void on_signal(void *opaque, int fd, uint32_t events)
{
	struct vmm_control *ctl = opaque;
	struct signalfd_siginfo si;
	int status;

	(void)events;
	if (read(fd, &si, sizeof(si)) != sizeof(si))
		return;
	status = KITE_EXIT_SIGNAL_BASE + (int)si.ssi_signo;
	if (si.ssi_signo == SIGTERM && ctl->state == VMM_RUNNING &&
	    term_grace_start(&ctl->term, &ctl->vm, ctl->loop, on_term_timer, ctl))
		return;
	log_info("vm: stopping on signal %u (%s)", si.ssi_signo, strsignal((int)si.ssi_signo));
	stop_now(ctl, status);
}

struct ctl_cb {
	void (*fn)(void *opaque);
	void *opaque;
};

static struct ctl_cb cmd_cb, tick_cb;

static void on_cmd(void *opaque, int fd, uint32_t events)
{
	(void)opaque;
	(void)fd;
	(void)events;
	cmd_cb.fn(cmd_cb.opaque);
}

static void on_tick(void *opaque, int fd, uint32_t events)
{
	uint64_t n;

	(void)opaque;
	(void)events;
	if (read(fd, &n, sizeof(n)) == sizeof(n) && tick_cb.fn)
		tick_cb.fn(tick_cb.opaque);
}

int vmm_ctl_run(struct vmm_control *ctl, int cmd_fd, void (*cmd)(void *opaque), void *opaque,
		void (*tick)(void *opaque), unsigned tick_s)
{
	sigset_t stop_sigs;
	int status;

	ctl->sig_fd = ctl->tick_fd = -1;
	term_grace_init(&ctl->term);
	if (!ctl->loop && !(ctl->loop = evloop_new()))
		return 1;
	sigemptyset(&stop_sigs);
	sigaddset(&stop_sigs, SIGINT);
	sigaddset(&stop_sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_sigs, NULL);
	ctl->sig_fd = signalfd(-1, &stop_sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (ctl->sig_fd < 0 || evloop_add(ctl->loop, ctl->sig_fd, EPOLLIN, on_signal, ctl) < 0) {
		log_err("vm: signalfd for SIGINT/SIGTERM failed: %m");
		status = 1;
		goto out;
	}
	cmd_cb = (struct ctl_cb){ cmd, opaque };
	tick_cb = (struct ctl_cb){ tick, opaque };
	if (cmd_fd >= 0 && evloop_add(ctl->loop, cmd_fd, EPOLLIN, on_cmd, ctl) < 0) {
		log_err("vm: watching the API command queue failed");
		status = 1;
		goto out;
	}
	if (tick && tick_s) {
		struct itimerspec its = { .it_interval = { .tv_sec = tick_s }, .it_value = { .tv_sec = tick_s } };

		ctl->tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (ctl->tick_fd < 0 || timerfd_settime(ctl->tick_fd, 0, &its, NULL) < 0 ||
		    evloop_add(ctl->loop, ctl->tick_fd, EPOLLIN, on_tick, ctl) < 0)
			log_warn("vm: periodic metrics timer unavailable: %m");
	}
	while (!ctl->stop) {
		if (evloop_run_once(ctl->loop, -1) < 0) {
			stop_now(ctl, 1);
			break;
		}
		if (ctl->vm_live && atomic_load(&ctl->vm.exiting))
			break;
	}
	status = ctl->status;
	if (ctl->vm_live) {
		status = vm_finish(&ctl->vm);
		ctl_vm_teardown(ctl);
	}
out:
	if (cmd_fd >= 0)
		evloop_del(ctl->loop, cmd_fd);
	term_grace_end(&ctl->term, ctl->loop);
	if (ctl->tick_fd >= 0) {
		evloop_del(ctl->loop, ctl->tick_fd);
		close(ctl->tick_fd);
	}
	if (ctl->sig_fd >= 0) {
		evloop_del(ctl->loop, ctl->sig_fd);
		close(ctl->sig_fd);
	}
	evloop_free(ctl->loop);
	ctl->loop = NULL;
	return status;
}
