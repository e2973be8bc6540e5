/* SPDX-License-Identifier: MIT */
/* A virtio device on PCI or MMIO: the transport is chosen here and nowhere else. */
#include <stdlib.h>
#include <string.h>

#include "kite/log.h"
#include "kite/snapshot.h"
#include "kite/virtio_mmio.h"
#include "kite/virtio_pci.h"
#include "kite/virtio_transport.h"

struct virtio_attachment {
	enum virtio_transport kind;
	union {
		struct virtio_pci pci;
		struct virtio_mmio mmio;
	} u;
};

int virtio_transport_parse(const char *what, const char *val, enum virtio_transport *out)
{
	if (!strcmp(val, "pci"))
		*out = VIRTIO_TRANSPORT_PCI;
	else if (!strcmp(val, "mmio"))
		*out = VIRTIO_TRANSPORT_MMIO;
	else {
		log_err("%s: transport=%s: expected pci or mmio", what, val);
		return -1;
	}
	return 0;
}

struct virtio_attachment *virtio_transport_attach(struct virtio_dev *dev, enum virtio_transport kind,
						  struct virtio_transport_host *host)
{
	struct virtio_attachment *a = calloc(1, sizeof(*a));
	int ret;

	if (!a) {
		log_err("%s: out of memory for its transport", dev->name);
		return NULL;
	}
	a->kind = kind;
	if (kind == VIRTIO_TRANSPORT_MMIO) {
		ret = virtio_mmio_init(&a->u.mmio, dev, host->mmio_used);
		if (ret == 0) {
			host->mmio_used++;
			log_debug("%s: virtio-mmio at 0x%llx, IRQ %u", dev->name,
				  (unsigned long long)a->u.mmio.base, a->u.mmio.gsi);
		}
	} else {
		ret = virtio_pci_init(&a->u.pci, dev, host->pci);
		if (ret == 0)
			log_debug("%s: PCI slot %u", dev->name, a->u.pci.pci.slot);
	}
	if (ret < 0) {
		virtio_transport_detach(a);
		return NULL;
	}
	return a;
}

void virtio_transport_detach(struct virtio_attachment *a)
{
	if (!a)
		return;
	if (a->kind == VIRTIO_TRANSPORT_MMIO)
		virtio_mmio_exit(&a->u.mmio);
	else
		virtio_pci_exit(&a->u.pci);
	free(a);
}

bool virtio_transport_mmio_window(const struct virtio_attachment *a, uint64_t *base, uint64_t *size,
				  unsigned *irq)
{
	if (a->kind != VIRTIO_TRANSPORT_MMIO)
		return false;
	*base = a->u.mmio.base;
	*size = KITE_VIRTIO_MMIO_SIZE;
	*irq = a->u.mmio.gsi;
	return true;
}

void virtio_transport_save(struct virtio_attachment *a, struct snap_writer *w)
{
	struct virtio_dev *dev = a->kind == VIRTIO_TRANSPORT_MMIO ? a->u.mmio.dev : a->u.pci.dev;

	snap_put_u8(w, (uint8_t)a->kind);
	pthread_mutex_lock(&dev->lock);
	if (a->kind == VIRTIO_TRANSPORT_MMIO) {
		snap_put_u32(w, a->u.mmio.dfsel);
		snap_put_u32(w, a->u.mmio.gfsel);
		snap_put_u32(w, a->u.mmio.queue_sel);
	} else {
		snap_put_u32(w, a->u.pci.dfselect);
		snap_put_u32(w, a->u.pci.gfselect);
		snap_put_u32(w, a->u.pci.queue_select);
	}
	pthread_mutex_unlock(&dev->lock);
	virtio_dev_save(dev, w);
}

void virtio_transport_restore(struct virtio_attachment *a, struct snap_cursor *c)
{
	uint8_t kind = snap_get_u8(c);
	uint32_t dfsel = snap_get_u32(c), gfsel = snap_get_u32(c), qsel = snap_get_u32(c);
	struct virtio_dev *dev;

	if (kind != a->kind) {
		snap_cursor_fail(c, "saved on another transport (pci / mmio)");
		return;
	}
	/* selectors are guest-written and read back as such; only the PCI queue select is 16 bits */
	if (kind == VIRTIO_TRANSPORT_PCI && qsel > 0xffff)
		snap_cursor_fail(c, "queue select wider than its 16-bit register");
	if (c->bad)
		return;
	if (kind == VIRTIO_TRANSPORT_MMIO) {
		dev = a->u.mmio.dev;
		virtio_dev_restore(dev, c, 0);
		if (c->bad)
			return;
		pthread_mutex_lock(&dev->lock);
		a->u.mmio.dfsel = dfsel;
		a->u.mmio.gfsel = gfsel;
		a->u.mmio.queue_sel = qsel;
		machine_set_irq_line(dev->machine, a->u.mmio.gsi, dev->isr != 0);
		pthread_mutex_unlock(&dev->lock);
	} else {
		dev = a->u.pci.dev;
		virtio_dev_restore(dev, c, a->u.pci.pci.msix_nr);
		if (c->bad)
			return;
		pthread_mutex_lock(&dev->lock);
		a->u.pci.dfselect = dfsel;
		a->u.pci.gfselect = gfsel;
		a->u.pci.queue_select = (uint16_t)qsel;
		pthread_mutex_unlock(&dev->lock);
	}
}
