/* SPDX-License-Identifier: MIT */
/*
 * PCI bus 0 behind configuration mechanism #1: the host bridge, configuration space reads and
 * writes with per-bit write masks, BAR sizing (the guest writes all ones and reads the size mask
 * back) and BAR placement on the machine's MMIO bus while memory decoding is on. The 0xCF9 reset
 * register sits among these ports; a reset fires the bus's reset event.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kite/iobus.h"
#include "kite/log.h"
#include "kite/pci.h"
#include "pci_internal.h"

#define PCI_CONFIG_ADDR_ENABLE 0x80000000u
#define PCI_RESET_BIT          0x04

void pci_dev_init(struct pci_dev *dev, struct machine *m, const char *name, uint16_t vendor, uint16_t device,
		  uint32_t class_code, uint8_t revision, uint16_t sub_vendor, uint16_t sub_id)
{
	memset(dev, 0, sizeof(*dev));
	dev->m = m;
	snprintf(dev->name, sizeof(dev->name), "%s", name);
	pci_cfg_w16(dev, PCI_VENDOR_ID, vendor);
	pci_cfg_w16(dev, PCI_DEVICE_ID, device);
	dev->cfg[PCI_REVISION_ID] = revision;
	dev->cfg[PCI_CLASS_PROG] = (uint8_t)class_code;
	pci_cfg_w16(dev, PCI_CLASS_DEVICE, (uint16_t)(class_code >> 8));
	pci_cfg_w16(dev, PCI_SUBSYSTEM_VENDOR_ID, sub_vendor);
	pci_cfg_w16(dev, PCI_SUBSYSTEM_ID, sub_id);
	/* command: I/O, memory, bus master, INTx disable are writable */
	dev->wmask[PCI_COMMAND] = PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	dev->wmask[PCI_COMMAND + 1] = PCI_COMMAND_INTX_DISABLE >> 8;
	dev->wmask[PCI_INTERRUPT_LINE] = 0xff;
	dev->next_cap = 0x40;
	dev->last_cap_next = &dev->cfg[PCI_CAPABILITY_LIST];
	dev->msix_bar = -1;
}

int pci_set_bar(struct pci_dev *dev, int bar, uint32_t size, iobus_fn fn, void *opaque)
{
	if (bar < 0 || bar >= PCI_NR_BARS || size < 4096 || (size & (size - 1))) {
		log_err("pci %s: BAR %d of %u bytes is not a power of two >= 4096", dev->name, bar, size);
		return -1;
	}
	dev->bar[bar].size = size;
	dev->bar[bar].fn = fn;
	dev->bar[bar].opaque = opaque;
	/* 32-bit non-prefetchable memory BAR: address bits above the size are writable */
	pci_cfg_w32(dev, PCI_BASE_ADDRESS_0 + 4 * bar, 0);
	for (unsigned i = 0; i < 4; i++)
		dev->wmask[PCI_BASE_ADDRESS_0 + 4 * bar + i] = (uint8_t)(~(size - 1) >> (8 * i));
	return 0;
}

uint8_t pci_add_cap(struct pci_dev *dev, const void *cap, uint8_t len)
{
	uint8_t off = dev->next_cap;

	if (len < 2 || (unsigned)off + len > PCI_CFG_SIZE)
		return 0;
	memcpy(&dev->cfg[off], cap, len);
	dev->cfg[off + 1] = 0;
	*dev->last_cap_next = off;
	dev->last_cap_next = &dev->cfg[off + 1];
	dev->next_cap = (uint8_t)((off + len + 3) & ~3u);
	if (off + len + 3 >= PCI_CFG_SIZE)
		dev->next_cap = 0xff;
	pci_cfg_w16(dev, PCI_STATUS, pci_cfg_r16(dev, PCI_STATUS) | PCI_STATUS_CAP_LIST);
	return off;
}

static bool bar_should_map(const struct pci_dev *dev, int i)
{
	const struct pci_bar *b = &dev->bar[i];

	return b->size && (pci_cfg_r16(dev, PCI_COMMAND) & PCI_COMMAND_MEMORY) && b->addr &&
	       b->addr >= KITE_MMIO_HOLE_START && b->addr + b->size <= KITE_IOAPIC_ADDR;
}

/* Bring the bus registration of each BAR in line with the BAR registers and the command register. */
void pci_update_bars(struct pci_dev *dev)
{
	for (int i = 0; i < PCI_NR_BARS; i++) {
		struct pci_bar *b = &dev->bar[i];
		uint64_t addr = pci_cfg_r32(dev, PCI_BASE_ADDRESS_0 + 4 * i) & ~0xfULL;
		bool want;

		if (!b->size)
			continue;
		if (b->mapped && (addr != b->addr || !(pci_cfg_r16(dev, PCI_COMMAND) & PCI_COMMAND_MEMORY))) {
			iobus_unregister(dev->m->mmio, b->addr);
			b->mapped = false;
			if (dev->bar_moved)
				dev->bar_moved(dev, i, b->addr, false);
		}
		b->addr = addr;
		want = bar_should_map(dev, i);
		if (want && !b->mapped) {
			if (iobus_register(dev->m->mmio, b->addr, b->size, b->fn, b->opaque) < 0) {
				log_warn_rl("pci %s: BAR %d at 0x%llx overlaps another device: left unmapped",
					 dev->name, i, (unsigned long long)b->addr);
				continue;
			}
			b->mapped = true;
			if (dev->bar_moved)
				dev->bar_moved(dev, i, b->addr, true);
		}
	}
}

static void cfg_write(struct pci_dev *dev, unsigned off, const uint8_t *data, unsigned len)
{
	uint16_t old_cmd = pci_cfg_r16(dev, PCI_COMMAND);
	bool bars = false, msix = false;

	for (unsigned i = 0; i < len && off + i < PCI_CFG_SIZE; i++) {
		unsigned o = off + i;

		dev->cfg[o] = (uint8_t)((dev->cfg[o] & ~dev->wmask[o]) | (data[i] & dev->wmask[o]));
		if (o >= PCI_BASE_ADDRESS_0 && o < PCI_BASE_ADDRESS_0 + 4 * PCI_NR_BARS)
			bars = true;
		if (dev->msix_cap && (o == dev->msix_cap + 2u || o == dev->msix_cap + 3u))
			msix = true;
	}
	if (bars || ((old_cmd ^ pci_cfg_r16(dev, PCI_COMMAND)) & PCI_COMMAND_MEMORY))
		pci_update_bars(dev);
	if ((old_cmd ^ pci_cfg_r16(dev, PCI_COMMAND)) & PCI_COMMAND_INTX_DISABLE)
		pci_intx_refresh(dev);
	if (msix)
		pci_msix_control_written(dev);
}

static struct pci_dev *addressed_dev(struct pci_bus *bus, uint32_t addr)
{
	unsigned busno = (addr >> 16) & 0xff, slot = (addr >> 11) & 0x1f, fn = (addr >> 8) & 7;

	if (!(addr & PCI_CONFIG_ADDR_ENABLE) || busno != 0 || fn != 0)
		return NULL;
	return bus->slot[slot];
}

static void pci_config_io(void *opaque, uint64_t port, uint8_t *data, uint32_t len, bool is_write)
{
	struct pci_bus *bus = opaque;
	bool reset = false;

	pthread_mutex_lock(&bus->lock);
	if (port == 0 && len == 4) {
		if (is_write) {
			memcpy(&bus->config_addr, data, 4);
			bus->config_addr &= 0x80fffffcu;
		} else {
			memcpy(data, &bus->config_addr, 4);
		}
	} else if (port == 1 && len == 1) {
		/* 0xCF9: reset control */
		if (is_write)
			reset = (data[0] & PCI_RESET_BIT) != 0;
		else
			data[0] = 0;
	} else if (port >= 4 && port + len <= 8) {
		struct pci_dev *dev = addressed_dev(bus, bus->config_addr);
		unsigned off = (bus->config_addr & 0xfc) + (unsigned)(port - 4);

		if (!dev) {
			if (!is_write)
				memset(data, 0xff, len);
		} else if (dev->cfg_window && off >= dev->cfg_window_off && off + len <= dev->cfg_window_off + 4u) {
			/* a window into the device (virtio's PCI_CFG access capability) */
			dev->cfg_window(dev, off - dev->cfg_window_off, data, len, is_write);
		} else if (is_write) {
			cfg_write(dev, off, data, len);
		} else {
			memcpy(data, &dev->cfg[off], len);
		}
	} else if (!is_write) {
		memset(data, 0xff, len);
	}
	pthread_mutex_unlock(&bus->lock);
	if (reset) {
		log_info("pci: guest reset through port 0xcf9");
		machine_event_fire(&bus->reset);
	}
}

struct pci_bus *pci_bus_new(struct machine *m, struct machine_event reset)
{
	struct pci_bus *bus = calloc(1, sizeof(*bus));

	if (!bus) {
		log_err("pci: out of memory for the bus");
		return NULL;
	}
	bus->m = m;
	bus->reset = reset;
	pthread_mutex_init(&bus->lock, NULL);
	pthread_mutex_init(&bus->irq_lock, NULL);
	bus->next_mmio = KITE_PCI_MMIO_BASE;
	pci_dev_init(&bus->bridge, m, "host-bridge", 0x8086, 0x29c0, 0x060000, 0, 0, 0);
	bus->bridge.wmask[PCI_INTERRUPT_LINE] = 0;
	bus->bridge.bus = bus;
	bus->slot[0] = &bus->bridge;
	if (iobus_register(m->pio, 0xCF8, 8, pci_config_io, bus) < 0) {
		log_err("pci: ports 0xcf8-0xcff are taken by another device");
		pci_bus_free(bus);
		return NULL;
	}
	bus->ports_on = true;
	return bus;
}

void pci_bus_free(struct pci_bus *bus)
{
	if (!bus)
		return;
	if (bus->ports_on)
		iobus_unregister(bus->m->pio, 0xCF8);
	for (unsigned i = 1; i < PCI_MAX_DEVICES; i++)
		if (bus->slot[i])
			log_warn("pci %s: still on the bus when it goes away", bus->slot[i]->name);
	pthread_mutex_destroy(&bus->irq_lock);
	pthread_mutex_destroy(&bus->lock);
	free(bus);
}

int pci_register(struct pci_bus *bus, struct pci_dev *dev)
{
	unsigned slot;

	pthread_mutex_lock(&bus->lock);
	for (slot = 1; slot < PCI_MAX_DEVICES && bus->slot[slot]; slot++)
		;
	if (slot == PCI_MAX_DEVICES) {
		pthread_mutex_unlock(&bus->lock);
		log_err("pci %s: all %d slots of bus 0 are taken", dev->name, PCI_MAX_DEVICES - 1);
		return -1;
	}
	for (int i = 0; i < PCI_NR_BARS; i++) {
		uint64_t size = dev->bar[i].size, addr;

		if (!size)
			continue;
		addr = (bus->next_mmio + size - 1) & ~(size - 1);
		if (addr + size > KITE_PCI_MMIO_END) {
			pthread_mutex_unlock(&bus->lock);
			log_err("pci %s: no room for BAR %d (%llu bytes) below the IOAPIC", dev->name, i,
				(unsigned long long)size);
			return -1;
		}
		bus->next_mmio = addr + size;
		pci_cfg_w32(dev, PCI_BASE_ADDRESS_0 + 4 * i, (uint32_t)addr);
	}
	dev->bus = bus;
	dev->slot = slot;
	dev->intx_gsi = KITE_PCI_INTX_GSI_BASE + (slot - 1) % 8;
	dev->cfg[PCI_INTERRUPT_LINE] = (uint8_t)dev->intx_gsi;
	dev->cfg[PCI_INTERRUPT_PIN] = 1;   /* INTA# */
	bus->slot[slot] = dev;
	pthread_mutex_unlock(&bus->lock);
	if (pci_msix_setup(dev) < 0) {
		pci_unregister(dev);
		return -1;
	}
	log_debug("pci %s: slot %u, BAR0 0x%x", dev->name, slot, pci_cfg_r32(dev, PCI_BASE_ADDRESS_0));
	return 0;
}

void pci_unregister(struct pci_dev *dev)
{
	struct pci_bus *bus = dev->bus;

	if (!bus)
		return;
	pthread_mutex_lock(&bus->lock);
	if (dev->slot && bus->slot[dev->slot] == dev) {
		pci_cfg_w16(dev, PCI_COMMAND, 0);
		pci_update_bars(dev);
		bus->slot[dev->slot] = NULL;
	}
	pthread_mutex_unlock(&bus->lock);
	pci_msix_teardown(dev);
	dev->bus = NULL;
}

/* The INTx state is guarded by the bus's interrupt lock, never by its bus lock: BAR handlers raise
 * and lower INTx while holding the MMIO bus, which a bus lock holder may wait for. */
static void intx_apply(struct pci_dev *dev)
{
	bool on = dev->intx_level && !(pci_cfg_r16(dev, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE);
	uint16_t st = pci_cfg_r16(dev, PCI_STATUS);

	pci_cfg_w16(dev, PCI_STATUS, on ? (st | PCI_STATUS_INTERRUPT) : (st & ~PCI_STATUS_INTERRUPT));
	if (dev->intx_gsi)
		machine_set_irq_line(dev->m, dev->intx_gsi, on);
}

void pci_intx_set(struct pci_dev *dev, bool level)
{
	if (!dev->bus)
		return;
	pthread_mutex_lock(&dev->bus->irq_lock);
	dev->intx_level = level;
	intx_apply(dev);
	pthread_mutex_unlock(&dev->bus->irq_lock);
}

void pci_intx_refresh(struct pci_dev *dev)
{
	pthread_mutex_lock(&dev->bus->irq_lock);
	intx_apply(dev);
	pthread_mutex_unlock(&dev->bus->irq_lock);
}
