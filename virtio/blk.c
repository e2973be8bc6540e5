/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk on a raw image file. Every request goes through the parser kite-dpu uses too
 * (virtio/blk_request.c) before any byte moves: a chain without a device-writable byte breaks the
 * queue (DEVICE_NEEDS_RESET), any other bad request gets an IOERR or UNSUPP status (the rules are in
 * include/kite/blk_request.h); an I/O error is an IOERR status, never a crash.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stddef.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "blk_aio.h"
#include "kite/blk_request.h"
#include "kite/evloop.h"
#include "kite/inline_io.h"
#include "kite/iothread.h"
#include "kite/poll_window.h"
#include "kite/ratelimit.h"
#include "kite/snapshot.h"

#include "kite/virtio_blk_dev.h"
#include "kite/log.h"
#include "kite/virtio_dev.h"

#define BLK_QUEUE_SIZE   256
#define BLK_SEG_MAX      (VQ_MAX_SEGS - 2)
#define BLK_MAX_DISCARD  (1u << 22)        /* sectors per discard / write-zeroes segment (2 GiB) */
#define BLK_BOUNCE_SIZE  (1u << 20)        /* O_DIRECT bounce buffer */

_Static_assert(VIRTIO_BLK_CONFIG_SIZE == offsetof(struct virtio_blk_config, max_secure_erase_sectors),
	       "kite's virtio-blk config space ends after write_zeroes_may_unmap");

struct blk_dev {
	struct virtio_dev vdev;
	int fd;
	char *path;
	uint64_t size;             /* bytes, a multiple of 512 is exposed */
	bool readonly, direct;
	bool no_map;               /* map=off */
	char id[VIRTIO_BLK_ID_BYTES];
	struct virtio_blk_config config;
	void *bounce;              /* O_DIRECT only */
	struct vq_elem elem;
	struct blk_request req;    /* elem, parsed */
	uint64_t reqs, errors;
	uint64_t read_ops, write_ops, flush_ops, read_bytes, write_bytes, image_swaps;   /* blk_get_counters() */
	/* iops=, bps=: a refused request waits in the ring for the limiter's timer */
	struct rate_limiter rl;
	struct blk_aio *aio;       /* io_uring engine, NULL = synchronous I/O */
	uint64_t async_reqs;
	struct blk_aio_req *free_reqs;   /* finished requests kept for reuse (no malloc per request) */
	bool polling;              /* the I/O thread polls the queue: guest kicks are off */
	/* buffered reads and writes io_uring would punt to an io-wq worker: the I/O thread does them
	 * itself (kite/inline_io.h; io_uring engine only, re-probed after an image swap) */
	struct inline_io iw, ir;   /* writes, reads; they count what they serve (iw_done, iw_slow) */
	const struct iw_ops *inline_ops;   /* blk_options.inline_ops */
	uint64_t inline_bytes;     /* moved inline since the used ring was last published (one batch) */
	uint64_t inline_ns;        /* --iothreads off: inline time of this queue's batch (IW_ROUND_NS) */
	uint64_t polled_reqs;      /* requests found by polling, not by a kick */
};

/* A request in flight on the io_uring engine. */
struct blk_aio_req {
	struct blk_dev *blk;
	unsigned q;
	uint32_t type;
	uint64_t expect;           /* bytes the transfer must move */
	uint8_t *status_byte;
	struct iovec iov[VQ_MAX_SEGS];
	struct blk_aio_req *next_free;
	struct vq_elem elem;
};

/* A request record (dev->lock held): a reused one, or a new one (NULL: out of memory). At most
 * the ring's depth of them ever exists, all freed with the device. */
static struct blk_aio_req *req_get(struct blk_dev *blk)
{
	struct blk_aio_req *r = blk->free_reqs;

	if (!r)
		return malloc(sizeof(*r));
	blk->free_reqs = r->next_free;
	return r;
}

static void req_put(struct blk_dev *blk, struct blk_aio_req *r)
{
	r->next_free = blk->free_reqs;
	blk->free_reqs = r;
}

static void blk_config_read(struct virtio_dev *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	struct blk_dev *blk = dev->priv;

	memcpy(data, (const uint8_t *)&blk->config + off, len);
}

/* Whole transfer through the aligned bounce buffer (O_DIRECT), chunk by chunk. */
static int bounce_rw(struct blk_dev *blk, bool write, const struct iovec *iov, unsigned n, uint64_t pos,
		     uint64_t total)
{
	uint64_t done = 0;

	while (done < total) {
		size_t chunk = total - done > BLK_BOUNCE_SIZE ? BLK_BOUNCE_SIZE : (size_t)(total - done);
		ssize_t r;

		if (write) {
			vq_iov_to_buf(iov, n, done, blk->bounce, chunk);
			r = pwrite(blk->fd, blk->bounce, chunk, (off_t)(pos + done));
		} else {
			r = pread(blk->fd, blk->bounce, chunk, (off_t)(pos + done));
			if (r > 0)
				vq_buf_to_iov(iov, n, done, blk->bounce, (size_t)r);
		}
		if (r != (ssize_t)chunk)
			return -1;
		done += chunk;
	}
	return 0;
}

static int plain_rw(struct blk_dev *blk, bool write, struct iovec *iov, unsigned n, uint64_t pos, uint64_t total)
{
	uint64_t done = 0;

	while (done < total) {
		ssize_t r = write ? pwritev(blk->fd, iov, (int)n, (off_t)(pos + done))
				  : preadv(blk->fd, iov, (int)n, (off_t)(pos + done));

		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			return -1;
		}
		done += (uint64_t)r;
		/* short transfer: advance the iovecs */
		while (n && (uint64_t)r >= iov->iov_len) {
			r -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n && r) {
			iov->iov_base = (uint8_t *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return 0;
}

#define BLK_SUBMITTED 0xff   /* internal: the request went to io_uring, its status comes later */

static bool direct_aligned(const struct iovec *iov, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (((uintptr_t)iov[i].iov_base | iov[i].iov_len) & 4095)
			return false;
	return true;
}

/* Hand the transfer to io_uring; -1 = not possible now (serve it synchronously). */
static int blk_submit(struct blk_dev *blk, struct blk_aio_req *r, bool write, bool dsync, const struct iovec *iov,
		      unsigned n, uint64_t pos, uint64_t total)
{
	if (!blk->aio || (blk->direct && !direct_aligned(iov, n)))
		return -1;
	memcpy(r->iov, iov, n * sizeof(iov[0]));
	r->expect = total;
	return blk_aio_rw(blk->aio, write, dsync, r->iov, n, pos, r);
}

/* A parsed read or write (its sectors are inside the image). */
static uint8_t blk_rw(struct blk_dev *blk, struct blk_request *req, struct blk_aio_req *async)
{
	bool write = req->op == BLK_REQ_WRITE;
	struct iovec *iov = req->data;
	unsigned n = req->ndata;
	uint64_t total = req->len, pos = req->sector * VIRTIO_BLK_SECTOR;
	/* Without FLUSH negotiated the cache is write-through (virtio 1.2 5.2.6): a write is durable
	 * before it completes. */
	bool dsync = write && !virtio_dev_has_feature(&blk->vdev, VIRTIO_BLK_F_FLUSH);

	if (async && !dsync) {
		/* kite/inline_io.h: a file system without a non-blocking buffered write (ext4, tmpfs) or
		 * read (tmpfs) path: done here and completed like a synchronous request (vq_push at once,
		 * the interrupt decision at the end of the batch, blk_queue_notify); judged like a CQE.
		 * On the main loop (--iothreads off) the batch's rest goes to io_uring after IW_ROUND_NS
		 * of it, so the loop's other devices are not held. A device with an I/O thread of its own
		 * has no such budget: handing the rest to io-wq workers would only cost more (0.82x the
		 * IOPS at 4 KiB qd 32 on tmpfs, 40% of the writes punted); its guard still bounds a
		 * request that sleeps. */
		uint64_t own = 0;
		ssize_t res = iw_io(write ? &blk->iw : &blk->ir, blk->fd, iov, (int)n, (off_t)pos, (size_t)total,
				    blk->vdev.io ? &own : &blk->inline_ns);

		if (res != IW_PUNT) {
			blk->inline_bytes += total;
			if (res >= 0 && (uint64_t)res == total)
				return VIRTIO_BLK_S_OK;
			log_warn_rl_on(&blk->vdev.log_rl, "%s: %s at byte %llu of %s failed: %s", blk->vdev.name,
				       write ? "write" : "read", (unsigned long long)pos, blk->path,
				       res < 0 ? strerror((int)-res) : "short transfer");
			return VIRTIO_BLK_S_IOERR;
		}
	}
	if (async && blk_submit(blk, async, write, dsync, iov, n, pos, total) == 0)
		return BLK_SUBMITTED;
	if ((blk->direct ? bounce_rw(blk, write, iov, n, pos, total) : plain_rw(blk, write, iov, n, pos, total)) < 0 ||
	    (dsync && fdatasync(blk->fd) < 0)) {
		log_warn_rl_on(&blk->vdev.log_rl, "%s: %s at byte %llu of %s failed: %m", blk->vdev.name, write ? "write" : "read",
			 (unsigned long long)pos, blk->path);
		return VIRTIO_BLK_S_IOERR;
	}
	return VIRTIO_BLK_S_OK;
}

/* A parsed discard or write-zeroes (one segment inside the image). */
static uint8_t blk_discard(struct blk_dev *blk, const struct blk_request *req)
{
	bool zeroes = req->op == BLK_REQ_WRITE_ZEROES;
	off_t pos = (off_t)(req->sector * VIRTIO_BLK_SECTOR), len = (off_t)req->len;
	int mode = zeroes ? FALLOC_FL_ZERO_RANGE : FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;

	if (fallocate(blk->fd, mode, pos, len) == 0)
		return VIRTIO_BLK_S_OK;
	if (zeroes && fallocate(blk->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, pos, len) == 0)
		return VIRTIO_BLK_S_OK;
	if (!zeroes)
		return VIRTIO_BLK_S_OK;  /* discard is a hint */
	log_warn_rl_on(&blk->vdev.log_rl, "%s: write-zeroes at byte %lld of %s failed: %m", blk->vdev.name, (long long)pos, blk->path);
	return VIRTIO_BLK_S_IOERR;
}

#define BLK_ASYNC (-2)
/* The interrupt decision (EVENT_IDX) is made after inline reads and writes of this many bytes in one
 * batch, not only at its end: what blk_aio_batch_full does for the io_uring batch (BLK_AIO_BATCH_BYTES). */
#define BLK_INLINE_PUBLISH_BYTES (64u << 10)

/* What this device offers, for the shared parser. */
static struct blk_req_limits blk_limits(const struct blk_dev *blk)
{
	return (struct blk_req_limits){ .capacity = blk->size / VIRTIO_BLK_SECTOR, .max_dwz_sectors = BLK_MAX_DISCARD,
					.readonly = blk->readonly, .dwz = true };
}

/* One request. Returns bytes written into the driver's buffers, -1 if the queue broke, BLK_ASYNC if
 * io_uring took it (blk_aio_done() completes it). */
static int blk_request(struct blk_dev *blk, unsigned q, struct virtqueue *vq, struct vq_elem *e)
{
	struct blk_req_limits lim = blk_limits(blk);
	struct blk_aio_req *async = NULL;
	struct blk_request *req = &blk->req;
	uint8_t status = VIRTIO_BLK_S_UNSUPP;

	if (blk_request_parse(e, &lim, req) < 0) {
		vq_set_broken(vq, "request %u: no device-writable byte for the status", e->id);
		return -1;
	}
	blk->reqs++;
	if (req->op == BLK_REQ_READ) {
		blk->read_ops++;
		blk->read_bytes += req->len;
	} else if (req->op == BLK_REQ_WRITE) {
		blk->write_ops++;
		blk->write_bytes += req->len;
	} else if (req->op == BLK_REQ_FLUSH) {
		blk->flush_ops++;
	}
	if (req->op == BLK_REQ_REFUSED) {
		/* the guest controls this: one warning per device, then debug lines */
		kite_log(blk->errors ? KITE_LOG_DEBUG : KITE_LOG_WARN,
			 "%s: request type %u at sector %llu refused (%s): %s", blk->vdev.name, req->type,
			 (unsigned long long)req->sector, req->status == VIRTIO_BLK_S_UNSUPP ? "unsupported" : "I/O error",
			 req->why);
		status = req->status;
		goto finish;
	}
	if ((req->op == BLK_REQ_READ || req->op == BLK_REQ_WRITE || req->op == BLK_REQ_FLUSH) && blk->aio &&
	    (async = req_get(blk))) {
		async->blk = blk;
		async->q = q;
		async->type = req->type;
		async->status_byte = req->status_byte;
		memcpy(&async->elem, e, offsetof(struct vq_elem, iov) + (e->out_num + e->in_num) * sizeof(e->iov[0]));
		if (req->op == BLK_REQ_FLUSH) {
			if (!blk->readonly && blk_aio_fsync(blk->aio, async) == 0) {
				blk->async_reqs++;
				return BLK_ASYNC;
			}
		} else {
			status = blk_rw(blk, req, async);
			if (status == BLK_SUBMITTED) {
				blk->async_reqs++;
				return BLK_ASYNC;
			}
			req_put(blk, async);
			goto finish;
		}
		req_put(blk, async);
	}
	switch (req->op) {
	case BLK_REQ_READ:
	case BLK_REQ_WRITE:
		status = blk_rw(blk, req, NULL);
		break;
	case BLK_REQ_FLUSH:
		status = VIRTIO_BLK_S_OK;
		if (!blk->readonly && fdatasync(blk->fd) < 0) {
			log_warn_rl_on(&blk->vdev.log_rl, "%s: fdatasync of %s failed: %m", blk->vdev.name, blk->path);
			status = VIRTIO_BLK_S_IOERR;
		}
		break;
	case BLK_REQ_GET_ID:
		vq_buf_to_iov(req->data, req->ndata, 0, blk->id, req->len);
		status = VIRTIO_BLK_S_OK;
		break;
	case BLK_REQ_DISCARD:
	case BLK_REQ_WRITE_ZEROES:
		status = blk_discard(blk, req);
		break;
	case BLK_REQ_REFUSED:
		break;
	}
finish:
	if (status != VIRTIO_BLK_S_OK)
		blk->errors++;
	*req->status_byte = status;
	return 1 + (int)(status == VIRTIO_BLK_S_OK && (req->op == BLK_REQ_READ || req->op == BLK_REQ_GET_ID) ? req->len : 0);
}

/* Bytes a request moves (what the bandwidth bucket is charged). */
static uint64_t request_bytes(const struct vq_elem *e)
{
	uint64_t out = e->out_len > sizeof(struct virtio_blk_outhdr) ? e->out_len - sizeof(struct virtio_blk_outhdr) : 0;
	uint64_t in = e->in_len > 1 ? e->in_len - 1 : 0;

	return out + in;
}

static void blk_queue_notify(struct virtio_dev *dev, unsigned q)
{
	struct blk_dev *blk = dev->priv;
	struct virtqueue *vq = &dev->q[q].vq;
	unsigned served = 0, submitted = 0;
	int r;

	if (rate_limiter_waiting(&blk->rl))
		return;          /* the timer resumes the queue */
	iw_round(&blk->iw);
	iw_round(&blk->ir);
	blk->inline_bytes = 0;
	blk->inline_ns = 0;
	for (;;) {
		while ((r = vq_pop(vq, &blk->elem)) == 1) {
			int written;

			if (!rate_limiter_admit(&blk->rl, request_bytes(&blk->elem), 0)) {
				vq_unpop(vq, &blk->elem);
				goto out;
			}
			written = blk_request(blk, q, vq, &blk->elem);
			if (written == BLK_ASYNC) {
				/* large transfers: copied and completed now, while the guest can still refill */
				if (blk_aio_batch_full(blk->aio)) {
					blk_aio_reap_inline(blk->aio);
					submitted = 0;
				} else {
					submitted++;
				}
				continue;
			}
			if (written < 0)
				break;
			vq_push(vq, &blk->elem, (uint32_t)written);
			served++;
			/* inline reads and writes moved a large batch's worth (like blk_aio_batch_full): the guest is
			 * told now and refills its queue while the next ones are written */
			if (blk->inline_bytes >= BLK_INLINE_PUBLISH_BYTES) {
				virtio_dev_queue_done(dev, q);
				blk->inline_bytes = 0;
				served = 0;
			}
		}
		/* while the I/O thread polls, kicks stay off and the poll finds what comes next */
		if (r != 0 || vq->broken || !vq_enable_kicks(vq, !blk->polling))
			break;
	}
out:
	if (served || vq->broken)
		virtio_dev_queue_done(dev, q);
	/* the kick's requests go to the kernel in one batch; page-cache hits complete right here */
	if (submitted)
		blk_aio_reap_inline(blk->aio);
}

/* io_uring completions (dev->lock held), or tag NULL: "completions are ready" from the loop. */
static void blk_aio_done(void *opaque, void *tag, int res)
{
	struct blk_dev *blk = opaque;
	struct blk_aio_req *r = tag;
	struct virtqueue *vq;
	uint8_t status;
	uint32_t written = 1;

	if (!r) {
		pthread_mutex_lock(&blk->vdev.lock);
		blk_aio_reap(blk->aio);
		blk_aio_submit(blk->aio);    /* a batch the kernel refused before */
		pthread_mutex_unlock(&blk->vdev.lock);
		return;
	}
	vq = &blk->vdev.q[r->q].vq;
	status = res >= 0 && (r->type == VIRTIO_BLK_T_FLUSH || (uint64_t)res == r->expect) ? VIRTIO_BLK_S_OK
											  : VIRTIO_BLK_S_IOERR;
	if (status != VIRTIO_BLK_S_OK) {
		blk->errors++;
		log_warn_rl_on(&blk->vdev.log_rl, "%s: %s on %s failed: %s", blk->vdev.name,
			 r->type == VIRTIO_BLK_T_FLUSH ? "fdatasync" : r->type == VIRTIO_BLK_T_OUT ? "write" : "read",
			 blk->path, res < 0 ? strerror(-res) : "short transfer");
	}
	/* after a reset (or a broken queue) the request is dropped: the ring is no longer ours */
	if (vq->ready && !vq->broken) {
		if (r->type == VIRTIO_BLK_T_IN && status == VIRTIO_BLK_S_OK)
			written += (uint32_t)(r->elem.in_len - 1);
		*r->status_byte = status;
		vq_push(vq, &r->elem, written);
		virtio_dev_queue_done(&blk->vdev, r->q);
	}
	req_put(blk, r);
}

/*
 * Polling between kicks (poll=US or adaptive, the I/O thread's polling phase, kite/iothread.h): kicks off while
 * the thread polls the ring and the io_uring completions; a request the guest makes meanwhile
 * costs it no kick (no exit) and the device no wake-up. A queue waiting for the rate limiter is
 * not work (its timer resumes it).
 */
static bool blk_poll(void *opaque, enum iothread_poll_phase phase)
{
	struct blk_dev *blk = opaque;
	struct virtio_dev *dev = &blk->vdev;
	bool found = false;

	pthread_mutex_lock(&dev->lock);
	if (blk->aio && blk_aio_inflight(blk->aio)) {
		unsigned before = blk_aio_inflight(blk->aio);

		blk_aio_reap(blk->aio);
		found = blk_aio_inflight(blk->aio) != before;
	}
	for (unsigned q = 0; q < dev->nqueues; q++) {
		struct virtqueue *vq = &dev->q[q].vq;

		if (!virtio_dev_queue_live(dev, q))
			continue;
		if (phase == IOTHREAD_POLL_BEGIN) {
			blk->polling = true;
			vq_enable_kicks(vq, false);
		} else if (phase == IOTHREAD_POLL_END) {
			blk->polling = false;
			/* true: the driver added requests before it could see kicks back on */
			if (vq_enable_kicks(vq, true) && !rate_limiter_waiting(&blk->rl)) {
				blk_queue_notify(dev, q);
				found = true;
			}
		} else if (vq_has_avail(vq) && !rate_limiter_waiting(&blk->rl)) {
			blk->polled_reqs++;
			blk_queue_notify(dev, q);
			found = true;
		}
	}
	if (phase == IOTHREAD_POLL_END)
		blk->polling = false;
	pthread_mutex_unlock(&dev->lock);
	return found;
}

static void on_throttle_timer(void *opaque, int fd, uint32_t events)
{
	struct blk_dev *blk = opaque;
	struct virtio_dev *dev = &blk->vdev;

	(void)fd;
	(void)events;
	pthread_mutex_lock(&dev->lock);
	if (!rate_limiter_timer_fired(&blk->rl)) {
		pthread_mutex_unlock(&dev->lock);
		return;
	}
	for (unsigned q = 0; q < dev->nqueues && !rate_limiter_waiting(&blk->rl); q++)
		if (virtio_dev_queue_live(dev, q))
			blk_queue_notify(dev, q);
	pthread_mutex_unlock(&dev->lock);
}

/* The retry timer of the limiter, on the device's loop. 0 or -1 (logged). */
static int blk_open_limit_timer(struct blk_dev *blk)
{
	int fd = rate_limiter_timer_open(&blk->rl);

	if (fd < 0 || evloop_add(blk->vdev.loop, fd, EPOLLIN, on_throttle_timer, blk) < 0) {
		log_err("%s: rate limit timer: %s", blk->vdev.name, strerror(errno));
		rate_limiter_timer_close(&blk->rl);
		return -1;
	}
	return 0;
}

static int blk_setup_limits(struct blk_dev *blk, const struct blk_options *o)
{
	struct limiter_cfg flags = { .ops = { .rate = o->iops }, .bytes = { .rate = o->bps } };
	bool api = o->limits.ops.rate || o->limits.bytes.rate;

	rate_limiter_init(&blk->rl, 0, 0, 0, 0, 0);
	rate_limiter_configure(&blk->rl, api ? &o->limits : &flags, rl_now_ns());
	return rate_limiter_active(&blk->rl) ? blk_open_limit_timer(blk) : 0;
}

static void blk_reset(struct virtio_dev *dev)
{
	struct blk_dev *blk = dev->priv;

	rate_limiter_timer_stop(&blk->rl);
	/* the queues are already reset: what completes now is dropped, and the guest's status write
	 * returns only once nothing of the old rings is in flight */
	if (blk->aio)
		blk_aio_drain(blk->aio);
}

static void blk_destroy(struct virtio_dev *dev);
static void blk_free(struct blk_dev *blk);
static int blk_quiesce(struct virtio_dev *dev, char *err, size_t errlen);
static void blk_save(struct virtio_dev *dev, struct snap_writer *w);
static void blk_restore(struct virtio_dev *dev, struct snap_cursor *c);

static const struct virtio_dev_ops blk_ops = {
	.device_id = VIRTIO_ID_BLOCK,
	.pci_class = 0x018000,            /* mass storage, other */
	.reset = blk_reset,
	.destroy = blk_destroy,
	.config_size = VIRTIO_BLK_CONFIG_SIZE,
	.config_read = blk_config_read,
	.queue_notify = blk_queue_notify,
	.iothread = true,
	.snap_name = "virtio-blk",
	.snap_version = 1,
	.quiesce = blk_quiesce,
	.save = blk_save,
	.restore = blk_restore,
};

/* Open an image as the device uses it; its size in bytes (whole sectors) in *size. fd or -1 (logged). */
static int image_open(const char *name, const char *path, bool readonly, bool direct, uint64_t *size)
{
	int fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | (direct ? O_DIRECT : 0));
	struct stat st;

	if (fd < 0) {
		log_err("%s: cannot open image %s%s: %m", name, path, direct ? " with O_DIRECT (cache=none)" : "");
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		log_err("%s: image %s is not a regular file", name, path);
		close(fd);
		return -1;
	}
	*size = (uint64_t)st.st_size & ~(uint64_t)(VIRTIO_BLK_SECTOR - 1);
	return fd;
}

static void blk_fill_config(struct blk_dev *blk)
{
	struct blk_req_limits lim = blk_limits(blk);

	blk_config_fill(&blk->config, &lim, BLK_SEG_MAX, (uint16_t)(blk->vdev.nqueues > 1 ? blk->vdev.nqueues : 0));
}

/* Inline reads and writes (kite/inline_io.h) for the image now open: probed again per direction
 * (after an image swap too: the new file's file system decides); never for O_DIRECT, nor writes of a
 * read-only disk. blk starts zeroed (calloc): the counters count from the device's creation. */
static void blk_inline_init(struct blk_dev *blk)
{
	iw_init(&blk->iw, blk->vdev.name, IW_WRITE, !blk->direct && !blk->readonly, blk->inline_ops);
	iw_init(&blk->ir, blk->vdev.name, IW_READ, !blk->direct, blk->inline_ops);
	/* reads of a cache=writeback image: copied from a mapping of it, writes of a writable one into
	 * a writable mapping (kite/inline_io.h, "Mapped reads and writes"); the io_uring engine's path
	 * only (aio=sync reads and writes with preadv/pwritev) */
	if (blk->direct || blk->no_map || !blk->aio)
		return;
	int r = iw_map(&blk->ir, blk->fd, blk->size);
	if (r < 0) {
		log_info("%s: %s cannot be mapped (%s): reads and writes go through io_uring", blk->vdev.name,
			 blk->path, strerror(-r));
		return;
	}
	int w = blk->readonly ? -EROFS : iw_map(&blk->iw, blk->fd, blk->size);
	if (w < 0 && w != -EROFS)
		log_info("%s: %s cannot be mapped writable (%s): writes go through io_uring", blk->vdev.name,
			 blk->path, strerror(-w));
	log_info("%s: reads are copied from a mapping of %s%s (map=off: through io_uring)", blk->vdev.name,
		 blk->path, w == 0 ? ", writes into it" : "");
}

struct virtio_dev *blk_create(struct machine *m, const struct blk_options *o, unsigned index)
{
	struct blk_dev *blk = calloc(1, sizeof(*blk));
	uint64_t features, poll_us;
	bool adaptive;
	unsigned nq;
	char name[32];

	if (!blk) {
		log_err("virtio-blk%u: out of memory", index);
		return NULL;
	}
	blk->fd = -1;
	rate_limiter_init(&blk->rl, 0, 0, 0, 0, 0);
	snprintf(name, sizeof(name), "virtio-blk%u", index);
	blk->path = strdup(o->path);
	blk->readonly = o->readonly;
	blk->direct = o->cache == BLK_CACHE_NONE;
	blk->no_map = o->no_map;
	blk->fd = blk->path ? image_open(name, blk->path, blk->readonly, blk->direct, &blk->size) : -1;
	if (blk->fd < 0)
		goto fail;
	if (blk->direct && posix_memalign(&blk->bounce, 4096, BLK_BOUNCE_SIZE) != 0) {
		log_err("%s: out of memory for the O_DIRECT bounce buffer", name);
		goto fail;
	}
	{
		char tmp[VIRTIO_BLK_ID_BYTES + 1];
		char *copy = strdup(o->path);

		snprintf(tmp, sizeof(tmp), "%s", o->id ? o->id : (copy ? basename(copy) : "kite"));
		memcpy(blk->id, tmp, strlen(tmp));   /* not NUL terminated when 20 bytes long */
		free(copy);
	}
	blk_fill_config(blk);
	features = (1ULL << VIRTIO_BLK_F_SEG_MAX) | (1ULL << VIRTIO_BLK_F_BLK_SIZE) | (1ULL << VIRTIO_BLK_F_FLUSH) |
		   (1ULL << VIRTIO_BLK_F_DISCARD) | (1ULL << VIRTIO_BLK_F_WRITE_ZEROES) |
		   (1ULL << VIRTIO_F_INDIRECT_DESC) | (1ULL << VIRTIO_F_EVENT_IDX);
	if (o->readonly)
		features |= 1ULL << VIRTIO_BLK_F_RO;
	nq = o->queues > 1 ? (unsigned)o->queues : 1;
	if (nq > 1)
		features |= 1ULL << VIRTIO_BLK_F_MQ;
	/* every queue is served by the device's one I/O thread, on one io_uring ring as deep as all */
	if (virtio_dev_init(&blk->vdev, m, name, &blk_ops, blk, features, nq, BLK_QUEUE_SIZE) < 0 ||
	    blk_setup_limits(blk, o) < 0)
		goto fail;
	blk_fill_config(blk);      /* num_queues now that the core knows them */
	if (!o->sync_io)
		blk->aio = blk_aio_new(blk->vdev.loop, name, blk->fd, BLK_QUEUE_SIZE * nq, blk_aio_done, blk);
	blk->inline_ops = o->inline_ops;
	blk_inline_init(blk);
	adaptive = o->poll_set ? o->poll_adaptive : BLK_POLL_DEFAULT_ADAPTIVE;
	poll_us = adaptive && !o->poll_max_set ? BLK_POLL_MAX_DEFAULT_US : o->poll_us;
	if (poll_us && blk->vdev.io) {
		struct poll_window_cfg pc = {
			.max_ns = poll_us * 1000, .adaptive = adaptive,
			.budget_pct = o->poll_budget ? (unsigned)o->poll_budget :
				      adaptive ? BLK_POLL_BUDGET_ADAPTIVE_DEFAULT : 100,
		};

		iothread_set_poll(blk->vdev.io, blk_poll, blk, &pc);
		log_debug("%s: its I/O thread polls the queue %s %llu us after work (budget %u%% of a core)", name,
			  pc.adaptive ? "adaptively, up to" : "for", (unsigned long long)poll_us, pc.budget_pct);
	} else if (o->poll_set && poll_us) {
		log_warn("%s: poll= ignored: no I/O thread (--iothreads off)", name);
	}
	log_info("%s: %s, %llu sectors%s%s", name, o->path, (unsigned long long)(blk->size / VIRTIO_BLK_SECTOR),
		 o->readonly ? ", read-only" : "", blk->direct ? ", cache=none" : "");
	if (!blk->aio)
		log_info("%s: synchronous I/O on the event loop", name);
	return &blk->vdev;
fail:
	blk_free(blk);
	return NULL;
}

/* dev's model when it is one of this file's devices (vhost-user-blk shares the device id). */
static struct blk_dev *blk_of(struct virtio_dev *dev)
{
	return dev && dev->ops == &blk_ops ? dev->priv : NULL;
}

int blk_replace_image(struct virtio_dev *dev, const char *path)
{
	struct blk_dev *blk = blk_of(dev);
	uint64_t size;
	char *copy;
	int fd;

	if (!blk) {
		log_err("%s: not a virtio-blk device on an image", dev ? dev->name : "virtio-blk");
		return -1;
	}
	fd = image_open(dev->name, path, blk->readonly, blk->direct, &size);
	if (fd < 0)
		return -1;
	if (!(copy = strdup(path))) {
		log_err("%s: out of memory", dev->name);
		close(fd);
		return -1;
	}
	/* no callback of the device's I/O thread runs until the swap is done (the old ring's
	 * completion fd goes away); a no-op on the machine's loop, which is this thread's */
	iothread_pause(dev->io);
	pthread_mutex_lock(&dev->lock);
	/* what the old image has in flight completes first */
	if (blk->aio) {
		blk_aio_drain(blk->aio);
		int r = blk_aio_set_file(blk->aio, fd);
		if (r < 0) {
			log_warn("%s: io_uring: cannot switch to %s (%s): synchronous I/O", dev->name, path, strerror(-r));
			blk_aio_free(blk->aio);
			blk->aio = NULL;
		}
	}
	close(blk->fd);
	blk->fd = fd;
	blk_inline_init(blk);      /* the new file's own file system (the counters count on) */
	free(blk->path);
	blk->path = copy;
	blk->size = size;
	blk->image_swaps++;
	blk_fill_config(blk);
	if (dev->status & VIRTIO_STATUS_DRIVER_OK)
		virtio_dev_config_changed(dev);    /* the driver rereads the capacity */
	pthread_mutex_unlock(&dev->lock);
	iothread_resume(dev->io);
	log_info("%s: image is now %s, %llu sectors", dev->name, path, (unsigned long long)(size / VIRTIO_BLK_SECTOR));
	return 0;
}

int blk_set_limits(struct virtio_dev *dev, const struct limiter_cfg *c)
{
	struct blk_dev *blk = blk_of(dev);
	int ret = 0;

	if (!blk) {
		log_err("%s: not a virtio-blk device on an image", dev ? dev->name : "virtio-blk");
		return -1;
	}
	pthread_mutex_lock(&dev->lock);
	rate_limiter_configure(&blk->rl, c, rl_now_ns());
	if (rate_limiter_active(&blk->rl) && blk->rl.timer_fd < 0)
		ret = blk_open_limit_timer(blk);
	pthread_mutex_unlock(&dev->lock);
	if (ret == 0)
		log_info("%s: rate limit now %llu requests/s, %llu bytes/s (0 = unlimited)", dev->name,
			 (unsigned long long)c->ops.rate, (unsigned long long)c->bytes.rate);
	return ret;
}

bool blk_get_counters(struct virtio_dev *dev, struct blk_counters *out)
{
	struct blk_dev *blk = blk_of(dev);

	if (!blk)
		return false;
	pthread_mutex_lock(&dev->lock);
	*out = (struct blk_counters){
		.requests = blk->reqs, .read_ops = blk->read_ops, .write_ops = blk->write_ops,
		.flush_ops = blk->flush_ops, .read_bytes = blk->read_bytes, .write_bytes = blk->write_bytes,
		.errors = blk->errors, .throttled = blk->rl.refused, .image_swaps = blk->image_swaps,
		.inline_writes = iw_done(&blk->iw), .inline_slow = iw_slow(&blk->iw),
		.inline_reads = iw_done(&blk->ir), .inline_read_slow = iw_slow(&blk->ir),
	};
	pthread_mutex_unlock(&dev->lock);
	return true;
}

static void blk_destroy(struct virtio_dev *dev)
{
	blk_free(dev->priv);
}

static void blk_free(struct blk_dev *blk)
{
	if (!blk)
		return;
	if (blk->aio) {
		blk_aio_free(blk->aio);
		log_info("%s: %llu of %llu requests served through io_uring, %llu writes inline (%llu slept), "
			 "%llu reads inline (%llu slept) (%llu polling rounds found requests)",
			 blk->vdev.name, (unsigned long long)blk->async_reqs, (unsigned long long)blk->reqs,
			 (unsigned long long)iw_done(&blk->iw), (unsigned long long)iw_slow(&blk->iw),
			 (unsigned long long)iw_done(&blk->ir), (unsigned long long)iw_slow(&blk->ir),
			 (unsigned long long)blk->polled_reqs);
	}
	if (blk->rl.timer_fd >= 0) {
		evloop_del(blk->vdev.loop, blk->rl.timer_fd);
		rate_limiter_timer_close(&blk->rl);
		log_info("%s: %llu requests, rate limit delayed %llu of them", blk->vdev.name,
			 (unsigned long long)blk->reqs, (unsigned long long)blk->rl.refused);
	}
	while (blk->free_reqs) {
		struct blk_aio_req *r = blk->free_reqs;

		blk->free_reqs = r->next_free;
		free(r);
	}
	if (blk->vdev.ops)
		virtio_dev_exit(&blk->vdev);
	iw_unmap(&blk->ir);
	iw_unmap(&blk->iw);
	if (blk->fd >= 0)
		close(blk->fd);
	free(blk->bounce);
	free(blk->path);
	free(blk);
}

/*
 * Snapshots. Quiesce: every request io_uring holds completes into the used ring first (the VM is
 * paused, so no new one starts); synchronous requests never outlive a callback. The section holds
 * the image path and size (a restore refuses an image of another size and reopens the saved path
 * if the image was swapped at run time), the rate limiter's buckets and the counters.
 */
static int blk_quiesce(struct virtio_dev *dev, char *err, size_t errlen)
{
	struct blk_dev *blk = dev->priv;

	(void)err;
	(void)errlen;
	pthread_mutex_lock(&dev->lock);
	if (blk->aio)
		blk_aio_drain(blk->aio);
	pthread_mutex_unlock(&dev->lock);
	return 0;
}

static void blk_save(struct virtio_dev *dev, struct snap_writer *w)
{
	struct blk_dev *blk = dev->priv;

	pthread_mutex_lock(&dev->lock);
	snap_put_str(w, blk->path);
	snap_put_u64(w, blk->size);
	rate_limiter_save(&blk->rl, w);
	snap_put_u64(w, blk->reqs);
	snap_put_u64(w, blk->errors);
	snap_put_u64(w, blk->read_ops);
	snap_put_u64(w, blk->write_ops);
	snap_put_u64(w, blk->flush_ops);
	snap_put_u64(w, blk->read_bytes);
	snap_put_u64(w, blk->write_bytes);
	snap_put_u64(w, blk->image_swaps);
	pthread_mutex_unlock(&dev->lock);
}

static void blk_restore(struct virtio_dev *dev, struct snap_cursor *c)
{
	struct blk_dev *blk = dev->priv;
	struct rate_limiter rl = blk->rl;
	char path[4096];
	uint64_t size, n[8];

	snap_get_str(c, path, sizeof(path));
	size = snap_get_u64(c);
	rate_limiter_restore(&rl, c, rl_now_ns());
	for (unsigned i = 0; i < 8; i++)
		n[i] = snap_get_u64(c);
	if (c->bad || snap_remaining(c))
		return;
	if (strcmp(path, blk->path) && blk_replace_image(dev, path) < 0) {
		snap_cursor_fail(c, "the image the snapshot used cannot be opened (see the line before)");
		return;
	}
	pthread_mutex_lock(&dev->lock);
	if (size != blk->size) {
		pthread_mutex_unlock(&dev->lock);
		log_err("%s: image %s has %llu bytes, the snapshot's had %llu", dev->name, blk->path,
			(unsigned long long)blk->size, (unsigned long long)size);
		snap_cursor_fail(c, "the image's size differs from the snapshot's");
		return;
	}
	blk->rl = rl;
	blk->reqs = n[0];
	blk->errors = n[1];
	blk->read_ops = n[2];
	blk->write_ops = n[3];
	blk->flush_ops = n[4];
	blk->read_bytes = n[5];
	blk->write_bytes = n[6];
	blk->image_swaps = n[7];
	pthread_mutex_unlock(&dev->lock);
	if (rate_limiter_active(&blk->rl) && blk->rl.timer_fd < 0 && blk_open_limit_timer(blk) < 0)
		snap_cursor_fail(c, "the rate limiter's timer cannot be opened");
}
