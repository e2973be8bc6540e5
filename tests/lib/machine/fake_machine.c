/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_machine.h"
#include "kite/evloop.h"
#include "kite/iobus.h"

static int f_set_irq_line(void *opaque, unsigned gsi, int level)
{
	struct fake_machine *f = opaque;

	if (gsi >= FAKE_MAX_GSI)
		return -1;
	f->irq_level[gsi] = level;
	f->irq_changes++;
	return 0;
}

static void f_request_exit(void *opaque, int status)
{
	struct fake_machine *f = opaque;

	if (!f->exit_requests++)
		f->exit_status = status;
	if (f->m.loop)
		evloop_stop(f->m.loop);
}

static int f_ioeventfd(void *opaque, const struct machine_ioeventfd *io, bool deassign)
{
	struct fake_machine *f = opaque;

	if (f->refuse_ioeventfd)
		return -1;
	for (unsigned i = 0; i < f->ndoorbells; i++) {
		struct machine_ioeventfd *d = &f->doorbell[i];

		if (d->addr != io->addr || d->datamatch != io->datamatch || (io->datamatch && d->value != io->value))
			continue;
		if (!deassign)
			return -1;                    /* KVM refuses a duplicate too */
		*d = f->doorbell[--f->ndoorbells];
		return 0;
	}
	if (deassign || f->ndoorbells == FAKE_MAX_DOORBELLS)
		return -1;
	f->doorbell[f->ndoorbells++] = *io;
	return 0;
}

static int f_irqfd(void *opaque, unsigned gsi, int fd, bool deassign)
{
	struct fake_machine *f = opaque;

	if (gsi >= FAKE_MAX_GSI || fd < 0 || (deassign ? f->irqfd[gsi] != fd : f->irqfd[gsi] >= 0))
		return -1;
	f->irqfd[gsi] = deassign ? -1 : fd;
	return 0;
}

static int f_gsi_alloc(void *opaque)
{
	struct fake_machine *f = opaque;

	return f->next_gsi < FAKE_MAX_GSI ? (int)f->next_gsi++ : -1;
}

static int f_msi_route(void *opaque, unsigned gsi, uint64_t addr, uint32_t data, bool valid)
{
	struct fake_machine *f = opaque;

	if (gsi < FAKE_MSI_GSI_BASE || gsi >= f->next_gsi)
		return -1;
	f->msi[gsi].addr = addr;
	f->msi[gsi].data = data;
	f->msi[gsi].valid = valid;
	f->msi_updates++;
	return 0;
}

static const struct machine_ops fake_ops = {
	.set_irq_line = f_set_irq_line,
	.request_exit = f_request_exit,
	.ioeventfd = f_ioeventfd,
	.irqfd = f_irqfd,
	.gsi_alloc = f_gsi_alloc,
	.msi_route = f_msi_route,
};

void fake_machine_init(struct fake_machine *f, uint64_t ram_size)
{
	memset(f, 0, sizeof(*f));
	f->exit_status = -1;
	f->next_gsi = FAKE_MSI_GSI_BASE;
	for (unsigned i = 0; i < FAKE_MAX_GSI; i++)
		f->irqfd[i] = -1;
	f->m.pio = iobus_new("pio");
	f->m.mmio = iobus_new("mmio");
	f->m.loop = evloop_new();
	f->m.mem = &f->mem;
	f->m.ram_size = ram_size;
	f->m.ops = &fake_ops;
	f->m.opaque = f;
	if (ram_size) {
		struct gm_region r = { .gpa = 0, .size = ram_size, .fd = -1 };

		f->ram = calloc(1, ram_size);
		r.hva = f->ram;
		if (!f->ram || gm_add(&f->mem, &r) < 0)
			abort();
	}
	if (!f->m.pio || !f->m.mmio || !f->m.loop) {
		fprintf(stderr, "fake_machine: out of memory\n");
		abort();
	}
}

void fake_machine_fini(struct fake_machine *f)
{
	gm_clear(&f->mem);
	free(f->ram);
	evloop_free(f->m.loop);
	iobus_free(f->m.pio);
	iobus_free(f->m.mmio);
	memset(f, 0, sizeof(*f));
}

const struct machine_ioeventfd *fake_machine_doorbell(const struct fake_machine *f, uint64_t addr, uint64_t value)
{
	for (unsigned i = 0; i < f->ndoorbells; i++)
		if (f->doorbell[i].addr == addr && (!f->doorbell[i].datamatch || f->doorbell[i].value == value))
			return &f->doorbell[i];
	return NULL;
}
