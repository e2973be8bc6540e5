/* SPDX-License-Identifier: MIT */
/* Shared between pci/pci.c and pci/msix.c only. */
#ifndef KITE_PCI_INTERNAL_H
#define KITE_PCI_INTERNAL_H

#include <pthread.h>

#include "kite/pci.h"

struct pci_bus {
	struct machine *m;
	struct machine_event reset;
	/* Configuration space and BAR placement. Lock order: lock, then irq_lock. */
	pthread_mutex_t lock;
	/* MSI-X tables, PBAs and INTx (taken from BAR handlers on vCPU threads). */
	pthread_mutex_t irq_lock;
	uint32_t config_addr;
	struct pci_dev bridge;
	struct pci_dev *slot[PCI_MAX_DEVICES];
	uint64_t next_mmio;
	bool ports_on;               /* 0xCF8-0xCFF registered */
};

void pci_intx_refresh(struct pci_dev *dev);                 /* bus lock held */
void pci_update_bars(struct pci_dev *dev);                  /* bus lock held */
/* After a restore wrote the table: install the routes of programmed vectors, sync notifiers,
 * deliver pending unmasked vectors (bus lock held). */
void pci_msix_restored(struct pci_dev *dev);
void pci_msix_control_written(struct pci_dev *dev);         /* bus lock held */
int pci_msix_setup(struct pci_dev *dev);
void pci_msix_teardown(struct pci_dev *dev);

#endif
