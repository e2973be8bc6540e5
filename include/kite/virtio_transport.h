/* SPDX-License-Identifier: MIT */
/*
 * The one place that puts a kite virtio device on a transport (virtio/transport.c): PCI
 * (virtio/virtio_pci.c, on a struct pci_bus) or MMIO (virtio/virtio_mmio.c, a window and an ISA IRQ
 * from a slot the owner hands out), as the device's `transport=pci|mmio` option says. Device models
 * know nothing of either. Main thread only (the board attaches and detaches).
 */
#ifndef KITE_VIRTIO_TRANSPORT_H
#define KITE_VIRTIO_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>

enum virtio_transport { VIRTIO_TRANSPORT_PCI = 0, VIRTIO_TRANSPORT_MMIO };

struct pci_bus;
struct virtio_dev;
struct virtio_attachment;

/* Where devices go, owned by the caller: the PCI bus and the virtio-mmio slots used so far. */
struct virtio_transport_host {
	struct pci_bus *pci;
	unsigned mmio_used;
};

/* Parse "pci" or "mmio" into *out. Returns 0, or -1 with one log line naming `what`. */
int virtio_transport_parse(const char *what, const char *val, enum virtio_transport *out);

/* Put dev on transport `kind` of `host`. NULL on error (logged). */
struct virtio_attachment *virtio_transport_attach(struct virtio_dev *dev, enum virtio_transport kind,
						  struct virtio_transport_host *host);
/* Take the device off its transport (before the device model is freed). NULL is ignored. */
void virtio_transport_detach(struct virtio_attachment *a);
/* Snapshots: the transport's registers (feature and queue selectors) and the device core
 * (virtio_dev_save) as the payload of the device's "virtio" section; restore refuses another
 * transport kind. PCI configuration space and MSI-X are the PCI bus's sections (kite/pci.h). */
struct snap_writer;
struct snap_cursor;
void virtio_transport_save(struct virtio_attachment *a, struct snap_writer *w);
void virtio_transport_restore(struct virtio_attachment *a, struct snap_cursor *c);

/* The MMIO window and IRQ of an MMIO attachment (what the guest's command line must announce).
 * false for a PCI attachment. */
bool virtio_transport_mmio_window(const struct virtio_attachment *a, uint64_t *base, uint64_t *size,
				  unsigned *irq);

#endif
