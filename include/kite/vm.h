/* SPDX-License-Identifier: MIT */
/* The virtual machine: KVM fds, guest RAM, vCPUs, buses, event loop. Owned by vmm/. */
#ifndef KITE_VM_H
#define KITE_VM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "kite/guest_mem.h"

#define KITE_MAX_VCPUS 64

/* Guest physical layout (x86). RAM is [0, min(ram, MMIO_HOLE_START)) and, for larger guests,
 * [4 GiB, 4 GiB + rest). The hole holds PCI MMIO windows, the IOAPIC and the LAPIC. */
#define KITE_MMIO_HOLE_START 0xC0000000ULL
#define KITE_MMIO_HOLE_END   0x100000000ULL
#define KITE_IOAPIC_ADDR     0xFEC00000ULL
#define KITE_LAPIC_ADDR      0xFEE00000ULL

/* Fixed legacy I/O ports. */
#define KITE_COM1_PORT       0x3F8
#define KITE_COM1_IRQ        4
#define KITE_DEBUG_EXIT_PORT 0x501   /* 1-byte write of v: kite exits with status v (QEMU: (v<<1)|1) */
#define KITE_I8042_PORT      0x60    /* 0x60 data, 0x64 command/status; 0xFE on 0x64 resets */
/* ACPI fixed hardware (described in the FADT): PM1a event block (4 bytes) and control block (2 bytes).
 * Reads of PM1a_CNT have SCI_EN set (no SMI_CMD: ACPI is always on). Writing SLP_EN (bit 13) with
 * SLP_TYP (bits 10-12) == KITE_ACPI_S5_TYP powers the VM off (exit status 0). SCI is IRQ 9. */
#define KITE_ACPI_PM1A_EVT   0x600
#define KITE_ACPI_PM1A_CNT   0x604
#define KITE_ACPI_S5_TYP     5
#define KITE_ACPI_SCI_IRQ    9

enum kite_console_mode { KITE_CONSOLE_STDIO = 0, KITE_CONSOLE_FILE, KITE_CONSOLE_NONE };

struct vm_config {
	const char *kvm_path;        /* default /dev/kvm */
	const char *kernel;          /* bzImage or ELF vmlinux */
	const char *initrd;          /* may be NULL */
	const char *cmdline;         /* may be NULL (empty) */
	unsigned ncpus;              /* 1..KITE_MAX_VCPUS */
	uint64_t mem_mib;
	bool hugepages;
	enum kite_console_mode console;
	const char *console_path;    /* KITE_CONSOLE_FILE */
	int pin[KITE_MAX_VCPUS];     /* host CPU for vCPU i, -1 = not pinned */
};

struct iobus;
struct evloop;
struct vcpu;
struct kite_devices;

struct vm {
	const struct vm_config *cfg;
	int kvm_fd;
	int vm_fd;
	int mem_fd;                  /* memfd backing all guest RAM (shareable with vhost-user backends) */
	void *ram;                   /* host mapping of the whole memfd */
	uint64_t ram_size;           /* bytes of RAM (all regions) */
	struct guest_mem mem;        /* RAM regions, gpa -> host pointer (does not own the mapping) */
	unsigned ncpus;
	struct vcpu *vcpus;
	struct iobus *pio;
	struct iobus *mmio;
	struct evloop *loop;
	atomic_bool exiting;
	atomic_int exit_status;
	struct kite_devices *devs;   /* legacy devices (devices/), owned by vm_destroy() */
	uint64_t low_ram;            /* bytes of RAM below KITE_MMIO_HOLE_START */
	uint64_t high_ram;           /* bytes of RAM from 4 GiB up */
};

/* Host pointer for guest range or NULL (bounds checked). */
static inline void *vm_gpa(struct vm *vm, uint64_t gpa, uint64_t len)
{
	return gm_ptr(&vm->mem, gpa, len);
}

/* Lifecycle (vmm/vm.c). vm_create(): open KVM, check the API and capabilities, create the VM, its
 * irqchip, PIT, guest RAM, buses, event loop, devices, then load the kernel and firmware tables and
 * create the vCPUs. vm_run(): start the vCPU threads, run the event loop on the calling thread until
 * vm_request_exit(), join the vCPUs; returns the exit status. vm_destroy(): release everything
 * (safe on a partly created VM). Errors log one line and return -1. */
int vm_create(struct vm *vm, const struct vm_config *cfg);
int vm_run(struct vm *vm);
void vm_destroy(struct vm *vm);
/* Kernel-side fast paths (vmm/vm_eventfd.c). vm_ioeventfd(): guest writes of `len` bytes (1, 2, 4, 8)
 * to `addr` (port I/O if pio, else MMIO) signal eventfd `fd` inside KVM instead of exiting to kite.
 * vm_irqfd(): a write to eventfd `fd` pulses GSI `gsi`. deassign=true removes them. 0 or -1 (logged). */
int vm_ioeventfd(struct vm *vm, uint64_t addr, uint32_t len, bool pio, int fd, bool deassign);
int vm_irqfd(struct vm *vm, unsigned gsi, int fd, bool deassign);
/* Status code kite uses when a signal stopped the VM: 128 + signal number, like a shell. */
#define KITE_EXIT_SIGNAL_BASE 128

/* End the VM with this exit status: stops every vCPU and the event loop. Thread and signal safe;
 * the first request wins. */
void vm_request_exit(struct vm *vm, int status);
/* Drive an interrupt line of the in-kernel irqchip (GSI; ISA IRQs 0-15 are GSIs 0-15). */
int vm_set_irq_line(struct vm *vm, unsigned gsi, int level);

#endif
