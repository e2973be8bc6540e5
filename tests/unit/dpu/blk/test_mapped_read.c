/* SPDX-License-Identifier: MIT */
/*
 * Mapped reads (common/inline_io.c IW_MAPPED, common/mapped_copy.c) on real files in $TMPDIR (or /tmp)
 * and /dev/shm: iw_map takes only a buffered volume's read struct; a mapped read fills the request's
 * buffers with the file's bytes at its offset and counts in done; reads past the mapping or larger
 * than IW_MAP_MAX_BYTES, and reads once the round budget is spent, go to io_uring (IW_PUNT); a write
 * through the file is seen by the next mapped read. Guard (fake clock and sleep count): a read slower
 * than IW_MAP_SLOW_NS(len) that slept sends reads to io_uring for exactly IW_BACKOFF_NS; one that was
 * only preempted (no sleep) does not. A file that shrinks beneath the mapping: the read that faults
 * (SIGBUS) goes to io_uring, the mapping is dropped for good (IW_URING), and the process lives on; a
 * SIGBUS outside an armed copy still ends a process (a child) with SIGBUS. Mapped writes: the write
 * struct maps writable, a write lands in the file at its offset and nowhere else, the read mapping
 * sees it, it survives fsync and unmap; the same limits send writes to io_uring; a write past a
 * shrunk file's end faults, goes to io_uring and drops the write mapping for good.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "kite/inline_io.h"
#include "kite/mapped_copy.h"

#define FILE_BYTES (2u << 20)

static uint64_t fake_now, clock_step, fake_sleeps;
static bool sleepy;

/* Each reading of the clock moves it clock_step on (the second reading is the copy's end). */
static uint64_t fake_clock(void)
{
	uint64_t t = fake_now;

	fake_now += clock_step;
	return t;
}

/* A sleepy copy: the count read after the copy is one more than the one read before it. */
static uint64_t fake_sleep_count(void)
{
	return sleepy ? fake_sleeps++ : fake_sleeps;
}

static ssize_t no_rw(int fd, const struct iovec *iov, int iovcnt, off_t off, int flags)
{
	(void)fd, (void)iov, (void)iovcnt, (void)off, (void)flags;
	fail_msg("a mapped volume made a system read or write");
	return -1;
}

static const struct iw_ops fake_ops = { no_rw, fake_clock, fake_sleep_count, no_rw };

static uint8_t byte_at(uint64_t off, uint8_t gen)
{
	return (uint8_t)(off * 131 + (off >> 12) + gen);
}

/* A FILE_BYTES file in dir, every byte byte_at(its offset, 0); unlinked at once. */
static int make_file(const char *dir)
{
	char path[256];
	static uint8_t chunk[65536];

	snprintf(path, sizeof(path), "%s/kite-mapped-XXXXXX", dir);
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	for (uint64_t off = 0; off < FILE_BYTES; off += sizeof(chunk)) {
		for (size_t i = 0; i < sizeof(chunk); i++)
			chunk[i] = byte_at(off + i, 0);
		assert_int_equal(pwrite(fd, chunk, sizeof(chunk), (off_t)off), (ssize_t)sizeof(chunk));
	}
	return fd;
}

static uint8_t buf[IW_MAP_MAX_BYTES + 4096];

/* A read of len at off into two buffers (split unevenly); checks the bytes when it was mapped. */
static ssize_t rd(struct inline_io *w, uint64_t off, size_t len, uint64_t *spent, uint8_t gen)
{
	size_t a = len / 3;
	struct iovec iov[2] = { { buf, a }, { buf + a, len - a } };
	uint64_t done0 = iw_done(w);

	memset(buf, 0, len);
	ssize_t r = iw_io(w, -1, iov, 2, (off_t)off, len, spent);
	assert_int_equal(iw_done(w), done0 + (r != IW_PUNT));
	if (r != IW_PUNT) {
		assert_int_equal(r, (ssize_t)len);
		for (size_t i = 0; i < len; i++)
			if (buf[i] != byte_at(off + i, gen))
				fail_msg("byte %zu of a read at %llu: %u, expected %u", i, (unsigned long long)off,
					 buf[i], byte_at(off + i, gen));
	}
	return r;
}

static void mapped_reads_in(const char *dir)
{
	struct inline_io w = { 0 }, ww = { 0 };
	uint64_t spent = 0;
	int fd = make_file(dir);

	fake_now = 1000000000ull;
	clock_step = 1000;
	sleepy = false;
	/* only a buffered volume's structs map (a read-only volume's write struct is not buffered) */
	iw_init(&ww, "t", IW_WRITE, false, &fake_ops);
	assert_int_equal(iw_map(&ww, fd, FILE_BYTES), -EINVAL);
	iw_init(&w, "t", IW_READ, false, &fake_ops);
	assert_int_equal(iw_map(&w, fd, FILE_BYTES), -EINVAL);
	assert_int_equal(w.mode, IW_URING);
	iw_init(&w, "t", IW_READ, true, &fake_ops);
	assert_int_equal(iw_map(&w, fd, 0), -EINVAL);
	assert_int_equal(iw_map(&w, fd, FILE_BYTES), 0);
	assert_int_equal(w.mode, IW_MAPPED);
	/* bytes at their offsets, aligned or not, up to the largest mapped read */
	assert_int_equal(rd(&w, 0, 4096, &spent, 0), 4096);
	assert_int_equal(rd(&w, 512 * 3, 65536, &spent, 0), 65536);
	assert_int_equal(rd(&w, 4096, IW_MAP_MAX_BYTES, &spent, 0), (ssize_t)IW_MAP_MAX_BYTES);
	assert_int_equal(rd(&w, FILE_BYTES - 4096, 4096, &spent, 0), 4096);
	assert_int_equal(iw_done(&w), 4);
	/* io_uring's: larger, past the end, straddling it, or the round's budget spent */
	assert_int_equal(rd(&w, 0, IW_MAP_MAX_BYTES + 512, &spent, 0), IW_PUNT);
	assert_int_equal(rd(&w, FILE_BYTES, 512, &spent, 0), IW_PUNT);
	assert_int_equal(rd(&w, FILE_BYTES - 512, 4096, &spent, 0), IW_PUNT);
	spent = IW_ROUND_NS;
	assert_int_equal(rd(&w, 0, 4096, &spent, 0), IW_PUNT);
	spent = 0;
	assert_int_equal(w.mode, IW_MAPPED);
	/* the time a mapped read took counts in the round's budget */
	assert_int_equal(rd(&w, 0, 4096, &spent, 0), 4096);
	assert_int_equal(spent, clock_step);
	/* a write through the file (io_uring's path) is what the next mapped read sees */
	static uint8_t chunk[8192];
	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = byte_at(65536 + i, 9);
	assert_int_equal(pwrite(fd, chunk, sizeof(chunk), 65536), (ssize_t)sizeof(chunk));
	assert_int_equal(rd(&w, 65536, sizeof(chunk), &spent, 9), (ssize_t)sizeof(chunk));
	/* the mapping holds no reference to the fd; an image swap's iw_init drops it */
	close(fd);
	assert_int_equal(rd(&w, 65536 + 8192, 4096, &spent, 0), 4096);
	iw_init(&w, "t", IW_READ, true, &fake_ops);
	assert_null(w.map);
	assert_int_equal(w.mode, IW_PROBE);
	assert_int_equal(iw_done(&w), 7);    /* counted on across the re-init */
	iw_unmap(&w);
	iw_unmap(&w);                         /* twice is harmless */
}

static void test_mapped_reads(void **state)
{
	const char *t = getenv("TMPDIR");

	(void)state;
	mapped_reads_in(t && *t ? t : "/tmp");
	mapped_reads_in("/dev/shm");
}

/* A write of len at off from two buffers (split unevenly), bytes byte_at(offset, gen); when it was
 * mapped, the file holds them (read back through the fd). */
static ssize_t wr(struct inline_io *w, int fd, uint64_t off, size_t len, uint64_t *spent, uint8_t gen)
{
	size_t a = len / 3;
	struct iovec iov[2] = { { buf, a }, { buf + a, len - a } };
	uint64_t done0 = iw_done(w);

	for (size_t i = 0; i < len; i++)
		buf[i] = byte_at(off + i, gen);
	ssize_t r = iw_io(w, -1, iov, 2, (off_t)off, len, spent);
	assert_int_equal(iw_done(w), done0 + (r != IW_PUNT));
	if (r != IW_PUNT) {
		assert_int_equal(r, (ssize_t)len);
		memset(buf, 0, len);
		assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
		for (size_t i = 0; i < len; i++)
			if (buf[i] != byte_at(off + i, gen))
				fail_msg("byte %zu of a write at %llu: %u in the file, expected %u", i,
					 (unsigned long long)off, buf[i], byte_at(off + i, gen));
	}
	return r;
}

/* Mapped writes: a buffered volume's write struct maps writable; a write lands in the file at its
 * offset (the bytes around it untouched), and the read struct's mapping sees it; past the mapping,
 * larger than IW_MAP_MAX_BYTES or over the round budget: io_uring's. */
static void mapped_writes_in(const char *dir)
{
	struct inline_io w = { 0 }, r = { 0 };
	uint64_t spent = 0;
	int fd = make_file(dir);
	uint8_t edge[2];

	fake_now = 1000000000ull;
	clock_step = 1000;
	sleepy = false;
	iw_init(&w, "t", IW_WRITE, true, &fake_ops);
	assert_int_equal(iw_map(&w, fd, FILE_BYTES), 0);
	assert_int_equal(w.mode, IW_MAPPED);
	iw_init(&r, "t", IW_READ, true, &fake_ops);
	assert_int_equal(iw_map(&r, fd, FILE_BYTES), 0);
	assert_int_equal(wr(&w, fd, 4096, 4096, &spent, 5), 4096);
	assert_int_equal(wr(&w, fd, 512 * 7, 65536 + 512, &spent, 6), 65536 + 512);
	assert_int_equal(wr(&w, fd, FILE_BYTES - IW_MAP_MAX_BYTES, IW_MAP_MAX_BYTES, &spent, 7),
			 (ssize_t)IW_MAP_MAX_BYTES);
	assert_int_equal(iw_done(&w), 3);
	/* the bytes just before and after the second write are the first write's and the file's */
	assert_int_equal(pread(fd, edge, 1, 512 * 7 - 1), 1);
	assert_int_equal(edge[0], byte_at(512 * 7 - 1, 0));
	assert_int_equal(pread(fd, edge + 1, 1, 512 * 7 + 65536 + 512), 1);
	assert_int_equal(edge[1], byte_at(512 * 7 + 65536 + 512, 0));
	/* the read mapping sees the write mapping's bytes */
	assert_int_equal(rd(&r, 512 * 7, 65536 + 512, &spent, 6), 65536 + 512);
	/* io_uring's: larger, past the end, straddling it, or the round's budget spent */
	assert_int_equal(wr(&w, fd, 0, IW_MAP_MAX_BYTES + 512, &spent, 8), IW_PUNT);
	assert_int_equal(wr(&w, fd, FILE_BYTES, 512, &spent, 8), IW_PUNT);
	assert_int_equal(wr(&w, fd, FILE_BYTES - 512, 4096, &spent, 8), IW_PUNT);
	spent = IW_ROUND_NS;
	assert_int_equal(wr(&w, fd, 0, 4096, &spent, 8), IW_PUNT);
	assert_int_equal(iw_done(&w), 3);
	/* a mapped write's bytes survive the mapping: fsync, unmap, read through the fd */
	spent = 0;
	assert_int_equal(wr(&w, fd, 8192, 4096, &spent, 9), 4096);
	assert_int_equal(fsync(fd), 0);
	iw_unmap(&w);
	iw_unmap(&r);
	assert_int_equal(pread(fd, buf, 4096, 8192), 4096);
	for (size_t i = 0; i < 4096; i++)
		assert_int_equal(buf[i], byte_at(8192 + i, 9));
	close(fd);
}

static void test_mapped_writes(void **state)
{
	const char *t = getenv("TMPDIR");

	(void)state;
	mapped_writes_in(t && *t ? t : "/tmp");
	mapped_writes_in("/dev/shm");
}

/* A file that shrinks beneath a write mapping: the write past the new end faults (SIGBUS), goes to
 * io_uring, and the write mapping is dropped for good; mc_copy_in straight: -EIO, then fine again. */
static void test_mapped_write_file_shrinks(void **state)
{
	struct inline_io w = { 0 };
	uint64_t spent = 0;
	int fd = make_file("/dev/shm");

	(void)state;
	fake_now = 1000000000ull;
	clock_step = 1000;
	sleepy = false;
	iw_init(&w, "t", IW_WRITE, true, &fake_ops);
	assert_int_equal(iw_map(&w, fd, FILE_BYTES), 0);
	assert_int_equal(ftruncate(fd, 4096), 0);
	assert_int_equal(wr(&w, fd, 0, 4096, &spent, 3), 4096);
	assert_int_equal(wr(&w, fd, 1 << 20, 65536, &spent, 3), IW_PUNT);
	assert_int_equal(w.mode, IW_URING);
	assert_null(w.map);
	assert_int_equal(wr(&w, fd, 0, 4096, &spent, 4), IW_PUNT);
	void *m = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	struct iovec iov = { buf, 65536 };
	assert_true(m != MAP_FAILED);
	assert_int_equal(mc_copy_in(m, &iov, 1, 65536), -EIO);
	assert_int_equal(mc_copy_in(m, &iov, 1, 65536), -EIO);
	assert_int_equal(mc_copy_in(m, &iov, 1, 4096), 4096);
	munmap(m, 65536);
	close(fd);
}

/* A fresh FILE_BYTES file on tmpfs, mapped by w (a read struct on the fake clock, now at 1 s); its fd. */
static int mapped_file(struct inline_io *w)
{
	int fd = make_file("/dev/shm");

	fake_now = 1000000000ull;
	iw_init(w, "t", IW_READ, true, &fake_ops);
	assert_int_equal(iw_map(w, fd, FILE_BYTES), 0);
	return fd;
}

static void test_mapped_guard(void **state)
{
	struct inline_io w = { 0 };
	uint64_t spent = 0;
	int fd = mapped_file(&w);

	(void)state;
	/* as slow as the threshold, and slept: not over it, no guard */
	clock_step = IW_MAP_SLOW_NS(4096);
	sleepy = true;
	assert_int_equal(rd(&w, 0, 4096, &spent, 0), 4096);
	assert_int_equal(iw_slow(&w), 0);
	/* slower, but only preempted (no sleep): no guard */
	clock_step = IW_MAP_SLOW_NS(65536) + 1;
	sleepy = false;
	spent = 0;
	iw_round(&w);
	assert_int_equal(rd(&w, 0, 65536, &spent, 0), 65536);
	assert_int_equal(iw_slow(&w), 0);
	/* slower and slept (a fault that waited for the disk): this read is done, the next go to
	 * io_uring until IW_BACKOFF_NS after its end */
	sleepy = true;
	spent = 0;
	iw_round(&w);
	assert_int_equal(rd(&w, 4096, 65536, &spent, 0), 65536);
	assert_int_equal(iw_slow(&w), 1);
	/* the copy's end was the clock's last reading, one step before fake_now */
	uint64_t until = fake_now - clock_step + IW_BACKOFF_NS;
	clock_step = 0;
	sleepy = false;
	spent = 0;
	assert_int_equal(rd(&w, 0, 4096, &spent, 0), IW_PUNT);
	fake_now = until - 1;
	assert_int_equal(rd(&w, 0, 4096, &spent, 0), IW_PUNT);
	fake_now += 1;
	assert_int_equal(rd(&w, 0, 4096, &spent, 0), 4096);
	assert_int_equal(w.mode, IW_MAPPED);
	iw_unmap(&w);
	close(fd);
}

static void test_mapped_file_shrinks(void **state)
{
	struct inline_io w = { 0 };
	uint64_t spent = 0;
	int fd = mapped_file(&w);

	(void)state;
	clock_step = 1000;
	sleepy = false;
	assert_int_equal(rd(&w, 1 << 20, 65536, &spent, 0), 65536);
	assert_int_equal(ftruncate(fd, 4096), 0);
	/* the first page is still there */
	assert_int_equal(rd(&w, 0, 4096, &spent, 0), 4096);
	/* the read past the new end faults: io_uring's, and so is every read after it */
	assert_int_equal(rd(&w, 1 << 20, 65536, &spent, 0), IW_PUNT);
	assert_int_equal(w.mode, IW_URING);
	assert_null(w.map);
	assert_int_equal(rd(&w, 0, 4096, &spent, 0), IW_PUNT);
	/* a copy of a missing page straight through mc_copy: -EIO, twice (the handler stays) */
	void *m = mmap(NULL, 65536, PROT_READ, MAP_SHARED, fd, 0);
	struct iovec iov = { buf, 65536 };
	assert_true(m != MAP_FAILED);
	assert_int_equal(mc_copy(m, &iov, 1, 65536), -EIO);
	assert_int_equal(mc_copy(m, &iov, 1, 65536), -EIO);
	assert_int_equal(mc_copy(m, &iov, 1, 4096), 4096);
	/* a SIGBUS outside an armed copy is not ours: a child that touches the missing page dies of it */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		volatile const char *p = (const char *)m + 8192;
		(void)*p;
		_exit(0);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGBUS);
	munmap(m, 65536);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mapped_reads),
		cmocka_unit_test(test_mapped_guard),
		cmocka_unit_test(test_mapped_file_shrinks),
		cmocka_unit_test(test_mapped_writes),
		cmocka_unit_test(test_mapped_write_file_shrinks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
