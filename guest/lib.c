/* SPDX-License-Identifier: MIT */
/* Freestanding basics: memory/string helpers, COM1 console (LSR polling), printf, exit port. */
#include <stdarg.h>

#include "guest.h"

#define UART_THR	0
#define UART_IER	1
#define UART_FCR	2
#define UART_LCR	3
#define UART_MCR	4
#define UART_LSR	5
#define LSR_THRE	0x20

const char *current_test = "boot";
static volatile int console_lock;

/* Bulk in 8-byte steps: each rep iteration may be one emulated instruction under kvm-pvm. */
void *memcpy(void *dst, const void *src, size_t n)
{
	void *d = dst;
	size_t q = n / 8, r = n % 8;

	__asm__ volatile("rep movsq" : "+D"(d), "+S"(src), "+c"(q) : : "memory");
	__asm__ volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(r) : : "memory");
	return dst;
}

void *memset(void *dst, int c, size_t n)
{
	void *d = dst;
	size_t q = n / 8, r = n % 8;
	uint64_t v = 0x0101010101010101ULL * (uint8_t)c;

	__asm__ volatile("rep stosq" : "+D"(d), "+c"(q) : "a"(v) : "memory");
	__asm__ volatile("rep stosb" : "+D"(d), "+c"(r) : "a"(v) : "memory");
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const uint8_t *x = a, *y = b;

	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return (uint8_t)*a - (uint8_t)*b;
}

uint32_t fnv1a32(const void *buf, size_t len, uint32_t h)
{
	const uint8_t *p = buf;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h;
}

void serial_init(void)
{
	outb(COM1 + UART_IER, 0x00);
	outb(COM1 + UART_LCR, 0x03);	/* 8N1, divisor untouched */
	outb(COM1 + UART_MCR, 0x03);	/* DTR, RTS */
}

static void serial_putc(char c)
{
	unsigned spins = 0;

	/* A missing UART reads 0xff (THRE set), so this cannot hang on an absent port. */
	while (!(inb(COM1 + UART_LSR) & LSR_THRE) && ++spins < 1000000)
		cpu_relax();
	outb(COM1 + UART_THR, (uint8_t)c);
}

static void put_num(uint64_t v, unsigned base, int width, char pad, bool neg)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (neg)
		tmp[n++] = '-';
	while (n < width--)
		serial_putc(pad);
	while (n)
		serial_putc(tmp[--n]);
}

static void vprint(const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			serial_putc(*fmt);
			continue;
		}
		fmt++;
		char pad = ' ';
		int width = 0, lng = 0;
		if (*fmt == '0')
			pad = '0';
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l') {
			lng++;
			fmt++;
		}
		switch (*fmt) {
		case 's': {
			const char *s = va_arg(ap, const char *);
			for (s = s ? s : "(null)"; *s; s++)
				serial_putc(*s);
			break;
		}
		case 'c':
			serial_putc((char)va_arg(ap, int));
			break;
		case 'd': {
			int64_t v = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
			put_num(v < 0 ? -(uint64_t)v : (uint64_t)v, 10, width, pad, v < 0);
			break;
		}
		case 'u':
			put_num(lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 10, width, pad, false);
			break;
		case 'x':
			put_num(lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 16, width, pad, false);
			break;
		case '%':
			serial_putc('%');
			break;
		case '\0':
			return;
		default:
			serial_putc('?');
			break;
		}
	}
}

static void console_acquire(void)
{
	while (__atomic_exchange_n(&console_lock, 1, __ATOMIC_ACQUIRE))
		cpu_relax();
}

static void console_release(void)
{
	__atomic_store_n(&console_lock, 0, __ATOMIC_RELEASE);
}

void guest_printf(const char *fmt, ...)
{
	va_list ap;

	console_acquire();
	va_start(ap, fmt);
	vprint(fmt, ap);
	va_end(ap);
	console_release();
}

void guest_exit(int code)
{
	outb(DEBUG_EXIT_PORT, (uint8_t)code);
	/* Not under kite or QEMU's isa-debug-exit: stop here. */
	for (;;)
		__asm__ volatile("cli; hlt");
}

static void print_locked(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprint(fmt, ap);
	va_end(ap);
}

void guest_fail(int code, const char *fmt, ...)
{
	va_list ap;

	console_acquire();
	print_locked("kite-guest: FAIL %s: ", current_test);
	va_start(ap, fmt);
	vprint(fmt, ap);
	va_end(ap);
	print_locked(" (exit %d)\n", code);
	console_release();
	guest_exit(code);
}

void guest_pass(void)
{
	guest_printf("kite-guest: PASS %s\n", current_test);
	guest_exit(GUEST_PASS);
}
