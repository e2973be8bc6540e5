/* SPDX-License-Identifier: MIT */
/*
 * Inline buffered I/O for backings whose buffered reads or writes io_uring would hand to an io-wq
 * worker. Shared by kite-dpu's block service (dpu/blk/blk.c: "the poller" below) and kite's virtio-blk
 * (virtio/blk.c: there the device's I/O thread plays the poller's part, a "poll call" is one kick's or
 * poll round's batch, blk_queue_notify). Only the "complete this request now" glue is theirs. A volume
 * has one struct per direction (IW_WRITE, IW_READ): each probes and guards on its own.
 *
 * io_uring completes a buffered read or write within the submission only when the file system has a
 * non-blocking path for it (reads: FMODE_NOWAIT, ext4/XFS page-cache hits; writes: FMODE_BUF_WASYNC,
 * XFS, btrfs); otherwise (writes on ext4 and tmpfs, reads on tmpfs: kernel 6.18 here) it hands every
 * one to an io-wq worker thread, which inherits the pinned poller's CPU: each request then costs the
 * hand-off, a worker wake-up and two context switches on the poller's own core. For such a backing the
 * poller does the I/O itself with preadv2(2)/pwritev2(2), in its batch, no hand-off.
 *
 * Detection (per volume and direction, once): the first read (write) of a buffered volume is tried
 * with RWF_NOWAIT. EOPNOTSUPP/EINVAL (no non-blocking path) -> IW_INLINE; done, short or EAGAIN (the
 * path exists, so io_uring does such requests inline itself and hands only the misses to a worker)
 * -> IW_URING. O_DIRECT volumes never try (IW_URING); nor do read-only volumes' writes.
 *
 * Guard: an inline request can block (dirty-page throttling, a journal commit, a page to read from a
 * slow disk or swap). One that takes longer than IW_SLOW_NS and slept in the kernel (the thread's
 * voluntary context switches grew since the poll call's first inline request of that direction:
 * getrusage RUSAGE_THREAD, sampled once per poll call) sends that volume's requests of that direction
 * back to io_uring's workers for IW_BACKOFF_NS; then inline is tried again. A request that was only
 * slow because the poller was preempted (a busy shared core) does not: a worker thread would wait for
 * the same core. So a slow file stalls the other devices and ports of its poller for at most one slow
 * request per direction per IW_BACKOFF_NS. Requests larger than IW_MAX_BYTES always go to io_uring (the
 * hand-off is small beside their copy). Budget: the caller keeps one inline-time sum per poll call
 * (*spent_ns, zeroed when the call begins, shared by both directions); once it reaches IW_ROUND_NS,
 * iw_io does nothing inline and the rest of the call's requests go to io_uring (kite-dpu's poller also
 * stops popping that queue, so its other items get their turn; kite's glue, one queue's batch per
 * kick or poll round, submits the rest, and only on the main loop, --iothreads off: a device's own
 * I/O thread passes a fresh sum per request, since there the budget yields to nothing and only hands
 * work to io-wq workers). Reads and writes share the constants: the stall they bound is
 * the poller's, whichever direction caused it, and a 4 KiB tmpfs read costs about what a write does.
 *
 * Mapped reads and writes: iw_map gives a buffered volume's read struct a read-only shared mapping of
 * the image, its write struct a writable one (IW_MAPPED; no probe then). A read is a copy out of that
 * mapping in the serving thread, a write a copy into it: a page-cache hit costs no system call, and
 * user space's vector memcpy is faster than the kernel's copy_to_user (about 1.5x here, AMD EPYC). A
 * write skips the file system's per-write path as well (ext4's write_begin walks every block of the
 * page-cache folio, up to 2 MiB of them, for each 4 KiB pwrite): the file system is asked once per
 * folio, at the write fault that makes it writable and dirty, until writeback cleans it. Dirty pages
 * are the page cache's like a pwrite's: a FLUSH (fsync through io_uring) writes them back; a volume
 * without FLUSH negotiated (write-through) never calls iw_io for a write. A page that is not in the
 * page cache is read from the disk by the page fault, in the serving thread, so the same guard applies
 * with a threshold that fits: a mapped read slower than IW_MAP_SLOW_NS(len), a mapped write slower
 * than IW_SLOW_NS (what a write may wait for, a journal or dirty throttling, is a pwrite's), that slept
 * sends that direction to io_uring for IW_BACKOFF_NS, then mapped again. A SIGBUS during the copy (the
 * file shrank beneath the mapping, a page could not be read, a hole of a sparse image could not get
 * blocks: kite/mapped_copy.h) unmaps that direction for good: that request and all later ones go to
 * io_uring, which reports what the file now holds (a write is redone whole, and fails or not there).
 * Requests up to IW_MAP_MAX_BYTES are mapped; the round budget applies as to the other inline
 * requests. The page cache keeps the mappings and the file coherent: a write through io_uring is seen
 * by the next mapped read, a mapped write by the next read through the file.
 *
 * Thread: one serving thread per struct (the volume's poller, the device's I/O thread under the
 * device lock); not thread safe, except the counters (done, slow): only iw_io writes them (relaxed
 * atomic stores, monotonic from the struct's creation), any thread may read them at any time with
 * iw_done()/iw_slow() (relaxed loads: /metrics, --stats, the exit lines). The result of an inline
 * request is the call's own (bytes or -errno): the caller completes the request exactly as it would
 * complete the io_uring CQE, so out-of-order completion, the inflight region and the error path
 * (VIRTIO_BLK_S_IOERR for that request only) are the same.
 */
#ifndef KITE_INLINE_IO_H
#define KITE_INLINE_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* The knobs, in one place, for both directions. N: a 4 KiB page-cache write takes 2-10 us here, a
 * 128 KiB one ~30 us (reads less); an inline request above 500 us blocked on something (see above). M:
 * 100 ms of punting after each such request bounds the stall of the other items of the poller to
 * < 0.5% + what a single request blocks. */
#define IW_SLOW_NS (500ull * 1000)              /* N: an inline request slower than this ... */
#define IW_BACKOFF_NS (100ull * 1000 * 1000)    /* M: ... sends that direction to io_uring for this */
#define IW_MAX_BYTES (128u * 1024)              /* larger requests always go to io_uring */
#define IW_ROUND_NS (100ull * 1000)             /* inline time one poll call spends before it yields */
/* Mapped reads: a page-cache hit copies at >= 8 GB/s here, a fault that reads from a disk waits tens of
 * microseconds at least, so 20 us plus 0.5 ns a byte (2 GB/s) separates them (4 KiB: 22 us; 64 KiB:
 * 53 us); a slower read that did not sleep was preempted and does not count. */
#define IW_MAP_SLOW_NS(len) (20000ull + (uint64_t)(len) / 2)
#define IW_MAP_MAX_BYTES (1024u * 1024)         /* larger reads go to io_uring */

enum iw_mode { IW_PROBE, IW_URING, IW_INLINE, IW_MAPPED };
enum iw_dir { IW_WRITE, IW_READ };

/* Tests replace the read, the write, the clock and the sleep count (a fake slow backing); NULL =
 * pwritev2(2), CLOCK_MONOTONIC, the thread's voluntary context switches, preadv2(2). */
struct iw_ops {
	ssize_t (*pwritev2)(int fd, const struct iovec *iov, int iovcnt, off_t off, int flags);
	uint64_t (*now_ns)(void);
	uint64_t (*sleeps)(void);
	ssize_t (*preadv2)(int fd, const struct iovec *iov, int iovcnt, off_t off, int flags);
};

struct inline_io {
	enum iw_mode mode;
	enum iw_dir dir;
	uint64_t punt_until_ns;      /* IW_INLINE: requests go to io_uring until then (guard) */
	bool sampled;                /* sleeps_at is valid for this poll call */
	uint64_t sleeps_at;          /* ops->sleeps() at the poll call's first inline request */
	const struct iw_ops *ops;
	const char *name;            /* the volume's, for the log lines */
	uint64_t done;               /* requests served in the serving thread (iw_io did not return IW_PUNT) */
	uint64_t slow;               /* inline requests that slept past IW_SLOW_NS (each engaged the guard) */
	char *map;                   /* IW_MAPPED: the image (IW_READ read-only, IW_WRITE writable), map_len
				      * bytes; NULL otherwise */
	size_t map_len;
};

/* dir: which requests this struct serves. buffered: the image is not opened with O_DIRECT (only then
 * is a probe worth it; the caller also passes false for a read-only volume's writes). Counting starts
 * at the struct's creation: the caller zeroes it once (calloc, = { 0 }); iw_init keeps done and slow,
 * so calling it again for a new file (an image swap) probes again and counts on. */
void iw_init(struct inline_io *w, const char *name, enum iw_dir dir, bool buffered, const struct iw_ops *ops);

/* Mapped reads (writes) for the read (write) struct of a buffered volume, after iw_init: maps size
 * bytes of fd shared, read-only for IW_READ, writable for IW_WRITE (fd then open for writing; the
 * mapping holds no reference to fd: the caller may close it later) and sets IW_MAPPED. Returns 0, or
 * -errno (nothing mapped: the struct keeps its mode; -EINVAL for a zero size or a struct in IW_URING:
 * an unbuffered volume, a read-only volume's writes). iw_init (an image swap) and iw_unmap drop the mapping;
 * the owner calls iw_unmap before freeing the struct. Serving thread, or any thread while the serving
 * thread is stopped or paused (an image swap holds the device lock with the I/O thread paused). */
int iw_map(struct inline_io *w, int fd, uint64_t size);
void iw_unmap(struct inline_io *w);

/* The counters, from any thread (relaxed: a value at most one request old). */
static inline uint64_t iw_done(const struct inline_io *w)
{
	return __atomic_load_n(&w->done, __ATOMIC_RELAXED);
}

static inline uint64_t iw_slow(const struct inline_io *w)
{
	return __atomic_load_n(&w->slow, __ATOMIC_RELAXED);
}

/* A poll call begins (the poller may have slept since the last one). */
static inline void iw_round(struct inline_io *w)
{
	w->sampled = false;
}

/* Read (write) len bytes into (from) iov, iovcnt at off inline if the mode, the guard and the poll
 * call's budget (*spent_ns < IW_ROUND_NS) allow. Returns the call's result (bytes transferred, or
 * -errno), to be completed like an io_uring CQE, or IW_PUNT: submit it to io_uring (nothing was done,
 * or a short non-blocking transfer that io_uring redoes whole; a punted read may have filled part of
 * iov). *spent_ns grows by the time the inline request took. Counts done, and slow when the request
 * was slower than IW_SLOW_NS and slept (the guard engaged). */
#define IW_PUNT ((ssize_t)INT64_MIN)
ssize_t iw_io(struct inline_io *w, int fd, const struct iovec *iov, int iovcnt, off_t off, size_t len,
	      uint64_t *spent_ns);

#endif
