/* SPDX-License-Identifier: MIT */
/* The x86 KVM state of vCPUs, irqchip, PIT and kvmclock in a snapshot (contract: kite/x86/kvm_state.h). */
#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kite/log.h"
#include "kite/snapshot.h"
#include "kite/vcpu.h"
#include "kite/vm.h"
#include "kite/x86/kvm_state.h"

#define VCPU_SECTION_VERSION 1u
#define VM_SECTION_VERSION   1u
#define XSAVE_LEGACY_SIZE    4096u        /* struct kvm_xsave */
#define XSAVE_MAX_SIZE       (64u << 10)
#define MAX_MSRS             1024u
/* kvm-pvm only (docs/architecture.md): the PV cell that lets guest CPL 0 run natively. Not in KVM's
 * MSR list; a host write needs bit 10. Saved only when it holds a cell's address (kvm-pvm reads
 * 0x400 when the guest registered none; other hosts refuse the read). */
#define MSR_PVM_CELL         0x4b564d10u
#define PVM_CELL_HOST_WRITE  (1ULL << 10)

static void put_blob(struct snap_writer *w, const void *p, uint32_t len)
{
	snap_put_u32(w, len);
	snap_put(w, p, len);
}

/* A blob of exactly `len` bytes (this kite's structure size), else the cursor is bad. */
static void get_blob(struct snap_cursor *c, void *p, uint32_t len, const char *what)
{
	uint32_t n = snap_get_u32(c);

	if (n != len) {
		memset(p, 0, len);
		snap_cursor_fail(c, what);
		return;
	}
	snap_get(c, p, len);
}

static uint32_t xsave_size(struct vm *vm)
{
	int n = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);

	return n > (int)XSAVE_LEGACY_SIZE && n <= (int)XSAVE_MAX_SIZE ? (uint32_t)n : XSAVE_LEGACY_SIZE;
}

static bool has_cap(struct vm *vm, long cap)
{
	return ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, cap) > 0;
}

/* The MSR indices to save: KVM's list, plus the PV cell. NULL on error (errno). */
static struct kvm_msr_list *msr_indices(struct vm *vm)
{
	struct kvm_msr_list *l = x86_msr_index_list(vm, 1);

	if (l && l->nmsrs > MAX_MSRS - 1) {
		free(l);
		errno = E2BIG;
		return NULL;
	}
	if (l)
		l->indices[l->nmsrs++] = MSR_PVM_CELL;
	return l;
}

/* Read every MSR of the list KVM will give; one KVM refuses (KVM_GET_MSRS stops at it) is skipped.
 * Returns the entries read (count in *n), NULL on error. */
static struct kvm_msrs *read_msrs(int fd, const struct kvm_msr_list *l, unsigned *n)
{
	struct kvm_msrs *m = calloc(1, sizeof(*m) + l->nmsrs * sizeof(struct kvm_msr_entry));
	struct kvm_msrs *out = calloc(1, sizeof(*out) + l->nmsrs * sizeof(struct kvm_msr_entry));
	unsigned have = 0;

	if (!m || !out) {
		free(m);
		free(out);
		return NULL;
	}
	for (unsigned i = 0; i < l->nmsrs;) {
		int r;

		m->nmsrs = l->nmsrs - i;
		for (unsigned k = 0; k < m->nmsrs; k++)
			m->entries[k] = (struct kvm_msr_entry){ .index = l->indices[i + k] };
		r = ioctl(fd, KVM_GET_MSRS, m);
		if (r < 0) {
			free(m);
			free(out);
			return NULL;
		}
		for (int k = 0; k < r; k++)
			if (m->entries[k].index != MSR_PVM_CELL || (m->entries[k].data & ~0xfffULL))
				out->entries[have++] = m->entries[k];
		i += (unsigned)r + 1;   /* entry r (if any) is one KVM cannot read: skipped */
	}
	free(m);
	out->nmsrs = have;
	*n = have;
	return out;
}

struct vcpu_image {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	struct kvm_xcrs xcrs;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events ev;
	struct kvm_debugregs dbg;
	struct kvm_mp_state mp;
	uint32_t khz;
	void *xsave;
	uint32_t xsave_len;
	struct kvm_msrs *msrs;
};
int x86_vcpu_save(struct vm *vm, unsigned index, struct snap_writer *w, char *err, size_t errlen)
{
	int fd = vm->vcpus[index].fd;
	struct vcpu_image im;
	struct kvm_msr_list *l;
	unsigned nmsr = 0;
	int khz;

	memset(&im, 0, sizeof(im));
#define GET(req, p, name) \
	if (ioctl(fd, req, p) < 0) \
		return errf(err, errlen, "vcpu%u: " name " failed: %s", index, strerror(errno))
	GET(KVM_GET_REGS, &im.regs, "KVM_GET_REGS");
	GET(KVM_GET_SREGS, &im.sregs, "KVM_GET_SREGS");
	GET(KVM_GET_FPU, &im.fpu, "KVM_GET_FPU");
	if (has_cap(vm, KVM_CAP_XCRS))
		GET(KVM_GET_XCRS, &im.xcrs, "KVM_GET_XCRS");
	GET(KVM_GET_LAPIC, &im.lapic, "KVM_GET_LAPIC");
	GET(KVM_GET_VCPU_EVENTS, &im.ev, "KVM_GET_VCPU_EVENTS");
	GET(KVM_GET_DEBUGREGS, &im.dbg, "KVM_GET_DEBUGREGS");
	GET(KVM_GET_MP_STATE, &im.mp, "KVM_GET_MP_STATE");
#undef GET
	khz = ioctl(fd, KVM_GET_TSC_KHZ, 0);
	im.khz = khz > 0 ? (uint32_t)khz : 0;   /* 0: restored without setting the frequency */
	im.xsave_len = xsave_size(vm);
	im.xsave = calloc(1, im.xsave_len);
	if (!im.xsave)
		return errf(err, errlen, "vcpu%u: out of memory for XSAVE", index);
	if (ioctl(fd, im.xsave_len > XSAVE_LEGACY_SIZE ? KVM_GET_XSAVE2 : KVM_GET_XSAVE, im.xsave) < 0) {
		free(im.xsave);
		return errf(err, errlen, "vcpu%u: KVM_GET_XSAVE failed: %s", index, strerror(errno));
	}
	l = msr_indices(vm);
	im.msrs = l ? read_msrs(fd, l, &nmsr) : NULL;
	free(l);
	if (!im.msrs) {
		free(im.xsave);
		return errf(err, errlen, "vcpu%u: reading the MSRs (KVM_GET_MSR_INDEX_LIST, KVM_GET_MSRS) failed: %s",
			    index, strerror(errno));
	}
	snap_section_begin(w, "vcpu", index, VCPU_SECTION_VERSION);
	put_blob(w, &im.regs, sizeof(im.regs));
	put_blob(w, &im.sregs, sizeof(im.sregs));
	put_blob(w, &im.fpu, sizeof(im.fpu));
	put_blob(w, im.xsave, im.xsave_len);
	put_blob(w, &im.xcrs, sizeof(im.xcrs));
	put_blob(w, &im.lapic, sizeof(im.lapic));
	put_blob(w, &im.ev, sizeof(im.ev));
	put_blob(w, &im.dbg, sizeof(im.dbg));
	put_blob(w, &im.mp, sizeof(im.mp));
	snap_put_u32(w, im.khz);
	snap_put_u32(w, nmsr);
	for (unsigned i = 0; i < nmsr; i++) {
		snap_put_u32(w, im.msrs->entries[i].index);
		snap_put_u64(w, im.msrs->entries[i].data);
	}
	snap_section_end(w);
	free(im.xsave);
	free(im.msrs);
	return 0;
}

static int read_vcpu(struct vm *vm, unsigned index, struct snap_reader *r, struct vcpu_image *im, char *err,
		     size_t errlen)
{
	struct snap_cursor c;
	uint32_t n;

	if (snap_section_open(r, "vcpu", index, VCPU_SECTION_VERSION, &c, err, errlen) < 0)
		return -1;
	get_blob(&c, &im->regs, sizeof(im->regs), "registers of another size");
	get_blob(&c, &im->sregs, sizeof(im->sregs), "segment registers of another size");
	get_blob(&c, &im->fpu, sizeof(im->fpu), "FPU state of another size");
	im->xsave_len = xsave_size(vm);
	im->xsave = calloc(1, im->xsave_len);
	if (!im->xsave)
		return errf(err, errlen, "vcpu%u: out of memory for XSAVE", index);
	get_blob(&c, im->xsave, im->xsave_len, "XSAVE area of another size than this host's KVM");
	get_blob(&c, &im->xcrs, sizeof(im->xcrs), "XCRs of another size");
	get_blob(&c, &im->lapic, sizeof(im->lapic), "LAPIC state of another size");
	get_blob(&c, &im->ev, sizeof(im->ev), "vcpu events of another size");
	get_blob(&c, &im->dbg, sizeof(im->dbg), "debug registers of another size");
	get_blob(&c, &im->mp, sizeof(im->mp), "MP state of another size");
	im->khz = snap_get_u32(&c);
	n = snap_get_u32(&c);
	if (n > MAX_MSRS) {
		snap_cursor_fail(&c, "too many MSRs");
		n = 0;
	}
	im->msrs = calloc(1, sizeof(*im->msrs) + n * sizeof(struct kvm_msr_entry));
	if (!im->msrs)
		return errf(err, errlen, "vcpu%u: out of memory for %u MSRs", index, n);
	im->msrs->nmsrs = n;
	for (uint32_t i = 0; i < n; i++) {
		im->msrs->entries[i].index = snap_get_u32(&c);
		im->msrs->entries[i].data = snap_get_u64(&c);
		if (im->msrs->entries[i].index == MSR_PVM_CELL)
			im->msrs->entries[i].data |= PVM_CELL_HOST_WRITE;
	}
	if (im->mp.mp_state > KVM_MP_STATE_AP_RESET_HOLD)
		snap_cursor_fail(&c, "unknown MP state");
	return snap_cursor_finish(&c, err, errlen);
}

static int set_vcpu(struct vm *vm, unsigned index, struct vcpu_image *im, char *err, size_t errlen)
{
	int fd = vm->vcpus[index].fd;
	int khz = ioctl(fd, KVM_GET_TSC_KHZ, 0);
	int r;

	if (im->khz && khz > 0 && (uint32_t)khz != im->khz && ioctl(fd, KVM_SET_TSC_KHZ, (unsigned long)im->khz) < 0)
		return errf(err, errlen, "vcpu%u: the snapshot's TSC runs at %u kHz, this host's at %d kHz, and "
			    "KVM_SET_TSC_KHZ failed: %s", index, im->khz, khz, strerror(errno));
#define SET(req, p, name) \
	if (ioctl(fd, req, p) < 0) \
		return errf(err, errlen, "vcpu%u: " name " failed: %s", index, strerror(errno))
	SET(KVM_SET_SREGS, &im->sregs, "KVM_SET_SREGS");
	SET(KVM_SET_REGS, &im->regs, "KVM_SET_REGS");
	SET(KVM_SET_FPU, &im->fpu, "KVM_SET_FPU");
	SET(KVM_SET_XSAVE, im->xsave, "KVM_SET_XSAVE");
	if (has_cap(vm, KVM_CAP_XCRS))
		SET(KVM_SET_XCRS, &im->xcrs, "KVM_SET_XCRS");
	SET(KVM_SET_LAPIC, &im->lapic, "KVM_SET_LAPIC");
	r = ioctl(fd, KVM_SET_MSRS, im->msrs);
	if (r != (int)im->msrs->nmsrs)
		return errf(err, errlen, "vcpu%u: KVM_SET_MSRS set %d of %u MSRs (refused: 0x%x)%s%s", index, r,
			    im->msrs->nmsrs, r >= 0 ? im->msrs->entries[r].index : 0, r < 0 ? ": " : "",
			    r < 0 ? strerror(errno) : "");
	SET(KVM_SET_MP_STATE, &im->mp, "KVM_SET_MP_STATE");
	SET(KVM_SET_VCPU_EVENTS, &im->ev, "KVM_SET_VCPU_EVENTS");
	SET(KVM_SET_DEBUGREGS, &im->dbg, "KVM_SET_DEBUGREGS");
#undef SET
	return 0;
}

int x86_vcpu_restore(struct vm *vm, unsigned index, struct snap_reader *r, char *err, size_t errlen)
{
	struct vcpu_image im;
	int ret;

	memset(&im, 0, sizeof(im));
	ret = read_vcpu(vm, index, r, &im, err, errlen);
	if (ret == 0)
		ret = set_vcpu(vm, index, &im, err, errlen);
	free(im.xsave);
	free(im.msrs);
	return ret;
}

static const char *const chip_names[] = { "PIC master", "PIC slave", "IOAPIC" };

int x86_vm_state_save(struct vm *vm, struct snap_writer *w, char *err, size_t errlen)
{
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;

	for (uint32_t id = 0; id < 3; id++) {
		struct kvm_irqchip chip = { .chip_id = id };

		if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &chip) < 0)
			return errf(err, errlen, "vm: KVM_GET_IRQCHIP (%s) failed: %s", chip_names[id], strerror(errno));
		snap_section_begin(w, "irqchip", id, VM_SECTION_VERSION);
		put_blob(w, &chip, sizeof(chip));
		snap_section_end(w);
	}
	if (ioctl(vm->vm_fd, KVM_GET_PIT2, &pit) < 0)
		return errf(err, errlen, "vm: KVM_GET_PIT2 failed: %s", strerror(errno));
	snap_section_begin(w, "pit", 0, VM_SECTION_VERSION);
	put_blob(w, &pit, sizeof(pit));
	snap_section_end(w);
	memset(&clock, 0, sizeof(clock));
	if (ioctl(vm->vm_fd, KVM_GET_CLOCK, &clock) < 0)
		return errf(err, errlen, "vm: KVM_GET_CLOCK failed: %s", strerror(errno));
	snap_section_begin(w, "clock", 0, VM_SECTION_VERSION);
	snap_put_u64(w, clock.clock);
	snap_section_end(w);
	return 0;
}

int x86_vm_state_restore(struct vm *vm, struct snap_reader *r, char *err, size_t errlen)
{
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
	struct snap_cursor c;

	for (uint32_t id = 0; id < 3; id++) {
		struct kvm_irqchip chip;

		if (snap_section_open(r, "irqchip", id, VM_SECTION_VERSION, &c, err, errlen) < 0)
			return -1;
		get_blob(&c, &chip, sizeof(chip), "irqchip state of another size");
		if (chip.chip_id != id)
			snap_cursor_fail(&c, "holds another chip");
		if (snap_cursor_finish(&c, err, errlen) < 0)
			return -1;
		if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &chip) < 0)
			return errf(err, errlen, "vm: KVM_SET_IRQCHIP (%s) failed: %s", chip_names[id], strerror(errno));
	}
	if (snap_section_open(r, "pit", 0, VM_SECTION_VERSION, &c, err, errlen) < 0)
		return -1;
	get_blob(&c, &pit, sizeof(pit), "PIT state of another size");
	if (snap_cursor_finish(&c, err, errlen) < 0)
		return -1;
	if (ioctl(vm->vm_fd, KVM_SET_PIT2, &pit) < 0)
		return errf(err, errlen, "vm: KVM_SET_PIT2 failed: %s", strerror(errno));
	if (snap_section_open(r, "clock", 0, VM_SECTION_VERSION, &c, err, errlen) < 0)
		return -1;
	memset(&clock, 0, sizeof(clock));
	clock.clock = snap_get_u64(&c);
	if (snap_cursor_finish(&c, err, errlen) < 0)
		return -1;
	if (ioctl(vm->vm_fd, KVM_SET_CLOCK, &clock) < 0)
		return errf(err, errlen, "vm: KVM_SET_CLOCK failed: %s", strerror(errno));
	return 0;
}
