/* SPDX-License-Identifier: MIT */
/*
 * The checks of an indirect table that do not depend on the ring layout: feature negotiated, not
 * chained, non-empty multiple of 16 bytes, at most VQ_MAX_SIZE entries, inside one region. (The
 * per-descriptor checks, vq_chain_add, are inline in vq_internal.h: they run for every descriptor of
 * the data paths.)
 */
#include <inttypes.h>

#include "vq_internal.h"

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
