/* SPDX-License-Identifier: MIT */
/*
 * The VMM control (kite/vmm_control.h), part 2: InstanceStart, pause and resume, Ctrl-Alt-Del,
 * the runtime changes, the counters and the owner's loop.
 *
 * The loop (vmm_ctl_run) is an event loop of its own on the owner thread. It watches the command
 * fd, SIGINT/SIGTERM (signalfd), a tick timer and, once the VM runs, the epoll fd of the VM's loop
 * (every device's work: kicks, completions, timers, console input). Pausing stops watching that fd,
 * so no device work runs (kicks stay pending in their eventfds and are served after resume), and
 * parks every vCPU (vm_pause). A paused VM costs no CPU.
 *
 * SIGTERM while the guest runs: when the guest's i8042 driver listens, kite sends Ctrl-Alt-Del and
 * gives the guest KITE_TERM_GRACE_MS to end the VM (reset or power-off); then, or at a second
 * signal, or at once when nobody listens or the VM is paused, it stops with 128 + signal.
 */
#include <errno.h>
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
#include "kite/legacy_devices.h"
#include "kite/log.h"
#include "kite/vcpu.h"
#include "kite/virtio_balloon.h"

#define KITE_TERM_GRACE_MS 2000

/* Ctrl, Alt, Del (extended): Firecracker's sequence, scancode set 2, presses only. */
static const uint8_t ctrl_alt_del[] = { 0x14, 0x11, 0xe0, 0x71 };

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

int vmm_ctl_start(struct vmm_control *ctl, char *err, size_t errlen)
{
	if (ctl->state != VMM_NOT_STARTED) {
		snprintf(err, errlen, "%s", VMM_ERR_POST_BOOT);
		return -1;
	}
	if (!ctl->loop && !(ctl->loop = evloop_new())) {
		snprintf(err, errlen, "Start microvm error: out of memory");
		goto fail;
	}
	if (ctl_build_vm_config(ctl, err, errlen) < 0)
		goto fail;
	if (config_validate(&ctl->opts->vm) < 0 || vm_create(&ctl->vm, &ctl->opts->vm) < 0) {
		/* vm_create cleaned up after itself: the configuration can be fixed and started again */
		snprintf(err, errlen, "Start microvm error: %s", kite_log_last_error());
		goto fail;
	}
	ctl->vm_live = true;
	if (evloop_add(ctl->loop, evloop_fd(ctl->vm.loop), EPOLLIN, on_vm_loop, ctl) < 0 || vm_start(&ctl->vm) < 0) {
		snprintf(err, errlen, "Start microvm error: starting the vCPUs failed");
		ctl_vm_teardown(ctl);
		goto fail;
	}
	ctl->state = VMM_RUNNING;
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
	vm_resume(&ctl->vm);
	ctl->state = VMM_RUNNING;
	log_info("vm: resumed");
	return 0;
}

int vmm_ctl_ctrl_alt_del(struct vmm_control *ctl, char *err, size_t errlen)
{
	struct i8042 *kbc;

	if (post_boot_only(ctl, err, errlen) < 0)
		return -1;
	kbc = board_kbc(&ctl->vm);
	if (!kbc || i8042_send_keys(kbc, ctrl_alt_del, sizeof(ctrl_alt_del)) < 0) {
		snprintf(err, errlen, "Internal VMM error: i8042 error: i8042 internal buffer full.");
		return -1;
	}
	return 0;
}

int vmm_ctl_patch_drive(struct vmm_control *ctl, const struct vmm_drive *d, char *err, size_t errlen)
{
	if (post_boot_only(ctl, err, errlen) < 0)
		return -1;
	if (!ctl_find_drive(ctl, d->drive_id)) {
		snprintf(err, errlen, "Drive config error: No block device with ID %s.", d->drive_id);
		return -1;
	}
	snprintf(err, errlen, "Drive config error: kite cannot change a drive's path_on_host or rate_limiter "
		 "at run time yet");
	return -1;
}

int vmm_ctl_patch_net(struct vmm_control *ctl, const struct vmm_net *n, char *err, size_t errlen)
{
	if (post_boot_only(ctl, err, errlen) < 0)
		return -1;
	if (!ctl_find_net(ctl, n->iface_id)) {
		snprintf(err, errlen, "Network config error: Invalid interface ID - not found.");
		return -1;
	}
	snprintf(err, errlen, "Network config error: kite cannot change an interface's rate limiters at run "
		 "time yet");
	return -1;
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
	if (si.ssi_signo == SIGTERM && ctl->state == VMM_RUNNING && ctl->term_fd < 0) {
		struct i8042 *kbc = board_kbc(&ctl->vm);
		struct itimerspec its = { .it_value = { .tv_sec = KITE_TERM_GRACE_MS / 1000,
							.tv_nsec = (KITE_TERM_GRACE_MS % 1000) * 1000000L } };

		if (kbc && i8042_kbd_irq_enabled(kbc) &&
		    i8042_send_keys(kbc, ctrl_alt_del, sizeof(ctrl_alt_del)) == 0)
			ctl->term_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (ctl->term_fd >= 0 && (timerfd_settime(ctl->term_fd, 0, &its, NULL) < 0 ||
					  evloop_add(ctl->loop, ctl->term_fd, EPOLLIN, on_term_timer, ctl) < 0)) {
			close(ctl->term_fd);
			ctl->term_fd = -1;
		}
		if (ctl->term_fd >= 0) {
			log_info("vm: SIGTERM: sent Ctrl-Alt-Del, waiting up to %d ms for the guest to stop",
				 KITE_TERM_GRACE_MS);
			return;
		}
	}
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

	ctl->sig_fd = ctl->tick_fd = ctl->term_fd = -1;
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
	if (ctl->term_fd >= 0) {
		evloop_del(ctl->loop, ctl->term_fd);
		close(ctl->term_fd);
	}
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
