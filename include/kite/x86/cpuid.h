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

#endif
