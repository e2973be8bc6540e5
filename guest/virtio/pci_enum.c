/* SPDX-License-Identifier: MIT */
/* PCI configuration mechanism #1 and the virtio-pci capability walk, as an OS would do it. */
#include "vdrv.h"

#define PCI_ADDR(slot, off) (0x80000000u | ((uint32_t)(slot) << 11) | ((off) & 0xfc))

uint32_t pci_cfg_read32(unsigned slot, unsigned off)
{
	outl(0xcf8, PCI_ADDR(slot, off));
	return inl(0xcfc);
}

void pci_cfg_write32(unsigned slot, unsigned off, uint32_t v)
{
	outl(0xcf8, PCI_ADDR(slot, off));
	outl(0xcfc, v);
}

uint16_t pci_cfg_read16(unsigned slot, unsigned off)
{
	outl(0xcf8, PCI_ADDR(slot, off));
	return inw((uint16_t)(0xcfc + (off & 2)));
}

void pci_cfg_write16(unsigned slot, unsigned off, uint16_t v)
{
	outl(0xcf8, PCI_ADDR(slot, off));
	outw((uint16_t)(0xcfc + (off & 2)), v);
}

uint8_t pci_cfg_read8(unsigned slot, unsigned off)
{
	outl(0xcf8, PCI_ADDR(slot, off));
	return inb((uint16_t)(0xcfc + (off & 3)));
}

/*
 * The guest's own page tables map only the first GiB and the APIC pages: map the 2 MiB pages of a
 * BAR (identity, uncached) by walking CR3. The tables themselves lie in the first GiB (identity).
 */
void map_mmio(uint64_t addr, uint64_t size)
{
	uint64_t cr3, *pml4, *pdpt, *pd;

	if (!size || addr >= (4ULL << 30))
		return;
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	pml4 = (uint64_t *)(uintptr_t)(cr3 & ~0xfffULL);
	pdpt = (uint64_t *)(uintptr_t)(pml4[0] & ~0xfffULL);
	for (uint64_t a = addr & ~0x1fffffULL; a < addr + size; a += 0x200000) {
		unsigned gi = (unsigned)(a >> 30);

		if (!(pdpt[gi] & 1))
			continue;   /* no table for that GiB: leave it (the access will fault, loudly) */
		pd = (uint64_t *)(uintptr_t)(pdpt[gi] & ~0xfffULL);
		pd[(a >> 21) & 511] = a | 0x87 | 0x18;   /* present, writable, user, large, PCD|PWT */
		__asm__ volatile("invlpg (%0)" : : "r"(a) : "memory");
	}
}

/* Size and record the memory BARs (decoding off meanwhile, as Linux does). */
static void size_bars(struct vdev *d)
{
	uint16_t cmd = pci_cfg_read16(d->slot, 0x04);

	pci_cfg_write16(d->slot, 0x04, cmd & ~3);
	for (unsigned i = 0; i < 6; i++) {
		unsigned off = 0x10 + 4 * i;
		uint32_t orig = pci_cfg_read32(d->slot, off), mask;

		pci_cfg_write32(d->slot, off, 0xffffffff);
		mask = pci_cfg_read32(d->slot, off);
		pci_cfg_write32(d->slot, off, orig);
		if (!mask || (orig & 1)) {
			d->bar[i] = 0;
			d->bar_size[i] = 0;
			continue;
		}
		d->bar[i] = orig & ~0xfu;
		d->bar_size[i] = ~(mask & ~0xfu) + 1;
		if ((orig & 6) == 4 && i < 5) {  /* 64-bit BAR: high half in the next register */
			d->bar[i] |= (uint64_t)pci_cfg_read32(d->slot, off + 4) << 32;
			i++;
		}
	}
	for (unsigned i = 0; i < 6; i++)
		map_mmio(d->bar[i], d->bar_size[i]);
	pci_cfg_write16(d->slot, 0x04, cmd | 0x6);   /* memory space + bus master */
}

static bool walk_caps(struct vdev *d)
{
	unsigned guard = 0;
	uint8_t p;

	if (!(pci_cfg_read16(d->slot, 0x06) & 0x10))
		return false;
	for (p = pci_cfg_read8(d->slot, 0x34) & 0xfc; p && guard < 48; p = pci_cfg_read8(d->slot, p + 1) & 0xfc, guard++) {
		uint8_t id = pci_cfg_read8(d->slot, p);

		if (id == 0x11) {
			uint32_t t = pci_cfg_read32(d->slot, p + 4);

			d->msix_cap = p;
			d->msix_n = (pci_cfg_read16(d->slot, p + 2) & 0x7ff) + 1;
			uint32_t pba = pci_cfg_read32(d->slot, p + 8);

			d->msix_table = d->bar[t & 7] + (t & ~7u);
			d->msix_pba = d->bar[pba & 7] + (pba & ~7u);
		} else if (id == 0x09) {
			uint8_t type = pci_cfg_read8(d->slot, p + 3), bar = pci_cfg_read8(d->slot, p + 4);
			uint32_t off = pci_cfg_read32(d->slot, p + 8);
			uint64_t addr;

			if (bar > 5 || !d->bar[bar])
				continue;
			addr = d->bar[bar] + off;
			if (type == 1 && !d->common)
				d->common = addr;
			else if (type == 2 && !d->notify) {
				d->notify = addr;
				d->notify_mult = pci_cfg_read32(d->slot, p + 16);
			} else if (type == 3 && !d->isr)
				d->isr = addr;
			else if (type == 4 && !d->device)
				d->device = addr;
		}
	}
	return d->common && d->notify && d->isr;
}

bool vdev_find(struct vdev *d, uint16_t id, unsigned n)
{
	for (unsigned slot = 0; slot < 32; slot++) {
		uint32_t idreg = pci_cfg_read32(slot, 0);

		if ((idreg & 0xffff) != 0x1af4 || (idreg >> 16) != 0x1040u + id)
			continue;
		if (n--)
			continue;
		memset(d, 0, sizeof(*d));
		d->slot = slot;
		d->device_id = id;
		size_bars(d);
		if (!walk_caps(d)) {
			guest_printf("virtio: slot %u: virtio capabilities missing\n", slot);
			return false;
		}
		guest_printf("virtio: slot %u id %u BAR0 0x%lx size 0x%x, %u MSI-X vectors\n", slot, id,
			     d->bar[0], d->bar_size[0], d->msix_n);
		return true;
	}
	return false;
}
