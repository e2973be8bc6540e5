/* SPDX-License-Identifier: MIT */
/*
 * Virtqueue ring layouts as they sit in guest memory (virtio 1.2, 2.7 split and 2.8 packed).
 * Every multi-byte field is little-endian on the wire: read them with le16toh()/le32toh()/le64toh().
 * Both the device side (virtio/virtqueue.c) and the test driver (tests/lib/vring) use these.
 */
#ifndef KITE_VIRTIO_RING_H
#define KITE_VIRTIO_RING_H

#include <stddef.h>
#include <stdint.h>

/* Descriptor flags, shared by split and packed descriptors. */
#define VRING_DESC_F_NEXT      1   /* chain continues (split: at .next; packed: in the next slot) */
#define VRING_DESC_F_WRITE     2   /* device-writable buffer */
#define VRING_DESC_F_INDIRECT  4   /* buffer holds a table of descriptors */
/* Packed ring only. */
#define VRING_PACKED_DESC_F_AVAIL 7    /* bit numbers */
#define VRING_PACKED_DESC_F_USED  15

/* Split ring flags. */
#define VRING_AVAIL_F_NO_INTERRUPT 1   /* driver: do not interrupt me (ignored with EVENT_IDX) */
#define VRING_USED_F_NO_NOTIFY     1   /* device: do not kick me (ignored with EVENT_IDX) */

/* Packed event suppression flags. */
#define VRING_PACKED_EVENT_FLAG_ENABLE  0
#define VRING_PACKED_EVENT_FLAG_DISABLE 1
#define VRING_PACKED_EVENT_FLAG_DESC    2
#define VRING_PACKED_EVENT_F_WRAP_CTR   15  /* bit of off_wrap holding the wrap counter */

/* Alignment the rings must have (virtio 1.2, 2.7 and 2.8.10). */
#define VRING_SPLIT_DESC_ALIGN  16
#define VRING_SPLIT_AVAIL_ALIGN 2
#define VRING_SPLIT_USED_ALIGN  4
#define VRING_PACKED_DESC_ALIGN 16
#define VRING_PACKED_EVENT_ALIGN 4

/* ---- split ring ---- */
struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vring_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];    /* [size], then le16 used_event (EVENT_IDX) */
};

struct vring_used_elem {
	uint32_t id;        /* head descriptor index */
	uint32_t len;       /* bytes written into the writable part */
};

struct vring_used {
	uint16_t flags;
	uint16_t idx;
	struct vring_used_elem ring[];  /* [size], then le16 avail_event (EVENT_IDX) */
};

/* Byte sizes of the split rings for a queue of `size` entries (event fields included). */
static inline size_t vring_split_desc_size(unsigned size)
{
	return (size_t)size * sizeof(struct vring_desc);
}
static inline size_t vring_split_avail_size(unsigned size)
{
	return sizeof(struct vring_avail) + (size_t)size * sizeof(uint16_t) + sizeof(uint16_t);
}
static inline size_t vring_split_used_size(unsigned size)
{
	return sizeof(struct vring_used) + (size_t)size * sizeof(struct vring_used_elem) + sizeof(uint16_t);
}

/* used_event lives after avail->ring[size], avail_event after used->ring[size]. */
static inline uint16_t *vring_used_event(struct vring_avail *avail, unsigned size)
{
	return &avail->ring[size];
}
static inline uint16_t *vring_avail_event(struct vring_used *used, unsigned size)
{
	return (uint16_t *)(void *)&used->ring[size];
}

/*
 * EVENT_IDX: must the other side be notified after moving its index from `old_idx` to `new_idx`,
 * given that it asked to be notified when the index passes `event_idx`? (virtio 1.2, 2.7.10)
 */
static inline int vring_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old_idx);
}

/* ---- packed ring ---- */
struct vring_packed_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t id;        /* buffer id (in the last descriptor of a chain) */
	uint16_t flags;
};

struct vring_packed_event {
	uint16_t off_wrap;  /* bits 0..14 ring offset, bit 15 wrap counter */
	uint16_t flags;     /* VRING_PACKED_EVENT_FLAG_* */
};

static inline size_t vring_packed_desc_size(unsigned size)
{
	return (size_t)size * sizeof(struct vring_packed_desc);
}

_Static_assert(sizeof(struct vring_desc) == 16, "split descriptor is 16 bytes");
_Static_assert(sizeof(struct vring_packed_desc) == 16, "packed descriptor is 16 bytes");
_Static_assert(sizeof(struct vring_used_elem) == 8, "used element is 8 bytes");
_Static_assert(sizeof(struct vring_packed_event) == 4, "event suppression is 4 bytes");

#endif
