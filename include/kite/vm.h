/* SPDX-License-Identifier: MIT */
/*
 * The virtual machine: KVM fds, guest RAM, vCPUs, buses, event loop, and the board of devices.
 * Owned by vmm/; device models never see it (they get the struct machine inside, kite/machine.h).
 */
#ifndef KITE_VM_H
#define KITE_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "kite/guest_mem.h"
#include "kite/machine.h"
#include "kite/platform.h"
#include "kite/virtio_options.h"

#define KITE_MAX_VCPUS 64

enum kite_console_mode { KITE_CONSOLE_STDIO = 0, KITE_CONSOLE_FILE, KITE_CONSOLE_NONE, KITE_CONSOLE_SOCKET };

struct vm_config {
	const char *kvm_path;        /* default /dev/kvm */
	const char *kernel;          /* bzImage or ELF vmlinux */
	const char *initrd;          /* may be NULL */
	const char *cmdline;         /* the user's part of the kernel command line; may be NULL (empty) */
	unsigned ncpus;              /* 1..KITE_MAX_VCPUS */
	uint64_t mem_mib;
	bool hugepages;              /* --hugepages: hugetlb pages required */
	bool no_hugepages;           /* --hugepages=off: never (default: when enough are reserved) */
	bool shared_memory;          /* --shared-memory: RAM in the shared memfd even with no vhost-user device */
	enum kite_console_mode console;
	const char *console_path;    /* KITE_CONSOLE_FILE, KITE_CONSOLE_SOCKET */
	int pin[KITE_MAX_VCPUS];     /* host CPU for vCPU i, -1 = not pinned */
	bool track_dirty;            /* KVM dirty log on the RAM slots (Diff snapshots, vmm/snapshot.c) */
	int pin_io[KITE_MAX_VCPUS];  /* host CPU for I/O thread i: pin_io[i % npin_io] */
	unsigned npin_io;            /* 0 = I/O threads not pinned */
	bool no_iothreads;           /* --iothreads off: every device on the main event loop */
	struct virtio_options virtio;   /* virtio devices (owned; vm_config_free releases them) */
};

/* Release what the config owns (the virtio device options; vmm/config.c). */
void vm_config_free(struct vm_config *cfg);

struct iobus;
struct evloop;
struct vcpu;
struct kvm_irq;
struct board;
struct iothread;

#define KITE_MAX_IOTHREADS 64

struct vm {
	const struct vm_config *cfg;
	int kvm_fd;
	int vm_fd;
	int mem_fd;                  /* memfd of guest RAM when it must be shared (vhost-user devices)
				      * or is on hugetlb pages, else -1: anonymous with THP (vmm/vm.c) */
	void *ram;                   /* host mapping of the whole memfd */
	uint64_t ram_size;           /* bytes of RAM (all regions) */
	struct guest_mem mem;        /* RAM regions, gpa -> host pointer (does not own the mapping) */
	unsigned ncpus;
	struct vcpu *vcpus;
	struct iobus *pio;
	struct iobus *mmio;
	struct evloop *loop;
	struct machine machine;      /* what devices see: the buses, memory, loop and the services below */
	struct kvm_irq *irq;         /* doorbells, interrupt lines, GSI routing (vmm/kvm_irq.c) */
	struct board *board;         /* every device, created in vm_create() (vmm/board.c) */
	/* I/O threads, one per virtio-blk / virtio-net device (machine_iothread), in creation order;
	 * started by vm_start, stopped before the board is destroyed (vmm/vm.c) */
	struct iothread *iothreads[KITE_MAX_IOTHREADS];
	unsigned niothreads;
	bool io_paused;              /* vm_pause_io(vm, true) in effect */
	char ram_notice[192];        /* which memory guest RAM is on: logged by vm_start */
	const char *cmdline;         /* the guest's kernel command line, built by the board */
	atomic_bool exiting;
	atomic_int exit_status;
	uint64_t low_ram;            /* bytes of RAM below KITE_MMIO_HOLE_START */
	uint64_t high_ram;           /* bytes of RAM from 4 GiB up */
	/* pause (vmm/vcpu.c): pause_req asks every vCPU to park; parked counts those waiting on
	 * pause_cond under pause_lock */
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond;
	atomic_bool pause_req;
	unsigned parked;
	uint64_t kvmclock_ctrl_fails;
	/* snapshots (vmm/snapshot.c): RAM mapped MAP_PRIVATE from a memory file (restored, not shared),
	 * and the pages kite's own devices may have written since the last snapshot (with track_dirty;
	 * one bit per 4 KiB page of ram, set by the machine's gpa accessor) */
	bool ram_from_file;
	uint64_t ram_file_dev, ram_file_ino;   /* that file (a snapshot may not overwrite it) */
	uint64_t *vmm_dirty;
};

/* Guest RAM of a VM built from a snapshot (vm_create_restored): the memory file, open for reading,
 * exactly ram_size bytes (checked by the caller). */
struct vm_ram_file {
	const char *path;
	int fd;
};

/* Host pointer for guest range or NULL (bounds checked). */
static inline void *vm_gpa(struct vm *vm, uint64_t gpa, uint64_t len)
{
	return gm_ptr(&vm->mem, gpa, len);
}

/* Lifecycle (vmm/vm.c). vm_create(): open KVM, check the API and capabilities, create the VM, its
 * irqchip, PIT and GSI routing, guest RAM, buses, event loop, the board (every device and the guest
 * command line), then load the kernel and firmware tables and create the vCPUs. vm_run(): start the vCPU threads, run the event loop on the calling thread until
 * vm_request_exit(), join the vCPUs; returns the exit status. vm_destroy(): release everything
 * (safe on a partly created VM). Errors log one line and return -1. */
int vm_create(struct vm *vm, const struct vm_config *cfg);
/* The same VM without a kernel, for a snapshot's state: guest RAM is the memory file mapped
 * MAP_PRIVATE (pages read lazily, on first touch; guest writes stay in this process), or copied into
 * the shared memfd when vhost-user devices or --hugepages need one (logged). The vCPUs exist with
 * their CPUID; the caller then sets their state (vmm/snapshot.c). -1 logged, VM destroyed. */
int vm_create_restored(struct vm *vm, const struct vm_config *cfg, const struct vm_ram_file *rf);
int vm_run(struct vm *vm);
void vm_destroy(struct vm *vm);
/* The parts of vm_run() for an owner with its own loop (vmm/control_run.c): vm_start() starts the
 * I/O threads and the vCPU threads (the caller blocks SIGINT/SIGTERM first and serves vm->loop), vm_finish() kicks and
 * joins them after the loop ended and returns the exit status. */
int vm_start(struct vm *vm);
int vm_finish(struct vm *vm);
/* Pause: every vCPU leaves KVM_RUN (kick), tells KVM its clock stopped (KVM_KVMCLOCK_CTRL, as
 * Firecracker does) and waits; returns once all are parked (or the VM is exiting). Resume lets
 * them run on. Owner thread; idempotent. (Device work is the owner's: it stops serving vm->loop.) */
void vm_pause(struct vm *vm);
void vm_resume(struct vm *vm);
/* Park (pause=true) or restart every I/O thread: returns once none runs a device callback. Owner
 * thread; idempotent. With vm_pause, this is what quiesces the VM's devices (the owner also stops
 * serving vm->loop). */
void vm_pause_io(struct vm *vm, bool pause);
/* kite --stats: a line per I/O thread, "kite: stats: io:NAME: poll=off|adaptive|Nus poll_windows=N ..."
 * (kite/poll_window.h), on stderr. Owner thread, while the I/O threads run or after they stopped. */
void vm_print_iothread_stats(struct vm *vm);
/* kite --stats: a line per queue pair of each virtio-net on a TAP, "kite: stats: net:virtio-net0: pair=K
 * rx_packets_count=N rx_bytes_count=N tx_packets_count=N tx_bytes_count=N tx_fails=N rx_fails=N" (the
 * names of GET /metrics), on stderr. Owner thread, after vm_run (the board still exists). */
void vm_print_net_stats(struct vm *vm);
/* kite --stats: each virtio-blk image device's counters (requests, inline reads and writes), on stderr. */
void vm_print_blk_stats(struct vm *vm);
/* Status code kite uses when a signal stopped the VM: 128 + signal number, like a shell. */
#define KITE_EXIT_SIGNAL_BASE 128

/* End the VM with this exit status: stops every vCPU (parked ones too) and the event loop. Any
 * thread (not a signal handler: it takes the pause lock); the first request wins. */
void vm_request_exit(struct vm *vm, int status);

#endif
