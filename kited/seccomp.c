/* SPDX-License-Identifier: MIT */
/*
 * kited's seccomp allowlist (docs/security.md "kited"). The threads that serve clients -- the
 * libmicrohttpd threads, which run every route handler -- filter themselves ("http", installed by
 * the thread that starts the server, inherited by every server thread). They may not fork, exec,
 * ptrace, mount, change ids or open sockets other than AF_UNIX: a kite or kite-dpu is started by the
 * spawner thread (kd_spawn), the one thread that forks, because a child inherits the filter of the
 * thread that forked it and kite, kite-jailer and kite-dpu must start unfiltered (the jailer mounts
 * and changes ids; kite installs its own filters). The spawner, the supervisor and the main thread
 * (sigwait) serve no client input and are not filtered.
 */
#include <linux/kvm.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include "kited_seccomp.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct seccomp_rule http_rules[] = {
	/* libmicrohttpd: the listening socket, a thread per connection */
	SC_ALLOW(accept4), SC_ALLOW(accept), SC_ALLOW(read), SC_ALLOW(readv), SC_ALLOW(recvfrom), SC_ALLOW(recvmsg),
	SC_ALLOW(sendto), SC_ALLOW(sendmsg), SC_ALLOW(poll), SC_ALLOW(ppoll), SC_ALLOW(close), SC_ALLOW(shutdown),
	SC_ALLOW(setsockopt), SC_ALLOW(getsockopt), SC_ALLOW(getsockname), SC_ALLOW(getpeername), SC_ALLOW(fcntl),
	SC_ALLOW(eventfd2), SC_ALLOW(pipe2), SC_ALLOW_EQ(prctl, 0, PR_SET_NAME),
	SC_ALLOW_BITS(clone, 0, CLONE_THREAD), SC_ALLOW(set_robust_list), SC_ALLOW(rseq),
	/* libcurl to the kites' API sockets, kite-dpu's control socket: Unix sockets only */
	SC_ALLOW_EQ(socket, 0, AF_UNIX), SC_ALLOW_EQ(socketpair, 0, AF_UNIX), SC_ALLOW(connect), SC_ALLOW(getrandom),
	SC_ALLOW(uname),
	/* the state directory: vm.json (atomic), kite.log, run/ and snapshot/ (chown for a jail), the
	 * jail's removal (nftw), volumes' images (the DPU side) */
	SC_ALLOW(openat), SC_ALLOW(pread64), SC_ALLOW(pwrite64), SC_ALLOW(lseek), SC_ALLOW(fstat), SC_ALLOW(newfstatat),
	SC_ALLOW(statx), SC_ALLOW(getdents64), SC_ALLOW(fsync), SC_ALLOW(fdatasync), SC_ALLOW(ftruncate),
	SC_ALLOW(fallocate), SC_ALLOW(rename), SC_ALLOW(renameat), SC_ALLOW(renameat2), SC_ALLOW(unlink),
	SC_ALLOW(unlinkat), SC_ALLOW(mkdir), SC_ALLOW(mkdirat), SC_ALLOW(rmdir), SC_ALLOW(chown), SC_ALLOW(fchownat),
	SC_ALLOW(fchown), SC_ALLOW(access), SC_ALLOW(faccessat), SC_ALLOW(faccessat2), SC_ALLOW(readlink),
	SC_ALLOW(readlinkat),
	/* processes, only through pidfds (never a recycled pid): signals, reaping an undone start */
	SC_ALLOW(pidfd_open), SC_ALLOW(pidfd_send_signal), SC_ALLOW(waitid), SC_ALLOW(epoll_ctl),
	/* GET /host */
	SC_ALLOW_EQ(ioctl, 1, KVM_GET_API_VERSION), SC_ALLOW(sched_getaffinity), SC_ALLOW(sysinfo),
	SC_ALLOW(getuid), SC_ALLOW(geteuid), SC_ALLOW(getgid), SC_ALLOW(getegid),
};

static const struct seccomp_rule *const http_t[] = { http_rules };
static const size_t http_n[] = { N(http_rules) };

static const struct seccomp_thread kited_threads[] = {
	{ "http", http_t, http_n, N(http_t) },
};

int kited_seccomp_install(int level)
{
	seccomp_register(level, kited_threads, N(kited_threads));
	return 0;
}
