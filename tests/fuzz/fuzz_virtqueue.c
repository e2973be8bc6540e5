/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the virtqueue device side: the input is ring parameters plus the contents of guest
 * memory; the target sets the queue up and pops/pushes until the ring is empty or broken, checking
 * that every segment handed out lies inside guest memory and touching every byte of it (so ASan
 * catches any bad mapping).
 *
 * Input: struct fuzz_hdr, then bytes copied into R0 and R1 (the rest of memory stays zero).
 * Guest memory: R0 [0, 8K) and R1 [8K, 16K) (adjacent, separate allocations), R2 [32K, 36K).
 *
 * Builds: as a meson test (suite 'unit') with fuzz_regress.c, which runs tests/fuzz/corpus/virtqueue/
 * and 3000 generated inputs (fixed seed); with clang also as fuzz_virtqueue_libfuzzer
 * (-fsanitize=fuzzer):  build-x/tests/fuzz/fuzz_virtqueue_libfuzzer tests/fuzz/corpus/virtqueue
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_regress.h"
#include "kite/guest_mem.h"
#include "kite/log.h"
#include "kite/virtqueue.h"
#include "vring_driver.h"

#define R0_GPA 0x0ull
#define R1_GPA 0x2000ull
#define R2_GPA 0x8000ull
#define R01_SIZE 0x2000ull
#define R2_SIZE 0x1000ull
#define UVA_BASE 0x7f0000000000ull

#define HF_PACKED   0x01
#define HF_INDIRECT 0x02
#define HF_EVENT    0x04
#define HF_UVA      0x08
#define HF_RAWALIGN 0x10   /* do not align the ring offsets (exercise setup checks) */
#define HF_SETBASE  0x20
#define HF_READONLY 0x40   /* vq_set_device_reads_only(); generated inputs use DPDK-style packed tables */

struct fuzz_hdr {
	uint16_t size_sel;
	uint8_t flags;
	uint8_t op_seed;
	uint16_t desc_off, driver_off, device_off;
	uint16_t base;
	uint8_t pad[4];
};

static struct {
	unsigned long inputs, setups_failed, pops, packed_pops, indirect_pops, cross_pops, broken;
} st;

static uint16_t queue_size(const struct fuzz_hdr *h)
{
	if (h->flags & HF_PACKED)
		return h->size_sel % 300 + 1;
	return 1u << (h->size_sel % 9);
}

static uint64_t ring_off(uint16_t raw, uint8_t flags, unsigned align)
{
	uint64_t off = raw % (2 * R01_SIZE);
	return (flags & HF_RAWALIGN) ? off : off & ~(uint64_t)(align - 1);
}

/* Every segment must lie inside one region's host memory; touch it all. */
static void check_elem(const struct guest_mem *gm, const struct vq_elem *e)
{
	uint64_t out = 0, in = 0;
	volatile uint8_t sink = 0;

	if (e->out_num + e->in_num > VQ_MAX_SEGS)
		abort();
	for (unsigned i = 0; i < e->out_num + e->in_num; i++) {
		uint8_t *p = e->iov[i].iov_base;
		size_t len = e->iov[i].iov_len;
		bool inside = false;
		for (unsigned r = 0; r < gm->nr; r++) {
			uint8_t *b = gm->r[r].hva;
			if (p >= b && len <= gm->r[r].size && (size_t)(p - b) <= gm->r[r].size - len)
				inside = true;
		}
		if (!inside) {
			fprintf(stderr, "fuzz_virtqueue: segment %u [%p, +%zu) outside guest memory\n", i, p, len);
			abort();
		}
		if (i < e->out_num) {
			for (size_t k = 0; k < len; k++)
				sink ^= p[k];
			out += len;
		} else {
			memset(p, 0xa5, len);
			in += len;
		}
	}
	if (out != e->out_len || in != e->in_len)
		abort();
	(void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vq_elem elem, held[4];
	struct fuzz_hdr h;
	struct guest_mem gm = { 0 };
	struct virtqueue vq;
	uint8_t *blk[3];
	uint64_t rnd;

	if (size < sizeof(h))
		return 0;
	kite_log_set_level(KITE_LOG_ERR);
	memcpy(&h, data, sizeof(h));
	data += sizeof(h);
	size -= sizeof(h);
	st.inputs++;

	/* exact-size allocations so that ASan flags any byte outside a region */
	const uint64_t gpa[3] = { R0_GPA, R1_GPA, R2_GPA }, len[3] = { R01_SIZE, R01_SIZE, R2_SIZE };
	for (int i = 0; i < 3; i++) {
		blk[i] = calloc(1, len[i]);
		if (!blk[i])
			abort();
		struct gm_region r = { .gpa = gpa[i], .size = len[i], .hva = blk[i], .fd = -1,
				       .uva = UVA_BASE + gpa[i] };
		gm_add(&gm, &r);
	}
	for (int i = 0; i < 2 && size; i++) {
		size_t n = size < R01_SIZE ? size : R01_SIZE;
		memcpy(blk[i], data, n);
		data += n;
		size -= n;
	}

	struct vq_config cfg = {
		.size = queue_size(&h),
		.desc = ring_off(h.desc_off, h.flags, 16),
		.driver = ring_off(h.driver_off, h.flags, 4),
		.device = ring_off(h.device_off, h.flags, 4),
		.features = (h.flags & HF_PACKED ? 1ull << VIRTIO_F_RING_PACKED : 0) |
			    (h.flags & HF_INDIRECT ? 1ull << VIRTIO_F_INDIRECT_DESC : 0) |
			    (h.flags & HF_EVENT ? 1ull << VIRTIO_F_EVENT_IDX : 0),
		.addr_is_uva = h.flags & HF_UVA,
	};
	if (cfg.addr_is_uva) {
		cfg.desc += UVA_BASE;
		cfg.driver += UVA_BASE;
		cfg.device += UVA_BASE;
	}
	vq_reset(&vq);
	if (h.flags & HF_SETBASE)
		vq_set_base(&vq, h.base);
	if (vq_setup(&vq, &gm, &cfg) < 0) {
		st.setups_failed++;
		goto out;
	}
	if (h.flags & HF_READONLY)
		vq_set_device_reads_only(&vq, true);

	rnd = h.op_seed * 0x100000001b3ull + 1;
	unsigned nheld = 0;
	bool unpopped = false;
	for (unsigned step = 0; step < 4 * VQ_MAX_SIZE / 64 + 64; step++) {
		int r = vq_pop(&vq, &elem);
		if (r < 0)
			break;
		if (r == 0) {
			if (!vq_enable_kicks(&vq, true))
				break;
			continue;
		}
		check_elem(&gm, &elem);
		st.pops++;
		if (vq.packed)
			st.packed_pops++;
		if (elem.ndescs && vq.indirect && elem.out_num + elem.in_num > elem.ndescs)
			st.indirect_pops++;
		switch (fuzz_rand(&rnd) % 8) {
		case 0:
			if (!unpopped) {
				vq_unpop(&vq, &elem);
				unpopped = true;
				continue;
			}
			/* fall through */
		case 1:
		case 2:
			if (nheld < 4) {
				held[nheld++] = elem;
				break;
			}
			/* fall through */
		default:
			vq_push(&vq, &elem, elem.in_len ? fuzz_rand(&rnd) % (elem.in_len + 1) : 0);
			vq_should_notify(&vq);
		}
		unpopped = false;
		if (nheld == 4 || fuzz_rand(&rnd) % 4 == 0) {
			for (unsigned i = 0; i < nheld; i++)
				vq_fill(&vq, &held[i], 0);
			vq_flush(&vq);
			nheld = 0;
			vq_should_notify(&vq);
		}
		if (fuzz_rand(&rnd) % 16 == 0)
			vq_enable_kicks(&vq, false);
	}
	for (unsigned i = 0; i < nheld; i++)
		vq_fill(&vq, &held[i], 0);
	vq_flush(&vq);
	vq_set_base(&vq, vq_get_base(&vq));
	if (vq.broken) {
		st.broken++;
		if (!vq.broken_reason[0])
			abort();
	}
out:
	for (int i = 0; i < 3; i++)
		free(blk[i]);
	return 0;
}

/* ---- generator for the regression run: valid rings from the test driver, then damage ---- */

size_t fuzz_make_input(uint64_t seed, uint8_t *buf, size_t cap)
{
	uint64_t s = seed | 1;
	struct fuzz_hdr h = { 0 };
	struct guest_mem gm = { 0 };
	struct vring_drv drv;
	uint8_t *mem;
	const size_t img = 2 * R01_SIZE;

	if (cap < sizeof(h) + img)
		return 0;
	mem = calloc(1, img + R2_SIZE);
	if (!mem)
		abort();
	struct gm_region r01 = { .gpa = 0, .size = img, .hva = mem, .fd = -1 };
	struct gm_region r2 = { .gpa = R2_GPA, .size = R2_SIZE, .hva = mem + img, .fd = -1 };
	gm_add(&gm, &r01);
	gm_add(&gm, &r2);

	h.flags = fuzz_rand(&s) & (HF_PACKED | HF_INDIRECT | HF_EVENT | HF_UVA | HF_SETBASE | HF_READONLY);
	if (fuzz_rand(&s) % 32 == 0)
		h.flags |= HF_RAWALIGN;
	h.op_seed = fuzz_rand(&s);
	h.size_sel = (h.flags & HF_PACKED) ? fuzz_rand(&s) % 64 : 1 + fuzz_rand(&s) % 6;  /* split 2..64 */
	h.desc_off = 0;
	h.driver_off = 0x1000 + (fuzz_rand(&s) % 4) * 4;
	h.device_off = 0x1800;
	if (fuzz_rand(&s) % 16 == 0)   /* sometimes rings anywhere */
		h.desc_off = fuzz_rand(&s), h.driver_off = fuzz_rand(&s), h.device_off = fuzz_rand(&s);

	struct vring_drv_config dc = {
		.size = queue_size(&h), .packed = h.flags & HF_PACKED, .event_idx = h.flags & HF_EVENT,
		.desc = ring_off(h.desc_off, 0, 16), .driver = ring_off(h.driver_off, 0, 4),
		.device = ring_off(h.device_off, 0, 4),
		.indirect_gpa = 0x2000, .indirect_max = 4,
	};
	if (vring_drv_init(&drv, &gm, &dc) == 0) {
		drv.packed_indirect_dpdk = h.flags & HF_READONLY;
		unsigned nbuf = fuzz_rand(&s) % (dc.size + 2);
		for (unsigned b = 0; b < nbuf; b++) {
			struct vring_buf v[4];
			unsigned n = 1 + fuzz_rand(&s) % 4, nout = fuzz_rand(&s) % (n + 1);
			for (unsigned i = 0; i < n; i++) {
				uint64_t where = fuzz_rand(&s) % 8;
				/* mostly R1 data, sometimes across R0/R1, into the gap, or R2 */
				v[i].addr = where < 5 ? 0x3000 + fuzz_rand(&s) % 0x1000 :
					    where == 5 ? R1_GPA - 1 - fuzz_rand(&s) % 64 :
					    where == 6 ? R2_GPA + fuzz_rand(&s) % R2_SIZE : fuzz_rand(&s) % 0x10000;
				v[i].len = fuzz_rand(&s) % 300;
				v[i].write = i >= nout;
			}
			bool ind = (h.flags & HF_INDIRECT) && fuzz_rand(&s) % 2;
			if (vring_drv_add(&drv, v, n, ind, NULL) < 0)
				break;
		}
		if (h.flags & HF_SETBASE)
			h.base = 0;   /* the rings start at 0 here */
		vring_drv_free(&drv);
	}
	/* damage: a few random bytes in the ring area */
	unsigned flips = fuzz_rand(&s) % 4;
	for (unsigned i = 0; i < flips; i++)
		mem[fuzz_rand(&s) % 0x2400] ^= 1u << (fuzz_rand(&s) % 8);
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), mem, img);
	free(mem);
	return sizeof(h) + img;
}

int fuzz_report(void)
{
	printf("fuzz_virtqueue: %lu inputs, %lu setups refused, %lu pops (%lu packed, %lu indirect), %lu queues broken\n",
	       st.inputs, st.setups_failed, st.pops, st.packed_pops, st.indirect_pops, st.broken);
	/* proportions hold for any seed once there are a few hundred inputs */
	unsigned long n = st.inputs / 100;
	if (st.pops < 50 * n || st.packed_pops < 10 * n || st.indirect_pops < 10 * n || st.broken < 10 * n ||
	    st.setups_failed == 0) {
		printf("fuzz_virtqueue: the run did not exercise enough of the ring code\n");
		return 1;
	}
	return 0;
}
