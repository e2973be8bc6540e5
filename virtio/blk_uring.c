/* SPDX-License-Identifier: MIT */
/*
 * io_uring engine of virtio-blk: readv/writev/fdatasync prepared per request and submitted in one
 * io_uring_enter per batch (blk_aio_submit: the device calls it once per kick it serves), reaped on
 * the device's loop, or at once after the submission when the kernel served them inline.
 * A batch the kernel refused (EAGAIN, EBUSY, EINTR) stays in the submission ring and goes with the
 * next submission (the next kick, completion or drain): never lost, never served twice.
 * The ring is confined to the image's fd and those three opcodes (kite/uring_restrict.h); an image
 * swap replaces its one fixed file.
 */
#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "blk_aio.h"
#include "kite/evloop.h"
#include "kite/log.h"
#include "kite/uring_restrict.h"

static const uint8_t ring_ops[] = { IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC };

struct blk_aio {
	struct io_uring ring;
	struct evloop *loop;
	int efd;
	unsigned depth, inflight;  /* inflight: prepared, submitted or not, and not reaped */
	unsigned queued;           /* prepared, not yet accepted by the kernel */
	uint64_t queued_bytes;     /* what those move (blk_aio_batch_full) */
	bool submit_failed;        /* one warning per failure streak */
	blk_aio_done_fn done;
	void *opaque;
	char name[32];
};

static void on_ring_event(void *opaque, int fd, uint32_t events);

struct blk_aio *blk_aio_new(struct evloop *loop, const char *name, int fd, unsigned depth, blk_aio_done_fn done,
			    void *opaque)
{
	struct blk_aio *aio = calloc(1, sizeof(*aio));
	int r;

	if (!aio)
		return NULL;
	aio->loop = loop;
	aio->depth = depth;
	aio->done = done;
	aio->opaque = opaque;
	aio->efd = -1;
	snprintf(aio->name, sizeof(aio->name), "%s", name);
	aio->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (aio->efd < 0) {
		log_warn("%s: io_uring completion eventfd: %s: synchronous I/O", name, strerror(errno));
		free(aio);
		return NULL;
	}
	r = uring_init_restricted(&aio->ring, depth, fd, ring_ops, sizeof(ring_ops), aio->efd, URING_FILE_UPDATE);
	if (r < 0) {
		log_warn("%s: io_uring unavailable (%s): synchronous I/O", name, strerror(-r));
		close(aio->efd);
		free(aio);
		return NULL;
	}
	if (evloop_add(loop, aio->efd, EPOLLIN, on_ring_event, aio) < 0) {
		log_warn("%s: io_uring completion eventfd failed: synchronous I/O", name);
		close(aio->efd);
		io_uring_queue_exit(&aio->ring);
		free(aio);
		return NULL;
	}
	return aio;
}

void blk_aio_free(struct blk_aio *aio)
{
	if (!aio)
		return;
	blk_aio_drain(aio);
	evloop_del(aio->loop, aio->efd);
	close(aio->efd);
	io_uring_queue_exit(&aio->ring);
	free(aio);
}

int blk_aio_set_file(struct blk_aio *aio, int fd)
{
	int r = io_uring_register_files_update(&aio->ring, URING_FILE, &fd, 1);

	return r == 1 ? 0 : r < 0 ? r : -EIO;
}

static struct io_uring_sqe *get_sqe(struct blk_aio *aio)
{
	if (aio->inflight >= aio->depth)
		return NULL;
	return io_uring_get_sqe(&aio->ring);
}

/* One more prepared request; the batch goes to the kernel in blk_aio_submit. */
static int queue(struct blk_aio *aio)
{
	aio->inflight++;
	aio->queued++;
	return 0;
}

void blk_aio_submit(struct blk_aio *aio)
{
	int r;

	if (!aio->queued)
		return;
	r = io_uring_submit(&aio->ring);
	if (r < 0) {
		if (!aio->submit_failed)
			log_warn("%s: io_uring_submit of %u requests failed (%s): retried with the next one",
				 aio->name, aio->queued, strerror(-r));
		aio->submit_failed = true;
		return;
	}
	aio->submit_failed = false;
	aio->queued = (unsigned)r >= aio->queued ? 0 : aio->queued - (unsigned)r;
	if (!aio->queued)
		aio->queued_bytes = 0;
}

/*
 * A batch that moves this much goes to the kernel before the device pops more requests: a page-cache
 * hit is copied during the submission (inline, on the I/O thread) and its completion reaches the guest
 * at once, so the guest refills the queue while the next requests are copied instead of waiting for the
 * copies of a whole 32-request batch. Measured on an idle 2-core host (seqread64k, qd 32): this, and not
 * handing large transfers to io-wq workers with IOSQE_ASYNC, is what puts kite ahead of QEMU there
 * (docs/benchmarks.md, "64 KiB sequential reads").
 */
#define BLK_AIO_BATCH_BYTES (64u << 10)

static uint64_t transfer_bytes(const struct iovec *iov, unsigned n)
{
	uint64_t total = 0;

	for (unsigned i = 0; i < n; i++)
		total += iov[i].iov_len;
	return total;
}

bool blk_aio_batch_full(const struct blk_aio *aio)
{
	return aio->queued_bytes >= BLK_AIO_BATCH_BYTES;
}

int blk_aio_rw(struct blk_aio *aio, bool write, bool dsync, const struct iovec *iov, unsigned n, uint64_t off,
	       void *tag)
{
	struct io_uring_sqe *sqe = get_sqe(aio);

	if (!sqe)
		return -1;
	if (write) {
		io_uring_prep_writev(sqe, URING_FILE, iov, n, off);
		if (dsync)
			sqe->rw_flags |= RWF_DSYNC;
	} else {
		io_uring_prep_readv(sqe, URING_FILE, iov, n, off);
	}
	uring_fixed(sqe);
	aio->queued_bytes += transfer_bytes(iov, n);
	io_uring_sqe_set_data(sqe, tag);
	return queue(aio);
}

int blk_aio_fsync(struct blk_aio *aio, void *tag)
{
	struct io_uring_sqe *sqe = get_sqe(aio);

	if (!sqe)
		return -1;
	io_uring_prep_fsync(sqe, URING_FILE, IORING_FSYNC_DATASYNC);
	uring_fixed(sqe);
	io_uring_sqe_set_data(sqe, tag);
	return queue(aio);
}

void blk_aio_reap(struct blk_aio *aio)
{
	struct io_uring_cqe *cqe;

	while (aio->inflight && io_uring_peek_cqe(&aio->ring, &cqe) == 0) {
		void *tag = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&aio->ring, cqe);
		aio->inflight--;
		aio->done(aio->opaque, tag, res);
	}
}

void blk_aio_reap_inline(struct blk_aio *aio)
{
	uint64_t cnt;

	blk_aio_submit(aio);
	blk_aio_reap(aio);
	/* nothing in flight: no completion can signal the eventfd between the reap and this read */
	if (!aio->inflight && read(aio->efd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		log_warn_rl("%s: clearing the io_uring completion eventfd failed: %m", aio->name);
}

void blk_aio_drain(struct blk_aio *aio)
{
	struct io_uring_cqe *cqe;

	while (aio->inflight) {
		blk_aio_submit(aio);
		if (io_uring_wait_cqe(&aio->ring, &cqe) < 0)
			break;
		blk_aio_reap(aio);
	}
}

unsigned blk_aio_inflight(const struct blk_aio *aio)
{
	return aio->inflight;
}

/* The owner's lock is taken by done(); the ring itself is only touched under it (see blk.c). */
static void on_ring_event(void *opaque, int fd, uint32_t events)
{
	struct blk_aio *aio = opaque;
	uint64_t cnt;

	(void)events;
	if (read(fd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		return;
	aio->done(aio->opaque, NULL, 0);     /* tag NULL: "reap now", under the owner's lock */
}
