/* SPDX-License-Identifier: MIT */
/*
 * The supervisor thread: an epoll set of pidfds (a VM's kite, or for a jailed kite that kited
 * started, its kite-jailer, which exits with kite's status; and kite-dpu's). pidfd_open works for
 * processes that are not kited's children too (adopted ones), which only lack an exit status. When
 * one becomes readable the process ended: vm_ended() (or dpu_proc_ended()) runs on this thread.
 * The watch table has its own lock (never held while calling out); kd->lock is taken by vm_ended.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "kite/log.h"
#include "state.h"
#include "vm_internal.h"

#define SV_MAX 1024
#define SV_DPU ((uint64_t)-1)

struct watch {
	int pidfd;              /* -1: free slot */
	bool child;             /* waitid gives the status */
	bool via_jailer;        /* the status is kite-jailer's (128 + signal for a signal) */
	char name[KD_NAME_MAX + 1];
};

static pthread_mutex_t sv_lock = PTHREAD_MUTEX_INITIALIZER;
static struct watch watches[SV_MAX];
static int sv_epoll = -1;
static int dpu_pidfd = -1;

static void add_fd(int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };

	if (epoll_ctl(sv_epoll, EPOLL_CTL_ADD, fd, &ev) < 0)
		log_err("supervisor: cannot watch pidfd %d: %m", fd);
}

void supervise_watch_vm(struct kited *kd, struct vm *vm)
{
	bool via_jailer = vm->jailed && vm->jailer.child && vm->jailer.pidfd >= 0;
	const struct kd_proc *p = via_jailer ? &vm->jailer : &vm->proc;

	(void)kd;
	if (p->pidfd < 0)
		return;
	pthread_mutex_lock(&sv_lock);
	for (unsigned i = 0; i < SV_MAX; i++) {
		if (watches[i].pidfd >= 0)
			continue;
		watches[i] = (struct watch){ .pidfd = p->pidfd, .child = p->child, .via_jailer = via_jailer };
		snprintf(watches[i].name, sizeof(watches[i].name), "%s", vm->def.name);
		add_fd(p->pidfd, i);
		pthread_mutex_unlock(&sv_lock);
		return;
	}
	pthread_mutex_unlock(&sv_lock);
	log_err("VM %s: supervisor: more than %d processes to watch", vm->def.name, SV_MAX);
}

void supervise_forget(struct kited *kd, int pidfd)
{
	(void)kd;
	pthread_mutex_lock(&sv_lock);
	for (unsigned i = 0; i < SV_MAX; i++)
		if (watches[i].pidfd == pidfd) {
			epoll_ctl(sv_epoll, EPOLL_CTL_DEL, pidfd, NULL);
			watches[i].pidfd = -1;
		}
	pthread_mutex_unlock(&sv_lock);
}

void supervise_watch_dpu(struct kited *kd, int pidfd)
{
	(void)kd;
	pthread_mutex_lock(&sv_lock);
	if (dpu_pidfd >= 0)
		epoll_ctl(sv_epoll, EPOLL_CTL_DEL, dpu_pidfd, NULL);
	dpu_pidfd = pidfd;
	if (pidfd >= 0)
		add_fd(pidfd, SV_DPU);
	pthread_mutex_unlock(&sv_lock);
}

/* The jailer of an adopted jailed kite ends right after kite (it removes the VM's cgroup). */
static void wait_jailer(struct kd_proc *j)
{
	struct pollfd pfd = { .fd = j->pidfd, .events = POLLIN };

	if (j->pidfd >= 0)
		poll(&pfd, 1, 5000);
}

static void vm_ended_fd(struct kited *kd, struct vm *vm, int pidfd, int status, int sig)
{
	struct kd_proc jailer;
	bool asked, jailed;
	pid_t pid;

	pthread_mutex_lock(&kd->lock);
	if (pidfd >= 0 && vm->proc.pidfd != pidfd && vm->jailer.pidfd != pidfd) {
		pthread_mutex_unlock(&kd->lock);
		return;   /* an earlier process of this VM */
	}
	if (!vm->proc.pid) {
		pthread_mutex_unlock(&kd->lock);
		return;
	}
	pid = vm->proc.pid;
	asked = vm->stop_requested;
	jailed = vm->jailed;
	jailer = vm->jailer;
	if (vm->proc.pidfd >= 0) {
		supervise_forget(kd, vm->proc.pidfd);
		close(vm->proc.pidfd);
	}
	memset(&vm->proc, 0, sizeof(vm->proc));
	memset(&vm->jailer, 0, sizeof(vm->jailer));
	vm->proc.pidfd = vm->jailer.pidfd = -1;
	vm->last_exit_status = sig ? -1 : status;
	vm->last_exit_signal = sig;
	vm->state = VM_STOPPING;   /* until its resources are released */
	pthread_mutex_unlock(&kd->lock);

	if (jailer.pidfd >= 0) {
		supervise_forget(kd, jailer.pidfd);
		if (!jailer.child)
			wait_jailer(&jailer);
		close(jailer.pidfd);
	}
	if (vm->def.disk != DISK_NONE || vm->def.net)
		dpu_vm_release(kd, vm);
	local_vm_release(kd, vm);
	if (jailed)
		spawn_jail_cleanup(kd, vm->def.name);

	pthread_mutex_lock(&kd->lock);
	if (asked || (!sig && status == 0)) {
		vm->state = VM_STOPPED;
		log_info("VM %s: kite %d ended (%s), stopped", vm->def.name, (int)pid, asked ? "asked" : "exit status 0");
	} else {
		vm->state = VM_CRASHED;
		if (sig)
			snprintf(vm->error, sizeof(vm->error), "kite %d was killed by signal %d", (int)pid, sig);
		else if (status > 0)
			snprintf(vm->error, sizeof(vm->error), "kite %d exited with status %d", (int)pid, status);
		else
			snprintf(vm->error, sizeof(vm->error), "kite %d ended (not kited's child: no status)", (int)pid);
		log_warn("VM %s: crashed: %s; its resources are released", vm->def.name, vm->error);
	}
	vm->stop_requested = false;
	vm_save(kd, vm);
	vm_changed();
	pthread_mutex_unlock(&kd->lock);
}

void vm_ended(struct kited *kd, struct vm *vm, int status, int signal)
{
	vm_ended_fd(kd, vm, -1, status, signal);
}

static void on_vm_end(struct kited *kd, struct watch w)
{
	struct pollfd pfd = { .fd = w.pidfd, .events = POLLIN };
	siginfo_t si = { 0 };
	int status = -1, sig = 0;
	struct vm *vm;

	/* a pidfd is readable once its process ended; anything else is no end (watch on) */
	if (poll(&pfd, 1, 0) != 1) {
		pthread_mutex_lock(&sv_lock);
		for (unsigned i = 0; i < SV_MAX; i++)
			if (watches[i].pidfd < 0) {
				watches[i] = w;
				add_fd(w.pidfd, i);
				break;
			}
		pthread_mutex_unlock(&sv_lock);
		return;
	}
	if (w.child && waitid(P_PIDFD, (id_t)w.pidfd, &si, WEXITED | WNOHANG) == 0 && si.si_pid) {
		if (si.si_code == CLD_EXITED)
			status = si.si_status;
		else
			sig = si.si_status;
		if (w.via_jailer && status > 128) {   /* kite-jailer: 128 + kite's signal */
			sig = status - 128;
			status = -1;
		}
	}
	pthread_mutex_lock(&kd->lock);
	vm = vm_find(kd, w.name);
	pthread_mutex_unlock(&kd->lock);
	/* a VM is freed only after its process ended and vm_ended ran (delete waits for it) */
	if (vm)
		vm_ended_fd(kd, vm, w.pidfd, status, sig);
}

static void *supervisor(void *arg)
{
	struct kited *kd = arg;
	struct epoll_event ev[16];

	prctl(PR_SET_NAME, "kd-supervise");
	for (;;) {
		int n = epoll_wait(sv_epoll, ev, 16, -1);

		for (int i = 0; i < n; i++) {
			struct watch w;

			pthread_mutex_lock(&sv_lock);
			if (ev[i].data.u64 == SV_DPU) {
				bool live = dpu_pidfd >= 0;

				if (live)
					epoll_ctl(sv_epoll, EPOLL_CTL_DEL, dpu_pidfd, NULL);
				dpu_pidfd = -1;
				pthread_mutex_unlock(&sv_lock);
				if (live)
					dpu_proc_ended(kd);
				continue;
			}
			w = watches[ev[i].data.u64];
			if (w.pidfd >= 0) {
				epoll_ctl(sv_epoll, EPOLL_CTL_DEL, w.pidfd, NULL);
				watches[ev[i].data.u64].pidfd = -1;
			}
			pthread_mutex_unlock(&sv_lock);
			if (w.pidfd >= 0)
				on_vm_end(kd, w);
		}
		if (n < 0 && errno != EINTR) {
			log_err("supervisor: epoll_wait: %m");
			sleep(1);
		}
	}
	return NULL;
}

int supervise_init(void)
{
	for (unsigned i = 0; i < SV_MAX; i++)
		watches[i].pidfd = -1;
	sv_epoll = epoll_create1(EPOLL_CLOEXEC);
	return sv_epoll < 0 ? -1 : 0;
}

int supervise_start(struct kited *kd)
{
	pthread_t t;

	if (pthread_create(&t, NULL, supervisor, kd) != 0)
		return -1;
	pthread_detach(t);
	return 0;
}
