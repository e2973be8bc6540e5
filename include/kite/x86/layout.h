/* SPDX-License-Identifier: MIT */
/*
 * Where kite puts things in guest physical memory before the first vCPU runs (x86 direct boot).
 *
 *   0x00000 - 0x00fff  real-mode IVT and BIOS data area; kite writes only the BDA words at 0x40e
 *                      (EBDA segment) and 0x413 (base memory KiB)
 *   0x01000 - 0x07fff  FREE for the guest (e.g. an AP real-mode trampoline)
 *   0x08000 - 0x08fff  boot GDT (0x8000) and boot stack (RSP at entry = 0x8ff0, grows down)
 *   0x09000 - 0x09fff  zero page (struct boot_params), RSI at entry
 *   0x0a000 - 0x0ffff  spare pages for the VMM (e.g. the kvm-pvm PV cell at 0xa000); zero at entry
 *   0x10000 - 0x15fff  boot page tables: PML4, one PDPT, four PDs of 2 MiB pages: identity map of
 *                      [0, 4 GiB) with U/S set at every level (flags 0x7 / 0x87)
 *   0x20000 - 0x2ffff  kernel command line (NUL terminated)
 *   0x30000 - 0x9efff  FREE for the guest
 *   0x9fc00 - 0x9ffff  EBDA (empty, reserved in e820)
 *   0xa0000 - 0xdffff  legacy VGA / option ROM area (reserved in e820, plain RAM underneath)
 *   0xe0000 - 0xeffff  ACPI: RSDP at 0xe0000 (found by the BIOS-area scan and passed in
 *                      boot_params.acpi_rsdp_addr), then XSDT, MADT, FADT, FACS, DSDT
 *   0xf0000 - 0xfffff  MP floating pointer at 0xf0000, MP configuration table after it
 *   0x100000 -         kernel: bzImage protected-mode part at 1 MiB (or pref_address when the kernel
 *                      is not relocatable); ELF segments at their p_paddr; initrd as high as
 *                      allowed below min(initrd_addr_max, top of low RAM), page aligned
 *
 * e820: [0, 0x9fc00) usable, [0x9fc00, 1 MiB) reserved, [1 MiB, low RAM top) usable, RAM above
 * 4 GiB usable. The MMIO hole (KITE_MMIO_HOLE_START..4 GiB) is never reported as RAM.
 * Everything usable in e820 that is not the kernel/initrd is free once the kernel runs.
 *
 * Interrupts as the MP table and the MADT describe them: CPUs have APIC ids 0..n-1 (vCPU 0 is the
 * BSP), the IOAPIC (id n, 24 pins) is at KITE_IOAPIC_ADDR, ISA IRQ n -> IOAPIC pin n except IRQ0 (PIT)
 * -> pin 2, SCI IRQ 9 level/active high, LINT0 ExtINT, LINT1 NMI. vmm/kvm_irq.c installs the
 * matching KVM GSI routing (kite/x86/irq.h) when the VM is created.
 */
#ifndef KITE_X86_LAYOUT_H
#define KITE_X86_LAYOUT_H

#define KITE_X86_BDA_EBDA_SEG     0x40eULL   /* u16: EBDA segment (0x9fc0) */
#define KITE_X86_BDA_BASE_MEM_KB  0x413ULL   /* u16: KiB of base memory (639) */

#define KITE_X86_GUEST_FREE_LO    0x1000ULL  /* [0x1000, 0x8000) free for the guest */
#define KITE_X86_GUEST_FREE_LO_END 0x8000ULL
#define KITE_X86_GUEST_FREE_HI    0x30000ULL /* [0x30000, 0x9f000) free for the guest */
#define KITE_X86_GUEST_FREE_HI_END 0x9f000ULL

#define KITE_X86_BOOT_GDT         0x8000ULL
#define KITE_X86_BOOT_STACK       0x8ff0ULL
#define KITE_X86_ZERO_PAGE        0x9000ULL
#define KITE_X86_VMM_SPARE        0xa000ULL  /* [0xa000, 0x10000): for the VMM, e.g. PV cell */
#define KITE_X86_VMM_SPARE_END    0x10000ULL
#define KITE_X86_PML4             0x10000ULL
#define KITE_X86_PDPT             0x11000ULL
#define KITE_X86_PD               0x12000ULL /* 4 pages */
#define KITE_X86_PT_END           0x16000ULL
#define KITE_X86_IDMAP_SIZE       0x100000000ULL
#define KITE_X86_CMDLINE          0x20000ULL
#define KITE_X86_CMDLINE_MAX      0x10000ULL /* bytes, including the NUL */

#define KITE_X86_EBDA             0x9fc00ULL
#define KITE_X86_LOW_USABLE_END   0x9fc00ULL
#define KITE_X86_BIOS_END         0x100000ULL

#define KITE_X86_ACPI_BASE        0xe0000ULL /* RSDP here */
#define KITE_X86_ACPI_END         0xf0000ULL
#define KITE_X86_MPTABLE_BASE     0xf0000ULL /* MP floating pointer here */
#define KITE_X86_MPTABLE_END      0x100000ULL

#define KITE_X86_KERNEL_ADDR      0x100000ULL

/* Boot GDT selectors (Linux boot protocol __BOOT_CS / __BOOT_DS) and the TSS used for TR. */
#define KITE_X86_BOOT_CS          0x10
#define KITE_X86_BOOT_DS          0x18
#define KITE_X86_BOOT_TSS         0x20

/* The IOAPIC's id in the MP table and the MADT: one past the last CPU's APIC id. */
#define KITE_X86_IOAPIC_ID(ncpus) ((unsigned)(ncpus))
#define KITE_X86_IOAPIC_PINS      24

#endif
