/* SPDX-License-Identifier: MIT */
/*
 * Asynchronous file I/O for virtio-blk (virtio/blk_uring.c, io_uring through liburing). Completions
 * are reaped on the loop given to blk_aio_new (the device's; an eventfd registered with the ring).
 * When io_uring is unavailable on the host, blk_aio_new() says so and the device serves requests
 * synchronously.
 */
#ifndef KITE_VIRTIO_BLK_AIO_H
#define KITE_VIRTIO_BLK_AIO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

struct evloop;
struct blk_aio;

/* res: bytes transferred or -errno, for the request `tag`; called from blk_aio_reap/blk_aio_drain.
 * The event loop calls it once with tag NULL when completions are ready: the owner then takes its
 * lock and calls blk_aio_reap() (so the ring is only ever touched under the owner's lock). */
typedef void (*blk_aio_done_fn)(void *opaque, void *tag, int res);

/* NULL (with a logged warning) when io_uring is unavailable: the caller falls back to sync I/O. */
struct blk_aio *blk_aio_new(struct evloop *loop, const char *name, int fd, unsigned depth, blk_aio_done_fn done,
			    void *opaque);
void blk_aio_free(struct blk_aio *aio);
/* Point the ring at another image (PATCH /drives; nothing in flight: blk_aio_drain first). The ring
 * stays: no io_uring_setup after the seccomp filters. 0, or -errno (the caller then frees the ring
 * and serves requests synchronously). */
int blk_aio_set_file(struct blk_aio *aio, int fd);
/* Prepare a request: 0, or -1 when the ring is full (the caller serves the request itself). It
 * goes to the kernel with the batch at the next blk_aio_submit / blk_aio_reap_inline.
 * dsync: the write is durable when it completes (RWF_DSYNC). */
int blk_aio_rw(struct blk_aio *aio, bool write, bool dsync, const struct iovec *iov, unsigned n, uint64_t off,
	       void *tag);
int blk_aio_fsync(struct blk_aio *aio, void *tag);
/* True when the requests prepared since the last submission move enough bytes that the caller
 * should hand them to the kernel now (blk_aio_reap_inline) before preparing more. */
bool blk_aio_batch_full(const struct blk_aio *aio);
/* Reap whatever completed (done() for each). The event loop callback; also usable directly. */
void blk_aio_reap(struct blk_aio *aio);
/* Hand every prepared request to the kernel in one io_uring_enter (kept for the next call if the
 * kernel refuses the batch now). Owner's lock held. */
void blk_aio_submit(struct blk_aio *aio);
/* After preparing a batch, on the owner's thread under its lock: submit it, reap what already completed
 * (io_uring serves a page-cache hit inline, during the submission) so that its status reaches the
 * guest without another loop round; with nothing left in flight the completion eventfd is
 * cleared too (its wake-up would find nothing). */
void blk_aio_reap_inline(struct blk_aio *aio);
/* Wait until nothing is in flight (done() for each). */
void blk_aio_drain(struct blk_aio *aio);
unsigned blk_aio_inflight(const struct blk_aio *aio);

#endif
