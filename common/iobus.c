/* SPDX-License-Identifier: MIT */
/*
 * A bus is a sorted array of non-overlapping [base, base+len) ranges. Lookups take a read lock
 * (vCPU threads run in parallel); register/unregister take the write lock. A handler must not
 * register or unregister on its own bus.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kite/iobus.h"
#include "kite/log.h"

struct iobus_range {
	uint64_t base;
	uint64_t len;
	iobus_fn fn;
	void *opaque;
};

struct iobus {
	char name[16];
	pthread_rwlock_t lock;
	struct iobus_range *r;
	unsigned nr, cap;
};

struct iobus *iobus_new(const char *name)
{
	struct iobus *bus = calloc(1, sizeof(*bus));

	if (!bus) {
		log_err("iobus %s: allocation failed", name);
		return NULL;
	}
	snprintf(bus->name, sizeof(bus->name), "%s", name);
	pthread_rwlock_init(&bus->lock, NULL);
	return bus;
}

void iobus_free(struct iobus *bus)
{
	if (!bus)
		return;
	pthread_rwlock_destroy(&bus->lock);
	free(bus->r);
	free(bus);
}

/* Last byte of a range; len >= 1 and base + len - 1 does not overflow (checked at register). */
static uint64_t range_last(const struct iobus_range *r)
{
	return r->base + (r->len - 1);
}

int iobus_register(struct iobus *bus, uint64_t base, uint64_t len, iobus_fn fn, void *opaque)
{
	unsigned pos;
	int ret = 0;

	if (len == 0 || !fn || base + (len - 1) < base)
		return -EINVAL;
	pthread_rwlock_wrlock(&bus->lock);
	for (pos = 0; pos < bus->nr; pos++) {
		struct iobus_range *r = &bus->r[pos];

		if (base <= range_last(r) && r->base <= base + (len - 1)) {
			ret = -EEXIST;
			goto out;
		}
		if (base < r->base)
			break;
	}
	if (bus->nr == bus->cap) {
		unsigned cap = bus->cap ? bus->cap * 2 : 16;
		struct iobus_range *n = realloc(bus->r, cap * sizeof(*n));

		if (!n) {
			ret = -ENOMEM;
			goto out;
		}
		bus->r = n;
		bus->cap = cap;
	}
	memmove(&bus->r[pos + 1], &bus->r[pos], (bus->nr - pos) * sizeof(bus->r[0]));
	bus->r[pos] = (struct iobus_range){ .base = base, .len = len, .fn = fn, .opaque = opaque };
	bus->nr++;
out:
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

int iobus_unregister(struct iobus *bus, uint64_t base)
{
	int ret = -ENOENT;

	pthread_rwlock_wrlock(&bus->lock);
	for (unsigned i = 0; i < bus->nr; i++) {
		if (bus->r[i].base != base)
			continue;
		memmove(&bus->r[i], &bus->r[i + 1], (bus->nr - i - 1) * sizeof(bus->r[0]));
		bus->nr--;
		ret = 0;
		break;
	}
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

bool iobus_access(struct iobus *bus, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	const struct iobus_range *hit = NULL;
	unsigned lo = 0, hi;

	if (len == 0 || len > 8 || addr + (len - 1) < addr)
		goto miss_unlocked;
	pthread_rwlock_rdlock(&bus->lock);
	hi = bus->nr;
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		const struct iobus_range *r = &bus->r[mid];

		if (addr < r->base)
			hi = mid;
		else if (addr > range_last(r))
			lo = mid + 1;
		else {
			hit = r;
			break;
		}
	}
	/* The whole access must fall inside the one range. */
	if (hit && addr + (len - 1) <= range_last(hit)) {
		hit->fn(hit->opaque, addr - hit->base, data, len, is_write);
		pthread_rwlock_unlock(&bus->lock);
		return true;
	}
	pthread_rwlock_unlock(&bus->lock);
miss_unlocked:
	if (!is_write && len <= 8)
		memset(data, 0xff, len);
	log_debug("iobus %s: unclaimed %s of %u bytes at 0x%llx", bus->name, is_write ? "write" : "read",
		  len, (unsigned long long)addr);
	return false;
}
