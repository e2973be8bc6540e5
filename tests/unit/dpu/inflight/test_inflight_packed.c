/* SPDX-License-Identifier: MIT */
/*
 * Packed-ring inflight tracking (dpu/inflight_packed.c) with out-of-order completion, against a real
 * device-side virtqueue and the test driver (tests/lib/vring). A device pops chains (1-3
 * descriptors), completes random subsets of what it holds in a shuffled order and flushes them; the
 * backend "crashes" at every point of that cycle (in the middle of a pop, after the fills, after the
 * flush recorded its batch, after the ring published it, after the flush ended, after an unpop), and
 * a fresh virtqueue + ipk over the same ring and region take over. The driver checks that every
 * buffer it posted comes back exactly once, with its length: nothing lost, nothing duplicated, no
 * used element it must not take. Then a region the frontend scribbled on: refused with a reason,
 * never an access outside ring or region.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../../../dpu/inflight_packed.h"
#include "kite/virtqueue.h"
#include "vring_driver.h"

#define QSIZE 16
#define MEM   (1u << 20)
#define FEATURES ((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_RING_PACKED))
#define MAX_TOKENS 20000

static uint8_t *mem;
static struct guest_mem gm;
static struct vring_drv drv;
static struct vhost_inflight_packed *reg;
static const struct vq_config cfg = { .size = QSIZE, .desc = 0, .driver = 0x1000, .device = 0x2000,
				      .features = FEATURES };

/* the device: its virtqueue, tracking and the chains it holds */
static struct virtqueue vq;
static struct ipk k;
static struct vq_elem held[QSIZE + 1];
static unsigned nheld;

/* the driver: how often each token came back, the writable length of each */
static unsigned got[MAX_TOKENS], posted, completed;
static uint32_t wlen[MAX_TOKENS];
static unsigned crashes, resubmitted, finished, rolled_back;

static uint64_t seed;
static unsigned rnd(unsigned n)
{
	seed = seed * 6364136223846793005ull + 1442695040888963407ull;
	return (unsigned)(seed >> 33) % n;
}

/* (Re)start the device on the ring and region; base: the frontend's (a restart ignores it) */
static void start_device(uint32_t base)
{
	struct ipk_start_info in;

	memset(&vq, 0, sizeof(vq));
	assert_int_equal(vq_setup(&vq, &gm, &cfg), 0);
	assert_int_equal(ipk_start(&k, reg, &vq, base, &in), 0);
	assert_string_equal(in.why, "");
	assert_false(vq.broken);
	resubmitted += in.resubmit;
	/* served again oldest first (fetch order) */
	for (unsigned i = 1; i < k.nresubmit; i++)
		assert_true(reg->desc[k.resubmit[i - 1]].counter < reg->desc[k.resubmit[i]].counter);
	finished += in.finished_flush;
	rolled_back += in.rolled_back;
	nheld = 0;
}

static int setup(void **state)
{
	struct gm_region r = { .gpa = 0, .size = MEM, .fd = -1 };
	struct vring_drv_config dc = { .size = QSIZE, .packed = true, .desc = 0, .driver = 0x1000, .device = 0x2000 };
	struct ipk_start_info in;

	(void)state;
	mem = aligned_alloc(4096, MEM);
	memset(mem, 0, MEM);
	r.hva = mem;
	memset(&gm, 0, sizeof(gm));
	assert_int_equal(gm_add(&gm, &r), 0);
	assert_int_equal(vring_drv_init(&drv, &gm, &dc), 0);
	reg = calloc(1, vhost_inflight_packed_size(QSIZE));
	reg->version = 1;        /* as GET_INFLIGHT_FD leaves it: no packed session yet */
	reg->desc_num = QSIZE;
	memset(&vq, 0, sizeof(vq));
	assert_int_equal(vq_setup(&vq, &gm, &cfg), 0);
	/* a fresh region: the frontend's base, nothing in flight */
	assert_int_equal(ipk_start(&k, reg, &vq, 0x8000, &in), 0);
	assert_true(in.fresh);
	assert_int_equal(in.used_pos, 0x8000);
	assert_int_equal(in.avail_pos, 0x8000);
	memset(got, 0, sizeof(got));
	posted = completed = crashes = resubmitted = finished = rolled_back = 0;
	nheld = 0;
	seed = 12345;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ipk_stop(&k);
	vring_drv_free(&drv);
	free(reg);
	free(mem);
	return 0;
}

/* The driver posts up to n buffers: 1-3 descriptors, the last device-writable with a length unique
 * to the token. Some chains get the AVAIL/USED bits of their later slots cleared (a driver need only
 * set them on the head). */
static void driver_post(unsigned n)
{
	for (unsigned i = 0; i < n && posted + 1 < MAX_TOKENS; i++) {
		unsigned t = posted + 1, nd = 1 + rnd(3);
		struct vring_buf b[3] = { { 0x10000, 16, false }, { 0x11000, 16, false }, { 0x20000, 0, true } };
		uint16_t slot = drv.next_avail;

		b[nd - 1] = (struct vring_buf){ 0x20000, 1 + t % 4000, true };
		if (vring_drv_add(&drv, b, nd, false, (void *)(uintptr_t)t) < 0)
			return;
		wlen[t] = b[nd - 1].len;
		posted = t;
		if (nd > 1 && rnd(4) == 0) {
			struct vring_packed_desc *ring = drv.desc;
			for (unsigned j = 1; j < nd; j++)
				ring[(slot + j) % QSIZE].flags &= htole16((uint16_t)~0x8080);
		}
	}
}

/* The driver takes every used buffer: each token once, with the length the device wrote. */
static void driver_collect(void)
{
	uint32_t len;
	void *tok;
	int r;

	while ((r = vring_drv_get_used(&drv, &len, &tok)) == 1) {
		uintptr_t t = (uintptr_t)tok;
		assert_true(t >= 1 && t <= posted);
		assert_int_equal(len, wlen[t]);
		assert_int_equal(++got[t], 1);
		completed++;
	}
	assert_int_equal(r, 0);
}

enum crash { C_NONE, C_MID_POP, C_AFTER_UNPOP, C_AFTER_FILL, C_AFTER_BEGIN, C_AFTER_PUBLISH, C_AFTER_END, C_COUNT };

/* Pop one chain: those in flight at start first, then the ring. mid_pop: crash between the ring pop
 * and its record. */
static int device_pop(struct vq_elem *e, bool mid_pop)
{
	uint32_t pos = vq_get_base(&vq);
	int r = ipk_pop_resubmit(&k, &vq, e);

	if (r)
		return r;
	if ((r = vq_pop(&vq, e)) != 1 || mid_pop)
		return r;
	assert_int_equal(ipk_popped(&k, &vq, pos, e), 0);
	return 1;
}

static void device_unpop(const struct vq_elem *e)
{
	if (ipk_unpopped(&k, e))
		vq_unpop(&vq, e);
	else
		vq.popped--;
}

/* One device round; returns true if it crashed (the caller restarts it). */
static bool device_round(enum crash c)
{
	unsigned want = rnd(QSIZE), order[QSIZE + 1], n, popped = 0;
	int r;

	for (unsigned i = 0; i < want && nheld < QSIZE; i++) {
		r = device_pop(&held[nheld], c == C_MID_POP && i + 1 == want);
		assert_int_not_equal(r, -1);
		if (r == 0)
			break;
		if (c == C_MID_POP && i + 1 == want)
			return true;
		nheld++;
		popped++;
	}
	if (popped && rnd(3) == 0) {      /* only the newest pop may go back */
		device_unpop(&held[--nheld]);     /* as a switch port's receive path gives buffers back */
		if (c == C_AFTER_UNPOP)
			return true;
	}
	/* complete a random subset, shuffled */
	n = nheld ? rnd(nheld + 1) : 0;
	for (unsigned i = 0; i < nheld; i++)
		order[i] = i;
	for (unsigned i = nheld; i > 1; i--) {
		unsigned j = rnd(i), t = order[i - 1];
		order[i - 1] = order[j];
		order[j] = t;
	}
	for (unsigned i = 0; i < n; i++) {
		struct vq_elem *e = &held[order[i]];
		vq_fill(&vq, e, (uint32_t)e->in_len);
		assert_true(ipk_filled(&k, e));
	}
	/* drop the filled ones from what the device holds */
	bool gone[QSIZE + 1] = { false };
	for (unsigned i = 0; i < n; i++)
		gone[order[i]] = true;
	unsigned kept = 0;
	for (unsigned i = 0; i < nheld; i++)
		if (!gone[i])
			held[kept++] = held[i];
	nheld = kept;
	if (c == C_AFTER_FILL)
		return true;
	ipk_flush_begin(&k, &vq);
	if (c == C_AFTER_BEGIN)
		return true;
	vq_flush(&vq);
	if (c == C_AFTER_PUBLISH)
		return true;
	ipk_flush_end(&k, &vq);
	assert_false(vq.broken);
	return c == C_AFTER_END;
}

/* Many rounds with crashes at every point, then everything completes: every token exactly once. */
static void run(unsigned rounds, unsigned crash_every)
{
	for (unsigned i = 0; i < rounds; i++) {
		enum crash c = rnd(crash_every) == 0 ? (enum crash)(1 + rnd(C_COUNT - 1)) : C_NONE;

		driver_post(rnd(5));
		if (device_round(c)) {
			crashes++;
			/* the driver may look at the ring while the backend is down */
			driver_collect();
			/* the frontend cannot know a packed ring's position after a crash: a wrong base */
			start_device(0x8000 | 5);
		}
		driver_collect();
	}
	/* drain without crashes */
	for (unsigned i = 0; i < 1000 && completed < posted; i++) {
		device_round(C_NONE);
		driver_collect();
	}
	assert_int_equal(completed, posted);
	for (unsigned t = 1; t <= posted; t++)
		assert_int_equal(got[t], 1);
	assert_int_equal(nheld, 0);
}

static void test_out_of_order_crashes(void **state)
{
	(void)state;
	run(4000, 4);
	/* every kind of restart happened */
	assert_true(posted > 1000);
	assert_true(crashes > 500);
	assert_true(resubmitted > 100);
	assert_true(finished > 20);
	assert_true(rolled_back > 20);
}

/* The same sequence without crashes: the tracking does not change what the ring does. */
static void test_out_of_order_no_crash(void **state)
{
	(void)state;
	run(2000, 1u << 30);
	assert_int_equal(crashes, 0);
}

static void restart_hostile(const char *expect)
{
	struct ipk_start_info in;

	memset(&vq, 0, sizeof(vq));
	assert_int_equal(vq_setup(&vq, &gm, &cfg), 0);
	assert_int_equal(ipk_start(&k, reg, &vq, 0x8000, &in), 0);
	assert_true(in.why[0]);
	assert_non_null(strstr(in.why, expect));
	assert_int_equal(in.resubmit, 0);
	assert_int_equal(in.avail_pos, in.used_pos);
	assert_true((in.used_pos & 0x7fff) < QSIZE);
	nheld = 0;
}

/* A region the frontend wrote nonsense into: each lie is found and named. */
static void test_hostile_region(void **state)
{
	(void)state;
	seed = 99;
	for (int kind = 0; kind < 5; kind++) {
		/* a chain in flight to lie about */
		struct vring_buf b[2] = { { 0x10000, 16, false }, { 0x20000, 64, true } };
		struct vq_elem e;

		assert_true(vring_drv_add(&drv, b, 2, false, (void *)1) >= 0);
		assert_int_equal(device_pop(&e, false), 1);
		uint16_t h = e.tag;
		switch (kind) {
		case 0:
			reg->desc[h].num = 200;                          /* longer than the ring */
			restart_hostile("chain of 200");
			break;
		case 1:
			reg->desc[h].next = h;                           /* a chain looping on itself */
			restart_hostile("runs into entry");
			break;
		case 2:
			reg->desc[h].next = 0x7777;                      /* a link out of the ring */
			restart_hostile("runs into entry");
			break;
		case 3:
			reg->old_used_idx = reg->used_idx = 0x7000;      /* positions outside the ring */
			restart_hostile("outside the ring");
			break;
		case 4:
			for (unsigned i = 0; i < QSIZE; i++) {           /* more in flight than the ring holds */
				reg->desc[i].inflight = 1;
				reg->desc[i].num = 2;
				reg->desc[i].next = (uint16_t)((i + 1) % QSIZE);
			}
			restart_hostile("");
			break;
		}
		/* the driver's buffer never comes back; give the driver a fresh ring for the next lie */
		vring_drv_free(&drv);
		struct vring_drv_config dc = { .size = QSIZE, .packed = true, .desc = 0, .driver = 0x1000, .device = 0x2000 };
		assert_int_equal(vring_drv_init(&drv, &gm, &dc), 0);
		memset(reg, 0, vhost_inflight_packed_size(QSIZE));
		start_device(0x8000);
	}
	/* random bytes: never a crash or a position outside the ring */
	for (int i = 0; i < 300; i++) {
		struct ipk_start_info in;
		uint8_t *p = (uint8_t *)reg;

		for (size_t j = 0; j < vhost_inflight_packed_size(QSIZE); j++)
			p[j] = (uint8_t)rnd(256);
		if (i % 3 == 0) {      /* mostly plausible headers, so the walks get exercised */
			reg->features = 1ull << VIRTIO_F_RING_PACKED;
			reg->version = 1;
			reg->used_idx = reg->old_used_idx = (uint16_t)rnd(QSIZE);
			for (unsigned j = 0; j < QSIZE; j++) {
				reg->desc[j].inflight = (uint8_t)rnd(2);
				reg->desc[j].num = (uint16_t)rnd(4);
				reg->desc[j].next = (uint16_t)rnd(QSIZE + 2);
			}
		}
		memset(&vq, 0, sizeof(vq));
		assert_int_equal(vq_setup(&vq, &gm, &cfg), 0);
		assert_int_equal(ipk_start(&k, reg, &vq, 0x8000, &in), 0);
		assert_true((in.used_pos & 0x7fff) < QSIZE || in.fresh);
		assert_true(in.resubmit <= QSIZE);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_out_of_order_crashes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_order_no_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_region, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
