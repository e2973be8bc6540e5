/* SPDX-License-Identifier: MIT */
/* Creation and teardown of kite's legacy devices, with the console wiring chosen in the config. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "kite/devices.h"
#include "kite/log.h"
#include "kite/virtio_devices.h"
#include "kite/vm.h"

struct kite_devices {
	struct serial8250 *com1;
	int console_fd;      /* opened here (file:PATH), -1 otherwise */
	bool raw_tty;
};

int devices_init(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	struct kite_devices *d = calloc(1, sizeof(*d));
	int out_fd = -1, in_fd = -1;

	if (!d) {
		log_err("devices: allocation failed");
		return -1;
	}
	d->console_fd = -1;
	vm->devs = d;

	switch (cfg->console) {
	case KITE_CONSOLE_STDIO:
		out_fd = STDOUT_FILENO;
		in_fd = STDIN_FILENO;
		break;
	case KITE_CONSOLE_FILE:
		d->console_fd = open(cfg->console_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (d->console_fd < 0) {
			log_err("%s: cannot open console output file: %m", cfg->console_path);
			return -1;
		}
		out_fd = d->console_fd;
		break;
	case KITE_CONSOLE_NONE:
		break;
	}

	d->com1 = serial8250_new(vm, KITE_COM1_PORT, KITE_COM1_IRQ, out_fd, in_fd);
	if (!d->com1)
		return -1;
	if (i8042_init(vm) < 0 || debug_exit_init(vm) < 0 || acpi_pm_init(vm) < 0 ||
	    legacy_ports_init(vm) < 0)
		return -1;
	if (virtio_devices_init(vm) < 0)   /* PCI bus + virtio devices (virtio/virtio_devices.c) */
		return -1;
	if (in_fd == STDIN_FILENO) {
		console_raw_stdin();
		d->raw_tty = true;
	}
	return 0;
}

void devices_exit(struct vm *vm)
{
	struct kite_devices *d = vm->devs;

	if (!d)
		return;
	virtio_devices_exit(vm);
	if (d->raw_tty)
		console_restore();
	serial8250_free(d->com1);
	if (d->console_fd >= 0)
		close(d->console_fd);
	free(d);
	vm->devs = NULL;
}
