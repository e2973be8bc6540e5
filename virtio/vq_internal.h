/* SPDX-License-Identifier: MIT */
/* Private helpers shared by the virtqueue files (virtqueue.c, vq_chain.c, vq_split.c, vq_packed.c). */
#ifndef KITE_VQ_INTERNAL_H
#define KITE_VQ_INTERNAL_H

#include <endian.h>
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

void vq_chain_start(struct vq_chain *c, struct virtqueue *vq, struct vq_elem *elem);
/* Append one (non-indirect) descriptor: checks direction order, overflow, guest memory, segment
 * count. 0 or -1 (queue broken). */
int vq_chain_add(struct vq_chain *c, const struct vq_desc *d);
/* Map an indirect table after checking the feature, flags and length: host pointer and entry count,
 * or NULL (queue broken). */
const void *vq_chain_indirect(struct vq_chain *c, const struct vq_desc *d, unsigned *count);

int vq_split_pop(struct virtqueue *vq, struct vq_elem *elem);
int vq_split_pop_head(struct virtqueue *vq, uint16_t head, struct vq_elem *elem);
void vq_split_fill(struct virtqueue *vq, const struct vq_elem *elem, uint32_t written);
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
