/* SPDX-License-Identifier: MIT */
/* ACPI tables kite builds: RSDP (rev 2), XSDT, MADT, FADT (rev 6), FACS, DSDT (AML: \_S5, COM1, the PCI host
 * bridge PCI0 with _CRS and _PRT when kite has a PCI bus, one LNRO0005 device per virtio-mmio window). */
#ifndef KITE_X86_ACPI_H
#define KITE_X86_ACPI_H

#include <stddef.h>
#include <stdint.h>

struct acpi_rsdp {
	char     signature[8];   /* "RSD PTR " */
	uint8_t  checksum;       /* first 20 bytes */
	char     oem_id[6];
	uint8_t  revision;       /* 2 */
	uint32_t rsdt;
	uint32_t length;         /* 36 */
	uint64_t xsdt;
	uint8_t  ext_checksum;   /* all 36 bytes */
	uint8_t  reserved[3];
} __attribute__((packed));

struct acpi_header {
	char     signature[4];
	uint32_t length;
	uint8_t  revision;
	uint8_t  checksum;
	char     oem_id[6];
	char     oem_table_id[8];
	uint32_t oem_revision;
	char     creator_id[4];
	uint32_t creator_revision;
} __attribute__((packed));

struct acpi_gas {                /* Generic Address Structure */
	uint8_t  space;          /* 1 = system I/O */
	uint8_t  bit_width;
	uint8_t  bit_offset;
	uint8_t  access_size;    /* 1 byte, 2 word, 3 dword, 4 qword */
	uint64_t address;
} __attribute__((packed));

struct acpi_fadt {
	struct acpi_header h;
	uint32_t firmware_ctrl;
	uint32_t dsdt;
	uint8_t  reserved0;
	uint8_t  pm_profile;
	uint16_t sci_int;
	uint32_t smi_cmd;
	uint8_t  acpi_enable;
	uint8_t  acpi_disable;
	uint8_t  s4bios_req;
	uint8_t  pstate_cnt;
	uint32_t pm1a_evt_blk;
	uint32_t pm1b_evt_blk;
	uint32_t pm1a_cnt_blk;
	uint32_t pm1b_cnt_blk;
	uint32_t pm2_cnt_blk;
	uint32_t pm_tmr_blk;
	uint32_t gpe0_blk;
	uint32_t gpe1_blk;
	uint8_t  pm1_evt_len;
	uint8_t  pm1_cnt_len;
	uint8_t  pm2_cnt_len;
	uint8_t  pm_tmr_len;
	uint8_t  gpe0_blk_len;
	uint8_t  gpe1_blk_len;
	uint8_t  gpe1_base;
	uint8_t  cst_cnt;
	uint16_t p_lvl2_lat;
	uint16_t p_lvl3_lat;
	uint16_t flush_size;
	uint16_t flush_stride;
	uint8_t  duty_offset;
	uint8_t  duty_width;
	uint8_t  day_alrm;
	uint8_t  mon_alrm;
	uint8_t  century;
	uint16_t iapc_boot_arch;
	uint8_t  reserved1;
	uint32_t flags;
	struct acpi_gas reset_reg;
	uint8_t  reset_value;
	uint16_t arm_boot_arch;
	uint8_t  minor_version;
	uint64_t x_firmware_ctrl;
	uint64_t x_dsdt;
	struct acpi_gas x_pm1a_evt_blk;
	struct acpi_gas x_pm1b_evt_blk;
	struct acpi_gas x_pm1a_cnt_blk;
	struct acpi_gas x_pm1b_cnt_blk;
	struct acpi_gas x_pm2_cnt_blk;
	struct acpi_gas x_pm_tmr_blk;
	struct acpi_gas x_gpe0_blk;
	struct acpi_gas x_gpe1_blk;
	struct acpi_gas sleep_control_reg;
	struct acpi_gas sleep_status_reg;
	uint64_t hypervisor_id;
} __attribute__((packed));

_Static_assert(sizeof(struct acpi_rsdp) == 36, "RSDP size");
_Static_assert(sizeof(struct acpi_header) == 36, "ACPI header size");
_Static_assert(sizeof(struct acpi_fadt) == 276, "FADT rev 6 size");

/* FADT flags and IAPC_BOOT_ARCH bits used */
#define ACPI_FADT_WBINVD          (1U << 0)
#define ACPI_FADT_PWR_BUTTON      (1U << 4)   /* 1: no fixed power button */
#define ACPI_FADT_SLP_BUTTON      (1U << 5)   /* 1: no fixed sleep button */
#define ACPI_FADT_TMR_VAL_EXT     (1U << 8)   /* the PM timer counts 32 bits, not 24 */
#define ACPI_FADT_RESET_REG_SUP   (1U << 10)
#define ACPI_IAPC_LEGACY_DEVICES  (1U << 0)
#define ACPI_IAPC_8042            (1U << 1)
#define ACPI_IAPC_VGA_NOT_PRESENT (1U << 2)

/* MADT entry types and what kite puts in them */
#define ACPI_MADT_LAPIC           0
#define ACPI_MADT_IOAPIC          1
#define ACPI_MADT_ISO             2
#define ACPI_MADT_LAPIC_NMI       4
#define ACPI_MADT_PCAT_COMPAT     1U
#define ACPI_MADT_ENABLED         1U
#define ACPI_ISO_ACTIVE_HIGH_LEVEL 0x000d /* polarity 01 (high), trigger 11 (level) */

/* Build RSDP at buf (GPA gpa) and every table after it, for ncpus CPUs. Returns the bytes used, or 0
 * if cap is too small or ncpus is out of range. */
size_t x86_build_acpi(void *buf, size_t cap, uint64_t gpa, unsigned ncpus);

/* The DSDT's AML body (after the table header): \_S5 package {5, 5, 0, 0} and \_SB.COM1 (PNP0501,
 * I/O 0x3f8-0x3ff, IRQ 4). Returns bytes written or 0 if cap is too small. */
size_t x86_build_dsdt_aml(uint8_t *buf, size_t cap);

/* Devices the DSDT describes beyond COM1 (see vmm/x86/dsdt.c). */
#define X86_ACPI_MAX_MMIO 8
struct x86_acpi_mmio {
	uint64_t base;
	uint64_t size;
	uint32_t gsi;
};
struct x86_acpi_devices {
	int pci;                                 /* kite's PCI bus answers on 0xcf8: \_SB.PCI0 */
	unsigned n_mmio;                         /* virtio-mmio windows: \_SB.VRnn (LNRO0005) */
	struct x86_acpi_mmio mmio[X86_ACPI_MAX_MMIO];
};

/* Fill devs from the VM (vmm/x86/acpi_devices.c): PCI if a host bridge answers a configuration read
 * of 00:00.0 on vm->pio; one window per "virtio_mmio.device=<size>@<base>:<gsi>" word of the kernel
 * command line (kite appends one per virtio-mmio device; Debian kernels ignore them). */
struct vm;
void x86_acpi_find_devices(struct vm *vm, struct x86_acpi_devices *devs);

/* x86_build_acpi() with a DSDT that also describes devs (NULL: none). */
size_t x86_build_acpi_devs(void *buf, size_t cap, uint64_t gpa, unsigned ncpus,
			   const struct x86_acpi_devices *devs);

/* The DSDT's AML with devs (NULL: \_S5 and COM1 only). Returns bytes written or 0 if cap is too
 * small or a window is outside the 32-bit space. */
size_t x86_build_dsdt_aml_devs(uint8_t *buf, size_t cap, const struct x86_acpi_devices *devs);

#endif
