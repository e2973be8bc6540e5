/* SPDX-License-Identifier: MIT */
/* virtio-mmio version 2 transport: register window, level interrupt, ioeventfd doorbells. */
#include <stdio.h>
#include <string.h>

#include "kite/iobus.h"
#include "kite/log.h"
#include "kite/virtio_mmio.h"

/* ISA IRQs no legacy device of kite uses. */
static const unsigned mmio_gsis[KITE_VIRTIO_MMIO_MAX] = { 5, 6, 7, 10, 11 };

static int doorbell(struct virtio_mmio *m, unsigned q, bool deassign)
{
	struct machine_ioeventfd io = {
		.addr = m->base + VIRTIO_MMIO_QUEUE_NOTIFY,
		.len = 4,
		.pio = false,
		.datamatch = true,
		.value = q,
		.fd = m->dev->q[q].kick_fd,
	};

	return machine_ioeventfd(m->dev->machine, &io, deassign);
}

static void update_line(struct virtio_mmio *m)
{
	machine_set_irq_line(m->dev->machine, m->gsi, m->dev->isr != 0);
}

static void mmio_interrupt(struct virtio_dev *dev, bool config, uint16_t vector)
{
	(void)config;
	(void)vector;
	update_line(dev->transport);
}

static void set_half(uint64_t *field, bool high, uint32_t v)
{
	if (high)
		*field = (*field & 0xffffffffULL) | (uint64_t)v << 32;
	else
		*field = (*field & ~0xffffffffULL) | v;
}

/* dev->lock held */
static uint32_t reg_read(struct virtio_mmio *m, uint64_t off)
{
	struct virtio_dev *dev = m->dev;
	struct virtio_queue *q = m->queue_sel < dev->nqueues ? &dev->q[m->queue_sel] : NULL;

	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return VIRTIO_MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION:
		return 2;
	case VIRTIO_MMIO_DEVICE_ID:
		return dev->ops->device_id;
	case VIRTIO_MMIO_VENDOR_ID:
		return VIRTIO_MMIO_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		return m->dfsel < 2 ? (uint32_t)(dev->host_features >> (32 * m->dfsel)) : 0;
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return q ? q->max_size : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		return q ? q->enabled : 0;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		return dev->isr;
	case VIRTIO_MMIO_STATUS:
		return dev->status;
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return dev->config_generation;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		return q ? (uint32_t)(q->desc >> (off == VIRTIO_MMIO_QUEUE_DESC_HIGH ? 32 : 0)) : 0;
	case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
	case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
		return q ? (uint32_t)(q->driver >> (off == VIRTIO_MMIO_QUEUE_DRIVER_HIGH ? 32 : 0)) : 0;
	case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
	case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
		return q ? (uint32_t)(q->device >> (off == VIRTIO_MMIO_QUEUE_DEVICE_HIGH ? 32 : 0)) : 0;
	default:
		return 0;
	}
}

/* dev->lock held */
static void reg_write(struct virtio_mmio *m, uint64_t off, uint32_t v)
{
	struct virtio_dev *dev = m->dev;
	struct virtio_queue *q = m->queue_sel < dev->nqueues ? &dev->q[m->queue_sel] : NULL;
	bool q_locked = !q || q->enabled || (dev->status & VIRTIO_STATUS_DRIVER_OK);

	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		m->dfsel = v;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		m->gfsel = v;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		if (m->gfsel < 2 && !(dev->status & VIRTIO_STATUS_FEATURES_OK))
			set_half(&dev->guest_features, m->gfsel == 1, v);
		break;
	case VIRTIO_MMIO_QUEUE_SEL:
		m->queue_sel = v;
		break;
	case VIRTIO_MMIO_QUEUE_NUM:
		if (!q_locked && v && v <= q->max_size)
			q->size = (uint16_t)v;
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		if (q && v == 1)
			virtio_dev_queue_enable(dev, m->queue_sel);
		else if (q && v == 0 && q->enabled) {
			q->enabled = false;
			vq_reset(&q->vq);
		}
		break;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		log_debug("%s: queue %u kick reached kite (not an ioeventfd)", dev->name, v);
		virtio_dev_kick(dev, v);
		break;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		dev->isr &= (uint8_t)~v;
		update_line(m);
		break;
	case VIRTIO_MMIO_STATUS:
		virtio_dev_set_status(dev, (uint8_t)v);
		if (dev->status == 0) {
			m->dfsel = m->gfsel = m->queue_sel = 0;
			update_line(m);
		}
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		if (!q_locked)
			set_half(&q->desc, off == VIRTIO_MMIO_QUEUE_DESC_HIGH, v);
		break;
	case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
	case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
		if (!q_locked)
			set_half(&q->driver, off == VIRTIO_MMIO_QUEUE_DRIVER_HIGH, v);
		break;
	case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
	case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
		if (!q_locked)
			set_half(&q->device, off == VIRTIO_MMIO_QUEUE_DEVICE_HIGH, v);
		break;
	default:
		log_debug("%s: write to read-only or unknown MMIO register 0x%llx ignored", dev->name,
			  (unsigned long long)off);
		break;
	}
}

static void mmio_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct virtio_mmio *m = opaque;
	struct virtio_dev *dev = m->dev;
	uint32_t v = 0;

	pthread_mutex_lock(&dev->lock);
	if (off >= VIRTIO_MMIO_CONFIG) {
		uint32_t c = (uint32_t)(off - VIRTIO_MMIO_CONFIG);

		virtio_dev_config_access(dev, c, data, len, is_write);
	} else if (len != 4 || (off & 3)) {
		/* registers are 32-bit wide, accessed as such (virtio 1.2 4.2.2.2) */
		if (!is_write)
			memset(data, 0xff, len);
	} else if (is_write) {
		memcpy(&v, data, 4);
		reg_write(m, off, v);
	} else {
		v = reg_read(m, off);
		memcpy(data, &v, 4);
	}
	pthread_mutex_unlock(&dev->lock);
}

int virtio_mmio_init(struct virtio_mmio *m, struct virtio_dev *dev, unsigned slot)
{
	memset(m, 0, sizeof(*m));
	m->dev = dev;
	if (slot >= KITE_VIRTIO_MMIO_MAX) {
		log_err("%s: all %d virtio-mmio slots are taken", dev->name, KITE_VIRTIO_MMIO_MAX);
		return -1;
	}
	m->base = KITE_VIRTIO_MMIO_BASE + (uint64_t)slot * KITE_VIRTIO_MMIO_SIZE;
	m->gsi = mmio_gsis[slot];
	dev->transport = m;
	dev->interrupt = mmio_interrupt;
	if (iobus_register(dev->machine->mmio, m->base, KITE_VIRTIO_MMIO_SIZE, mmio_io, m) < 0) {
		log_err("%s: MMIO window 0x%llx is taken", dev->name, (unsigned long long)m->base);
		return -1;
	}
	m->registered = true;
	m->ioeventfd_on = true;
	for (unsigned q = 0; q < dev->nqueues; q++) {
		if (doorbell(m, q, false) < 0) {
			log_warn("%s: no ioeventfd for queue %u: kicks exit to kite", dev->name, q);
			for (unsigned k = 0; k < q; k++)
				doorbell(m, k, true);
			m->ioeventfd_on = false;
			break;
		}
	}
	return 0;
}

void virtio_mmio_exit(struct virtio_mmio *m)
{
	if (!m->dev)
		return;
	if (m->ioeventfd_on)
		for (unsigned q = 0; q < m->dev->nqueues; q++)
			doorbell(m, q, true);
	m->ioeventfd_on = false;
	if (m->registered)
		iobus_unregister(m->dev->machine->mmio, m->base);
	m->registered = false;
}
