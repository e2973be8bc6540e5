/* SPDX-License-Identifier: MIT */
/*
 * The devices' part of a snapshot (board_save / board_restore, contract in vmm/board.h): one
 * section per device, in board order, each device model saving and validating its own state.
 * Sections: "uart", "i8042", "acpi-pm1", "acpi-pmtimer", "legacy-ports", "pci-bus" + "pci-fn"
 * (instance = slot), then per virtio device i (board order): "virtio" i (transport + core) and, if
 * the model keeps state of its own, its section (ops->snap_name) i.
 */
#include <stdio.h>
#include <string.h>

#include "board.h"
#include "board_internal.h"
#include "kite/log.h"
#include "kite/pci.h"
#include "kite/snapshot.h"
#include "kite/virtio_dev.h"

/* Open section (name, inst), let `call` read it, finish it; return -1 from the caller on a fault. */
#define RESTORE(name, inst, version, call)                                                   \
	do {                                                                                 \
		struct snap_cursor c_;                                                       \
		struct snap_cursor *c = &c_;                                                 \
		if (snap_section_open(r, name, inst, version, c, err, errlen) < 0)           \
			return -1;                                                           \
		call;                                                                        \
		if (snap_cursor_finish(c, err, errlen) < 0)                                  \
			return -1;                                                           \
	} while (0)

#define SAVE(name, inst, version, call)                 \
	do {                                            \
		snap_section_begin(w, name, inst, version); \
		call;                                   \
		snap_section_end(w);                    \
	} while (0)

int board_save(struct vm *vm, struct snap_writer *w, char *err, size_t errlen)
{
	struct board *b = vm->board;

	if (!b) {
		snprintf(err, errlen, "snapshot: the VM has no devices yet");
		return -1;
	}
	/* nothing in flight that the state would not hold: I/O completes, backends stop their rings */
	for (unsigned i = 0; i < b->nvirtio; i++) {
		struct virtio_dev *dev = b->virtio[i].dev;

		if (dev->ops->quiesce && dev->ops->quiesce(dev, err, errlen) < 0)
			return -1;
	}
	SAVE(SERIAL8250_SNAP, 0, SERIAL8250_SNAP_VERSION, serial8250_save(b->com1, w));
	SAVE(I8042_SNAP, 0, I8042_SNAP_VERSION, i8042_save(b->kbc, w));
	SAVE(ACPI_PM_SNAP, 0, ACPI_PM_SNAP_VERSION, acpi_pm_save(b->pm, w));
	SAVE(ACPI_PMTIMER_SNAP, 0, ACPI_PMTIMER_SNAP_VERSION, acpi_pmtimer_save(b->pmtimer, w));
	SAVE(LEGACY_PORTS_SNAP, 0, LEGACY_PORTS_SNAP_VERSION, legacy_ports_save(b->ports, w));
	pci_bus_save(b->host.pci, w);
	for (unsigned i = 0; i < b->nvirtio; i++) {
		struct virtio_dev *dev = b->virtio[i].dev;

		SAVE("virtio", i, VIRTIO_SNAP_VERSION, virtio_transport_save(b->virtio[i].at, w));
		if (dev->ops->snap_name && dev->ops->save)
			SAVE(dev->ops->snap_name, i, dev->ops->snap_version, dev->ops->save(dev, w));
	}
	return 0;
}

/* Prefix err with the device's name (the section name alone does not say which disk). */
static int device_failed(const struct virtio_dev *dev, char *err, size_t errlen)
{
	char why[256];

	snprintf(why, sizeof(why), "%s", err);
	snprintf(err, errlen, "%s: %s", dev->name, why);
	return -1;
}

static int restore_virtio(struct board *b, unsigned i, struct snap_reader *r, char *err, size_t errlen)
{
	struct virtio_dev *dev = b->virtio[i].dev;

	RESTORE("virtio", i, VIRTIO_SNAP_VERSION, virtio_transport_restore(b->virtio[i].at, c));
	if (dev->ops->snap_name && dev->ops->restore)
		RESTORE(dev->ops->snap_name, i, dev->ops->snap_version, dev->ops->restore(dev, c));
	if (dev->ops->restored && dev->ops->restored(dev, err, errlen) < 0)
		return -1;
	return 0;
}

int board_restore(struct vm *vm, struct snap_reader *r, char *err, size_t errlen)
{
	struct board *b = vm->board;

	if (!b) {
		snprintf(err, errlen, "restore: the VM has no devices yet");
		return -1;
	}
	if (snap_section_count(r, "virtio") != b->nvirtio) {
		snprintf(err, errlen, "VM state: %u virtio devices saved, this configuration has %u",
			 snap_section_count(r, "virtio"), b->nvirtio);
		return -1;
	}
	RESTORE(SERIAL8250_SNAP, 0, SERIAL8250_SNAP_VERSION, serial8250_restore(b->com1, c));
	RESTORE(I8042_SNAP, 0, I8042_SNAP_VERSION, i8042_restore(b->kbc, c));
	RESTORE(ACPI_PM_SNAP, 0, ACPI_PM_SNAP_VERSION, acpi_pm_restore(b->pm, c));
	RESTORE(ACPI_PMTIMER_SNAP, 0, ACPI_PMTIMER_SNAP_VERSION, acpi_pmtimer_restore(b->pmtimer, c));
	RESTORE(LEGACY_PORTS_SNAP, 0, LEGACY_PORTS_SNAP_VERSION, legacy_ports_restore(b->ports, c));
	/* configuration space first: BARs mapped (doorbells armed), MSI-X routes in place */
	if (pci_bus_restore(b->host.pci, r, err, errlen) < 0)
		return -1;
	for (unsigned i = 0; i < b->nvirtio; i++)
		if (restore_virtio(b, i, r, err, errlen) < 0)
			return device_failed(b->virtio[i].dev, err, errlen);
	return 0;
}
