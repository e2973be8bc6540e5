/* SPDX-License-Identifier: MIT */
/*
 * i8042 keyboard controller, only as much as Linux needs: status and data ports, the command byte,
 * self tests, and command 0xFE (pulse the CPU reset line) which fires the reset event. There is
 * no keyboard or mouse behind it: port tests pass; the only scancodes are those the VMM injects
 * (i8042_send_keys: Ctrl-Alt-Del), queued and delivered one per read.
 * Interrupts as on a PC (and QEMU): IRQ 1 is high while the output buffer holds a keyboard-side byte
 * and the command byte enables keyboard interrupts (bit 0), IRQ 12 likewise for an aux-port byte
 * (bit 1). Linux's aux probe loops a byte back through 0xD3 and waits up to 250 ms for IRQ 12.
 */
#include <pthread.h>
#include <string.h>

#include <stdlib.h>

#include "kite/iobus.h"
#include "kite/legacy_devices.h"
#include "kite/log.h"
#include "kite/platform.h"

#define I8042_DATA    0   /* port 0x60 */
#define I8042_CMD     4   /* port 0x64: write command, read status */

#define STS_OBF       0x01  /* output buffer full (data for the CPU) */
#define STS_SYS       0x04  /* system flag: self test passed */
#define STS_CMD       0x08  /* last write was a command */
#define STS_UNLOCKED  0x10  /* keyboard not inhibited (no keylock): Linux warns "Keylock active" without it */

#define CMD_READ_CTR   0x20
#define CMD_WRITE_CTR  0x60
#define CMD_AUX_DIS    0xA7
#define CMD_AUX_EN     0xA8
#define CMD_AUX_TEST   0xA9
#define CMD_SELF_TEST  0xAA
#define CMD_KBD_TEST   0xAB
#define CMD_KBD_DIS    0xAD
#define CMD_KBD_EN     0xAE
#define CMD_READ_OUT   0xD0
#define CMD_WRITE_OUT  0xD1
#define CMD_WRITE_KBD_OUT 0xD2
#define CMD_WRITE_AUX_OUT 0xD3
#define CMD_RESET      0xFE

#define STS_AUXDATA   0x20  /* output buffer holds a byte from the aux port */
#define CTR_KBD_INT   0x01  /* command byte: keyboard interrupt enabled */
#define CTR_AUX_INT   0x02  /* command byte: aux interrupt enabled */
#define KBD_IRQ       1
#define AUX_IRQ       12
#define KBD_QUEUE     16

struct i8042 {
	struct machine *m;
	struct machine_event reset;
	bool data_on, cmd_on;   /* the ports are ours (registered) */
	pthread_mutex_t lock;
	uint8_t status;
	uint8_t ctr;        /* controller command byte */
	uint8_t out;        /* output buffer (valid when STS_OBF) */
	uint8_t pending;    /* command waiting for its data byte, 0 = none */
	uint8_t kq[KBD_QUEUE];   /* injected scancodes not yet in the output buffer */
	unsigned kq_head, kq_len;
	bool ctr_written;   /* a driver wrote the command byte */
	int kbd_level, aux_level;   /* IRQ 1 / IRQ 12 as last driven */
};

/* Drive IRQ 1 and IRQ 12 from the output buffer and the command byte (lock held). */
static void kbc_update_irqs(struct i8042 *kbc)
{
	bool full = kbc->status & STS_OBF, aux = kbc->status & STS_AUXDATA;
	int kbd = full && !aux && (kbc->ctr & CTR_KBD_INT);
	int mouse = full && aux && (kbc->ctr & CTR_AUX_INT);

	if (kbd != kbc->kbd_level) {
		kbc->kbd_level = kbd;
		machine_set_irq_line(kbc->m, KBD_IRQ, kbd);
	}
	if (mouse != kbc->aux_level) {
		kbc->aux_level = mouse;
		machine_set_irq_line(kbc->m, AUX_IRQ, mouse);
	}
}

/* Move the next injected scancode into an empty output buffer (lock held; IRQ 1 follows). */
static void kbd_refill(struct i8042 *kbc)
{
	if ((kbc->status & STS_OBF) || !kbc->kq_len)
		return;
	kbc->out = kbc->kq[kbc->kq_head];
	kbc->kq_head = (kbc->kq_head + 1) % KBD_QUEUE;
	kbc->kq_len--;
	kbc->status = (uint8_t)((kbc->status & ~STS_AUXDATA) | STS_OBF);
}

static void kbc_reply(struct i8042 *kbc, uint8_t v)
{
	kbc->out = v;
	kbc->status = (uint8_t)((kbc->status & ~STS_AUXDATA) | STS_OBF);
}

/* Returns true if the guest asked for a CPU reset. */
static bool kbc_command(struct i8042 *kbc, uint8_t cmd)
{
	kbc->status |= STS_CMD;
	switch (cmd) {
	case CMD_READ_CTR:
		kbc_reply(kbc, kbc->ctr);
		break;
	case CMD_WRITE_CTR:
	case CMD_WRITE_OUT:
	case CMD_WRITE_KBD_OUT:
	case CMD_WRITE_AUX_OUT:
		kbc->pending = cmd;
		break;
	case CMD_SELF_TEST:
		kbc_reply(kbc, 0x55);
		break;
	case CMD_KBD_TEST:
	case CMD_AUX_TEST:
		kbc_reply(kbc, 0x00);
		break;
	case CMD_READ_OUT:
		kbc_reply(kbc, 0x01);   /* reset line not asserted */
		break;
	case CMD_KBD_DIS:
		kbc->ctr |= 0x10;
		break;
	case CMD_KBD_EN:
		kbc->ctr &= (uint8_t)~0x10;
		break;
	case CMD_AUX_DIS:
		kbc->ctr |= 0x20;
		break;
	case CMD_AUX_EN:
		kbc->ctr &= (uint8_t)~0x20;
		break;
	case CMD_RESET:
		return true;
	default:
		break;
	}
	return false;
}

/* Returns true if the guest asked for a CPU reset. */
static bool kbc_data(struct i8042 *kbc, uint8_t v)
{
	uint8_t cmd = kbc->pending;

	kbc->status &= (uint8_t)~STS_CMD;
	kbc->pending = 0;
	if (cmd == CMD_WRITE_CTR) {
		kbc->ctr = v;
		kbc->ctr_written = true;
	}
	else if (cmd == CMD_WRITE_OUT)
		return !(v & 0x01);   /* bit 0 low = CPU reset */
	else if (cmd == CMD_WRITE_KBD_OUT)
		kbc_reply(kbc, v);          /* loop back as if the keyboard sent it */
	else if (cmd == CMD_WRITE_AUX_OUT) {
		kbc_reply(kbc, v);          /* loop back as if the mouse sent it (Linux's aux port probe) */
		kbc->status |= STS_AUXDATA;
	}
	/* Bytes for the (absent) keyboard are dropped. */
	return false;
}

static void i8042_access(void *opaque, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	struct i8042 *kbc = opaque;
	bool reset = false;

	pthread_mutex_lock(&kbc->lock);
	if (!is_write) {
		memset(data, 0xff, len);
		if (addr == I8042_CMD) {
			data[0] = kbc->status;
		} else if (addr == I8042_DATA) {
			data[0] = kbc->out;
			kbc->status &= (uint8_t)~(STS_OBF | STS_AUXDATA);
			kbd_refill(kbc);
		}
	} else if (addr == I8042_CMD) {
		reset = kbc_command(kbc, data[0]);
	} else if (addr == I8042_DATA) {
		reset = kbc_data(kbc, data[0]);
	}
	kbc_update_irqs(kbc);
	pthread_mutex_unlock(&kbc->lock);
	if (reset) {
		log_info("i8042: guest reset the CPU");
		machine_event_fire(&kbc->reset);
	}
}

static void i8042_data_io(void *opaque, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	(void)addr;
	i8042_access(opaque, I8042_DATA, data, len, is_write);
}

static void i8042_cmd_io(void *opaque, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	(void)addr;
	i8042_access(opaque, I8042_CMD, data, len, is_write);
}

struct i8042 *i8042_new(struct machine *m, struct machine_event reset)
{
	struct i8042 *kbc = calloc(1, sizeof(*kbc));

	if (!kbc) {
		log_err("i8042: out of memory");
		return NULL;
	}
	kbc->m = m;
	kbc->reset = reset;
	pthread_mutex_init(&kbc->lock, NULL);
	kbc->status = STS_SYS | STS_UNLOCKED;
	kbc->ctr = 0x07;     /* keyboard interrupt, aux interrupt, system flag */
	/* Port 0x61 between them is the PC speaker/PIT gate, answered by KVM's PIT. */
	kbc->data_on = iobus_register(m->pio, KITE_I8042_PORT + I8042_DATA, 1, i8042_data_io, kbc) == 0;
	kbc->cmd_on = kbc->data_on && iobus_register(m->pio, KITE_I8042_PORT + I8042_CMD, 1, i8042_cmd_io, kbc) == 0;
	if (!kbc->cmd_on) {
		log_err("i8042: ports 0x60/0x64 already taken");
		i8042_free(kbc);
		return NULL;
	}
	return kbc;
}

int i8042_send_keys(struct i8042 *kbc, const uint8_t *codes, unsigned n)
{
	int ret = 0;

	pthread_mutex_lock(&kbc->lock);
	if (n > KBD_QUEUE - kbc->kq_len) {
		ret = -1;
	} else {
		for (unsigned i = 0; i < n; i++)
			kbc->kq[(kbc->kq_head + kbc->kq_len++) % KBD_QUEUE] = codes[i];
		kbd_refill(kbc);
		kbc_update_irqs(kbc);
	}
	pthread_mutex_unlock(&kbc->lock);
	return ret;
}

bool i8042_kbd_irq_enabled(struct i8042 *kbc)
{
	bool on;

	pthread_mutex_lock(&kbc->lock);
	on = kbc->ctr_written && (kbc->ctr & CTR_KBD_INT);
	pthread_mutex_unlock(&kbc->lock);
	return on;
}

void i8042_free(struct i8042 *kbc)
{
	if (!kbc)
		return;
	if (kbc->data_on)
		iobus_unregister(kbc->m->pio, KITE_I8042_PORT + I8042_DATA);
	if (kbc->cmd_on)
		iobus_unregister(kbc->m->pio, KITE_I8042_PORT + I8042_CMD);
	pthread_mutex_destroy(&kbc->lock);
	free(kbc);
}

void i8042_save(struct i8042 *kbc, struct snap_writer *w)
{
	pthread_mutex_lock(&kbc->lock);
	snap_put_u8(w, kbc->status);
	snap_put_u8(w, kbc->ctr);
	snap_put_u8(w, kbc->out);
	snap_put_u8(w, kbc->pending);
	snap_put_u8(w, kbc->ctr_written);
	snap_put_u8(w, (uint8_t)kbc->kbd_level);
	snap_put_u8(w, (uint8_t)kbc->aux_level);
	snap_put_u8(w, (uint8_t)kbc->kq_len);
	for (unsigned i = 0; i < kbc->kq_len; i++)
		snap_put_u8(w, kbc->kq[(kbc->kq_head + i) % KBD_QUEUE]);
	pthread_mutex_unlock(&kbc->lock);
}

void i8042_restore(struct i8042 *kbc, struct snap_cursor *c)
{
	uint8_t st = snap_get_u8(c), ctr = snap_get_u8(c), out = snap_get_u8(c), pending = snap_get_u8(c);
	uint8_t written = snap_get_u8(c), kbd = snap_get_u8(c), aux = snap_get_u8(c), n = snap_get_u8(c);
	uint8_t kq[KBD_QUEUE];

	if (n > KBD_QUEUE)
		snap_cursor_fail(c, "key queue longer than 16");
	else
		snap_get(c, kq, n);
	if (st & ~(STS_OBF | STS_SYS | STS_CMD | STS_UNLOCKED | STS_AUXDATA))
		snap_cursor_fail(c, "status with bits the controller does not set");
	if (pending && pending != CMD_WRITE_CTR && pending != CMD_WRITE_OUT && pending != CMD_WRITE_KBD_OUT &&
	    pending != CMD_WRITE_AUX_OUT)
		snap_cursor_fail(c, "pending command is not one that takes a data byte");
	if (written > 1 || kbd > 1 || aux > 1)
		snap_cursor_fail(c, "flag or line level other than 0 or 1");
	if (c->bad || snap_remaining(c))
		return;
	pthread_mutex_lock(&kbc->lock);
	kbc->status = st;
	kbc->ctr = ctr;
	kbc->out = out;
	kbc->pending = pending;
	kbc->ctr_written = written;
	memcpy(kbc->kq, kq, n);
	kbc->kq_head = 0;
	kbc->kq_len = n;
	kbc->kbd_level = kbd;
	kbc->aux_level = aux;
	machine_set_irq_line(kbc->m, KBD_IRQ, kbd);
	machine_set_irq_line(kbc->m, AUX_IRQ, aux);
	pthread_mutex_unlock(&kbc->lock);
}
