/* SPDX-License-Identifier: MIT */
/*
 * Ports a PC guest touches at boot that need only a harmless answer:
 *  - 0x80 (POST codes / I/O delay): writes absorbed;
 *  - 0x61 fallback (KVM's PIT answers it first when created with KVM_PIT_SPEAKER_DUMMY);
 *  - CMOS/RTC 0x70/0x71: the host's UTC time in BCD, 24-hour mode, no update in progress;
 *  - PCI configuration 0xCF8/0xCFC: no device anywhere (all ones); 0xCF9 reset control: a write
 *    with the reset bit (0x04) ends the VM with status 0;
 *  - COM2-4 (0x2F8, 0x3E8, 0x2E8): absent UARTs read all ones.
 */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "kite/devices.h"
#include "kite/iobus.h"
#include "kite/log.h"
#include "kite/vm.h"

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

static pthread_mutex_t legacy_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t cmos_index;
static uint8_t cmos[CMOS_NR_REGS];
static uint32_t pci_addr;
static uint8_t port61;

static uint8_t to_bcd(unsigned v)
{
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

static uint8_t rtc_field(unsigned v)
{
	return (cmos[RTC_REG_B] & RTC_B_BINARY) ? (uint8_t)v : to_bcd(v);
}

static uint8_t cmos_read(uint8_t idx)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	switch (idx) {
	case RTC_SECONDS:
		return rtc_field((unsigned)tm.tm_sec);
	case RTC_MINUTES:
		return rtc_field((unsigned)tm.tm_min);
	case RTC_HOURS:
		return rtc_field((unsigned)tm.tm_hour);
	case RTC_WEEKDAY:
		return rtc_field((unsigned)tm.tm_wday + 1);
	case RTC_DAY:
		return rtc_field((unsigned)tm.tm_mday);
	case RTC_MONTH:
		return rtc_field((unsigned)tm.tm_mon + 1);
	case RTC_YEAR:
		return rtc_field((unsigned)tm.tm_year % 100);
	case RTC_CENTURY:
		return rtc_field((unsigned)(tm.tm_year + 1900) / 100);
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
	(void)opaque;
	pthread_mutex_lock(&legacy_lock);
	for (uint32_t i = 0; i < len; i++) {
		uint64_t port = addr + i;

		if (port == 0) {
			if (is_write)
				cmos_index = data[i] & 0x7f;   /* bit 7 is the NMI mask */
			else
				data[i] = 0xff;
		} else if (port == 1) {
			if (is_write) {
				/* Keep the time registers live: only the control/RAM bytes are stored. */
				if (cmos_index == RTC_REG_B)
					cmos[RTC_REG_B] = (uint8_t)((data[i] & ~RTC_B_24H) | RTC_B_24H);
				else if (cmos_index > RTC_REG_D && cmos_index != RTC_CENTURY)
					cmos[cmos_index] = data[i];
			} else {
				data[i] = cmos_read(cmos_index);
			}
		} else if (!is_write) {
			data[i] = 0xff;
		}
	}
	pthread_mutex_unlock(&legacy_lock);
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
	(void)opaque;
	(void)addr;
	pthread_mutex_lock(&legacy_lock);
	if (is_write) {
		port61 = data[0] & 0x0f;
	} else {
		memset(data, 0xff, len);
		port61 ^= 0x10;                       /* refresh toggle */
		data[0] = (uint8_t)(port61 | 0x20);   /* PIT output 2 high */
	}
	pthread_mutex_unlock(&legacy_lock);
}

static void pci_io(void *opaque, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	struct vm *vm = opaque;
	bool reset = false;

	pthread_mutex_lock(&legacy_lock);
	if (addr == 0 && len == 4) {
		if (is_write)
			memcpy(&pci_addr, data, 4);
		else
			memcpy(data, &pci_addr, 4);
	} else if (addr == 1 && len == 1) {
		/* 0xCF9 reset control register */
		if (is_write)
			reset = (data[0] & 0x04) != 0;
		else
			data[0] = 0;
	} else if (!is_write) {
		/* 0xCFC-0xCFF and every other access: no device */
		memset(data, 0xff, len);
	}
	pthread_mutex_unlock(&legacy_lock);
	if (reset) {
		log_info("pci: guest reset through port 0xcf9, ending the VM");
		vm_request_exit(vm, 0);
	}
}

static void absent_io(void *opaque, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	(void)opaque;
	(void)addr;
	if (!is_write)
		memset(data, 0xff, len);
}

int legacy_ports_init(struct vm *vm)
{
	static const uint16_t absent_com[] = { 0x2F8, 0x3E8, 0x2E8 };

	pthread_mutex_lock(&legacy_lock);
	memset(cmos, 0, sizeof(cmos));
	cmos[RTC_REG_B] = RTC_B_24H;
	cmos_index = 0;
	pci_addr = 0;
	port61 = 0;
	pthread_mutex_unlock(&legacy_lock);

	if (iobus_register(vm->pio, 0x80, 1, post_io, vm) < 0 ||
	    iobus_register(vm->pio, 0x61, 1, port61_io, vm) < 0 ||
	    iobus_register(vm->pio, 0x70, 2, cmos_io, vm) < 0 ||
	    iobus_register(vm->pio, 0xCF8, 8, pci_io, vm) < 0) {
		log_err("legacy ports: a port range is already taken");
		return -1;
	}
	for (size_t i = 0; i < sizeof(absent_com) / sizeof(absent_com[0]); i++) {
		if (iobus_register(vm->pio, absent_com[i], 8, absent_io, vm) < 0) {
			log_err("legacy ports: COM port 0x%x already taken", absent_com[i]);
			return -1;
		}
	}
	return 0;
}
