/* SPDX-License-Identifier: MIT */
/*
 * Legacy devices through the port I/O bus, without KVM: debug exit, ACPI PM1a, i8042, CMOS/RTC,
 * empty PCI slots and the 0xCF9 reset, absent COM ports, and the 16550A (registers, DLAB, IIR
 * priorities, FIFO, loopback, output bytes, input from a pipe through the event loop).
 * The IRQ line cannot be driven without a VM fd; those failures are logged with stderr silenced.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kite/devices.h"
#include "kite/evloop.h"
#include "kite/iobus.h"
#include "kite/log.h"
#include "kite/vm.h"

static struct vm_config cfg;
static struct vm vm;
static int saved_stderr = -1;

static void quiet(bool on)
{
	if (on) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

		fflush(stderr);
		saved_stderr = dup(STDERR_FILENO);
		dup2(null, STDERR_FILENO);
		close(null);
	} else if (saved_stderr >= 0) {
		dup2(saved_stderr, STDERR_FILENO);
		close(saved_stderr);
		saved_stderr = -1;
	}
}

static void vm_fake_init(void)
{
	memset(&cfg, 0, sizeof(cfg));
	cfg.console = KITE_CONSOLE_NONE;
	cfg.ncpus = 1;
	memset(&vm, 0, sizeof(vm));
	vm.cfg = &cfg;
	vm.kvm_fd = vm.vm_fd = vm.mem_fd = -1;
	atomic_init(&vm.exiting, false);
	atomic_init(&vm.exit_status, -1);
	vm.pio = iobus_new("pio");
	vm.mmio = iobus_new("mmio");
	vm.loop = evloop_new();
	assert_non_null(vm.pio);
	assert_non_null(vm.loop);
}

static void vm_fake_free(void)
{
	devices_exit(&vm);
	evloop_free(vm.loop);
	iobus_free(vm.pio);
	iobus_free(vm.mmio);
}

static int setup(void **state)
{
	(void)state;
	kite_log_init("test_devices", KITE_LOG_ERR);
	vm_fake_init();
	return devices_init(&vm);
}

static int teardown(void **state)
{
	(void)state;
	vm_fake_free();
	return 0;
}

static void exit_reset(void)
{
	atomic_store(&vm.exiting, false);
	atomic_store(&vm.exit_status, -1);
}

static uint32_t in(uint16_t port, uint32_t len)
{
	uint8_t data[4] = { 0 };
	uint32_t v = 0;

	assert_true(iobus_access(vm.pio, port, data, len, false));
	memcpy(&v, data, len);
	return v;
}

static void out(uint16_t port, uint32_t len, uint32_t v)
{
	uint8_t data[4];

	memcpy(data, &v, sizeof(data));
	assert_true(iobus_access(vm.pio, port, data, len, true));
}

static void test_debug_exit(void **state)
{
	(void)state;
	exit_reset();
	assert_int_equal(in(KITE_DEBUG_EXIT_PORT, 1), 0xff);
	assert_false(atomic_load(&vm.exiting));
	out(KITE_DEBUG_EXIT_PORT, 1, 42);
	assert_true(atomic_load(&vm.exiting));
	assert_int_equal(atomic_load(&vm.exit_status), 42);
	assert_true(evloop_stopped(vm.loop));
	/* The first request wins. */
	out(KITE_DEBUG_EXIT_PORT, 1, 3);
	assert_int_equal(atomic_load(&vm.exit_status), 42);
	exit_reset();
}

static void test_acpi_pm(void **state)
{
	(void)state;
	exit_reset();
	assert_int_equal(in(KITE_ACPI_PM1A_CNT, 2) & 1, 1);          /* SCI_EN */
	out(KITE_ACPI_PM1A_CNT, 2, 5 << 10);                           /* S5 type, no SLP_EN */
	assert_false(atomic_load(&vm.exiting));
	out(KITE_ACPI_PM1A_CNT, 2, (3 << 10) | (1 << 13));             /* S3: ignored */
	assert_false(atomic_load(&vm.exiting));
	assert_int_equal(in(KITE_ACPI_PM1A_CNT, 2) & (1 << 13), 0);   /* SLP_EN reads 0 */
	out(KITE_ACPI_PM1A_EVT + 2, 2, 0x0120);                        /* PM1_EN */
	assert_int_equal(in(KITE_ACPI_PM1A_EVT + 2, 2), 0x0120);
	assert_int_equal(in(KITE_ACPI_PM1A_EVT, 4), 0x01200000);      /* STS 0, EN in the top half */
	out(KITE_ACPI_PM1A_EVT, 2, 0xffff);                            /* W1C on a clear status */
	assert_int_equal(in(KITE_ACPI_PM1A_EVT, 2), 0);
	/* Byte-wise: SLP_TYP written in the low byte's neighbour, then SLP_EN in the high byte. */
	out(KITE_ACPI_PM1A_CNT + 1, 1, (5 << 2));
	assert_false(atomic_load(&vm.exiting));
	out(KITE_ACPI_PM1A_CNT + 1, 1, (5 << 2) | (1 << 5));
	assert_true(atomic_load(&vm.exiting));
	assert_int_equal(atomic_load(&vm.exit_status), 0);
	exit_reset();
}

static void test_i8042(void **state)
{
	(void)state;
	exit_reset();
	assert_int_equal(in(0x64, 1) & 0x05, 0x04);    /* system flag, nothing to read */
	out(0x64, 1, 0x20);
	assert_int_equal(in(0x64, 1) & 0x01, 0x01);
	assert_int_equal(in(0x60, 1), 0x07);
	out(0x64, 1, 0x60);
	out(0x60, 1, 0x45);
	out(0x64, 1, 0x20);
	assert_int_equal(in(0x60, 1), 0x45);
	out(0x64, 1, 0xAA);
	assert_int_equal(in(0x60, 1), 0x55);
	assert_int_equal(in(0x64, 1) & 0x01, 0);
	out(0x64, 1, 0xD3);
	out(0x60, 1, 0x5A);
	assert_int_equal(in(0x64, 1) & 0x21, 0x21);    /* OBF from the aux port */
	assert_int_equal(in(0x60, 1), 0x5A);
	assert_int_equal(in(0x64, 1) & 0x21, 0);
	out(0x64, 1, 0xD1);
	out(0x60, 1, 0x03);                             /* reset line high: nothing */
	assert_false(atomic_load(&vm.exiting));
	out(0x64, 1, 0xD1);
	out(0x60, 1, 0x02);                             /* bit 0 low: CPU reset */
	assert_true(atomic_load(&vm.exiting));
	assert_int_equal(atomic_load(&vm.exit_status), 0);
	exit_reset();
	out(0x64, 1, 0xFE);
	assert_true(atomic_load(&vm.exiting));
	assert_int_equal(atomic_load(&vm.exit_status), 0);
	exit_reset();
}

static unsigned bcd(uint8_t v)
{
	assert_true((v & 0x0f) <= 9 && (v >> 4) <= 9);
	return (v >> 4) * 10 + (v & 0x0f);
}

static uint8_t cmos(uint8_t reg)
{
	out(0x70, 1, reg);
	return (uint8_t)in(0x71, 1);
}

static void test_cmos_rtc(void **state)
{
	(void)state;
	assert_int_equal(cmos(0x0B), 0x02);             /* 24 h, BCD */
	assert_int_equal(cmos(0x0A) & 0x80, 0);         /* no update in progress */
	assert_int_equal(cmos(0x8D), 0x80);             /* NMI-mask bit ignored; battery good */
	assert_true(bcd(cmos(0x00)) < 60);
	assert_true(bcd(cmos(0x02)) < 60);
	assert_true(bcd(cmos(0x04)) < 24);
	assert_true(bcd(cmos(0x07)) >= 1 && bcd(cmos(0x07)) <= 31);
	assert_true(bcd(cmos(0x08)) >= 1 && bcd(cmos(0x08)) <= 12);
	assert_true(bcd(cmos(0x32)) >= 20);             /* century */
	/* Time registers cannot be overwritten; RAM bytes can. */
	out(0x70, 1, 0x08);
	out(0x71, 1, 0x99);
	assert_true(bcd(cmos(0x08)) <= 12);
	out(0x70, 1, 0x40);
	out(0x71, 1, 0xA7);
	assert_int_equal(cmos(0x40), 0xA7);
	/* Binary mode is honoured; 24 h stays. */
	out(0x70, 1, 0x0B);
	out(0x71, 1, 0x04);
	assert_int_equal(cmos(0x0B), 0x06);
	assert_true(cmos(0x08) >= 1 && cmos(0x08) <= 12);
	out(0x70, 1, 0x0B);
	out(0x71, 1, 0x02);
}

static void test_pci_and_absent_ports(void **state)
{
	(void)state;
	exit_reset();
	/* The PCI bus (pci/) owns 0xCF8-0xCFF once it exists; bus 0 device 31 is empty. */
	out(0xCF8, 4, 0x8000F800);
	assert_int_equal(in(0xCF8, 4), 0x8000F800);
	assert_int_equal(in(0xCFC, 4), 0xffffffff);
	assert_int_equal(in(0xCFE, 2), 0xffff);
	out(0xCF9, 1, 0x02);                            /* no reset bit */
	assert_false(atomic_load(&vm.exiting));
	out(0xCF9, 1, 0x06);
	assert_true(atomic_load(&vm.exiting));
	assert_int_equal(atomic_load(&vm.exit_status), 0);
	exit_reset();
	out(0x80, 1, 0x12);                             /* POST code absorbed */
	assert_int_equal(in(0x2F8 + 5, 1), 0xff);      /* COM2-4 absent */
	assert_int_equal(in(0x3E8, 1), 0xff);
	assert_int_equal(in(0x2E8 + 7, 1), 0xff);
}

static size_t file_bytes(int fd, char *buf, size_t len)
{
	ssize_t n = pread(fd, buf, len - 1, 0);

	assert_true(n >= 0);
	buf[n] = '\0';
	return (size_t)n;
}

static void test_uart(void **state)
{
	char path[] = "/tmp/kite-uart-test.XXXXXX";
	int out_fd = mkstemp(path);
	int in_pipe[2];
	struct serial8250 *u;
	char buf[64];

	(void)state;
	/* A second VM with only a UART wired to a file and a pipe. */
	vm_fake_free();
	vm_fake_init();
	assert_true(out_fd >= 0);
	unlink(path);
	assert_int_equal(pipe(in_pipe), 0);
	u = serial8250_new(&vm, 0x3F8, 4, out_fd, in_pipe[0]);
	assert_non_null(u);
	quiet(true);
	assert_null(serial8250_new(&vm, 0x3F8, 4, out_fd, -1));   /* port range taken */
	quiet(false);

	out(0x3F8, 1, 'o');
	out(0x3F8, 1, 'k');
	assert_int_equal(file_bytes(out_fd, buf, sizeof(buf)), 2);
	assert_string_equal(buf, "ok");
	assert_int_equal(in(0x3FD, 1), 0x60);
	out(0x3FF, 1, 0x5C);
	assert_int_equal(in(0x3FF, 1), 0x5C);
	/* DLAB: divisor latch instead of THR/IER; nothing is transmitted. */
	out(0x3FB, 1, 0x83);
	out(0x3F8, 1, 0x01);
	out(0x3F9, 1, 0x00);
	assert_int_equal(in(0x3F8, 1), 0x01);
	assert_int_equal(in(0x3F9, 1), 0x00);
	out(0x3FB, 1, 0x03);
	assert_int_equal(in(0x3F9, 1), 0x00);            /* IER still 0 */
	assert_int_equal(file_bytes(out_fd, buf, sizeof(buf)), 2);

	quiet(true);   /* IRQ line changes fail without a VM fd */
	assert_int_equal(in(0x3FA, 1), 0x01);            /* no interrupt */
	out(0x3F9, 1, 0x02);                             /* ETBEI with THR empty */
	assert_int_equal(in(0x3FA, 1), 0x02);            /* THRI ... */
	assert_int_equal(in(0x3FA, 1), 0x01);            /* ... acknowledged by reading IIR */
	out(0x3F8, 1, '!');                              /* a write re-arms it */
	assert_int_equal(in(0x3FA, 1), 0x02);

	/* Input: FIFO off holds one byte; the loop stops reading until the guest takes it. */
	assert_int_equal(write(in_pipe[1], "abc", 3), 3);
	assert_int_equal(evloop_run_once(vm.loop, 1000), 0);
	assert_int_equal(in(0x3FD, 1), 0x61);            /* DR */
	out(0x3F9, 1, 0x03);                             /* + ERBFI */
	assert_int_equal(in(0x3FA, 1), 0x04);            /* RDI wins over THRI */
	assert_int_equal(in(0x3F8, 1), 'a');
	assert_int_equal(in(0x3FD, 1) & 1, 0);
	/* FIFO on (IIR bits 7-6 set), then the rest arrives at once. */
	out(0x3FA, 1, 0x01);
	assert_int_equal(in(0x3FA, 1) & 0xC0, 0xC0);
	assert_int_equal(evloop_run_once(vm.loop, 1000), 0);
	assert_int_equal(in(0x3FA, 1), 0xC4);
	assert_int_equal(in(0x3F8, 1), 'b');
	assert_int_equal(in(0x3F8, 1), 'c');
	assert_int_equal(in(0x3FD, 1), 0x60);
	/* EOF on the input: no more reads, no error. */
	close(in_pipe[1]);
	assert_int_equal(evloop_run_once(vm.loop, 1000), 0);
	assert_int_equal(in(0x3FD, 1), 0x60);

	/* Loopback: THR comes back in RBR and is not transmitted; MSR follows MCR. */
	out(0x3FC, 1, 0x1A);
	assert_int_equal(in(0x3FE, 1) & 0xF0, 0x90);
	out(0x3F8, 1, 'L');
	assert_int_equal(in(0x3FD, 1) & 1, 1);
	assert_int_equal(in(0x3F8, 1), 'L');
	out(0x3FC, 1, 0x0B);
	assert_int_equal(in(0x3FE, 1) & 0xF0, 0xB0);
	out(0x3F9, 1, 0x00);
	quiet(false);
	assert_int_equal(file_bytes(out_fd, buf, sizeof(buf)), 3);
	assert_string_equal(buf, "ok!");

	serial8250_free(u);
	close(in_pipe[0]);
	close(out_fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_debug_exit),
		cmocka_unit_test(test_acpi_pm),
		cmocka_unit_test(test_i8042),
		cmocka_unit_test(test_cmos_rtc),
		cmocka_unit_test(test_pci_and_absent_ports),
		cmocka_unit_test(test_uart),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
