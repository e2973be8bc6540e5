/* SPDX-License-Identifier: MIT */
/*
 * Packed virtqueue, device side (virtio 1.2, 2.8). Ring positions are slot indices in [0, size) plus
 * a wrap counter that starts at 1 and flips every time the index wraps.
 */
#include <string.h>

#include "vq_internal.h"

#define F_AVAIL (1u << VRING_PACKED_DESC_F_AVAIL)
#define F_USED  (1u << VRING_PACKED_DESC_F_USED)

static bool desc_is_avail(uint16_t flags, bool wrap)
{
	return !!(flags & F_AVAIL) == wrap && !!(flags & F_USED) != wrap;
}

static void read_desc(const struct vring_packed_desc *src, struct vq_desc *d)
{
	struct vring_packed_desc raw;

	memcpy(&raw, src, sizeof(raw));
	__atomic_signal_fence(__ATOMIC_SEQ_CST);   /* keep the compiler from re-reading src */
	d->addr = le64toh(raw.addr);
	d->len = le32toh(raw.len);
	d->id_or_next = le16toh(raw.id);
	d->flags = le16toh(raw.flags);
}

/*
 * Packed indirect table: consecutive entries; WRITE is the only valid flag in them, the others (NEXT,
 * INDIRECT included) and the buffer id are reserved and ignored by the device (virtio 1.2, 2.8.20).
 * So, unlike the split ring, a "nested" indirect flag here is not an error: the entry is a plain
 * buffer.
 *
 * On a queue whose buffers the device only reads (vq_set_device_reads_only), WRITE is ignored too:
 * DPDK's virtio PMD (22.11) presets every entry of its packed TX tables with WRITE and then rewrites
 * the flags of the data entries except entry 0 (the header) and the entry whose index equals the
 * ring slot of the head, so its multi-segment frames carry WRITE on arbitrary entries, the last one
 * included. Taking them as device-readable only withholds write access.
 */
static int walk_indirect(struct vq_chain *c, const struct vq_desc *ind)
{
	const struct vring_packed_desc *table;
	uint16_t keep = c->vq->device_reads_only ? 0 : VRING_DESC_F_WRITE;
	struct vq_desc d;
	unsigned n;

	table = vq_chain_indirect(c, ind, &n);
	if (!table)
		return -1;
	for (unsigned i = 0; i < n; i++) {
		read_desc(&table[i], &d);
		d.flags &= keep;
		if (vq_chain_add(c, &d) < 0)
			return -1;
	}
	return 0;
}

static void advance(uint16_t *idx, bool *wrap, unsigned n, uint16_t size)
{
	unsigned v = *idx + n;

	if (v >= size) {
		v -= size;
		*wrap = !*wrap;
	}
	*idx = v;
}

/*
 * Collect into elem the chain whose head descriptor is base[start] (head_flags: its flags, already
 * read once), reading base[(start + i) % mod] for the following ones, at most max descriptors.
 * Returns how many descriptors the chain has, or -1 (queue broken; the reason names `slot`).
 */
static int walk_chain(struct virtqueue *vq, const struct vring_packed_desc *base, unsigned start, unsigned mod,
		      unsigned max, uint16_t head_flags, struct vq_elem *elem, unsigned slot)
{
	unsigned count = 0, i = start;
	struct vq_chain c;
	struct vq_desc d;

	vq_chain_start(&c, vq, elem);
	for (;;) {
		if (++count > max) {
			vq_set_broken(vq, "packed chain at slot %u longer than the queue (%u)", slot, max);
			return -1;
		}
		read_desc(&base[i], &d);
		if (count == 1)
			d.flags = head_flags;   /* the flags we checked, not a second read */
		elem->id = d.id_or_next;        /* the buffer id is in the last descriptor */
		if (d.flags & VRING_DESC_F_INDIRECT) {
			/* a packed list holds either one indirect descriptor or only direct ones */
			if (count > 1) {
				vq_set_broken(vq, "indirect descriptor inside a packed chain (slot %u)", slot);
				return -1;
			}
			if (walk_indirect(&c, &d) < 0)
				return -1;
		} else if (vq_chain_add(&c, &d) < 0) {
			return -1;
		}
		if (++i == mod)
			i = 0;
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
	}
	elem->ndescs = count;
	return (int)count;
}

int vq_packed_pop(struct virtqueue *vq, struct vq_elem *elem)
{
	struct vring_packed_desc *ring = vq->desc;
	uint16_t slot = vq->last_avail_idx, head_flags;
	bool wrap = vq->avail_wrap;
	int count;

	head_flags = vq_ld16_acquire(&ring[slot].flags);
	if (!desc_is_avail(head_flags, wrap))
		return 0;
	count = walk_chain(vq, ring, slot, vq->size, vq->size, head_flags, elem, slot);
	if (count < 0)
		return -1;
	advance(&slot, &wrap, (unsigned)count, vq->size);
	vq->last_avail_idx = slot;
	vq->avail_wrap = wrap;
	if (vq->event_idx && !vq->kicks_off) {
		struct vring_packed_event *ev = vq->device;
		vq_st16(&ev->off_wrap, slot | (uint16_t)wrap << VRING_PACKED_EVENT_F_WRAP_CTR);
	}
	return 1;
}

int vq_packed_pop_chain(struct virtqueue *vq, const struct vring_packed_desc *descs, unsigned n,
			struct vq_elem *elem)
{
	struct vring_packed_desc head;
	int count;

	if (n == 0 || n > vq->size) {
		vq_set_broken(vq, "saved packed chain of %u descriptors (queue size %u)", n, vq->size);
		return -1;
	}
	memcpy(&head, &descs[0], sizeof(head));
	count = walk_chain(vq, descs, 0, n, n, le16toh(head.flags), elem, 0);
	if (count < 0)
		return -1;
	if ((unsigned)count != n) {
		vq_set_broken(vq, "saved packed chain ends after %d of its %u descriptors", count, n);
		return -1;
	}
	return 1;
}

void vq_packed_unpop(struct virtqueue *vq, const struct vq_elem *elem)
{
	unsigned n = elem->ndescs;

	if (n == 0 || n > vq->size)
		return;
	if (n > vq->last_avail_idx) {
		vq->last_avail_idx = vq->last_avail_idx + vq->size - n;
		vq->avail_wrap = !vq->avail_wrap;
	} else {
		vq->last_avail_idx -= n;
	}
}

/*
 * Used descriptors: id and len first, flags last with release. In a batch the first element's flags
 * are held back until vq_flush(), so the driver sees the whole batch at once.
 */
void vq_packed_fill(struct virtqueue *vq, const struct vq_elem *elem, uint32_t written)
{
	struct vring_packed_desc *d = &((struct vring_packed_desc *)vq->desc)[vq->used_idx];
	uint16_t flags = vq->used_wrap ? (F_AVAIL | F_USED) : 0;
	unsigned n = elem->ndescs;

	if (n == 0 || n > vq->size) {
		vq_set_broken(vq, "fill of an element spanning %u descriptors (queue size %u)", n, vq->size);
		return;
	}
	if (written)
		flags |= VRING_DESC_F_WRITE;
	__atomic_store_n(&d->id, htole16(elem->id), __ATOMIC_RELAXED);
	__atomic_store_n(&d->len, htole32(written), __ATOMIC_RELAXED);
	if (vq->used_pending == 0) {
		vq->batch_slot = vq->used_idx;
		vq->batch_flags = flags;
	} else {
		vq_st16_release(&d->flags, flags);
	}
	vq->used_pending++;
	advance(&vq->used_idx, &vq->used_wrap, n, vq->size);
}

void vq_packed_flush(struct virtqueue *vq)
{
	struct vring_packed_desc *ring = vq->desc;

	if (!vq->used_pending)
		return;
	vq_st16_release(&ring[vq->batch_slot].flags, vq->batch_flags);
	vq->used_pending = 0;
}

/* Position on a lap of 2 * size slots, so that the wrap counter is part of the index. */
static unsigned lap_pos(uint16_t idx, bool wrap, uint16_t size)
{
	return idx + (wrap ? 0u : size);
}

/* vring_need_event() on a ring of 2 * size positions. */
static bool need_event_mod(unsigned event, unsigned new, unsigned old, unsigned m)
{
	return (new + 2 * m - event - 1) % m < (new + m - old) % m;
}

bool vq_packed_should_notify(struct virtqueue *vq)
{
	struct vring_packed_event *ev = vq->driver;
	unsigned m = 2u * vq->size;
	unsigned new = lap_pos(vq->used_idx, vq->used_wrap, vq->size), old = vq->signalled_used;
	bool valid = vq->signalled_used_valid;
	uint16_t flags, off_wrap;

	vq_mb();
	flags = vq_ld16(&ev->flags);
	off_wrap = vq_ld16(&ev->off_wrap);
	vq->signalled_used = new;
	vq->signalled_used_valid = true;
	if (flags == VRING_PACKED_EVENT_FLAG_DISABLE)
		return false;
	if (flags != VRING_PACKED_EVENT_FLAG_DESC || !vq->event_idx || !valid)
		return true;
	unsigned off = off_wrap & 0x7fff;
	if (off >= vq->size)
		return true;   /* nonsense from the driver: an extra interrupt is harmless */
	return need_event_mod(lap_pos(off, off_wrap >> VRING_PACKED_EVENT_F_WRAP_CTR, vq->size), new, old, m);
}

bool vq_packed_has_avail(struct virtqueue *vq)
{
	struct vring_packed_desc *ring = vq->desc;

	return desc_is_avail(vq_ld16_acquire(&ring[vq->last_avail_idx].flags), vq->avail_wrap);
}

bool vq_packed_enable_kicks(struct virtqueue *vq, bool enable)
{
	struct vring_packed_event *ev = vq->device;

	vq->kicks_off = !enable;
	if (!enable) {
		vq_st16(&ev->flags, VRING_PACKED_EVENT_FLAG_DISABLE);
		return false;
	}
	if (vq->event_idx) {
		vq_st16(&ev->off_wrap, vq->last_avail_idx |
			(uint16_t)vq->avail_wrap << VRING_PACKED_EVENT_F_WRAP_CTR);
		vq_st16_release(&ev->flags, VRING_PACKED_EVENT_FLAG_DESC);
	} else {
		vq_st16(&ev->flags, VRING_PACKED_EVENT_FLAG_ENABLE);
	}
	vq_mb();
	return vq_packed_has_avail(vq);
}
