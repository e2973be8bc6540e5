/* SPDX-License-Identifier: MIT */
/*
 * x86 boot against real KVM (suite 'x86-kvm', not 'unit': needs /dev/kvm; skips with a reason
 * without it): CPUID/APIC/LAPIC state after x86_setup_vcpu(), IRQ0 routed to IOAPIC pin 2, and a
 * tiny 64-bit ELF kernel that runs from the boot registers, reads boot_params through RSI and writes
 * to the serial port.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_vm.h"
#include "kite/boot.h"
#include "kite/kvm_irq.h"
#include "kite/log.h"
#include "kite/x86/bootparam.h"
#include "kite/x86/layout.h"

#define RAM (32ULL << 20)

struct kvm_vm {
	struct fake_vm f;
	int vcpu[2];
};

static void kvm_vm_open(struct kvm_vm *k, unsigned ncpus)
{
	fake_vm_init(&k->f, RAM, ncpus);
	k->f.vm.kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	assert_true(k->f.vm.kvm_fd >= 0);
	k->f.vm.vm_fd = ioctl(k->f.vm.kvm_fd, KVM_CREATE_VM, 0);
	assert_true(k->f.vm.vm_fd >= 0);
	assert_int_equal(ioctl(k->f.vm.vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000UL), 0);
	assert_int_equal(ioctl(k->f.vm.vm_fd, KVM_CREATE_IRQCHIP, 0), 0);
	struct kvm_userspace_memory_region r = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = RAM, .userspace_addr = (uint64_t)(uintptr_t)k->f.ram,
	};
	assert_int_equal(ioctl(k->f.vm.vm_fd, KVM_SET_USER_MEMORY_REGION, &r), 0);
	for (unsigned i = 0; i < 2; i++)
		k->vcpu[i] = -1;
	for (unsigned i = 0; i < ncpus && i < 2; i++) {
		k->vcpu[i] = ioctl(k->f.vm.vm_fd, KVM_CREATE_VCPU, i);
		assert_true(k->vcpu[i] >= 0);
	}
}

static void kvm_vm_close(struct kvm_vm *k)
{
	for (unsigned i = 0; i < 2; i++)
		if (k->vcpu[i] >= 0)
			close(k->vcpu[i]);
	close(k->f.vm.vm_fd);
	close(k->f.vm.kvm_fd);
	fake_vm_fini(&k->f);
}

static struct kvm_cpuid_entry2 *leaf(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
	for (unsigned i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn && c->entries[i].index == idx)
			return &c->entries[i];
	return NULL;
}

static uint32_t lvt(const struct kvm_lapic_state *s, unsigned reg)
{
	uint32_t v;
	memcpy(&v, s->regs + reg, 4);
	return v;
}

static void vcpu_state_after_setup(void **state)
{
	(void)state;
	struct kvm_vm k;

	kvm_vm_open(&k, 3);
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(x86_setup_vcpu(&k.f.vm, k.vcpu[i], i), 0);

		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 1024 * sizeof(struct kvm_cpuid_entry2));
		c->nent = 1024;
		assert_int_equal(ioctl(k.vcpu[i], KVM_GET_CPUID2, c), 0);
		assert_non_null(leaf(c, 1, 0));
		assert_int_equal(leaf(c, 1, 0)->ebx >> 24, i);                 /* APIC id = index */
		assert_int_equal((leaf(c, 1, 0)->ebx >> 16) & 0xff, 3);
		assert_true(leaf(c, 1, 0)->ecx & (1U << 31));
		if (leaf(c, 0xb, 1)) {
			assert_int_equal(leaf(c, 0xb, 1)->ebx, 3);
			assert_int_equal(leaf(c, 0xb, 0)->edx, i);
		}
		int khz = ioctl(k.vcpu[i], KVM_GET_TSC_KHZ, 0);
		if (khz > 0 && leaf(c, 0x40000000, 0)) {
			assert_non_null(leaf(c, 0x40000010, 0));
			assert_int_equal(leaf(c, 0x40000010, 0)->eax, khz);
		}
		free(c);

		struct kvm_sregs s;
		assert_int_equal(ioctl(k.vcpu[i], KVM_GET_SREGS, &s), 0);
		assert_int_equal(s.apic_base & ~0xfffULL, KITE_LAPIC_ADDR);
		assert_true(s.apic_base & (1ULL << 11));
		assert_int_equal(!!(s.apic_base & (1ULL << 8)), i == 0);        /* BSP flag on vCPU 0 only */

		struct kvm_lapic_state l;
		assert_int_equal(ioctl(k.vcpu[i], KVM_GET_LAPIC, &l), 0);
		assert_int_equal((lvt(&l, 0x350) >> 8) & 7, 7);                  /* LINT0 ExtINT */
		assert_int_equal((lvt(&l, 0x360) >> 8) & 7, 4);                  /* LINT1 NMI */
	}
	assert_int_equal(x86_setup_vcpu(&k.f.vm, k.vcpu[0], 3), -1);          /* index out of range */
	kvm_vm_close(&k);
}

static void irq0_reaches_ioapic_pin2(void **state)
{
	(void)state;
	struct kvm_vm k;
	struct kvm_irq_level line = { .irq = 0, .level = 1 };
	struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_IOAPIC };
	struct kvm_irq *irq;
	int gsi;

	kvm_vm_open(&k, 1);
	irq = kvm_irq_new(k.f.vm.vm_fd);                                        /* the routing owner */
	assert_non_null(irq);
	assert_int_equal(kvm_irq_line(irq, 0, 1), 0);
	assert_int_equal(ioctl(k.f.vm.vm_fd, KVM_GET_IRQCHIP, &chip), 0);
	assert_int_equal(chip.chip.ioapic.irr & 0x5, 0x4);                      /* pin 2, not pin 0 */
	/* an MSI route on an allocated GSI keeps the legacy routes */
	gsi = kvm_irq_gsi_alloc(irq);
	assert_true(gsi >= 24);
	assert_int_equal(kvm_irq_msi_route(irq, (unsigned)gsi, 0xfee00000, 0x41, true), 0);
	assert_int_equal(kvm_irq_msi_route(irq, 5, 0xfee00000, 0x41, true), -1);  /* not an MSI GSI */
	assert_int_equal(kvm_irq_line(irq, 0, 0), 0);
	assert_int_equal(ioctl(k.f.vm.vm_fd, KVM_IRQ_LINE, &line), 0);
	assert_int_equal(ioctl(k.f.vm.vm_fd, KVM_GET_IRQCHIP, &chip), 0);
	assert_int_equal(chip.chip.ioapic.irr & 0x5, 0x4);
	kvm_irq_free(irq);
	kvm_vm_close(&k);
}

/* mov dx,0x3f8; mov al,[rsi+0x210]; out dx,al; mov al,'K'; out dx,al; hlt */
static const uint8_t tiny_code[] = {
	0x66, 0xba, 0xf8, 0x03, 0x8a, 0x86, 0x10, 0x02, 0x00, 0x00, 0xee, 0xb0, 'K', 0xee, 0xf4,
};

static void tiny_kernel_runs_in_long_mode(void **state)
{
	(void)state;
	struct kvm_vm k;
	struct boot_info bi;
	struct {
		Elf64_Ehdr eh;
		Elf64_Phdr ph;
		uint8_t code[sizeof(tiny_code)];
	} __attribute__((packed)) img;

	memset(&img, 0, sizeof(img));
	memcpy(img.eh.e_ident, ELFMAG, SELFMAG);
	img.eh.e_ident[EI_CLASS] = ELFCLASS64;
	img.eh.e_ident[EI_DATA] = ELFDATA2LSB;
	img.eh.e_type = ET_EXEC;
	img.eh.e_machine = EM_X86_64;
	img.eh.e_entry = 0x100000;
	img.eh.e_phoff = offsetof(__typeof__(img), ph);
	img.eh.e_phentsize = sizeof(Elf64_Phdr);
	img.eh.e_phnum = 1;
	img.ph.p_type = PT_LOAD;
	img.ph.p_offset = offsetof(__typeof__(img), code);
	img.ph.p_paddr = img.ph.p_vaddr = 0x100000;
	img.ph.p_filesz = img.ph.p_memsz = sizeof(tiny_code);
	memcpy(img.code, tiny_code, sizeof(tiny_code));
	char *path = write_temp(&img, sizeof(img));

	kvm_vm_open(&k, 1);
	k.f.cfg.kernel = path;
	memset(&bi, 0, sizeof(bi));
	assert_int_equal(x86_load_linux(&k.f.vm, &bi), 0);
	assert_int_equal(x86_write_firmware_tables(&k.f.vm), 0);
	assert_int_equal(x86_setup_vcpu(&k.f.vm, k.vcpu[0], 0), 0);
	assert_int_equal(x86_setup_boot_regs(&k.f.vm, k.vcpu[0], &bi), 0);

	struct kvm_sregs s;
	assert_int_equal(ioctl(k.vcpu[0], KVM_GET_SREGS, &s), 0);
	assert_true(s.efer & (1ULL << 10));                                    /* LMA */
	assert_int_equal(s.cs.selector, KITE_X86_BOOT_CS);
	assert_int_equal(s.cs.l, 1);
	assert_int_equal(s.ss.selector, KITE_X86_BOOT_DS);
	assert_int_equal(s.cr3, KITE_X86_PML4);

	int sz = ioctl(k.f.vm.kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	assert_true(sz > 0);
	struct kvm_run *run = mmap(NULL, (size_t)sz, PROT_READ | PROT_WRITE, MAP_SHARED, k.vcpu[0], 0);
	assert_true(run != MAP_FAILED);
	uint8_t out[2];
	for (unsigned n = 0; n < 2; n++) {
		int r;
		do
			r = ioctl(k.vcpu[0], KVM_RUN, 0);
		while (r < 0 && errno == EINTR);
		assert_int_equal(r, 0);
		assert_int_equal(run->exit_reason, KVM_EXIT_IO);
		assert_int_equal(run->io.port, KITE_COM1_PORT);
		assert_int_equal(run->io.direction, KVM_EXIT_IO_OUT);
		out[n] = *((uint8_t *)run + run->io.data_offset);
	}
	assert_int_equal(out[0], 0xff);                                        /* boot_params.hdr.type_of_loader */
	assert_int_equal(out[1], 'K');
	munmap(run, (size_t)sz);
	kvm_vm_close(&k);
	remove_temp(path);
}

int main(void)
{
	kite_log_init("test-x86-kvm", KITE_LOG_ERR);
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		printf("SKIP: /dev/kvm: %s\n", strerror(errno));
		return 77;
	}
	close(fd);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(vcpu_state_after_setup),
		cmocka_unit_test(irq0_reaches_ioapic_pin2),
		cmocka_unit_test(tiny_kernel_runs_in_long_mode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
