/* SPDX-License-Identifier: MIT */
/*
 * Port I/O and MMIO dispatch for exits that reach kite userspace. Handlers run on the vCPU thread
 * that exited; a device shared with the event loop takes its own lock. Unclaimed reads return all-ones,
 * unclaimed writes are dropped (logged at debug level), as on a real bus.
 */
#ifndef KITE_IOBUS_H
#define KITE_IOBUS_H

#include <stdbool.h>
#include <stdint.h>

/* addr is the offset from the registered base; data is len (1, 2, 4 or 8) little-endian bytes. */
typedef void (*iobus_fn)(void *opaque, uint64_t addr, uint8_t *data, uint32_t len, bool is_write);

struct iobus;

struct iobus *iobus_new(const char *name);
void iobus_free(struct iobus *bus);
/* Returns 0, or -EEXIST if the range overlaps one already registered. Thread safe. */
int iobus_register(struct iobus *bus, uint64_t base, uint64_t len, iobus_fn fn, void *opaque);
int iobus_unregister(struct iobus *bus, uint64_t base);
/* Returns true if a handler took the access. On a miss a read fills data with 0xff. */
bool iobus_access(struct iobus *bus, uint64_t addr, uint8_t *data, uint32_t len, bool is_write);

#endif
