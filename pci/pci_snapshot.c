/* SPDX-License-Identifier: MIT */
/* The PCI bus in a snapshot: configuration space, INTx and MSI-X of every function (kite/pci.h). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kite/log.h"
#include "kite/pci.h"
#include "kite/snapshot.h"
#include "pci_internal.h"

static void fn_save(struct pci_dev *dev, struct snap_writer *w)
{
	snap_put(w, dev->cfg, PCI_CFG_SIZE);
	pthread_mutex_lock(&dev->bus->irq_lock);
	/* a masked vector's watched notifier may hold a signal the loop has not seen: it is pending */
	for (unsigned i = 0; i < PCI_MSIX_NOTIFIERS; i++) {
		const struct pci_msix_notifier *n = &dev->msix_notifier[i];
		uint64_t cnt;

		if (n->fd >= 0 && n->watched && read(n->fd, &cnt, sizeof(cnt)) == sizeof(cnt))
			dev->msix[n->v].pending = true;
	}
	snap_put_u8(w, dev->intx_level);
	snap_put_u32(w, dev->msix_nr);
	for (unsigned v = 0; v < dev->msix_nr; v++) {
		const struct pci_msix_vector *mv = &dev->msix[v];

		snap_put_u32(w, mv->addr_lo);
		snap_put_u32(w, mv->addr_hi);
		snap_put_u32(w, mv->data);
		snap_put_u32(w, mv->ctrl);
		snap_put_u8(w, mv->pending);
	}
	pthread_mutex_unlock(&dev->bus->irq_lock);
}

void pci_bus_save(struct pci_bus *bus, struct snap_writer *w)
{
	pthread_mutex_lock(&bus->lock);
	snap_section_begin(w, "pci-bus", 0, PCI_SNAP_VERSION);
	snap_put_u32(w, bus->config_addr);
	snap_section_end(w);
	for (unsigned s = 0; s < PCI_MAX_DEVICES; s++) {
		if (!bus->slot[s])
			continue;
		snap_section_begin(w, "pci-fn", s, PCI_SNAP_VERSION);
		fn_save(bus->slot[s], w);
		snap_section_end(w);
	}
	pthread_mutex_unlock(&bus->lock);
}

/* Read-only bytes must be this device's; the interrupt status bit is state, not identity. */
static bool same_function(const struct pci_dev *dev, const uint8_t *cfg)
{
	for (unsigned o = 0; o < PCI_CFG_SIZE; o++) {
		uint8_t ro = (uint8_t)~dev->wmask[o];

		if (o == PCI_STATUS)
			ro &= (uint8_t)~PCI_STATUS_INTERRUPT;
		if ((cfg[o] ^ dev->cfg[o]) & ro)
			return false;
	}
	return true;
}

/* bus->lock held. */
static void fn_restore(struct pci_dev *dev, struct snap_cursor *c)
{
	struct pci_msix_vector vec[PCI_MSIX_MAX];
	uint8_t cfg[PCI_CFG_SIZE], intx, pending[PCI_MSIX_MAX];
	uint32_t nr;

	snap_get(c, cfg, sizeof(cfg));
	intx = snap_get_u8(c);
	nr = snap_get_u32(c);
	if (nr != dev->msix_nr) {
		snap_cursor_fail(c, "MSI-X vector count differs from this device's");
		return;
	}
	for (unsigned v = 0; v < nr; v++) {
		vec[v].addr_lo = snap_get_u32(c);
		vec[v].addr_hi = snap_get_u32(c);
		vec[v].data = snap_get_u32(c);
		vec[v].ctrl = snap_get_u32(c);
		pending[v] = snap_get_u8(c);
		if ((vec[v].ctrl & ~PCI_MSIX_ENTRY_CTRL_MASKBIT) || pending[v] > 1)
			snap_cursor_fail(c, "MSI-X entry with reserved control bits or a bad pending bit");
	}
	if (intx > 1)
		snap_cursor_fail(c, "INTx level other than 0 or 1");
	if (!c->bad && !same_function(dev, cfg))
		snap_cursor_fail(c, "read-only configuration bytes differ: not the same function");
	if (c->bad || snap_remaining(c))
		return;
	memcpy(dev->cfg, cfg, sizeof(cfg));
	pci_update_bars(dev);
	for (int i = 0; i < PCI_NR_BARS; i++) {
		const struct pci_bar *b = &dev->bar[i];

		if (b->size && (pci_cfg_r16(dev, PCI_COMMAND) & PCI_COMMAND_MEMORY) && b->addr && !b->mapped) {
			snap_cursor_fail(c, "a BAR cannot be mapped where the guest put it");
			return;
		}
	}
	pthread_mutex_lock(&dev->bus->irq_lock);
	dev->intx_level = intx;
	for (unsigned v = 0; v < nr; v++) {
		dev->msix[v].addr_lo = vec[v].addr_lo;
		dev->msix[v].addr_hi = vec[v].addr_hi;
		dev->msix[v].data = vec[v].data;
		dev->msix[v].ctrl = vec[v].ctrl;
		dev->msix[v].pending = pending[v];
	}
	pthread_mutex_unlock(&dev->bus->irq_lock);
	pci_intx_refresh(dev);
	if (dev->msix_nr)
		pci_msix_restored(dev);
}

int pci_bus_restore(struct pci_bus *bus, struct snap_reader *r, char *err, size_t errlen)
{
	struct snap_cursor c;
	uint32_t addr;
	int ret = -1;

	pthread_mutex_lock(&bus->lock);
	if (snap_section_open(r, "pci-bus", 0, PCI_SNAP_VERSION, &c, err, errlen) < 0)
		goto out;
	addr = snap_get_u32(&c);
	if (addr & ~0x80fffffcu)
		snap_cursor_fail(&c, "configuration address with bits the latch does not keep");
	if (snap_cursor_finish(&c, err, errlen) < 0)
		goto out;
	bus->config_addr = addr;
	for (unsigned s = 0; s < PCI_MAX_DEVICES; s++) {
		if (!bus->slot[s])
			continue;
		if (snap_section_open(r, "pci-fn", s, PCI_SNAP_VERSION, &c, err, errlen) < 0)
			goto out;
		fn_restore(bus->slot[s], &c);
		if (snap_cursor_finish(&c, err, errlen) < 0) {
			size_t n = strlen(err);

			snprintf(err + n, errlen > n ? errlen - n : 0, " (%s)", bus->slot[s]->name);
			goto out;
		}
	}
	ret = 0;
out:
	pthread_mutex_unlock(&bus->lock);
	return ret;
}
