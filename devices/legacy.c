/* SPDX-License-Identifier: MIT */
/*
 * Ports a PC guest touches at boot that need only a harmless answer:
 *  - 0x80 (POST codes / I/O delay): writes absorbed;
 *  - 0x61 fallback (KVM's PIT answers it first when created with KVM_PIT_SPEAKER_DUMMY);
 *  - CMOS/RTC 0x70/0x71: the host's UTC time in BCD, 24-hour mode, no update in progress;
 *  - COM2-4 (0x2F8, 0x3E8, 0x2E8): absent UARTs read all ones.
 * PCI configuration (0xCF8-0xCFF, with the 0xCF9 reset register) belongs to the PCI bus (pci/).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kite/iobus.h"
#include "kite/legacy_devices.h"
#include "kite/log.h"

#define CMOS_NR_REGS  128
#define RTC_SECONDS   0x00
#define RTC_MINUTES   0x02
#define RTC_HOURS     0x04
#define RTC_WEEKDAY   0x06
#define RTC_DAY       0x07
#define RTC_MONTH     0x08
#define RTC_YEAR      0x09
#define RTC_REG_A     0x0A
#define RTC_REG_B     0x0B
#define RTC_REG_C     0x0C
#define RTC_REG_D     0x0D
#define RTC_CENTURY   0x32

#define RTC_B_24H     0x02
#define RTC_B_BINARY  0x04
#define RTC_D_VRT     0x80   /* valid RAM and time (battery good) */

static const uint16_t absent_com[] = { 0x2F8, 0x3E8, 0x2E8 };

struct legacy_ports {
	struct machine *m;
	pthread_mutex_t lock;
	uint8_t cmos_index;
	uint8_t cmos[CMOS_NR_REGS];
	uint8_t port61;
	uint16_t registered[4 + sizeof(absent_com) / sizeof(absent_com[0])];   /* bases that are ours */
	unsigned nregistered;
};

static uint8_t to_bcd(unsigned v)
{
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

static uint8_t rtc_field(const uint8_t *cmos, unsigned v)
{
	return (cmos[RTC_REG_B] & RTC_B_BINARY) ? (uint8_t)v : to_bcd(v);
}

static uint8_t cmos_read(const uint8_t *cmos, uint8_t idx)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	switch (idx) {
	case RTC_SECONDS:
		return rtc_field(cmos, (unsigned)tm.tm_sec);
	case RTC_MINUTES:
		return rtc_field(cmos, (unsigned)tm.tm_min);
	case RTC_HOURS:
		return rtc_field(cmos, (unsigned)tm.tm_hour);
	case RTC_WEEKDAY:
		return rtc_field(cmos, (unsigned)tm.tm_wday + 1);
	case RTC_DAY:
		return rtc_field(cmos, (unsigned)tm.tm_mday);
	case RTC_MONTH:
		return rtc_field(cmos, (unsigned)tm.tm_mon + 1);
	case RTC_YEAR:
		return rtc_field(cmos, (unsigned)tm.tm_year % 100);
	case RTC_CENTURY:
		return rtc_field(cmos, (unsigned)(tm.tm_year + 1900) / 100);
	case RTC_REG_A:
		return 0x26;   /* 32.768 kHz base, 1024 Hz rate, UIP clear */
	case RTC_REG_C:
		return 0;      /* no interrupt flags */
	case RTC_REG_D:
		return RTC_D_VRT;
	default:
		return cmos[idx];
	}
}

static void cmos_io(void *opaque, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	struct legacy_ports *lp = opaque;

	pthread_mutex_lock(&lp->lock);
	for (uint32_t i = 0; i < len; i++) {
		uint64_t port = addr + i;

		if (port == 0) {
			if (is_write)
				lp->cmos_index = data[i] & 0x7f;   /* bit 7 is the NMI mask */
			else
				data[i] = 0xff;
		} else if (port == 1) {
			if (is_write) {
				/* Keep the time registers live: only the control/RAM bytes are stored. */
				if (lp->cmos_index == RTC_REG_B)
					lp->cmos[RTC_REG_B] = (uint8_t)((data[i] & ~RTC_B_24H) | RTC_B_24H);
				else if (lp->cmos_index > RTC_REG_D && lp->cmos_index != RTC_CENTURY)
					lp->cmos[lp->cmos_index] = data[i];
			} else {
				data[i] = cmos_read(lp->cmos, lp->cmos_index);
			}
		} else if (!is_write) {
			data[i] = 0xff;
		}
	}
	pthread_mutex_unlock(&lp->lock);
}

static void post_io(void *opaque, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	(void)opaque;
	(void)addr;
	if (!is_write)
		memset(data, 0xff, len);
}

static void port61_io(void *opaque, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	struct legacy_ports *lp = opaque;

	(void)addr;
	pthread_mutex_lock(&lp->lock);
	if (is_write) {
		lp->port61 = data[0] & 0x0f;
	} else {
		memset(data, 0xff, len);
		lp->port61 ^= 0x10;                           /* refresh toggle */
		data[0] = (uint8_t)(lp->port61 | 0x20);       /* PIT output 2 high */
	}
	pthread_mutex_unlock(&lp->lock);
}

static void absent_io(void *opaque, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	(void)opaque;
	(void)addr;
	if (!is_write)
		memset(data, 0xff, len);
}

static int claim(struct legacy_ports *lp, uint16_t base, uint64_t len, iobus_fn fn)
{
	if (iobus_register(lp->m->pio, base, len, fn, lp) < 0) {
		log_err("legacy ports: port 0x%x already taken", base);
		return -1;
	}
	lp->registered[lp->nregistered++] = base;
	return 0;
}

struct legacy_ports *legacy_ports_new(struct machine *m)
{
	struct legacy_ports *lp = calloc(1, sizeof(*lp));

	if (!lp) {
		log_err("legacy ports: out of memory");
		return NULL;
	}
	lp->m = m;
	pthread_mutex_init(&lp->lock, NULL);
	lp->cmos[RTC_REG_B] = RTC_B_24H;
	if (claim(lp, 0x80, 1, post_io) < 0 || claim(lp, 0x61, 1, port61_io) < 0 || claim(lp, 0x70, 2, cmos_io) < 0)
		goto fail;
	for (size_t i = 0; i < sizeof(absent_com) / sizeof(absent_com[0]); i++)
		if (claim(lp, absent_com[i], 8, absent_io) < 0)
			goto fail;
	return lp;
fail:
	legacy_ports_free(lp);
	return NULL;
}

void legacy_ports_free(struct legacy_ports *lp)
{
	if (!lp)
		return;
	for (unsigned i = 0; i < lp->nregistered; i++)
		iobus_unregister(lp->m->pio, lp->registered[i]);
	pthread_mutex_destroy(&lp->lock);
	free(lp);
}

void legacy_ports_save(struct legacy_ports *lp, struct snap_writer *w)
{
	pthread_mutex_lock(&lp->lock);
	snap_put_u8(w, lp->cmos_index);
	snap_put_u8(w, lp->port61);
	snap_put(w, lp->cmos, CMOS_NR_REGS);
	pthread_mutex_unlock(&lp->lock);
}

void legacy_ports_restore(struct legacy_ports *lp, struct snap_cursor *c)
{
	uint8_t idx = snap_get_u8(c), p61 = snap_get_u8(c), cmos[CMOS_NR_REGS];

	snap_get(c, cmos, sizeof(cmos));
	if (idx >= CMOS_NR_REGS || (p61 & ~0x1f))
		snap_cursor_fail(c, "CMOS index beyond 127 or port 0x61 with bits it does not keep");
	if (!(cmos[RTC_REG_B] & RTC_B_24H))
		snap_cursor_fail(c, "RTC register B without 24-hour mode (kite keeps it set)");
	if (c->bad || snap_remaining(c))
		return;
	pthread_mutex_lock(&lp->lock);
	lp->cmos_index = idx;
	lp->port61 = p61;
	memcpy(lp->cmos, cmos, sizeof(cmos));
	pthread_mutex_unlock(&lp->lock);
}
