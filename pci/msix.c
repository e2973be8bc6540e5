/* SPDX-License-Identifier: MIT */
/*
 * MSI-X: the vector table and pending-bit array the guest sees in a BAR, and their delivery through
 * KVM. Every vector owns a GSI (from KITE_PCI_MSI_GSI_BASE up) and an eventfd bound to it with
 * KVM_IRQFD; the GSI's MSI route (address/data from the table) is installed with KVM_SET_GSI_ROUTING,
 * lazily before the next interrupt after the guest changed the table. Masked vectors latch their
 * pending bit and fire when unmasked.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kite/log.h"
#include "kite/pci.h"
#include "kite/vm.h"
#include "kite/x86/irq.h"
#include "pci_internal.h"

/* Provided by vmm/x86; weak so that builds without it link (MSI-X then stays unavailable). */
size_t x86_build_irq_routing(struct kvm_irq_routing_entry *e, size_t cap) __attribute__((weak));

#define MSI_MAX_ROUTES (PCI_MAX_DEVICES * PCI_MSIX_MAX + 64)

pthread_mutex_t pci_msix_lock = PTHREAD_MUTEX_INITIALIZER;

static struct {
	struct vm *vm;
	struct pci_dev *devs[PCI_MAX_DEVICES];
	unsigned next_gsi;
	bool dirty;
	struct kvm_irq_routing *table;
} msi;

int pci_msi_routing_init(struct vm *vm)
{
	pthread_mutex_lock(&pci_msix_lock);
	memset(msi.devs, 0, sizeof(msi.devs));
	msi.vm = vm;
	msi.next_gsi = KITE_PCI_MSI_GSI_BASE;
	msi.dirty = false;
	free(msi.table);
	msi.table = calloc(1, sizeof(*msi.table) + MSI_MAX_ROUTES * sizeof(msi.table->entries[0]));
	pthread_mutex_unlock(&pci_msix_lock);
	if (!msi.table) {
		log_err("pci: out of memory for the MSI routing table");
		return -1;
	}
	return 0;
}

void pci_msi_routing_exit(struct vm *vm)
{
	(void)vm;
	pthread_mutex_lock(&pci_msix_lock);
	free(msi.table);
	msi.table = NULL;
	msi.vm = NULL;
	pthread_mutex_unlock(&pci_msix_lock);
}

/* pci_msix_lock held. Rebuild and install the whole table: legacy routes, then every MSI route. */
static int msi_commit(void)
{
	struct kvm_irq_routing *t = msi.table;
	size_t n;

	if (!t || !msi.vm || !x86_build_irq_routing)
		return -1;
	memset(t, 0, sizeof(*t) + MSI_MAX_ROUTES * sizeof(t->entries[0]));
	n = x86_build_irq_routing(t->entries, MSI_MAX_ROUTES);
	for (unsigned d = 0; d < PCI_MAX_DEVICES; d++) {
		struct pci_dev *dev = msi.devs[d];

		if (!dev)
			continue;
		for (unsigned v = 0; v < dev->msix_nr && n < MSI_MAX_ROUTES; v++) {
			struct pci_msix_vector *mv = &dev->msix[v];
			struct kvm_irq_routing_entry *e = &t->entries[n];

			mv->routed = false;
			if (!mv->addr_lo && !mv->addr_hi)
				continue;
			e->gsi = mv->gsi;
			e->type = KVM_IRQ_ROUTING_MSI;
			e->u.msi.address_lo = mv->addr_lo;
			e->u.msi.address_hi = mv->addr_hi;
			e->u.msi.data = mv->data;
			mv->routed = true;
			n++;
		}
	}
	t->nr = (uint32_t)n;
	if (ioctl(msi.vm->vm_fd, KVM_SET_GSI_ROUTING, t) < 0) {
		log_err("pci: KVM_SET_GSI_ROUTING with %zu routes failed: %s", n, strerror(errno));
		return -1;
	}
	msi.dirty = false;
	return 0;
}

int pci_add_msix(struct pci_dev *dev, unsigned nr, int bar, uint32_t table_off, uint32_t pba_off)
{
	uint8_t cap[12] = { PCI_CAP_ID_MSIX, 0 };
	uint16_t ctrl = (uint16_t)(nr - 1);
	uint32_t t = table_off | (uint32_t)bar, p = pba_off | (uint32_t)bar;

	if (nr == 0 || nr > PCI_MSIX_MAX || bar < 0 || bar >= PCI_NR_BARS || (table_off & 7) || (pba_off & 7)) {
		log_err("pci %s: bad MSI-X layout (%u vectors in BAR %d)", dev->name, nr, bar);
		return -1;
	}
	memcpy(&cap[2], &ctrl, 2);
	memcpy(&cap[4], &t, 4);
	memcpy(&cap[8], &p, 4);
	dev->msix_cap = pci_add_cap(dev, cap, sizeof(cap));
	if (!dev->msix_cap) {
		log_err("pci %s: no room for the MSI-X capability", dev->name);
		return -1;
	}
	dev->wmask[dev->msix_cap + 3] = (PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL) >> 8;
	dev->msix_nr = nr;
	dev->msix_bar = bar;
	dev->msix_table_off = table_off;
	dev->msix_pba_off = pba_off;
	for (unsigned v = 0; v < nr; v++) {
		dev->msix[v].ctrl = PCI_MSIX_ENTRY_CTRL_MASKBIT;
		dev->msix[v].irqfd = -1;
	}
	return 0;
}

int pci_msix_setup(struct pci_dev *dev)
{
	int ret = 0;

	if (!dev->msix_nr)
		return 0;
	if (!x86_build_irq_routing) {
		log_warn("pci %s: built without x86 IRQ routing: MSI-X disabled, INTx only", dev->name);
		dev->msix_nr = 0;
		return 0;
	}
	pthread_mutex_lock(&pci_msix_lock);
	for (unsigned v = 0; v < dev->msix_nr; v++) {
		struct pci_msix_vector *mv = &dev->msix[v];
		struct kvm_irqfd irqfd;

		mv->gsi = msi.next_gsi++;
		mv->irqfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		memset(&irqfd, 0, sizeof(irqfd));
		irqfd.fd = (uint32_t)mv->irqfd;
		irqfd.gsi = mv->gsi;
		if (mv->irqfd < 0 || ioctl(dev->vm->vm_fd, KVM_IRQFD, &irqfd) < 0) {
			log_err("pci %s: irqfd for MSI-X vector %u (GSI %u) failed: %s", dev->name, v, mv->gsi,
				strerror(errno));
			ret = -1;
			break;
		}
	}
	if (!ret)
		msi.devs[dev->slot] = dev;
	pthread_mutex_unlock(&pci_msix_lock);
	return ret;
}

void pci_msix_teardown(struct pci_dev *dev)
{
	pthread_mutex_lock(&pci_msix_lock);
	if (dev->slot < PCI_MAX_DEVICES && msi.devs[dev->slot] == dev)
		msi.devs[dev->slot] = NULL;
	for (unsigned v = 0; v < dev->msix_nr; v++) {
		struct pci_msix_vector *mv = &dev->msix[v];

		if (mv->irqfd >= 0) {
			struct kvm_irqfd irqfd = { .fd = (uint32_t)mv->irqfd, .gsi = mv->gsi,
						   .flags = KVM_IRQFD_FLAG_DEASSIGN };

			ioctl(dev->vm->vm_fd, KVM_IRQFD, &irqfd);
			close(mv->irqfd);
			mv->irqfd = -1;
		}
	}
	pthread_mutex_unlock(&pci_msix_lock);
}

static uint16_t msix_ctrl(const struct pci_dev *dev)
{
	return pci_cfg_r16(dev, dev->msix_cap + 2);
}

static bool vector_masked(const struct pci_dev *dev, unsigned v)
{
	return (msix_ctrl(dev) & PCI_MSIX_FLAGS_MASKALL) || (dev->msix[v].ctrl & PCI_MSIX_ENTRY_CTRL_MASKBIT);
}

/* pci_msix_lock held. */
static void fire(struct pci_dev *dev, unsigned v)
{
	struct pci_msix_vector *mv = &dev->msix[v];
	uint64_t one = 1;

	if (msi.dirty || !mv->routed)
		msi_commit();
	if (!mv->routed)
		return;             /* no address programmed: nowhere to deliver */
	if (write(mv->irqfd, &one, sizeof(one)) != sizeof(one))
		log_warn("pci %s: signalling MSI-X vector %u failed", dev->name, v);
}

/* pci_msix_lock held: deliver what became unmasked. */
static void flush_pending(struct pci_dev *dev)
{
	if (!(msix_ctrl(dev) & PCI_MSIX_FLAGS_ENABLE))
		return;
	for (unsigned v = 0; v < dev->msix_nr; v++) {
		if (dev->msix[v].pending && !vector_masked(dev, v)) {
			dev->msix[v].pending = false;
			fire(dev, v);
		}
	}
}

void pci_msix_control_written(struct pci_dev *dev)
{
	pthread_mutex_lock(&pci_msix_lock);
	flush_pending(dev);
	pthread_mutex_unlock(&pci_msix_lock);
}

bool pci_msix_enabled(struct pci_dev *dev)
{
	return dev->msix_nr && (msix_ctrl(dev) & PCI_MSIX_FLAGS_ENABLE);
}

bool pci_msix_notify(struct pci_dev *dev, unsigned v)
{
	if (v >= dev->msix_nr || !pci_msix_enabled(dev))
		return false;
	pthread_mutex_lock(&pci_msix_lock);
	if (vector_masked(dev, v))
		dev->msix[v].pending = true;
	else
		fire(dev, v);
	pthread_mutex_unlock(&pci_msix_lock);
	return true;
}

void pci_msix_table_access(struct pci_dev *dev, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	unsigned v = (unsigned)(off / PCI_MSIX_ENTRY_SIZE), field = (unsigned)(off % PCI_MSIX_ENTRY_SIZE);
	uint32_t words[4];

	if (v >= dev->msix_nr || (len != 4 && len != 8) || (off & (len - 1))) {
		if (!is_write)
			memset(data, 0xff, len);   /* only aligned dword / qword accesses are defined */
		return;
	}
	pthread_mutex_lock(&pci_msix_lock);
	words[0] = dev->msix[v].addr_lo;
	words[1] = dev->msix[v].addr_hi;
	words[2] = dev->msix[v].data;
	words[3] = dev->msix[v].ctrl;
	if (!is_write) {
		memcpy(data, (uint8_t *)words + field, len);
	} else {
		memcpy((uint8_t *)words + field, data, len);
		if (words[0] != dev->msix[v].addr_lo || words[1] != dev->msix[v].addr_hi ||
		    words[2] != dev->msix[v].data)
			msi.dirty = true;
		dev->msix[v].addr_lo = words[0];
		dev->msix[v].addr_hi = words[1];
		dev->msix[v].data = words[2];
		dev->msix[v].ctrl = words[3] & PCI_MSIX_ENTRY_CTRL_MASKBIT;
		flush_pending(dev);
	}
	pthread_mutex_unlock(&pci_msix_lock);
}

void pci_msix_pba_access(struct pci_dev *dev, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	if (is_write)
		return;             /* the PBA is read-only */
	pthread_mutex_lock(&pci_msix_lock);
	for (uint32_t i = 0; i < len; i++) {
		uint8_t b = 0;

		for (unsigned bit = 0; bit < 8; bit++) {
			uint64_t v = (off + i) * 8 + bit;

			if (v < dev->msix_nr && dev->msix[v].pending)
				b |= (uint8_t)(1u << bit);
		}
		data[i] = b;
	}
	pthread_mutex_unlock(&pci_msix_lock);
}
