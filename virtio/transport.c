/* SPDX-License-Identifier: MIT */
/* A virtio device on PCI or MMIO: the transport is chosen here and nowhere else. */
#include <stdlib.h>
#include <string.h>

#include "kite/log.h"
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
