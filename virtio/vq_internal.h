/* SPDX-License-Identifier: MIT */
/* Private helpers shared by the virtqueue files (virtqueue.c, vq_chain.c, vq_split.c, vq_packed.c). */
#ifndef KITE_VQ_INTERNAL_H
#define KITE_VQ_INTERNAL_H

#include <endian.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>

#include "kite/virtio_ring.h"
#include "kite/virtqueue.h"

/* Guest-shared little-endian fields: each access is one load or store, never torn or repeated. */
static inline uint16_t vq_ld16(const uint16_t *p)
{
	return le16toh(__atomic_load_n(p, __ATOMIC_RELAXED));
}
static inline uint16_t vq_ld16_acquire(const uint16_t *p)
{
	return le16toh(__atomic_load_n(p, __ATOMIC_ACQUIRE));
}
static inline void vq_st16(uint16_t *p, uint16_t v)
{
	__atomic_store_n(p, htole16(v), __ATOMIC_RELAXED);
}
static inline void vq_st16_release(uint16_t *p, uint16_t v)
{
	__atomic_store_n(p, htole16(v), __ATOMIC_RELEASE);
}
static inline void vq_st32(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, htole32(v), __ATOMIC_RELAXED);
}
static inline void vq_mb(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* One descriptor as read (once) from the guest, in host byte order. */
struct vq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t id_or_next;   /* split: next; packed: buffer id */
	uint16_t flags;
};

/* Chain being collected into an element. */
struct vq_chain {
	struct virtqueue *vq;
	struct vq_elem *elem;
	unsigned nseg;
};

static inline void vq_chain_start(struct vq_chain *c, struct virtqueue *vq, struct vq_elem *elem)
{
	c->vq = vq;
	c->elem = elem;
	c->nseg = 0;
	elem->out_num = 0;
	elem->in_num = 0;
	elem->out_len = 0;
	elem->in_len = 0;
	elem->ndescs = 0;
	elem->id = 0;
}

/* Region holding the guest physical byte `gpa`, or NULL. */
static inline const struct gm_region *vq_region_of(const struct guest_mem *gm, uint64_t gpa)
{
	for (unsigned i = 0; i < gm->nr; i++) {
		const struct gm_region *r = &gm->r[i];
		if (gpa >= r->gpa && gpa - r->gpa < r->size)
			return r;
	}
	return NULL;
}

/*
 * Append one (non-indirect) descriptor, with every check that does not depend on the ring layout:
 * device-readable before device-writable, addr+len not wrapping, every byte inside guest memory (a
 * buffer spanning adjacent regions becomes one iovec per region), at most VQ_MAX_SEGS segments.
 * 0 or -1 (queue broken). Inline: it runs for every descriptor of the data paths, and a call per
 * descriptor was a fifth of the ring's cost (perf, bench/dpu/vq_burst_micro).
 */
static inline __attribute__((always_inline)) int vq_chain_add(struct vq_chain *c, const struct vq_desc *d)
{
	struct virtqueue *vq = c->vq;
	struct vq_elem *elem = c->elem;
	bool write = d->flags & VRING_DESC_F_WRITE;
	uint64_t addr = d->addr, left = d->len;
	unsigned nseg = c->nseg;

	if (!write && elem->in_num) {
		vq_set_broken(vq, "device-readable descriptor after a device-writable one (addr 0x%" PRIx64 ")",
			      d->addr);
		return -1;
	}
	if (left && addr + left - 1 < addr) {
		vq_set_broken(vq, "descriptor addr 0x%" PRIx64 " + len %u overflows", d->addr, d->len);
		return -1;
	}
	while (left) {
		const struct gm_region *r = vq_region_of(vq->mem, addr);
		if (!r) {
			vq_set_broken(vq, "descriptor [0x%" PRIx64 ", +%u) outside guest memory at 0x%" PRIx64,
				      d->addr, d->len, addr);
			return -1;
		}
		if (nseg >= VQ_MAX_SEGS) {
			vq_set_broken(vq, "chain has more than %d segments", VQ_MAX_SEGS);
			return -1;
		}
		uint64_t off = addr - r->gpa;
		uint64_t chunk = r->size - off < left ? r->size - off : left;
		elem->iov[nseg].iov_base = (uint8_t *)r->hva + off;
		elem->iov[nseg].iov_len = chunk;
		nseg++;
		if (write)
			elem->in_num++;
		else
			elem->out_num++;
		addr += chunk;
		left -= chunk;
	}
	c->nseg = nseg;
	if (write)
		elem->in_len += d->len;
	else
		elem->out_len += d->len;
	return 0;
}
/* Map an indirect table after checking the feature, flags and length: host pointer and entry count,
 * or NULL (queue broken). */
const void *vq_chain_indirect(struct vq_chain *c, const struct vq_desc *d, unsigned *count);

int vq_split_pop(struct virtqueue *vq, struct vq_elem *elem);
int vq_split_pop_head(struct virtqueue *vq, uint16_t head, struct vq_elem *elem);
/* vq_pop_burst's split ring: 1..max chains, 0 (empty) or -1 (the first chain broke the queue). */
int vq_split_pop_burst(struct virtqueue *vq, struct vq_elem *elems, unsigned max);
void vq_split_fill(struct virtqueue *vq, const struct vq_elem *elem, uint32_t written);
/* vq_fill_burst's split ring, lengths already checked. */
void vq_split_fill_burst(struct virtqueue *vq, const struct vq_elem *elems, const uint32_t *written, unsigned n);
void vq_split_flush(struct virtqueue *vq);
bool vq_split_should_notify(struct virtqueue *vq);
bool vq_split_enable_kicks(struct virtqueue *vq, bool enable);
bool vq_split_has_avail(struct virtqueue *vq);

int vq_packed_pop(struct virtqueue *vq, struct vq_elem *elem);
int vq_packed_pop_chain(struct virtqueue *vq, const struct vring_packed_desc *descs, unsigned n,
			struct vq_elem *elem);
void vq_packed_unpop(struct virtqueue *vq, const struct vq_elem *elem);
void vq_packed_fill(struct virtqueue *vq, const struct vq_elem *elem, uint32_t written);
void vq_packed_flush(struct virtqueue *vq);
bool vq_packed_should_notify(struct virtqueue *vq);
bool vq_packed_enable_kicks(struct virtqueue *vq, bool enable);
bool vq_packed_has_avail(struct virtqueue *vq);

#endif
