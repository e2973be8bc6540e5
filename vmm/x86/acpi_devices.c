/* SPDX-License-Identifier: MIT */
/*
 * What the DSDT has to describe, found from the VM as the guest will see it: the PCI host bridge if
 * a configuration read of 00:00.0 through ports 0xcf8/0xcfc returns a vendor ID, and the virtio-mmio
 * windows the board announced on the kernel command line ("virtio_mmio.device=<size>@<base>:<gsi>"),
 * so Linux kernels built without VIRTIO_MMIO_CMDLINE_DEVICES find them through ACPI (LNRO0005).
 */
#include <stdlib.h>
#include <string.h>

#include "kite/config.h"
#include "kite/iobus.h"
#include "kite/log.h"
#include "kite/vm.h"
#include "kite/x86/acpi.h"

#define MMIO_KEY "virtio_mmio.device="

static int pci_bridge_answers(struct vm *vm)
{
	uint32_t addr = 0x80000000u, id = 0xffffffffu, zero = 0;

	if (!vm->pio)
		return 0;
	if (!iobus_access(vm->pio, 0xcf8, (uint8_t *)&addr, 4, true))
		return 0;
	iobus_access(vm->pio, 0xcfc, (uint8_t *)&id, 4, false);
	iobus_access(vm->pio, 0xcf8, (uint8_t *)&zero, 4, true);
	return (id & 0xffff) != 0xffff && (id & 0xffff) != 0;
}

/* "<size>[K|M]@<base>:<gsi>" -> window; 0 or -1 if malformed */
static int parse_window(const char *s, struct x86_acpi_mmio *m)
{
	char *end;
	unsigned long long size = strtoull(s, &end, 0), base, gsi;

	if (end == s)
		return -1;
	if (*end == 'K' || *end == 'k')
		size <<= 10, end++;
	else if (*end == 'M' || *end == 'm')
		size <<= 20, end++;
	if (*end != '@')
		return -1;
	s = end + 1;
	base = strtoull(s, &end, 0);
	if (end == s || *end != ':')
		return -1;
	s = end + 1;
	gsi = strtoull(s, &end, 0);
	if (end == s || (*end && *end != ' ' && *end != ':'))
		return -1;
	if (!size || size > 0xffffffffULL || base > 0xffffffffULL - size + 1 || gsi > 0xff)
		return -1;
	m->base = base;
	m->size = size;
	m->gsi = (uint32_t)gsi;
	return 0;
}

void x86_acpi_find_devices(struct vm *vm, struct x86_acpi_devices *devs)
{
	const char *p = vm->cmdline;

	memset(devs, 0, sizeof(*devs));
	devs->pci = pci_bridge_answers(vm);
	while (p && (p = strstr(p, MMIO_KEY))) {
		int word_start = p == vm->cmdline || p[-1] == ' ';

		p += strlen(MMIO_KEY);
		if (!word_start)
			continue;
		if (devs->n_mmio == X86_ACPI_MAX_MMIO) {
			log_warn("vm: more than %d virtio-mmio windows on the command line, the DSDT lists %d",
				 X86_ACPI_MAX_MMIO, X86_ACPI_MAX_MMIO);
			break;
		}
		if (parse_window(p, &devs->mmio[devs->n_mmio]) < 0) {
			log_warn("vm: '%.40s': not <size>@<base>:<irq>, left out of the DSDT", p - strlen(MMIO_KEY));
			continue;
		}
		devs->n_mmio++;
	}
}
