/* SPDX-License-Identifier: MIT */
/* Per-vCPU CPUID: KVM's supported table fixed up for topology, APIC id and TSC frequency. */
#ifndef KITE_X86_CPUID_H
#define KITE_X86_CPUID_H

#include <stdint.h>

struct kvm_cpuid2;

#define X86_CPUID_MAX_ENTRIES 256
#define X86_LAPIC_BUS_KHZ     1000000U   /* KVM's APIC timer runs at 1 GHz */

/* Fix up c (at most cap entries) for vCPU index of ncpus (APIC id = index; one thread per core,
 * ncpus cores in one socket), set the hypervisor bit and, if tsc_khz != 0, the TSC frequency leaves
 * 0x40000010 (and 0x15/0x16 when the basic range reaches them). Returns 0 or -1 if cap is too small. */
int x86_cpuid_fixup(struct kvm_cpuid2 *c, unsigned cap, unsigned index, unsigned ncpus, uint32_t tsc_khz);
/* Advertise the LAPIC TSC-deadline timer (leaf 1 ECX bit 24). KVM emulates it whenever
 * KVM_CAP_TSC_DEADLINE_TIMER is present but never lists it in KVM_GET_SUPPORTED_CPUID: the VMM sets
 * it. Without it Linux calibrates the LAPIC timer against the PIT, which fails under heavy nesting. */
void x86_cpuid_set_tsc_deadline(struct kvm_cpuid2 *c);

/* KVM paravirtual leaves (0x40000000 "KVMKVMKVM", 0x40000001 features in EAX, hints in EDX) as
 * KVM_GET_SUPPORTED_CPUID reported them: every PV feature KVM implements in the kernel is kept
 * (kvmclock, steal time, PV EOI, PV unhalt, PV TLB flush, PV IPI, PV sched yield, async PF, poll
 * control, the stable-clock bit); the ones that need a VMM behind them that kite does not have are
 * cleared: MSI extended destination ID (needs a split irqchip; kite's IOAPIC is KVM's), the
 * MAP_GPA_RANGE hypercall (needs KVM_EXIT_HYPERCALL handling) and migration control. The hints are
 * cleared (no "dedicated CPUs" promise). Returns the features left, 0 if KVM reported no KVM leaves
 * (the guest then sees no KVM PV interface). */
uint32_t x86_cpuid_kvm_pv(struct kvm_cpuid2 *c);

#endif
