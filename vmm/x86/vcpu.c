/* SPDX-License-Identifier: MIT */
/* x86_setup_vcpu(): CPUID, MSRs, APIC base and LAPIC LINT0/LINT1 for one vCPU. */
#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kite/boot.h"
#include "kite/log.h"
#include "kite/vm.h"
#include "kite/x86/cpuid.h"
#include "kite/x86/kvm_state.h"

#define MSR_IA32_APICBASE_BSP    (1ULL << 8)
#define MSR_IA32_APICBASE_ENABLE (1ULL << 11)
#define MISC_ENABLE_FAST_STRING  1ULL
#define PAT_DEFAULT              0x0007040600070406ULL

#define APIC_LVT0     0x350
#define APIC_LVT1     0x360
#define APIC_MODE_NMI    0x4
#define APIC_MODE_EXTINT 0x7

static int setup_cpuid(struct vm *vm, int vcpu_fd, unsigned index)
{
	struct kvm_cpuid2 *c = NULL;
	unsigned cap = X86_CPUID_MAX_ENTRIES;
	uint32_t pv;
	int ret = -1;

	/* grow the buffer until KVM's table fits, with room for the leaves the fix-up adds */
	for (;;) {
		c = calloc(1, sizeof(*c) + cap * sizeof(struct kvm_cpuid_entry2));
		if (!c) {
			log_err("vcpu %u: out of memory for CPUID", index);
			return -1;
		}
		c->nent = cap - 16;
		if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			break;
		int err = errno;
		free(c);
		if (err != E2BIG || cap >= 16 * X86_CPUID_MAX_ENTRIES) {
			log_err("vcpu %u: KVM_GET_SUPPORTED_CPUID failed: %s", index, strerror(err));
			return -1;
		}
		cap *= 2;
	}
	int khz = ioctl(vcpu_fd, KVM_GET_TSC_KHZ, 0);
	if (khz <= 0) {
		log_debug("vcpu %u: KVM_GET_TSC_KHZ unavailable, no TSC frequency leaves", index);
		khz = 0;
	}
	if (x86_cpuid_fixup(c, cap, index, vm->ncpus, (uint32_t)khz)) {
		log_err("vcpu %u: CPUID table full while fixing up topology for %u CPUs", index, vm->ncpus);
		goto out;
	}
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0)
		x86_cpuid_set_tsc_deadline(c);
	pv = x86_cpuid_kvm_pv(c);
	log_debug("vcpu %u: CPUID %u entries, APIC id %u of %u, TSC %d kHz, KVM PV features 0x%x", index,
		  c->nent, index, vm->ncpus, khz, pv);
	if (ioctl(vcpu_fd, KVM_SET_CPUID2, c) < 0) {
		log_err("vcpu %u: KVM_SET_CPUID2 (%u entries) failed: %s", index, c->nent, strerror(errno));
		goto out;
	}
	/* KVM then refuses the PV MSRs and hypercalls the guest was not offered */
	if (pv && ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ENFORCE_PV_FEATURE_CPUID) > 0) {
		struct kvm_enable_cap en = { .cap = KVM_CAP_ENFORCE_PV_FEATURE_CPUID, .args = { 1 } };

		if (ioctl(vcpu_fd, KVM_ENABLE_CAP, &en) < 0) {
			log_err("vcpu %u: KVM_ENABLE_CAP(ENFORCE_PV_FEATURE_CPUID) failed: %s", index,
				strerror(errno));
			goto out;
		}
	}
	ret = 0;
out:
	free(c);
	return ret;
}

struct kvm_msr_list *x86_msr_index_list(struct vm *vm, unsigned extra)
{
	struct kvm_msr_list probe = { .nmsrs = 0 };
	struct kvm_msr_list *l;

	if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
		return NULL;
	l = calloc(1, sizeof(*l) + (probe.nmsrs + extra) * sizeof(uint32_t));
	if (!l)
		return NULL;
	l->nmsrs = probe.nmsrs;
	if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, l) < 0) {
		free(l);
		return NULL;
	}
	return l;
}

static int msr_listed(const struct kvm_msr_list *l, uint32_t idx)
{
	for (unsigned i = 0; i < l->nmsrs; i++)
		if (l->indices[i] == idx)
			return 1;
	return 0;
}

static int setup_msrs(struct vm *vm, int vcpu_fd, unsigned index)
{
	static const struct { uint32_t index; uint64_t data; } want[] = {
		{ 0x1a0, MISC_ENABLE_FAST_STRING },    /* IA32_MISC_ENABLE */
		{ 0x277, PAT_DEFAULT },                /* IA32_PAT */
		{ 0x174, 0 }, { 0x175, 0 }, { 0x176, 0 }, /* SYSENTER_CS/ESP/EIP */
		{ 0xc0000081, 0 },                     /* STAR */
		{ 0xc0000082, 0 },                     /* LSTAR */
		{ 0xc0000083, 0 },                     /* CSTAR */
		{ 0xc0000084, 0 },                     /* SYSCALL_MASK */
		{ 0xc0000102, 0 },                     /* KERNEL_GS_BASE */
	};
	const unsigned nwant = sizeof(want) / sizeof(want[0]);
	struct kvm_msrs *m = calloc(1, sizeof(*m) + nwant * sizeof(struct kvm_msr_entry));
	struct kvm_msr_list *l = x86_msr_index_list(vm, 0);
	unsigned n = 0;

	if (!l || !m) {
		if (!l)
			log_err("vcpu %u: KVM_GET_MSR_INDEX_LIST failed: %s", index, strerror(errno));
		else
			log_err("vcpu %u: out of memory for the MSR list", index);
		free(l);
		free(m);
		return -1;
	}
	for (unsigned i = 0; i < nwant; i++) {
		if (!msr_listed(l, want[i].index))
			continue;
		m->entries[n].index = want[i].index;
		m->entries[n].data = want[i].data;
		n++;
	}
	free(l);
	m->nmsrs = n;
	int r = ioctl(vcpu_fd, KVM_SET_MSRS, m);
	if (r != (int)n) {
		log_err("vcpu %u: KVM_SET_MSRS set %d of %u MSRs (failed at 0x%x)%s%s", index, r, n,
			r >= 0 && (unsigned)r < n ? m->entries[r].index : 0, r < 0 ? ": " : "",
			r < 0 ? strerror(errno) : "");
		free(m);
		return -1;
	}
	free(m);
	return 0;
}

static int setup_apic_base(int vcpu_fd, unsigned index)
{
	struct kvm_sregs sregs;

	if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0) {
		log_err("vcpu %u: KVM_GET_SREGS failed: %s", index, strerror(errno));
		return -1;
	}
	sregs.apic_base = KITE_LAPIC_ADDR | MSR_IA32_APICBASE_ENABLE | (index == 0 ? MSR_IA32_APICBASE_BSP : 0);
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &sregs) < 0) {
		log_err("vcpu %u: KVM_SET_SREGS (APIC base) failed: %s", index, strerror(errno));
		return -1;
	}
	return 0;
}

static void lvt_mode(struct kvm_lapic_state *s, unsigned reg, uint32_t mode)
{
	uint32_t v;

	memcpy(&v, s->regs + reg, 4);
	v = (v & ~0x700U) | (mode << 8);   /* delivery mode; the mask bit stays as KVM reset it */
	memcpy(s->regs + reg, &v, 4);
}

static int setup_lapic(int vcpu_fd, unsigned index)
{
	struct kvm_lapic_state s;

	if (ioctl(vcpu_fd, KVM_GET_LAPIC, &s) < 0) {
		if (errno == ENXIO) {
			log_debug("vcpu %u: no in-kernel LAPIC, LINT0/LINT1 left alone", index);
			return 0;
		}
		log_err("vcpu %u: KVM_GET_LAPIC failed: %s", index, strerror(errno));
		return -1;
	}
	lvt_mode(&s, APIC_LVT0, APIC_MODE_EXTINT);
	lvt_mode(&s, APIC_LVT1, APIC_MODE_NMI);
	if (ioctl(vcpu_fd, KVM_SET_LAPIC, &s) < 0) {
		log_err("vcpu %u: KVM_SET_LAPIC (LINT0 ExtINT, LINT1 NMI) failed: %s", index, strerror(errno));
		return -1;
	}
	return 0;
}

int x86_setup_vcpu(struct vm *vm, int vcpu_fd, unsigned index)
{
	if (index >= vm->ncpus) {
		log_err("vcpu %u: index out of range (%u CPUs)", index, vm->ncpus);
		return -1;
	}
	if (setup_cpuid(vm, vcpu_fd, index) || setup_msrs(vm, vcpu_fd, index) ||
	    setup_apic_base(vcpu_fd, index) || setup_lapic(vcpu_fd, index))
		return -1;
	return 0;
}
