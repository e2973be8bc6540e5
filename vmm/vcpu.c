/* SPDX-License-Identifier: MIT */
/*
 * vCPU threads. Each thread loops on KVM_RUN and hands port I/O and MMIO exits to the VM's buses.
 * To stop, vcpus_kick() sets kvm_run.immediate_exit and sends KITE_KICK_SIGNAL to the thread: a vCPU
 * inside KVM_RUN returns with EINTR, one about to enter returns at once; the loop then sees
 * vm->exiting and ends. Pause works the same way: the kicked vCPU sees vm->pause_req, calls
 * KVM_KVMCLOCK_CTRL (the guest's watchdogs then ignore the stopped time, as with Firecracker) and
 * parks on vm->pause_cond until vm_resume() or the VM's exit; immediate_exit is cleared before the
 * next KVM_RUN, and before `exiting`/`pause_req` are read again, so no kick is lost.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kite/boot.h"
#include "kite/guest_mem.h"
#include "kite/iobus.h"
#include "kite/log.h"
#include "kite/seccomp.h"
#include "kite/vcpu.h"
#include "kite/vm.h"

#define KITE_KICK_SIGNAL SIGUSR1

static void kick_handler(int sig)
{
	(void)sig;
}

/* Up to 15 instruction bytes at the guest's CS:RIP as hex ("?" when RIP does not map to RAM). */
static void vcpu_insn_bytes(struct vcpu *vcpu, const struct kvm_regs *regs, const struct kvm_sregs *sregs,
			    char *out, size_t len)
{
	struct kvm_translation tr;
	uint64_t linear = sregs->cs.base + regs->rip;
	const uint8_t *p = NULL;
	size_t n = 15, pos = 0;

	if (!(sregs->efer & (1ULL << 10)))   /* not in long mode: 32-bit linear addresses */
		linear &= 0xffffffffULL;
	memset(&tr, 0, sizeof(tr));
	tr.linear_address = linear;
	if (ioctl(vcpu->fd, KVM_TRANSLATE, &tr) == 0 && tr.valid) {
		/* Stay inside the page: the next one may map elsewhere. */
		uint64_t room = 4096 - (tr.physical_address & 4095);

		if (room < n)
			n = (size_t)room;
		p = gm_ptr(&vcpu->vm->mem, tr.physical_address, n);
	}
	if (!p) {
		snprintf(out, len, "?");
		return;
	}
	out[0] = '\0';
	for (size_t i = 0; i < n && pos + 4 < len; i++)
		pos += (size_t)snprintf(out + pos, len - pos, "%s%02x", i ? " " : "", p[i]);
}

static void vcpu_log_regs(struct vcpu *vcpu, const char *what)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	char insn[64];

	if (ioctl(vcpu->fd, KVM_GET_REGS, &regs) < 0 || ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0) {
		log_err("vcpu%u: %s (registers unreadable: %m)", vcpu->index, what);
		return;
	}
	vcpu_insn_bytes(vcpu, &regs, &sregs, insn, sizeof(insn));
	log_err("vcpu%u: %s: rip=0x%llx rsp=0x%llx rflags=0x%llx rax=0x%llx cs=0x%x cr0=0x%llx "
		"cr3=0x%llx cr4=0x%llx efer=0x%llx insn=[%s]", vcpu->index, what, regs.rip, regs.rsp,
		regs.rflags, regs.rax, sregs.cs.selector, sregs.cr0, sregs.cr3, sregs.cr4, sregs.efer, insn);
}

static int vcpu_handle_io(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint32_t size = run->io.size, count = run->io.count;
	uint64_t off = run->io.data_offset;
	bool is_write = run->io.direction == KVM_EXIT_IO_OUT;
	uint8_t *data;

	if ((size != 1 && size != 2 && size != 4) || count == 0 || off > vcpu->run_size ||
	    (uint64_t)size * count > vcpu->run_size - off) {
		log_err("vcpu%u: malformed I/O exit (port 0x%x size %u count %u offset %llu)", vcpu->index,
			run->io.port, size, count, (unsigned long long)off);
		return -1;
	}
	data = (uint8_t *)run + off;
	for (uint32_t i = 0; i < count; i++)
		iobus_access(vcpu->vm->pio, run->io.port, data + (size_t)i * size, size, is_write);
	return 0;
}

static int vcpu_handle_mmio(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;

	if (run->mmio.len == 0 || run->mmio.len > sizeof(run->mmio.data)) {
		log_err("vcpu%u: malformed MMIO exit (address 0x%llx length %u)", vcpu->index,
			run->mmio.phys_addr, run->mmio.len);
		return -1;
	}
	iobus_access(vcpu->vm->mmio, run->mmio.phys_addr, run->mmio.data, run->mmio.len, run->mmio.is_write);
	return 0;
}

static void vcpu_system_event(struct vcpu *vcpu)
{
	switch (vcpu->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		log_info("vcpu%u: guest shut down", vcpu->index);
		vm_request_exit(vcpu->vm, 0);
		break;
	case KVM_SYSTEM_EVENT_RESET:
		log_info("vcpu%u: guest reset, ending the VM", vcpu->index);
		vm_request_exit(vcpu->vm, 0);
		break;
	case KVM_SYSTEM_EVENT_CRASH:
		vcpu_log_regs(vcpu, "guest crashed");
		vm_request_exit(vcpu->vm, 1);
		break;
	default:
		log_warn_rl("vcpu%u: ignoring system event %u", vcpu->index, vcpu->run->system_event.type);
		break;
	}
}

/* Returns 0 to go on running, -1 when the vCPU must stop (the VM exit is already requested). */
static int vcpu_handle_exit(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	char what[160];

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		if (vcpu_handle_io(vcpu) < 0)
			goto fatal;
		return 0;
	case KVM_EXIT_MMIO:
		if (vcpu_handle_mmio(vcpu) < 0)
			goto fatal;
		return 0;
	case KVM_EXIT_INTR:
		return 0;
	case KVM_EXIT_HLT:
		/* Only without an in-kernel LAPIC; nothing can wake it then. */
		log_info("vcpu%u: halted with interrupts off, ending the VM", vcpu->index);
		vm_request_exit(vcpu->vm, 0);
		return -1;
	case KVM_EXIT_SHUTDOWN:
		log_info("vcpu%u: triple fault (guest reset), ending the VM", vcpu->index);
		vm_request_exit(vcpu->vm, 0);
		return -1;
	case KVM_EXIT_SYSTEM_EVENT:
		vcpu_system_event(vcpu);
		return -1;
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(what, sizeof(what), "VM entry failed (hardware reason 0x%llx)",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		vcpu_log_regs(vcpu, what);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		snprintf(what, sizeof(what), "KVM internal error (suberror %u%s, data[0]=0x%llx of %u)",
			 run->internal.suberror,
			 run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ? ": instruction emulation failed" : "",
			 run->internal.ndata ? (unsigned long long)run->internal.data[0] : 0ULL,
			 run->internal.ndata);
		vcpu_log_regs(vcpu, what);
		break;
	default:
		snprintf(what, sizeof(what), "unhandled exit reason %u", run->exit_reason);
		vcpu_log_regs(vcpu, what);
		break;
	}
fatal:
	vm_request_exit(vcpu->vm, 1);
	return -1;
}

/* Park until resumed or exiting (vCPU thread). */
static void vcpu_park(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;

	/* An I/O or MMIO read the guest waits for completes on the next KVM_RUN: do that now, without
	 * entering the guest (immediate_exit is set), so its result is in the registers a snapshot of
	 * the paused VM saves (KVM's documented way). EINTR is the expected answer. */
	vcpu->run->immediate_exit = 1;
	(void)ioctl(vcpu->fd, KVM_RUN, 0);
	/* EINVAL: the guest has not enabled kvmclock; nothing to tell it then. */
	if (ioctl(vcpu->fd, KVM_KVMCLOCK_CTRL, 0) < 0 && errno != EINVAL)
		__atomic_add_fetch(&vm->kvmclock_ctrl_fails, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&vm->pause_lock);
	vm->parked++;
	pthread_cond_broadcast(&vm->pause_cond);
	while (atomic_load(&vm->pause_req) && !atomic_load(&vm->exiting))
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	vm->parked--;
	pthread_mutex_unlock(&vm->pause_lock);
	vcpu->run->immediate_exit = 0;
}

void vm_pause(struct vm *vm)
{
	unsigned started = 0;

	if (!vm->vcpus)
		return;
	for (unsigned i = 0; i < vm->ncpus; i++)
		started += __atomic_load_n(&vm->vcpus[i].started, __ATOMIC_ACQUIRE);
	atomic_store(&vm->pause_req, true);
	vcpus_kick(vm);
	pthread_mutex_lock(&vm->pause_lock);
	while (vm->parked < started && !atomic_load(&vm->exiting))
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	pthread_mutex_unlock(&vm->pause_lock);
}

void vm_resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	atomic_store(&vm->pause_req, false);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	struct vm *vm = vcpu->vm;
	sigset_t kick;
	char name[16];

	snprintf(name, sizeof(name), "kite-vcpu%u", vcpu->index);
	pthread_setname_np(pthread_self(), name);
	sigemptyset(&kick);
	sigaddset(&kick, KITE_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
	if (seccomp_enter("vcpu") < 0) {   /* before the guest's first instruction */
		vm_request_exit(vm, 1);
		return NULL;
	}

	while (!atomic_load(&vm->exiting)) {
		if (atomic_load(&vm->pause_req)) {
			vcpu_park(vcpu);
			continue;
		}
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			char what[96];

			if (errno == EINTR || errno == EAGAIN)
				continue;
			snprintf(what, sizeof(what), "KVM_RUN failed: %s", strerror(errno));
			vcpu_log_regs(vcpu, what);
			vm_request_exit(vm, 1);
			break;
		}
		if (vcpu_handle_exit(vcpu) < 0)
			break;
	}
	if (kite_log_level() >= KITE_LOG_DEBUG) {
		struct kvm_regs regs;

		/* Where the guest was when it stopped: useful to see how far a slow boot got. */
		if (ioctl(vcpu->fd, KVM_GET_REGS, &regs) == 0)
			log_debug("vcpu%u: stopped at rip=0x%llx rsp=0x%llx", vcpu->index, regs.rip, regs.rsp);
	}
	return NULL;
}

int vcpus_create(struct vm *vm)
{
	int mmap_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);

	if (mmap_size < (int)sizeof(struct kvm_run)) {
		log_err("vm: KVM_GET_VCPU_MMAP_SIZE failed: %m");
		return -1;
	}
	vm->vcpus = calloc(vm->ncpus, sizeof(*vm->vcpus));
	if (!vm->vcpus) {
		log_err("vm: allocating %u vCPUs failed", vm->ncpus);
		return -1;
	}
	for (unsigned i = 0; i < vm->ncpus; i++) {
		vm->vcpus[i].fd = -1;
		vm->vcpus[i].stats.fd = -1;
	}
	for (unsigned i = 0; i < vm->ncpus; i++) {
		struct vcpu *vcpu = &vm->vcpus[i];
		void *run;

		vcpu->vm = vm;
		vcpu->index = i;
		vcpu->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)i);
		if (vcpu->fd < 0) {
			log_err("vcpu%u: KVM_CREATE_VCPU failed: %m", i);
			return -1;
		}
		run = mmap(NULL, (size_t)mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
		if (run == MAP_FAILED) {
			log_err("vcpu%u: mapping kvm_run failed: %m", i);
			return -1;
		}
		vcpu->run = run;
		vcpu->run_size = (size_t)mmap_size;
		if (x86_setup_vcpu(vm, vcpu->fd, i) < 0)
			return -1;
		vcpu_stats_open(&vcpu->stats, vcpu->fd);
	}
	return 0;
}

int vcpus_start(struct vm *vm)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: KVM_RUN must return EINTR. */
	if (sigaction(KITE_KICK_SIGNAL, &sa, NULL) < 0) {
		log_err("vm: installing the vCPU kick signal handler failed: %m");
		return -1;
	}
	for (unsigned i = 0; i < vm->ncpus; i++) {
		struct vcpu *vcpu = &vm->vcpus[i];
		pthread_attr_t attr;
		int err;

		pthread_attr_init(&attr);
		if (vm->cfg->pin[i] >= 0) {
			cpu_set_t set;

			CPU_ZERO(&set);
			CPU_SET(vm->cfg->pin[i], &set);
			pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
		}
		err = pthread_create(&vcpu->thread, &attr, vcpu_thread, vcpu);
		pthread_attr_destroy(&attr);
		if (err) {
			log_err("vcpu%u: starting its thread failed: %s", i, strerror(err));
			return -1;
		}
		/* Release: a kicker that sees started also sees vcpu->thread. */
		__atomic_store_n(&vcpu->started, true, __ATOMIC_RELEASE);
	}
	return 0;
}

void vcpus_kick(struct vm *vm)
{
	if (!vm->vcpus)
		return;
	for (unsigned i = 0; i < vm->ncpus; i++) {
		struct vcpu *vcpu = &vm->vcpus[i];

		if (vcpu->run)
			vcpu->run->immediate_exit = 1;
		if (__atomic_load_n(&vcpu->started, __ATOMIC_ACQUIRE) &&
		    !pthread_equal(vcpu->thread, pthread_self()))
			pthread_kill(vcpu->thread, KITE_KICK_SIGNAL);
	}
}

void vcpus_join(struct vm *vm)
{
	if (!vm->vcpus)
		return;
	for (unsigned i = 0; i < vm->ncpus; i++) {
		struct vcpu *vcpu = &vm->vcpus[i];

		if (!vcpu->started)
			continue;
		pthread_join(vcpu->thread, NULL);
		vcpu->started = false;
	}
}

void vcpus_destroy(struct vm *vm)
{
	if (!vm->vcpus)
		return;
	atomic_store(&vm->exiting, true);
	vcpus_kick(vm);
	vcpus_join(vm);
	for (unsigned i = 0; i < vm->ncpus; i++) {
		struct vcpu *vcpu = &vm->vcpus[i];

		vcpu_stats_close(&vcpu->stats);
		if (vcpu->run)
			munmap(vcpu->run, vcpu->run_size);
		if (vcpu->fd >= 0)
			close(vcpu->fd);
	}
	free(vm->vcpus);
	vm->vcpus = NULL;
}
