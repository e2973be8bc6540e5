/* SPDX-License-Identifier: MIT */
/* Inline buffered reads and writes for backings where io_uring would punt them: the probe, the call,
 * the guard (contract and knobs in inline_io.h). */
#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "kite/log.h"
#include "kite/inline_io.h"

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
	w->mode = buffered ? IW_PROBE : IW_URING;
	w->dir = dir;
	w->punt_until_ns = 0;
	w->sampled = false;
	w->ops = ops ? ops : &sys_ops;
	w->name = name;
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

ssize_t iw_io(struct inline_io *w, int fd, const struct iovec *iov, int iovcnt, off_t off, size_t len,
	      uint64_t *spent_ns)
{
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
	uint64_t t0 = w->ops->now_ns();
	if (t0 < w->punt_until_ns)
		return IW_PUNT;
	if (!w->sampled) {
		w->sleeps_at = w->ops->sleeps();
		w->sampled = true;
	}
	ssize_t r = call(w, fd, iov, iovcnt, off, 0);
	int err = r < 0 ? errno : 0;
	uint64_t t1 = w->ops->now_ns(), dt = t1 > t0 ? t1 - t0 : 0;

	*spent_ns += dt;
	if (dt > IW_SLOW_NS && w->ops->sleeps() != w->sleeps_at) {
		count(&w->slow);
		w->punt_until_ns = t1 + IW_BACKOFF_NS;
		log_info_rl("%s: an inline %s of %zu bytes at %lld slept, %llu us: %ss go to io_uring's workers "
			    "for %llu ms", w->name, dir_name(w), len, (long long)off, (unsigned long long)(dt / 1000),
			    dir_name(w), IW_BACKOFF_NS / 1000000);
	}
	if (r < 0 && (err == EINTR || err == EAGAIN))
		return IW_PUNT;
	count(&w->done);
	return r < 0 ? -(err ? err : EIO) : r;
}
