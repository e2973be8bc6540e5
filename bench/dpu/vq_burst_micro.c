/* SPDX-License-Identifier: MIT */
/*
 * The split ring's device side alone, in one thread: bursts of 32 one-segment chains (as a net
 * transmit queue carries them, EVENT_IDX on and kicks wanted) popped, completed with 0 bytes and
 * published, two ways that take turns in slices of 20 ms:
 *   one    vq_pop() per chain, vq_fill() per chain, vq_flush()   (kite-dpu's switch before bursts)
 *   burst  vq_pop_burst(), vq_fill_burst(), vq_flush()
 * The driver side is a few stores per chain (avail entries, avail index; the descriptors are written
 * once). Prints "vq_<way>_ns_per_chain MEDIAN ns (MIN-MAX)" of the thread's CPU time per chain, and
 * "vq_burst_vs_one MEDIAN x (MIN-MAX)": one's time over burst's, slice pair by slice pair. Driver
 * and device share a core and its cache here: this shows the instructions saved, not the cache
 * misses on lines another core wrote (see net_tput.py for those).
 * Usage: vq_burst_micro [SECONDS per way]   (default 1)
 */
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kite/guest_mem.h"
#include "kite/virtio_ring.h"
#include "kite/virtqueue.h"
#include "../micro.h"

#define QSIZE 256
#define BURST 32
#define MEM_SIZE (1u << 20)
#define DATA_GPA 0x10000ull
#define SLICE_S 0.02

static struct vq_elem elems[BURST];

struct ring {
	struct guest_mem gm;
	struct virtqueue vq;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t avail_idx;
};

static double cpu_s(void)
{
	return (double)micro_thread_cpu_ns() / 1e9;
}

static void ring_init(struct ring *r)
{
	struct gm_region reg = { .gpa = 0, .size = MEM_SIZE, .fd = -1 };
	struct vq_config cfg = { .size = QSIZE, .desc = 0, .driver = 0x1000, .device = 0x2000,
				 .features = 1ull << VIRTIO_F_EVENT_IDX | 1ull << VIRTIO_F_VERSION_1 };

	memset(r, 0, sizeof(*r));
	reg.hva = aligned_alloc(4096, MEM_SIZE);
	if (!reg.hva || gm_add(&r->gm, &reg) < 0) {
		fprintf(stderr, "vq_burst_micro: out of memory\n");
		exit(1);
	}
	memset(reg.hva, 0, MEM_SIZE);
	r->desc = reg.hva;
	r->avail = (struct vring_avail *)((char *)reg.hva + 0x1000);
	r->used = (struct vring_used *)((char *)reg.hva + 0x2000);
	for (unsigned i = 0; i < QSIZE; i++) {
		r->desc[i].addr = htole64(DATA_GPA + 2048ull * i);
		r->desc[i].len = htole32(76);   /* virtio-net header + 64-byte frame */
	}
	if (vq_setup(&r->vq, &r->gm, &cfg) < 0) {
		fprintf(stderr, "vq_burst_micro: vq_setup: %s\n", r->vq.broken_reason);
		exit(1);
	}
}

/* Driver: make BURST chains available (heads in ring order). */
static void offer(struct ring *r)
{
	for (unsigned i = 0; i < BURST; i++) {
		uint16_t idx = r->avail_idx++;
		r->avail->ring[idx % QSIZE] = htole16(idx % QSIZE);
	}
	__atomic_store_n(&r->avail->idx, htole16(r->avail_idx), __ATOMIC_RELEASE);
}

static unsigned serve(struct ring *r, bool burst)
{
	unsigned n = 0;

	offer(r);
	if (burst) {
		int got = vq_pop_burst(&r->vq, elems, BURST);
		n = got > 0 ? (unsigned)got : 0;
		vq_fill_burst(&r->vq, elems, NULL, n);
	} else {
		while (n < BURST && vq_pop(&r->vq, &elems[n]) > 0)
			n++;
		for (unsigned i = 0; i < n; i++)
			vq_fill(&r->vq, &elems[i], 0);
	}
	vq_flush(&r->vq);
	if (n != BURST || r->vq.broken) {
		fprintf(stderr, "vq_burst_micro: served %u of %u chains (%s)\n", n, BURST, r->vq.broken_reason);
		exit(1);
	}
	return n;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 1.0;
	unsigned slices = (unsigned)(secs / SLICE_S);
	struct ring r[2];
	double *ns[2], *ratio;

	if (slices < 5)
		slices = 5;
	ns[0] = calloc(slices, sizeof(double));
	ns[1] = calloc(slices, sizeof(double));
	ratio = calloc(slices, sizeof(double));
	if (!ns[0] || !ns[1] || !ratio)
		return 1;
	ring_init(&r[0]);
	ring_init(&r[1]);
	for (unsigned s = 0; s < slices; s++) {
		for (unsigned k = 0; k < 2; k++) {
			unsigned way = (s + k) % 2;   /* who goes first alternates */
			double t0 = cpu_s(), t;
			uint64_t chains = 0;

			do {
				for (unsigned i = 0; i < 64; i++)
					chains += serve(&r[way], way == 1);
				t = cpu_s();
			} while (t - t0 < SLICE_S);
			ns[way][s] = (t - t0) * 1e9 / (double)chains;
		}
		ratio[s] = ns[0][s] / ns[1][s];
	}
	micro_print_span("vq_", "one_ns_per_chain", "ns", 3, ns[0], slices);
	micro_print_span("vq_", "burst_ns_per_chain", "ns", 3, ns[1], slices);
	micro_print_span("vq_", "burst_vs_one", "x", 3, ratio, slices);
	for (unsigned k = 0; k < 2; k++) {
		free(r[k].gm.r[0].hva);
		free(ns[k]);
	}
	free(ratio);
	return 0;
}
