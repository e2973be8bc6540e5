/* SPDX-License-Identifier: MIT */
/*
 * Legacy devices through the port I/O bus of a fake machine (tests/lib/machine), without KVM: debug
 * exit, ACPI PM1a (power-off event) and PM timer, i8042 (reset event), CMOS/RTC, absent COM ports,
 * and the 16550A (registers, DLAB, IIR priorities and the IRQ line, FIFO, loopback, output bytes, input from a pipe
 * through the event loop). The PCI ports belong to the PCI bus (tests/virtio/test_pci_unit.c).
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_machine.h"
#include "kite/evloop.h"
#include "kite/iobus.h"
#include "kite/legacy_devices.h"
#include "kite/log.h"
#include "kite/platform.h"

static struct fake_machine fm;
static struct i8042 *kbc;
static struct acpi_pm *pm;
static struct acpi_pmtimer *pmtimer;
static struct legacy_ports *ports;
static unsigned resets, poweroffs;

static void on_reset(void *opaque)
{
	assert_ptr_equal(opaque, &fm);
	resets++;
}

static void on_poweroff(void *opaque)
{
	assert_ptr_equal(opaque, &fm);
	poweroffs++;
}

static int setup(void **state)
{
	(void)state;
	kite_log_init("test_devices", KITE_LOG_ERR);
	fake_machine_init(&fm, 0);
	kbc = i8042_new(&fm.m, (struct machine_event){ .fire = on_reset, .opaque = &fm });
	pm = acpi_pm_new(&fm.m, (struct machine_event){ .fire = on_poweroff, .opaque = &fm });
	ports = legacy_ports_new(&fm.m);
	pmtimer = acpi_pmtimer_new(&fm.m);
	if (!kbc || !pm || !ports || !pmtimer || debug_exit_init(&fm.m) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	debug_exit_exit(&fm.m);
	legacy_ports_free(ports);
	acpi_pmtimer_free(pmtimer);
	acpi_pm_free(pm);
	i8042_free(kbc);
	fake_machine_fini(&fm);
	return 0;
}

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

static void events_reset(void)
{
	fm.exit_requests = 0;
	fm.exit_status = -1;
	resets = poweroffs = 0;
}

static uint32_t in(uint16_t port, uint32_t len)
{
	uint8_t data[4] = { 0 };
	uint32_t v = 0;

	assert_true(iobus_access(fm.m.pio, port, data, len, false));
	memcpy(&v, data, len);
	return v;
}

static void out(uint16_t port, uint32_t len, uint32_t v)
{
	uint8_t data[4];

	memcpy(data, &v, sizeof(data));
	assert_true(iobus_access(fm.m.pio, port, data, len, true));
}

static void test_debug_exit(void **state)
{
	(void)state;
	events_reset();
	assert_int_equal(in(KITE_DEBUG_EXIT_PORT, 1), 0xff);
	assert_int_equal(fm.exit_requests, 0);
	out(KITE_DEBUG_EXIT_PORT, 1, 42);
	assert_int_equal(fm.exit_requests, 1);
	assert_int_equal(fm.exit_status, 42);
	assert_true(evloop_stopped(fm.m.loop));
	events_reset();
}

static void test_acpi_pm(void **state)
{
	(void)state;
	events_reset();
	assert_int_equal(in(KITE_ACPI_PM1A_CNT, 2) & 1, 1);          /* SCI_EN */
	out(KITE_ACPI_PM1A_CNT, 2, 5 << 10);                           /* S5 type, no SLP_EN */
	assert_int_equal(poweroffs, 0);
	out(KITE_ACPI_PM1A_CNT, 2, (3 << 10) | (1 << 13));             /* S3: ignored */
	assert_int_equal(poweroffs, 0);
	assert_int_equal(in(KITE_ACPI_PM1A_CNT, 2) & (1 << 13), 0);   /* SLP_EN reads 0 */
	out(KITE_ACPI_PM1A_EVT + 2, 2, 0x0120);                        /* PM1_EN */
	assert_int_equal(in(KITE_ACPI_PM1A_EVT + 2, 2), 0x0120);
	assert_int_equal(in(KITE_ACPI_PM1A_EVT, 4), 0x01200000);      /* STS 0, EN in the top half */
	out(KITE_ACPI_PM1A_EVT, 2, 0xffff);                            /* W1C on a clear status */
	assert_int_equal(in(KITE_ACPI_PM1A_EVT, 2), 0);
	/* Byte-wise: SLP_TYP written in the low byte's neighbour, then SLP_EN in the high byte. */
	out(KITE_ACPI_PM1A_CNT + 1, 1, (5 << 2));
	assert_int_equal(poweroffs, 0);
	out(KITE_ACPI_PM1A_CNT + 1, 1, (5 << 2) | (1 << 5));
	assert_int_equal(poweroffs, 1);
	assert_int_equal(fm.exit_requests, 0);              /* the owner decides what power-off means */
	events_reset();
}

/* PM timer: 3.579545 MHz from CLOCK_MONOTONIC, 32 bits, read-only; a 10 ms sleep of the same clock
 * advances it by at least 10 ms worth of ticks (a lower bound: no timing assumption). */
static void test_acpi_pmtimer(void **state)
{
	struct timespec ten_ms = { 0, 10 * 1000 * 1000 };
	uint32_t a, b, lo, hi;

	(void)state;
	assert_int_equal(acpi_pmtimer_ticks(0), 0);
	assert_int_equal(acpi_pmtimer_ticks(1000000000ULL), 3579545);
	assert_int_equal(acpi_pmtimer_ticks(1000ULL), 3);                 /* 3.58 ticks per us */
	assert_int_equal(acpi_pmtimer_ticks(1200 * 1000000000ULL),        /* wraps at 2^32 */
			 (uint32_t)(1200ULL * 3579545ULL));
	assert_int_equal(acpi_pmtimer_ticks(86400 * 1000000000ULL + 500000000ULL),
			 (uint32_t)(86400ULL * 3579545ULL + 3579545ULL / 2));
	a = in(KITE_ACPI_PM_TMR, 4);
	out(KITE_ACPI_PM_TMR, 4, 0);                                       /* ignored */
	nanosleep(&ten_ms, NULL);
	b = in(KITE_ACPI_PM_TMR, 4);
	assert_true(b - a >= 35795);
	/* narrow reads are bytes of the same counter: the low half moves, the high half follows */
	lo = in(KITE_ACPI_PM_TMR, 2);
	hi = in(KITE_ACPI_PM_TMR + 2, 2);
	assert_true(((hi << 16) | lo) - b < 0x10000000U);
	assert_int_equal(in(KITE_ACPI_PM_TMR + 3, 1), (in(KITE_ACPI_PM_TMR, 4) >> 24) & 0xff);
}

static void test_i8042(void **state)
{
	(void)state;
	events_reset();
	assert_int_equal(in(0x64, 1) & 0x15, 0x14);    /* system flag, not inhibited, nothing to read */
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
	/* CTR 0x45: keyboard interrupt on, aux interrupt off */
	out(0x64, 1, 0xD2);
	out(0x60, 1, 0x3C);
	assert_int_equal(fm.irq_level[1], 1);           /* keyboard byte waiting: IRQ 1 high */
	assert_int_equal(in(0x60, 1), 0x3C);
	assert_int_equal(fm.irq_level[1], 0);           /* read: low again */
	out(0x64, 1, 0xD3);
	out(0x60, 1, 0x5A);
	assert_int_equal(fm.irq_level[12], 0);          /* aux interrupt disabled */
	assert_int_equal(in(0x60, 1), 0x5A);
	out(0x64, 1, 0x60);
	out(0x60, 1, 0x47);                             /* aux interrupt on: Linux's aux probe */
	out(0x64, 1, 0xD3);
	out(0x60, 1, 0x5A);
	assert_int_equal(in(0x64, 1) & 0x21, 0x21);    /* OBF from the aux port */
	assert_int_equal(fm.irq_level[12], 1);
	assert_int_equal(fm.irq_level[1], 0);
	assert_int_equal(in(0x60, 1), 0x5A);
	assert_int_equal(in(0x64, 1) & 0x21, 0);
	assert_int_equal(fm.irq_level[12], 0);
	out(0x64, 1, 0xD1);
	out(0x60, 1, 0x03);                             /* reset line high: nothing */
	assert_int_equal(resets, 0);
	out(0x64, 1, 0xD1);
	out(0x60, 1, 0x02);                             /* bit 0 low: CPU reset */
	assert_int_equal(resets, 1);
	out(0x64, 1, 0xFE);
	assert_int_equal(resets, 2);
	assert_int_equal(fm.exit_requests, 0);
	events_reset();
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

static void test_absent_ports(void **state)
{
	(void)state;
	out(0x80, 1, 0x12);                             /* POST code absorbed */
	assert_int_equal(in(0x2F8 + 5, 1), 0xff);      /* COM2-4 absent */
	assert_int_equal(in(0x3E8, 1), 0xff);
	assert_int_equal(in(0x2E8 + 7, 1), 0xff);
	/* 0xCF8-0xCFF are not the legacy ports' business: nothing answers without a PCI bus */
	assert_false(iobus_access(fm.m.pio, 0xCF8, (uint8_t[4]){ 0 }, 4, false));
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
	/* A UART wired to a file and a pipe. */
	assert_true(out_fd >= 0);
	unlink(path);
	assert_int_equal(pipe(in_pipe), 0);
	u = serial8250_new(&fm.m, 0x3F8, 4, out_fd, in_pipe[0]);
	assert_non_null(u);
	quiet(true);
	assert_null(serial8250_new(&fm.m, 0x3F8, 4, out_fd, -1));   /* port range taken */
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

	assert_int_equal(in(0x3FA, 1), 0x01);            /* no interrupt */
	assert_int_equal(fm.irq_level[4], 0);
	out(0x3F9, 1, 0x02);                             /* ETBEI with THR empty */
	assert_int_equal(fm.irq_level[4], 1);            /* IRQ 4 raised */
	assert_int_equal(in(0x3FA, 1), 0x02);            /* THRI ... */
	assert_int_equal(in(0x3FA, 1), 0x01);            /* ... acknowledged by reading IIR */
	assert_int_equal(fm.irq_level[4], 0);            /* and the line drops */
	out(0x3F8, 1, '!');                              /* a write re-arms it */
	assert_int_equal(fm.irq_level[4], 1);
	assert_int_equal(in(0x3FA, 1), 0x02);

	/* Input: FIFO off holds one byte; the loop stops reading until the guest takes it. */
	assert_int_equal(write(in_pipe[1], "abc", 3), 3);
	assert_int_equal(evloop_run_once(fm.m.loop, 1000), 0);
	assert_int_equal(in(0x3FD, 1), 0x61);            /* DR */
	out(0x3F9, 1, 0x03);                             /* + ERBFI */
	assert_int_equal(in(0x3FA, 1), 0x04);            /* RDI wins over THRI */
	assert_int_equal(in(0x3F8, 1), 'a');
	assert_int_equal(in(0x3FD, 1) & 1, 0);
	/* FIFO on (IIR bits 7-6 set), then the rest arrives at once. */
	out(0x3FA, 1, 0x01);
	assert_int_equal(in(0x3FA, 1) & 0xC0, 0xC0);
	assert_int_equal(evloop_run_once(fm.m.loop, 1000), 0);
	assert_int_equal(in(0x3FA, 1), 0xC4);
	assert_int_equal(in(0x3F8, 1), 'b');
	assert_int_equal(in(0x3F8, 1), 'c');
	assert_int_equal(in(0x3FD, 1), 0x60);
	/* EOF on the input: no more reads, no error. */
	close(in_pipe[1]);
	assert_int_equal(evloop_run_once(fm.m.loop, 1000), 0);
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
		cmocka_unit_test(test_acpi_pmtimer),
		cmocka_unit_test(test_i8042),
		cmocka_unit_test(test_cmos_rtc),
		cmocka_unit_test(test_absent_ports),
		cmocka_unit_test(test_uart),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
