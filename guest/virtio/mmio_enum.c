/* SPDX-License-Identifier: MIT */
/* virtio-mmio discovery from virtio_mmio.device=<size>@<base>:<irq> words, as Linux parses them. */
#include "vdrv.h"

static uint64_t parse_num(const char **p)
{
	const char *s = *p;
	uint64_t v = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		s += 2;
		for (;; s++) {
			unsigned dgt;

			if (*s >= '0' && *s <= '9')
				dgt = (unsigned)(*s - '0');
			else if (*s >= 'a' && *s <= 'f')
				dgt = (unsigned)(*s - 'a' + 10);
			else if (*s >= 'A' && *s <= 'F')
				dgt = (unsigned)(*s - 'A' + 10);
			else
				break;
			v = v * 16 + dgt;
		}
	} else {
		while (*s >= '0' && *s <= '9')
			v = v * 10 + (uint64_t)(*s++ - '0');
	}
	if (*s == 'K' || *s == 'k') {
		v <<= 10;
		s++;
	} else if (*s == 'M' || *s == 'm') {
		v <<= 20;
		s++;
	}
	*p = s;
	return v;
}

bool vdev_find_mmio(struct vdev *d, uint16_t id, unsigned n)
{
	static const char key[] = "virtio_mmio.device=";
	const char *p = cmdline_text();

	for (; *p; p++) {
		uint64_t size, base;
		unsigned irq;

		if ((p != cmdline_text() && p[-1] != ' ') || memcmp(p, key, sizeof(key) - 1))
			continue;
		p += sizeof(key) - 1;
		size = parse_num(&p);
		if (*p++ != '@')
			return false;
		base = parse_num(&p);
		irq = 0;
		if (*p == ':') {
			p++;
			irq = (unsigned)parse_num(&p);
		}
		if (!size || base < 0xc0000000ULL || base >= 0x100000000ULL)
			continue;
		map_mmio(base, size);
		if (mmio_read32(base) != 0x74726976 || mmio_read32(base + 4) != 2 || mmio_read32(base + 8) != id)
			continue;
		if (n--)
			continue;
		memset(d, 0, sizeof(*d));
		d->mmio = true;
		d->base = base;
		d->device_id = id;
		d->device = base + 0x100;
		d->mmio_irq = irq;
		guest_printf("virtio: mmio device id %u at 0x%lx (%lu bytes) IRQ %u\n", id, base, size, irq);
		return true;
	}
	return false;
}
