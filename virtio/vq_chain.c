/* SPDX-License-Identifier: MIT */
/*
 * Turning guest descriptors into an element's iovecs, with every check that does not depend on the
 * ring layout: device-readable before device-writable, addr+len not wrapping, every byte inside guest
 * memory (a buffer spanning adjacent regions becomes one iovec per region), at most VQ_MAX_SEGS
 * segments, and indirect tables (feature negotiated, not chained, non-empty multiple of 16 bytes,
 * at most VQ_MAX_SIZE entries, inside one region).
 */
#include <inttypes.h>

#include "vq_internal.h"

void vq_chain_start(struct vq_chain *c, struct virtqueue *vq, struct vq_elem *elem)
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
static const struct gm_region *region_of(const struct guest_mem *gm, uint64_t gpa)
{
	for (unsigned i = 0; i < gm->nr; i++) {
		const struct gm_region *r = &gm->r[i];
		if (gpa >= r->gpa && gpa - r->gpa < r->size)
			return r;
	}
	return NULL;
}

int vq_chain_add(struct vq_chain *c, const struct vq_desc *d)
{
	struct virtqueue *vq = c->vq;
	struct vq_elem *elem = c->elem;
	bool write = d->flags & VRING_DESC_F_WRITE;
	uint64_t addr = d->addr, left = d->len;

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
		const struct gm_region *r = region_of(vq->mem, addr);
		if (!r) {
			vq_set_broken(vq, "descriptor [0x%" PRIx64 ", +%u) outside guest memory at 0x%" PRIx64,
				      d->addr, d->len, addr);
			return -1;
		}
		if (c->nseg >= VQ_MAX_SEGS) {
			vq_set_broken(vq, "chain has more than %d segments", VQ_MAX_SEGS);
			return -1;
		}
		uint64_t off = addr - r->gpa;
		uint64_t chunk = r->size - off < left ? r->size - off : left;
		elem->iov[c->nseg].iov_base = (uint8_t *)r->hva + off;
		elem->iov[c->nseg].iov_len = chunk;
		c->nseg++;
		if (write)
			elem->in_num++;
		else
			elem->out_num++;
		addr += chunk;
		left -= chunk;
	}
	if (write)
		elem->in_len += d->len;
	else
		elem->out_len += d->len;
	return 0;
}

const void *vq_chain_indirect(struct vq_chain *c, const struct vq_desc *d, unsigned *count)
{
	struct virtqueue *vq = c->vq;
	const void *table;

	if (!vq->indirect) {
		vq_set_broken(vq, "indirect descriptor but VIRTIO_F_INDIRECT_DESC not negotiated");
		return NULL;
	}
	if (d->flags & VRING_DESC_F_NEXT) {
		vq_set_broken(vq, "indirect descriptor with the NEXT flag");
		return NULL;
	}
	if (d->len == 0 || d->len % sizeof(struct vring_desc) ||
	    d->len / sizeof(struct vring_desc) > VQ_MAX_SIZE) {
		vq_set_broken(vq, "bad indirect table length %u (need a non-zero multiple of 16, at most %d entries)",
			      d->len, VQ_MAX_SIZE);
		return NULL;
	}
	table = gm_ptr(vq->mem, d->addr, d->len);
	if (!table) {
		vq_set_broken(vq, "indirect table [0x%" PRIx64 ", +%u) not inside one guest memory region",
			      d->addr, d->len);
		return NULL;
	}
	*count = d->len / sizeof(struct vring_desc);
	return table;
}
