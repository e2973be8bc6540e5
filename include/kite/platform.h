/* SPDX-License-Identifier: MIT */
/*
 * The PC kite presents to a guest: where RAM and the MMIO hole are, and the fixed legacy ports and
 * IRQs of the devices vmm/board.c creates. Shared by the board, the devices and the x86 tables.
 */
#ifndef KITE_PLATFORM_H
#define KITE_PLATFORM_H

/* Guest physical layout (x86). RAM is [0, min(ram, MMIO_HOLE_START)) and, for larger guests,
 * [4 GiB, 4 GiB + rest). The hole holds PCI MMIO windows, the IOAPIC and the LAPIC. */
#define KITE_MMIO_HOLE_START 0xC0000000ULL
#define KITE_MMIO_HOLE_END   0x100000000ULL
#define KITE_IOAPIC_ADDR     0xFEC00000ULL
#define KITE_LAPIC_ADDR      0xFEE00000ULL

/* Fixed legacy I/O ports. */
#define KITE_COM1_PORT       0x3F8
#define KITE_COM1_IRQ        4
#define KITE_DEBUG_EXIT_PORT 0x501   /* 1-byte write of v: kite exits with status v (QEMU: (v<<1)|1) */
#define KITE_I8042_PORT      0x60    /* 0x60 data, 0x64 command/status; 0xFE on 0x64 resets */
/* ACPI fixed hardware (described in the FADT): PM1a event block (4 bytes) and control block (2 bytes).
 * Reads of PM1a_CNT have SCI_EN set (no SMI_CMD: ACPI is always on). Writing SLP_EN (bit 13) with
 * SLP_TYP (bits 10-12) == KITE_ACPI_S5_TYP powers the VM off (exit status 0). SCI is IRQ 9. */
#define KITE_ACPI_PM1A_EVT   0x600
#define KITE_ACPI_PM1A_CNT   0x604
#define KITE_ACPI_S5_TYP     5
#define KITE_ACPI_SCI_IRQ    9
/* ACPI PM timer (FADT PM_TMR_BLK, TMR_VAL_EXT): 32-bit read-only counter at 3.579545 MHz. */
#define KITE_ACPI_PM_TMR     0x608
#define KITE_ACPI_PM_TMR_LEN 4
#define KITE_ACPI_PM_TMR_HZ  3579545ULL

#endif
