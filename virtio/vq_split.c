/* SPDX-License-Identifier: MIT */
/* Split virtqueue, device side (virtio 1.2, 2.7). */
#include <string.h>

#include "vq_internal.h"

/* One read of a split descriptor from guest memory into host order: later checks and uses only see
 * this copy, whatever the driver writes meanwhile. */
static void read_desc(const struct vring_desc *src, struct vq_desc *d)
{
	struct vring_desc raw;

	memcpy(&raw, src, sizeof(raw));
	__atomic_signal_fence(__ATOMIC_SEQ_CST);   /* keep the compiler from re-reading src */
	d->addr = le64toh(raw.addr);
	d->len = le32toh(raw.len);
	d->flags = le16toh(raw.flags);
	d->id_or_next = le16toh(raw.next);
}

static int walk_indirect(struct vq_chain *c, const struct vq_desc *ind)
{
	struct virtqueue *vq = c->vq;
	const struct vring_desc *table;
	unsigned n, count = 0, i = 0;
	struct vq_desc d;

	table = vq_chain_indirect(c, ind, &n);
	if (!table)
		return -1;
	for (;;) {
		if (++count > n) {
			vq_set_broken(vq, "indirect chain loops (more than its %u entries)", n);
			return -1;
		}
		read_desc(&table[i], &d);
		if (d.flags & VRING_DESC_F_INDIRECT) {
			vq_set_broken(vq, "nested indirect descriptor (entry %u)", i);
			return -1;
		}
		if (vq_chain_add(c, &d) < 0)
			return -1;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		if (d.id_or_next >= n) {
			vq_set_broken(vq, "indirect next index %u out of range (table of %u)", d.id_or_next, n);
			return -1;
		}
		i = d.id_or_next;
	}
}

/* Collect the chain that starts at descriptor `head` into elem. `first`: the head descriptor as
 * already read (once) by the caller, or NULL to read it here. 0 or -1 (queue broken). */
static int split_walk(struct virtqueue *vq, uint16_t head, const struct vq_desc *first, struct vq_elem *elem)
{
	const struct vring_desc *table = vq->desc;
	unsigned count = 0;
	struct vq_chain c;
	struct vq_desc d;
	const struct vq_desc *dp;
	uint16_t idx = head;

	if (head >= vq->size) {
		vq_set_broken(vq, "head index %u out of range (queue size %u)", head, vq->size);
		return -1;
	}
	vq_chain_start(&c, vq, elem);
	elem->id = head;
	for (;;) {
		if (++count > vq->size) {
			vq_set_broken(vq, "descriptor chain from head %u loops or is longer than the queue (%u)",
				      head, vq->size);
			return -1;
		}
		/* the head's copy is used where it is (copying it again costs a store-forwarding stall) */
		if (count == 1 && first) {
			dp = first;
		} else {
			read_desc(&table[idx], &d);
			dp = &d;
		}
		if (dp->flags & VRING_DESC_F_INDIRECT) {
			if (walk_indirect(&c, dp) < 0)
				return -1;
			break;
		}
		if (vq_chain_add(&c, dp) < 0)
			return -1;
		if (!(dp->flags & VRING_DESC_F_NEXT))
			break;
		if (dp->id_or_next >= vq->size) {
			vq_set_broken(vq, "next index %u out of range (queue size %u)", dp->id_or_next, vq->size);
			return -1;
		}
		idx = dp->id_or_next;
	}
	elem->ndescs = count;
	return 0;
}

/* Chains the driver has made available beyond last_avail_idx: 0 (empty), the count, or -1 (queue
 * broken). The avail index is read again (with acquire: the entries and descriptors it exposes are
 * read after it) only when the entries known to be there are used up: one read of a cache line the
 * driver writes per burst instead of one per chain. */
static int split_pending(struct virtqueue *vq)
{
	struct vring_avail *avail = vq->driver;
	uint16_t avail_idx, pending;

	pending = vq->avail_shadow - vq->last_avail_idx;
	if (pending == 0 || pending > vq->size) {
		avail_idx = vq_ld16_acquire(&avail->idx);
		pending = avail_idx - vq->last_avail_idx;
		if (pending == 0)
			return 0;
		if (pending > vq->size) {
			vq_set_broken(vq, "avail idx jumped from %u to %u (queue size %u)", vq->last_avail_idx,
				      avail_idx, vq->size);
			return -1;
		}
		vq->avail_shadow = avail_idx;
	}
	return pending;
}

/* Keep the driver kicking while we are awake and kicks are wanted (EVENT_IDX). */
static void split_avail_event(struct virtqueue *vq)
{
	if (vq->event_idx && !vq->kicks_off)
		vq_st16(vring_avail_event(vq->device, vq->size), vq->last_avail_idx);
}

int vq_split_pop(struct virtqueue *vq, struct vq_elem *elem)
{
	struct vring_avail *avail = vq->driver;
	int pending = split_pending(vq);

	if (pending <= 0)
		return pending;
	if (split_walk(vq, vq_ld16(&avail->ring[vq->last_avail_idx & (vq->size - 1)]), NULL, elem) < 0)
		return -1;
	vq->last_avail_idx++;
	split_avail_event(vq);
	return 1;
}

int vq_split_pop_burst(struct virtqueue *vq, struct vq_elem *elems, unsigned max)
{
	const struct vring_desc *table = vq->desc;
	struct vring_avail *avail = vq->driver;
	struct vq_desc first[VQ_BURST_MAX];
	uint16_t head[VQ_BURST_MAX];
	int pending = split_pending(vq);
	unsigned n, got = 0;

	if (pending <= 0)
		return pending;
	n = (unsigned)pending < max ? (unsigned)pending : max;
	if (n > VQ_BURST_MAX)
		n = VQ_BURST_MAX;
	/* The heads, then their descriptors, each read once in a tight loop of independent loads: the
	 * cache misses on the lines the driver wrote overlap instead of each waiting behind a walk. */
	for (unsigned i = 0; i < n; i++)
		head[i] = vq_ld16(&avail->ring[(uint16_t)(vq->last_avail_idx + i) & (vq->size - 1)]);
	for (unsigned i = 0; i < n; i++)
		if (head[i] < vq->size)
			read_desc(&table[head[i]], &first[i]);
	/* a bad head (split_walk checks it) or chain breaks the queue: the burst ends before it */
	for (; got < n; got++) {
		if (split_walk(vq, head[got], head[got] < vq->size ? &first[got] : NULL, &elems[got]) < 0)
			break;
		vq->last_avail_idx++;
	}
	if (got)
		split_avail_event(vq);   /* once per burst: the line the driver reads is written once */
	return got ? (int)got : -1;
}

int vq_split_pop_head(struct virtqueue *vq, uint16_t head, struct vq_elem *elem)
{
	return split_walk(vq, head, NULL, elem) < 0 ? -1 : 1;
}

void vq_split_fill(struct virtqueue *vq, const struct vq_elem *elem, uint32_t written)
{
	struct vring_used *used = vq->device;
	struct vring_used_elem *ue = &used->ring[vq->used_idx & (vq->size - 1)];

	vq_st32(&ue->id, elem->id);
	vq_st32(&ue->len, written);
	vq->used_idx++;
	vq->used_pending++;
}

void vq_split_fill_burst(struct virtqueue *vq, const struct vq_elem *elems, const uint32_t *written, unsigned n)
{
	struct vring_used *used = vq->device;
	uint16_t mask = vq->size - 1, idx = vq->used_idx;

	for (unsigned i = 0; i < n; i++) {
		struct vring_used_elem *ue = &used->ring[idx++ & mask];

		vq_st32(&ue->id, elems[i].id);
		vq_st32(&ue->len, written ? written[i] : 0);
	}
	vq->used_idx = idx;
	vq->used_pending += n;
}

void vq_split_flush(struct virtqueue *vq)
{
	struct vring_used *used = vq->device;

	/* Elements first, then the index that exposes them. */
	vq_st16_release(&used->idx, vq->used_idx);
	vq->used_pending = 0;
}

bool vq_split_should_notify(struct virtqueue *vq)
{
	struct vring_avail *avail = vq->driver;
	uint16_t old = vq->signalled_used, new = vq->used_idx;
	bool valid = vq->signalled_used_valid;

	/* Our used idx store must be visible before we read the driver's wishes. */
	vq_mb();
	if (!vq->event_idx)
		return !(vq_ld16(&avail->flags) & VRING_AVAIL_F_NO_INTERRUPT);
	vq->signalled_used = new;
	vq->signalled_used_valid = true;
	if (!valid)
		return true;
	return vring_need_event(vq_ld16(vring_used_event(avail, vq->size)), new, old);
}

bool vq_split_has_avail(struct virtqueue *vq)
{
	struct vring_avail *avail = vq->driver;

	return vq_ld16_acquire(&avail->idx) != vq->last_avail_idx;
}

bool vq_split_enable_kicks(struct virtqueue *vq, bool enable)
{
	struct vring_used *used = vq->device;

	vq->kicks_off = !enable;
	if (vq->event_idx) {
		if (enable)
			vq_st16(vring_avail_event(used, vq->size), vq->last_avail_idx);
	} else {
		vq_st16(&used->flags, enable ? 0 : VRING_USED_F_NO_NOTIFY);
	}
	if (!enable)
		return false;
	/* The driver may have added buffers before it could see our request: look again. */
	vq_mb();
	return vq_split_has_avail(vq);
}
