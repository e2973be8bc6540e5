/* SPDX-License-Identifier: MIT */
/*
 * virtio-pci modern transport: vendor capabilities, the common configuration registers, ISR,
 * device configuration window, notification doorbells (ioeventfds of the machine that follow BAR 0
 * wherever the guest puts it) and MSI-X / INTx interrupts.
 */
#include <stdio.h>
#include <string.h>

#include "kite/log.h"
#include "kite/virtio_pci.h"

struct virtio_pci_cap {
	uint8_t cap_vndr, cap_next, cap_len, cfg_type, bar, id, padding[2];
	uint32_t offset, length;
	uint32_t notify_off_multiplier;    /* notify capability only */
} __attribute__((packed));

static int doorbell(struct virtio_pci *vp, unsigned q, uint64_t addr, bool deassign, uint32_t len)
{
	struct machine_ioeventfd io = {
		.addr = addr,
		.len = len,
		.pio = false,
		.fd = vp->dev->q[q].kick_fd,
	};

	return machine_ioeventfd(vp->dev->machine, &io, deassign);
}

/* Bus lock held (called from configuration space writes). */
static void on_bar_moved(struct pci_dev *pci, int bar, uint64_t addr, bool on)
{
	struct virtio_pci *vp = pci->owner;
	struct virtio_dev *dev = vp->dev;

	if (bar != 0)
		return;
	if (!on && vp->ioeventfd_on) {
		for (unsigned q = 0; q < dev->nqueues; q++)
			doorbell(vp, q, vp->notify_base + VIRTIO_PCI_NOTIFY_MULT * q, true,
				 vp->ioeventfd_any_len ? 0 : 2);
		vp->ioeventfd_on = false;
	}
	if (on) {
		vp->notify_base = addr + VIRTIO_PCI_NOTIFY_OFF;
		vp->ioeventfd_any_len = true;
		for (unsigned q = 0; q < dev->nqueues; q++) {
			uint64_t a = vp->notify_base + VIRTIO_PCI_NOTIFY_MULT * q;

			if (doorbell(vp, q, a, false, vp->ioeventfd_any_len ? 0 : 2) == 0)
				continue;
			if (q == 0 && vp->ioeventfd_any_len && doorbell(vp, q, a, false, 2) == 0) {
				vp->ioeventfd_any_len = false;   /* older KVM: 16-bit writes only */
				continue;
			}
			log_warn_rl_on(&dev->log_rl, "%s: no ioeventfd for queue %u at 0x%llx: kicks exit to kite",
				 dev->name, q, (unsigned long long)a);
			for (unsigned k = 0; k < q; k++)
				doorbell(vp, k, vp->notify_base + VIRTIO_PCI_NOTIFY_MULT * k, true,
					 vp->ioeventfd_any_len ? 0 : 2);
			return;
		}
		vp->ioeventfd_on = true;
		log_debug("%s: doorbells at 0x%llx are ioeventfds (%s)", dev->name,
			  (unsigned long long)vp->notify_base, vp->ioeventfd_any_len ? "any length" : "16-bit");
	}
}

static void pci_interrupt(struct virtio_dev *dev, bool config, uint16_t vector)
{
	struct virtio_pci *vp = dev->transport;

	(void)config;
	if (pci_msix_enabled(&vp->pci)) {
		if (vector != VIRTIO_MSI_NO_VECTOR)
			pci_msix_notify(&vp->pci, vector);
		return;
	}
	pci_intx_set(&vp->pci, true);
}

/* MSI-X fast path for eventfds of a data plane outside kite (kite/pci.h pci_msix_notifier_add). */
static int pci_notifier(struct virtio_dev *dev, uint16_t vector, int fd, bool add)
{
	struct virtio_pci *vp = dev->transport;

	if (!add) {
		pci_msix_notifier_del(&vp->pci, fd);
		return 0;
	}
	if (!pci_msix_enabled(&vp->pci) || vector == VIRTIO_MSI_NO_VECTOR)
		return -1;
	return pci_msix_notifier_add(&vp->pci, vector, fd);
}

static uint64_t rd(const uint8_t *data, uint32_t len)
{
	uint64_t v = 0;

	memcpy(&v, data, len);
	return v;
}

static uint16_t checked_vector(struct virtio_pci *vp, uint16_t v)
{
	return v < vp->pci.msix_nr ? v : VIRTIO_MSI_NO_VECTOR;
}

/* dev->lock held */
static void common_read(struct virtio_pci *vp, uint64_t off, uint8_t *data, uint32_t len)
{
	struct virtio_dev *dev = vp->dev;
	uint8_t regs[VIRTIO_PCI_COMMON_SIZE];
	uint16_t qs = vp->queue_select;
	struct virtio_queue *q = qs < dev->nqueues ? &dev->q[qs] : NULL;
	uint32_t df = vp->dfselect < 2 ? (uint32_t)(dev->host_features >> (32 * vp->dfselect)) : 0;
	uint32_t gf = vp->gfselect < 2 ? (uint32_t)(dev->guest_features >> (32 * vp->gfselect)) : 0;
	uint16_t v16;
	uint64_t v64;

	memset(regs, 0, sizeof(regs));
	memcpy(&regs[VIRTIO_PCI_COMMON_DFSELECT], &vp->dfselect, 4);
	memcpy(&regs[VIRTIO_PCI_COMMON_DF], &df, 4);
	memcpy(&regs[VIRTIO_PCI_COMMON_GFSELECT], &vp->gfselect, 4);
	memcpy(&regs[VIRTIO_PCI_COMMON_GF], &gf, 4);
	memcpy(&regs[VIRTIO_PCI_COMMON_MSIX], &dev->config_vector, 2);
	v16 = (uint16_t)dev->nqueues;
	memcpy(&regs[VIRTIO_PCI_COMMON_NUMQ], &v16, 2);
	regs[VIRTIO_PCI_COMMON_STATUS] = dev->status;
	regs[VIRTIO_PCI_COMMON_CFGGEN] = dev->config_generation;
	memcpy(&regs[VIRTIO_PCI_COMMON_Q_SELECT], &qs, 2);
	if (q) {
		memcpy(&regs[VIRTIO_PCI_COMMON_Q_SIZE], &q->size, 2);
		memcpy(&regs[VIRTIO_PCI_COMMON_Q_MSIX], &q->vector, 2);
		v16 = q->enabled;
		memcpy(&regs[VIRTIO_PCI_COMMON_Q_ENABLE], &v16, 2);
		memcpy(&regs[VIRTIO_PCI_COMMON_Q_NOFF], &qs, 2);
		v64 = q->desc;
		memcpy(&regs[VIRTIO_PCI_COMMON_Q_DESCLO], &v64, 8);
		v64 = q->driver;
		memcpy(&regs[VIRTIO_PCI_COMMON_Q_AVAILLO], &v64, 8);
		v64 = q->device;
		memcpy(&regs[VIRTIO_PCI_COMMON_Q_USEDLO], &v64, 8);
	}
	if (off + len <= sizeof(regs))
		memcpy(data, &regs[off], len);
	else
		memset(data, 0, len);
}

static void set_half(uint64_t *field, bool high, uint32_t v)
{
	if (high)
		*field = (*field & 0xffffffffULL) | (uint64_t)v << 32;
	else
		*field = (*field & ~0xffffffffULL) | v;
}

/* dev->lock held */
static void common_write(struct virtio_pci *vp, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct virtio_dev *dev = vp->dev;
	uint64_t v = rd(data, len);
	struct virtio_queue *q = vp->queue_select < dev->nqueues ? &dev->q[vp->queue_select] : NULL;
	bool q_locked = !q || q->enabled || (dev->status & VIRTIO_STATUS_DRIVER_OK);

	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT:
		vp->dfselect = (uint32_t)v;
		break;
	case VIRTIO_PCI_COMMON_GFSELECT:
		vp->gfselect = (uint32_t)v;
		break;
	case VIRTIO_PCI_COMMON_GF:
		if (vp->gfselect < 2 && !(dev->status & VIRTIO_STATUS_FEATURES_OK))
			set_half(&dev->guest_features, vp->gfselect == 1, (uint32_t)v);
		break;
	case VIRTIO_PCI_COMMON_MSIX:
		dev->config_vector = checked_vector(vp, (uint16_t)v);
		break;
	case VIRTIO_PCI_COMMON_STATUS:
		virtio_dev_set_status(dev, (uint8_t)v);
		if (dev->status == 0) {
			vp->dfselect = vp->gfselect = 0;
			vp->queue_select = 0;
			pci_intx_set(&vp->pci, false);
		}
		break;
	case VIRTIO_PCI_COMMON_Q_SELECT:
		vp->queue_select = (uint16_t)v;
		break;
	case VIRTIO_PCI_COMMON_Q_SIZE:
		if (!q_locked) {
			if (v == 0 || v > q->max_size)
				log_warn_rl_on(&dev->log_rl, "%s: queue %u size %llu refused (1..%u)", dev->name, vp->queue_select,
					 (unsigned long long)v, q->max_size);
			else
				q->size = (uint16_t)v;
		}
		break;
	case VIRTIO_PCI_COMMON_Q_MSIX:
		if (q)
			q->vector = checked_vector(vp, (uint16_t)v);
		break;
	case VIRTIO_PCI_COMMON_Q_ENABLE:
		if (q && v == 1)
			virtio_dev_queue_enable(dev, vp->queue_select);
		break;
	case VIRTIO_PCI_COMMON_Q_DESCLO:
	case VIRTIO_PCI_COMMON_Q_DESCHI:
		if (!q_locked)
			set_half(&q->desc, off == VIRTIO_PCI_COMMON_Q_DESCHI, (uint32_t)v);
		break;
	case VIRTIO_PCI_COMMON_Q_AVAILLO:
	case VIRTIO_PCI_COMMON_Q_AVAILHI:
		if (!q_locked)
			set_half(&q->driver, off == VIRTIO_PCI_COMMON_Q_AVAILHI, (uint32_t)v);
		break;
	case VIRTIO_PCI_COMMON_Q_USEDLO:
	case VIRTIO_PCI_COMMON_Q_USEDHI:
		if (!q_locked)
			set_half(&q->device, off == VIRTIO_PCI_COMMON_Q_USEDHI, (uint32_t)v);
		break;
	default:
		log_debug("%s: write of %u bytes to read-only common register 0x%llx ignored", dev->name,
			  len, (unsigned long long)off);
		break;
	}
	/* 64-bit writes of a ring address as one access */
	if (len == 8 && !q_locked) {
		if (off == VIRTIO_PCI_COMMON_Q_DESCLO)
			q->desc = v;
		else if (off == VIRTIO_PCI_COMMON_Q_AVAILLO)
			q->driver = v;
		else if (off == VIRTIO_PCI_COMMON_Q_USEDLO)
			q->device = v;
	}
}

static void bar0_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct virtio_pci *vp = opaque;
	struct virtio_dev *dev = vp->dev;

	if (off >= VIRTIO_PCI_MSIX_OFF && off < VIRTIO_PCI_PBA_OFF) {
		pci_msix_table_access(&vp->pci, off - VIRTIO_PCI_MSIX_OFF, data, len, is_write);
		return;
	}
	if (off >= VIRTIO_PCI_PBA_OFF && off < VIRTIO_PCI_PBA_OFF + 0x1000) {
		pci_msix_pba_access(&vp->pci, off - VIRTIO_PCI_PBA_OFF, data, len, is_write);
		return;
	}
	if (off >= VIRTIO_PCI_NOTIFY_OFF && off < VIRTIO_PCI_MSIX_OFF) {
		/* Only when the ioeventfd did not catch it (other sizes, or no ioeventfd). */
		uint64_t q = (off - VIRTIO_PCI_NOTIFY_OFF) / VIRTIO_PCI_NOTIFY_MULT;

		if (is_write) {
			log_debug("%s: queue %llu kick of %u bytes reached kite (not an ioeventfd)", dev->name,
				  (unsigned long long)q, len);
			virtio_dev_kick(dev, (unsigned)q);
		}
		else
			memset(data, 0, len);
		return;
	}
	pthread_mutex_lock(&dev->lock);
	if (off < VIRTIO_PCI_COMMON_SIZE) {
		if (is_write)
			common_write(vp, off, data, len);
		else
			common_read(vp, off, data, len);
	} else if (off >= VIRTIO_PCI_ISR_OFF && off < VIRTIO_PCI_ISR_OFF + 4) {
		if (!is_write) {
			memset(data, 0, len);
			if (off == VIRTIO_PCI_ISR_OFF) {
				data[0] = dev->isr;      /* read to clear, lowers INTx */
				dev->isr = 0;
				pci_intx_set(&vp->pci, false);
			}
		}
	} else if (off >= VIRTIO_PCI_DEVICE_OFF && off < VIRTIO_PCI_DEVICE_OFF + 0x1000) {
		uint32_t c = (uint32_t)(off - VIRTIO_PCI_DEVICE_OFF);

		virtio_dev_config_access(dev, c, data, len, is_write);
	} else if (!is_write) {
		memset(data, 0xff, len);
	}
	pthread_mutex_unlock(&dev->lock);
}

/*
 * VIRTIO_PCI_CAP_PCI_CFG: the driver writes bar/offset/length into the capability, then reads or
 * writes pci_cfg_data to reach that part of BAR 0 through configuration space (virtio 1.2 4.1.4.9).
 */
static void pci_cfg_window(struct pci_dev *pci, unsigned off, uint8_t *data, uint32_t len, bool is_write)
{
	struct virtio_pci *vp = pci->owner;
	uint8_t cap = vp->pci_cfg_cap;
	uint32_t bar_off = pci_cfg_r32(pci, cap + 8), acc = pci_cfg_r32(pci, cap + 12);
	uint8_t buf[4] = { 0 };

	if (pci->cfg[cap + 4] != 0 || off != 0 || (acc != 1 && acc != 2 && acc != 4) || len < acc ||
	    bar_off > VIRTIO_PCI_BAR_SIZE - acc || (bar_off & (acc - 1))) {
		if (!is_write)
			memset(data, 0, len);           /* undefined access: nothing happens */
		return;
	}
	if (is_write) {
		memcpy(buf, data, acc);
		bar0_io(vp, bar_off, buf, acc, true);
	} else {
		bar0_io(vp, bar_off, buf, acc, false);
		memset(data, 0, len);
		memcpy(data, buf, acc);
	}
}

static int add_vcap(struct virtio_pci *vp, uint8_t type, uint32_t off, uint32_t len)
{
	struct virtio_pci_cap cap = {
		.cap_vndr = PCI_CAP_ID_VNDR,
		.cap_len = type == VIRTIO_PCI_CAP_NOTIFY_CFG ? 20 : 16,
		.cfg_type = type,
		.bar = 0,
		.offset = off,
		.length = len,
		.notify_off_multiplier = VIRTIO_PCI_NOTIFY_MULT,
	};

	if (!pci_add_cap(&vp->pci, &cap, cap.cap_len)) {
		log_err("%s: no room in configuration space for virtio capability %u", vp->dev->name, type);
		return -1;
	}
	return 0;
}

int virtio_pci_init(struct virtio_pci *vp, struct virtio_dev *dev, struct pci_bus *bus)
{
	uint32_t id = dev->ops->device_id;

	memset(vp, 0, sizeof(*vp));
	vp->dev = dev;
	pci_dev_init(&vp->pci, dev->machine, dev->name, VIRTIO_PCI_VENDOR, (uint16_t)(VIRTIO_PCI_DEVICE_BASE + id),
		     dev->ops->pci_class, 1, VIRTIO_PCI_VENDOR, (uint16_t)id);
	vp->pci.owner = vp;
	vp->pci.bar_moved = on_bar_moved;
	if (pci_set_bar(&vp->pci, 0, VIRTIO_PCI_BAR_SIZE, bar0_io, vp) < 0 ||
	    add_vcap(vp, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_COMMON_OFF, VIRTIO_PCI_COMMON_SIZE) < 0 ||
	    add_vcap(vp, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_NOTIFY_OFF,
		     VIRTIO_PCI_NOTIFY_MULT * dev->nqueues) < 0 ||
	    add_vcap(vp, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_ISR_OFF, 4) < 0 ||
	    add_vcap(vp, VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_DEVICE_OFF, dev->ops->config_size) < 0 ||
	    pci_add_msix(&vp->pci, dev->nqueues + 1, 0, VIRTIO_PCI_MSIX_OFF, VIRTIO_PCI_PBA_OFF) < 0)
		return -1;
	{
		/* PCI_CFG access capability: bar, offset and length writable, data window after them */
		struct virtio_pci_cap cfgcap = { .cap_vndr = PCI_CAP_ID_VNDR, .cap_len = 20,
						 .cfg_type = VIRTIO_PCI_CAP_PCI_CFG };
		uint8_t c = pci_add_cap(&vp->pci, &cfgcap, 20);

		if (!c) {
			log_err("%s: no room for the PCI_CFG access capability", dev->name);
			return -1;
		}
		vp->pci_cfg_cap = c;
		vp->pci.wmask[c + 4] = 0xff;
		for (unsigned i = 8; i < 16; i++)
			vp->pci.wmask[c + i] = 0xff;
		vp->pci.cfg_window_off = (uint8_t)(c + 16);
		vp->pci.cfg_window = pci_cfg_window;
	}
	dev->transport = vp;
	dev->interrupt = pci_interrupt;
	dev->notifier = pci_notifier;
	return pci_register(bus, &vp->pci);
}

void virtio_pci_exit(struct virtio_pci *vp)
{
	if (vp->dev)
		pci_unregister(&vp->pci);
}
