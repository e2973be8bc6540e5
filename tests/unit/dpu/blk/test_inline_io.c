/* SPDX-License-Identifier: MIT */
/*
 * common/inline_io.c, every case for writes and again for reads (the fake backing fails the test
 * when the other direction's call is made): the probe picks the mode from the first request's
 * RWF_NOWAIT result; a fake slow backing (a call that sleeps and advances a fake clock past
 * IW_SLOW_NS) sends that direction to io_uring for exactly IW_BACKOFF_NS, then inline again; a call
 * only as slow because the poller was preempted (no sleep) does not; errors are the call's own; large
 * requests and O_DIRECT volumes never go inline; once a poll call's inline time reaches IW_ROUND_NS
 * the rest of its requests go to io_uring, and the next call starts afresh; every request served
 * inline counts in done, every one that slept in slow, and a re-init (image swap) counts on; an
 * inline read fills the request's buffers; and on a real file the bytes land where they should
 * (writes) and come back (reads), also on tmpfs (/dev/shm, which must exist: the test fails without).
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

#include "kite/inline_io.h"

/* the fake backing */
static uint64_t fake_now;
static unsigned calls, nowait_calls;
static int nowait_errno;          /* 0: a RWF_NOWAIT write succeeds (returns nowait_ret) */
static ssize_t nowait_ret;
static uint64_t write_ns;         /* how long a blocking write takes (advances the fake clock) */
static int write_errno;           /* a blocking write fails with it */
static bool write_sleeps;         /* a blocking write sleeps in the kernel (else: it was preempted) */
static uint64_t fake_sleeps;      /* the thread's voluntary context switches */
static enum iw_dir test_dir;      /* the direction under test: the other's call fails the test */
#define READ_BYTE 0xa5            /* what the fake backing's blocking reads fill the buffers with */

static ssize_t fake_io(enum iw_dir dir, int fd, const struct iovec *iov, int iovcnt, off_t off, int flags)
{
	size_t len = 0;

	(void)fd, (void)off;
	assert_int_equal(dir, test_dir);
	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	calls++;
	if (flags & RWF_NOWAIT) {
		nowait_calls++;
		if (nowait_errno) {
			errno = nowait_errno;
			return -1;
		}
		return nowait_ret;
	}
	assert_int_equal(flags, 0);
	fake_now += write_ns;
	fake_sleeps += write_sleeps;
	if (write_errno) {
		errno = write_errno;
		return -1;
	}
	if (dir == IW_READ)
		for (int i = 0; i < iovcnt; i++)
			memset(iov[i].iov_base, READ_BYTE, iov[i].iov_len);
	return (ssize_t)len;
}

static ssize_t fake_pwritev2(int fd, const struct iovec *iov, int iovcnt, off_t off, int flags)
{
	return fake_io(IW_WRITE, fd, iov, iovcnt, off, flags);
}

static ssize_t fake_preadv2(int fd, const struct iovec *iov, int iovcnt, off_t off, int flags)
{
	return fake_io(IW_READ, fd, iov, iovcnt, off, flags);
}

static uint64_t fake_clock(void)
{
	return fake_now;
}

static uint64_t fake_sleep_count(void)
{
	return fake_sleeps;
}

static const struct iw_ops fake_ops = { fake_pwritev2, fake_clock, fake_sleep_count, fake_preadv2 };
static uint8_t buf[256 * 1024];
/* the fake cases' volume (one direction), its poll call's inline time, and the last request's slow */
static struct inline_io w;
static uint64_t spent;
static bool slow;

/* Each fake case starts with a zeroed volume (state: the direction); reset(NULL) inside a case resets
 * only the fake backing. */
static int reset(void **state)
{
	if (state) {
		test_dir = *state ? (enum iw_dir)(uintptr_t)*state : IW_WRITE;
		memset(&w, 0, sizeof(w));
		spent = 0;
		slow = false;
	}
	fake_now = 1000000000ull;
	calls = nowait_calls = 0;
	nowait_errno = EOPNOTSUPP;
	nowait_ret = 0;
	write_ns = 3000;
	write_errno = 0;
	write_sleeps = true;
	fake_sleeps = 7;
	return 0;
}

/* One request of the direction under test; an inline read's result is checked against the bytes
 * it left in the buffers (all of them READ_BYTE after a whole blocking read, none touched by a punt
 * without a probe). Every result but IW_PUNT counts one in done; *slow: this one counted in slow. */
static ssize_t wr(struct inline_io *w, size_t len, uint64_t *spent, bool *slow)
{
	struct iovec iov[2] = { { buf, len / 2 }, { buf + len / 2, len - len / 2 } };
	unsigned before = nowait_calls;
	uint64_t done0 = iw_done(w), slow0 = iw_slow(w);

	assert_int_equal(w->dir, test_dir);
	memset(buf, 0, len);
	ssize_t r = iw_io(w, 3, iov, 2, 4096, len, spent);
	assert_int_equal(iw_done(w), done0 + (r != IW_PUNT));
	assert_true(iw_slow(w) - slow0 <= 1);
	*slow = iw_slow(w) != slow0;
	if (test_dir == IW_READ && r == (ssize_t)len && nowait_calls == before)
		for (size_t i = 0; i < len; i++)
			assert_int_equal(buf[i], READ_BYTE);
	if (test_dir == IW_READ && r == IW_PUNT && nowait_calls == before)
		for (size_t i = 0; i < len; i++)
			assert_int_equal(buf[i], 0);
	return r;
}

/* A fresh buffered volume whose first (4 KiB) write's RWF_NOWAIT try gets err (0: returns ret): the
 * first write's result, and the mode it leaves. */
static ssize_t first_write(struct inline_io *w, int err, ssize_t ret, uint64_t *spent, bool *slow)
{
	reset(NULL);
	nowait_errno = err;
	nowait_ret = ret;
	iw_init(w, "t", test_dir, true, &fake_ops);
	assert_int_equal(w->mode, IW_PROBE);
	return wr(w, 4096, spent, slow);
}

static void test_probe_no_nowait_path_goes_inline(void **state)
{
	struct inline_io w = { 0 };
	uint64_t spent = 0;
	bool slow = true;

	(void)state;
	assert_int_equal(first_write(&w, EOPNOTSUPP, 0, &spent, &slow), 4096);
	assert_int_equal(w.mode, IW_INLINE);
	assert_false(slow);
	assert_int_equal(spent, 3000);
	assert_int_equal(nowait_calls, 1);      /* the probe, then the blocking write */
	assert_int_equal(calls, 2);
	for (int i = 0; i < 10; i++)
		assert_int_equal(wr(&w, 8192, &spent, &slow), 8192);
	assert_int_equal(nowait_calls, 1);      /* probed once */
	assert_int_equal(calls, 12);
	assert_int_equal(spent, 11 * 3000);
	/* tmpfs on older kernels says EINVAL (generic_write_checks): the same */
	assert_int_equal(first_write(&w, EINVAL, 0, &spent, &slow), 4096);
	assert_int_equal(w.mode, IW_INLINE);
}

static void test_probe_nowait_path_stays_on_uring(void **state)
{
	(void)state;
	/* the non-blocking write was done whole: that is the request's result */
	assert_int_equal(first_write(&w, 0, 4096, &spent, &slow), 4096);
	assert_int_equal(w.mode, IW_URING);
	assert_true(wr(&w, 4096, &spent, &slow) == IW_PUNT);
	assert_int_equal(calls, 1);
	/* short: io_uring redoes it whole */
	assert_true(first_write(&w, 0, 512, &spent, &slow) == IW_PUNT);
	assert_int_equal(w.mode, IW_URING);
	/* EAGAIN: the path exists, this page was not ready */
	assert_true(first_write(&w, EAGAIN, 0, &spent, &slow) == IW_PUNT);
	assert_int_equal(w.mode, IW_URING);
	assert_true(wr(&w, 4096, &spent, &slow) == IW_PUNT);
	assert_int_equal(calls, 1);
	assert_int_equal(spent, 0);
	/* a failing probe decides nothing: io_uring reports the error, the next write probes again */
	assert_true(first_write(&w, EIO, 0, &spent, &slow) == IW_PUNT);
	assert_int_equal(w.mode, IW_PROBE);
	nowait_errno = EOPNOTSUPP;
	assert_int_equal(wr(&w, 4096, &spent, &slow), 4096);
	assert_int_equal(w.mode, IW_INLINE);
}

static void test_slow_backing_punts_for_backoff(void **state)
{
	(void)state;
	assert_int_equal(first_write(&w, EOPNOTSUPP, 0, &spent, &slow), 4096);
	/* exactly N is not slow */
	write_ns = IW_SLOW_NS;
	iw_round(&w);
	spent = 0;
	assert_int_equal(wr(&w, 4096, &spent, &slow), 4096);
	assert_false(slow);
	/* slower, but preempted (no sleep): a worker would wait for the same core, so no punting */
	write_ns = 50ull * 1000 * 1000;
	write_sleeps = false;
	iw_round(&w);
	spent = 0;
	assert_int_equal(wr(&w, 4096, &spent, &slow), 4096);
	assert_false(slow);
	spent = 0;      /* the same poll call, its budget aside (test_round_budget) */
	assert_int_equal(wr(&w, 4096, &spent, &slow), 4096);
	assert_false(slow);
	/* the poller slept between two poll calls (ppoll): not the next write's (each call samples anew) */
	fake_sleeps += 5;
	iw_round(&w);
	spent = 0;
	assert_int_equal(wr(&w, 4096, &spent, &slow), 4096);
	assert_false(slow);
	spent = 0;
	assert_true(wr(&w, 4096, &spent, &slow) != IW_PUNT);
	write_sleeps = true;
	/* the slow write itself completes (its result is the request's) and engages the guard */
	write_ns = IW_SLOW_NS + 1;
	spent = 0;
	assert_int_equal(wr(&w, 4096, &spent, &slow), 4096);
	assert_true(slow);
	uint64_t slow_end = fake_now;
	unsigned before = calls;
	/* for M, every write goes to io_uring and costs no inline time */
	write_ns = 3000;
	spent = 0;
	assert_true(wr(&w, 4096, &spent, &slow) == IW_PUNT);
	assert_false(slow);
	fake_now = slow_end + IW_BACKOFF_NS - 1;
	assert_true(wr(&w, 4096, &spent, &slow) == IW_PUNT);
	assert_int_equal(calls, before);
	assert_int_equal(spent, 0);
	/* then inline again */
	fake_now = slow_end + IW_BACKOFF_NS;
	assert_int_equal(wr(&w, 4096, &spent, &slow), 4096);
	assert_int_equal(calls, before + 1);
	assert_int_equal(spent, 3000);
	assert_int_equal(w.mode, IW_INLINE);
	/* a backing that stays slow: at most one blocking write per M */
	write_ns = 20ull * 1000 * 1000;
	unsigned inline_done = 0;
	uint64_t start = fake_now;
	for (; fake_now < start + 10 * IW_BACKOFF_NS; fake_now += 1000000) {
		iw_round(&w);
		spent = 0;
		if (wr(&w, 4096, &spent, &slow) != IW_PUNT)
			inline_done++;
	}
	assert_true(inline_done >= 8 && inline_done <= 10);
}

/* One poll call's inline time: requests go inline while the sum is below IW_ROUND_NS (the one that
 * crosses it included), then every further one of the call goes to io_uring without a call to the
 * backing, whichever direction; the next poll call starts with a fresh sum. */
static void test_round_budget(void **state)
{
	(void)state;
	assert_int_equal(first_write(&w, EOPNOTSUPP, 0, &spent, &slow), 4096);
	write_ns = 30 * 1000;
	for (unsigned round = 0; round < 3; round++) {
		iw_round(&w);
		spent = 0;
		unsigned before = calls, inline_done = 0;
		uint64_t done = iw_done(&w);
		for (unsigned i = 0; i < 16; i++)
			if (wr(&w, 4096, &spent, &slow) != IW_PUNT)
				inline_done++;
		/* 0, 30, 60 and 90 us spent before each of the first four: inline; 120 us: the rest punt */
		assert_int_equal(inline_done, 4);
		assert_int_equal(calls, before + 4);
		assert_int_equal(spent, 4 * 30 * 1000);
		assert_int_equal(iw_done(&w), done + 4);
	}
	/* the edge: just below the budget goes inline, at it not */
	spent = IW_ROUND_NS - 1;
	assert_int_equal(wr(&w, 4096, &spent, &slow), 4096);
	spent = IW_ROUND_NS;
	assert_true(wr(&w, 4096, &spent, &slow) == IW_PUNT);
	assert_int_equal(spent, IW_ROUND_NS);
	/* a call whose budget is spent does not even probe a fresh volume */
	reset(NULL);
	iw_init(&w, "t", test_dir, true, &fake_ops);
	assert_true(wr(&w, 4096, &spent, &slow) == IW_PUNT);
	assert_int_equal(calls, 0);
	assert_int_equal(w.mode, IW_PROBE);
}

/* done and slow: every request served in the thread (a probe done whole too), every one that slept;
 * not the punted ones; iw_init for a new file (an image swap) keeps them. */
static void test_counters(void **state)
{
	(void)state;
	assert_int_equal(first_write(&w, 0, 4096, &spent, &slow), 4096);   /* the probe did it whole */
	assert_int_equal(iw_done(&w), 1);
	assert_true(wr(&w, 4096, &spent, &slow) == IW_PUNT);             /* io_uring's */
	assert_int_equal(iw_done(&w), 1);
	/* the image is swapped for one on a file system without the path: counts on */
	nowait_errno = EOPNOTSUPP;
	iw_init(&w, "t", test_dir, true, &fake_ops);
	assert_int_equal(wr(&w, 4096, &spent, &slow), 4096);
	write_errno = EIO;
	assert_int_equal(wr(&w, 4096, &spent, &slow), -EIO);             /* served, with its error */
	write_errno = 0;
	assert_int_equal(iw_done(&w), 3);
	assert_int_equal(iw_slow(&w), 0);
	write_ns = IW_SLOW_NS + 1;
	spent = 0;
	assert_int_equal(wr(&w, 4096, &spent, &slow), 4096);
	assert_true(slow);
	assert_true(wr(&w, 4096, &spent, &slow) == IW_PUNT);             /* the guard */
	assert_int_equal(iw_done(&w), 4);
	assert_int_equal(iw_slow(&w), 1);
}

static void test_errors_and_limits(void **state)
{
	(void)state;
	assert_int_equal(first_write(&w, EOPNOTSUPP, 0, &spent, &slow), 4096);
	write_errno = ENOSPC;
	assert_int_equal(wr(&w, 4096, &spent, &slow), -ENOSPC);
	write_errno = EIO;
	assert_int_equal(wr(&w, 4096, &spent, &slow), -EIO);
	assert_int_equal(w.mode, IW_INLINE);     /* an error is that request's only */
	write_errno = EINTR;
	assert_true(wr(&w, 4096, &spent, &slow) == IW_PUNT);
	write_errno = 0;
	unsigned before = calls;
	assert_int_equal(wr(&w, IW_MAX_BYTES, &spent, &slow), (ssize_t)IW_MAX_BYTES);
	assert_true(wr(&w, IW_MAX_BYTES + 512, &spent, &slow) == IW_PUNT);
	assert_int_equal(calls, before + 1);
	/* O_DIRECT volumes (and read-only volumes' writes): never probed, never inline */
	reset(NULL);
	iw_init(&w, "t", test_dir, false, &fake_ops);
	assert_int_equal(w.mode, IW_URING);
	assert_true(wr(&w, 4096, &spent, &slow) == IW_PUNT);
	assert_int_equal(calls, 0);
}

/* A 1 MiB scratch file in dir (removed at once), and whether the file system refuses a RWF_NOWAIT
 * call of direction d (no non-blocking path: inline expected). A missing dir fails the test. */
static int real_file(const char *dir, enum iw_dir d, bool *no_nowait)
{
	char path[256];
	static uint8_t scratch[512];
	struct iovec probe = { scratch, sizeof(scratch) };

	snprintf(path, sizeof(path), "%s/kite-iw-XXXXXX", dir);
	int fd = mkstemp(path);
	if (fd < 0)
		fail_msg("cannot create %s: %s (the real-file cases need %s; /dev/shm is the tmpfs one)", path,
			 strerror(errno), dir);
	unlink(path);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	ssize_t pr = d == IW_READ ? preadv2(fd, &probe, 1, 0, RWF_NOWAIT) : pwritev2(fd, &probe, 1, 0, RWF_NOWAIT);
	*no_nowait = pr < 0 && (errno == EOPNOTSUPP || errno == EINVAL);
	return fd;
}

static const char *tmpdir(void)
{
	const char *t = getenv("TMPDIR");

	return t && *t ? t : "/tmp";
}

/* The real pwritev2 on a file in $TMPDIR (or /tmp): whatever the mode the probe picks, it agrees with
 * the file system's answer to RWF_NOWAIT, and an inline write puts the bytes in the file. */
static void test_real_file_write(void **state)
{
	struct inline_io rw = { 0 };
	uint64_t rspent;
	bool no_nowait;
	static uint8_t out[8192], back[8192];

	(void)state;
	int fd = real_file(tmpdir(), IW_WRITE, &no_nowait);
	iw_init(&rw, "real", IW_WRITE, true, NULL);
	for (unsigned k = 0; k < 2; k++) {
		rspent = 0;     /* each its own poll call: the budget is not under test here */
		for (size_t i = 0; i < sizeof(out); i++)
			out[i] = (uint8_t)(i * 13 + k * 7 + 1);
		struct iovec iov[2] = { { out, 4096 }, { out + 4096, 4096 } };
		ssize_t r = iw_io(&rw, fd, iov, 2, 65536, sizeof(out), &rspent);
		if (r == IW_PUNT) {
			assert_false(no_nowait);
			assert_int_equal(rw.mode, IW_URING);
			break;
		}
		assert_int_equal(r, (ssize_t)sizeof(out));
		assert_int_equal(pread(fd, back, sizeof(back), 65536), (ssize_t)sizeof(back));
		assert_memory_equal(back, out, sizeof(out));
	}
	assert_int_equal(rw.mode, no_nowait ? IW_INLINE : IW_URING);
	close(fd);
}

/* The real preadv2 on a file in $TMPDIR (or /tmp) and in /dev/shm (tmpfs: no RWF_NOWAIT reads on this
 * kernel, so that one must go inline there): the probe agrees with the file system's answer, and an
 * inline read returns the file's bytes (two segments, twice, with different contents). */
static void real_read(const char *dir)
{
	struct inline_io rw = { 0 };
	uint64_t rspent;
	bool no_nowait;
	static uint8_t in[8192], back[8192];

	int fd = real_file(dir, IW_READ, &no_nowait);
	iw_init(&rw, "real", IW_READ, true, NULL);
	for (unsigned k = 0; k < 2; k++) {
		rspent = 0;     /* each its own poll call: the budget is not under test here */
		for (size_t i = 0; i < sizeof(back); i++)
			back[i] = (uint8_t)(i * 29 + k * 3 + 5);
		assert_int_equal(pwrite(fd, back, sizeof(back), 65536), (ssize_t)sizeof(back));
		memset(in, 0, sizeof(in));
		struct iovec iov[2] = { { in, 4096 }, { in + 4096, 4096 } };
		ssize_t r = iw_io(&rw, fd, iov, 2, 65536, sizeof(in), &rspent);
		if (r == IW_PUNT) {
			assert_false(no_nowait);
			assert_int_equal(rw.mode, IW_URING);
			break;
		}
		assert_int_equal(r, (ssize_t)sizeof(in));
		assert_memory_equal(in, back, sizeof(in));
		if (rw.mode == IW_URING)    /* a page-cache hit answered the probe: that was the result */
			break;
	}
	assert_int_equal(rw.mode, no_nowait ? IW_INLINE : IW_URING);
	close(fd);
}

static void test_real_file_read(void **state)
{
	(void)state;
	real_read(tmpdir());
	real_read("/dev/shm");
}

#define BOTH(f) cmocka_unit_test_prestate_setup_teardown(f, reset, NULL, (void *)(uintptr_t)IW_WRITE), \
		cmocka_unit_test_prestate_setup_teardown(f, reset, NULL, (void *)(uintptr_t)IW_READ)

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_probe_no_nowait_path_goes_inline),
		BOTH(test_probe_nowait_path_stays_on_uring),
		BOTH(test_slow_backing_punts_for_backoff),
		BOTH(test_round_budget),
		BOTH(test_counters),
		BOTH(test_errors_and_limits),
		cmocka_unit_test(test_real_file_write),
		cmocka_unit_test(test_real_file_read),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
