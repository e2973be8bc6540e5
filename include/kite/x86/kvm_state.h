/* SPDX-License-Identifier: MIT */
/*
 * The x86 KVM state of a VM in a snapshot (vmm/x86/kvm_state.c): what KVM holds for each vCPU and
 * for the VM (in-kernel irqchip, PIT, kvmclock), saved as sections of kite/snapshot.h and set back
 * on a freshly created VM of the same shape.
 *
 * Sections (all version 1; the KVM structures are Linux's UAPI layouts, each written with its byte
 * length first, which a reader checks against its own):
 *   "vcpu" i   regs, sregs, FPU, XSAVE (KVM_GET_XSAVE2 size, or 4096), XCRs, LAPIC, vcpu events,
 *              debug regs, MP state, TSC kHz, then the MSRs: u32 count, count x (u32 index, u64 value)
 *              -- every MSR of KVM_GET_MSR_INDEX_LIST KVM would read, plus the kvm-pvm PV cell
 *   "irqchip" 0, 1, 2   PIC master, PIC slave, IOAPIC (struct kvm_irqchip)
 *   "pit" 0    struct kvm_pit_state2
 *   "clock" 0  kvmclock: u64 ns (KVM_GET_CLOCK); restored as is, so the guest's clock continues from
 *              the snapshot's instant (Firecracker does the same)
 * Restore order per vCPU: TSC kHz (when it differs), sregs, regs, FPU, XSAVE, XCRs, LAPIC, MSRs (the
 * TSC deadline after the LAPIC), MP state, events, debug regs.
 *
 * Main thread; the VM paused (no vCPU in KVM_RUN) or not yet started. 0, or -1 with a one-line err
 * naming the vCPU and the ioctl or the section.
 */
#ifndef KITE_X86_KVM_STATE_H
#define KITE_X86_KVM_STATE_H

#include <stddef.h>

struct vm;
struct snap_writer;
struct snap_reader;
struct kvm_msr_list;

/* KVM_GET_MSR_INDEX_LIST (the MSRs KVM saves and restores), with room for `extra` more indices
 * after them (vmm/x86/vcpu.c). malloc'd; NULL with errno. */
struct kvm_msr_list *x86_msr_index_list(struct vm *vm, unsigned extra);

int x86_vcpu_save(struct vm *vm, unsigned index, struct snap_writer *w, char *err, size_t errlen);
int x86_vcpu_restore(struct vm *vm, unsigned index, struct snap_reader *r, char *err, size_t errlen);
int x86_vm_state_save(struct vm *vm, struct snap_writer *w, char *err, size_t errlen);
int x86_vm_state_restore(struct vm *vm, struct snap_reader *r, char *err, size_t errlen);

#endif
