/* SPDX-License-Identifier: MIT */
/* The board's devices, shared by vmm/board.c (creation) and vmm/board_snapshot.c (their state). */
#ifndef KITE_VMM_BOARD_INTERNAL_H
#define KITE_VMM_BOARD_INTERNAL_H

#include <stdbool.h>

#include "kite/legacy_devices.h"
#include "kite/virtio_transport.h"
#include "kite/virtio_vhost_user.h"
#include "kite/vm.h"

#define BOARD_MAX_VIRTIO (KITE_MAX_BLK + KITE_MAX_NET + 2 * KITE_MAX_VHOST_USER + 3)

struct console_sock;

struct board_virtio {
	struct virtio_dev *dev;
	struct virtio_attachment *at;
};

struct board {
	struct vm *vm;
	int console_fd;              /* opened here (file:PATH), -1 otherwise */
	struct console_sock *console_sock;   /* socket:PATH, NULL otherwise */
	bool raw_tty;
	struct serial8250 *com1;
	struct i8042 *kbc;
	bool debug_exit;
	struct acpi_pm *pm;
	struct acpi_pmtimer *pmtimer;
	struct legacy_ports *ports;
	struct virtio_transport_host host;   /* .pci: the PCI bus */
	struct board_virtio virtio[BOARD_MAX_VIRTIO];
	unsigned nvirtio;
	struct virtio_dev *balloon;  /* also in virtio[], NULL = none */
	struct virtio_dev *blk[KITE_MAX_BLK], *net[KITE_MAX_NET];   /* also in virtio[], by option index */
	char *cmdline;
};

#endif
