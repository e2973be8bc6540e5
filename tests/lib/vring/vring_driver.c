/* SPDX-License-Identifier: MIT */
/* Driver side of split and packed virtqueues, for tests and load generators. */
#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include "vring_driver.h"

#define F_AVAIL (1u << VRING_PACKED_DESC_F_AVAIL)
#define F_USED  (1u << VRING_PACKED_DESC_F_USED)

static void st16(uint16_t *p, uint16_t v, int order)
{
	__atomic_store_n(p, htole16(v), order);
}
static uint16_t ld16(const uint16_t *p, int order)
{
	return le16toh(__atomic_load_n(p, order));
}

int vring_drv_init(struct vring_drv *d, const struct guest_mem *mem, const struct vring_drv_config *cfg)
{
	uint16_t n = cfg->size;
	size_t dsz, drsz, dvsz;

	memset(d, 0, sizeof(*d));
	if (n == 0 || n > 32768 || (!cfg->packed && (n & (n - 1))))
		return -1;
	dsz = cfg->packed ? vring_packed_desc_size(n) : vring_split_desc_size(n);
	drsz = cfg->packed ? sizeof(struct vring_packed_event) : vring_split_avail_size(n);
	dvsz = cfg->packed ? sizeof(struct vring_packed_event) : vring_split_used_size(n);
	d->desc = gm_ptr(mem, cfg->desc, dsz);
	d->driver = gm_ptr(mem, cfg->driver, drsz);
	d->device = gm_ptr(mem, cfg->device, dvsz);
	if (!d->desc || !d->driver || !d->device)
		return -1;
	if (cfg->indirect_max) {
		d->indirect = gm_ptr(mem, cfg->indirect_gpa, (uint64_t)n * cfg->indirect_max * 16);
		if (!d->indirect)
			return -1;
	}
	memset(d->desc, 0, dsz);
	memset(d->driver, 0, drsz);
	memset(d->device, 0, dvsz);
	d->cfg = *cfg;
	d->mem = mem;
	d->size = n;
	d->num_free = n;
	d->slots = calloc(n, sizeof(*d->slots));
	d->next = calloc(n, sizeof(*d->next));
	d->free_ids = calloc(n, sizeof(*d->free_ids));
	if (!d->slots || !d->next || !d->free_ids) {
		vring_drv_free(d);
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		d->next[i] = (i + 1) % n;
		d->free_ids[i] = n - 1 - i;
	}
	d->nfree_ids = n;
	d->avail_wrap = d->used_wrap = true;
	return 0;
}

void vring_drv_free(struct vring_drv *d)
{
	free(d->slots);
	free(d->next);
	free(d->free_ids);
	d->slots = NULL;
	d->next = NULL;
	d->free_ids = NULL;
}

static void put_split_desc(struct vring_desc *desc, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	desc->addr = htole64(addr);
	desc->len = htole32(len);
	desc->flags = htole16(flags);
	desc->next = htole16(next);
}

static uint64_t indirect_gpa(const struct vring_drv *d, uint16_t slot)
{
	return d->cfg.indirect_gpa + (uint64_t)slot * d->cfg.indirect_max * 16;
}

static int add_split(struct vring_drv *d, const struct vring_buf *bufs, unsigned n, bool indirect, void *token)
{
	struct vring_desc *table = d->desc;
	struct vring_avail *avail = d->driver;
	unsigned need = indirect ? 1 : n;
	uint16_t head = d->free_head, idx = head;

	if (need > d->num_free)
		return -1;
	if (indirect) {
		struct vring_desc *it = (struct vring_desc *)(d->indirect + (size_t)head * d->cfg.indirect_max * 16);
		for (unsigned i = 0; i < n; i++)
			put_split_desc(&it[i], bufs[i].addr, bufs[i].len,
				       (i + 1 < n ? VRING_DESC_F_NEXT : 0) | (bufs[i].write ? VRING_DESC_F_WRITE : 0),
				       i + 1 < n ? i + 1 : 0);
		put_split_desc(&table[head], indirect_gpa(d, head), n * 16, VRING_DESC_F_INDIRECT, 0);
		d->free_head = d->next[head];
	} else {
		for (unsigned i = 0; i < n; i++) {
			uint16_t nx = d->next[idx];
			put_split_desc(&table[idx], bufs[i].addr, bufs[i].len,
				       (i + 1 < n ? VRING_DESC_F_NEXT : 0) | (bufs[i].write ? VRING_DESC_F_WRITE : 0),
				       i + 1 < n ? nx : 0);
			if (i + 1 < n)
				idx = nx;
		}
		d->free_head = d->next[idx];
	}
	d->num_free -= need;
	d->slots[head] = (struct vring_drv_slot){ .token = token, .ndescs = need, .busy = true };
	avail->ring[d->avail_idx & (d->size - 1)] = htole16(head);
	d->avail_idx++;
	st16(&avail->idx, d->avail_idx, __ATOMIC_RELEASE);
	return head;
}

static int add_packed(struct vring_drv *d, const struct vring_buf *bufs, unsigned n, bool indirect, void *token)
{
	struct vring_packed_desc *ring = d->desc;
	unsigned need = indirect ? 1 : n;
	uint16_t id, slot = d->next_avail, head_flags = 0;
	bool wrap = d->avail_wrap;

	if (need > d->num_free || d->nfree_ids == 0)
		return -1;
	id = d->free_ids[--d->nfree_ids];
	for (unsigned i = 0; i < need; i++) {
		uint16_t flags = wrap ? F_AVAIL : F_USED;
		if (indirect) {
			struct vring_packed_desc *it =
				(struct vring_packed_desc *)(d->indirect + (size_t)id * d->cfg.indirect_max * 16);
			for (unsigned j = 0; j < n; j++) {
				it[j].addr = htole64(bufs[j].addr);
				it[j].len = htole32(bufs[j].len);
				uint16_t f = bufs[j].write ? VRING_DESC_F_WRITE : 0, eid = 0;
				if (d->packed_indirect_dpdk) {
					if (j == 0 || j == slot)
						f = VRING_DESC_F_WRITE;
					else
						f = (wrap ? F_AVAIL : F_USED) | (j + 1 < n ? VRING_DESC_F_NEXT : 0);
					eid = j + 1 < n ? j : id;
				}
				it[j].id = htole16(eid);
				it[j].flags = htole16(f);
			}
			ring[slot].addr = htole64(indirect_gpa(d, id));
			ring[slot].len = htole32(n * 16);
			flags |= VRING_DESC_F_INDIRECT;
		} else {
			ring[slot].addr = htole64(bufs[i].addr);
			ring[slot].len = htole32(bufs[i].len);
			flags |= (i + 1 < need ? VRING_DESC_F_NEXT : 0) | (bufs[i].write ? VRING_DESC_F_WRITE : 0);
		}
		ring[slot].id = htole16(id);
		if (i == 0)
			head_flags = flags;        /* made available last */
		else
			st16(&ring[slot].flags, flags, __ATOMIC_RELAXED);
		if (++slot == d->size) {
			slot = 0;
			wrap = !wrap;
		}
	}
	st16(&ring[d->next_avail].flags, head_flags, __ATOMIC_RELEASE);
	d->next_avail = slot;
	d->avail_wrap = wrap;
	d->num_free -= need;
	d->slots[id] = (struct vring_drv_slot){ .token = token, .ndescs = need, .busy = true };
	return id;
}

int vring_drv_add(struct vring_drv *d, const struct vring_buf *bufs, unsigned n, bool indirect, void *token)
{
	if (n == 0 || (indirect && n > d->cfg.indirect_max) || (!indirect && n > d->size))
		return -1;
	d->adds++;
	return d->cfg.packed ? add_packed(d, bufs, n, indirect, token) : add_split(d, bufs, n, indirect, token);
}

void vring_drv_split_publish_raw(struct vring_drv *d, uint16_t head)
{
	struct vring_avail *avail = d->driver;

	avail->ring[d->avail_idx & (d->size - 1)] = htole16(head);
	d->avail_idx++;
	st16(&avail->idx, d->avail_idx, __ATOMIC_RELEASE);
}

static unsigned lap_pos(uint16_t idx, bool wrap, uint16_t size)
{
	return idx + (wrap ? 0u : size);
}

bool vring_drv_kick_needed(struct vring_drv *d)
{
	bool need;

	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!d->cfg.packed) {
		struct vring_used *used = d->device;
		uint16_t old = d->kicked, new = d->avail_idx;
		d->kicked = new;
		if (d->cfg.event_idx)
			need = vring_need_event(ld16(vring_avail_event(used, d->size), __ATOMIC_RELAXED), new, old);
		else
			need = !(ld16(&used->flags, __ATOMIC_RELAXED) & VRING_USED_F_NO_NOTIFY);
	} else {
		struct vring_packed_event *ev = d->device;
		unsigned m = 2u * d->size, old = d->kicked, new = lap_pos(d->next_avail, d->avail_wrap, d->size);
		uint16_t flags = ld16(&ev->flags, __ATOMIC_RELAXED), ow = ld16(&ev->off_wrap, __ATOMIC_RELAXED);
		d->kicked = new;
		if (flags == VRING_PACKED_EVENT_FLAG_DISABLE) {
			need = false;
		} else if (flags == VRING_PACKED_EVENT_FLAG_DESC && d->cfg.event_idx) {
			unsigned ev_pos = lap_pos(ow & 0x7fff, ow >> 15, d->size);
			need = (new + 2 * m - ev_pos - 1) % m < (new + m - old) % m;
		} else {
			need = true;
		}
	}
	if (need)
		d->kicks++;
	return need;
}

bool vring_drv_has_used(struct vring_drv *d)
{
	if (!d->cfg.packed)
		return ld16(&((struct vring_used *)d->device)->idx, __ATOMIC_ACQUIRE) != d->last_used;
	uint16_t flags = ld16(&((struct vring_packed_desc *)d->desc)[d->last_used].flags, __ATOMIC_ACQUIRE);
	return !!(flags & F_AVAIL) == d->used_wrap && !!(flags & F_USED) == d->used_wrap;
}

static int get_used_split(struct vring_drv *d, uint32_t *len, void **token)
{
	struct vring_used *used = d->device;
	uint16_t head, last;

	if (!vring_drv_has_used(d))
		return 0;
	struct vring_used_elem *ue = &used->ring[d->last_used & (d->size - 1)];
	uint32_t id = le32toh(ue->id);
	if (id >= d->size || !d->slots[id].busy)
		return -1;
	*len = le32toh(ue->len);
	*token = d->slots[id].token;
	head = id;
	last = head;
	for (unsigned i = 1; i < d->slots[id].ndescs; i++)
		last = d->next[last];
	d->next[last] = d->free_head;
	d->free_head = head;
	d->num_free += d->slots[id].ndescs;
	d->slots[id].busy = false;
	d->last_used++;
	return 1;
}

static int get_used_packed(struct vring_drv *d, uint32_t *len, void **token)
{
	struct vring_packed_desc *ring = d->desc;
	uint16_t id;

	if (!vring_drv_has_used(d))
		return 0;
	id = le16toh(ring[d->last_used].id);
	if (id >= d->size || !d->slots[id].busy)
		return -1;
	*len = le32toh(ring[d->last_used].len);
	*token = d->slots[id].token;
	unsigned next = d->last_used + d->slots[id].ndescs;
	if (next >= d->size) {
		next -= d->size;
		d->used_wrap = !d->used_wrap;
	}
	d->last_used = next;
	d->num_free += d->slots[id].ndescs;
	d->slots[id].busy = false;
	d->free_ids[d->nfree_ids++] = id;
	return 1;
}

int vring_drv_get_used(struct vring_drv *d, uint32_t *len, void **token)
{
	int r = d->cfg.packed ? get_used_packed(d, len, token) : get_used_split(d, len, token);

	if (r > 0)
		d->used++;
	return r;
}

void vring_drv_set_interrupts(struct vring_drv *d, bool enable)
{
	if (!d->cfg.packed) {
		struct vring_avail *avail = d->driver;
		if (d->cfg.event_idx)
			st16(vring_used_event(avail, d->size), enable ? d->last_used : (uint16_t)(d->last_used - 1),
			     __ATOMIC_RELAXED);
		else
			st16(&avail->flags, enable ? 0 : VRING_AVAIL_F_NO_INTERRUPT, __ATOMIC_RELAXED);
	} else {
		struct vring_packed_event *ev = d->driver;
		if (!enable) {
			st16(&ev->flags, VRING_PACKED_EVENT_FLAG_DISABLE, __ATOMIC_RELAXED);
		} else if (d->cfg.event_idx) {
			st16(&ev->off_wrap, d->last_used | (uint16_t)d->used_wrap << 15, __ATOMIC_RELAXED);
			st16(&ev->flags, VRING_PACKED_EVENT_FLAG_DESC, __ATOMIC_RELEASE);
		} else {
			st16(&ev->flags, VRING_PACKED_EVENT_FLAG_ENABLE, __ATOMIC_RELAXED);
		}
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}
