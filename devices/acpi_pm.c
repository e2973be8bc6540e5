/* SPDX-License-Identifier: MIT */
/*
 * ACPI PM1a fixed hardware. Event block (4 bytes at KITE_ACPI_PM1A_EVT): PM1_STS (write 1 to clear)
 * and PM1_EN. Control block (2 bytes at KITE_ACPI_PM1A_CNT): SCI_EN always reads set; writing SLP_EN
 * with SLP_TYP == KITE_ACPI_S5_TYP fires the power-off event (the board ends the VM with status 0).
 * Other sleep states are ignored.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kite/iobus.h"
#include "kite/legacy_devices.h"
#include "kite/log.h"
#include "kite/platform.h"

#define PM1_CNT_SCI_EN      0x0001
#define PM1_CNT_SLP_TYP_SHIFT 10
#define PM1_CNT_SLP_TYP_MASK  0x7
#define PM1_CNT_SLP_EN      0x2000

struct acpi_pm {
	struct machine *m;
	struct machine_event poweroff;
	pthread_mutex_t lock;
	uint16_t pm1_sts, pm1_en, pm1_cnt;
	bool evt_on, cnt_on;           /* the port ranges are ours (registered) */
};

static void put16(uint8_t *data, uint32_t len, unsigned byte_off, uint16_t v)
{
	/* Byte-granular view of a 16-bit register. */
	for (uint32_t i = 0; i < len; i++) {
		unsigned b = byte_off + i;

		data[i] = b < 2 ? (uint8_t)(v >> (8 * b)) : 0xff;
	}
}

static uint16_t merge16(uint16_t old, const uint8_t *data, uint32_t len, unsigned byte_off, uint16_t *mask)
{
	uint16_t v = old;

	*mask = 0;
	for (uint32_t i = 0; i < len; i++) {
		unsigned b = byte_off + i;

		if (b >= 2)
			break;
		v = (uint16_t)((v & ~(0xffu << (8 * b))) | ((unsigned)data[i] << (8 * b)));
		*mask |= (uint16_t)(0xffu << (8 * b));
	}
	return v;
}

static void pm1_evt_io(void *opaque, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	struct acpi_pm *pm = opaque;
	uint16_t mask;

	pthread_mutex_lock(&pm->lock);
	if (addr < 2) {
		if (is_write) {
			uint16_t v = merge16(0, data, len, (unsigned)addr, &mask);

			pm->pm1_sts &= (uint16_t)~(v & mask);
			if (len > 2 - addr) /* spills into PM1_EN */
				pm->pm1_en = merge16(pm->pm1_en, data + (2 - addr), len - (uint32_t)(2 - addr), 0, &mask);
		} else {
			put16(data, len, (unsigned)addr, pm->pm1_sts);
			if (len > 2 - addr)
				put16(data + (2 - addr), len - (uint32_t)(2 - addr), 0, pm->pm1_en);
		}
	} else {
		if (is_write)
			pm->pm1_en = merge16(pm->pm1_en, data, len, (unsigned)addr - 2, &mask);
		else
			put16(data, len, (unsigned)addr - 2, pm->pm1_en);
	}
	pthread_mutex_unlock(&pm->lock);
}

static void pm1_cnt_io(void *opaque, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	struct acpi_pm *pm = opaque;
	uint16_t mask, v;
	bool poweroff = false;

	pthread_mutex_lock(&pm->lock);
	if (!is_write) {
		put16(data, len, (unsigned)addr, pm->pm1_cnt | PM1_CNT_SCI_EN);
		pthread_mutex_unlock(&pm->lock);
		return;
	}
	v = merge16(pm->pm1_cnt, data, len, (unsigned)addr, &mask);
	if ((v & PM1_CNT_SLP_EN) &&
	    ((v >> PM1_CNT_SLP_TYP_SHIFT) & PM1_CNT_SLP_TYP_MASK) == KITE_ACPI_S5_TYP)
		poweroff = true;
	pm->pm1_cnt = (uint16_t)((v & ~PM1_CNT_SLP_EN) | PM1_CNT_SCI_EN);  /* SLP_EN reads as 0 */
	pthread_mutex_unlock(&pm->lock);
	if (poweroff) {
		log_info("acpi: guest powered off (S5)");
		machine_event_fire(&pm->poweroff);
	}
}

struct acpi_pm *acpi_pm_new(struct machine *m, struct machine_event poweroff)
{
	struct acpi_pm *pm = calloc(1, sizeof(*pm));

	if (!pm) {
		log_err("acpi: out of memory");
		return NULL;
	}
	pm->m = m;
	pm->poweroff = poweroff;
	pm->pm1_cnt = PM1_CNT_SCI_EN;
	pthread_mutex_init(&pm->lock, NULL);
	pm->evt_on = iobus_register(m->pio, KITE_ACPI_PM1A_EVT, 4, pm1_evt_io, pm) == 0;
	pm->cnt_on = pm->evt_on && iobus_register(m->pio, KITE_ACPI_PM1A_CNT, 2, pm1_cnt_io, pm) == 0;
	if (!pm->cnt_on) {
		log_err("acpi: PM1a ports 0x%x/0x%x already taken", KITE_ACPI_PM1A_EVT, KITE_ACPI_PM1A_CNT);
		acpi_pm_free(pm);
		return NULL;
	}
	return pm;
}

void acpi_pm_free(struct acpi_pm *pm)
{
	if (!pm)
		return;
	if (pm->evt_on)
		iobus_unregister(pm->m->pio, KITE_ACPI_PM1A_EVT);
	if (pm->cnt_on)
		iobus_unregister(pm->m->pio, KITE_ACPI_PM1A_CNT);
	pthread_mutex_destroy(&pm->lock);
	free(pm);
}

void acpi_pm_save(struct acpi_pm *pm, struct snap_writer *w)
{
	pthread_mutex_lock(&pm->lock);
	snap_put_u16(w, pm->pm1_sts);
	snap_put_u16(w, pm->pm1_en);
	snap_put_u16(w, pm->pm1_cnt);
	pthread_mutex_unlock(&pm->lock);
}

void acpi_pm_restore(struct acpi_pm *pm, struct snap_cursor *c)
{
	uint16_t sts = snap_get_u16(c), en = snap_get_u16(c), cnt = snap_get_u16(c);

	/* the device never keeps SLP_EN (writing it acts at once) and always reads SCI_EN */
	if ((cnt & PM1_CNT_SLP_EN) || !(cnt & PM1_CNT_SCI_EN))
		snap_cursor_fail(c, "PM1 control with SLP_EN set or SCI_EN clear");
	if (c->bad || snap_remaining(c))
		return;
	pthread_mutex_lock(&pm->lock);
	pm->pm1_sts = sts;
	pm->pm1_en = en;
	pm->pm1_cnt = cnt;
	pthread_mutex_unlock(&pm->lock);
}
