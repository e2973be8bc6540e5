/* SPDX-License-Identifier: MIT */
/*
 * Debug-exit port (KITE_DEBUG_EXIT_PORT): a write of v ends kite with exit status v (the low byte
 * of the written value). Unlike QEMU's isa-debug-exit, whose status is (v << 1) | 1, the guest's
 * value is passed through unchanged. Reads return 0xff.
 */
#include <string.h>

#include "kite/devices.h"
#include "kite/iobus.h"
#include "kite/log.h"
#include "kite/vm.h"

static void debug_exit_io(void *opaque, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	struct vm *vm = opaque;

	(void)addr;
	if (!is_write) {
		memset(data, 0xff, len);
		return;
	}
	log_debug("debug-exit: guest asked to exit with status %u", data[0]);
	vm_request_exit(vm, data[0]);
}

int debug_exit_init(struct vm *vm)
{
	if (iobus_register(vm->pio, KITE_DEBUG_EXIT_PORT, 1, debug_exit_io, vm) < 0) {
		log_err("debug-exit: port 0x%x already taken", KITE_DEBUG_EXIT_PORT);
		return -1;
	}
	return 0;
}
