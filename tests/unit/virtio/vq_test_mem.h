/* SPDX-License-Identifier: MIT */
/*
 * Test guest memory for the virtqueue tests: three malloc'd regions,
 *   R0 [0x00000, 0x10000)  rings and indirect tables
 *   R1 [0x10000, 0x20000)  data, adjacent to R0 (a buffer may cross R0/R1: two host blocks)
 *   R2 [0x30000, 0x40000)  data, after a gap of unmapped guest memory
 * Rings: split desc 0x0, avail 0x1000, used 0x2000; packed ring 0x0, driver event 0x1000, device
 * event 0x1010; indirect tables from 0x4000 (max 8 entries each).
 */
#ifndef VQ_TEST_MEM_H
#define VQ_TEST_MEM_H

#include "kite/guest_mem.h"
#include "kite/virtqueue.h"
#include "vring_driver.h"

#define T_R0 0x00000ull
#define T_R1 0x10000ull
#define T_GAP 0x20000ull
#define T_R2 0x30000ull
#define T_RSIZE 0x10000ull
#define T_DESC 0x0ull
#define T_DRIVER 0x1000ull
#define T_DEVICE_SPLIT 0x2000ull
#define T_DEVICE_PACKED 0x1010ull
#define T_INDIRECT 0x4000ull
#define T_INDIRECT_MAX 8

struct vq_test {
	struct guest_mem gm;
	void *blocks[3];
	struct vring_drv drv;
	struct virtqueue vq;
	struct vq_elem elem;
};

/* Build memory, driver rings and the device queue. Returns 0 or -1. */
int vqt_init(struct vq_test *t, uint16_t size, bool packed, uint64_t features);
void vqt_fini(struct vq_test *t);
/* Host pointer of a guest address (asserts it is mapped). */
void *vqt_ptr(struct vq_test *t, uint64_t gpa, uint64_t len);
/* Raw split descriptor write, for hostile tests. */
void vqt_split_desc(struct vq_test *t, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next);

#endif
