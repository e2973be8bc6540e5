/* SPDX-License-Identifier: MIT */
/* The test guest's internal interfaces: port I/O, console, exit codes, boot data, CPU setup. */
#ifndef GUEST_H
#define GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "layout.h"

/*
 * Exit codes written to the debug-exit port (kite exits with this status; QEMU with (v << 1) | 1).
 * Documented in guest/README.md.
 */
enum guest_exit {
	GUEST_PASS = 0,
	GUEST_EXIT_USAGE = 2,      /* unknown test name or bad kite.* option */
	GUEST_EXIT_EXCEPTION = 3,  /* unexpected CPU exception */
	GUEST_EXIT_CHECK = 4,      /* a test's check failed */
	GUEST_EXIT_TIMEOUT = 5,    /* an AP, interrupt or device did not answer in time */
	GUEST_EXIT_NO_EFFECT = 6,  /* reset / poweroff / triple fault did not end the VM */
	GUEST_EXIT_NO_TABLES = 7,  /* firmware tables (ACPI / MP) missing or corrupt */
};

#define DEBUG_EXIT_PORT	0x501
#define COM1		0x3f8

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint16_t inw(uint16_t port) { uint16_t v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }
static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}
static inline void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
}
static inline uint32_t mmio_read32(uint64_t addr) { return *(volatile uint32_t *)addr; }
static inline void mmio_write32(uint64_t addr, uint32_t v) { *(volatile uint32_t *)addr = v; }

/* lib.c */
void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
void serial_init(void);
void guest_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
__attribute__((noreturn)) void guest_exit(int code);
/* Print "kite-guest: FAIL <test>: <why>" and exit with code. */
__attribute__((noreturn, format(printf, 2, 3))) void guest_fail(int code, const char *fmt, ...);
__attribute__((noreturn)) void guest_pass(void);
uint32_t fnv1a32(const void *buf, size_t len, uint32_t h);

/* cmdline.c: "key=value" words of the kernel command line. */
void cmdline_set(const char *s);
const char *cmdline_text(void);
/* Copies the value of key into buf (NUL-terminated); false if absent or too long. */
bool cmdline_str(const char *key, char *buf, size_t size);
/* Decimal or 0x-hex value of key, or def if absent; a malformed value fails the run. */
uint64_t cmdline_u64(const char *key, uint64_t def);

/* bootparams.c: a private copy of the zero page taken at entry. */
#define BP_ACPI_RSDP		0x070
#define BP_EXT_RAMDISK_IMAGE	0x0c0
#define BP_EXT_RAMDISK_SIZE	0x0c4
#define BP_EXT_CMD_LINE_PTR	0x0c8
#define BP_E820_ENTRIES		0x1e8
#define BP_HDR_MAGIC		0x202
#define BP_VERSION		0x206
#define BP_TYPE_OF_LOADER	0x210
#define BP_LOADFLAGS		0x211
#define BP_RAMDISK_IMAGE	0x218
#define BP_RAMDISK_SIZE		0x21c
#define BP_CMD_LINE_PTR		0x228
#define BP_CMDLINE_SIZE		0x238
#define BP_E820_TABLE		0x2d0
#define E820_MAX		128
#define E820_RAM		1

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

extern uint8_t boot_params[4096];
extern uint64_t boot_params_gpa;
static inline uint8_t bp_u8(unsigned off) { return boot_params[off]; }
static inline uint32_t bp_u32(unsigned off) { uint32_t v; memcpy(&v, boot_params + off, 4); return v; }
static inline uint64_t bp_u64(unsigned off) { uint64_t v; memcpy(&v, boot_params + off, 8); return v; }
/* pvh.c: fill boot_params from a PVH hvm_start_info. */
void pvh_to_boot_params(uint64_t start_info);
unsigned e820_count(void);
const struct e820_entry *e820_get(unsigned i);
/* Is [addr, addr + len) wholly inside usable RAM? */
bool e820_is_ram(uint64_t addr, uint64_t len);

/* cpu.c: own page tables, IDT, exceptions, interrupt handlers. */
struct irq_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;
};
typedef void (*irq_handler)(struct irq_frame *f);
void paging_init(void);
void idt_init(void);
void idt_load(void);
void pic_disable(void);
void irq_set_handler(unsigned vector, irq_handler fn);
/* rdmsr that returns -1 instead of faulting on a #GP (unknown MSR). */
int safe_rdmsr(uint32_t msr, uint64_t *val);
/* Drops the IDT so the next exception triple-faults. */
void idt_break(void);
static inline void irq_enable(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void irq_disable(void) { __asm__ volatile("cli" ::: "memory"); }

/* lapic.c */
#define LAPIC_BASE	0xfee00000ULL
#define KITE_IOAPIC_GPA	0xfec00000ULL
#define TIMER_VECTOR_MAX	0x4f	/* highest vector with an IDT gate besides 0xff */
void lapic_enable(void);
uint32_t lapic_id(void);
void lapic_eoi(void);
void lapic_write(unsigned reg, uint32_t v);
uint32_t lapic_read(unsigned reg);
/* INIT, SIPI, SIPI to apic_id; start page = vector << 12. */
void lapic_start_ap(uint32_t apic_id, uint8_t vector);

/* ioapic.c */
unsigned ioapic_pins(uint64_t base);
void ioapic_route(uint64_t base, unsigned pin, uint8_t vector, uint32_t apic_id);
void ioapic_mask(uint64_t base, unsigned pin);

/* acpi.c: firmware tables. */
struct acpi_info {
	bool found;
	uint64_t rsdp;
	unsigned ncpus;             /* enabled local APICs in the MADT */
	uint32_t apic_ids[GUEST_MAX_CPUS];
	unsigned nids;              /* ids stored (at most GUEST_MAX_CPUS) */
	uint64_t fadt, dsdt, madt;
	uint16_t pm1a_cnt;
	uint16_t smi_cmd;
	uint8_t acpi_enable;
	int s5_typ;                 /* -1 if \_S5 not found in the DSDT */
	int irq0_gsi;               /* GSI of ISA IRQ 0 from the MADT overrides (0 if none) */
	uint64_t ioapic;
};
/* Returns 0, or GUEST_EXIT_NO_TABLES with a printed reason (bad checksum, missing table). */
int acpi_scan(struct acpi_info *ai);
/* CPUs in the MP table, -1 if there is none (or its checksum is wrong: printed). */
int mptable_cpus(void);

/* pvm.c: the kvm-pvm native CPL0 mode, a no-op elsewhere. */
bool pvm_detect(void);
/* Registers the PV cell: everything after runs natively. false when not a kvm-pvm host. */
bool pvm_enable_native(void);
/* Native mode registered? Measured: kvm-pvm then delivers no interrupts (STI;HLT never wakes). */
bool pvm_native_active(void);
/* Fails the run (usage) when an interrupt-driven test is asked to run in native mode. */
void require_interrupts(void);

/* smp.c: entered by every AP. */
void ap_main(void);
extern volatile uint64_t ap_stack_top;

/* One test: name on kite.test=, function that ends the run (pass or fail). */
struct guest_test {
	const char *name;
	void (*run)(void);
	const char *what;
};
extern const char *current_test;
void test_hello(void);
void test_bootparams(void);
void test_smp(void);
void test_timer(void);
void test_reset(void);
void test_cad(void);
void test_triplefault(void);
void test_poweroff(void);
void test_native(void);
void test_spin(void);
void test_idle(void);
void test_count(void);
void test_exec_hook(void);
void test_pit(void);
void test_serial_irq(void);
void test_serial_echo(void);

#endif
