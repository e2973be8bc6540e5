/* SPDX-License-Identifier: MIT */
/*
 * The VMM core against the real /dev/kvm with hand-assembled real-mode guests (this file supplies
 * the boot entry points, so no Linux loader is involved): serial output, debug-exit status, i8042
 * and ACPI power-off, UART registers and loopback seen from the guest, APs waiting for SIPI, and
 * a SIGTERM stop. Skips (77) only when /dev/kvm cannot be opened.
 */
#include <fcntl.h>
#include <poll.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cmocka.h>

#include "kite/boot.h"
#include "kite/iobus.h"
#include "kite/log.h"
#include "kite/vcpu.h"
#include "kite/vm.h"

#define GUEST_ENTRY 0x1000

static const uint8_t *guest_code;
static size_t guest_len;
static int boot_regs_calls, setup_vcpu_calls;

int x86_load_linux(struct vm *vm, struct boot_info *bi)
{
	void *dst = vm_gpa(vm, GUEST_ENTRY, guest_len);

	if (!dst)
		return -1;
	memcpy(dst, guest_code, guest_len);
	bi->entry = GUEST_ENTRY;
	return 0;
}

int x86_write_firmware_tables(struct vm *vm)
{
	(void)vm;
	return 0;
}

int x86_setup_vcpu(struct vm *vm, int vcpu_fd, unsigned index)
{
	(void)vm;
	(void)vcpu_fd;
	(void)index;
	setup_vcpu_calls++;
	return 0;
}

/* 16-bit real mode, CS = DS = SS = 0, IP = entry. */
int x86_setup_boot_regs(struct vm *vm, int vcpu_fd, const struct boot_info *bi)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	(void)vm;
	boot_regs_calls++;
	if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return -1;
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	sregs.ds = sregs.es = sregs.ss = sregs.fs = sregs.gs = sregs.cs;
	sregs.ds.type = sregs.es.type = sregs.ss.type = sregs.fs.type = sregs.gs.type = 3;
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return -1;
	memset(&regs, 0, sizeof(regs));
	regs.rip = bi->entry;
	regs.rflags = 2;
	regs.rsp = 0x8000;
	return ioctl(vcpu_fd, KVM_SET_REGS, &regs);
}

static char console_path[] = "/tmp/kite-vm-smoke.XXXXXX";

static int setup(void **state)
{
	int fd;

	(void)state;
	kite_log_init("test_vm_smoke", KITE_LOG_WARN);
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		printf("SKIP: /dev/kvm cannot be opened: %m\n");
		exit(77);
	}
	close(fd);
	fd = mkstemp(console_path);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(console_path);
	return 0;
}

struct run_result {
	int status;
	char console[256];
	uint64_t exits;
};

static void run_guest(const uint8_t *code, size_t len, unsigned ncpus, struct run_result *res)
{
	struct vm_config cfg = {
		.kvm_path = "/dev/kvm",
		.kernel = "unused",
		.ncpus = ncpus,
		.mem_mib = 16,
		.console = KITE_CONSOLE_FILE,
		.console_path = console_path,
	};
	struct vm vm;
	FILE *f;
	size_t n;

	for (unsigned i = 0; i < KITE_MAX_VCPUS; i++)
		cfg.pin[i] = -1;
	guest_code = code;
	guest_len = len;
	boot_regs_calls = setup_vcpu_calls = 0;
	assert_int_equal(vm_create(&vm, &cfg), 0);
	assert_int_equal(boot_regs_calls, 1);
	assert_int_equal(setup_vcpu_calls, (int)ncpus);
	assert_int_equal(vm.ram_size, 16ULL << 20);
	assert_non_null(vm_gpa(&vm, 0, 16ULL << 20));
	assert_null(vm_gpa(&vm, 0, (16ULL << 20) + 1));
	res->status = vm_run(&vm);
	res->exits = 0;
	if (vm_vcpu_stat(&vm, 0, "exits", &res->exits) < 0)
		res->exits = UINT64_MAX;
	vm_destroy(&vm);
	assert_int_equal(vm.vm_fd, -1);

	f = fopen(console_path, "r");
	assert_non_null(f);
	n = fread(res->console, 1, sizeof(res->console) - 1, f);
	res->console[n] = '\0';
	fclose(f);
}

/* mov dx,0x3f8; mov al,'H'; out dx,al; mov al,'i'; out dx,al; mov al,'\n'; out dx,al;
 * mov dx,0x501; mov al,42; out dx,al; hlt */
static const uint8_t hello_exit42[] = {
	0xBA, 0xF8, 0x03, 0xB0, 'H', 0xEE, 0xB0, 'i', 0xEE, 0xB0, '\n', 0xEE,
	0xBA, 0x01, 0x05, 0xB0, 42, 0xEE, 0xF4,
};

static void test_serial_and_debug_exit(void **state)
{
	struct run_result r;

	(void)state;
	run_guest(hello_exit42, sizeof(hello_exit42), 1, &r);
	assert_int_equal(r.status, 42);
	assert_string_equal(r.console, "Hi\n");
	/* Four port writes reached userspace at least (stats may be missing on old kernels). */
	if (r.exits != UINT64_MAX)
		assert_true(r.exits >= 4);
}

static void test_aps_wait_for_sipi(void **state)
{
	struct run_result r;

	(void)state;
	/* Only the BSP runs the code; the three APs sit in KVM_RUN waiting for INIT/SIPI and must be
	 * kicked out and joined when the BSP ends the VM. */
	run_guest(hello_exit42, sizeof(hello_exit42), 4, &r);
	assert_int_equal(r.status, 42);
	assert_string_equal(r.console, "Hi\n");
}

static void test_i8042_reset(void **state)
{
	/* mov al,0xfe; out 0x64,al; mov al,7; mov dx,0x501; out dx,al; hlt */
	static const uint8_t code[] = { 0xB0, 0xFE, 0xE6, 0x64, 0xB0, 7, 0xBA, 0x01, 0x05, 0xEE, 0xF4 };
	struct run_result r;

	(void)state;
	run_guest(code, sizeof(code), 1, &r);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.console, "");
}

static void test_legacy_ports(void **state)
{
	/* i8042 self test: mov al,0xaa; out 0x64,al; in al,0x60 -> 0x55 as the exit status */
	static const uint8_t kbc_test[] = { 0xB0, 0xAA, 0xE6, 0x64, 0xE4, 0x60, 0xBA, 0x01, 0x05, 0xEE, 0xF4 };
	/* i8042 aux loopback: 0xd3 then 0x5a on 0x60; status shows OBF|AUXDATA; status byte & 0x21
	 * added to the echoed byte: 0x5a + 0x21 = 0x7b.
	 * mov al,0xd3; out 0x64,al; mov al,0x5a; out 0x60,al; in al,0x64; and al,0x21; mov bl,al;
	 * in al,0x60; add al,bl; mov dx,0x501; out dx,al; hlt */
	static const uint8_t kbc_aux[] = { 0xB0, 0xD3, 0xE6, 0x64, 0xB0, 0x5A, 0xE6, 0x60, 0xE4, 0x64,
					   0x24, 0x21, 0x88, 0xC3, 0xE4, 0x60, 0x00, 0xD8, 0xBA, 0x01,
					   0x05, 0xEE, 0xF4 };
	/* CMOS register D (battery good, 0x80): mov al,0x0d; out 0x70,al; in al,0x71 */
	static const uint8_t cmos_d[] = { 0xB0, 0x0D, 0xE6, 0x70, 0xE4, 0x71, 0xBA, 0x01, 0x05, 0xEE, 0xF4 };
	/* CMOS month in BCD is 0x01..0x12: mov al,8; out 0x70,al; in al,0x71 */
	static const uint8_t cmos_month[] = { 0xB0, 0x08, 0xE6, 0x70, 0xE4, 0x71, 0xBA, 0x01, 0x05, 0xEE, 0xF4 };
	/* PCI: 0xcf8 holds 0x8000f800 (bus 0, device 31: nothing there), 0xcfc reads all ones;
	 * exit (cf8 >> 24) + (cfc & 0xff) + 1 = 0x80 + 0xff + 1 = 0x180 -> low byte 0x80.
	 * mov eax,0x8000f800; mov dx,0xcf8; out dx,eax; in eax,dx; shr eax,24; mov bl,al;
	 * mov dx,0xcfc; in eax,dx; add al,bl; inc al; mov dx,0x501; out dx,al; hlt */
	static const uint8_t pci[] = { 0x66, 0xB8, 0x00, 0xF8, 0x00, 0x80, 0xBA, 0xF8, 0x0C, 0x66, 0xEF,
				       0x66, 0xED, 0x66, 0xC1, 0xE8, 0x18, 0x88, 0xC3, 0xBA, 0xFC, 0x0C,
				       0x66, 0xED, 0x00, 0xD8, 0xFE, 0xC0, 0xBA, 0x01, 0x05, 0xEE, 0xF4 };
	/* PCI reset control: mov al,0x06; mov dx,0xcf9; out dx,al; (exit 3 if still running) */
	static const uint8_t cf9[] = { 0xB0, 0x06, 0xBA, 0xF9, 0x0C, 0xEE, 0xB0, 0x03, 0xBA, 0x01, 0x05,
				       0xEE, 0xF4 };
	struct run_result r;
	int month;

	(void)state;
	run_guest(kbc_test, sizeof(kbc_test), 1, &r);
	assert_int_equal(r.status, 0x55);
	run_guest(kbc_aux, sizeof(kbc_aux), 1, &r);
	assert_int_equal(r.status, 0x7B);
	run_guest(cmos_d, sizeof(cmos_d), 1, &r);
	assert_int_equal(r.status, 0x80);
	run_guest(cmos_month, sizeof(cmos_month), 1, &r);
	month = (r.status >> 4) * 10 + (r.status & 0x0f);
	assert_true(month >= 1 && month <= 12 && (r.status & 0x0f) <= 9);
	run_guest(pci, sizeof(pci), 1, &r);
	assert_int_equal(r.status, 0x80);
	run_guest(cf9, sizeof(cf9), 1, &r);
	assert_int_equal(r.status, 0);
}

static void test_acpi_poweroff(void **state)
{
	/* in ax,dx from PM1a_CNT must show SCI_EN; then SLP_TYP=5|SLP_EN:
	 * mov dx,0x604; in ax,dx; test al,1; jz fail; mov ax,0x3401; out dx,ax; hlt;
	 * fail: mov dx,0x501; mov al,9; out dx,al; hlt */
	static const uint8_t code[] = {
		0xBA, 0x04, 0x06, 0xED, 0xA8, 0x01, 0x74, 0x05, 0xB8, 0x01, 0x34, 0xEF, 0xF4,
		0xBA, 0x01, 0x05, 0xB0, 9, 0xEE, 0xF4,
	};
	struct run_result r;

	(void)state;
	run_guest(code, sizeof(code), 1, &r);
	assert_int_equal(r.status, 0);
}

static void test_uart_registers(void **state)
{
	/* LSR with nothing received: THRE|TEMT = 0x60, reported as the exit status:
	 * mov dx,0x3fd; in al,dx; mov dx,0x501; out dx,al; hlt */
	static const uint8_t lsr[] = { 0xBA, 0xFD, 0x03, 0xEC, 0xBA, 0x01, 0x05, 0xEE, 0xF4 };
	/* Scratch register round trip: mov dx,0x3ff; mov al,0xa5; out dx,al; mov al,0; in al,dx;
	 * mov dx,0x501; out dx,al; hlt */
	static const uint8_t scr[] = { 0xBA, 0xFF, 0x03, 0xB0, 0xA5, 0xEE, 0xB0, 0x00, 0xEC,
				       0xBA, 0x01, 0x05, 0xEE, 0xF4 };
	/* Loopback: MCR=0x1a; THR='Z' comes back in RBR, not on the console; MSR top bits 0x90:
	 * mov dx,0x3fc; mov al,0x1a; out dx,al; mov dx,0x3f8; mov al,'Z'; out dx,al; in al,dx;
	 * mov bl,al; mov dx,0x3fe; in al,dx; and al,0xf0; cmp al,0x90; jne fail;
	 * mov al,bl; mov dx,0x501; out dx,al; hlt; fail: mov al,1; mov dx,0x501; out dx,al; hlt */
	static const uint8_t loop[] = {
		0xBA, 0xFC, 0x03, 0xB0, 0x1A, 0xEE, 0xBA, 0xF8, 0x03, 0xB0, 'Z', 0xEE, 0xEC,
		0x88, 0xC3, 0xBA, 0xFE, 0x03, 0xEC, 0x24, 0xF0, 0x3C, 0x90, 0x75, 0x07,
		0x88, 0xD8, 0xBA, 0x01, 0x05, 0xEE, 0xF4,
		0xB0, 0x01, 0xBA, 0x01, 0x05, 0xEE, 0xF4,
	};
	/* Absent COM2 and unclaimed ports read all ones: in al,dx from 0x2f8 -> status 0xff. */
	static const uint8_t com2[] = { 0xBA, 0xF8, 0x02, 0xEC, 0xBA, 0x01, 0x05, 0xEE, 0xF4 };
	struct run_result r;

	(void)state;
	run_guest(lsr, sizeof(lsr), 1, &r);
	assert_int_equal(r.status, 0x60);
	run_guest(scr, sizeof(scr), 1, &r);
	assert_int_equal(r.status, 0xA5);
	run_guest(loop, sizeof(loop), 1, &r);
	assert_int_equal(r.status, 'Z');
	assert_string_equal(r.console, "");
	run_guest(com2, sizeof(com2), 1, &r);
	assert_int_equal(r.status, 0xff);
}

/* Console on stdio: stdin is a pipe holding `input`, stdout goes to the console file. */
static void run_guest_stdio(const uint8_t *code, size_t len, const char *input, struct run_result *res)
{
	struct vm_config cfg = {
		.kvm_path = "/dev/kvm", .kernel = "unused", .ncpus = 1, .mem_mib = 16,
		.console = KITE_CONSOLE_STDIO,
	};
	int in_pipe[2], out_fd, saved_in, saved_out;
	struct vm vm;
	FILE *f;
	size_t n;

	for (unsigned i = 0; i < KITE_MAX_VCPUS; i++)
		cfg.pin[i] = -1;
	guest_code = code;
	guest_len = len;
	assert_int_equal(pipe(in_pipe), 0);
	assert_int_equal(write(in_pipe[1], input, strlen(input)), (ssize_t)strlen(input));
	close(in_pipe[1]);
	out_fd = open(console_path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	assert_true(out_fd >= 0);
	fflush(stdout);
	saved_in = dup(STDIN_FILENO);
	saved_out = dup(STDOUT_FILENO);
	dup2(in_pipe[0], STDIN_FILENO);
	dup2(out_fd, STDOUT_FILENO);
	close(in_pipe[0]);
	close(out_fd);

	res->status = -1;
	if (vm_create(&vm, &cfg) == 0) {
		res->status = vm_run(&vm);
		vm_destroy(&vm);
	}

	dup2(saved_in, STDIN_FILENO);
	dup2(saved_out, STDOUT_FILENO);
	close(saved_in);
	close(saved_out);
	f = fopen(console_path, "r");
	assert_non_null(f);
	n = fread(res->console, 1, sizeof(res->console) - 1, f);
	res->console[n] = '\0';
	fclose(f);
}

static void test_serial_input_polled(void **state)
{
	/* Poll LSR.DR, read RBR, echo it to THR; after 'q' exit with status 'q'. */
	static const uint8_t poll[] = {
		0xba, 0xfd, 0x03, 0xec, 0xa8, 0x01, 0x74, 0xfb, 0xba, 0xf8, 0x03, 0xec,
		0xee, 0x3c, 0x71, 0x75, 0xef, 0xba, 0x01, 0x05, 0xee, 0xf4
	};
	struct run_result r;

	(void)state;
	run_guest_stdio(poll, sizeof(poll), "abq", &r);
	assert_int_equal(r.status, 'q');
	assert_string_equal(r.console, "abq");
}

static void test_serial_interrupts(void **state)
{
	/* Interrupt-driven echo through the 8259: IRQ 4 on received data queues the byte and enables
	 * the THRE interrupt, which sends it back upper-cased; exit status 'Q' after sending 'Q'.
	 * The UART FIFO stays off. (16-bit code: IVT vector 0x0c, ring at 0x600.) */
	static const uint8_t irq[] = {
		0xfa, 0x31, 0xc0, 0x8e, 0xd8, 0xc7, 0x06, 0x30, 0x00, 0x52, 0x10, 0xc7,
		0x06, 0x32, 0x00, 0x00, 0x00, 0xc7, 0x06, 0x00, 0x07, 0x00, 0x00, 0xc7,
		0x06, 0x02, 0x07, 0x00, 0x00, 0xc6, 0x06, 0x04, 0x07, 0x00, 0xb0, 0x11,
		0xe6, 0x20, 0xb0, 0x08, 0xe6, 0x21, 0xb0, 0x04, 0xe6, 0x21, 0xb0, 0x01,
		0xe6, 0x21, 0xb0, 0xef, 0xe6, 0x21, 0xba, 0xfc, 0x03, 0xb0, 0x0b, 0xee,
		0xba, 0xf9, 0x03, 0xb0, 0x01, 0xee, 0xfb, 0xf4, 0x80, 0x3e, 0x04, 0x07,
		0x00, 0x74, 0xf8, 0xba, 0x01, 0x05, 0xb0, 0x51, 0xee, 0xf4, 0x50, 0x53,
		0x52, 0xba, 0xfa, 0x03, 0xec, 0xa8, 0x01, 0x75, 0x5f, 0x24, 0x0f, 0x3c,
		0x02, 0x74, 0x2a, 0x3c, 0x04, 0x74, 0x0a, 0x3c, 0x0c, 0x74, 0x06, 0xba,
		0xfd, 0x03, 0xec, 0xeb, 0xe4, 0xba, 0xf8, 0x03, 0xec, 0x8b, 0x1e, 0x00,
		0x07, 0x81, 0xe3, 0xff, 0x00, 0x88, 0x87, 0x00, 0x06, 0xff, 0x06, 0x00,
		0x07, 0xba, 0xf9, 0x03, 0xb0, 0x03, 0xee, 0xeb, 0xc8, 0x8b, 0x1e, 0x02,
		0x07, 0x3b, 0x1e, 0x00, 0x07, 0x74, 0x1d, 0x81, 0xe3, 0xff, 0x00, 0x8a,
		0x87, 0x00, 0x06, 0x24, 0xdf, 0xba, 0xf8, 0x03, 0xee, 0xff, 0x06, 0x02,
		0x07, 0x3c, 0x51, 0x75, 0xa8, 0xc6, 0x06, 0x04, 0x07, 0x01, 0xeb, 0xa1,
		0xba, 0xf9, 0x03, 0xb0, 0x01, 0xee, 0xeb, 0x99, 0xb0, 0x20, 0xe6, 0x20,
		0x5a, 0x5b, 0x58, 0xcf
	};
	struct run_result r;

	(void)state;
	run_guest_stdio(irq, sizeof(irq), "kite-q", &r);
	assert_int_equal(r.status, 'Q');
	assert_string_equal(r.console, "KITE\rQ");
}

struct irqfd_ctx {
	int doorbell;     /* ioeventfd the guest rings */
	int irq;          /* irqfd on GSI 5 */
};

static void *ring_irq_on_doorbell(void *arg)
{
	struct irqfd_ctx *c = arg;
	struct pollfd pfd = { .fd = c->doorbell, .events = POLLIN };
	uint64_t v = 1;

	/* Waits for the guest's doorbell (no timeout: the test's own timeout is the guard). */
	if (poll(&pfd, 1, -1) == 1 && read(c->doorbell, &v, sizeof(v)) == sizeof(v) && v == 1) {
		v = 1;
		if (write(c->irq, &v, sizeof(v)) != sizeof(v))
			return (void *)1;
		return NULL;
	}
	return (void *)1;
}

static int doorbell_exits;

static void doorbell_pio(void *opaque, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	(void)opaque;
	(void)addr;
	(void)data;
	(void)len;
	(void)is_write;
	doorbell_exits++;
}

static void test_ioeventfd_irqfd(void **state)
{
	/* Guest: unmask IRQ 5, write port 0x510 (ioeventfd), halt; the IRQ 5 handler exits 0x55. */
	static const uint8_t code[] = {
		0xfa, 0x31, 0xc0, 0x8e, 0xd8, 0xc7, 0x06, 0x34, 0x00, 0x2f, 0x10, 0xc7,
		0x06, 0x36, 0x00, 0x00, 0x00, 0xb0, 0x11, 0xe6, 0x20, 0xb0, 0x08, 0xe6,
		0x21, 0xb0, 0x04, 0xe6, 0x21, 0xb0, 0x01, 0xe6, 0x21, 0xb0, 0xdf, 0xe6,
		0x21, 0xfb, 0xba, 0x10, 0x05, 0xb0, 0x01, 0xee, 0xf4, 0xeb, 0xfd, 0xb0,
		0x20, 0xe6, 0x20, 0xba, 0x01, 0x05, 0xb0, 0x55, 0xee, 0xf4
	};
	struct vm_config cfg = {
		.kvm_path = "/dev/kvm", .kernel = "unused", .ncpus = 1, .mem_mib = 16,
		.console = KITE_CONSOLE_NONE,
	};
	struct machine_ioeventfd bell, bad_len;
	struct irqfd_ctx c;
	struct vm vm;
	pthread_t t;
	void *thread_ret;

	(void)state;
	for (unsigned i = 0; i < KITE_MAX_VCPUS; i++)
		cfg.pin[i] = -1;
	guest_code = code;
	guest_len = sizeof(code);
	c.doorbell = eventfd(0, EFD_CLOEXEC);
	c.irq = eventfd(0, EFD_CLOEXEC);
	assert_true(c.doorbell >= 0 && c.irq >= 0);
	bell = (struct machine_ioeventfd){ .addr = 0x510, .len = 1, .pio = true, .fd = c.doorbell };
	bad_len = bell;
	bad_len.len = 3;
	assert_int_equal(vm_create(&vm, &cfg), 0);
	/* A userspace handler on the same port must not see the write: KVM takes it first. */
	doorbell_exits = 0;
	assert_int_equal(iobus_register(vm.pio, 0x510, 1, doorbell_pio, NULL), 0);
	/* through the machine devices see, to the doorbell owner (vmm/kvm_irq.c) */
	assert_int_equal(machine_ioeventfd(&vm.machine, &bell, false), 0);
	assert_int_equal(machine_irqfd(&vm.machine, 5, c.irq, false), 0);
	assert_int_equal(machine_ioeventfd(&vm.machine, &bad_len, false), -1);
	assert_int_equal(pthread_create(&t, NULL, ring_irq_on_doorbell, &c), 0);
	assert_int_equal(vm_run(&vm), 0x55);
	pthread_join(t, &thread_ret);
	assert_null(thread_ret);
	assert_int_equal(doorbell_exits, 0);
	assert_int_equal(machine_irqfd(&vm.machine, 5, c.irq, true), 0);
	assert_int_equal(machine_ioeventfd(&vm.machine, &bell, true), 0);
	vm_destroy(&vm);
	close(c.doorbell);
	close(c.irq);
}

static struct vm *sig_vm;

static void *send_sigterm(void *arg)
{
	sigset_t set;

	(void)arg;
	/* This thread must not take the signal itself. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	while (!sig_vm->vcpus || !__atomic_load_n(&sig_vm->vcpus[0].started, __ATOMIC_ACQUIRE))
		usleep(1000);
	kill(getpid(), SIGTERM);
	return NULL;
}

static void test_sigterm_stops(void **state)
{
	/* mov dx,0x3f8; mov al,'.'; out dx,al; jmp $ */
	static const uint8_t spin[] = { 0xBA, 0xF8, 0x03, 0xB0, '.', 0xEE, 0xEB, 0xFE };
	struct vm_config cfg = {
		.kvm_path = "/dev/kvm", .kernel = "unused", .ncpus = 2, .mem_mib = 16,
		.console = KITE_CONSOLE_NONE,
	};
	struct vm vm;
	pthread_t t;

	(void)state;
	for (unsigned i = 0; i < KITE_MAX_VCPUS; i++)
		cfg.pin[i] = -1;
	guest_code = spin;
	guest_len = sizeof(spin);
	assert_int_equal(vm_create(&vm, &cfg), 0);
	sig_vm = &vm;
	assert_int_equal(pthread_create(&t, NULL, send_sigterm, NULL), 0);
	assert_int_equal(vm_run(&vm), KITE_EXIT_SIGNAL_BASE + SIGTERM);
	pthread_join(t, NULL);
	vm_destroy(&vm);
}

static void test_bad_kvm_path(void **state)
{
	struct vm_config cfg = {
		.kvm_path = "/nonexistent/kvm", .kernel = "unused", .ncpus = 1, .mem_mib = 16,
		.console = KITE_CONSOLE_NONE,
	};
	struct vm vm;

	(void)state;
	guest_code = hello_exit42;
	guest_len = sizeof(hello_exit42);
	assert_int_equal(vm_create(&vm, &cfg), -1);
	cfg.kvm_path = "/dev/null";    /* not KVM: the API version check fails */
	assert_int_equal(vm_create(&vm, &cfg), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_serial_and_debug_exit),
		cmocka_unit_test(test_aps_wait_for_sipi),
		cmocka_unit_test(test_i8042_reset),
		cmocka_unit_test(test_acpi_poweroff),
		cmocka_unit_test(test_legacy_ports),
		cmocka_unit_test(test_uart_registers),
		cmocka_unit_test(test_serial_input_polled),
		cmocka_unit_test(test_serial_interrupts),
		cmocka_unit_test(test_ioeventfd_irqfd),
		cmocka_unit_test(test_sigterm_stops),
		cmocka_unit_test(test_bad_kvm_path),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
