/* SPDX-License-Identifier: MIT */
/*
 * Debug-exit port (KITE_DEBUG_EXIT_PORT): a write of v ends kite with exit status v (the low byte
 * of the written value). Unlike QEMU's isa-debug-exit, whose status is (v << 1) | 1, the guest's
 * value is passed through unchanged. Reads return 0xff.
 */
#include <string.h>

#include "kite/iobus.h"
#include "kite/legacy_devices.h"
#include "kite/log.h"
#include "kite/platform.h"

static void debug_exit_io(void *opaque, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	struct machine *m = opaque;

	(void)addr;
	if (!is_write) {
		memset(data, 0xff, len);
		return;
	}
	log_debug("debug-exit: guest asked to exit with status %u", data[0]);
	machine_request_exit(m, data[0]);
}

int debug_exit_init(struct machine *m)
{
	if (iobus_register(m->pio, KITE_DEBUG_EXIT_PORT, 1, debug_exit_io, m) < 0) {
		log_err("debug-exit: port 0x%x already taken", KITE_DEBUG_EXIT_PORT);
		return -1;
	}
#ifdef KITE_TEST_HOOKS
	if (test_hook_init(m) < 0)
		return -1;
#endif
	return 0;
}

void debug_exit_exit(struct machine *m)
{
	iobus_unregister(m->pio, KITE_DEBUG_EXIT_PORT);
#ifdef KITE_TEST_HOOKS
	test_hook_exit(m);
#endif
}
