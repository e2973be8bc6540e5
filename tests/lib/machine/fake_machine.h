/* SPDX-License-Identifier: MIT */
/*
 * A machine (kite/machine.h) for unit tests, without KVM: real buses, event loop and guest memory
 * (ram_size bytes of zeroed RAM at GPA 0, 0 = none), and services that only record what devices ask
 * for: interrupt line levels, exit requests, ioeventfds, irqfds and MSI routes. Single-threaded use.
 */
#ifndef KITE_TEST_FAKE_MACHINE_H
#define KITE_TEST_FAKE_MACHINE_H

#include <stdbool.h>
#include <stdint.h>

#include "kite/machine.h"

#define FAKE_MAX_GSI     128
#define FAKE_MAX_DOORBELLS 32
#define FAKE_MSI_GSI_BASE 64

struct fake_machine {
	struct machine m;
	struct guest_mem mem;
	void *ram;
	int irq_level[FAKE_MAX_GSI];
	unsigned irq_changes;                 /* set_irq_line calls */
	unsigned exit_requests;
	int exit_status;                      /* of the first request, -1 before */
	struct machine_ioeventfd doorbell[FAKE_MAX_DOORBELLS];
	unsigned ndoorbells;                  /* registered now */
	bool refuse_ioeventfd;                /* answer -1, as a host without ioeventfds would */
	int irqfd[FAKE_MAX_GSI];              /* fd bound to each GSI, -1 = none */
	unsigned next_gsi;
	struct { uint64_t addr; uint32_t data; bool valid; } msi[FAKE_MAX_GSI];
	unsigned msi_updates;
};

/* Set up f; aborts the test on failure. */
void fake_machine_init(struct fake_machine *f, uint64_t ram_size);
void fake_machine_fini(struct fake_machine *f);
/* The doorbell registered at addr (and, with datamatch, for value), or NULL. */
const struct machine_ioeventfd *fake_machine_doorbell(const struct fake_machine *f, uint64_t addr, uint64_t value);

#endif
