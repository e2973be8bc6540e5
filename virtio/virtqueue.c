/* SPDX-License-Identifier: MIT */
/*
 * Virtqueue device side: setup checks, state, dispatch to the split (vq_split.c) or packed
 * (vq_packed.c) ring, and the iovec copy helpers. See include/kite/virtqueue.h for the contract.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kite/copy_small.h"
#include "kite/log.h"
#include "vq_internal.h"

void vq_set_broken(struct virtqueue *vq, const char *fmt, ...)
{
	va_list ap;

	if (vq->broken)
		return;   /* keep the first reason: it is the cause */
	va_start(ap, fmt);
	vsnprintf(vq->broken_reason, sizeof(vq->broken_reason), fmt, ap);
	va_end(ap);
	vq->broken = true;
	log_warn_rl("virtqueue (size %u): broken: %s", vq->size, vq->broken_reason);
}

static void setup_error(struct virtqueue *vq, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void setup_error(struct virtqueue *vq, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(vq->broken_reason, sizeof(vq->broken_reason), fmt, ap);
	va_end(ap);
	log_warn_rl("virtqueue setup: %s", vq->broken_reason);
}

/* Host pointer of one ring after its alignment and placement checks, or NULL (reason set). */
static void *map_ring(struct virtqueue *vq, const struct guest_mem *mem, const struct vq_config *cfg,
		      const char *what, uint64_t addr, uint64_t len, unsigned align)
{
	void *p;

	if (addr % align) {
		setup_error(vq, "%s ring at 0x%" PRIx64 " is not %u-byte aligned", what, addr, align);
		return NULL;
	}
	p = cfg->addr_is_uva ? gm_uva_ptr(mem, addr, len) : gm_ptr(mem, addr, len);
	if (!p) {
		setup_error(vq, "%s ring [0x%" PRIx64 ", +%" PRIu64 ") is not inside guest memory (%s)",
			    what, addr, len, cfg->addr_is_uva ? "frontend address" : "guest physical");
		return NULL;
	}
	if ((uintptr_t)p % align) {
		setup_error(vq, "%s ring at 0x%" PRIx64 " is mapped at a misaligned host address", what, addr);
		return NULL;
	}
	return p;
}

int vq_setup(struct virtqueue *vq, const struct guest_mem *mem, const struct vq_config *cfg)
{
	bool packed = cfg->features & (1ull << VIRTIO_F_RING_PACKED);
	uint16_t size = cfg->size;
	void *desc, *driver, *device;

	vq->ready = false;
	if (size == 0 || size > VQ_MAX_SIZE || (!packed && (size & (size - 1)))) {
		setup_error(vq, "bad %s queue size %u", packed ? "packed" : "split", size);
		return -1;
	}
	if (packed) {
		desc = map_ring(vq, mem, cfg, "descriptor", cfg->desc, vring_packed_desc_size(size),
				VRING_PACKED_DESC_ALIGN);
		driver = desc ? map_ring(vq, mem, cfg, "driver event", cfg->driver,
					 sizeof(struct vring_packed_event), VRING_PACKED_EVENT_ALIGN) : NULL;
		device = driver ? map_ring(vq, mem, cfg, "device event", cfg->device,
					   sizeof(struct vring_packed_event), VRING_PACKED_EVENT_ALIGN) : NULL;
	} else {
		desc = map_ring(vq, mem, cfg, "descriptor", cfg->desc, vring_split_desc_size(size),
				VRING_SPLIT_DESC_ALIGN);
		driver = desc ? map_ring(vq, mem, cfg, "avail", cfg->driver, vring_split_avail_size(size),
					 VRING_SPLIT_AVAIL_ALIGN) : NULL;
		device = driver ? map_ring(vq, mem, cfg, "used", cfg->device, vring_split_used_size(size),
					   VRING_SPLIT_USED_ALIGN) : NULL;
	}
	if (!device)
		return -1;
	if (!vq->pos_valid) {
		vq->last_avail_idx = 0;
		vq->used_idx = 0;
		vq->avail_wrap = vq->used_wrap = true;
	} else if (packed) {
		/* A base set before setup still carries the wrap bit in bit 15 (idempotent otherwise). */
		vq->last_avail_idx &= 0x7fff;
		vq->used_idx &= 0x7fff;
	}
	if (packed && (vq->last_avail_idx >= size || vq->used_idx >= size)) {
		setup_error(vq, "ring position %u/%u outside packed queue of size %u", vq->last_avail_idx,
			    vq->used_idx, size);
		return -1;
	}
	vq->mem = mem;
	vq->size = size;
	vq->packed = packed;
	vq->event_idx = cfg->features & (1ull << VIRTIO_F_EVENT_IDX);
	vq->indirect = cfg->features & (1ull << VIRTIO_F_INDIRECT_DESC);
	vq->desc = desc;
	vq->driver = driver;
	vq->device = device;
	vq->signalled_used_valid = false;
	vq->used_pending = 0;
	vq->avail_shadow = vq->last_avail_idx;
	vq->kicks_off = false;
	vq->broken = false;
	vq->broken_reason[0] = '\0';
	vq->pos_valid = true;
	vq->ready = true;
	return 0;
}

void vq_set_device_reads_only(struct virtqueue *vq, bool on)
{
	vq->device_reads_only = on;
}

void vq_reset(struct virtqueue *vq)
{
	memset(vq, 0, sizeof(*vq));
}

static bool usable(const struct virtqueue *vq)
{
	return vq->ready && !vq->broken;
}

int vq_pop(struct virtqueue *vq, struct vq_elem *elem)
{
	int r;

	if (vq->broken)
		return -1;
	if (!vq->ready)
		return 0;
	r = vq->packed ? vq_packed_pop(vq, elem) : vq_split_pop(vq, elem);
	if (r > 0)
		vq->popped++;
	return r;
}

int vq_pop_burst(struct virtqueue *vq, struct vq_elem *elems, unsigned max)
{
	int r = 0;

	if (vq->broken)
		return -1;
	if (!vq->ready || max == 0)
		return 0;
	if (!vq->packed) {
		r = vq_split_pop_burst(vq, elems, max);
	} else {
		int one;

		while ((unsigned)r < max && (one = vq_packed_pop(vq, &elems[r])) > 0)
			r++;
		if (r == 0 && one < 0)
			r = -1;
	}
	if (r > 0)
		vq->popped += (unsigned)r;
	return r;
}

int vq_pop_head(struct virtqueue *vq, uint16_t head, struct vq_elem *elem)
{
	int r;

	if (vq->broken)
		return -1;
	if (!vq->ready)
		return 0;
	if (vq->packed) {
		vq_set_broken(vq, "re-reading a chain by its head (head %u) needs a split ring", head);
		return -1;
	}
	r = vq_split_pop_head(vq, head, elem);
	if (r > 0)
		vq->popped++;
	return r;
}

int vq_pop_chain(struct virtqueue *vq, const struct vring_packed_desc *descs, unsigned n, struct vq_elem *elem)
{
	int r;

	if (vq->broken)
		return -1;
	if (!vq->ready)
		return 0;
	if (!vq->packed) {
		vq_set_broken(vq, "serving a saved packed chain needs a packed ring");
		return -1;
	}
	r = vq_packed_pop_chain(vq, descs, n, elem);
	if (r > 0)
		vq->popped++;
	return r;
}

void vq_unpop(struct virtqueue *vq, const struct vq_elem *elem)
{
	if (!usable(vq))
		return;
	if (vq->packed)
		vq_packed_unpop(vq, elem);
	else
		vq->last_avail_idx--;
	vq->popped--;
}

void vq_fill(struct virtqueue *vq, const struct vq_elem *elem, uint32_t written)
{
	if (!usable(vq))
		return;
	if (written > elem->in_len) {
		vq_set_broken(vq, "device claims %u bytes written into a %" PRIu64 "-byte buffer",
			      written, elem->in_len);
		return;
	}
	if (vq->packed)
		vq_packed_fill(vq, elem, written);
	else
		vq_split_fill(vq, elem, written);
	vq->pushed++;
}

void vq_fill_burst(struct virtqueue *vq, const struct vq_elem *elems, const uint32_t *written, unsigned n)
{
	if (!usable(vq))
		return;
	for (unsigned i = 0; written && i < n; i++) {
		if (written[i] > elems[i].in_len) {
			vq_set_broken(vq, "device claims %u bytes written into a %" PRIu64 "-byte buffer",
				      written[i], elems[i].in_len);
			return;
		}
	}
	if (vq->packed) {
		for (unsigned i = 0; i < n; i++)
			vq_packed_fill(vq, &elems[i], written ? written[i] : 0);
	} else {
		vq_split_fill_burst(vq, elems, written, n);
	}
	vq->pushed += n;
}

void vq_flush(struct virtqueue *vq)
{
	if (!usable(vq))
		return;
	if (vq->packed)
		vq_packed_flush(vq);
	else
		vq_split_flush(vq);
}

void vq_push(struct virtqueue *vq, const struct vq_elem *elem, uint32_t written)
{
	vq_fill(vq, elem, written);
	vq_flush(vq);
}

bool vq_should_notify(struct virtqueue *vq)
{
	if (!usable(vq))
		return false;
	return vq->packed ? vq_packed_should_notify(vq) : vq_split_should_notify(vq);
}

bool vq_enable_kicks(struct virtqueue *vq, bool enable)
{
	if (!usable(vq))
		return false;
	return vq->packed ? vq_packed_enable_kicks(vq, enable) : vq_split_enable_kicks(vq, enable);
}

bool vq_has_avail(struct virtqueue *vq)
{
	if (!usable(vq))
		return false;
	return vq->packed ? vq_packed_has_avail(vq) : vq_split_has_avail(vq);
}

/*
 * Split: the next avail index. Packed: the next avail slot | avail wrap << 15. Setting a base puts
 * the used position at the same place (in-flight buffers are forgotten, as after a reconnection).
 */
uint32_t vq_get_base(const struct virtqueue *vq)
{
	if (vq->packed)
		return (vq->last_avail_idx & 0x7fff) | (uint32_t)vq->avail_wrap << 15;
	return vq->last_avail_idx;
}

void vq_set_base(struct virtqueue *vq, uint32_t base)
{
	if (vq->ready && vq->packed) {
		vq->last_avail_idx = base & 0x7fff;
		vq->avail_wrap = base & 0x8000;
		if (vq->last_avail_idx >= vq->size)
			vq_set_broken(vq, "vring base %u outside packed queue of size %u", vq->last_avail_idx,
				      vq->size);
	} else if (vq->ready) {
		vq->last_avail_idx = base;
	} else {
		/* Not set up yet: the ring kind is unknown; vq_setup() interprets (and checks) it. */
		vq->last_avail_idx = base & 0xffff;
		vq->avail_wrap = base & 0x8000;
	}
	vq->used_idx = vq->last_avail_idx;
	vq->avail_shadow = vq->last_avail_idx;
	vq->used_wrap = vq->avail_wrap;
	vq->used_pending = 0;
	vq->signalled_used_valid = false;
	vq->pos_valid = true;
}

static size_t iov_copy(const struct iovec *iov, unsigned n, size_t skip, void *buf, size_t len, bool to_buf)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		size_t seg = iov[i].iov_len;
		if (skip >= seg) {
			skip -= seg;
			continue;
		}
		size_t chunk = seg - skip;
		if (chunk > len - done)
			chunk = len - done;
		if (to_buf)
			copy_small((uint8_t *)buf + done, (uint8_t *)iov[i].iov_base + skip, chunk);
		else
			copy_small((uint8_t *)iov[i].iov_base + skip, (uint8_t *)buf + done, chunk);
		done += chunk;
		skip = 0;
	}
	return done;
}

size_t vq_iov_to_buf(const struct iovec *iov, unsigned n, size_t skip, void *buf, size_t len)
{
	return iov_copy(iov, n, skip, buf, len, true);
}

size_t vq_buf_to_iov(const struct iovec *iov, unsigned n, size_t skip, const void *buf, size_t len)
{
	return iov_copy(iov, n, skip, (void *)buf, len, false);
}
