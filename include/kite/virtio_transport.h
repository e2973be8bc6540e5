/* SPDX-License-Identifier: MIT */
/* Which transport a kite virtio device sits on, and its `transport=pci|mmio` option. */
#ifndef KITE_VIRTIO_TRANSPORT_H
#define KITE_VIRTIO_TRANSPORT_H

enum virtio_transport { VIRTIO_TRANSPORT_PCI = 0, VIRTIO_TRANSPORT_MMIO };

/* Parse "pci" or "mmio" into *out. Returns 0, or -1 with one log line naming `what`. */
int virtio_transport_parse(const char *what, const char *val, enum virtio_transport *out);

#endif
