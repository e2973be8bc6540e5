/* SPDX-License-Identifier: MIT */
/*
 * Interrupt routing that matches the MP table and the MADT: ISA IRQ n -> 8259 pin n and IOAPIC
 * pin n, except IRQ0 (the PIT) -> IOAPIC pin 2 (KVM's default routing would use pin 0), and GSI 2
 * (the 8259 cascade) has no IOAPIC route. GSIs 16-23 go to IOAPIC pins 16-23.
 * KVM_SET_GSI_ROUTING replaces the whole table, so one owner keeps it (vmm/kvm_irq.c): it starts
 * from x86_build_irq_routing() and appends the MSI routes.
 */
#ifndef KITE_X86_IRQ_H
#define KITE_X86_IRQ_H

#include <stddef.h>

struct kvm_irq_routing_entry;

#define X86_IRQ_ROUTES 39   /* 16 8259 routes + 23 IOAPIC routes */

/* Fill at most cap entries; returns how many or 0 if cap is too small. */
size_t x86_build_irq_routing(struct kvm_irq_routing_entry *e, size_t cap);

#endif
