/* SPDX-License-Identifier: MIT */
/*
 * A driver that scribbles over its rings while the device pops: a second thread keeps flipping
 * random bits in the descriptor table, avail ring and indirect tables (split) or the descriptor ring
 * (packed). Whatever it writes, every element the device hands out must lie inside guest memory and
 * its lengths must add up, and every pop must end (1, 0 or -1). ASan checks the rest.
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kite/log.h"
#include "vq_test_mem.h"

struct scribbler {
	uint8_t *area;
	size_t len;
	uint64_t seed;
	int stop;
	unsigned long writes;
};

static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *scribble(void *arg)
{
	struct scribbler *sc = arg;

	while (!__atomic_load_n(&sc->stop, __ATOMIC_RELAXED)) {
		uint64_t r = next_rand(&sc->seed);
		__atomic_fetch_xor(&sc->area[r % sc->len], (uint8_t)(1u << ((r >> 32) % 8)), __ATOMIC_RELAXED);
		__atomic_fetch_add(&sc->writes, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static bool inside(struct vq_test *t, const struct iovec *v)
{
	for (unsigned r = 0; r < t->gm.nr; r++) {
		uint8_t *b = t->gm.r[r].hva, *p = v->iov_base;
		if (p >= b && v->iov_len <= t->gm.r[r].size && (size_t)(p - b) <= t->gm.r[r].size - v->iov_len)
			return true;
	}
	return false;
}

static void run(struct vq_test *t, bool packed)
{
	struct scribbler sc = { .seed = packed ? 0x1234567 : 0x7654321 };
	unsigned long pops = 0, broken = 0;
	pthread_t th;

	for (unsigned round = 0; round < 150; round++) {
		assert_int_equal(vqt_init(t, 32, packed, 1ull << VIRTIO_F_INDIRECT_DESC), 0);
		for (unsigned i = 0; i < 16; i++) {
			struct vring_buf b[3] = { { T_R1 + 64 * i, 32, false }, { T_R1 - 8, 16, false },
						  { T_R2 + 128 * i, 100, true } };
			assert_true(vring_drv_add(&t->drv, b, (i % 3) + 1, i % 2, NULL) >= 0);
		}
		/* undisturbed, the rings are fine */
		assert_int_equal(vq_pop(&t->vq, &t->elem), 1);
		vq_push(&t->vq, &t->elem, 0);
		sc.area = t->blocks[0];           /* R0: all rings and indirect tables */
		sc.len = T_INDIRECT + 32 * T_INDIRECT_MAX * 16;
		sc.stop = 0;
		unsigned long before = __atomic_load_n(&sc.writes, __ATOMIC_RELAXED);
		assert_int_equal(pthread_create(&th, NULL, scribble, &sc), 0);
		/* let the scribbler get going so that it overlaps the pops */
		while (__atomic_load_n(&sc.writes, __ATOMIC_RELAXED) < before + 200)
			sched_yield();
		for (unsigned step = 0; step < 64; step++) {
			int r = vq_pop(&t->vq, &t->elem);
			if (r < 0) {
				broken++;
				assert_true(t->vq.broken_reason[0] != '\0');
				break;
			}
			if (r == 0)
				continue;
			pops++;
			uint64_t out = 0, in = 0;
			assert_true(t->elem.out_num + t->elem.in_num <= VQ_MAX_SEGS);
			for (unsigned i = 0; i < t->elem.out_num + t->elem.in_num; i++) {
				assert_true(inside(t, &t->elem.iov[i]));
				*(i < t->elem.out_num ? &out : &in) += t->elem.iov[i].iov_len;
			}
			assert_int_equal(out, t->elem.out_len);
			assert_int_equal(in, t->elem.in_len);
			vq_push(&t->vq, &t->elem, 0);
		}
		__atomic_store_n(&sc.stop, 1, __ATOMIC_RELAXED);
		pthread_join(th, NULL);
		vqt_fini(t);
	}
	print_message("%s: %lu pops, %lu broken queues, %lu scribbles\n", packed ? "packed" : "split", pops,
		      broken, sc.writes);
}

static void test_scribble_split(void **state)
{
	run(*state, false);
}

static void test_scribble_packed(void **state)
{
	run(*state, true);
}

static int setup(void **state)
{
	static struct vq_test t;

	kite_log_init("test_vq_scribble", KITE_LOG_ERR);
	*state = &t;
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scribble_split),
		cmocka_unit_test(test_scribble_packed),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
