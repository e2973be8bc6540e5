/* SPDX-License-Identifier: MIT */
/*
 * kite-dpu's seccomp allowlists (docs/security.md explains each entry); the base every thread gets
 * is in common/seccomp.c.
 *
 *   poller   each polling thread, from its first line: rings in shared memory, eventfds, io_uring,
 *            TAP (and DPDK PMD) frames; nothing that creates a file, socket or mapping of new memory
 *   control  the main thread, before its loop serves the first control line or vhost-user message
 *   dpdk-intr  DPDK's interrupt thread (with a "dpdk" uplink)
 *
 * The control thread still opens files after start: add_volume opens its image (openat without
 * O_CREAT/O_TRUNC at level 2; --image-dir confines the paths) and add_port opens /dev/net/tun and
 * an AF_INET datagram socket to set the TAP's MTU and flags. Nothing may execve, fork or ptrace.
 * A "dpdk" uplink is set up before the filters (config file only); DPDK's interrupt thread, which
 * kite-dpu does not create, filters itself as "dpdk-intr" (dpu/net/uplink_dpdk.c).
 */
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include "dpu.h"
#include "kite/seccomp.h"

#define N(t) (sizeof(t) / sizeof((t)[0]))

static const struct seccomp_rule poller_rules[] = {
	SC_ALLOW(read), SC_ALLOW(readv), SC_ALLOW(io_uring_enter), SC_ALLOW(sendto), SC_ALLOW(recvfrom),
	SC_ALLOW(getcpu), SC_ALLOW(sched_getaffinity), SC_ALLOW(close),
	/* a DPDK uplink's PMD may wait on its socket in its receive or transmit burst (af_xdp: glibc's
	 * poll(3), the poll system call); kite-dpu's own code never polls (idle: epoll_pwait2 below) */
	SC_ALLOW(poll),
	/* block volumes whose buffered reads or writes io_uring would punt: the poller does them, and
	 * tells a request that slept from one that was preempted by its voluntary context switches
	 * (include/kite/inline_io.h) */
	SC_ALLOW(preadv2), SC_ALLOW(pwritev2), SC_ALLOW(getrusage),
	/* idle: epoll_pwait2 on the poller's epoll fd sleeps and takes the edge events */
	SC_ALLOW(epoll_pwait2),
	/* a DPDK uplink: rte_thread_register finds each CPU's NUMA node by access(F_OK) on
	 * /sys/devices/system/node/nodeN/cpuM (an existence test: no fd, nothing read) */
	SC_ALLOW(access), SC_ALLOW(faccessat), SC_ALLOW(faccessat2),
};

static const struct seccomp_rule control_rules[] = {
	/* event loop, signals, timers */
	SC_ALLOW(epoll_wait), SC_ALLOW(epoll_pwait), SC_ALLOW(epoll_ctl), SC_ALLOW(read), SC_ALLOW(readv),
	SC_ALLOW(pread64), SC_ALLOW(close), SC_ALLOW(eventfd2), SC_ALLOW(timerfd_create),
	SC_ALLOW(timerfd_settime), SC_ALLOW(getrandom), SC_ALLOW(tgkill),
	/* control socket and vhost-user sockets: Unix only */
	SC_ALLOW_EQ(socket, 0, AF_UNIX), SC_ALLOW(bind), SC_ALLOW(listen), SC_ALLOW(accept4),
	SC_ALLOW(recvmsg), SC_ALLOW(sendmsg), SC_ALLOW(recvfrom), SC_ALLOW(sendto), SC_ALLOW(shutdown),
	SC_ALLOW(setsockopt), SC_ALLOW(getsockopt), SC_ALLOW(unlink), SC_ALLOW(unlinkat), SC_ALLOW(rename),
	SC_ALLOW(chmod), SC_ALLOW(fchmod), SC_ALLOW(fchmodat),
	/* guest memory tables and inflight regions from the frontend, volumes' io_uring rings */
	SC_ALLOW(fcntl), SC_ALLOW(fstat), SC_ALLOW(newfstatat), SC_ALLOW(lseek), SC_ALLOW(memfd_create),
	SC_ALLOW(ftruncate), SC_ALLOW(io_uring_setup), SC_ALLOW(io_uring_register), SC_ALLOW(io_uring_enter),
	SC_ALLOW(fdatasync), SC_ALLOW(fsync),
	/* add_volume: open an existing image, never create or truncate one; is it in memory (tmpfs)? */
	SC_ALLOW(fstatfs),
	SC_ALLOW_FLAGS(openat, 2, ~(O_CREAT | O_TRUNC | __O_TMPFILE)),
	/* --image-dir/--socket-dir: realpath(3) resolves symlinks before a path is accepted */
	SC_ALLOW(readlink), SC_ALLOW(readlinkat),
	SC_ALLOW_EQ(ioctl, 1, BLKGETSIZE64), SC_ALLOW_EQ(ioctl, 1, BLKSSZGET),
	/* add_port with a TAP uplink: the device (and whether it is persistent), then its MAC, MTU and link
	 * state through an INET socket */
	SC_ALLOW_EQ(ioctl, 1, TUNSETIFF), SC_ALLOW_EQ(ioctl, 1, TUNSETOFFLOAD),
	SC_ALLOW_EQ(ioctl, 1, TUNSETVNETHDRSZ), SC_ALLOW_EQ(ioctl, 1, SIOCGIFMTU), SC_ALLOW_EQ(ioctl, 1, SIOCSIFMTU),
	SC_ALLOW_EQ(ioctl, 1, SIOCGIFFLAGS), SC_ALLOW_EQ(ioctl, 1, SIOCSIFFLAGS),
	SC_ALLOW_EQ(ioctl, 1, TUNGETIFF), SC_ALLOW_EQ(ioctl, 1, SIOCGIFHWADDR), SC_ALLOW_EQ(ioctl, 1, SIOCSIFHWADDR),
	SC_ALLOW_EQ(socket, 0, AF_INET),
	SC_ALLOW_EQ(prctl, 0, PR_SET_NAME),
};

/* DPDK's interrupt thread (dpu/net/uplink_dpdk.c filters it from a callback on it): waits on its
 * epoll set of interrupt fds and its wake-up pipe, rebuilds the set when callbacks change, runs PMD
 * interrupt and alarm callbacks (timerfd). */
static const struct seccomp_rule dpdk_intr_rules[] = {
	SC_ALLOW(epoll_create), SC_ALLOW(epoll_create1), SC_ALLOW(epoll_ctl), SC_ALLOW(epoll_wait),
	SC_ALLOW(epoll_pwait), SC_ALLOW(read), SC_ALLOW(close), SC_ALLOW(timerfd_settime),
};

static const struct seccomp_rule *const poller_t[] = { poller_rules };
static const size_t poller_n[] = { N(poller_rules) };
static const struct seccomp_rule *const control_t[] = { control_rules };
static const size_t control_n[] = { N(control_rules) };

static const struct seccomp_rule *const dpdk_intr_t[] = { dpdk_intr_rules };
static const size_t dpdk_intr_n[] = { N(dpdk_intr_rules) };

static const struct seccomp_thread dpu_threads[] = {
	{ "poller", poller_t, poller_n, N(poller_t) },
	{ "dpdk-intr", dpdk_intr_t, dpdk_intr_n, N(dpdk_intr_t) },
	{ "control", control_t, control_n, N(control_t) },
};

void dpu_seccomp_register(int level)
{
	seccomp_register(level, dpu_threads, N(dpu_threads));
}
