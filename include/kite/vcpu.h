/* SPDX-License-Identifier: MIT */
/*
 * vCPUs of a VM (vmm/vcpu.c): one host thread each running KVM_RUN, exits dispatched to the VM's
 * port I/O and MMIO buses. Also the KVM binary statistics (KVM_GET_STATS_FD) of a vCPU, e.g.
 * "exits" and "insn_emulation" (the second shows whether a guest ran natively on kvm-pvm hosts).
 */
#ifndef KITE_VCPU_H
#define KITE_VCPU_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct kvm_run;

/* One vCPU's statistics file: open once, read any counter by name. */
struct vcpu_stats {
	int fd;                 /* -1 when not available */
	uint32_t num_desc;
	size_t desc_size;       /* bytes per descriptor including the name */
	uint64_t data_offset;
	void *descs;
};

struct vcpu {
	struct vm *vm;
	unsigned index;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	bool started;           /* thread created (must be joined) */
	struct vcpu_stats stats;
};

/* Open the statistics of a vCPU fd. Returns 0, or -1 (logged) if the kernel has no stats fd. */
int vcpu_stats_open(struct vcpu_stats *st, int vcpu_fd);
/* First value of counter `name`. Returns 0, or -1 if there is no such counter. */
int vcpu_stats_get(const struct vcpu_stats *st, const char *name, uint64_t *value);
void vcpu_stats_close(struct vcpu_stats *st);
/* Counter `name` of vCPU `index` of a VM. Returns 0 or -1. */
int vm_vcpu_stat(struct vm *vm, unsigned index, const char *name, uint64_t *value);
/* Print "vcpuN: exits=... insn_emulation=... ..." for every vCPU on stderr. */
void vm_print_vcpu_stats(struct vm *vm);

/* Used by vm.c. vcpus_create(): KVM_CREATE_VCPU, kvm_run mapping, x86_setup_vcpu() for each vCPU.
 * vcpus_start(): spawn threads (pinned per cfg->pin). vcpus_kick(): force every vCPU out of KVM_RUN.
 * vcpus_join()/vcpus_destroy(): wait for the threads, close fds. */
int vcpus_create(struct vm *vm);
int vcpus_start(struct vm *vm);
void vcpus_kick(struct vm *vm);
void vcpus_join(struct vm *vm);
void vcpus_destroy(struct vm *vm);

#endif
