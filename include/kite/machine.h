/* SPDX-License-Identifier: MIT */
/*
 * The machine as a device model sees it: the two buses it registers on, guest memory, the event
 * loop, and the few services of the VMM behind `ops` (vmm/vm.c fills them in from vmm/kvm_irq.c;
 * unit tests pass tests/lib/fake_machine.c). devices/, pci/ and virtio/ include this header and
 * never kite/vm.h.
 *
 * Contract of the services (every wrapper below):
 *  - callable from any thread (vCPU threads in bus handlers, the event loop, the main thread while
 *    the board is built); the machine serialises what needs it, callers hold no machine lock;
 *  - return 0 on success, -1 on failure with one log line naming the GSI, address or fd
 *    (machine_gsi_alloc returns the GSI or -1); machine_request_exit returns nothing;
 *  - a service the machine does not offer (ops member NULL) fails with -1 and no log line, so a
 *    device can fall back (kicks through the bus, INTx instead of MSI-X).
 */
#ifndef KITE_MACHINE_H
#define KITE_MACHINE_H

#include <stdbool.h>
#include <stdint.h>

#include "kite/guest_mem.h"

struct iobus;
struct evloop;
struct iothread;

/* A guest write that signals an eventfd inside the hypervisor instead of reaching a bus handler. */
struct machine_ioeventfd {
	uint64_t addr;
	uint32_t len;                 /* 1, 2, 4, 8; 0 = any access size (MMIO only) */
	bool pio;                     /* port I/O, else MMIO */
	bool datamatch;               /* only writes of exactly `value` */
	uint64_t value;
	int fd;
};

struct machine_ops {
	/* Drive interrupt line `gsi` (ISA IRQs 0-15 are GSIs 0-15; PCI INTx are 16-23). */
	int (*set_irq_line)(void *opaque, unsigned gsi, int level);
	/* End the VM with exit status `status`; the first request wins. Any thread. */
	void (*request_exit)(void *opaque, int status);
	/* Register (deassign=false) or remove a doorbell. */
	int (*ioeventfd)(void *opaque, const struct machine_ioeventfd *io, bool deassign);
	/* A write to eventfd `fd` pulses `gsi`. */
	int (*irqfd)(void *opaque, unsigned gsi, int fd, bool deassign);
	/* A GSI of its own for an MSI source (never one of the legacy lines). */
	int (*gsi_alloc)(void *opaque);
	/* Route `gsi` to the MSI message (addr, data), installed before this returns; valid=false
	 * removes the route (interrupts on the GSI then go nowhere). */
	int (*msi_route)(void *opaque, unsigned gsi, uint64_t addr, uint32_t data, bool valid);
	/* An I/O thread of the machine for one device's data path (kite/iothread.h), named after it;
	 * the machine starts it with the VM, pins it, pauses it with the VM and stops it before the
	 * devices are destroyed. The device may pause/resume it itself (around an image swap). NULL
	 * (no log line) when the machine gives none (--iothreads off): use m->loop. Main thread, while
	 * the board is built. */
	struct iothread *(*iothread)(void *opaque, const char *name);
};

struct machine {
	struct iobus *pio;            /* port I/O bus (vCPU threads dispatch on it) */
	struct iobus *mmio;           /* MMIO bus */
	struct evloop *loop;          /* the VM's event loop thread */
	struct guest_mem *mem;        /* guest RAM, gpa -> host pointer */
	uint64_t ram_size;            /* bytes of guest RAM */
	const struct machine_ops *ops;
	void *opaque;                 /* first argument of every op */
};

/* Host pointer for [gpa, gpa + len) of guest RAM, or NULL (bounds checked). */
static inline void *machine_gpa(const struct machine *m, uint64_t gpa, uint64_t len)
{
	return gm_ptr(m->mem, gpa, len);
}

static inline int machine_set_irq_line(const struct machine *m, unsigned gsi, int level)
{
	return m->ops && m->ops->set_irq_line ? m->ops->set_irq_line(m->opaque, gsi, level) : -1;
}

static inline void machine_request_exit(const struct machine *m, int status)
{
	if (m->ops && m->ops->request_exit)
		m->ops->request_exit(m->opaque, status);
}

static inline int machine_ioeventfd(const struct machine *m, const struct machine_ioeventfd *io, bool deassign)
{
	return m->ops && m->ops->ioeventfd ? m->ops->ioeventfd(m->opaque, io, deassign) : -1;
}

static inline int machine_irqfd(const struct machine *m, unsigned gsi, int fd, bool deassign)
{
	return m->ops && m->ops->irqfd ? m->ops->irqfd(m->opaque, gsi, fd, deassign) : -1;
}

static inline int machine_gsi_alloc(const struct machine *m)
{
	return m->ops && m->ops->gsi_alloc ? m->ops->gsi_alloc(m->opaque) : -1;
}

static inline int machine_msi_route(const struct machine *m, unsigned gsi, uint64_t addr, uint32_t data,
				    bool valid)
{
	return m->ops && m->ops->msi_route ? m->ops->msi_route(m->opaque, gsi, addr, data, valid) : -1;
}

static inline struct iothread *machine_iothread(const struct machine *m, const char *name)
{
	return m->ops && m->ops->iothread ? m->ops->iothread(m->opaque, name) : NULL;
}

/* A one-shot event a device raises towards its owner instead of ending the VM itself (reset
 * line, power button); the owner decides what it means. fire may be NULL (event ignored). */
struct machine_event {
	void (*fire)(void *opaque);
	void *opaque;
};

static inline void machine_event_fire(const struct machine_event *e)
{
	if (e && e->fire)
		e->fire(e->opaque);
}

#endif
