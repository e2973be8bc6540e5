/* SPDX-License-Identifier: MIT */
/*
 * virtio over PCI, modern (virtio 1.0+) transport only (virtio/virtio_pci.c). One 32 KiB memory
 * BAR 0 holds every structure; the vendor capabilities point into it:
 *   0x0000 common configuration   0x1000 ISR status   0x2000 device configuration
 *   0x3000 notifications (queue q at 0x3000 + 4 * q, notify_off_multiplier 4; ioeventfds of the
 *          machine, so a kick never reaches kite userspace)   0x4000 MSI-X table   0x5000 MSI-X PBA
 * PCI ids: vendor 0x1af4, device 0x1040 + virtio device id, revision 1.
 * Interrupts: MSI-X (one vector per queue + config) through irqfd, else INTx with the ISR.
 * A PCI_CFG access capability reaches the same BAR through configuration space.
 */
#ifndef KITE_VIRTIO_PCI_H
#define KITE_VIRTIO_PCI_H

#include "kite/pci.h"
#include "kite/virtio_dev.h"

#define VIRTIO_PCI_VENDOR        0x1af4
#define VIRTIO_PCI_DEVICE_BASE   0x1040
#define VIRTIO_PCI_BAR_SIZE      0x8000
#define VIRTIO_PCI_COMMON_OFF    0x0000
#define VIRTIO_PCI_ISR_OFF       0x1000
#define VIRTIO_PCI_DEVICE_OFF    0x2000
#define VIRTIO_PCI_NOTIFY_OFF    0x3000
#define VIRTIO_PCI_NOTIFY_MULT   4
#define VIRTIO_PCI_MSIX_OFF      0x4000
#define VIRTIO_PCI_PBA_OFF       0x5000

/* Capability cfg_type values (virtio 1.2 4.1.4). */
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG    3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define VIRTIO_PCI_CAP_PCI_CFG    5

/* Common configuration layout (virtio 1.2 4.1.4.3). */
#define VIRTIO_PCI_COMMON_DFSELECT   0x00
#define VIRTIO_PCI_COMMON_DF         0x04
#define VIRTIO_PCI_COMMON_GFSELECT   0x08
#define VIRTIO_PCI_COMMON_GF         0x0c
#define VIRTIO_PCI_COMMON_MSIX       0x10
#define VIRTIO_PCI_COMMON_NUMQ       0x12
#define VIRTIO_PCI_COMMON_STATUS     0x14
#define VIRTIO_PCI_COMMON_CFGGEN     0x15
#define VIRTIO_PCI_COMMON_Q_SELECT   0x16
#define VIRTIO_PCI_COMMON_Q_SIZE     0x18
#define VIRTIO_PCI_COMMON_Q_MSIX     0x1a
#define VIRTIO_PCI_COMMON_Q_ENABLE   0x1c
#define VIRTIO_PCI_COMMON_Q_NOFF     0x1e
#define VIRTIO_PCI_COMMON_Q_DESCLO   0x20
#define VIRTIO_PCI_COMMON_Q_DESCHI   0x24
#define VIRTIO_PCI_COMMON_Q_AVAILLO  0x28
#define VIRTIO_PCI_COMMON_Q_AVAILHI  0x2c
#define VIRTIO_PCI_COMMON_Q_USEDLO   0x30
#define VIRTIO_PCI_COMMON_Q_USEDHI   0x34
#define VIRTIO_PCI_COMMON_SIZE       0x38

struct virtio_pci {
	struct pci_dev pci;
	struct virtio_dev *dev;
	uint32_t dfselect, gfselect;
	uint16_t queue_select;
	bool ioeventfd_on;            /* notify doorbells registered as ioeventfds */
	bool ioeventfd_any_len;       /* registered with length 0 (any access size) */
	uint64_t notify_base;         /* guest address of the doorbells while mapped */
	uint8_t pci_cfg_cap;          /* offset of the PCI_CFG access capability */
};

/* Put dev on `bus` (class code dev->ops->pci_class). Called by virtio/transport.c. 0 or -1 (logged). */
int virtio_pci_init(struct virtio_pci *vp, struct virtio_dev *dev, struct pci_bus *bus);
void virtio_pci_exit(struct virtio_pci *vp);

#endif
