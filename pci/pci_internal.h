/* SPDX-License-Identifier: MIT */
/* Shared between pci/pci.c and pci/msix.c only. */
#ifndef KITE_PCI_INTERNAL_H
#define KITE_PCI_INTERNAL_H

#include <pthread.h>

#include "kite/pci.h"

/* Configuration space and BAR placement. Lock order: pci_lock, then pci_msix_lock. */
extern pthread_mutex_t pci_lock;
/* MSI-X tables, PBAs and the GSI routing table (taken from BAR handlers on vCPU threads). */
extern pthread_mutex_t pci_msix_lock;

void pci_intx_refresh(struct pci_dev *dev);                 /* pci_lock held */
void pci_msix_control_written(struct pci_dev *dev);         /* pci_lock held */
int pci_msix_setup(struct pci_dev *dev);
void pci_msix_teardown(struct pci_dev *dev);
int pci_msi_routing_init(struct vm *vm);
void pci_msi_routing_exit(struct vm *vm);

#endif
