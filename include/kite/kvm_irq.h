/* SPDX-License-Identifier: MIT */
/*
 * The one owner of KVM's doorbells and interrupts (vmm/kvm_irq.c): ioeventfds, irqfds, interrupt
 * lines and the whole GSI routing table (the legacy routes of kite/x86/irq.h plus one MSI route per
 * allocated GSI). vmm/vm.c exposes these to devices as the machine services of kite/machine.h.
 *
 * Threads: every function may be called from any thread; the routing table is under one lock.
 * Errors: 0 or -1 with one log line (kvm_irq_gsi_alloc: the GSI or -1).
 */
#ifndef KITE_VMM_KVM_IRQ_H
#define KITE_VMM_KVM_IRQ_H

#include <stdbool.h>
#include <stdint.h>

#include "kite/machine.h"

struct kvm_irq;

/* Take over the routing of VM `vm_fd` (not owned) and install the legacy routes. NULL on error. */
struct kvm_irq *kvm_irq_new(int vm_fd);
void kvm_irq_free(struct kvm_irq *k);

int kvm_irq_line(struct kvm_irq *k, unsigned gsi, int level);
int kvm_irq_ioeventfd(struct kvm_irq *k, const struct machine_ioeventfd *io, bool deassign);
int kvm_irq_irqfd(struct kvm_irq *k, unsigned gsi, int fd, bool deassign);
int kvm_irq_gsi_alloc(struct kvm_irq *k);
int kvm_irq_msi_route(struct kvm_irq *k, unsigned gsi, uint64_t addr, uint32_t data, bool valid);

#endif
