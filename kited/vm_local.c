/* SPDX-License-Identifier: MIT */
/*
 * A VM's in-process devices (backend "kite", docs/kited.md): its own disk image
 * DIR/volumes/NAME-disk.img opened by kite itself (path_on_host), and a TAP interface kt-XXXXXXXX
 * opened by kite itself (host_dev_name). kite-dpu serves neither. The TAP is persistent, owned by
 * the uid:gid kite runs as (the VM's own uid when jailed), made with vnet_hdr, up; it is made at start and deleted at
 * the VM's end. Its name is a hash of the state directory and the VM's name, so an end found after
 * a crash or at kited's start deletes it without any record. The interface is made and deleted by
 * `ip` (iproute2) started through kd_spawn: kited's HTTP threads may neither open AF_INET sockets
 * nor issue TUN ioctls (seccomp.c). No lock held; the VM is busy or ended.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kite/log.h"
#include "dpu.h"
#include "state.h"
#include "vm_internal.h"

/* Runs `ip ARGS...` (output to the VM's kite.log); 0 if it exited with 0. */
static int run_ip(struct kited *kd, const char *vm, char *const *args)
{
	static const char *const bins[] = { "/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip" };
	char *argv[16], path[KD_PATH_MAX * 2];
	unsigned n = 0;
	siginfo_t si = { 0 };
	int logfd, pidfd;
	pid_t pid;

	argv[n++] = (char *)bins[0];
	for (unsigned i = 0; i < sizeof(bins) / sizeof(bins[0]); i++)
		if (access(bins[i], X_OK) == 0) {
			argv[0] = (char *)bins[i];
			break;
		}
	while (*args && n < 15)
		argv[n++] = *args++;
	argv[n] = NULL;
	if (!vm_path(kd, vm, "kite.log", path, sizeof(path)) ||
	    (logfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) < 0)
		logfd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	pid = kd_spawn(argv, logfd, &pidfd);
	if (logfd >= 0)
		close(logfd);
	if (pid < 0)
		return -1;
	waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED);
	close(pidfd);
	return si.si_code == CLD_EXITED && si.si_status == 0 ? 0 : -1;
}

static bool tap_exists(const char *tap)
{
	char path[64];

	snprintf(path, sizeof(path), "/sys/class/net/%s", tap);
	return access(path, F_OK) == 0;
}

static void tap_delete(struct kited *kd, const char *vm, const char *tap)
{
	char *del[] = { "link", "del", (char *)tap, NULL };

	if (tap_exists(tap) && run_ip(kd, vm, del) < 0)
		log_warn("VM %s: TAP %s: ip link del failed (see its kite.log)", vm, tap);
}

int local_vm_acquire(struct kited *kd, struct vm *vm, char *err, size_t errlen)
{
	const struct vm_def *d = &vm->def;
	unsigned uid = vm->jailed ? vm->uid : (unsigned)geteuid(), gid = vm->jailed ? vm->uid : (unsigned)getegid();
	char path[KD_PATH_MAX * 2], why[256];

	if (d->disk == DISK_OWN && d->disk_in_kite) {
		struct stat sb;

		if (!local_disk_image(kd, d->name, path, sizeof(path)))
			return errf(err, errlen, "VM %s: disk: image path too long", d->name);
		*strrchr(path, '/') = '\0';
		if (state_mkdir(path, 0755) < 0)
			return errf(err, errlen, "VM %s: disk: %s: cannot create: %m", d->name, path);
		local_disk_image(kd, d->name, path, sizeof(path));
		if (stat(path, &sb) < 0 && dpu_image_create(path, d->disk_size_mib, why, sizeof(why)) < 0)
			return errf(err, errlen, "VM %s: disk: %s", d->name, why);
		/* a jailed kite opens it read-write as the VM's uid */
		if (geteuid() == 0 && chown(path, uid, gid) < 0)
			return errf(err, errlen, "VM %s: disk %s: cannot chown: %m", d->name, path);
	}
	if (d->net && d->net_in_kite) {
		char tap[16], u[16], g[16];
		char *add[] = { "tuntap", "add", "dev", tap, "mode", "tap", "vnet_hdr", "user", u, "group", g, NULL };
		char *up[] = { "link", "set", tap, "up", NULL };

		local_tap_name(kd, d->name, tap, sizeof(tap));
		snprintf(u, sizeof(u), "%u", uid);
		snprintf(g, sizeof(g), "%u", gid);
		tap_delete(kd, d->name, tap);   /* left by a start that did not finish */
		if (run_ip(kd, d->name, add) < 0 || run_ip(kd, d->name, up) < 0) {
			tap_delete(kd, d->name, tap);
			return errf(err, errlen, "VM %s: TAP %s: ip tuntap add / link set up failed (see its kite.log)",
				    d->name, tap);
		}
		log_info("VM %s: TAP %s made (owner %u:%u)", d->name, tap, uid, gid);
	}
	return 0;
}

void local_vm_release(struct kited *kd, struct vm *vm)
{
	const struct vm_def *d = &vm->def;
	char path[KD_PATH_MAX * 2];

	if (d->net && d->net_in_kite) {
		char tap[16];

		local_tap_name(kd, d->name, tap, sizeof(tap));
		tap_delete(kd, d->name, tap);
	}
	if (d->disk == DISK_OWN && d->disk_in_kite && d->disk_ephemeral && local_disk_image(kd, d->name, path, sizeof(path)) &&
	    unlink(path) < 0 && errno != ENOENT)
		log_warn("VM %s: removing its ephemeral disk %s: %m", d->name, path);
}

void local_vm_forget(struct kited *kd, struct vm *vm)
{
	const struct vm_def *d = &vm->def;
	char path[KD_PATH_MAX * 2];

	local_vm_release(kd, vm);
	if (d->disk == DISK_OWN && d->disk_in_kite && local_disk_image(kd, d->name, path, sizeof(path)) &&
	    unlink(path) < 0 && errno != ENOENT)
		log_warn("VM %s: removing its disk %s: %m", d->name, path);
}
