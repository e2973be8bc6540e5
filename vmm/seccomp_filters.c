/* SPDX-License-Identifier: MIT */
/*
 * kite's seccomp allowlists, one per kind of thread (docs/security.md explains each entry). The
 * base every thread gets (exit, futex, signals, malloc, write, time, sleep) is in common/seccomp.c.
 *
 *   vcpu       each vCPU thread, from its first line (before the first KVM_RUN)
 *   vmm        the main thread (event loop, device work, API commands), after the VM is built and
 *              the vCPUs started, before the loop handles any guest work
 *   io         the I/O thread of each virtio-blk / virtio-net device (its kicks, io_uring
 *              completions, TAP, rate-limit timers), from its first line
 *   vhost-user the thread of each vhost-user device (talks to its backend, reconnects)
 *   api        the HTTP API thread (libmicrohttpd), from before its creation
 *
 * No list holds execve, fork, ptrace, or socket other than AF_UNIX. Every file kite uses is opened
 * before the filters go on, except a drive image swapped by `PATCH /drives` after boot and the files
 * of `PUT /snapshot/create`: the main thread may openat, create and truncate a file (never an
 * O_TMPFILE, level 2), and open a directory to fsync it (the snapshot's, after the state file's
 * rename). ioctl is allowed for the request numbers named here
 * only (level 2); which fd is not checked.
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/ioctl.h>

#include "kite/seccomp.h"
#include "seccomp_filters.h"

#define N(t) (sizeof(t) / sizeof((t)[0]))

/* The kernel's own O_TMPFILE bit (uapi __O_TMPFILE). O_TMPFILE is this bit with O_DIRECTORY, and
 * glibc's __O_TMPFILE includes O_DIRECTORY as well: filtering on that refused every open of a
 * directory, which the snapshot directory's fsync needs. Without this bit no O_TMPFILE opens. */
#define KERNEL_O_TMPFILE_BIT 020000000

/* The VM's interrupt and doorbell services (vmm/kvm_irq.c), called by device code on a vCPU
 * thread (register writes) or the main thread (completions, teardown). */
#define KVM_IRQ_IOCTLS \
	SC_ALLOW_EQ(ioctl, 1, KVM_IRQ_LINE), SC_ALLOW_EQ(ioctl, 1, KVM_IRQFD), \
	SC_ALLOW_EQ(ioctl, 1, KVM_IOEVENTFD), SC_ALLOW_EQ(ioctl, 1, KVM_SET_GSI_ROUTING)

/* Device work: virtio queues (eventfds, epoll), disk I/O (io_uring or synchronous), TAP frames
 * and offloads, entropy, rate-limit timers, balloon page release (madvise is in the base). */
static const struct seccomp_rule device_rules[] = {
	KVM_IRQ_IOCTLS,
	SC_ALLOW_EQ(ioctl, 1, TUNSETOFFLOAD), SC_ALLOW_EQ(ioctl, 1, TUNSETVNETHDRSZ),
	/* a multiqueue TAP's fds attached and detached as the driver sets its queue pairs (the control
	 * queue on the I/O thread, a reset on a vCPU thread, a snapshot restore on the main thread) */
	SC_ALLOW_EQ(ioctl, 1, TUNSETQUEUE),
	SC_ALLOW(read), SC_ALLOW(readv), SC_ALLOW(pread64), SC_ALLOW(pwrite64), SC_ALLOW(preadv),
	SC_ALLOW(pwritev), SC_ALLOW(preadv2), SC_ALLOW(pwritev2), SC_ALLOW(fallocate), SC_ALLOW(fdatasync),
	SC_ALLOW(fsync), SC_ALLOW(io_uring_enter), SC_ALLOW(epoll_ctl), SC_ALLOW(eventfd2),
	/* virtio-blk inline reads and writes: one that slept is told from a preempted one (kite/inline_io.h) */
	SC_ALLOW(getrusage),
	SC_ALLOW(timerfd_create), SC_ALLOW(timerfd_settime), SC_ALLOW(timerfd_gettime), SC_ALLOW(getrandom),
	SC_ALLOW(close), SC_ALLOW(tgkill),   /* pthread_kill: a vCPU or the loop kicks the vCPUs */
};

static const struct seccomp_rule vcpu_rules[] = {
	SC_ALLOW_EQ(ioctl, 1, KVM_RUN), SC_ALLOW_EQ(ioctl, 1, KVM_KVMCLOCK_CTRL),
	/* the registers and instruction bytes of an error line */
	SC_ALLOW_EQ(ioctl, 1, KVM_GET_REGS), SC_ALLOW_EQ(ioctl, 1, KVM_GET_SREGS),
	SC_ALLOW_EQ(ioctl, 1, KVM_TRANSLATE),
};

/* PUT /snapshot/create on the paused VM reads KVM's state of the vCPUs and the VM (vmm/snapshot.c,
 * vmm/x86/kvm_state.c); it never sets any (a load happens before the filter). */
#define KVM_SNAPSHOT_IOCTLS \
	SC_ALLOW_EQ(ioctl, 1, KVM_GET_REGS), SC_ALLOW_EQ(ioctl, 1, KVM_GET_SREGS), \
	SC_ALLOW_EQ(ioctl, 1, KVM_GET_FPU), SC_ALLOW_EQ(ioctl, 1, KVM_GET_XSAVE), \
	SC_ALLOW_EQ(ioctl, 1, KVM_GET_XSAVE2), SC_ALLOW_EQ(ioctl, 1, KVM_GET_XCRS), \
	SC_ALLOW_EQ(ioctl, 1, KVM_GET_LAPIC), SC_ALLOW_EQ(ioctl, 1, KVM_GET_VCPU_EVENTS), \
	SC_ALLOW_EQ(ioctl, 1, KVM_GET_DEBUGREGS), SC_ALLOW_EQ(ioctl, 1, KVM_GET_MP_STATE), \
	SC_ALLOW_EQ(ioctl, 1, KVM_GET_TSC_KHZ), SC_ALLOW_EQ(ioctl, 1, KVM_GET_MSRS), \
	SC_ALLOW_EQ(ioctl, 1, KVM_GET_MSR_INDEX_LIST), SC_ALLOW_EQ(ioctl, 1, KVM_CHECK_EXTENSION), \
	SC_ALLOW_EQ(ioctl, 1, KVM_GET_IRQCHIP), SC_ALLOW_EQ(ioctl, 1, KVM_GET_PIT2), \
	SC_ALLOW_EQ(ioctl, 1, KVM_GET_CLOCK), SC_ALLOW_EQ(ioctl, 1, KVM_GET_DIRTY_LOG)

static const struct seccomp_rule vmm_rules[] = {
	KVM_SNAPSHOT_IOCTLS,
	SC_ALLOW(epoll_wait), SC_ALLOW(epoll_pwait), SC_ALLOW(signalfd4),   /* the API loop, after a --config-file start */
	/* the host terminal (COM1 on a tty): restored at the end */
	SC_ALLOW_EQ(ioctl, 1, TCGETS), SC_ALLOW_EQ(ioctl, 1, TCSETS), SC_ALLOW_EQ(ioctl, 1, TCSETSW),
	SC_ALLOW_EQ(ioctl, 1, TCSETSF),
	SC_ALLOW(fcntl), SC_ALLOW(newfstatat), SC_ALLOW(fstat), SC_ALLOW(lseek),
	/* --console socket:PATH: a client attaches (its bytes are read/write in the base and device
	 * sets); poll with no wait checks whether the attached one already left */
	SC_ALLOW(accept4), SC_ALLOW(poll), SC_ALLOW(ppoll),
	/* the API socket and vhost-user threads are stopped and their sockets closed at the end */
	SC_ALLOW(shutdown), SC_ALLOW(unlink),   /* the API socket file, removed at the end */
	SC_ALLOW(io_uring_register),   /* io_uring_queue_exit; PATCH /drives points the ring at the new image */
	/* PATCH /drives after boot reopens the new image (blk_replace_image); PUT /snapshot/create
	 * creates (or truncates) the state and memory files, sizes the memory file, renames the
	 * state file into place and fsyncs its directory (vmm/snapshot.c, common/atomic_file.c) */
	SC_ALLOW_FLAGS(openat, 2, ~KERNEL_O_TMPFILE_BIT), SC_ALLOW(ftruncate), SC_ALLOW(rename),
	SC_ALLOW(renameat), SC_ALLOW(renameat2),
};

/* vhost-user frontend: messages with fds, reconnecting to the backend's Unix socket. */
static const struct seccomp_rule vhost_user_rules[] = {
	SC_ALLOW(read), SC_ALLOW(recvmsg), SC_ALLOW(recvfrom), SC_ALLOW(sendmsg), SC_ALLOW(sendto),
	SC_ALLOW(poll), SC_ALLOW(ppoll), SC_ALLOW(epoll_ctl), SC_ALLOW(close), SC_ALLOW(newfstatat),
	SC_ALLOW(fstat), SC_ALLOW(fcntl), SC_ALLOW(eventfd2), SC_ALLOW(connect), SC_ALLOW(setsockopt),
	SC_ALLOW_EQ(socket, 0, AF_UNIX),
	SC_ALLOW_EQ(socketpair, 0, AF_UNIX),   /* the backend's channel (BACKEND_REQ), on every reconnection */
	SC_ALLOW(getsockopt),                  /* a reply timeout names its length (vu_msg_recv) */
};

/* libmicrohttpd: accepts and serves connections on kite's Unix socket; the start-up thread creates
 * the server thread (clone of a thread only, never a process). */
static const struct seccomp_rule api_rules[] = {
	SC_ALLOW(accept4), SC_ALLOW(accept), SC_ALLOW(read), SC_ALLOW(recvfrom), SC_ALLOW(recvmsg),
	SC_ALLOW(sendto), SC_ALLOW(sendmsg), SC_ALLOW(poll), SC_ALLOW(ppoll), SC_ALLOW(close),
	SC_ALLOW(shutdown), SC_ALLOW(unlink),   /* the API socket file, removed at the end */ SC_ALLOW(setsockopt), SC_ALLOW(getsockopt), SC_ALLOW(getsockname),
	SC_ALLOW(fcntl), SC_ALLOW(newfstatat), SC_ALLOW(fstat), SC_ALLOW(lseek), SC_ALLOW(eventfd2),
	SC_ALLOW(pipe2), SC_ALLOW_EQ(prctl, 0, PR_SET_NAME),
	/* the server thread starting */
	SC_ALLOW_BITS(clone, 0, CLONE_THREAD), SC_ALLOW(set_robust_list), SC_ALLOW(rseq),
};

static const struct seccomp_rule *const vcpu_t[] = { device_rules, vcpu_rules };
static const size_t vcpu_n[] = { N(device_rules), N(vcpu_rules) };
static const struct seccomp_rule *const vmm_t[] = { device_rules, vmm_rules };
static const size_t vmm_n[] = { N(device_rules), N(vmm_rules) };
/* An I/O thread: the device rules and the wait of its loop. */
static const struct seccomp_rule io_rules[] = {
	SC_ALLOW(epoll_wait), SC_ALLOW(epoll_pwait),
};

static const struct seccomp_rule *const io_t[] = { device_rules, io_rules };
static const size_t io_n[] = { N(device_rules), N(io_rules) };
static const struct seccomp_rule *const vu_t[] = { vhost_user_rules };
static const size_t vu_n[] = { N(vhost_user_rules) };
static const struct seccomp_rule *const api_t[] = { api_rules };
static const size_t api_n[] = { N(api_rules) };

static const struct seccomp_thread kite_threads[] = {
	{ "vcpu", vcpu_t, vcpu_n, N(vcpu_t) },
	{ "vmm", vmm_t, vmm_n, N(vmm_t) },
	{ "io", io_t, io_n, N(io_t) },
	{ "vhost-user", vu_t, vu_n, N(vu_t) },
	{ "api", api_t, api_n, N(api_t) },
};

void kite_seccomp_register(int level)
{
	seccomp_register(level, kite_threads, N(kite_threads));
}
