/* SPDX-License-Identifier: MIT */
/*
 * The device side of a virtqueue (virtio 1.2, split and packed rings, indirect descriptors,
 * EVENT_IDX), shared by kite's own devices and kite-dpu's vhost-user backends.
 *
 * Nothing the driver wrote is trusted: ring placement, every descriptor address and length, chain
 * length, loops, indirect tables, direction order and the avail index are checked. Any violation
 * marks the queue broken (vq->broken, vq->broken_reason); a broken queue pops nothing and pushes
 * nothing, and the device then reports DEVICE_NEEDS_RESET. No call ever reads or writes outside
 * guest memory or loops forever.
 *
 * Concurrency: one thread owns a virtqueue at a time (the device's worker or poller).
 *
 * Typical device loop (after a kick, or in a poller):
 *	while ((r = vq_pop(vq, elem)) > 0) {
 *		... serve elem->iov ...
 *		vq_fill(vq, elem, bytes_written);       (or keep it and fill it later, out of order)
 *	}
 *	vq_flush(vq);
 *	if (vq_should_notify(vq)) signal the driver (irqfd / call fd);
 *	if (r < 0) report DEVICE_NEEDS_RESET (reason in vq->broken_reason);
 *	else if (vq_enable_kicks(vq, true)) run the loop again (buffers came in meanwhile);
 *	else sleep until the next kick.
 * Filling more bytes than the element's writable length is a device bug and breaks the queue.
 */
#ifndef KITE_VIRTQUEUE_H
#define KITE_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "kite/guest_mem.h"

/* Feature bits the ring code understands (virtio 1.2 section 6). */
#define VIRTIO_F_INDIRECT_DESC  28
#define VIRTIO_F_EVENT_IDX      29
#define VIRTIO_F_VERSION_1      32
#define VIRTIO_F_ACCESS_PLATFORM 33
#define VIRTIO_F_RING_PACKED    34
#define VIRTIO_F_IN_ORDER       35

#define VQ_MAX_SIZE 32768
/* Most segments one element may carry; a longer chain breaks the queue. Devices advertise seg_max
 * below this. */
#define VQ_MAX_SEGS 256

struct vq_elem {
	uint16_t id;          /* split: head descriptor index; packed: buffer id */
	uint16_t ndescs;      /* ring slots the chain used (packed needs it to advance) */
	uint16_t tag;         /* the queue owner's: never read or written by vq_* (kite-dpu: the chain's
			       * entry in the vhost-user inflight region of a packed ring) */
	unsigned out_num;     /* device-readable segments: iov[0 .. out_num) */
	unsigned in_num;      /* device-writable segments: iov[out_num .. out_num + in_num) */
	uint64_t out_len;     /* total bytes readable */
	uint64_t in_len;      /* total bytes writable */
	struct iovec iov[VQ_MAX_SEGS];
};

struct vq_config {
	uint16_t size;        /* power of two for split; any 1..32768 for packed */
	uint64_t desc;        /* split: descriptor table; packed: descriptor ring */
	uint64_t driver;      /* split: avail ring; packed: driver event suppression */
	uint64_t device;      /* split: used ring; packed: device event suppression */
	uint64_t features;    /* negotiated features (bit numbers above) */
	bool addr_is_uva;     /* addresses are frontend virtual addresses (vhost-user), not GPAs */
};

struct virtqueue {
	const struct guest_mem *mem;
	uint16_t size;
	bool packed, event_idx, indirect, ready;
	/* host pointers of the rings (validated at setup) */
	void *desc, *driver, *device;
	/* split state */
	uint16_t last_avail_idx;   /* next avail entry to consume */
	uint16_t used_idx;         /* next used entry to fill (shadow, published by vq_flush) */
	uint16_t signalled_used;   /* used_idx when the driver was last notified */
	bool signalled_used_valid;
	/* packed state */
	bool avail_wrap, used_wrap;
	uint16_t used_pending;     /* elements filled but not yet published */
	/* added by the virtqueue owner (additive): */
	bool pos_valid;            /* ring position set (vq_set_base or a previous vq_setup); else setup starts at 0 */
	bool kicks_off;            /* vq_enable_kicks(false) in effect */
	uint16_t batch_slot;       /* packed: slot of the first filled, unpublished element */
	uint16_t batch_flags;      /* packed: its flags, written last by vq_flush */
	bool device_reads_only;    /* vq_set_device_reads_only() */
	uint16_t avail_shadow;     /* split: the avail index as last read (entries up to it need no re-read) */
	/* errors */
	bool broken;
	char broken_reason[128];
	/* statistics */
	uint64_t popped, pushed;
};

/*
 * Validate and map the rings. Returns 0, or -1 with vq->broken_reason set (queue stays not ready).
 * vq must be zeroed (calloc / vq_reset) before the first setup. The ring position starts at 0
 * (packed: wrap counters 1) unless vq_set_base() was called since the last vq_reset(), or the queue
 * was already set up (re-setup keeps the position).
 * Ring addresses are GPAs, or frontend virtual addresses with cfg->addr_is_uva; descriptor buffer
 * addresses are always GPAs. A buffer crossing from one guest_mem region into an adjacent one is
 * split into one iovec per region; any byte outside guest memory breaks the queue. Indirect tables
 * must lie inside one region.
 */
int vq_setup(struct virtqueue *vq, const struct guest_mem *mem, const struct vq_config *cfg);
/* Forget everything (device reset). */
void vq_reset(struct virtqueue *vq);

/* Take the next available chain. 1 = got one, 0 = ring empty, -1 = queue broken (see reason). */
int vq_pop(struct virtqueue *vq, struct vq_elem *elem);
/*
 * Take up to max (at most VQ_BURST_MAX) available chains into elems[0..): the number taken, 0 = ring
 * empty, -1 = queue broken. Same checks and results as that many vq_pop() calls; on a split ring the
 * burst's avail entries and head descriptors are read in one pass (each still once), and with
 * EVENT_IDX avail_event is written once, after the last chain. A chain that breaks the queue ends
 * the burst: the chains before it are returned (vq->broken is then set), -1 only when it was the
 * first.
 */
#define VQ_BURST_MAX 64
int vq_pop_burst(struct virtqueue *vq, struct vq_elem *elems, unsigned max);
/* Split rings only: read the chain whose head descriptor is `head` again, without touching the avail
 * ring (a restarted backend re-serves the requests its inflight region names). Same checks and
 * results as vq_pop; a packed ring breaks the queue. */
int vq_pop_head(struct virtqueue *vq, uint16_t head, struct vq_elem *elem);
/* Packed rings only: serve again a chain that was popped before, from a copy of its n ring
 * descriptors as the driver wrote them (little-endian, ring layout). A restarted backend re-serves
 * what its inflight region saved: by then the ring slots may hold used elements. The ring and its
 * position are not touched. Same checks as vq_pop, and the copy must be exactly one chain of n
 * descriptors (NEXT on all but the last); anything else breaks the queue. 1 = got it, -1 = broken. */
struct vring_packed_desc;
int vq_pop_chain(struct virtqueue *vq, const struct vring_packed_desc *descs, unsigned n, struct vq_elem *elem);
/* Put a popped element back (it will be popped again next). Several may go back, newest first,
 * as long as none of them was filled. */
void vq_unpop(struct virtqueue *vq, const struct vq_elem *elem);
/* Return a chain to the driver with `written` bytes written into its writable part. vq_push() =
 * vq_fill() + vq_flush(). Batches: vq_fill() several times, then one vq_flush(). */
void vq_fill(struct virtqueue *vq, const struct vq_elem *elem, uint32_t written);
void vq_flush(struct virtqueue *vq);
/* vq_fill() of elems[0..n) with written[i] bytes each (written NULL: 0 bytes each), in one pass. A
 * length beyond an element's writable bytes breaks the queue before any of them is filled. */
void vq_fill_burst(struct virtqueue *vq, const struct vq_elem *elems, const uint32_t *written, unsigned n);
void vq_push(struct virtqueue *vq, const struct vq_elem *elem, uint32_t written);

/* After pushing: must the driver be interrupted now (EVENT_IDX / NO_INTERRUPT honoured)? */
bool vq_should_notify(struct virtqueue *vq);
/* Ask the driver to kick (enable=true) or not to. With enable=true, returns true if buffers became
 * available meanwhile (the caller must then poll again instead of sleeping). */
bool vq_enable_kicks(struct virtqueue *vq, bool enable);
/* Any chain available right now? */
bool vq_has_avail(struct virtqueue *vq);

/* Ring position, for vhost-user GET/SET_VRING_BASE and reconnection. For packed rings bit 15 holds
 * the wrap counter, as in the vhost-user protocol. */
uint32_t vq_get_base(const struct virtqueue *vq);
void vq_set_base(struct virtqueue *vq, uint32_t base);

/*
 * The device only ever reads this queue's buffers (a net transmit queue, for example). Then the WRITE
 * flags of packed indirect table entries are ignored (taken as device-readable): DPDK's virtio PMD
 * leaves stale WRITE flags in its packed TX tables (see vq_packed.c). Everything else is checked as
 * before; direct descriptors keep their WRITE meaning. Call after vq_setup(); re-setup keeps it,
 * vq_reset() clears it.
 */
void vq_set_device_reads_only(struct virtqueue *vq, bool on);

/* Mark the queue broken with a formatted reason (also used by devices for malformed requests). */
void vq_set_broken(struct virtqueue *vq, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Copy helpers over an element's iovecs: bytes copied (stops at the end of the segments). */
size_t vq_iov_to_buf(const struct iovec *iov, unsigned n, size_t skip, void *buf, size_t len);
size_t vq_buf_to_iov(const struct iovec *iov, unsigned n, size_t skip, const void *buf, size_t len);

#endif
