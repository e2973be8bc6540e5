/* SPDX-License-Identifier: MIT */
/*
 * Snapshots of the legacy devices (devices/), without KVM: two fake machines (tests/lib/machine),
 * the guest programs the first one's UART, i8042, ACPI PM1, CMOS and PM timer through the port bus,
 * its state goes through a real VM-state file (kite/snapshot.h) into fresh devices on the second
 * machine, whose registers then read back the same (the UART FIFO and interrupt line included) and
 * whose PM timer continues from the saved value. Sections with impossible values are refused with
 * the reason and change nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "fake_machine.h"
#include "kite/iobus.h"
#include "kite/legacy_devices.h"
#include "kite/log.h"
#include "kite/platform.h"
#include "kite/snapshot.h"

struct board {
	struct fake_machine fm;
	struct serial8250 *uart;
	struct i8042 *kbc;
	struct acpi_pm *pm;
	struct acpi_pmtimer *tmr;
	struct legacy_ports *ports;
};

static struct board a, b;

static void board_up(struct board *x)
{
	fake_machine_init(&x->fm, 0);
	x->uart = serial8250_new(&x->fm.m, KITE_COM1_PORT, KITE_COM1_IRQ, -1, -1);
	x->kbc = i8042_new(&x->fm.m, (struct machine_event){ 0 });
	x->pm = acpi_pm_new(&x->fm.m, (struct machine_event){ 0 });
	x->tmr = acpi_pmtimer_new(&x->fm.m);
	x->ports = legacy_ports_new(&x->fm.m);
	assert_non_null(x->uart);
	assert_non_null(x->kbc);
	assert_non_null(x->pm);
	assert_non_null(x->tmr);
	assert_non_null(x->ports);
}

static void board_down(struct board *x)
{
	legacy_ports_free(x->ports);
	acpi_pmtimer_free(x->tmr);
	acpi_pm_free(x->pm);
	i8042_free(x->kbc);
	serial8250_free(x->uart);
	fake_machine_fini(&x->fm);
}

static int setup(void **state)
{
	(void)state;
	kite_log_init("test_device_snapshot", KITE_LOG_ERR);
	board_up(&a);
	board_up(&b);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	board_down(&a);
	board_down(&b);
	return 0;
}

static void out8(struct board *x, uint16_t port, uint8_t v)
{
	assert_true(iobus_access(x->fm.m.pio, port, &v, 1, true));
}

static uint8_t in8(struct board *x, uint16_t port)
{
	uint8_t v;

	assert_true(iobus_access(x->fm.m.pio, port, &v, 1, false));
	return v;
}

static uint32_t in32(struct board *x, uint16_t port)
{
	uint32_t v;

	assert_true(iobus_access(x->fm.m.pio, port, (uint8_t *)&v, 4, false));
	return v;
}

/* Every legacy section of x, as a parsed VM-state file. */
static struct snap_reader *save(struct board *x)
{
	struct snap_writer *w = snap_writer_new();
	const uint8_t *buf;
	struct snap_reader *r;
	char err[256];
	size_t len;

	snap_section_begin(w, SERIAL8250_SNAP, 0, SERIAL8250_SNAP_VERSION);
	serial8250_save(x->uart, w);
	snap_section_end(w);
	snap_section_begin(w, I8042_SNAP, 0, I8042_SNAP_VERSION);
	i8042_save(x->kbc, w);
	snap_section_end(w);
	snap_section_begin(w, ACPI_PM_SNAP, 0, ACPI_PM_SNAP_VERSION);
	acpi_pm_save(x->pm, w);
	snap_section_end(w);
	snap_section_begin(w, ACPI_PMTIMER_SNAP, 0, ACPI_PMTIMER_SNAP_VERSION);
	acpi_pmtimer_save(x->tmr, w);
	snap_section_end(w);
	snap_section_begin(w, LEGACY_PORTS_SNAP, 0, LEGACY_PORTS_SNAP_VERSION);
	legacy_ports_save(x->ports, w);
	snap_section_end(w);
	assert_int_equal(snap_writer_bytes(w, &buf, &len, err, sizeof(err)), 0);
	r = snap_reader_parse(buf, len, err, sizeof(err));
	assert_non_null(r);
	snap_writer_free(w);
	return r;
}

/* Restore one section of r with fn; returns snap_cursor_finish's result, err filled. */
#define RESTORE_ONE(r, name, ver, call, err)                                                  \
	({                                                                                    \
		struct snap_cursor c_;                                                        \
		struct snap_cursor *c = &c_;                                                  \
		int ret_ = snap_section_open(r, name, 0, ver, c, err, sizeof(err));           \
		if (ret_ == 0) {                                                              \
			call;                                                                 \
			ret_ = snap_cursor_finish(c, err, sizeof(err));                       \
		}                                                                             \
		ret_;                                                                         \
	})

static void restore_all(struct snap_reader *r, struct board *x)
{
	char err[256];

	assert_int_equal(RESTORE_ONE(r, SERIAL8250_SNAP, 1, serial8250_restore(x->uart, c), err), 0);
	assert_int_equal(RESTORE_ONE(r, I8042_SNAP, 1, i8042_restore(x->kbc, c), err), 0);
	assert_int_equal(RESTORE_ONE(r, ACPI_PM_SNAP, 1, acpi_pm_restore(x->pm, c), err), 0);
	assert_int_equal(RESTORE_ONE(r, ACPI_PMTIMER_SNAP, 1, acpi_pmtimer_restore(x->tmr, c), err), 0);
	assert_int_equal(RESTORE_ONE(r, LEGACY_PORTS_SNAP, 1, legacy_ports_restore(x->ports, c), err), 0);
	assert_null(snap_reader_unconsumed(r, NULL));
}

static void test_round_trip(void **state)
{
	const uint16_t com = KITE_COM1_PORT;
	struct snap_reader *r;
	uint32_t t0, t1;

	(void)state;
	/* UART: 115200 8N1 via DLAB, FIFO on, loopback bytes in the FIFO, receive interrupt on */
	out8(&a, com + 3, 0x83);
	out8(&a, com + 0, 0x01);
	out8(&a, com + 1, 0x00);
	out8(&a, com + 3, 0x03);
	out8(&a, com + 2, 0x01);
	out8(&a, com + 7, 0x5a);
	out8(&a, com + 4, 0x10 | 0x08);   /* loopback, OUT2 */
	out8(&a, com + 0, 'h');
	out8(&a, com + 0, 'i');
	out8(&a, com + 1, 0x01);
	assert_int_equal(a.fm.irq_level[KITE_COM1_IRQ], 1);
	/* i8042: command byte written, a pending "write output port" command */
	out8(&a, KITE_I8042_PORT + 4, 0x60);
	out8(&a, KITE_I8042_PORT, 0x47);
	out8(&a, KITE_I8042_PORT + 4, 0xD1);
	/* ACPI: PM1_EN */
	out8(&a, KITE_ACPI_PM1A_EVT + 2, 0x21);
	/* CMOS: a RAM byte and the index left pointing at it */
	out8(&a, 0x70, 0x40);
	out8(&a, 0x71, 0x99);
	t0 = in32(&a, KITE_ACPI_PM_TMR);

	r = save(&a);
	restore_all(r, &b);
	snap_reader_free(r);

	/* the restored UART: line raised, same divisor, scratch, FIFO contents in order */
	assert_int_equal(b.fm.irq_level[KITE_COM1_IRQ], 1);
	assert_int_equal(in8(&b, com + 2) & 0x0f, 0x04);   /* received data available */
	assert_int_equal(in8(&b, com + 7), 0x5a);
	assert_int_equal(in8(&b, com + 4), 0x18);
	assert_int_equal(in8(&b, com + 0), 'h');
	assert_int_equal(in8(&b, com + 0), 'i');
	assert_int_equal(in8(&b, com + 5) & 0x01, 0);      /* FIFO empty now */
	assert_int_equal(b.fm.irq_level[KITE_COM1_IRQ], 0);
	out8(&b, com + 3, 0x83);
	assert_int_equal(in8(&b, com + 0), 0x01);
	assert_int_equal(in8(&b, com + 1), 0x00);
	/* i8042: the pending command still takes its data byte (bit 0 low = reset: not sent here) */
	out8(&b, KITE_I8042_PORT + 4, 0x20);
	assert_int_equal(in8(&b, KITE_I8042_PORT), 0x47);
	assert_true(i8042_kbd_irq_enabled(b.kbc));
	/* ACPI */
	assert_int_equal(in8(&b, KITE_ACPI_PM1A_EVT + 2), 0x21);
	/* CMOS index and RAM */
	assert_int_equal(in8(&b, 0x71), 0x99);
	/* the PM timer goes on from where it was (b's own timer started later than a's) */
	t1 = in32(&b, KITE_ACPI_PM_TMR);
	assert_true(t1 - t0 < 0x80000000u);
}

/* A PM timer that ran an hour before the snapshot reads at least an hour's ticks after it. */
static void test_pmtimer_continues(void **state)
{
	struct snap_writer *w = snap_writer_new();
	const uint64_t hour = 3600ULL * 1000000000ULL;
	struct snap_reader *r;
	const uint8_t *buf;
	char err[256];
	uint32_t v;
	size_t len;

	(void)state;
	snap_section_begin(w, ACPI_PMTIMER_SNAP, 0, ACPI_PMTIMER_SNAP_VERSION);
	snap_put_u64(w, hour);
	snap_section_end(w);
	assert_int_equal(snap_writer_bytes(w, &buf, &len, err, sizeof(err)), 0);
	r = snap_reader_parse(buf, len, err, sizeof(err));
	assert_non_null(r);
	assert_int_equal(RESTORE_ONE(r, ACPI_PMTIMER_SNAP, 1, acpi_pmtimer_restore(b.tmr, c), err), 0);
	v = in32(&b, KITE_ACPI_PM_TMR);
	/* the counter wraps at 2^32 ticks (20 min): compare the distance from the hour's value */
	assert_true(v - acpi_pmtimer_ticks(hour) < 0x80000000u);
	snap_reader_free(r);
	snap_writer_free(w);
}

/* A section written by hand with bad contents is refused, and the device is left as it was. */
static void test_refusals(void **state)
{
	struct { const char *name; uint8_t bytes[16]; size_t len; const char *why; } bad[] = {
		{ SERIAL8250_SNAP, { 0xff, 0, 3, 8, 0, 0, 12, 0, 0, 0, 0, 0 }, 12, "bits the UART" },
		{ SERIAL8250_SNAP, { 0, 0, 3, 8, 0, 0, 12, 0, 0, 0, 0, 2, 'a', 'b' }, 14, "more bytes than it can" },
		{ I8042_SNAP, { 0x04, 7, 0, 0x99, 0, 0, 0, 0 }, 8, "pending command" },
		{ I8042_SNAP, { 0x04, 7, 0, 0, 0, 0, 0, 17 }, 8, "key queue" },
		{ ACPI_PM_SNAP, { 0, 0, 0, 0, 0x01, 0x20 }, 6, "SLP_EN" },
		{ ACPI_PM_SNAP, { 0, 0, 0, 0, 0x01, 0x00, 0x00 }, 7, "unread bytes" },
		{ SERIAL8250_SNAP, { 0, 0, 3 }, 3, "shorter" },
	};

	(void)state;
	out8(&b, KITE_COM1_PORT + 7, 0x11);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct snap_writer *w = snap_writer_new();
		struct snap_reader *r;
		const uint8_t *buf;
		char err[256];
		size_t len;
		int ret;

		snap_section_begin(w, bad[i].name, 0, 1);
		snap_put(w, bad[i].bytes, bad[i].len);
		snap_section_end(w);
		assert_int_equal(snap_writer_bytes(w, &buf, &len, err, sizeof(err)), 0);
		r = snap_reader_parse(buf, len, err, sizeof(err));
		assert_non_null(r);
		if (!strcmp(bad[i].name, SERIAL8250_SNAP))
			ret = RESTORE_ONE(r, SERIAL8250_SNAP, 1, serial8250_restore(b.uart, c), err);
		else if (!strcmp(bad[i].name, I8042_SNAP))
			ret = RESTORE_ONE(r, I8042_SNAP, 1, i8042_restore(b.kbc, c), err);
		else
			ret = RESTORE_ONE(r, ACPI_PM_SNAP, 1, acpi_pm_restore(b.pm, c), err);
		assert_int_equal(ret, -1);
		if (!strstr(err, bad[i].why))
			fail_msg("case %zu: '%s' does not say '%s'", i, err, bad[i].why);
		snap_reader_free(r);
		snap_writer_free(w);
	}
	/* nothing was applied */
	assert_int_equal(in8(&b, KITE_COM1_PORT + 7), 0x11);
	assert_int_equal(in8(&b, KITE_COM1_PORT + 1), 0x00);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pmtimer_continues, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
