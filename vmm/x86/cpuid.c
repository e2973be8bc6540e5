/* SPDX-License-Identifier: MIT */
/*
 * CPUID fix-ups per vCPU (pure: no KVM calls, unit-tested). Topology: one thread per core, ncpus
 * cores in one socket, APIC id = vCPU index. TSC frequency published so the guest need not calibrate.
 */
#include <linux/kvm.h>
#include <string.h>

#include "kite/x86/cpuid.h"

#define CPUID_1_ECX_HYPERVISOR (1U << 31)
#define CPUID_1_EDX_HTT        (1U << 28)
#define CPUID_1_ECX_TSC_DEADLINE (1U << 24)
#define SIG_AMD_EBX            0x68747541U /* "Auth" */
#define KVM_LEAF_SIG           0x40000000U
#define KVM_LEAF_FEATURES      0x40000001U
#define KVM_LEAF_TIMING        0x40000010U
#define KVM_SIG_EBX            0x4b4d564bU /* "KVMK" */
#define KVM_SIG_ECX            0x564b4d56U /* "VMKV" */
#define KVM_SIG_EDX            0x0000004dU /* "M\0\0\0" */
/* 0x40000001 EAX bits that need VMM support kite does not provide (see cpuid.h) */
#define KVM_FEATURE_MSI_EXT_DEST_ID      (1U << 15)
#define KVM_FEATURE_HC_MAP_GPA_RANGE     (1U << 16)
#define KVM_FEATURE_MIGRATION_CONTROL    (1U << 17)

static struct kvm_cpuid_entry2 *find(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
	for (unsigned i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn && c->entries[i].index == idx)
			return &c->entries[i];
	return NULL;
}

static void drop_leaf(struct kvm_cpuid2 *c, uint32_t fn)
{
	unsigned j = 0;

	for (unsigned i = 0; i < c->nent; i++)
		if (c->entries[i].function != fn)
			c->entries[j++] = c->entries[i];
	c->nent = j;
}

static struct kvm_cpuid_entry2 *get(struct kvm_cpuid2 *c, unsigned cap, uint32_t fn, uint32_t idx,
				    uint32_t flags)
{
	struct kvm_cpuid_entry2 *e = find(c, fn, idx);

	if (e)
		return e;
	if (c->nent >= cap)
		return NULL;
	e = &c->entries[c->nent++];
	memset(e, 0, sizeof(*e));
	e->function = fn;
	e->index = idx;
	e->flags = flags;
	return e;
}

static unsigned order(unsigned n)   /* ceil(log2(n)) */
{
	unsigned s = 0;

	while ((1U << s) < n)
		s++;
	return s;
}

/* Leaf 0xB / 0x1F: SMT level (1 thread), core level (ncpus), then the invalid terminator. */
static int topology_leaf(struct kvm_cpuid2 *c, unsigned cap, uint32_t fn, unsigned index, unsigned ncpus)
{
	drop_leaf(c, fn);
	for (uint32_t sub = 0; sub < 3; sub++) {
		struct kvm_cpuid_entry2 *e = get(c, cap, fn, sub, KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
		if (!e)
			return -1;
		e->edx = index;
		if (sub == 0) {
			e->eax = 0;
			e->ebx = 1;
			e->ecx = sub | (1U << 8);              /* SMT */
		} else if (sub == 1) {
			e->eax = order(ncpus);
			e->ebx = ncpus;
			e->ecx = sub | (2U << 8);              /* core */
		} else {
			e->eax = e->ebx = 0;
			e->ecx = sub;                          /* invalid: end of levels */
		}
	}
	return 0;
}

int x86_cpuid_fixup(struct kvm_cpuid2 *c, unsigned cap, unsigned index, unsigned ncpus, uint32_t tsc_khz)
{
	struct kvm_cpuid_entry2 *e0 = find(c, 0, 0);
	uint32_t max_basic = e0 ? e0->eax : 0;
	int amd = e0 && e0->ebx == SIG_AMD_EBX;
	struct kvm_cpuid_entry2 *e;

	if (ncpus == 0 || ncpus > 255 || index >= ncpus || c->nent > cap)
		return -1;
	for (unsigned i = 0; i < c->nent; i++) {
		e = &c->entries[i];
		switch (e->function) {
		case 1:
			e->ebx = (e->ebx & 0xffff) | (ncpus << 16) | (index << 24);
			e->ecx |= CPUID_1_ECX_HYPERVISOR;
			if (ncpus > 1)
				e->edx |= CPUID_1_EDX_HTT;
			else
				e->edx &= ~CPUID_1_EDX_HTT;
			break;
		case 4:
			if (!(e->eax & 0x1f))
				break;                         /* no more caches */
			e->eax &= 0x3fff;
			e->eax |= ((ncpus - 1) & 0x3f) << 26;  /* cores per package - 1 */
			if (((e->eax >> 5) & 7) == 3)
				e->eax |= (ncpus - 1) << 14;   /* L3 shared by the socket */
			break;
		case 0x80000008:
			if (amd)
				e->ecx = (e->ecx & ~0xf0ffU) | (ncpus - 1) | (order(ncpus) << 12);
			break;
		case 0x8000001e:
			if (amd) {
				e->eax = index;
				e->ebx = index & 0xff;         /* core id, one thread per core */
				e->ecx = 0;
			}
			break;
		}
	}
	if (max_basic >= 0xb && topology_leaf(c, cap, 0xb, index, ncpus))
		return -1;
	if (max_basic >= 0x1f && topology_leaf(c, cap, 0x1f, index, ncpus))
		return -1;
	if (!tsc_khz)
		return 0;

	/* TSC and LAPIC timer frequency */
	struct kvm_cpuid_entry2 *sig = find(c, KVM_LEAF_SIG, 0);
	if (sig) {
		if (sig->eax < KVM_LEAF_TIMING)
			sig->eax = KVM_LEAF_TIMING;
		e = get(c, cap, KVM_LEAF_TIMING, 0, 0);
		if (!e)
			return -1;
		e->eax = tsc_khz;
		e->ebx = X86_LAPIC_BUS_KHZ;
		e->ecx = e->edx = 0;
	}
	if (max_basic >= 0x15) {
		/* crystal = the 1 GHz APIC clock; TSC = crystal * ebx / eax */
		e = get(c, cap, 0x15, 0, 0);
		if (!e)
			return -1;
		e->eax = X86_LAPIC_BUS_KHZ;
		e->ebx = tsc_khz;
		e->ecx = X86_LAPIC_BUS_KHZ * 1000U;
		e->edx = 0;
	}
	if (max_basic >= 0x16) {
		e = get(c, cap, 0x16, 0, 0);
		if (!e)
			return -1;
		e->eax = tsc_khz / 1000;                       /* base MHz */
		e->ebx = tsc_khz / 1000;                       /* max MHz */
		e->ecx = X86_LAPIC_BUS_KHZ / 1000;             /* bus MHz */
		e->edx = 0;
	}
	return 0;
}

uint32_t x86_cpuid_kvm_pv(struct kvm_cpuid2 *c)
{
	struct kvm_cpuid_entry2 *sig = find(c, KVM_LEAF_SIG, 0);
	struct kvm_cpuid_entry2 *f = find(c, KVM_LEAF_FEATURES, 0);

	if (!sig || sig->ebx != KVM_SIG_EBX || sig->ecx != KVM_SIG_ECX || sig->edx != KVM_SIG_EDX ||
	    sig->eax < KVM_LEAF_FEATURES || !f)
		return 0;
	f->eax &= ~(KVM_FEATURE_MSI_EXT_DEST_ID | KVM_FEATURE_HC_MAP_GPA_RANGE | KVM_FEATURE_MIGRATION_CONTROL);
	f->ebx = f->ecx = 0;
	f->edx = 0;
	return f->eax;
}

void x86_cpuid_set_tsc_deadline(struct kvm_cpuid2 *c)
{
	struct kvm_cpuid_entry2 *e = find(c, 1, 0);

	if (e)
		e->ecx |= CPUID_1_ECX_TSC_DEADLINE;
}
