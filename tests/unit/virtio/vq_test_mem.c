/* SPDX-License-Identifier: MIT */
#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include "vq_test_mem.h"

int vqt_init(struct vq_test *t, uint16_t size, bool packed, uint64_t features)
{
	static const uint64_t base[3] = { T_R0, T_R1, T_R2 };
	struct vring_drv_config dc = {
		.size = size, .packed = packed, .event_idx = features & (1ull << VIRTIO_F_EVENT_IDX),
		.desc = T_DESC, .driver = T_DRIVER, .device = packed ? T_DEVICE_PACKED : T_DEVICE_SPLIT,
		.indirect_gpa = T_INDIRECT, .indirect_max = T_INDIRECT_MAX,
	};
	struct vq_config vc = {
		.size = size, .desc = dc.desc, .driver = dc.driver, .device = dc.device,
		.features = features | (packed ? 1ull << VIRTIO_F_RING_PACKED : 0),
	};

	memset(t, 0, sizeof(*t));
	for (int i = 0; i < 3; i++) {
		t->blocks[i] = aligned_alloc(4096, T_RSIZE);
		if (!t->blocks[i])
			return -1;
		memset(t->blocks[i], 0, T_RSIZE);
		struct gm_region r = { .gpa = base[i], .size = T_RSIZE, .hva = t->blocks[i], .fd = -1 };
		if (gm_add(&t->gm, &r) < 0)
			return -1;
	}
	if (vring_drv_init(&t->drv, &t->gm, &dc) < 0)
		return -1;
	return vq_setup(&t->vq, &t->gm, &vc);
}

void vqt_fini(struct vq_test *t)
{
	vring_drv_free(&t->drv);
	for (int i = 0; i < 3; i++)
		free(t->blocks[i]);
}

void *vqt_ptr(struct vq_test *t, uint64_t gpa, uint64_t len)
{
	void *p = gm_ptr(&t->gm, gpa, len);

	if (!p)
		abort();
	return p;
}

void vqt_split_desc(struct vq_test *t, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	struct vring_desc *d = (struct vring_desc *)vqt_ptr(t, T_DESC + 16ull * i, 16);

	d->addr = htole64(addr);
	d->len = htole32(len);
	d->flags = htole16(flags);
	d->next = htole16(next);
}
