/* SPDX-License-Identifier: MIT */
/*
 * kite's virtio-blk glue of the inline writes (virtio/blk.c, kite/inline_io.h) on a fake machine
 * (no KVM, the machine's event loop: --iothreads off) with io_uring and a real image file, the
 * inline writes' clock faked: every inline write "takes" 30 us. One kick's batch of 16 writes does
 * the first four inline (0, 30, 60 and 90 us spent before each) and hands the other twelve to
 * io_uring (IW_ROUND_NS = 100 us); the next kick's batch starts afresh (four more inline). Every
 * request completes OK, once, with its bytes in the image, and the counters (blk_get_counters:
 * GET /metrics, --stats) say how many went inline.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_machine.h"
#include "kite/evloop.h"
#include "kite/inline_io.h"
#include "kite/virtio_blk_dev.h"
#include "kite/virtio_dev.h"
#include "vring_driver.h"

#define RAM_SIZE (1u << 20)
#define QSIZE 64
#define HDR_GPA 0x10000ull                  /* request i's header at + 16 i, its status at STATUS_GPA + i */
#define STATUS_GPA 0x11000ull
#define DATA_GPA 0x20000ull                 /* request i's 4 KiB at + 4096 i */
#define BLOCK 4096u
#define INLINE_NS (30u * 1000)              /* what one inline write takes on the fake clock */

static uint64_t fake_now = 1000000000ull;
static unsigned nowait_tries, inline_calls;

/* The file system has no non-blocking buffered write (as ext4 and tmpfs): the probe says so; a
 * blocking write is the real one on the image and advances the fake clock. */
static ssize_t fake_pwritev2(int fd, const struct iovec *iov, int iovcnt, off_t off, int flags)
{
	if (flags & RWF_NOWAIT) {
		nowait_tries++;
		errno = EOPNOTSUPP;
		return -1;
	}
	inline_calls++;
	fake_now += INLINE_NS;
	return pwritev2(fd, iov, iovcnt, off, flags);
}

static ssize_t fake_preadv2(int fd, const struct iovec *iov, int iovcnt, off_t off, int flags)
{
	(void)fd, (void)iov, (void)iovcnt, (void)off, (void)flags;
	fail_msg("this test makes no reads");
	return -1;
}

static uint64_t fake_clock(void)
{
	return fake_now;
}

static uint64_t no_sleeps(void)
{
	return 0;
}

static const struct iw_ops fake_ops = { fake_pwritev2, fake_clock, no_sleeps, fake_preadv2 };

static struct fake_machine fm;
static struct vring_drv drv;
static unsigned interrupts;

static void on_interrupt(struct virtio_dev *dev, bool config, uint16_t vector)
{
	(void)dev, (void)config, (void)vector;
	interrupts++;
}

static uint8_t *gpa(uint64_t a)
{
	return (uint8_t *)fm.ram + a;
}

static uint8_t stamp(unsigned i, unsigned k)
{
	return (uint8_t)(i * 37 + k * 11 + 1);
}

/* Request i: write block i (4 KiB, filled with its stamp) of the image. */
static void add_write(unsigned i)
{
	struct virtio_blk_outhdr h = { .type = VIRTIO_BLK_T_OUT, .sector = (uint64_t)i * (BLOCK / 512) };
	struct vring_buf b[3] = {
		{ HDR_GPA + 16ull * i, sizeof(h), false },
		{ DATA_GPA + (uint64_t)BLOCK * i, BLOCK, false },
		{ STATUS_GPA + i, 1, true },
	};

	memcpy(gpa(b[0].addr), &h, sizeof(h));
	for (unsigned k = 0; k < BLOCK; k++)
		gpa(b[1].addr)[k] = stamp(i, k);
	*gpa(b[2].addr) = 0xee;
	assert_true(vring_drv_add(&drv, b, 3, false, (void *)(uintptr_t)(i + 1)) >= 0);
}

static struct blk_counters counters(struct virtio_dev *dev)
{
	struct blk_counters c;

	assert_true(blk_get_counters(dev, &c));
	return c;
}

/* Run the loop until n more requests are used (a bound on rounds, not a time: a lost request
 * fails the test), each exactly once, each OK. */
static void collect(bool *seen, unsigned n)
{
	for (unsigned got = 0, rounds = 0; got < n; rounds++) {
		uint32_t len;
		void *token;
		int r = vring_drv_get_used(&drv, &len, &token);

		assert_true(r >= 0);
		if (r == 0) {
			assert_true(rounds < 1000);
			evloop_run_once(fm.m.loop, 100);
			continue;
		}
		unsigned i = (unsigned)(uintptr_t)token - 1;
		assert_false(seen[i]);
		seen[i] = true;
		assert_int_equal(*gpa(STATUS_GPA + i), 0);     /* VIRTIO_BLK_S_OK */
		got++;
	}
}

static void test_batch_budget(void **state)
{
	char path[256];
	const char *t = getenv("TMPDIR");
	bool seen[24] = { false };

	(void)state;
	snprintf(path, sizeof(path), "%s/kite-blk-inline-XXXXXX", t && *t ? t : "/tmp");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	fake_machine_init(&fm, RAM_SIZE);
	struct blk_options o = { .path = path, .inline_ops = &fake_ops };
	struct virtio_dev *dev = blk_create(&fm.m, &o, 0);
	assert_non_null(dev);
	dev->interrupt = on_interrupt;

	/* the driver: VERSION_1 and FLUSH (writes not write-through, so they may go inline), one queue */
	struct vring_drv_config rc = { .size = QSIZE, .desc = 0x0, .driver = 0x1000, .device = 0x2000 };
	assert_int_equal(vring_drv_init(&drv, &fm.mem, &rc), 0);
	pthread_mutex_lock(&dev->lock);
	dev->guest_features = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_BLK_F_FLUSH);
	virtio_dev_set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	dev->q[0].size = QSIZE;
	dev->q[0].desc = rc.desc;
	dev->q[0].driver = rc.driver;
	dev->q[0].device = rc.device;
	virtio_dev_queue_enable(dev, 0);
	virtio_dev_set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
				   VIRTIO_STATUS_DRIVER_OK);
	pthread_mutex_unlock(&dev->lock);
	assert_true(dev->q[0].enabled);

	/* one kick, 16 writes: one batch */
	for (unsigned i = 0; i < 16; i++)
		add_write(i);
	virtio_dev_kick(dev, 0);
	evloop_run_once(fm.m.loop, 1000);     /* the kick: blk_queue_notify, one batch */
	struct blk_counters c = counters(dev);
	assert_int_equal(c.write_ops, 16);
	assert_int_equal(c.inline_writes, 4);
	assert_int_equal(inline_calls, 4);
	assert_int_equal(nowait_tries, 1);
	collect(seen, 16);
	/* the next kick's batch has its own budget */
	for (unsigned i = 16; i < 24; i++)
		add_write(i);
	virtio_dev_kick(dev, 0);
	evloop_run_once(fm.m.loop, 1000);     /* the kick: blk_queue_notify, one batch */
	c = counters(dev);
	assert_int_equal(c.write_ops, 24);
	assert_int_equal(c.inline_writes, 8);
	assert_int_equal(c.inline_slow, 0);
	assert_int_equal(c.errors, 0);
	collect(seen, 8);
	assert_true(interrupts > 0);

	/* every block in the image, whichever way it went */
	static uint8_t back[BLOCK];
	for (unsigned i = 0; i < 24; i++) {
		assert_int_equal(pread(fd, back, BLOCK, (off_t)i * BLOCK), (ssize_t)BLOCK);
		for (unsigned k = 0; k < BLOCK; k++)
			if (back[k] != stamp(i, k))
				fail_msg("block %u byte %u: %#x, expected %#x", i, k, back[k], stamp(i, k));
	}
	virtio_dev_destroy(dev);
	vring_drv_free(&drv);
	fake_machine_fini(&fm);
	unlink(path);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_batch_budget),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
