/* SPDX-License-Identifier: MIT */
/*
 * Driver side of a virtqueue for tests and load generators, in normal userspace: it lays out split or
 * packed rings in a guest_mem (host mappings of guest physical memory), adds buffers as descriptor
 * chains or indirect tables, decides kicks with or without EVENT_IDX, and collects used entries.
 * Link with `vring_driver_dep` (tests/lib/vring/meson.build).
 */
#ifndef KITE_VRING_DRIVER_H
#define KITE_VRING_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "kite/guest_mem.h"
#include "kite/virtio_ring.h"

struct vring_drv_config {
	uint16_t size;
	bool packed;
	bool event_idx;
	uint64_t desc, driver, device;  /* ring GPAs: split desc/avail/used, packed ring/driver ev/device ev */
	/* Optional: room for indirect tables, one per buffer id, indirect_max entries each, at
	 * indirect_gpa (size * indirect_max * 16 bytes). indirect_max 0 = no indirect. */
	uint64_t indirect_gpa;
	uint16_t indirect_max;
};

struct vring_buf {
	uint64_t addr;
	uint32_t len;
	bool write;          /* device-writable */
};

struct vring_drv_slot {
	void *token;
	uint16_t ndescs;     /* ring slots used */
	bool busy;
};

struct vring_drv {
	struct vring_drv_config cfg;
	const struct guest_mem *mem;
	void *desc, *driver, *device;
	uint8_t *indirect;             /* host pointer of the indirect area */
	uint16_t size, num_free;
	/* split */
	uint16_t free_head;
	uint16_t avail_idx;            /* shadow of avail->idx */
	uint16_t last_used;            /* next used entry to read (split: used idx; packed: slot) */
	uint16_t *next;                /* split free list links */
	/* packed */
	uint16_t next_avail;
	bool avail_wrap, used_wrap;
	uint16_t *free_ids;            /* stack of free buffer ids */
	uint16_t nfree_ids;
	/* kick bookkeeping: avail position (split idx / packed lap position) at the last kick check */
	uint16_t kicked;
	struct vring_drv_slot *slots;  /* by head index (split) or buffer id (packed) */
	uint64_t kicks, adds, used;
	/* Set after init to write packed indirect tables as DPDK's virtio PMD (22.11) writes its TX
	 * tables: every entry preset with flags WRITE and id = index; then entries 1.. get NEXT (all
	 * but the last) and the ring's current AVAIL/USED bits, except the entry whose index equals the
	 * ring slot of the head, which like entry 0 keeps the preset WRITE; the last entry's id is the
	 * buffer id. bufs[].write is not used (DPDK puts only TX buffers in indirect tables). */
	bool packed_indirect_dpdk;
};

/* Lay out and zero the rings. -1 if a ring or the indirect area is not inside guest memory. */
int vring_drv_init(struct vring_drv *d, const struct guest_mem *mem, const struct vring_drv_config *cfg);
void vring_drv_free(struct vring_drv *d);

/* Add one buffer and publish it. Segments are written in the order and with the directions given
 * (a correct driver puts readable ones first; tests use other orders on purpose). With indirect, the segments go
 * in an indirect table. Returns the head index (split) / buffer id (packed), or -1 if full/invalid. */
int vring_drv_add(struct vring_drv *d, const struct vring_buf *bufs, unsigned n, bool indirect, void *token);
/* After adds: must the device be kicked (NO_NOTIFY / avail_event / device event suppression)? */
bool vring_drv_kick_needed(struct vring_drv *d);
/* Collect one used buffer: 1 (with *len and *token), 0 if none, -1 if the device returned garbage. */
int vring_drv_get_used(struct vring_drv *d, uint32_t *len, void **token);
/* Is a used buffer waiting (what vring_drv_get_used would take next)? Consumes nothing. */
bool vring_drv_has_used(struct vring_drv *d);
/* Ask for interrupts (enable) or not; with EVENT_IDX, at the next used entry. */
void vring_drv_set_interrupts(struct vring_drv *d, bool enable);
/* Raw split helper for hostile tests: publish `head` in the avail ring without any checks. */
void vring_drv_split_publish_raw(struct vring_drv *d, uint16_t head);

#endif
