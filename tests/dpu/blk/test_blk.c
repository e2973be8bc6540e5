/* SPDX-License-Identifier: MIT */
/*
 * kite-dpu block service against our own vhost-user frontend: data reaches the image file, flush,
 * multi-queue, read-only, image access times left alone, discard, write-zeroes, get-id, malformed
 * requests, AES-XTS at rest, control socket (stats, add/remove volume), hostile peers that must not
 * disturb other volumes, and buffered volumes: writes the poller does itself where io_uring would punt
 * them, reads copied from a mapping of the image (or, "map": false, done by the poller or io_uring)
 * (include/kite/inline_io.h); a volume flag that is not a JSON boolean is refused.
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
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <linux/magic.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "blk_driver.h"
#include "dpu_harness.h"
#include "kite/virtqueue.h"
#include "kite/virtio_blk.h"

#define IMG_BYTES (8u << 20)
#define TMO 10000

static struct dpu_proc dpu;
static char img_rw[300], img_ro[300], img_enc[300], img_mal[300], img_new[300], img_buf[300];
static char sock_rw[300], sock_ro[300], sock_enc[300], sock_mal[300], sock_new[300], sock_buf[300];

/* 64-byte AES-256-XTS key, as hex for the control socket. */
static uint8_t key[64];
static char key_hex[129];

static const uint64_t want_features = (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE) |
				      (1ull << VIRTIO_BLK_F_FLUSH) | (1ull << VIRTIO_BLK_F_MQ) |
				      (1ull << VIRTIO_BLK_F_RO) | (1ull << VIRTIO_BLK_F_DISCARD) |
				      (1ull << VIRTIO_BLK_F_WRITE_ZEROES) | (1ull << VIRTIO_F_EVENT_IDX);

static void pattern(uint8_t *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)((i * 131 + seed * 7 + (i >> 9)) ^ (seed >> 3));
}

static void read_image(const char *path, uint64_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static int group_setup(void **state)
{
	char cfg[4096];

	(void)state;
	if (dpu_tmpdir(&dpu) < 0)
		return -1;
	dpu_path(&dpu, "rw.img", img_rw, sizeof(img_rw));
	dpu_path(&dpu, "ro.img", img_ro, sizeof(img_ro));
	dpu_path(&dpu, "enc.img", img_enc, sizeof(img_enc));
	dpu_path(&dpu, "mal.img", img_mal, sizeof(img_mal));
	dpu_path(&dpu, "new.img", img_new, sizeof(img_new));
	dpu_path(&dpu, "buf.img", img_buf, sizeof(img_buf));
	dpu_path(&dpu, "rw.sock", sock_rw, sizeof(sock_rw));
	dpu_path(&dpu, "ro.sock", sock_ro, sizeof(sock_ro));
	dpu_path(&dpu, "enc.sock", sock_enc, sizeof(sock_enc));
	dpu_path(&dpu, "mal.sock", sock_mal, sizeof(sock_mal));
	dpu_path(&dpu, "new.sock", sock_new, sizeof(sock_new));
	dpu_path(&dpu, "buf.sock", sock_buf, sizeof(sock_buf));
	if (dpu_make_image(img_rw, IMG_BYTES, 0) || dpu_make_image(img_ro, IMG_BYTES, 0x5a) ||
	    dpu_make_image(img_enc, IMG_BYTES, 0) || dpu_make_image(img_mal, IMG_BYTES, 0) ||
	    dpu_make_image(img_new, IMG_BYTES, 0x11) || dpu_make_image(img_buf, IMG_BYTES, 0))
		return -1;
	for (unsigned i = 0; i < sizeof(key); i++) {
		key[i] = (uint8_t)(i * 37 + 11);
		snprintf(key_hex + 2 * i, 3, "%02x", key[i]);
	}
	snprintf(cfg, sizeof(cfg),
		 "{\"cores\": [-1], \"volumes\": ["
		 "{\"name\": \"rw\", \"image\": \"%s\", \"socket\": \"%s\", \"queues\": 2},"
		 "{\"name\": \"ro\", \"image\": \"%s\", \"socket\": \"%s\", \"readonly\": true},"
		 "{\"name\": \"mal\", \"image\": \"%s\", \"socket\": \"%s\"},"
		 "{\"name\": \"buf\", \"image\": \"%s\", \"socket\": \"%s\", \"queues\": 2, \"direct\": false}]}",
		 img_rw, sock_rw, img_ro, sock_ro, img_mal, sock_mal, img_buf, sock_buf);
	if (dpu_start(&dpu, cfg) < 0)
		return -1;
	/* The encrypted volume's key only travels over the control socket. */
	char req[1024];
	snprintf(req, sizeof(req), "{\"cmd\":\"add_volume\",\"name\":\"enc\",\"image\":\"%s\",\"socket\":\"%s\",\"key\":\"%s\"}",
		 img_enc, sock_enc, key_hex);
	char *r = dpu_ctl(&dpu, req);
	int ok = r && strstr(r, "\"ok\":true");
	if (!ok)
		fprintf(stderr, "add_volume enc: %s\n", r ? r : "(no reply)");
	free(r);
	return ok ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	int st = dpu_stop(&dpu, false);
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "cat '%s' >&2", dpu.log);
	if (st != 0 && system(cmd) != 0)
		fprintf(stderr, "no log\n");
	dpu_cleanup(&dpu);
	return st == 0 ? 0 : -1;
}

static void open_drv(struct blkdrv *d, const char *sock, unsigned nq)
{
	int r = blkdrv_open(d, sock, nq, 128, 16, want_features);
	if (r < 0)
		fail_msg("blkdrv_open %s: %s", sock, d->err);
}

static void test_config_space(void **state)
{
	struct blkdrv d;
	struct virtio_blk_config c;

	(void)state;
	open_drv(&d, sock_rw, 2);
	assert_int_equal(vuf_get_config(&d.fe, 0, &c, sizeof(c)), 0);
	assert_int_equal(c.capacity, IMG_BYTES / 512);
	assert_int_equal(c.blk_size, 512);
	assert_int_equal(c.num_queues, 2);
	assert_true(c.seg_max >= 2 && c.seg_max <= VQ_MAX_SEGS - 2);
	assert_true(c.max_discard_sectors > 0);
	assert_int_equal(c.max_discard_seg, 1);
	assert_true(d.features & (1ull << VIRTIO_BLK_F_FLUSH));
	assert_false(d.features & (1ull << VIRTIO_BLK_F_RO));
	uint64_t nq;
	assert_int_equal(vuf_get_u64(&d.fe, VHOST_USER_GET_QUEUE_NUM, &nq), 0);
	assert_int_equal(nq, 2);
	blkdrv_close(&d);
}

static void test_write_flush_read(void **state)
{
	struct blkdrv d;
	static uint8_t out[128 * 1024], in[sizeof(out)], file[sizeof(out)];

	(void)state;
	open_drv(&d, sock_rw, 2);
	for (unsigned q = 0; q < 2; q++) {
		uint64_t sector = 100 + q * 1000;
		pattern(out, sizeof(out), 1 + q);
		assert_int_equal(blkdrv_io(&d, q, VIRTIO_BLK_T_OUT, sector, out, sizeof(out), TMO), VIRTIO_BLK_S_OK);
		assert_int_equal(blkdrv_io(&d, q, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, TMO), VIRTIO_BLK_S_OK);
		/* the bytes are in the image file */
		read_image(img_rw, sector * 512, file, sizeof(file));
		assert_memory_equal(file, out, sizeof(out));
		memset(in, 0, sizeof(in));
		assert_int_equal(blkdrv_io(&d, q, VIRTIO_BLK_T_IN, sector, in, sizeof(in), TMO), VIRTIO_BLK_S_OK);
		assert_memory_equal(in, out, sizeof(out));
	}
	/* last sector of the disk */
	pattern(out, 512, 9);
	assert_int_equal(blkdrv_io(&d, 0, VIRTIO_BLK_T_OUT, IMG_BYTES / 512 - 1, out, 512, TMO), VIRTIO_BLK_S_OK);
	read_image(img_rw, IMG_BYTES - 512, file, 512);
	assert_memory_equal(file, out, 512);
	blkdrv_close(&d);
}

/* One request whose data is the n pieces (offset into slot 1's data area, length) of the guest's
 * memory, each a descriptor of its own; returns the status byte. */
static uint8_t split_io(struct blkdrv *d, uint32_t type, uint64_t sector, const uint32_t (*piece)[2], unsigned n)
{
	uint64_t g = d->slots[0][1].gpa;
	struct vring_buf b[8];
	unsigned nb = 0;
	long r = 0;

	memcpy(d->mem + g, &type, 4);
	memset(d->mem + g + 4, 0, 4);
	memcpy(d->mem + g + 8, &sector, 8);
	d->mem[g + 16] = 0xff;
	b[nb++] = (struct vring_buf){ g, 16, false };
	for (unsigned i = 0; i < n; i++)
		b[nb++] = (struct vring_buf){ g + 4096 + piece[i][0], piece[i][1], type == VIRTIO_BLK_T_IN };
	b[nb++] = (struct vring_buf){ g + 16, 1, true };
	assert_int_equal(blkdrv_submit_raw(d, 0, b, nb, (void *)2), 0);
	for (int i = 0; i < 20000000 && (r = blkdrv_poll(d, 0, NULL, NULL)) == 0; i++)
		;
	assert_int_equal(r, 2);
	return d->mem[g + 16];
}

/* Data in several descriptors (pieces apart in guest memory, 512-byte aligned for O_DIRECT) is
 * written and read whole, in order, on the O_DIRECT and the buffered volume: the vectored io_uring
 * requests, which one-segment requests no longer take. */
static void split_check(const char *img, const char *sock)
{
	static const uint32_t piece[3][2] = { { 0, 1024 }, { 8192, 2048 }, { 65536, 1024 } };
	static uint8_t out[4096], in[4096], file[4096];
	struct blkdrv d;
	const uint64_t sector = 2048;

	open_drv(&d, sock, 1);
	uint8_t *data = d.mem + d.slots[0][1].gpa + 4096;
	pattern(out, sizeof(out), 41);
	for (unsigned i = 0, at = 0; i < 3; at += piece[i][1], i++)
		memcpy(data + piece[i][0], out + at, piece[i][1]);
	assert_int_equal(split_io(&d, VIRTIO_BLK_T_OUT, sector, piece, 3), VIRTIO_BLK_S_OK);
	assert_int_equal(blkdrv_io(&d, 0, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, TMO), VIRTIO_BLK_S_OK);
	read_image(img, sector * 512, file, sizeof(file));
	assert_memory_equal(file, out, sizeof(out));
	/* other bytes there, then read into the pieces (cleared first) */
	pattern(out, sizeof(out), 42);
	assert_int_equal(blkdrv_io(&d, 0, VIRTIO_BLK_T_OUT, sector, out, sizeof(out), TMO), VIRTIO_BLK_S_OK);
	for (unsigned i = 0; i < 3; i++)
		memset(data + piece[i][0], 0, piece[i][1]);
	assert_int_equal(split_io(&d, VIRTIO_BLK_T_IN, sector, piece, 3), VIRTIO_BLK_S_OK);
	for (unsigned i = 0, at = 0; i < 3; at += piece[i][1], i++)
		memcpy(in + at, data + piece[i][0], piece[i][1]);
	assert_memory_equal(in, out, sizeof(out));
	blkdrv_close(&d);
}

static void test_split_data(void **state)
{
	(void)state;
	split_check(img_rw, sock_rw);
	split_check(img_buf, sock_buf);
}

/* The access time of an image stays as it was however often the guest reads it: kite-dpu opens
 * images with O_NOATIME (it owns them here), so a read does not check or update it (for O_DIRECT and
 * buffered volumes alike). The image's atime is set before its mtime (relatime would update it at
 * the next read); the control, a plain read by the test, shows that this file system does. */
static void atime_check(const char *img, const char *sock)
{
	static const struct timespec t[2] = { { 1000000000, 0 }, { 0, UTIME_OMIT } };   /* 2001, mtime kept */
	static uint8_t in[4096];
	struct blkdrv d;
	struct stat st;

	assert_int_equal(utimensat(AT_FDCWD, img, t, 0), 0);
	open_drv(&d, sock, 1);
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(blkdrv_io(&d, 0, VIRTIO_BLK_T_IN, i * 8, in, sizeof(in), TMO), VIRTIO_BLK_S_OK);
	blkdrv_close(&d);
	assert_int_equal(stat(img, &st), 0);
	if (st.st_atim.tv_sec != t[0].tv_sec)
		fail_msg("%s: 8 reads through kite-dpu moved its access time to %lld", img, (long long)st.st_atim.tv_sec);
	read_image(img, 0, in, sizeof(in));
	assert_int_equal(stat(img, &st), 0);
	if (st.st_atim.tv_sec == t[0].tv_sec)
		fail_msg("%s: a plain read left the access time too: this file system (noatime?) cannot show it", img);
}

static void test_reads_keep_atime(void **state)
{
	(void)state;
	atime_check(img_rw, sock_rw);
	atime_check(img_buf, sock_buf);
}

static void test_many_inflight(void **state)
{
	struct blkdrv d;
	static uint8_t file[4096];

	(void)state;
	open_drv(&d, sock_rw, 1);
	/* 16 writes in flight at once, each to its own 4 KiB block */
	for (unsigned s = 0; s < 16; s++) {
		pattern(blkdrv_data(&d, 0, s), 4096, 100 + s);
		assert_int_equal(blkdrv_submit(&d, 0, s, VIRTIO_BLK_T_OUT, 4096 + s * 8, 4096), 0);
	}
	unsigned done = 0;
	for (int spins = 0; done < 16 && spins < 20000000; spins++) {
		uint8_t st;
		long r = blkdrv_poll(&d, 0, &st, NULL);
		assert_true(r >= 0);
		if (r > 0) {
			assert_int_equal(st, VIRTIO_BLK_S_OK);
			done++;
		}
	}
	assert_int_equal(done, 16);
	for (unsigned s = 0; s < 16; s++) {
		read_image(img_rw, (4096 + s * 8) * 512ull, file, sizeof(file));
		assert_memory_equal(file, blkdrv_data(&d, 0, s), sizeof(file));
	}
	blkdrv_close(&d);
}

static void test_readonly(void **state)
{
	struct blkdrv d;
	static uint8_t buf[8192], file[8192];

	(void)state;
	open_drv(&d, sock_ro, 1);
	assert_true(d.features & (1ull << VIRTIO_BLK_F_RO));
	assert_int_equal(blkdrv_io(&d, 0, VIRTIO_BLK_T_IN, 8, buf, sizeof(buf), TMO), VIRTIO_BLK_S_OK);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0x5a);
	pattern(buf, sizeof(buf), 3);
	assert_int_equal(blkdrv_io(&d, 0, VIRTIO_BLK_T_OUT, 8, buf, sizeof(buf), TMO), VIRTIO_BLK_S_IOERR);
	read_image(img_ro, 8 * 512, file, sizeof(file));
	for (size_t i = 0; i < sizeof(file); i++)
		assert_int_equal(file[i], 0x5a);
	blkdrv_close(&d);
}

static void test_discard_write_zeroes_getid(void **state)
{
	struct blkdrv d;
	static uint8_t buf[65536], file[65536];
	struct virtio_blk_discard_write_zeroes seg;

	(void)state;
	open_drv(&d, sock_rw, 1);
	pattern(buf, sizeof(buf), 5);
	assert_int_equal(blkdrv_io(&d, 0, VIRTIO_BLK_T_OUT, 2048, buf, sizeof(buf), TMO), VIRTIO_BLK_S_OK);
	/* discard the middle 32 KiB (punch hole: reads back as zeroes) */
	seg = (struct virtio_blk_discard_write_zeroes){ .sector = 2048 + 32, .num_sectors = 64, .flags = 0 };
	assert_int_equal(blkdrv_io(&d, 0, VIRTIO_BLK_T_DISCARD, 0, &seg, sizeof(seg), TMO), VIRTIO_BLK_S_OK);
	read_image(img_rw, 2048 * 512, file, sizeof(file));
	assert_memory_equal(file, buf, 32 * 512);
	for (size_t i = 32 * 512; i < 96 * 512; i++)
		assert_int_equal(file[i], 0);
	assert_memory_equal(file + 96 * 512, buf + 96 * 512, 32 * 512);
	/* write zeroes over the first 8 sectors */
	seg = (struct virtio_blk_discard_write_zeroes){ .sector = 2048, .num_sectors = 8, .flags = 0 };
	assert_int_equal(blkdrv_io(&d, 0, VIRTIO_BLK_T_WRITE_ZEROES, 0, &seg, sizeof(seg), TMO), VIRTIO_BLK_S_OK);
	read_image(img_rw, 2048 * 512, file, 8 * 512);
	for (size_t i = 0; i < 8 * 512; i++)
		assert_int_equal(file[i], 0);
	/* discard past the end */
	seg = (struct virtio_blk_discard_write_zeroes){ .sector = IMG_BYTES / 512 - 4, .num_sectors = 8 };
	assert_int_equal(blkdrv_io(&d, 0, VIRTIO_BLK_T_DISCARD, 0, &seg, sizeof(seg), TMO), VIRTIO_BLK_S_IOERR);
	/* get-id returns the volume name */
	char id[20] = { 0 };
	assert_int_equal(blkdrv_io(&d, 0, VIRTIO_BLK_T_GET_ID, 0, id, sizeof(id), TMO), VIRTIO_BLK_S_OK);
	assert_string_equal(id, "rw");
	blkdrv_close(&d);
}

static void test_malformed_requests(void **state)
{
	struct blkdrv d;
	static uint8_t buf[4096];

	(void)state;
	open_drv(&d, sock_rw, 1);
	/* length not a multiple of 512 */
	assert_int_equal(blkdrv_io(&d, 0, VIRTIO_BLK_T_IN, 0, buf, 700, TMO), VIRTIO_BLK_S_IOERR);
	assert_int_equal(blkdrv_io(&d, 0, VIRTIO_BLK_T_OUT, 0, buf, 100, TMO), VIRTIO_BLK_S_IOERR);
	/* beyond capacity, and a sector number that would overflow */
	assert_int_equal(blkdrv_io(&d, 0, VIRTIO_BLK_T_IN, IMG_BYTES / 512 - 1, buf, 1024, TMO), VIRTIO_BLK_S_IOERR);
	assert_int_equal(blkdrv_io(&d, 0, VIRTIO_BLK_T_IN, UINT64_MAX - 1, buf, 1024, TMO), VIRTIO_BLK_S_IOERR);
	/* unknown request type */
	assert_int_equal(blkdrv_io(&d, 0, 77, 0, buf, 512, TMO), VIRTIO_BLK_S_UNSUPP);
	/* header too short: 8 bytes of header, then a status byte */
	uint64_t g = d.slots[0][1].gpa;
	d.mem[g + 16] = 0xff;
	struct vring_buf b[2] = { { g, 8, false }, { g + 16, 1, true } };
	assert_int_equal(blkdrv_submit_raw(&d, 0, b, 2, (void *)2), 0);
	long r;
	uint8_t st;
	for (int i = 0; i < 20000000 && (r = blkdrv_poll(&d, 0, &st, NULL)) == 0; i++)
		;
	assert_int_equal(r, 2);
	assert_int_equal(d.mem[g + 16], VIRTIO_BLK_S_IOERR);
	/* read with a device-readable data buffer (wrong direction) */
	struct vring_buf b2[3] = { { g, 16, false }, { g + 4096, 512, false }, { g + 16, 1, true } };
	uint32_t in = VIRTIO_BLK_T_IN;
	memcpy(d.mem + g, &in, 4);
	memset(d.mem + g + 4, 0, 12);
	assert_int_equal(blkdrv_submit_raw(&d, 0, b2, 3, (void *)2), 0);
	for (int i = 0; i < 20000000 && (r = blkdrv_poll(&d, 0, &st, NULL)) == 0; i++)
		;
	assert_int_equal(r, 2);
	assert_int_equal(d.mem[g + 16], VIRTIO_BLK_S_IOERR);
	/* still serving */
	assert_int_equal(blkdrv_io(&d, 0, VIRTIO_BLK_T_IN, 0, buf, 512, TMO), VIRTIO_BLK_S_OK);
	blkdrv_close(&d);
}

static void xts(bool enc, const uint8_t *in, uint8_t *out, size_t len, uint64_t sector)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	for (size_t off = 0; off < len; off += 512, sector++) {
		uint8_t iv[16] = { 0 };
		int outl;
		memcpy(iv, &sector, 8);
		assert_int_equal(EVP_CipherInit_ex(c, EVP_aes_256_xts(), NULL, key, iv, enc), 1);
		assert_int_equal(EVP_CipherUpdate(c, out + off, &outl, in + off, 512), 1);
	}
	EVP_CIPHER_CTX_free(c);
}

static void test_encrypted(void **state)
{
	struct blkdrv d;
	static uint8_t out[16384], in[sizeof(out)], file[sizeof(out)], expect[sizeof(out)];

	(void)state;
	open_drv(&d, sock_enc, 1);
	/* no discard / write-zeroes on encrypted volumes (zeroes are not ciphertext) */
	assert_false(d.features & (1ull << VIRTIO_BLK_F_DISCARD));
	pattern(out, sizeof(out), 42);
	assert_int_equal(blkdrv_io(&d, 0, VIRTIO_BLK_T_OUT, 77, out, sizeof(out), TMO), VIRTIO_BLK_S_OK);
	assert_int_equal(blkdrv_io(&d, 0, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, TMO), VIRTIO_BLK_S_OK);
	read_image(img_enc, 77 * 512, file, sizeof(file));
	/* the image holds AES-256-XTS ciphertext with tweak = sector, not the plaintext */
	assert_memory_not_equal(file, out, 512);
	xts(true, out, expect, sizeof(out), 77);
	assert_memory_equal(file, expect, sizeof(file));
	assert_int_equal(blkdrv_io(&d, 0, VIRTIO_BLK_T_IN, 77, in, sizeof(in), TMO), VIRTIO_BLK_S_OK);
	assert_memory_equal(in, out, sizeof(out));
	/* a misaligned read (starting one sector later) decrypts with the right tweak too */
	assert_int_equal(blkdrv_io(&d, 0, VIRTIO_BLK_T_IN, 78, in, 1024, TMO), VIRTIO_BLK_S_OK);
	assert_memory_equal(in, out + 512, 1024);
	blkdrv_close(&d);
	/* the key never shows up in the log */
	char *log = NULL;
	size_t n = 0;
	FILE *f = fopen(dpu.log, "r");
	assert_non_null(f);
	assert_true(getdelim(&log, &n, '\0', f) >= 0);
	fclose(f);
	assert_null(strstr(log, key_hex));
	assert_null(strstr(log, key_hex + 64));
	free(log);
}

/* ---- hostile peers ---- */

static int raw_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 5 };
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (strlen(path) >= sizeof(sa.sun_path))
		fail_msg("socket path too long: %s", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	for (int i = 0; i < 200; i++) {
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		usleep(10000);
	}
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return s;
}

/* The backend closes the connection: recv sees EOF or a reset (unread bytes), not a timeout. */
static void expect_closed(int s)
{
	char b[64];
	ssize_t r;
	while ((r = recv(s, b, sizeof(b), 0)) > 0)
		;
	if (r < 0 && errno != ECONNRESET)
		fail_msg("connection not closed by the backend: %s", strerror(errno));
	close(s);
}

static void send_msg(int s, uint32_t req, const void *payload, uint32_t size, const int *fds, unsigned nfds)
{
	struct vhost_user_msg m = { .hdr = { .request = req, .flags = VHOST_USER_VERSION, .size = size } };
	if (size <= sizeof(m.p))
		memcpy(&m.p, payload, size);
	else
		m.hdr.size = size;  /* lie about the size */
	for (unsigned i = 0; i < nfds; i++)
		m.fds[i] = fds[i];
	m.nfds = nfds;
	if (size > sizeof(m.p)) {
		assert_int_equal(send(s, &m.hdr, sizeof(m.hdr), MSG_NOSIGNAL), (ssize_t)sizeof(m.hdr));
		return;
	}
	assert_int_equal(vu_msg_send(s, &m), 0);
}

static void check_rw_still_serves(struct blkdrv *good)
{
	static uint8_t out[4096], in[4096];
	static unsigned seed = 200;
	pattern(out, sizeof(out), seed++);
	assert_int_equal(blkdrv_io(good, 0, VIRTIO_BLK_T_OUT, 64, out, sizeof(out), TMO), VIRTIO_BLK_S_OK);
	assert_int_equal(blkdrv_io(good, 0, VIRTIO_BLK_T_IN, 64, in, sizeof(in), TMO), VIRTIO_BLK_S_OK);
	assert_memory_equal(in, out, sizeof(in));
}

static void test_hostile_peers(void **state)
{
	struct blkdrv good;
	int s;

	(void)state;
	open_drv(&good, sock_rw, 1);

	/* 1. garbage bytes */
	s = raw_connect(sock_mal);
	assert_int_equal(send(s, "GET / HTTP/1.0\r\n\r\n", 18, MSG_NOSIGNAL), 18);
	expect_closed(s);
	check_rw_still_serves(&good);

	/* 2. oversized payload claim */
	s = raw_connect(sock_mal);
	send_msg(s, VHOST_USER_SET_FEATURES, NULL, 100000, NULL, 0);
	expect_closed(s);

	/* 3. unknown request */
	s = raw_connect(sock_mal);
	uint64_t z = 0;
	send_msg(s, 999, &z, 8, NULL, 0);
	expect_closed(s);

	/* 4. fd count mismatch: SET_MEM_TABLE with 2 regions and 1 fd */
	int mfd = memfd_create("hostile", MFD_CLOEXEC);
	assert_int_equal(ftruncate(mfd, 1 << 20), 0);
	struct vhost_user_mem_table mt = { .nregions = 2 };
	mt.regions[0] = (struct vhost_user_mem_region){ 0, 1 << 20, 0x7f0000000000ull, 0 };
	mt.regions[1] = (struct vhost_user_mem_region){ 1 << 20, 1 << 20, 0x7f0000100000ull, 0 };
	s = raw_connect(sock_mal);
	send_msg(s, VHOST_USER_SET_MEM_TABLE, &mt, 8 + 2 * sizeof(mt.regions[0]), &mfd, 1);
	expect_closed(s);

	/* 5. region larger than its memfd (would SIGBUS the backend if mapped blindly) */
	mt.nregions = 1;
	mt.regions[0].memory_size = 64 << 20;
	s = raw_connect(sock_mal);
	send_msg(s, VHOST_USER_SET_MEM_TABLE, &mt, 8 + sizeof(mt.regions[0]), &mfd, 1);
	expect_closed(s);

	/* 6. wrapping region */
	mt.regions[0] = (struct vhost_user_mem_region){ UINT64_MAX - 4095, 1 << 20, 0, 0 };
	s = raw_connect(sock_mal);
	send_msg(s, VHOST_USER_SET_MEM_TABLE, &mt, 8 + sizeof(mt.regions[0]), &mfd, 1);
	expect_closed(s);

	/* 7. a ring outside guest memory */
	mt.regions[0] = (struct vhost_user_mem_region){ 0, 1 << 20, 0x10000000ull, 0 };
	s = raw_connect(sock_mal);
	send_msg(s, VHOST_USER_SET_MEM_TABLE, &mt, 8 + sizeof(mt.regions[0]), &mfd, 1);
	struct vhost_user_vring_state num = { 0, 128 };
	send_msg(s, VHOST_USER_SET_VRING_NUM, &num, sizeof(num), NULL, 0);
	struct vhost_user_vring_addr addr = { .index = 0, .desc_user_addr = 0x90000000ull,
					      .avail_user_addr = 0x10001000ull, .used_user_addr = 0x10002000ull };
	send_msg(s, VHOST_USER_SET_VRING_ADDR, &addr, sizeof(addr), NULL, 0);
	int kfd = eventfd(0, EFD_CLOEXEC);
	uint64_t idx = 0;
	send_msg(s, VHOST_USER_SET_VRING_KICK, &idx, 8, &kfd, 1);
	expect_closed(s);
	close(kfd);

	/* 8. queue index out of range, and a kick message without its fd */
	s = raw_connect(sock_mal);
	num.index = 5;
	send_msg(s, VHOST_USER_SET_VRING_NUM, &num, sizeof(num), NULL, 0);
	expect_closed(s);
	s = raw_connect(sock_mal);
	send_msg(s, VHOST_USER_SET_VRING_KICK, &idx, 8, NULL, 0);
	expect_closed(s);

	/* 9. GET_CONFIG beyond the config space */
	struct vhost_user_config cfg = { .offset = 250, .size = 100 };
	s = raw_connect(sock_mal);
	send_msg(s, VHOST_USER_GET_CONFIG, &cfg, VHOST_USER_CONFIG_HDR_SIZE + 100, NULL, 0);
	expect_closed(s);
	close(mfd);

	/* the good volume kept working, and the hostile one accepts a well-behaved frontend again */
	check_rw_still_serves(&good);
	blkdrv_close(&good);
	struct blkdrv d;
	open_drv(&d, sock_mal, 1);
	static uint8_t buf[4096];
	assert_int_equal(blkdrv_io(&d, 0, VIRTIO_BLK_T_IN, 0, buf, sizeof(buf), TMO), VIRTIO_BLK_S_OK);
	blkdrv_close(&d);

	char *st = dpu_ctl(&dpu, "{\"cmd\":\"stats\"}");
	assert_non_null(st);
	assert_non_null(strstr(st, "kite_dpu_blk_protocol_errors_total{volume=\\\"mal\\\"} 10"));
	free(st);
}

static void test_control_socket(void **state)
{
	char req[1024];
	char *r;

	(void)state;
	r = dpu_ctl(&dpu, "{\"cmd\":\"stats\"}");
	assert_non_null(r);
	assert_non_null(strstr(r, "\"ok\":true"));
	assert_non_null(strstr(r, "kite_dpu_blk_writes_total{volume=\\\"rw\\\"}"));
	assert_null(strstr(r, "kite_dpu_blk_writes_total{volume=\\\"rw\\\"} 0\\n"));
	free(r);
	r = dpu_ctl(&dpu, "not json");
	assert_non_null(r);
	assert_non_null(strstr(r, "\"ok\":false"));
	free(r);
	r = dpu_ctl(&dpu, "{\"cmd\":\"add_volume\",\"name\":\"rw\",\"image\":\"x\",\"socket\":\"y\"}");
	assert_non_null(strstr(r, "\"ok\":false"));
	free(r);
	/* a flag that is not a JSON boolean is refused, not read as false */
	r = dpu_ctl(&dpu, "{\"cmd\":\"add_volume\",\"name\":\"f\",\"image\":\"x\",\"socket\":\"y\",\"map\":\"off\"}");
	assert_non_null(r);
	assert_non_null(strstr(r, "\"ok\":false"));
	assert_non_null(strstr(r, "\\\"map\\\" must be true or false"));
	free(r);
	/* interrupt coalescing beyond 10 ms is refused with its range */
	r = dpu_ctl(&dpu, "{\"cmd\":\"add_volume\",\"name\":\"c\",\"image\":\"x\",\"socket\":\"y\",\"coalesce_usecs\":20000}");
	assert_non_null(r);
	assert_non_null(strstr(r, "\"ok\":false"));
	assert_non_null(strstr(r, "must be 0..10000"));
	free(r);

	/* add a volume at run time, use it, remove it */
	snprintf(req, sizeof(req), "{\"cmd\":\"add_volume\",\"name\":\"new\",\"image\":\"%s\",\"socket\":\"%s\",\"queues\":1}",
		 img_new, sock_new);
	r = dpu_ctl(&dpu, req);
	assert_non_null(strstr(r, "\"ok\":true"));
	free(r);
	struct blkdrv d;
	static uint8_t buf[4096];
	open_drv(&d, sock_new, 1);
	assert_int_equal(blkdrv_io(&d, 0, VIRTIO_BLK_T_IN, 0, buf, sizeof(buf), TMO), VIRTIO_BLK_S_OK);
	assert_int_equal(buf[100], 0x11);
	r = dpu_ctl(&dpu, "{\"cmd\":\"remove_volume\",\"name\":\"new\"}");
	assert_non_null(strstr(r, "\"ok\":true"));
	free(r);
	/* the frontend was dropped and the socket is gone */
	assert_int_equal(blkdrv_io(&d, 0, VIRTIO_BLK_T_IN, 0, buf, sizeof(buf), 300), -1);
	assert_int_equal(access(sock_new, F_OK), -1);
	blkdrv_close(&d);
	r = dpu_ctl(&dpu, "{\"cmd\":\"list_volumes\"}");
	assert_null(strstr(r, "\"new\""));
	assert_non_null(strstr(r, "\"rw\""));
	free(r);
}

/* The value of one counter of one volume in a stats reply (JSON-escaped Prometheus text). */
static unsigned long long stat_of(const char *stats, const char *metric, const char *vol)
{
	char key[160];
	const char *at;

	snprintf(key, sizeof(key), "kite_dpu_blk_%s{volume=\\\"%s\\\"} ", metric, vol);
	at = strstr(stats, key);
	if (!at)
		fail_msg("no %s in the stats", key);
	return strtoull(at + strlen(key), NULL, 10);
}

/* A buffered volume: on a file system without a non-blocking buffered write path (ext4, tmpfs) the
 * poller writes small requests itself, so inline_writes_total counts them (and is 0 where io_uring
 * would complete them inline anyway); a mapped volume (the default, kite/inline_io.h "Mapped reads
 * and writes") copies every read from its mapping and every write into it, so inline_reads_total and
 * inline_writes_total count all; unmapped, reads without a
 * non-blocking buffered read path (tmpfs) count in inline_reads_total (at most the probe's one where
 * the path exists: a page-cache hit is served by the probe itself); either way the bytes are exact (reads return the previous round's),
 * in flight at once on two queues with reads in between, a read and a write larger than the inline
 * limit too, and a flush follows them. Run on the test's directory (ext4 here) and on a tmpfs file
 * (/dev/shm: no non-blocking buffered read either, on kernel 6.18). */
static void buffered_check(const char *img_buf, const char *sock_buf, const char *vol, bool mapped)
{
	struct blkdrv d;
	static uint8_t file[BLKDRV_SLOT_DATA], in[BLKDRV_SLOT_DATA];
	const unsigned nslots = 16;
	/* sizes: 512 B .. 128 KiB inline; 256 KiB always through io_uring */
	static const uint32_t sizes[] = { 4096, 512, 8192, 65536, 131072, 262144, 4096, 1024 };
	unsigned small = 0, small_reads = 0, all_reads = 0, all_writes = 0;

	/* what the image's file system says to a non-blocking buffered write (the probe's question) */
	int fd = open(img_buf, O_RDWR);
	assert_true(fd >= 0);
	static uint8_t zero[512];
	struct iovec iov = { zero, sizeof(zero) };
	ssize_t pr = pwritev2(fd, &iov, 1, 0, RWF_NOWAIT);
	bool no_nowait = pr < 0 && (errno == EOPNOTSUPP || errno == EINVAL);
	/* and to a non-blocking buffered read */
	pr = preadv2(fd, &iov, 1, 0, RWF_NOWAIT);
	bool no_nowait_read = pr < 0 && (errno == EOPNOTSUPP || errno == EINVAL);
	close(fd);

	if (blkdrv_open(&d, sock_buf, 2, 128, nslots, want_features) < 0)
		fail_msg("blkdrv_open %s: %s", sock_buf, d.err);
	for (unsigned round = 0; round < 3; round++) {
		for (unsigned q = 0; q < 2; q++)
			for (unsigned s = 0; s < nslots; s++) {
				uint32_t len = sizes[s % 8];
				uint64_t sector = ((uint64_t)q * nslots + s) * (BLKDRV_SLOT_DATA / 512);
				/* odd slots read what the previous round wrote there */
				uint32_t type = (s & 1) && round ? VIRTIO_BLK_T_IN : VIRTIO_BLK_T_OUT;

				if (type == VIRTIO_BLK_T_OUT) {
					pattern(blkdrv_data(&d, q, s), len, round * 100 + q * nslots + s);
					small += len <= 131072;
					all_writes++;
				} else {
					small_reads += len <= 131072;
					all_reads++;
				}
				assert_int_equal(blkdrv_submit(&d, q, s, type, sector, len), 0);
			}
		unsigned bad;
		assert_int_equal(blkdrv_collect(&d, 2, 2 * nslots, 30000, &bad), 2 * nslots);
		assert_int_equal(bad, 0);
		for (unsigned q = 0; q < 2; q++) {
			assert_int_equal(blkdrv_io(&d, q, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, TMO), VIRTIO_BLK_S_OK);
			for (unsigned s = 0; s < nslots; s++) {
				uint32_t len = sizes[s % 8];
				uint64_t sector = ((uint64_t)q * nslots + s) * (BLKDRV_SLOT_DATA / 512);
				unsigned seed = round * 100 + q * nslots + s;

				if ((s & 1) && round) {
					/* the read returned the previous round's bytes */
					pattern(in, len, seed - 100);
					assert_memory_equal(blkdrv_data(&d, q, s), in, len);
					continue;
				}
				pattern(in, len, seed);
				read_image(img_buf, sector * 512, file, len);
				assert_memory_equal(file, in, len);
			}
		}
		/* odd slots keep the previous round's data for the next round's reads */
		for (unsigned q = 0; q < 2 && round; q++)
			for (unsigned s = 1; s < nslots; s += 2) {
				uint32_t len = sizes[s % 8];
				uint64_t sector = ((uint64_t)q * nslots + s) * (BLKDRV_SLOT_DATA / 512);
				pattern(in, len, round * 100 + q * nslots + s);
				assert_int_equal(blkdrv_io(&d, q, VIRTIO_BLK_T_OUT, sector, in, len, TMO), VIRTIO_BLK_S_OK);
				small += len <= 131072;
				all_writes++;
			}
	}
	blkdrv_close(&d);

	char *st = dpu_ctl(&dpu, "{\"cmd\":\"stats\"}");
	assert_non_null(st);
	unsigned long long inl = stat_of(st, "inline_writes_total", vol), slow = stat_of(st, "inline_slow_total", vol);
	unsigned long long writes = stat_of(st, "writes_total", vol);
	unsigned long long inl_r = stat_of(st, "inline_reads_total", vol), reads = stat_of(st, "reads_total", vol);
	printf("buffered volume %s: %llu writes, %llu of them inline (%u small enough), %llu reads, %llu of them inline "
	       "(%u small enough), %llu slow; the file system %s, and %s\n", vol, writes, inl, small, reads, inl_r,
	       small_reads, slow, no_nowait ? "has no non-blocking buffered write" : "writes without blocking",
	       no_nowait_read ? "no non-blocking buffered read" : "reads without blocking");
	assert_int_equal(stat_of(st, "ioerr_total", vol), 0);
	assert_true(small_reads > 0 && reads >= small_reads);
	if (mapped)
		/* every write (up to 1 MiB) copied into the mapping, whatever the file system, but those
		 * after one that slept (a loaded machine) */
		assert_true(inl >= 1 && inl <= all_writes && (inl == all_writes || slow > 0));
	else if (no_nowait)
		/* a slow inline write (a loaded machine) sends the next ones to io_uring for a while */
		assert_true(inl >= 1 && inl <= small && (inl == small || slow > 0));
	else
		assert_int_equal(inl, 0);
	if (mapped)
		/* every read (up to 1 MiB) copied from the mapping, whatever the file system, but those
		 * after one that slept (a loaded machine) */
		assert_true(inl_r >= 1 && inl_r <= all_reads && (inl_r == all_reads || slow > 0));
	else if (no_nowait_read)
		/* the same for a slow inline read */
		assert_true(inl_r >= 1 && inl_r <= small_reads && (inl_r == small_reads || slow > 0));
	else
		assert_true(inl_r <= 1);
	free(st);
}

static void test_buffered_inline_io(void **state)
{
	(void)state;
	buffered_check(img_buf, sock_buf, "buf", true);
}

static char img_shm[300] = "";     /* an added volume's image (unlinked after its test) */

static int unlink_shm(void **state)
{
	(void)state;
	if (*img_shm)
		unlink(img_shm);
	*img_shm = 0;
	return 0;
}

/* Whether the kernel opens path with O_DIRECT (tmpfs does since 6.6). */
static bool opens_direct(const char *path)
{
	int fd = open(path, O_RDWR | O_DIRECT);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* A regular file on tmpfs or ramfs (kite-dpu serves such an image buffered unless "direct": true). */
static bool in_memory(const char *path)
{
	struct statfs sf;

	return statfs(path, &sf) == 0 && (sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC);
}

/* kite_dpu_blk_direct of volume vol. */
static unsigned long long direct_of(const char *vol)
{
	char *st = dpu_ctl(&dpu, "{\"cmd\":\"stats\"}");
	assert_non_null(st);
	unsigned long long d = stat_of(st, "direct", vol);
	free(st);
	return d;
}

/* A new volume `name` over the control socket: 2 queues, on a new image img_shm in dir (NULL: the
 * test's directory), socket path into sock. opts: more of the volume's keys ("direct", "map": JSON
 * members, each followed by a comma, or ""). volume_remove takes it and its image away again. */
static void volume_add_new(const char *dir, const char *name, const char *opts, char *sock, size_t socklen)
{
	char sockname[64], req[1024];

	snprintf(sockname, sizeof(sockname), "%s.sock", name);
	if (dir)
		snprintf(img_shm, sizeof(img_shm), "%s/kite-dpu-blk-%s-%d.img", dir, name, (int)getpid());
	else
		dpu_path(&dpu, name, img_shm, sizeof(img_shm));
	dpu_path(&dpu, sockname, sock, socklen);
	assert_int_equal(dpu_make_image(img_shm, IMG_BYTES, 0), 0);
	snprintf(req, sizeof(req), "{\"cmd\":\"add_volume\",\"name\":\"%s\",\"image\":\"%s\",\"socket\":\"%s\","
		 "%s\"queues\":2}", name, img_shm, sock, opts);
	char *r = dpu_ctl(&dpu, req);
	assert_non_null(r);
	if (!strstr(r, "\"ok\":true"))
		fail_msg("add_volume %s: %s", name, r);
	free(r);
}

static void volume_remove(const char *name)
{
	char req[256];

	snprintf(req, sizeof(req), "{\"cmd\":\"remove_volume\",\"name\":\"%s\"}", name);
	char *r = dpu_ctl(&dpu, req);
	assert_non_null(r);
	assert_non_null(strstr(r, "\"ok\":true"));
	free(r);
	unlink_shm(NULL);
}

/* The same on a volume added over the control socket and removed after: "map": false on the test's
 * directory (ext4 here: reads through io_uring) and on tmpfs (the poller's own preadv2), and mapped
 * on tmpfs. opts as volume_add_new's. The volume must be buffered (kite_dpu_blk_direct 0). */
static void added_volume_check(const char *dir, const char *name, const char *opts, bool map)
{
	char sock[300];

	volume_add_new(dir, name, opts, sock, sizeof(sock));
	assert_int_equal(direct_of(name), 0);
	buffered_check(img_shm, sock, name, map);
	volume_remove(name);
}

static void test_buffered_inline_io_tmpfs(void **state)
{
	(void)state;
	added_volume_check("/dev/shm", "shm", "\"direct\":false,\"map\":false,", false);
	added_volume_check("/dev/shm", "shmmap", "\"direct\":false,\"map\":true,", true);
}

static void test_buffered_unmapped(void **state)
{
	(void)state;
	added_volume_check(NULL, "bufio", "\"direct\":false,\"map\":false,", false);
}

/*
 * "direct" left out: O_DIRECT where the file system takes it (the config's "rw" volume, in the test's
 * directory), but an image in memory (/dev/shm) is served buffered, its reads mapped, and its bytes
 * are exact (buffered_check). "direct": true on /dev/shm: O_DIRECT all the same when the kernel takes
 * it there. kite_dpu_blk_direct says which.
 */
static void test_direct_default(void **state)
{
	char sock[300];

	(void)state;
	assert_int_equal(direct_of("rw"), in_memory(img_rw) ? 0 : opens_direct(img_rw));
	added_volume_check("/dev/shm", "shmauto", "", true);

	volume_add_new("/dev/shm", "shmdirect", "\"direct\":true,", sock, sizeof(sock));
	bool want = opens_direct(img_shm);
	printf("/dev/shm: the kernel %s O_DIRECT there\n", want ? "takes" : "refuses");
	assert_int_equal(direct_of("shmdirect"), want);
	volume_remove("shmdirect");
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* n reads of len bytes each (back to back from sector 0) submitted at once on queue 0, then polled
 * for until all are done or 20 s have passed (a bound); every one must complete OK. Returns how many
 * completed. */
static unsigned reads_at_once(struct blkdrv *d, unsigned n, uint32_t len)
{
	uint64_t t0 = mono_ns();
	unsigned done = 0;

	for (unsigned s = 0; s < n; s++)
		assert_int_equal(blkdrv_submit(d, 0, s, VIRTIO_BLK_T_IN, (uint64_t)s * (len / 512), len), 0);
	while (done < n && mono_ns() - t0 < 20000000000ull) {
		uint8_t st;
		long got = blkdrv_poll(d, 0, &st, NULL);
		assert_true(got >= 0);
		if (got > 0) {
			assert_int_equal(st, VIRTIO_BLK_S_OK);
			done++;
		} else {
			usleep(200);
		}
	}
	return done;
}

/* "coalesce_usecs" and "coalesce_max" reach the volume's vhost-user device: 8 reads at once on a
 * volume with interrupts held up to 2 ms or 4 completions all complete OK, and the stats count held
 * call decisions (the first completion of every episode is held: the bound is 4). */
static void test_coalescing_volume(void **state)
{
	char sock[300];
	struct blkdrv d;

	(void)state;
	volume_add_new("/dev/shm", "coal", "\"coalesce_usecs\":2000,\"coalesce_max\":4,", sock, sizeof(sock));
	open_drv(&d, sock, 1);
	assert_int_equal(reads_at_once(&d, 8, 4096), 8);
	blkdrv_close(&d);
	char *r = dpu_ctl(&dpu, "{\"cmd\":\"stats\"}");
	assert_non_null(r);
	assert_true(stat_of(r, "reads_total", "coal") >= 8);
	assert_true(stat_of(r, "notifications_held_total", "coal") >= 1);
	assert_int_equal(stat_of(r, "notifications_held_total", "rw"), 0);
	free(r);
	volume_remove("coal");
}

/* IOPS limit holds: n requests cannot finish faster than the token bucket allows (a lower bound on
 * the elapsed time derived from the limiter, never an upper one). */
static void test_qos_iops(void **state)
{
	struct blkdrv d;
	const unsigned n = 16;
	/* 2 queues: each gets iops/2 = 40 per second with a burst of 4 */
	const double rate = 40.0, burst = 4.0;

	(void)state;
	char *r = dpu_ctl(&dpu, "{\"cmd\":\"set_qos\",\"name\":\"rw\",\"iops\":80}");
	assert_non_null(strstr(r, "\"ok\":true"));
	free(r);
	open_drv(&d, sock_rw, 1);
	uint64_t t0 = mono_ns();
	unsigned done = reads_at_once(&d, n, 4096);
	double elapsed = (double)(mono_ns() - t0) / 1e9;
	assert_int_equal(done, n);
	printf("qos: %u requests in %.3f s (limit %.0f/s, burst %.0f)\n", n, elapsed, rate, burst);
	assert_true((double)n <= burst + rate * elapsed + 1);
	r = dpu_ctl(&dpu, "{\"cmd\":\"stats\"}");
	assert_null(strstr(r, "kite_dpu_blk_throttled_total{volume=\\\"rw\\\"} 0\\n"));
	free(r);
	/* bandwidth: 2 MiB/s -> 1 MiB/s per queue, burst 1/10 s (104857 bytes) */
	r = dpu_ctl(&dpu, "{\"cmd\":\"set_qos\",\"name\":\"rw\",\"iops\":0,\"bps\":2097152}");
	assert_non_null(strstr(r, "\"ok\":true"));
	free(r);
	t0 = mono_ns();
	done = reads_at_once(&d, n, 65536);
	elapsed = (double)(mono_ns() - t0) / 1e9;
	assert_int_equal(done, n);
	printf("qos: %u x 64 KiB in %.3f s (limit 1 MiB/s per queue)\n", n, elapsed);
	assert_true((double)n * (65536 + 17) <= 104857.0 + 1048576.0 * elapsed + 65536 + 17);
	/* back to unlimited */
	r = dpu_ctl(&dpu, "{\"cmd\":\"set_qos\",\"name\":\"rw\",\"iops\":0,\"bps\":0}");
	free(r);
	blkdrv_close(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_space),
		cmocka_unit_test(test_write_flush_read),
		cmocka_unit_test(test_many_inflight),
		cmocka_unit_test(test_readonly),
		cmocka_unit_test(test_discard_write_zeroes_getid),
		cmocka_unit_test(test_malformed_requests),
		cmocka_unit_test(test_encrypted),
		cmocka_unit_test(test_hostile_peers),
		cmocka_unit_test(test_control_socket),
		cmocka_unit_test(test_qos_iops),
		cmocka_unit_test(test_buffered_inline_io),
		cmocka_unit_test_teardown(test_buffered_inline_io_tmpfs, unlink_shm),
		cmocka_unit_test_teardown(test_buffered_unmapped, unlink_shm),
		cmocka_unit_test_teardown(test_direct_default, unlink_shm),
		cmocka_unit_test_teardown(test_coalescing_volume, unlink_shm),
		/* after the buffered tests: those count every request of the buffered volume */
		cmocka_unit_test(test_reads_keep_atime),
		cmocka_unit_test(test_split_data),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
