/* SPDX-License-Identifier: MIT */
/* Creation of the PCI bus and the configured virtio devices, and their teardown. */
#include "kite/blockdev.h"
#include "kite/log.h"
#include "kite/pci.h"
#include "kite/virtio_devices.h"
#include "kite/vm.h"

extern struct blk_options virtio_cfg_blk[KITE_MAX_BLK];
extern unsigned virtio_cfg_nblk;

static struct blk_dev *blks[KITE_MAX_BLK];
static unsigned nblks;
static bool bus_up;

int virtio_devices_init(struct vm *vm)
{
	if (pci_init(vm) < 0)
		return -1;
	bus_up = true;
	for (unsigned i = 0; i < virtio_cfg_nblk; i++) {
		blks[i] = blk_create(vm, &virtio_cfg_blk[i], i);
		if (!blks[i])
			return -1;
		nblks = i + 1;
	}
	return 0;
}

void virtio_devices_exit(struct vm *vm)
{
	for (unsigned i = 0; i < nblks; i++) {
		blk_destroy(blks[i]);
		blks[i] = NULL;
	}
	nblks = 0;
	if (bus_up)
		pci_exit(vm);
	bus_up = false;
}
