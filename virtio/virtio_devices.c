/* SPDX-License-Identifier: MIT */
/* Creation of the PCI bus and the configured virtio devices, and their teardown. */
#include "kite/blockdev.h"
#include "kite/log.h"
#include "kite/pci.h"
#include "kite/virtio_devices.h"
#include "kite/virtio_misc.h"
#include "kite/virtio_mmio.h"
#include "kite/virtio_net.h"
#include "kite/vm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern struct blk_options virtio_cfg_blk[KITE_MAX_BLK];
extern unsigned virtio_cfg_nblk;
extern struct net_options virtio_cfg_net[KITE_MAX_NET];
extern unsigned virtio_cfg_nnet;
extern bool virtio_cfg_rng;
extern bool virtio_cfg_balloon;
extern uint32_t virtio_cfg_balloon_pages;
extern char *virtio_cfg_console;

static struct net_dev *nets[KITE_MAX_NET];
static unsigned nnets;
static struct rng_dev *rng;
static struct balloon_dev *balloon;
static struct vcon_dev *vcon;

static struct blk_dev *blks[KITE_MAX_BLK];
static unsigned nblks;
static bool bus_up;
static char *mmio_cmdline;   /* the guest's command line with the virtio_mmio.device= words */

/*
 * virtio-mmio devices are announced on the kernel command line. The loader reads vm->cfg->cmdline
 * after the devices exist, so the extended line replaces it there (kept until virtio_devices_exit).
 */
static int announce_mmio(struct vm *vm)
{
	const char *extra = virtio_mmio_cmdline(), *orig = vm->cfg->cmdline ? vm->cfg->cmdline : "";
	size_t len;

	if (!*extra)
		return 0;
	len = strlen(orig) + strlen(extra) + 1;
	mmio_cmdline = malloc(len);
	if (!mmio_cmdline) {
		log_err("virtio-mmio: out of memory for the command line");
		return -1;
	}
	snprintf(mmio_cmdline, len, "%s%s", orig, *orig ? extra : extra + 1);
	((struct vm_config *)vm->cfg)->cmdline = mmio_cmdline;
	return 0;
}

/* Is any PCI function configured? Without one, kite keeps the legacy "no PCI" answers on 0xCF8. */
static bool pci_needed(void)
{
	for (unsigned i = 0; i < virtio_cfg_nblk; i++)
		if (virtio_cfg_blk[i].transport == VIRTIO_TRANSPORT_PCI)
			return true;
	return virtio_cfg_nnet || virtio_cfg_rng || virtio_cfg_console || virtio_cfg_balloon;
}

int virtio_devices_init(struct vm *vm)
{
	if (pci_needed()) {
		if (pci_init(vm) < 0)
			return -1;
		bus_up = true;
	}
	for (unsigned i = 0; i < virtio_cfg_nblk; i++) {
		blks[i] = blk_create(vm, &virtio_cfg_blk[i], i);
		if (!blks[i])
			return -1;
		nblks = i + 1;
	}
	for (unsigned i = 0; i < virtio_cfg_nnet; i++) {
		nets[i] = net_create(vm, &virtio_cfg_net[i], i);
		if (!nets[i])
			return -1;
		nnets = i + 1;
	}
	if (virtio_cfg_rng && !(rng = rng_create(vm)))
		return -1;
	if (virtio_cfg_balloon && !(balloon = balloon_create(vm, virtio_cfg_balloon_pages)))
		return -1;
	if (virtio_cfg_console && !(vcon = vcon_create(vm, virtio_cfg_console)))
		return -1;
	return announce_mmio(vm);
}

void virtio_devices_exit(struct vm *vm)
{
	for (unsigned i = 0; i < nblks; i++) {
		blk_destroy(blks[i]);
		blks[i] = NULL;
	}
	nblks = 0;
	for (unsigned i = 0; i < nnets; i++) {
		net_destroy(nets[i]);
		nets[i] = NULL;
	}
	nnets = 0;
	rng_destroy(rng);
	rng = NULL;
	balloon_destroy(balloon);
	balloon = NULL;
	vcon_destroy(vcon);
	vcon = NULL;
	free(mmio_cmdline);
	mmio_cmdline = NULL;
	if (bus_up)
		pci_exit(vm);
	bus_up = false;
}
