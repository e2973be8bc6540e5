/* SPDX-License-Identifier: MIT */
/*
 * MSI-X: the vector table and pending-bit array the guest sees in a BAR, and their delivery through
 * the machine (kite/machine.h). Every vector owns a GSI (machine_gsi_alloc) and an eventfd bound to
 * it (machine_irqfd); the GSI's MSI route (address/data from the table) is installed with
 * machine_msi_route lazily, before the vector's next interrupt after the guest changed its entry.
 * Masked vectors latch their pending bit and fire when unmasked.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "kite/evloop.h"
#include "kite/log.h"
#include "kite/pci.h"
#include "pci_internal.h"

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
	for (unsigned i = 0; i < PCI_MSIX_NOTIFIERS; i++)
		dev->msix_notifier[i].fd = -1;
	return 0;
}

int pci_msix_setup(struct pci_dev *dev)
{
	if (!dev->msix_nr)
		return 0;
	for (unsigned v = 0; v < dev->msix_nr; v++) {
		struct pci_msix_vector *mv = &dev->msix[v];
		int gsi = machine_gsi_alloc(dev->m);

		if (gsi < 0) {
			log_warn_rl("pci %s: no GSI for MSI-X vector %u: MSI-X disabled, INTx only", dev->name, v);
			pci_msix_teardown(dev);
			dev->msix_nr = 0;
			return 0;
		}
		mv->gsi = (unsigned)gsi;
		mv->irqfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (mv->irqfd < 0 || machine_irqfd(dev->m, mv->gsi, mv->irqfd, false) < 0) {
			log_err_rl("pci %s: irqfd for MSI-X vector %u (GSI %u) failed", dev->name, v, mv->gsi);
			if (mv->irqfd >= 0)
				close(mv->irqfd);
			mv->irqfd = -1;
			return -1;
		}
		mv->bound = true;
	}
	return 0;
}

void pci_msix_teardown(struct pci_dev *dev)
{
	if (!dev->bus)
		return;
	for (unsigned i = 0; i < PCI_MSIX_NOTIFIERS; i++)
		pci_msix_notifier_del(dev, dev->msix_notifier[i].fd);
	pthread_mutex_lock(&dev->bus->irq_lock);
	for (unsigned v = 0; v < dev->msix_nr; v++) {
		struct pci_msix_vector *mv = &dev->msix[v];

		if (mv->bound)
			machine_irqfd(dev->m, mv->gsi, mv->irqfd, true);
		mv->bound = false;
		if (mv->irqfd >= 0)
			close(mv->irqfd);
		mv->irqfd = -1;
	}
	pthread_mutex_unlock(&dev->bus->irq_lock);
}

static uint16_t msix_ctrl(const struct pci_dev *dev)
{
	return pci_cfg_r16(dev, dev->msix_cap + 2);
}

static bool vector_masked(const struct pci_dev *dev, unsigned v)
{
	return (msix_ctrl(dev) & PCI_MSIX_FLAGS_MASKALL) || (dev->msix[v].ctrl & PCI_MSIX_ENTRY_CTRL_MASKBIT);
}

/* Interrupt lock held. */
static void fire(struct pci_dev *dev, unsigned v)
{
	struct pci_msix_vector *mv = &dev->msix[v];
	uint64_t addr = (uint64_t)mv->addr_hi << 32 | mv->addr_lo, one = 1;

	if (!mv->routed && machine_msi_route(dev->m, mv->gsi, addr, mv->data, addr != 0) == 0)
		mv->routed = true;
	if (!mv->routed || !addr)
		return;             /* no address programmed (or no route): nowhere to deliver */
	if (write(mv->irqfd, &one, sizeof(one)) != sizeof(one))
		log_warn_rl("pci %s: signalling MSI-X vector %u failed", dev->name, v);
}

/* Interrupt lock held: deliver what became unmasked. */
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

/* A watched notifier fired (event loop thread): deliver as kite's own interrupt would be. */
static void on_notifier(void *opaque, int fd, uint32_t events)
{
	struct pci_msix_notifier *n = opaque;
	struct pci_dev *dev = n->dev;
	uint64_t cnt;

	(void)events;
	if (read(fd, &cnt, sizeof(cnt)) != sizeof(cnt))
		return;
	pthread_mutex_lock(&dev->bus->irq_lock);
	if (n->fd == fd) {
		if (!(msix_ctrl(dev) & PCI_MSIX_FLAGS_ENABLE) || vector_masked(dev, n->v))
			dev->msix[n->v].pending = true;
		else
			fire(dev, n->v);
	}
	pthread_mutex_unlock(&dev->bus->irq_lock);
}

/* Interrupt lock held: put each notifier where the vector's state says (KVM irqfd or the loop). */
static void sync_notifiers(struct pci_dev *dev)
{
	for (unsigned i = 0; i < PCI_MSIX_NOTIFIERS; i++) {
		struct pci_msix_notifier *n = &dev->msix_notifier[i];
		struct pci_msix_vector *mv;
		bool direct;

		if (n->fd < 0)
			continue;
		mv = &dev->msix[n->v];
		direct = (msix_ctrl(dev) & PCI_MSIX_FLAGS_ENABLE) && !vector_masked(dev, n->v) &&
			 (mv->addr_lo || mv->addr_hi);
		if (direct && !mv->routed &&
		    machine_msi_route(dev->m, mv->gsi, (uint64_t)mv->addr_hi << 32 | mv->addr_lo, mv->data, true) == 0)
			mv->routed = true;
		direct = direct && mv->routed;
		if (direct && !n->irqfd && machine_irqfd(dev->m, mv->gsi, n->fd, false) == 0)
			n->irqfd = true;    /* KVM injects at once if fd was already signalled */
		if (direct && n->irqfd) {
			if (n->watched)
				evloop_del(dev->m->loop, n->fd);
			n->watched = false;
			continue;
		}
		/* watch first, then leave KVM: a signal in between is not lost */
		if (!n->watched && evloop_add(dev->m->loop, n->fd, EPOLLIN, on_notifier, n) == 0)
			n->watched = true;
		if (n->irqfd)
			machine_irqfd(dev->m, mv->gsi, n->fd, true);
		n->irqfd = false;
	}
}

int pci_msix_notifier_add(struct pci_dev *dev, unsigned v, int fd)
{
	int ret = -1;

	if (v >= dev->msix_nr || fd < 0 || !dev->bus || !dev->m->loop)
		return -1;
	pthread_mutex_lock(&dev->bus->irq_lock);
	for (unsigned i = 0; i < PCI_MSIX_NOTIFIERS; i++) {
		struct pci_msix_notifier *n = &dev->msix_notifier[i];

		if (n->fd >= 0)
			continue;
		*n = (struct pci_msix_notifier){ .dev = dev, .fd = fd, .v = v };
		sync_notifiers(dev);
		ret = n->irqfd || n->watched ? 0 : -1;
		if (ret < 0)
			n->fd = -1;
		break;
	}
	pthread_mutex_unlock(&dev->bus->irq_lock);
	if (ret < 0)
		log_warn_rl("pci %s: no notifier for MSI-X vector %u", dev->name, v);
	return ret;
}

void pci_msix_notifier_del(struct pci_dev *dev, int fd)
{
	if (!dev->bus || fd < 0)
		return;
	pthread_mutex_lock(&dev->bus->irq_lock);
	for (unsigned i = 0; i < PCI_MSIX_NOTIFIERS; i++) {
		struct pci_msix_notifier *n = &dev->msix_notifier[i];

		if (n->fd != fd)
			continue;
		if (n->irqfd)
			machine_irqfd(dev->m, dev->msix[n->v].gsi, fd, true);
		if (n->watched)
			evloop_del(dev->m->loop, fd);
		n->fd = -1;
		n->irqfd = n->watched = false;
	}
	pthread_mutex_unlock(&dev->bus->irq_lock);
}

void pci_msix_control_written(struct pci_dev *dev)
{
	pthread_mutex_lock(&dev->bus->irq_lock);
	sync_notifiers(dev);
	flush_pending(dev);
	pthread_mutex_unlock(&dev->bus->irq_lock);
}

bool pci_msix_enabled(struct pci_dev *dev)
{
	return dev->msix_nr && (msix_ctrl(dev) & PCI_MSIX_FLAGS_ENABLE);
}

bool pci_msix_notify(struct pci_dev *dev, unsigned v)
{
	if (v >= dev->msix_nr || !pci_msix_enabled(dev))
		return false;
	pthread_mutex_lock(&dev->bus->irq_lock);
	if (vector_masked(dev, v))
		dev->msix[v].pending = true;
	else
		fire(dev, v);
	pthread_mutex_unlock(&dev->bus->irq_lock);
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
	pthread_mutex_lock(&dev->bus->irq_lock);
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
			dev->msix[v].routed = false;   /* re-route before the next interrupt */
		dev->msix[v].addr_lo = words[0];
		dev->msix[v].addr_hi = words[1];
		dev->msix[v].data = words[2];
		dev->msix[v].ctrl = words[3] & PCI_MSIX_ENTRY_CTRL_MASKBIT;
		sync_notifiers(dev);
		flush_pending(dev);
	}
	pthread_mutex_unlock(&dev->bus->irq_lock);
}

void pci_msix_pba_access(struct pci_dev *dev, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	if (is_write)
		return;             /* the PBA is read-only */
	pthread_mutex_lock(&dev->bus->irq_lock);
	/* A masked vector's notifiers may have fired while the loop has not run yet: the PBA says so now. */
	for (unsigned i = 0; i < PCI_MSIX_NOTIFIERS; i++) {
		struct pci_msix_notifier *n = &dev->msix_notifier[i];
		uint64_t cnt;

		if (n->fd >= 0 && n->watched && read(n->fd, &cnt, sizeof(cnt)) == sizeof(cnt))
			dev->msix[n->v].pending = true;
	}
	for (uint32_t i = 0; i < len; i++) {
		uint8_t b = 0;

		for (unsigned bit = 0; bit < 8; bit++) {
			uint64_t v = (off + i) * 8 + bit;

			if (v < dev->msix_nr && dev->msix[v].pending)
				b |= (uint8_t)(1u << bit);
		}
		data[i] = b;
	}
	pthread_mutex_unlock(&dev->bus->irq_lock);
}

void pci_msix_restored(struct pci_dev *dev)
{
	pthread_mutex_lock(&dev->bus->irq_lock);
	for (unsigned v = 0; v < dev->msix_nr; v++) {
		struct pci_msix_vector *mv = &dev->msix[v];
		uint64_t addr = (uint64_t)mv->addr_hi << 32 | mv->addr_lo;

		mv->routed = false;
		if (addr && machine_msi_route(dev->m, mv->gsi, addr, mv->data, true) == 0)
			mv->routed = true;
	}
	sync_notifiers(dev);
	flush_pending(dev);
	pthread_mutex_unlock(&dev->bus->irq_lock);
}
