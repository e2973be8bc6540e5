/* SPDX-License-Identifier: MIT */
/*
 * kite's virtio-blk glue of the inline writes (virtio/blk.c, kite/inline_io.h) on a fake machine
 * (no KVM) with io_uring and a real image file, the inline writes' clock faked: every inline write
 * "takes" 30 us. On the machine's event loop (--iothreads off) one kick's batch of 16 writes does
 * the first four inline (0, 30, 60 and 90 us spent before each) and hands the other twelve to
 * io_uring (IW_ROUND_NS = 100 us); the next kick's batch starts afresh (four more inline). A device
 * with an I/O thread of its own (the default; the test runs that thread's loop itself, the thread is
 * never started) has no batch budget: all 16 go inline. Every request completes OK, once, with its
 * bytes in the image, and the counters (blk_get_counters: GET /metrics, --stats) say how many went
 * inline (those cases with map=off: writes through pwritev2). Reads are copied from a mapping of the
 * image (kite/inline_io.h, "Mapped reads and writes"): an image that shrinks beneath it gives IOERR
 * for the read that faults only, and an image swap maps the new image. Writes are copied into a
 * writable mapping: no system write, every byte in the image, a FLUSH completes, and a write past a
 * shrunk image's end faults, is redone through io_uring (OK, the bytes land) and drops the write
 * mapping for good.
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
#include "kite/iothread.h"
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
static struct evloop *dev_loop;       /* where the device's kicks and completions run */
static struct iothread *own_thread;   /* the device's I/O thread (never started), or NULL */

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

/* Request i of the given type at sector: its header, then len bytes of request i's data (the device
 * writes them when in; the caller filled them otherwise), then its status byte (0xee until used). */
static void add_req(unsigned i, uint32_t type, uint64_t sector, uint32_t len, bool in)
{
	struct virtio_blk_outhdr h = { .type = type, .sector = sector };
	struct vring_buf b[3] = {
		{ HDR_GPA + 16ull * i, sizeof(h), false },
		{ DATA_GPA + (uint64_t)BLOCK * i, len, in },
		{ STATUS_GPA + i, 1, true },
	};

	memcpy(gpa(b[0].addr), &h, sizeof(h));
	*gpa(b[2].addr) = 0xee;
	assert_true(vring_drv_add(&drv, b, 3, false, (void *)(uintptr_t)(i + 1)) >= 0);
}

/* Request i: write block i (4 KiB, filled with its stamp) of the image. */
static void add_write(unsigned i)
{
	for (unsigned k = 0; k < BLOCK; k++)
		gpa(DATA_GPA + (uint64_t)BLOCK * i)[k] = stamp(i, k);
	add_req(i, VIRTIO_BLK_T_OUT, (uint64_t)i * (BLOCK / 512), BLOCK, false);
}

static struct blk_counters counters(struct virtio_dev *dev)
{
	struct blk_counters c;

	assert_true(blk_get_counters(dev, &c));
	return c;
}

/* The next used request's index, the loop run until there is one (a bound on rounds, not a time: a
 * lost request fails the test). */
static unsigned next_used(void)
{
	for (unsigned rounds = 0;; rounds++) {
		uint32_t len;
		void *token;
		int r = vring_drv_get_used(&drv, &len, &token);

		assert_true(r >= 0);
		if (r > 0)
			return (unsigned)(uintptr_t)token - 1;
		assert_true(rounds < 1000);
		evloop_run_once(dev_loop, 100);
	}
}

/* n more requests used, each exactly once, each OK. */
static void collect(bool *seen, unsigned n)
{
	for (unsigned got = 0; got < n;) {
		unsigned i = next_used();

		assert_false(seen[i]);
		seen[i] = true;
		assert_int_equal(*gpa(STATUS_GPA + i), 0);     /* VIRTIO_BLK_S_OK */
		got++;
	}
}

/* The machine gives the device an I/O thread of its own, as kite's vm.c does by default. */
static struct iothread *f_iothread(void *opaque, const char *name)
{
	(void)opaque;
	own_thread = iothread_new(name);
	return own_thread;
}

static struct machine_ops ops_with_iothread;
static char path[256];
static int img_fd = -1;

/* A fresh image, machine and device (with an I/O thread of its own or on the machine's loop; map:
 * the default, else map=off), the driver's one queue live; the fake write path's counts and clock
 * reset. */
static struct virtio_dev *setup_map(bool iothread, bool map)
{
	const char *t = getenv("TMPDIR");

	nowait_tries = inline_calls = interrupts = 0;
	own_thread = NULL;
	snprintf(path, sizeof(path), "%s/kite-blk-inline-XXXXXX", t && *t ? t : "/tmp");
	img_fd = mkstemp(path);
	assert_true(img_fd >= 0);
	assert_int_equal(ftruncate(img_fd, 1 << 20), 0);
	fake_machine_init(&fm, RAM_SIZE);
	if (iothread) {
		ops_with_iothread = *fm.m.ops;
		ops_with_iothread.iothread = f_iothread;
		fm.m.ops = &ops_with_iothread;
	}
	struct blk_options o = { .path = path, .inline_ops = &fake_ops, .no_map = !map };
	struct virtio_dev *dev = blk_create(&fm.m, &o, 0);
	assert_non_null(dev);
	assert_true(iothread ? dev->io == own_thread && own_thread : dev->io == NULL);
	dev_loop = dev->io ? iothread_loop(dev->io) : fm.m.loop;
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
	return dev;
}

static struct virtio_dev *setup(bool iothread)
{
	return setup_map(iothread, true);
}

/* Blocks 0..n-1 of the image hold what requests 0..n-1 wrote, whichever way they went; then
 * everything setup made is freed. */
static void check_and_teardown(struct virtio_dev *dev, unsigned n)
{
	static uint8_t back[BLOCK];

	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(pread(img_fd, back, BLOCK, (off_t)i * BLOCK), (ssize_t)BLOCK);
		for (unsigned k = 0; k < BLOCK; k++)
			if (back[k] != stamp(i, k))
				fail_msg("block %u byte %u: %#x, expected %#x", i, k, back[k], stamp(i, k));
	}
	virtio_dev_destroy(dev);
	iothread_free(own_thread);     /* after the device: it leaves the thread's loop first */
	vring_drv_free(&drv);
	fake_machine_fini(&fm);
	unlink(path);
	close(img_fd);
}

/* One kick with n writes (requests first..first+n-1), served in one run of the device's loop. */
static void kick_batch(struct virtio_dev *dev, unsigned first, unsigned n)
{
	for (unsigned i = first; i < first + n; i++)
		add_write(i);
	virtio_dev_kick(dev, 0);
	evloop_run_once(dev_loop, 1000);     /* the kick: blk_queue_notify, one batch */
}

/* The counters after a batch: writes in all, inlined of them inline (each one call of the fake
 * write), one probe, nothing slept, no error. */
static void expect_writes(struct virtio_dev *dev, unsigned writes, unsigned inlined)
{
	struct blk_counters c = counters(dev);

	assert_int_equal(c.write_ops, writes);
	assert_int_equal(c.inline_writes, inlined);
	assert_int_equal(inline_calls, inlined);
	assert_int_equal(nowait_tries, 1);
	assert_int_equal(c.inline_slow, 0);
	assert_int_equal(c.errors, 0);
}

static void test_batch_budget(void **state)
{
	bool seen[24] = { false };

	(void)state;
	struct virtio_dev *dev = setup_map(false, false);

	kick_batch(dev, 0, 16);         /* one kick, 16 writes: one batch, 4 inline, 12 to io_uring */
	expect_writes(dev, 16, 4);
	collect(seen, 16);
	kick_batch(dev, 16, 8);         /* the next kick's batch has its own budget */
	expect_writes(dev, 24, 8);
	collect(seen, 8);
	assert_true(interrupts > 0);
	check_and_teardown(dev, 24);
}

/* An I/O thread of its own: no batch budget, the whole batch inline (30 us each on the fake clock,
 * 480 us in all), none to io_uring's workers; the guard is not engaged (nothing slept). */
static void test_own_iothread_no_budget(void **state)
{
	bool seen[16] = { false };

	(void)state;
	struct virtio_dev *dev = setup_map(true, false);

	kick_batch(dev, 0, 16);
	expect_writes(dev, 16, 16);
	collect(seen, 16);
	assert_true(interrupts > 0);
	check_and_teardown(dev, 16);
}

/* Request i: read block blk of the image into request i's 4 KiB. */
static void add_read(unsigned i, unsigned blk)
{
	memset(gpa(DATA_GPA + (uint64_t)BLOCK * i), 0, BLOCK);
	add_req(i, VIRTIO_BLK_T_IN, (uint64_t)blk * (BLOCK / 512), BLOCK, true);
}

/* Request i: write-zeroes (zeroes) or discard of block blk, one 16-byte segment. */
static void add_dwz(unsigned i, bool zeroes, unsigned blk)
{
	struct virtio_blk_discard_write_zeroes seg = { .sector = (uint64_t)blk * (BLOCK / 512), .num_sectors = BLOCK / 512 };

	memcpy(gpa(DATA_GPA + (uint64_t)BLOCK * i), &seg, sizeof(seg));
	add_req(i, zeroes ? VIRTIO_BLK_T_WRITE_ZEROES : VIRTIO_BLK_T_DISCARD, 0, sizeof(seg), false);
}

/* Run the loop until request i (the only one in flight) is used; its status. */
static uint8_t wait_one(unsigned i)
{
	assert_int_equal(next_used(), i);
	return *gpa(STATUS_GPA + i);
}

/* Reads of a cache=writeback image are copied from a mapping of it (kite/inline_io.h, "Mapped
 * reads"): the blocks' bytes reach the guest, counted as inline reads, no system read made (the fake
 * preadv2 fails the test); after a write-zeroes and a discard the mapped reads see zeroes. The image
 * then shrinks to one block beneath the mapping: a read past the
 * new end faults, goes to io_uring, which reads short: IOERR for that request only; the device goes
 * on, its later reads through io_uring (the inline count stays), block 0's bytes still right. */
static void test_mapped_reads_and_shrink(void **state)
{
	static uint8_t blk[BLOCK];

	(void)state;
	struct virtio_dev *dev = setup(true);

	for (unsigned i = 0; i < 8; i++) {
		for (unsigned k = 0; k < BLOCK; k++)
			blk[k] = stamp(i, k);
		assert_int_equal(pwrite(img_fd, blk, BLOCK, (off_t)i * BLOCK), (ssize_t)BLOCK);
	}
	for (unsigned i = 0; i < 8; i++) {
		add_read(i, 7 - i);
		virtio_dev_kick(dev, 0);
		assert_int_equal(wait_one(i), 0);
		for (unsigned k = 0; k < BLOCK; k++)
			assert_int_equal(gpa(DATA_GPA + (uint64_t)BLOCK * i)[k], stamp(7 - i, k));
	}
	struct blk_counters c = counters(dev);
	assert_int_equal(c.read_ops, 8);
	assert_int_equal(c.inline_reads, 8);
	assert_int_equal(c.errors, 0);

	/* write-zeroes of block 2 and discard of block 4 (fallocate on the file): the next mapped
	 * reads see zeroes there, block 3 keeps its bytes */
	add_dwz(8, true, 2);
	virtio_dev_kick(dev, 0);
	assert_int_equal(wait_one(8), 0);
	add_dwz(9, false, 4);
	virtio_dev_kick(dev, 0);
	assert_int_equal(wait_one(9), 0);
	for (unsigned i = 10, b = 2; b <= 4; i++, b++) {
		add_read(i, b);
		memset(gpa(DATA_GPA + (uint64_t)BLOCK * i), 0xee, BLOCK);
		virtio_dev_kick(dev, 0);
		assert_int_equal(wait_one(i), 0);
		for (unsigned k = 0; k < BLOCK; k++)
			assert_int_equal(gpa(DATA_GPA + (uint64_t)BLOCK * i)[k], b == 3 ? stamp(3, k) : 0);
	}
	c = counters(dev);
	assert_int_equal(c.read_ops, 11);
	assert_int_equal(c.inline_reads, 11);

	assert_int_equal(ftruncate(img_fd, BLOCK), 0);
	add_read(13, 5);
	virtio_dev_kick(dev, 0);
	assert_int_equal(wait_one(13), 1);         /* VIRTIO_BLK_S_IOERR */
	add_read(14, 0);
	virtio_dev_kick(dev, 0);
	assert_int_equal(wait_one(14), 0);
	for (unsigned k = 0; k < BLOCK; k++)
		assert_int_equal(gpa(DATA_GPA + (uint64_t)BLOCK * 14)[k], stamp(0, k));
	c = counters(dev);
	assert_int_equal(c.read_ops, 13);
	assert_int_equal(c.inline_reads, 11);
	assert_int_equal(c.errors, 1);
	check_and_teardown(dev, 0);
}

/* An image swap (PATCH /drives) maps the new image: on the machine's loop (no I/O thread to pause),
 * block 3 of the first image, then of the second, each read from its own mapping (inline reads, no
 * system read), with that image's bytes. */
static void test_mapped_reads_follow_swap(void **state)
{
	static uint8_t blk[BLOCK];
	char path2[256];
	const char *t = getenv("TMPDIR");

	(void)state;
	struct virtio_dev *dev = setup(false);

	for (unsigned k = 0; k < BLOCK; k++)
		blk[k] = stamp(3, k);
	assert_int_equal(pwrite(img_fd, blk, BLOCK, 3 * BLOCK), (ssize_t)BLOCK);
	snprintf(path2, sizeof(path2), "%s/kite-blk-inline2-XXXXXX", t && *t ? t : "/tmp");
	int fd2 = mkstemp(path2);
	assert_true(fd2 >= 0);
	assert_int_equal(ftruncate(fd2, 1 << 20), 0);
	for (unsigned k = 0; k < BLOCK; k++)
		blk[k] = stamp(33, k);
	assert_int_equal(pwrite(fd2, blk, BLOCK, 3 * BLOCK), (ssize_t)BLOCK);
	close(fd2);

	add_read(0, 3);
	virtio_dev_kick(dev, 0);
	assert_int_equal(wait_one(0), 0);
	for (unsigned k = 0; k < BLOCK; k++)
		assert_int_equal(gpa(DATA_GPA)[k], stamp(3, k));
	assert_int_equal(blk_replace_image(dev, path2), 0);
	add_read(1, 3);
	virtio_dev_kick(dev, 0);
	assert_int_equal(wait_one(1), 0);
	for (unsigned k = 0; k < BLOCK; k++)
		assert_int_equal(gpa(DATA_GPA + BLOCK)[k], stamp(33, k));
	struct blk_counters c = counters(dev);
	assert_int_equal(c.inline_reads, 2);
	assert_int_equal(c.image_swaps, 1);
	assert_int_equal(c.errors, 0);
	check_and_teardown(dev, 0);
	unlink(path2);
}

/* Writes of a cache=writeback disk are copied into a writable mapping of the image: 16 writes in one
 * kick, all inline, no system write (the fake pwritev2 is never called, nor a probe), every byte in
 * the image; a FLUSH after them completes OK (an fdatasync through io_uring). The image then shrinks
 * to one block beneath the mapping: a write of block 5 faults, is redone whole through io_uring (OK:
 * the file grows back, the bytes land), the write mapping is gone (the next write goes through
 * io_uring, the inline count stays), no error counted. */
static void test_mapped_writes_and_shrink(void **state)
{
	bool seen[24] = { false };
	static uint8_t back[BLOCK];

	(void)state;
	struct virtio_dev *dev = setup(true);

	kick_batch(dev, 0, 16);
	collect(seen, 16);
	struct blk_counters c = counters(dev);
	assert_int_equal(c.write_ops, 16);
	assert_int_equal(c.inline_writes, 16);
	assert_int_equal(inline_calls, 0);
	assert_int_equal(nowait_tries, 0);
	add_req(16, VIRTIO_BLK_T_FLUSH, 0, 0, false);
	virtio_dev_kick(dev, 0);
	collect(seen, 1);
	assert_int_equal(counters(dev).flush_ops, 1);
	for (unsigned i = 0; i < 16; i++) {
		assert_int_equal(pread(img_fd, back, BLOCK, (off_t)i * BLOCK), (ssize_t)BLOCK);
		for (unsigned k = 0; k < BLOCK; k++)
			if (back[k] != stamp(i, k))
				fail_msg("block %u byte %u: %#x, expected %#x", i, k, back[k], stamp(i, k));
	}

	assert_int_equal(ftruncate(img_fd, BLOCK), 0);
	add_write(5);
	virtio_dev_kick(dev, 0);
	assert_int_equal(next_used(), 5);
	assert_int_equal(*gpa(STATUS_GPA + 5), 0);
	add_write(6);
	virtio_dev_kick(dev, 0);
	assert_int_equal(next_used(), 6);
	assert_int_equal(*gpa(STATUS_GPA + 6), 0);
	c = counters(dev);
	assert_int_equal(c.write_ops, 18);
	assert_int_equal(c.inline_writes, 16);
	assert_int_equal(c.errors, 0);
	assert_int_equal(inline_calls, 0);
	for (unsigned i = 5; i <= 6; i++) {
		assert_int_equal(pread(img_fd, back, BLOCK, (off_t)i * BLOCK), (ssize_t)BLOCK);
		for (unsigned k = 0; k < BLOCK; k++)
			if (back[k] != stamp(i, k))
				fail_msg("block %u byte %u after the shrink: %#x, expected %#x", i, k, back[k], stamp(i, k));
	}
	check_and_teardown(dev, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_batch_budget),
		cmocka_unit_test(test_own_iothread_no_budget),
		cmocka_unit_test(test_mapped_reads_and_shrink),
		cmocka_unit_test(test_mapped_reads_follow_swap),
		cmocka_unit_test(test_mapped_writes_and_shrink),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
