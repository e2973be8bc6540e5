/* SPDX-License-Identifier: MIT */
/* Inline buffered reads and writes for backings where io_uring would punt them: the probe, the call,
 * the guard (contract and knobs in inline_io.h). */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>

#include "kite/log.h"
#include "kite/inline_io.h"
#include "kite/mapped_copy.h"

static ssize_t sys_pwritev2(int fd, const struct iovec *iov, int iovcnt, off_t off, int flags)
{
	return pwritev2(fd, iov, iovcnt, off, flags);
}

static ssize_t sys_preadv2(int fd, const struct iovec *iov, int iovcnt, off_t off, int flags)
{
	return preadv2(fd, iov, iovcnt, off, flags);
}

static uint64_t sys_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t sys_sleeps(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_THREAD, &ru) == 0 ? (uint64_t)ru.ru_nvcsw : 0;
}

static const struct iw_ops sys_ops = { sys_pwritev2, sys_now_ns, sys_sleeps, sys_preadv2 };

void iw_init(struct inline_io *w, const char *name, enum iw_dir dir, bool buffered, const struct iw_ops *ops)
{
	iw_unmap(w);
	w->mode = buffered ? IW_PROBE : IW_URING;
	w->dir = dir;
	w->punt_until_ns = 0;
	w->sampled = false;
	w->ops = ops ? ops : &sys_ops;
	w->name = name;
}

void iw_unmap(struct inline_io *w)
{
	if (w->map)
		munmap((void *)w->map, w->map_len);
	w->map = NULL;
	w->map_len = 0;
	if (w->mode == IW_MAPPED)
		w->mode = IW_URING;
}

int iw_map(struct inline_io *w, int fd, uint64_t size)
{
	void *m;
	int r;

	if (w->mode == IW_URING || !size || size > SIZE_MAX)
		return -EINVAL;
	if ((r = mc_init()) < 0)
		return r;
	m = mmap(NULL, (size_t)size, w->dir == IW_READ ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return -errno;
	iw_unmap(w);
	w->map = m;
	w->map_len = (size_t)size;
	w->mode = IW_MAPPED;
	w->punt_until_ns = 0;
	return 0;
}

/* "read" or "write", for the log lines */
static const char *dir_name(const struct inline_io *w)
{
	return w->dir == IW_READ ? "read" : "write";
}

/* Counters: the serving thread is their only writer, readers load them relaxed (inline_io.h). */
static void count(uint64_t *c)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

static ssize_t call(const struct inline_io *w, int fd, const struct iovec *iov, int iovcnt, off_t off, int flags)
{
	return w->dir == IW_READ ? w->ops->preadv2(fd, iov, iovcnt, off, flags)
				 : w->ops->pwritev2(fd, iov, iovcnt, off, flags);
}

/* The first read (write) of a buffered volume, non-blocking: does the file system have that path?
 * Returns the call's result when it was done whole, IW_PUNT otherwise; sets the mode. */
static ssize_t probe(struct inline_io *w, int fd, const struct iovec *iov, int iovcnt, off_t off, size_t len)
{
	const char *what = dir_name(w);
	ssize_t r = call(w, fd, iov, iovcnt, off, RWF_NOWAIT);
	int err = r < 0 ? errno : 0;

	if (r >= 0 || err == EAGAIN) {
		w->mode = IW_URING;
		log_info("%s: buffered %ss have a non-blocking path on this file system: io_uring does them", w->name, what);
		return r >= 0 && (size_t)r == len ? r : IW_PUNT;
	}
	if (err == EOPNOTSUPP || err == EINVAL) {
		w->mode = IW_INLINE;
		log_info("%s: buffered %ss on this file system would go to io_uring's worker threads: the thread "
			 "serving it does them itself (back to the workers for %llu ms after a %s that slept over %llu us)",
			 w->name, what, IW_BACKOFF_NS / 1000000, what, IW_SLOW_NS / 1000);
		return 0;    /* not a result: the caller does it inline now */
	}
	return IW_PUNT;      /* EIO, ENOSPC, ...: io_uring reports it; probe again at the next request */
}

/* An inline request may start now (*t0): the guard is not engaged; the poll call's sleep count is
 * sampled at its first one. */
static bool start(struct inline_io *w, uint64_t *t0)
{
	*t0 = w->ops->now_ns();
	if (*t0 < w->punt_until_ns)
		return false;
	if (!w->sampled) {
		w->sleeps_at = w->ops->sleeps();
		w->sampled = true;
	}
	return true;
}

/* The guard's check after a request that took dt: one slower than slow_ns that slept engages it. */
static void guard(struct inline_io *w, uint64_t dt, uint64_t slow_ns, uint64_t t1, size_t len, off_t off)
{
	if (dt <= slow_ns || w->ops->sleeps() == w->sleeps_at)
		return;
	count(&w->slow);
	w->punt_until_ns = t1 + IW_BACKOFF_NS;
	log_info_rl("%s: an inline %s of %zu bytes at %lld slept, %llu us: %ss go to io_uring's workers "
		    "for %llu ms", w->name, dir_name(w), len, (long long)off, (unsigned long long)(dt / 1000),
		    dir_name(w), IW_BACKOFF_NS / 1000000);
}

/* IW_MAPPED: a copy out of (into) the mapping (kite/inline_io.h, "Mapped reads and writes"). */
static ssize_t mapped_io(struct inline_io *w, const struct iovec *iov, int iovcnt, off_t off, size_t len,
			 uint64_t *spent_ns)
{
	bool rd = w->dir == IW_READ;

	if (len > IW_MAP_MAX_BYTES || *spent_ns >= IW_ROUND_NS || off < 0 || (uint64_t)off > w->map_len ||
	    len > w->map_len - (uint64_t)off)
		return IW_PUNT;    /* beyond the mapping: io_uring says what the file holds there */
	uint64_t t0;
	if (!start(w, &t0))
		return IW_PUNT;
	ssize_t r = rd ? mc_copy(w->map + off, iov, iovcnt, len) : mc_copy_in(w->map + off, iov, iovcnt, len);
	uint64_t t1 = w->ops->now_ns(), dt = t1 > t0 ? t1 - t0 : 0;

	*spent_ns += dt;
	if (r < 0) {
		log_warn("%s: a %s of %zu bytes at %lld %s the image's mapping faulted (%s): %ss go through "
			 "io_uring from now on", w->name, dir_name(w), len, (long long)off, rd ? "from" : "into",
			 rd ? "the file shrank, or a page could not be read"
			    : "the file shrank, a page could not be read, or no space for a hole's blocks",
			 dir_name(w));
		iw_unmap(w);
		return IW_PUNT;    /* a write is redone whole through the file, which reports the error */
	}
	guard(w, dt, rd ? IW_MAP_SLOW_NS(len) : IW_SLOW_NS, t1, len, off);
	count(&w->done);
	return r;
}

ssize_t iw_io(struct inline_io *w, int fd, const struct iovec *iov, int iovcnt, off_t off, size_t len,
	      uint64_t *spent_ns)
{
	if (w->mode == IW_MAPPED)
		return mapped_io(w, iov, iovcnt, off, len, spent_ns);
	if (w->mode == IW_URING || len > IW_MAX_BYTES || *spent_ns >= IW_ROUND_NS)
		return IW_PUNT;
	if (w->mode == IW_PROBE) {
		ssize_t r = probe(w, fd, iov, iovcnt, off, len);
		if (w->mode != IW_INLINE) {
			if (r != IW_PUNT)
				count(&w->done);
			return r;
		}
	}
	uint64_t t0;
	if (!start(w, &t0))
		return IW_PUNT;
	ssize_t r = call(w, fd, iov, iovcnt, off, 0);
	int err = r < 0 ? errno : 0;
	uint64_t t1 = w->ops->now_ns(), dt = t1 > t0 ? t1 - t0 : 0;

	*spent_ns += dt;
	guard(w, dt, IW_SLOW_NS, t1, len, off);
	if (r < 0 && (err == EINTR || err == EAGAIN))
		return IW_PUNT;
	count(&w->done);
	return r < 0 ? -(err ? err : EIO) : r;
}
