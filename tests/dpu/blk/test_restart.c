/* SPDX-License-Identifier: MIT */
/*
 * kill -9 kite-dpu under a running frontend with requests in flight, restart it, reconnect (same guest
 * memory, rings and inflight region): every request completes with OK and every byte is in the image.
 * With split rings and with packed rings (the volume's "packed": true; the packed inflight layout), and
 * on a buffered image, whose writes the poller does itself where io_uring would punt them (ext4, tmpfs:
 * include/kite/inline_io.h): they follow the same inflight bookkeeping.
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
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "blk_driver.h"
#include "dpu_harness.h"
#include "kite/virtqueue.h"
#include "kite/virtio_blk.h"

#define NQ 2
#define NSLOTS 64
#define REQ_BYTES (64u * 1024)
#define ROUNDS 3

static void pattern(uint8_t *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 7 + seed * 13 + (i >> 11));
}

static uint64_t sector_of(unsigned q, unsigned s)
{
	return ((uint64_t)q * NSLOTS + s) * (REQ_BYTES / 512);
}

static void kill_restart(bool packed, bool buffered)
{
	struct dpu_proc p;
	struct blkdrv d;
	char img[300], sock[300], cfg[1024];
	static uint8_t buf[REQ_BYTES], file[REQ_BYTES];

	assert_int_equal(dpu_tmpdir(&p), 0);
	dpu_path(&p, "r.img", img, sizeof(img));
	dpu_path(&p, "r.sock", sock, sizeof(sock));
	assert_int_equal(dpu_make_image(img, NQ * NSLOTS * REQ_BYTES, 0), 0);
	snprintf(cfg, sizeof(cfg), "{\"volumes\": [{\"name\": \"r\", \"image\": \"%s\", \"socket\": \"%s\", \"queues\": %d, \"packed\": %s, \"direct\": %s}]}",
		 img, sock, NQ, packed ? "true" : "false", buffered ? "false" : "true");
	assert_int_equal(dpu_start(&p, cfg), 0);
	if (blkdrv_open(&d, sock, NQ, 256, NSLOTS, (1ull << VIRTIO_BLK_F_FLUSH) | (1ull << VIRTIO_BLK_F_MQ) |
			(packed ? 1ull << VIRTIO_F_RING_PACKED : 0)) < 0)
		fail_msg("blkdrv_open: %s", d.err);
	assert_int_equal(!!(d.features & (1ull << VIRTIO_F_RING_PACKED)), packed);
	assert_true(d.fe.protocol & (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD));

	for (unsigned round = 0; round < ROUNDS; round++) {
		unsigned done = 0, before = 0;
		/* fill both queues with writes, then kill the backend without warning (the data first: the
		 * submissions follow each other closely, so that inline writes are in flight at the kill too) */
		for (unsigned q = 0; q < NQ; q++)
			for (unsigned s = 0; s < NSLOTS; s++)
				pattern(blkdrv_data(&d, q, s), REQ_BYTES, round * 1000 + q * NSLOTS + s);
		for (unsigned q = 0; q < NQ; q++)
			for (unsigned s = 0; s < NSLOTS; s++)
				assert_int_equal(blkdrv_submit(&d, q, s, VIRTIO_BLK_T_OUT, sector_of(q, s), REQ_BYTES), 0);
		if (round > 0) {
			/* let some of them be served and some be in flight */
			struct timespec ts = { 0, 2 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
		dpu_stop(&p, true);
		for (unsigned q = 0; q < NQ; q++) {
			uint8_t st;
			long r;
			while ((r = blkdrv_poll(&d, q, &st, NULL)) > 0) {
				assert_int_equal(st, VIRTIO_BLK_S_OK);
				before++;
			}
			assert_true(r == 0);
		}
		done = before;
		assert_int_equal(dpu_start(&p, cfg), 0);
		if (blkdrv_reconnect(&d, sock, 5000) < 0)
			fail_msg("reconnect: %s", d.err);
		unsigned bad;
		long more = blkdrv_collect(&d, NQ, NQ * NSLOTS - done, 30000, &bad);
		assert_true(more >= 0);
		assert_int_equal(bad, 0);
		done += (unsigned)more;
		printf("%s round %u: %u of %u requests completed before kill -9, %u after the restart\n",
		       packed ? "packed" : "split", round, before, NQ * NSLOTS, done - before);
		assert_int_equal(done, NQ * NSLOTS);
		for (unsigned q = 0; q < NQ; q++)
			for (unsigned s = 0; s < NSLOTS; s++) {
				pattern(buf, REQ_BYTES, round * 1000 + q * NSLOTS + s);
				int fd = open(img, O_RDONLY);
				assert_int_equal(pread(fd, file, REQ_BYTES, (off_t)sector_of(q, s) * 512), REQ_BYTES);
				close(fd);
				assert_memory_equal(file, buf, REQ_BYTES);
			}
	}
	/* and it keeps serving normally */
	assert_int_equal(blkdrv_io(&d, 0, VIRTIO_BLK_T_IN, 0, buf, 4096, 10000), VIRTIO_BLK_S_OK);
	if (buffered) {
		/* the writes above went inline where the file system has no non-blocking buffered write */
		int fd = open(img, O_RDWR);
		struct iovec iov = { file, 512 };
		assert_true(fd >= 0);
		assert_int_equal(pread(fd, file, 512, 0), 512);
		ssize_t pr = pwritev2(fd, &iov, 1, 0, RWF_NOWAIT);
		bool no_nowait = pr < 0 && (errno == EOPNOTSUPP || errno == EINVAL);
		close(fd);
		assert_int_equal(blkdrv_io(&d, 0, VIRTIO_BLK_T_OUT, 0, buf, 4096, 10000), VIRTIO_BLK_S_OK);
		char *st = dpu_ctl(&p, "{\"cmd\":\"stats\"}");
		const char *key = "kite_dpu_blk_inline_writes_total{volume=\\\"r\\\"} ";
		assert_non_null(st);
		const char *at = strstr(st, key);
		assert_non_null(at);
		unsigned long long inl = strtoull(at + strlen(key), NULL, 10);
		printf("buffered: %llu inline writes since the last restart\n", inl);
		if (no_nowait)
			assert_true(inl >= 1);
		else
			assert_int_equal(inl, 0);
		free(st);
	}
	blkdrv_close(&d);
	assert_int_equal(dpu_stop(&p, false), 0);
	dpu_cleanup(&p);
}

static void test_kill_restart(void **state)
{
	(void)state;
	kill_restart(false, false);
}

static void test_kill_restart_packed(void **state)
{
	(void)state;
	kill_restart(true, false);
}

static void test_kill_restart_buffered(void **state)
{
	(void)state;
	kill_restart(false, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill_restart),
		cmocka_unit_test(test_kill_restart_packed),
		cmocka_unit_test(test_kill_restart_buffered),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
