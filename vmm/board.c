/* SPDX-License-Identifier: MIT */
/* The board: every device of a kite VM, created in one visible order (see board.h). */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "board.h"
#include "board_internal.h"
#include "console_sock.h"
#include "host_tty.h"
#include "kite/legacy_devices.h"
#include "kite/log.h"
#include "kite/pci.h"
#include "kite/virtio_dev.h"
#include "kite/virtio_misc.h"
#include "kite/virtio_transport.h"
#include "kite/virtio_vhost_user.h"
#include "kite/vm.h"

/* The guest pulsed a reset line (i8042, 0xCF9) or entered S5: kite has no reboot, the VM ends. */
static void on_guest_reset(void *opaque)
{
	struct board *b = opaque;

	machine_request_exit(&b->vm->machine, 0);
}

static void on_guest_poweroff(void *opaque)
{
	struct board *b = opaque;

	machine_request_exit(&b->vm->machine, 0);
}

static int add_uart(struct board *b, const struct vm_config *cfg)
{
	int out_fd = -1, in_fd = -1;

	switch (cfg->console) {
	case KITE_CONSOLE_STDIO:
		out_fd = STDOUT_FILENO;
		in_fd = STDIN_FILENO;
		break;
	case KITE_CONSOLE_FILE:
		b->console_fd = open(cfg->console_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (b->console_fd < 0) {
			log_err("%s: cannot open console output file: %m", cfg->console_path);
			return -1;
		}
		out_fd = b->console_fd;
		break;
	case KITE_CONSOLE_SOCKET:
		b->console_sock = console_sock_new(b->vm->machine.loop, cfg->console_path, &out_fd, &in_fd);
		if (!b->console_sock)
			return -1;
		break;
	case KITE_CONSOLE_NONE:
		break;
	}
	b->com1 = serial8250_new(&b->vm->machine, KITE_COM1_PORT, KITE_COM1_IRQ, out_fd, in_fd);
	return b->com1 ? 0 : -1;
}

/* Put a created device model (NULL: its creation failed) on its transport. */
static int add_virtio(struct board *b, struct virtio_dev *dev, enum virtio_transport kind)
{
	struct board_virtio *bv = &b->virtio[b->nvirtio];

	if (!dev)
		return -1;
	bv->dev = dev;
	b->nvirtio++;
	bv->at = virtio_transport_attach(dev, kind, &b->host);
	return bv->at ? 0 : -1;
}

static int add_virtio_devices(struct board *b, const struct virtio_options *v)
{
	struct machine *m = &b->vm->machine;

	for (unsigned i = 0; i < v->nblk; i++) {
		if (add_virtio(b, blk_create(m, &v->blk[i], i), v->blk[i].transport) < 0)
			return -1;
		b->blk[i] = b->virtio[b->nvirtio - 1].dev;
	}
	for (unsigned i = 0; i < v->nnet; i++) {
		if (add_virtio(b, net_create(m, &v->net[i], i), v->net[i].transport) < 0)
			return -1;
		b->net[i] = b->virtio[b->nvirtio - 1].dev;
	}
	for (unsigned i = 0; i < v->nvu_blk; i++)
		if (add_virtio(b, vhost_user_blk_create(m, &v->vu_blk[i], i), v->vu_blk[i].transport) < 0)
			return -1;
	for (unsigned i = 0; i < v->nvu_net; i++)
		if (add_virtio(b, vhost_user_net_create(m, &v->vu_net[i], i), v->vu_net[i].transport) < 0)
			return -1;
	if (v->rng && add_virtio(b, rng_create(m), VIRTIO_TRANSPORT_PCI) < 0)
		return -1;
	if (v->balloon.enabled) {
		if (add_virtio(b, balloon_create(m, &v->balloon), VIRTIO_TRANSPORT_PCI) < 0)
			return -1;
		b->balloon = b->virtio[b->nvirtio - 1].dev;
	}
	if (v->console && add_virtio(b, vcon_create(m, v->console), VIRTIO_TRANSPORT_PCI) < 0)
		return -1;
	return 0;
}

/* The user's command line, then one virtio_mmio.device= word per virtio-mmio device. */
static int build_cmdline(struct board *b, const char *user)
{
	size_t cap = (user ? strlen(user) : 0) + 1 + b->nvirtio * 64, len;

	b->cmdline = malloc(cap);
	if (!b->cmdline) {
		log_err("board: out of memory for the kernel command line");
		return -1;
	}
	len = (size_t)snprintf(b->cmdline, cap, "%s", user ? user : "");
	for (unsigned i = 0; i < b->nvirtio; i++) {
		uint64_t base, size;
		unsigned irq;

		if (!virtio_transport_mmio_window(b->virtio[i].at, &base, &size, &irq))
			continue;
		len += (size_t)snprintf(b->cmdline + len, cap - len, "%svirtio_mmio.device=%" PRIu64 "K@0x%" PRIx64 ":%u",
					len ? " " : "", size >> 10, base, irq);
	}
	return 0;
}

int board_create(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	struct machine *m = &vm->machine;
	struct machine_event reset, poweroff;
	struct board *b = calloc(1, sizeof(*b));

	if (!b) {
		log_err("board: out of memory");
		return -1;
	}
	b->vm = vm;
	b->console_fd = -1;
	vm->board = b;
	reset = (struct machine_event){ .fire = on_guest_reset, .opaque = b };
	poweroff = (struct machine_event){ .fire = on_guest_poweroff, .opaque = b };

	if (add_uart(b, cfg) < 0)
		return -1;
	if (!(b->kbc = i8042_new(m, reset)))
		return -1;
	if (debug_exit_init(m) < 0)
		return -1;
	b->debug_exit = true;
	if (!(b->pm = acpi_pm_new(m, poweroff)))
		return -1;
	if (!(b->pmtimer = acpi_pmtimer_new(m)))
		return -1;
	if (!(b->ports = legacy_ports_new(m)))
		return -1;
	if (!(b->host.pci = pci_bus_new(m, reset)))
		return -1;
	if (add_virtio_devices(b, &cfg->virtio) < 0)
		return -1;
	if (build_cmdline(b, cfg->cmdline) < 0)
		return -1;
	vm->cmdline = b->cmdline;
	if (cfg->console == KITE_CONSOLE_STDIO) {
		host_tty_raw_stdin();
		b->raw_tty = true;
	}
	return 0;
}

struct virtio_dev *board_balloon(struct vm *vm)
{
	return vm->board ? vm->board->balloon : NULL;
}

struct virtio_dev *board_blk(struct vm *vm, unsigned i)
{
	return vm->board && i < KITE_MAX_BLK ? vm->board->blk[i] : NULL;
}

struct virtio_dev *board_net(struct vm *vm, unsigned i)
{
	return vm->board && i < KITE_MAX_NET ? vm->board->net[i] : NULL;
}

struct i8042 *board_kbc(struct vm *vm)
{
	return vm->board ? vm->board->kbc : NULL;
}

void board_destroy(struct vm *vm)
{
	struct board *b = vm->board;

	if (!b)
		return;
	if (b->raw_tty)
		host_tty_restore();
	while (b->nvirtio) {
		struct board_virtio *bv = &b->virtio[--b->nvirtio];

		virtio_transport_detach(bv->at);
		virtio_dev_destroy(bv->dev);
	}
	pci_bus_free(b->host.pci);
	legacy_ports_free(b->ports);
	acpi_pmtimer_free(b->pmtimer);
	acpi_pm_free(b->pm);
	if (b->debug_exit)
		debug_exit_exit(&vm->machine);
	i8042_free(b->kbc);
	serial8250_free(b->com1);
	console_sock_free(b->console_sock);
	if (b->console_fd >= 0)
		close(b->console_fd);
	free(b->cmdline);
	vm->cmdline = NULL;
	free(b);
	vm->board = NULL;
}
