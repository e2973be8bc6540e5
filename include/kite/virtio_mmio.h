/* SPDX-License-Identifier: MIT */
/*
 * virtio over MMIO, version 2 (virtio 1.2 4.2), in virtio/virtio_mmio.c. Each device gets a 4 KiB
 * window from KITE_VIRTIO_MMIO_BASE up and an ISA-range IOAPIC pin (level: raised while
 * InterruptStatus is non-zero, lowered by InterruptACK). QueueNotify is an ioeventfd of the machine
 * per queue (32-bit write, data = queue index). Linux finds the devices through the kernel command
 * line parameter virtio_mmio.device=<size>@<base>:<irq>, which vmm/board.c appends.
 */
#ifndef KITE_VIRTIO_MMIO_H
#define KITE_VIRTIO_MMIO_H

#include <stdbool.h>
#include <stdint.h>

#include "kite/virtio_dev.h"

#define KITE_VIRTIO_MMIO_BASE    0xD0000000ULL
#define KITE_VIRTIO_MMIO_SIZE    0x1000
#define KITE_VIRTIO_MMIO_MAX     5
#define VIRTIO_MMIO_MAGIC        0x74726976    /* "virt" */
#define VIRTIO_MMIO_VENDOR       0x4554494b    /* "KITE" */

/* Register offsets. */
#define VIRTIO_MMIO_MAGIC_VALUE        0x000
#define VIRTIO_MMIO_VERSION            0x004
#define VIRTIO_MMIO_DEVICE_ID          0x008
#define VIRTIO_MMIO_VENDOR_ID          0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES    0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES    0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL          0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX      0x034
#define VIRTIO_MMIO_QUEUE_NUM          0x038
#define VIRTIO_MMIO_QUEUE_READY        0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY       0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS   0x060
#define VIRTIO_MMIO_INTERRUPT_ACK      0x064
#define VIRTIO_MMIO_STATUS             0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW     0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH    0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW   0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH  0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW   0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH  0x0a4
#define VIRTIO_MMIO_CONFIG_GENERATION  0x0fc
#define VIRTIO_MMIO_CONFIG             0x100

struct virtio_mmio {
	struct virtio_dev *dev;
	uint64_t base;
	unsigned gsi;
	uint32_t dfsel, gfsel, queue_sel;
	bool registered, ioeventfd_on;
};

/* Give dev window and IRQ number `slot` (0..KITE_VIRTIO_MMIO_MAX-1; the owner hands them out).
 * Called by virtio/transport.c. Returns 0 or -1 (logged). */
int virtio_mmio_init(struct virtio_mmio *mdev, struct virtio_dev *dev, unsigned slot);
void virtio_mmio_exit(struct virtio_mmio *mdev);

#endif
