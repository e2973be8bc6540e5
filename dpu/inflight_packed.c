/* SPDX-License-Identifier: MIT */
/* Inflight tracking of packed rings with out-of-order completion (see inflight_packed.h). */
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inflight_order.h"
#include "inflight_packed.h"
#include "kite/virtio_ring.h"

#define F_AVAIL (1u << VRING_PACKED_DESC_F_AVAIL)
#define F_USED  (1u << VRING_PACKED_DESC_F_USED)
#define POS(idx, wrap) ((uint32_t)(idx) | (uint32_t)!!(wrap) << 15)
#define POS_IDX(p) ((uint16_t)((p) & 0x7fff))
#define POS_WRAP(p) (!!((p) & 0x8000))

/* Shadow state of an entry. */
enum { E_FREE, E_MEMBER, E_HEAD, E_WAITING, E_RESUB, E_FILLED };
/* E_HEAD: popped from the ring, in flight; E_WAITING: in flight at start, not served again yet;
 * E_RESUB: served again (popped from the resubmit list); E_FILLED: completed, in the next flush. */

/* Position p advanced by n slots on a ring of `size` slots (the wrap counter flips at the end). */
static uint32_t pos_add(uint32_t p, unsigned n, uint16_t size)
{
	unsigned idx = POS_IDX(p) + n;
	bool wrap = POS_WRAP(p);

	while (idx >= size) {
		idx -= size;
		wrap = !wrap;
	}
	return POS(idx, wrap);
}

/* Flags with the AVAIL/USED bits of a descriptor the driver made available on lap `wrap`. */
static uint16_t avail_bits(uint16_t flags, bool wrap)
{
	flags &= (uint16_t)~(F_AVAIL | F_USED);
	return flags | (uint16_t)(wrap ? F_AVAIL : F_USED);
}

static bool is_avail(uint16_t flags, bool wrap)
{
	return !!(flags & F_AVAIL) == wrap && !!(flags & F_USED) != wrap;
}

static uint16_t ring_flags(const struct virtqueue *vq, uint16_t slot)
{
	const struct vring_packed_desc *ring = vq->desc;

	return le16toh(__atomic_load_n(&ring[slot].flags, __ATOMIC_ACQUIRE));
}

static void set_ring_flags(struct virtqueue *vq, uint16_t slot, uint16_t flags)
{
	struct vring_packed_desc *ring = vq->desc;

	__atomic_store_n(&ring[slot].flags, htole16(flags), __ATOMIC_RELAXED);
}

void ipk_stop(struct ipk *k)
{
	free(k->next);
	free(k->num);
	free(k->last);
	free(k->state);
	free(k->batch);
	free(k->resubmit);
	free(k->chain);
	memset(k, 0, sizeof(*k));
}

static int alloc_shadows(struct ipk *k, uint16_t size)
{
	ipk_stop(k);
	k->size = size;
	k->next = calloc(size, sizeof(*k->next));
	k->num = calloc(size, sizeof(*k->num));
	k->last = calloc(size, sizeof(*k->last));
	k->state = calloc(size, sizeof(*k->state));
	k->batch = calloc(size, sizeof(*k->batch));
	k->resubmit = calloc(size, sizeof(*k->resubmit));
	k->chain = calloc(size, sizeof(*k->chain));
	if (!k->next || !k->num || !k->last || !k->state || !k->batch || !k->resubmit || !k->chain) {
		ipk_stop(k);
		return -1;
	}
	return 0;
}

/* ---- start ---- */

/* The resubmit list in fetch order. The counters are read once into private memory: the frontend can
 * change the region meanwhile, and the sort must see a consistent order. -1: out of memory. */
static int sort_resubmit(struct ipk *k)
{
	struct inflight_order *o = calloc(k->nresubmit ? k->nresubmit : 1, sizeof(*o));

	if (!o)
		return -1;
	for (unsigned i = 0; i < k->nresubmit; i++)
		o[i] = (struct inflight_order){ __atomic_load_n(&k->r->desc[k->resubmit[i]].counter, __ATOMIC_RELAXED),
				       k->resubmit[i] };
	inflight_order_sort(o, k->nresubmit);
	for (unsigned i = 0; i < k->nresubmit; i++) {
		k->resubmit[i] = o[i].head;
		k->counter = o[i].counter > k->counter ? o[i].counter : k->counter;
	}
	free(o);
	return 0;
}

/*
 * The chains marked in flight: each head's num entries, linked by next, all below size and in no
 * other chain. Fills the shadows (state, num, last, next of the members) and the resubmit list;
 * returns the descriptors they hold, or -1 with why (shadows then inconsistent: the caller resets).
 */
static long collect_chains(struct ipk *k, char *why, size_t len)
{
	struct vhost_inflight_packed *r = k->r;
	uint16_t size = k->size;
	unsigned long total = 0;

	for (uint16_t h = 0; h < size; h++) {
		if (__atomic_load_n(&r->desc[h].inflight, __ATOMIC_ACQUIRE) != 1)
			continue;
		uint16_t n = r->desc[h].num, e = h;

		if (n == 0 || n > size) {
			snprintf(why, len, "entry %u: chain of %u descriptors (ring of %u)", h, n, size);
			return -1;
		}
		for (unsigned i = 0;; i++) {
			if (e >= size || k->state[e] != E_FREE) {
				snprintf(why, len, "entry %u: chain runs into entry %u (outside or taken)", h, e);
				return -1;
			}
			k->state[e] = i ? E_MEMBER : E_WAITING;
			if (i + 1 == n)
				break;
			k->next[e] = r->desc[e].next;
			e = k->next[e];
		}
		k->num[h] = n;
		k->last[h] = e;
		k->resubmit[k->nresubmit++] = h;
		total += n;
		if (total > size) {
			snprintf(why, len, "%lu descriptors in flight, more than the ring's %u", total, size);
			return -1;
		}
	}
	return (long)total;
}

/* Free list := every entry no chain holds, in index order; marks of the others cleared. */
static void rebuild_free_list(struct ipk *k)
{
	struct vhost_inflight_packed *r = k->r;
	uint16_t tail = k->size;

	k->free_head = k->size;
	k->nfree = 0;
	for (unsigned i = k->size; i-- > 0;) {
		if (k->state[i] == E_MEMBER || k->state[i] == E_WAITING) {
			if (k->state[i] == E_MEMBER)
				r->desc[i].inflight = 0;
			continue;
		}
		r->desc[i].inflight = 0;
		k->next[i] = tail;
		r->desc[i].next = tail;
		tail = (uint16_t)i;
		k->nfree++;
	}
	k->free_head = tail;
}

/* A flush cut short by a crash: was its batch published? The slot at old_used_idx tells (see .h).
 * Published: the batch's entries (free list from free_head up to old_free_head) lose their marks. */
static int finish_flush(struct ipk *k, const struct virtqueue *vq, uint32_t old, struct ipk_start_info *info)
{
	struct vhost_inflight_packed *r = k->r;

	if (is_avail(ring_flags(vq, POS_IDX(old)), POS_WRAP(old))) {
		info->rolled_back = true;
		return 0;
	}
	info->finished_flush = true;
	uint16_t e = r->free_head, stop = r->old_free_head;
	for (unsigned steps = 0; e != stop; steps++) {
		if (e >= k->size || steps >= k->size) {
			snprintf(info->why, sizeof(info->why), "the published batch's free list is broken at entry %u", e);
			return -1;
		}
		r->desc[e].inflight = 0;
		e = r->desc[e].next;
	}
	return 0;
}

int ipk_start(struct ipk *k, struct vhost_inflight_packed *r, struct virtqueue *vq, uint32_t base,
	      struct ipk_start_info *info)
{
	uint16_t size = vq->size;
	uint32_t used, avail;
	long descs = 0;

	memset(info, 0, sizeof(*info));
	if (alloc_shadows(k, size) < 0)
		return -1;
	k->r = r;
	if (!(r->features & (1ull << VIRTIO_F_RING_PACKED)) || r->version != 1) {
		info->fresh = true;
		used = base & 0xffff;
	} else {
		uint32_t old = POS(r->old_used_idx, r->old_used_wrap_counter & 1);
		uint32_t cur = POS(r->used_idx, r->used_wrap_counter & 1);

		if (POS_IDX(old) >= size || POS_IDX(cur) >= size) {
			snprintf(info->why, sizeof(info->why), "used positions %u/%u outside the ring of %u",
				 POS_IDX(old), POS_IDX(cur), size);
			used = base & 0xffff;
		} else if (old != cur && finish_flush(k, vq, old, info) < 0) {
			used = cur;
		} else {
			used = info->finished_flush ? cur : old;
			descs = collect_chains(k, info->why, sizeof(info->why));
		}
		if (info->why[0] || descs < 0) {
			/* not trusted: nothing is in flight (what the driver waits for stays lost) */
			memset(k->state, E_FREE, size);
			k->nresubmit = 0;
			descs = 0;
		}
	}
	avail = pos_add(used, (unsigned)descs, size);
	/* the slots of the chains in flight get their lap's available flags back (see .h) */
	for (uint32_t p = used, i = 0; i < (unsigned)descs; i++, p = pos_add(p, 1, size))
		set_ring_flags(vq, POS_IDX(p), avail_bits(ring_flags(vq, POS_IDX(p)), POS_WRAP(p)));
	__atomic_thread_fence(__ATOMIC_RELEASE);
	if (sort_resubmit(k) < 0) {
		ipk_stop(k);
		return -1;
	}
	rebuild_free_list(k);
	r->free_head = r->old_free_head = k->free_head;
	r->used_idx = r->old_used_idx = POS_IDX(used);
	r->used_wrap_counter = r->old_used_wrap_counter = POS_WRAP(used);
	r->desc_num = size;
	r->version = 1;
	r->features = 1ull << VIRTIO_F_RING_PACKED;
	__atomic_thread_fence(__ATOMIC_RELEASE);

	vq_set_base(vq, avail);
	vq->used_idx = POS_IDX(used);
	vq->used_wrap = POS_WRAP(used);
	info->used_pos = used;
	info->avail_pos = avail;
	info->resubmit = k->nresubmit;
	return 0;
}

/* ---- running (poller) ---- */

int ipk_popped(struct ipk *k, struct virtqueue *vq, uint32_t pos, struct vq_elem *elem)
{
	struct vhost_inflight_packed *r = k->r;
	const struct vring_packed_desc *ring = vq->desc;
	unsigned n = elem->ndescs;
	uint16_t head = k->free_head, e = head;

	if (n == 0 || n > k->nfree)
		return -1;
	for (unsigned i = 0; i < n; i++) {
		uint16_t slot = POS_IDX(pos);
		struct vring_packed_desc raw;

		memcpy(&raw, &ring[slot], sizeof(raw));
		r->desc[e].addr = le64toh(raw.addr);
		r->desc[e].len = le32toh(raw.len);
		r->desc[e].id = le16toh(raw.id);
		r->desc[e].flags = le16toh(raw.flags);
		/* a chain's later slots with the lap's available bits, as the head has (the driver need
		 * not set them there): a start looks at them when one becomes a flush's first slot */
		if (i && !is_avail(le16toh(raw.flags), POS_WRAP(pos)))
			set_ring_flags(vq, slot, avail_bits(le16toh(raw.flags), POS_WRAP(pos)));
		k->state[e] = i ? E_MEMBER : E_HEAD;
		r->desc[e].next = k->next[e];
		pos = pos_add(pos, 1, k->size);
		if (i + 1 < n)
			e = k->next[e];
	}
	k->free_head = k->next[e];
	k->nfree -= n;
	k->num[head] = (uint16_t)n;
	k->last[head] = e;
	r->desc[head].num = (uint16_t)n;
	r->desc[head].last = e;
	r->desc[head].counter = ++k->counter;
	__atomic_store_n(&r->desc[head].inflight, 1, __ATOMIC_RELEASE);   /* the pop's commit point */
	r->free_head = r->old_free_head = k->free_head;
	elem->tag = head;
	return 0;
}

int ipk_pop_resubmit(struct ipk *k, struct virtqueue *vq, struct vq_elem *elem)
{
	struct vring_packed_desc *descs = k->chain;
	uint16_t h, e;
	unsigned n;
	int ret;

	if (k->resubmit_pos >= k->nresubmit)
		return 0;
	h = k->resubmit[k->resubmit_pos];
	n = k->num[h];     /* <= size (checked at start) */
	e = h;
	for (unsigned i = 0; i < n; i++) {
		const struct vhost_inflight_desc_packed *d = &k->r->desc[e];

		descs[i].addr = htole64(d->addr);
		descs[i].len = htole32(d->len);
		descs[i].id = htole16(d->id);
		descs[i].flags = htole16(d->flags);
		e = k->next[e];
	}
	ret = vq_pop_chain(vq, descs, n, elem);
	if (ret != 1)
		return ret;
	k->state[h] = E_RESUB;
	k->resubmit_pos++;
	elem->tag = h;
	return 1;
}

/* Entries of the chain at head h back on the free list (shadow and region). */
static void free_chain(struct ipk *k, uint16_t h)
{
	uint16_t e = h;

	for (unsigned i = 0; i < k->num[h]; i++, e = k->next[e])
		k->state[e] = E_FREE;
	k->next[k->last[h]] = k->free_head;
	k->r->desc[k->last[h]].next = k->free_head;
	k->free_head = h;
	k->nfree += k->num[h];
}

bool ipk_unpopped(struct ipk *k, const struct vq_elem *elem)
{
	uint16_t h = elem->tag;

	if (h >= k->size)
		return true;
	if (k->state[h] == E_RESUB) {
		k->state[h] = E_WAITING;
		if (k->resubmit_pos)
			k->resubmit_pos--;
		return false;
	}
	if (k->state[h] != E_HEAD)
		return true;
	__atomic_store_n(&k->r->desc[h].inflight, 0, __ATOMIC_RELEASE);
	free_chain(k, h);
	k->r->free_head = k->r->old_free_head = k->free_head;
	return true;
}

bool ipk_filled(struct ipk *k, const struct vq_elem *elem)
{
	uint16_t h = elem->tag;

	if (h >= k->size || (k->state[h] != E_HEAD && k->state[h] != E_RESUB) || k->nbatch >= k->size)
		return false;
	k->state[h] = E_FILLED;
	k->batch[k->nbatch++] = h;
	return true;
}

void ipk_flush_begin(struct ipk *k, const struct virtqueue *vq)
{
	struct vhost_inflight_packed *r = k->r;

	if (!k->nbatch)
		return;
	r->old_free_head = k->free_head;
	for (unsigned i = 0; i < k->nbatch; i++)
		free_chain(k, k->batch[i]);
	r->free_head = k->free_head;
	r->used_idx = vq->used_idx;
	r->used_wrap_counter = vq->used_wrap;
	__atomic_thread_fence(__ATOMIC_RELEASE);   /* the batch is recorded before the ring says anything */
}

void ipk_flush_end(struct ipk *k, const struct virtqueue *vq)
{
	struct vhost_inflight_packed *r = k->r;

	if (!k->nbatch)
		return;
	__atomic_thread_fence(__ATOMIC_RELEASE);   /* the ring first */
	for (unsigned i = 0; i < k->nbatch; i++)
		__atomic_store_n(&r->desc[k->batch[i]].inflight, 0, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	r->old_free_head = k->free_head;
	r->old_used_idx = vq->used_idx;
	r->old_used_wrap_counter = vq->used_wrap;
	k->nbatch = 0;
}
