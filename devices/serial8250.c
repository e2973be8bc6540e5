/* SPDX-License-Identifier: MIT */
/*
 * 16550A UART. Transmission is instantaneous: a byte written to THR goes straight to the output fd,
 * so THR and the shift register are always empty and the THRE interrupt re-arms after every write.
 * Received bytes come from the input fd through the event loop into a 16-byte FIFO; while the FIFO
 * is full the input fd is not watched (the host side then buffers).
 *
 * Interrupt priority (IIR): line status > received data > THR empty > modem status. The IRQ line
 * follows "some enabled interrupt is pending" (OUT2 is not used as a gate, as QEMU does). Loopback
 * (MCR bit 4) routes THR to RBR and the MCR outputs to the MSR inputs, which Linux's probe checks.
 *
 * Locking: the vCPU threads (register access) and the event loop (input) share the state under
 * uart->lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "kite/evloop.h"
#include "kite/iobus.h"
#include "kite/legacy_devices.h"
#include "kite/log.h"

#define UART_NR_PORTS 8
#define UART_FIFO_SIZE 16

/* Register offsets */
#define UART_RBR 0   /* DLAB=0 read */
#define UART_THR 0   /* DLAB=0 write */
#define UART_DLL 0   /* DLAB=1 */
#define UART_IER 1   /* DLAB=0 */
#define UART_DLM 1   /* DLAB=1 */
#define UART_IIR 2   /* read */
#define UART_FCR 2   /* write */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define IER_ERBFI 0x01  /* received data available */
#define IER_ETBEI 0x02  /* THR empty */
#define IER_ELSI  0x04  /* line status */
#define IER_EDSSI 0x08  /* modem status */

#define IIR_NO_INT   0x01
#define IIR_MSI      0x00
#define IIR_THRI     0x02
#define IIR_RDI      0x04
#define IIR_RLSI     0x06
#define IIR_FIFO_ON  0xC0

#define FCR_ENABLE   0x01
#define FCR_CLEAR_RX 0x02
#define FCR_CLEAR_TX 0x04

#define LCR_DLAB     0x80

#define MCR_DTR  0x01
#define MCR_RTS  0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10

#define LSR_DR   0x01
#define LSR_OE   0x02
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_CTS  0x10
#define MSR_DSR  0x20
#define MSR_RI   0x40
#define MSR_DCD  0x80

struct serial8250 {
	struct machine *m;
	pthread_mutex_t lock;
	uint16_t base;
	unsigned irq;
	int out_fd;
	int in_fd;
	bool in_watched;     /* in_fd is in the event loop */
	bool in_eof;         /* input ended: never watch again */
	bool out_failed;     /* output fd broke: drop further bytes */
	int irq_level;

	uint8_t ier, fcr, lcr, mcr, msr, scr, dll, dlm;
	bool overrun;
	bool thre_pending;
	uint8_t rx[UART_FIFO_SIZE];
	unsigned rx_head, rx_count;
};

static unsigned rx_capacity(const struct serial8250 *u)
{
	return (u->fcr & FCR_ENABLE) ? UART_FIFO_SIZE : 1;
}

static void rx_push(struct serial8250 *u, uint8_t b)
{
	if (u->rx_count >= rx_capacity(u)) {
		u->overrun = true;
		return;
	}
	u->rx[(u->rx_head + u->rx_count) % UART_FIFO_SIZE] = b;
	u->rx_count++;
}

static uint8_t rx_pop(struct serial8250 *u)
{
	uint8_t b;

	if (!u->rx_count)
		return 0;
	b = u->rx[u->rx_head];
	u->rx_head = (u->rx_head + 1) % UART_FIFO_SIZE;
	u->rx_count--;
	return b;
}

static uint8_t uart_iir(const struct serial8250 *u)
{
	uint8_t fifo = (u->fcr & FCR_ENABLE) ? IIR_FIFO_ON : 0;

	if ((u->ier & IER_ELSI) && u->overrun)
		return fifo | IIR_RLSI;
	if ((u->ier & IER_ERBFI) && u->rx_count)
		return fifo | IIR_RDI;
	if ((u->ier & IER_ETBEI) && u->thre_pending)
		return fifo | IIR_THRI;
	if ((u->ier & IER_EDSSI) && (u->msr & (MSR_DCTS | MSR_DDSR | MSR_TERI | MSR_DDCD)))
		return fifo | IIR_MSI;
	return fifo | IIR_NO_INT;
}

static void uart_update_irq(struct serial8250 *u)
{
	int level = !(uart_iir(u) & IIR_NO_INT);

	if (level == u->irq_level)
		return;
	u->irq_level = level;
	machine_set_irq_line(u->m, u->irq, level);
}

static void uart_output(struct serial8250 *u, uint8_t b)
{
	if (u->out_fd < 0 || u->out_failed)
		return;
	for (;;) {
		ssize_t n = write(u->out_fd, &b, 1);

		if (n == 1)
			return;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			continue;
		log_warn("serial 0x%x: console output failed, dropping further output: %m", u->base);
		u->out_failed = true;
		return;
	}
}

static void uart_input_ready(void *opaque, int fd, uint32_t events);

/* Watch the input fd again once the FIFO has room. Called with the lock held. */
static void uart_resume_input(struct serial8250 *u)
{
	int ret;

	if (u->in_fd < 0 || u->in_watched || u->in_eof || u->rx_count >= rx_capacity(u))
		return;
	ret = evloop_add(u->m->loop, u->in_fd, EPOLLIN, uart_input_ready, u);
	if (ret == 0) {
		u->in_watched = true;
	} else {
		/* EPERM: a regular file or /dev/null cannot be polled; treat it as no input. */
		log_debug("serial 0x%x: console input not pollable (%s), input disabled", u->base,
			  strerror(-ret));
		u->in_eof = true;
	}
}

static void uart_pause_input(struct serial8250 *u)
{
	if (!u->in_watched)
		return;
	evloop_del(u->m->loop, u->in_fd);
	u->in_watched = false;
}

static void uart_input_ready(void *opaque, int fd, uint32_t events)
{
	struct serial8250 *u = opaque;
	uint8_t buf[UART_FIFO_SIZE];
	ssize_t n;

	(void)events;
	pthread_mutex_lock(&u->lock);
	if (u->rx_count >= rx_capacity(u)) {
		uart_pause_input(u);
		goto out;
	}
	n = read(fd, buf, rx_capacity(u) - u->rx_count);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		goto out;
	if (n <= 0) {
		uart_pause_input(u);
		u->in_eof = true;
		goto out;
	}
	for (ssize_t i = 0; i < n; i++)
		rx_push(u, buf[i]);
	if (u->rx_count >= rx_capacity(u))
		uart_pause_input(u);
	uart_update_irq(u);
out:
	pthread_mutex_unlock(&u->lock);
}

/* MSR inputs in loopback mode follow the MCR outputs; record the deltas. */
static void uart_loopback_msr(struct serial8250 *u)
{
	uint8_t old = u->msr, in = 0;

	if (u->mcr & MCR_RTS)
		in |= MSR_CTS;
	if (u->mcr & MCR_DTR)
		in |= MSR_DSR;
	if (u->mcr & MCR_OUT1)
		in |= MSR_RI;
	if (u->mcr & MCR_OUT2)
		in |= MSR_DCD;
	u->msr = (old & 0x0f) | in;
	if ((old ^ in) & MSR_CTS)
		u->msr |= MSR_DCTS;
	if ((old ^ in) & MSR_DSR)
		u->msr |= MSR_DDSR;
	if ((old & MSR_RI) && !(in & MSR_RI))
		u->msr |= MSR_TERI;
	if ((old ^ in) & MSR_DCD)
		u->msr |= MSR_DDCD;
}

static void uart_write(struct serial8250 *u, unsigned reg, uint8_t v)
{
	switch (reg) {
	case UART_THR:
		if (u->lcr & LCR_DLAB) {
			u->dll = v;
			break;
		}
		if (u->mcr & MCR_LOOP)
			rx_push(u, v);
		else
			uart_output(u, v);
		u->thre_pending = true;
		break;
	case UART_IER:
		if (u->lcr & LCR_DLAB) {
			u->dlm = v;
			break;
		}
		/* Enabling the THRE interrupt with THR empty raises it at once. */
		if ((v & IER_ETBEI) && !(u->ier & IER_ETBEI))
			u->thre_pending = true;
		u->ier = v & 0x0f;
		break;
	case UART_FCR:
		if ((v & FCR_ENABLE) != (u->fcr & FCR_ENABLE) || (v & FCR_CLEAR_RX)) {
			u->rx_head = u->rx_count = 0;
			u->overrun = false;
		}
		u->fcr = v & 0xC9;
		uart_resume_input(u);
		break;
	case UART_LCR:
		u->lcr = v;
		break;
	case UART_MCR:
		u->mcr = v & 0x1f;
		if (u->mcr & MCR_LOOP)
			uart_loopback_msr(u);
		else
			u->msr = (u->msr & 0x0f) | MSR_DCD | MSR_DSR | MSR_CTS;
		break;
	case UART_LSR:
	case UART_MSR:
		break;  /* read-only here */
	case UART_SCR:
		u->scr = v;
		break;
	}
	uart_update_irq(u);
}

static uint8_t uart_read(struct serial8250 *u, unsigned reg)
{
	uint8_t v = 0;

	switch (reg) {
	case UART_RBR:
		if (u->lcr & LCR_DLAB) {
			v = u->dll;
			break;
		}
		v = rx_pop(u);
		uart_resume_input(u);
		break;
	case UART_IER:
		v = (u->lcr & LCR_DLAB) ? u->dlm : u->ier;
		break;
	case UART_IIR:
		v = uart_iir(u);
		/* Reading IIR acknowledges a THR-empty interrupt. */
		if ((v & 0x0f) == IIR_THRI)
			u->thre_pending = false;
		break;
	case UART_LCR:
		v = u->lcr;
		break;
	case UART_MCR:
		v = u->mcr;
		break;
	case UART_LSR:
		v = LSR_THRE | LSR_TEMT;
		if (u->rx_count)
			v |= LSR_DR;
		if (u->overrun)
			v |= LSR_OE;
		u->overrun = false;
		break;
	case UART_MSR:
		v = u->msr;
		u->msr &= 0xf0;
		break;
	case UART_SCR:
		v = u->scr;
		break;
	}
	uart_update_irq(u);
	return v;
}

static void uart_io(void *opaque, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	struct serial8250 *u = opaque;

	pthread_mutex_lock(&u->lock);
	/* Wider accesses touch consecutive registers, one byte each. */
	for (uint32_t i = 0; i < len; i++) {
		unsigned reg = (unsigned)addr + i;

		if (reg >= UART_NR_PORTS) {
			if (!is_write)
				data[i] = 0xff;
			continue;
		}
		if (is_write)
			uart_write(u, reg, data[i]);
		else
			data[i] = uart_read(u, reg);
	}
	pthread_mutex_unlock(&u->lock);
}

struct serial8250 *serial8250_new(struct machine *m, uint16_t base, unsigned irq, int out_fd, int in_fd)
{
	struct serial8250 *u = calloc(1, sizeof(*u));
	int ret;

	if (!u) {
		log_err("serial 0x%x: allocation failed", base);
		return NULL;
	}
	u->m = m;
	u->base = base;
	u->irq = irq;
	u->out_fd = out_fd;
	u->in_fd = in_fd;
	u->lcr = 0x03;          /* 8N1 */
	u->dll = 0x0c;          /* 9600 baud */
	u->mcr = MCR_OUT2;
	u->msr = MSR_DCD | MSR_DSR | MSR_CTS;
	pthread_mutex_init(&u->lock, NULL);
	ret = iobus_register(m->pio, base, UART_NR_PORTS, uart_io, u);
	if (ret < 0) {
		log_err("serial 0x%x: port range taken: %s", base, strerror(-ret));
		pthread_mutex_destroy(&u->lock);
		free(u);
		return NULL;
	}
	pthread_mutex_lock(&u->lock);
	uart_resume_input(u);
	pthread_mutex_unlock(&u->lock);
	return u;
}

void serial8250_free(struct serial8250 *u)
{
	if (!u)
		return;
	iobus_unregister(u->m->pio, u->base);
	pthread_mutex_lock(&u->lock);
	uart_pause_input(u);
	pthread_mutex_unlock(&u->lock);
	pthread_mutex_destroy(&u->lock);
	free(u);
}

void serial8250_save(struct serial8250 *u, struct snap_writer *w)
{
	pthread_mutex_lock(&u->lock);
	snap_put_u8(w, u->ier);
	snap_put_u8(w, u->fcr);
	snap_put_u8(w, u->lcr);
	snap_put_u8(w, u->mcr);
	snap_put_u8(w, u->msr);
	snap_put_u8(w, u->scr);
	snap_put_u8(w, u->dll);
	snap_put_u8(w, u->dlm);
	snap_put_u8(w, u->overrun);
	snap_put_u8(w, u->thre_pending);
	snap_put_u8(w, (uint8_t)u->irq_level);
	snap_put_u8(w, (uint8_t)u->rx_count);
	for (unsigned i = 0; i < u->rx_count; i++)
		snap_put_u8(w, u->rx[(u->rx_head + i) % UART_FIFO_SIZE]);
	pthread_mutex_unlock(&u->lock);
}

void serial8250_restore(struct serial8250 *u, struct snap_cursor *c)
{
	uint8_t r[8], overrun, thre, level, count, rx[UART_FIFO_SIZE];

	snap_get(c, r, sizeof(r));
	overrun = snap_get_u8(c);
	thre = snap_get_u8(c);
	level = snap_get_u8(c);
	count = snap_get_u8(c);
	if (count > ((r[1] & FCR_ENABLE) ? UART_FIFO_SIZE : 1))
		snap_cursor_fail(c, "receive FIFO holds more bytes than it can");
	else
		snap_get(c, rx, count);
	if ((r[0] & ~0x0f) || (r[1] & ~0xC9) || (r[3] & ~0x1f) || overrun > 1 || thre > 1 || level > 1)
		snap_cursor_fail(c, "register value with bits the UART does not have");
	if (c->bad || snap_remaining(c))
		return;
	pthread_mutex_lock(&u->lock);
	u->ier = r[0];
	u->fcr = r[1];
	u->lcr = r[2];
	u->mcr = r[3];
	u->msr = r[4];
	u->scr = r[5];
	u->dll = r[6];
	u->dlm = r[7];
	u->overrun = overrun;
	u->thre_pending = thre;
	memcpy(u->rx, rx, count);
	u->rx_head = 0;
	u->rx_count = count;
	/* drive the line as the saved device did, then watch the input if the FIFO has room */
	u->irq_level = level;
	machine_set_irq_line(u->m, u->irq, level);
	uart_pause_input(u);
	uart_resume_input(u);
	pthread_mutex_unlock(&u->lock);
}
