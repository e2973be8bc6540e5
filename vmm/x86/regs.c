/* SPDX-License-Identifier: MIT */
/* Boot CPU registers for the Linux 64-bit entry: long mode, flat segments, RSI = zero page. */
#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kite/boot.h"
#include "kite/log.h"
#include "kite/vm.h"
#include "kite/x86/layout.h"

#define CR0_PE   (1ULL << 0)
#define CR0_ET   (1ULL << 4)
#define CR0_NE   (1ULL << 5)
#define CR0_NW   (1ULL << 29)
#define CR0_CD   (1ULL << 30)
#define CR0_PG   (1ULL << 31)
#define CR4_PAE  (1ULL << 5)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)

static void flat_seg(struct kvm_segment *s, uint16_t sel, uint8_t type, int code)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->dpl = 0;
	s->s = 1;
	s->l = code ? 1 : 0;
	s->db = code ? 0 : 1;
	s->g = 1;
}

int x86_setup_boot_regs(struct vm *vm, int vcpu_fd, const struct boot_info *bi)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	(void)vm;
	if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0) {
		log_err("vcpu 0: KVM_GET_SREGS failed: %s", strerror(errno));
		return -1;
	}
	flat_seg(&sregs.cs, KITE_X86_BOOT_CS, 0xb, 1);    /* execute/read, accessed */
	flat_seg(&sregs.ds, KITE_X86_BOOT_DS, 0x3, 0);    /* read/write, accessed */
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;

	memset(&sregs.tr, 0, sizeof(sregs.tr));
	sregs.tr.selector = KITE_X86_BOOT_TSS;
	sregs.tr.limit = 0x67;
	sregs.tr.type = 0xb;                                /* 64-bit TSS, busy */
	sregs.tr.present = 1;
	memset(&sregs.ldt, 0, sizeof(sregs.ldt));
	sregs.ldt.type = 0x2;
	sregs.ldt.unusable = 1;

	sregs.gdt.base = bi->gdt;
	sregs.gdt.limit = bi->gdt_limit;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;

	sregs.cr0 = (sregs.cr0 | CR0_PE | CR0_ET | CR0_NE | CR0_PG) & ~(CR0_CD | CR0_NW);
	sregs.cr3 = bi->cr3;
	sregs.cr4 |= CR4_PAE;
	sregs.efer |= EFER_LME | EFER_LMA;
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &sregs) < 0) {
		log_err("vcpu 0: KVM_SET_SREGS (long mode, CR3 0x%llx) failed: %s",
			(unsigned long long)bi->cr3, strerror(errno));
		return -1;
	}

	memset(&regs, 0, sizeof(regs));
	regs.rflags = 0x2;                                  /* interrupts off */
	regs.rip = bi->entry;
	regs.rsi = bi->boot_params;
	regs.rsp = KITE_X86_BOOT_STACK;
	if (ioctl(vcpu_fd, KVM_SET_REGS, &regs) < 0) {
		log_err("vcpu 0: KVM_SET_REGS (entry 0x%llx) failed: %s", (unsigned long long)bi->entry,
			strerror(errno));
		return -1;
	}
	return 0;
}
