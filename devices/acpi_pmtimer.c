/* SPDX-License-Identifier: MIT */
/*
 * ACPI power-management timer (the FADT's PM_TMR_BLK): a free-running 32-bit up-counter at
 * 3.579545 MHz, read-only, KITE_ACPI_PM_TMR_LEN ports at KITE_ACPI_PM_TMR. The FADT sets TMR_VAL_EXT
 * (32 bits). The value is computed from the host's CLOCK_MONOTONIC at every read: it needs no
 * thread, advances whether or not a vCPU runs, and never goes backwards. Reads of 1, 2 or 4 bytes
 * at any offset of the block return those bytes of the counter (bytes past bit 31 read 0); writes
 * are ignored. Linux uses it as a clocksource (acpi_pm) and as the watchdog of the others.
 *
 * Thread safety: the start time is written before the ports are registered (and by a restore,
 * before any vCPU runs); reads only read it, from any vCPU thread.
 * Snapshots: the counter value at the save is kept; a restore moves the start time so that the
 * counter goes on from there (the time the VM spent saved does not pass for the guest).
 */
#include <stdlib.h>
#include <time.h>

#include "kite/iobus.h"
#include "kite/legacy_devices.h"
#include "kite/log.h"
#include "kite/platform.h"

struct acpi_pmtimer {
	struct iobus *pio;
	uint64_t start_ns;
};

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint32_t acpi_pmtimer_ticks(uint64_t ns)
{
	/* split so that ns * frequency cannot overflow 64 bits */
	uint64_t sec = ns / 1000000000ULL, rem = ns % 1000000000ULL;

	return (uint32_t)(sec * KITE_ACPI_PM_TMR_HZ + rem * KITE_ACPI_PM_TMR_HZ / 1000000000ULL);
}

static void pmtimer_io(void *opaque, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	struct acpi_pmtimer *t = opaque;
	uint32_t v;

	if (is_write)
		return;
	v = acpi_pmtimer_ticks(monotonic_ns() - __atomic_load_n(&t->start_ns, __ATOMIC_RELAXED));
	for (uint32_t i = 0; i < len; i++) {
		uint64_t b = addr + i;

		data[i] = b < 4 ? (uint8_t)(v >> (8 * b)) : 0;
	}
}

struct acpi_pmtimer *acpi_pmtimer_new(struct machine *m)
{
	struct iobus *pio = m->pio;
	struct acpi_pmtimer *t = calloc(1, sizeof(*t));

	if (!t) {
		log_err("acpi: PM timer allocation failed");
		return NULL;
	}
	t->pio = pio;
	t->start_ns = monotonic_ns();
	if (iobus_register(pio, KITE_ACPI_PM_TMR, KITE_ACPI_PM_TMR_LEN, pmtimer_io, t) < 0) {
		log_err("acpi: PM timer ports 0x%x-0x%x already taken", KITE_ACPI_PM_TMR,
			KITE_ACPI_PM_TMR + KITE_ACPI_PM_TMR_LEN - 1);
		free(t);
		return NULL;
	}
	return t;
}

void acpi_pmtimer_free(struct acpi_pmtimer *t)
{
	if (!t)
		return;
	iobus_unregister(t->pio, KITE_ACPI_PM_TMR);
	free(t);
}

/* The state is the time the counter has run (ns): the value follows from it, and so does its
 * sub-tick phase. */
void acpi_pmtimer_save(struct acpi_pmtimer *t, struct snap_writer *w)
{
	snap_put_u64(w, monotonic_ns() - __atomic_load_n(&t->start_ns, __ATOMIC_RELAXED));
}

void acpi_pmtimer_restore(struct acpi_pmtimer *t, struct snap_cursor *c)
{
	uint64_t ran = snap_get_u64(c);

	/* any value is a possible run time; on a host up for less time than that, start_ns wraps
	 * and the modular difference in pmtimer_io still gives ran + the time since the restore */
	if (c->bad || snap_remaining(c))
		return;
	__atomic_store_n(&t->start_ns, monotonic_ns() - ran, __ATOMIC_RELAXED);
}
