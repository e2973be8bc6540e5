/* SPDX-License-Identifier: MIT */
/* Intel MultiProcessor Specification 1.4 tables: floating pointer + configuration table. */
#ifndef KITE_X86_MPTABLE_H
#define KITE_X86_MPTABLE_H

#include <stddef.h>
#include <stdint.h>

#define MP_FLOAT_SIG   0x5f504d5fU /* "_MP_" */
#define MP_CONFIG_SIG  0x504d4350U /* "PCMP" */

#define MP_ENTRY_PROCESSOR 0
#define MP_ENTRY_BUS       1
#define MP_ENTRY_IOAPIC    2
#define MP_ENTRY_IOINT     3
#define MP_ENTRY_LOCALINT  4

#define MP_INT_INT     0
#define MP_INT_NMI     1
#define MP_INT_EXTINT  3

#define MP_CPU_ENABLED 0x01
#define MP_CPU_BSP     0x02

struct mp_float {
	uint32_t signature;
	uint32_t config;       /* GPA of the configuration table */
	uint8_t  length;       /* in 16-byte units: 1 */
	uint8_t  spec_rev;     /* 4 = 1.4 */
	uint8_t  checksum;
	uint8_t  feature[5];
} __attribute__((packed));

struct mp_config {
	uint32_t signature;
	uint16_t length;       /* base table, header included */
	uint8_t  spec_rev;
	uint8_t  checksum;
	char     oem[8];
	char     product[12];
	uint32_t oem_table;
	uint16_t oem_table_size;
	uint16_t entries;
	uint32_t lapic;
	uint16_t ext_length;
	uint8_t  ext_checksum;
	uint8_t  reserved;
} __attribute__((packed));

struct mp_processor {
	uint8_t  type;
	uint8_t  apic_id;
	uint8_t  apic_ver;
	uint8_t  flags;
	uint32_t signature;
	uint32_t features;
	uint32_t reserved[2];
} __attribute__((packed));

struct mp_bus {
	uint8_t type;
	uint8_t bus_id;
	char    bus_type[6];
} __attribute__((packed));

struct mp_ioapic {
	uint8_t  type;
	uint8_t  apic_id;
	uint8_t  apic_ver;
	uint8_t  flags;
	uint32_t addr;
} __attribute__((packed));

struct mp_intsrc {     /* IO interrupt and local interrupt entries share this layout */
	uint8_t  type;
	uint8_t  irq_type;
	uint16_t flags;
	uint8_t  src_bus;
	uint8_t  src_irq;
	uint8_t  dst_apic;
	uint8_t  dst_pin;
} __attribute__((packed));

/* Build the floating pointer at buf (GPA gpa) and the configuration table right after it, for ncpus
 * CPUs (APIC ids 0..ncpus-1, 0 is the BSP), an ISA bus and the IOAPIC. Returns the bytes used or 0
 * if cap is too small or ncpus is out of range. */
size_t x86_build_mptable(void *buf, size_t cap, uint64_t gpa, unsigned ncpus);

/* Byte sum (for checksums: a table is valid when the sum of its bytes is 0 mod 256). */
uint8_t x86_sum8(const void *p, size_t len);

#endif
