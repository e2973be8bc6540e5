/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk on a raw image file. Every request is checked before any byte moves: a 16-byte
 * header in the device-readable part, a status byte at the end of the device-writable part,
 * data lengths in whole sectors and sectors inside the image. A request that breaks these rules
 * breaks the queue (DEVICE_NEEDS_RESET); an I/O error is an IOERR status, never a crash.
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
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "blk_aio.h"
#include "kite/evloop.h"
#include "kite/ratelimit.h"

#include "kite/blockdev.h"
#include "kite/log.h"
#include "kite/virtio_dev.h"
#include "kite/virtio_mmio.h"
#include "kite/virtio_pci.h"
#include "kite/vm.h"

#define BLK_QUEUE_SIZE   256
#define BLK_SEG_MAX      (VQ_MAX_SEGS - 2)
#define BLK_MAX_DISCARD  (1u << 22)        /* sectors per discard / write-zeroes segment (2 GiB) */
#define BLK_BOUNCE_SIZE  (1u << 20)        /* O_DIRECT bounce buffer */

struct blk_req_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
} __attribute__((packed));

struct blk_discard_seg {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
} __attribute__((packed));

struct blk_dev {
	struct virtio_dev vdev;
	struct virtio_pci pci;
	struct virtio_mmio mmio;
	bool pci_on, mmio_on;
	int fd;
	char *path;
	uint64_t size;             /* bytes, a multiple of 512 is exposed */
	bool readonly, direct;
	char id[VIRTIO_BLK_ID_BYTES];
	uint8_t config[VIRTIO_BLK_CONFIG_SIZE];
	void *bounce;              /* O_DIRECT only */
	struct vq_elem elem;
	uint64_t reqs, errors;
	/* token buckets (iops=, bps=); a refused request waits in the ring for throttle_fd */
	struct ratelimit rl_ops, rl_bytes;
	int throttle_fd;
	bool throttle_armed;
	uint64_t throttled;
	struct blk_aio *aio;       /* io_uring engine, NULL = synchronous I/O */
	uint64_t async_reqs;
};

/* A request in flight on the io_uring engine. */
struct blk_aio_req {
	struct blk_dev *blk;
	unsigned q;
	uint32_t type;
	uint64_t expect;           /* bytes the transfer must move */
	struct iovec iov[VQ_MAX_SEGS];
	struct vq_elem elem;
};

/* Weak stand-ins: the unit-test core links blk.c without virtio/blk_uring.c (no liburing). */
__attribute__((weak)) struct blk_aio *blk_aio_new(struct vm *vm, const char *name, int fd, unsigned depth,
						  blk_aio_done_fn done, void *opaque)
{
	(void)vm; (void)fd; (void)depth; (void)done; (void)opaque;
	log_debug("%s: built without io_uring: synchronous I/O", name);
	return NULL;
}
__attribute__((weak)) void blk_aio_free(struct blk_aio *aio) { (void)aio; }
__attribute__((weak)) int blk_aio_rw(struct blk_aio *aio, bool write, bool dsync, const struct iovec *iov,
				     unsigned n, uint64_t off, void *tag)
{
	(void)aio; (void)write; (void)dsync; (void)iov; (void)n; (void)off; (void)tag;
	return -1;
}
__attribute__((weak)) int blk_aio_fsync(struct blk_aio *aio, void *tag) { (void)aio; (void)tag; return -1; }
__attribute__((weak)) void blk_aio_reap(struct blk_aio *aio) { (void)aio; }
__attribute__((weak)) void blk_aio_drain(struct blk_aio *aio) { (void)aio; }

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void blk_config_read(struct virtio_dev *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	struct blk_dev *blk = dev->priv;

	memcpy(data, &blk->config[off], len);
}

/* Data segments of a read or write: the iovecs between the header and the status byte. */
static unsigned data_iov(const struct vq_elem *e, bool write, struct iovec *out, uint64_t *total)
{
	unsigned n = 0;
	uint64_t skip = write ? sizeof(struct blk_req_hdr) : 0;
	uint64_t left = write ? e->out_len - sizeof(struct blk_req_hdr) : e->in_len - 1;
	unsigned first = write ? 0 : e->out_num, last = write ? e->out_num : e->out_num + e->in_num;

	*total = left;
	for (unsigned i = first; i < last && left; i++) {
		uint64_t l = e->iov[i].iov_len;
		uint8_t *b = e->iov[i].iov_base;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		b += skip;
		l -= skip;
		skip = 0;
		if (l > left)
			l = left;
		out[n].iov_base = b;
		out[n].iov_len = l;
		n++;
		left -= l;
	}
	return n;
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

static uint8_t blk_rw(struct blk_dev *blk, const struct vq_elem *e, bool write, uint64_t sector,
		      struct blk_aio_req *async)
{
	struct iovec iov[VQ_MAX_SEGS];
	uint64_t total, pos;
	unsigned n = data_iov(e, write, iov, &total);
	/* Without FLUSH negotiated the cache is write-through (virtio 1.2 5.2.6): a write is durable
	 * before it completes. */
	bool dsync = write && !virtio_dev_has_feature(&blk->vdev, VIRTIO_BLK_F_FLUSH);

	if (write && blk->readonly)
		return VIRTIO_BLK_S_IOERR;
	if (total % VIRTIO_BLK_SECTOR || sector > blk->size / VIRTIO_BLK_SECTOR ||
	    total > blk->size - sector * VIRTIO_BLK_SECTOR) {
		/* the guest controls this: one warning per device, then debug lines */
		kite_log(blk->errors ? KITE_LOG_DEBUG : KITE_LOG_WARN,
			 "%s: %s of %llu bytes at sector %llu outside the %llu-byte image or not whole sectors",
			 blk->vdev.name, write ? "write" : "read", (unsigned long long)total,
			 (unsigned long long)sector, (unsigned long long)blk->size);
		return VIRTIO_BLK_S_IOERR;
	}
	pos = sector * VIRTIO_BLK_SECTOR;
	if (async && blk_submit(blk, async, write, dsync, iov, n, pos, total) == 0)
		return BLK_SUBMITTED;
	if ((blk->direct ? bounce_rw(blk, write, iov, n, pos, total) : plain_rw(blk, write, iov, n, pos, total)) < 0 ||
	    (dsync && fdatasync(blk->fd) < 0)) {
		log_warn("%s: %s at byte %llu of %s failed: %m", blk->vdev.name, write ? "write" : "read",
			 (unsigned long long)pos, blk->path);
		return VIRTIO_BLK_S_IOERR;
	}
	return VIRTIO_BLK_S_OK;
}

static uint8_t blk_discard(struct blk_dev *blk, const struct vq_elem *e, bool zeroes)
{
	uint64_t off = sizeof(struct blk_req_hdr);
	struct blk_discard_seg seg;

	if (blk->readonly)
		return VIRTIO_BLK_S_IOERR;
	if (e->out_len - off == 0 || (e->out_len - off) % sizeof(seg) || e->out_len - off > sizeof(seg))
		return VIRTIO_BLK_S_UNSUPP;      /* max_discard_seg = max_write_zeroes_seg = 1 */
	vq_iov_to_buf(e->iov, e->out_num, off, &seg, sizeof(seg));
	if (seg.num_sectors > BLK_MAX_DISCARD || seg.sector > blk->size / VIRTIO_BLK_SECTOR ||
	    seg.num_sectors > blk->size / VIRTIO_BLK_SECTOR - seg.sector)
		return VIRTIO_BLK_S_IOERR;
	if ((seg.flags & ~1u) || (!zeroes && seg.flags))
		return VIRTIO_BLK_S_UNSUPP;
	{
		off_t pos = (off_t)(seg.sector * VIRTIO_BLK_SECTOR), len = (off_t)seg.num_sectors * VIRTIO_BLK_SECTOR;
		int mode = zeroes ? FALLOC_FL_ZERO_RANGE : FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;

		if (len == 0)
			return VIRTIO_BLK_S_OK;
		if (fallocate(blk->fd, mode, pos, len) == 0)
			return VIRTIO_BLK_S_OK;
		if (zeroes && fallocate(blk->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, pos, len) == 0)
			return VIRTIO_BLK_S_OK;
		if (!zeroes)
			return VIRTIO_BLK_S_OK;  /* discard is a hint */
		log_warn("%s: write-zeroes at byte %lld of %s failed: %m", blk->vdev.name, (long long)pos, blk->path);
		return VIRTIO_BLK_S_IOERR;
	}
}

#define BLK_ASYNC (-2)

/* One request. Returns bytes written into the driver's buffers, -1 if the queue broke, BLK_ASYNC if
 * io_uring took it (blk_aio_done() completes it). */
static int blk_request(struct blk_dev *blk, unsigned q, struct virtqueue *vq, struct vq_elem *e)
{
	struct blk_aio_req *async = NULL;
	struct blk_req_hdr hdr;
	uint8_t status = VIRTIO_BLK_S_UNSUPP;
	uint32_t written = 1;

	if (e->out_len < sizeof(hdr) || e->in_len < 1) {
		vq_set_broken(vq, "request %u: %llu header bytes and %llu status bytes (need 16 and 1)", e->id,
			      (unsigned long long)e->out_len, (unsigned long long)e->in_len);
		return -1;
	}
	vq_iov_to_buf(e->iov, e->out_num, 0, &hdr, sizeof(hdr));
	blk->reqs++;
	switch (hdr.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
	case VIRTIO_BLK_T_FLUSH:
		if (blk->aio && (async = malloc(sizeof(*async)))) {
			async->blk = blk;
			async->q = q;
			async->type = hdr.type;
			memcpy(&async->elem, e, offsetof(struct vq_elem, iov) + (e->out_num + e->in_num) * sizeof(e->iov[0]));
			if (hdr.type == VIRTIO_BLK_T_FLUSH) {
				if (!blk->readonly && blk_aio_fsync(blk->aio, async) == 0) {
					blk->async_reqs++;
					return BLK_ASYNC;
				}
			} else {
				status = blk_rw(blk, &async->elem, hdr.type == VIRTIO_BLK_T_OUT, hdr.sector, async);
				if (status == BLK_SUBMITTED) {
					blk->async_reqs++;
					return BLK_ASYNC;
				}
				free(async);
				async = NULL;
				goto finish;
			}
			free(async);
			async = NULL;
		}
		break;
	default:
		break;
	}
	switch (hdr.type) {
	case VIRTIO_BLK_T_IN:
		status = blk_rw(blk, e, false, hdr.sector, NULL);
		break;
	case VIRTIO_BLK_T_OUT:
		status = blk_rw(blk, e, true, hdr.sector, NULL);
		break;
	case VIRTIO_BLK_T_FLUSH:
		status = VIRTIO_BLK_S_OK;
		if (!blk->readonly && fdatasync(blk->fd) < 0) {
			log_warn("%s: fdatasync of %s failed: %m", blk->vdev.name, blk->path);
			status = VIRTIO_BLK_S_IOERR;
		}
		break;
	case VIRTIO_BLK_T_GET_ID: {
		size_t n = e->in_len - 1 < VIRTIO_BLK_ID_BYTES ? e->in_len - 1 : VIRTIO_BLK_ID_BYTES;

		vq_buf_to_iov(&e->iov[e->out_num], e->in_num, 0, blk->id, n);
		written += (uint32_t)n;
		status = VIRTIO_BLK_S_OK;
		break;
	}
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		status = blk_discard(blk, e, hdr.type == VIRTIO_BLK_T_WRITE_ZEROES);
		break;
	default:
		status = VIRTIO_BLK_S_UNSUPP;
		break;
	}
finish:
	if (hdr.type == VIRTIO_BLK_T_IN && status == VIRTIO_BLK_S_OK && written == 1)
		written += (uint32_t)(e->in_len - 1);
	if (status != VIRTIO_BLK_S_OK)
		blk->errors++;
	vq_buf_to_iov(&e->iov[e->out_num], e->in_num, e->in_len - 1, &status, 1);
	return (int)written;
}

/* Bytes a request moves (what the bandwidth bucket is charged). */
static uint64_t request_bytes(const struct vq_elem *e)
{
	uint64_t out = e->out_len > sizeof(struct blk_req_hdr) ? e->out_len - sizeof(struct blk_req_hdr) : 0;
	uint64_t in = e->in_len > 1 ? e->in_len - 1 : 0;

	return out + in;
}

/* Admit one request through both buckets, or arm the retry timer and refuse. */
static bool blk_admit(struct blk_dev *blk, const struct vq_elem *e)
{
	uint64_t now = rl_now_ns(), bytes = request_bytes(e), wait_ns = 0;

	if (rl_unlimited(&blk->rl_ops) && rl_unlimited(&blk->rl_bytes))
		return true;
	if (!rl_unlimited(&blk->rl_ops) && rl_available(&blk->rl_ops, now) < 1)
		wait_ns = 1000000000ULL / blk->rl_ops.rate;
	else if (!rl_unlimited(&blk->rl_bytes) && bytes &&
		 rl_available(&blk->rl_bytes, now) < (bytes < blk->rl_bytes.burst ? bytes : blk->rl_bytes.burst))
		wait_ns = (bytes < blk->rl_bytes.burst ? bytes : blk->rl_bytes.burst) * 1000000000ULL / blk->rl_bytes.rate;
	if (!wait_ns) {
		rl_take(&blk->rl_ops, 1, now);
		if (bytes)
			rl_take(&blk->rl_bytes, bytes, now);
		return true;
	}
	blk->throttled++;
	if (!blk->throttle_armed && blk->throttle_fd >= 0) {
		struct itimerspec its = { .it_value = { .tv_sec = (time_t)(wait_ns / 1000000000ULL),
							.tv_nsec = (long)(wait_ns % 1000000000ULL) } };

		if (!its.it_value.tv_sec && its.it_value.tv_nsec < 100000)
			its.it_value.tv_nsec = 100000;
		if (timerfd_settime(blk->throttle_fd, 0, &its, NULL) == 0)
			blk->throttle_armed = true;
	}
	return false;
}

static void blk_queue_notify(struct virtio_dev *dev, unsigned q)
{
	struct blk_dev *blk = dev->priv;
	struct virtqueue *vq = &dev->q[q].vq;
	unsigned served = 0;
	int r;

	if (blk->throttle_armed)
		return;          /* the timer resumes the queue */
	for (;;) {
		while ((r = vq_pop(vq, &blk->elem)) == 1) {
			int written;

			if (!blk_admit(blk, &blk->elem)) {
				vq_unpop(vq, &blk->elem);
				goto out;
			}
			written = blk_request(blk, q, vq, &blk->elem);
			if (written == BLK_ASYNC)
				continue;
			if (written < 0)
				break;
			vq_push(vq, &blk->elem, (uint32_t)written);
			served++;
		}
		if (r != 0 || vq->broken || !vq_enable_kicks(vq, true))
			break;
	}
out:
	if (served || vq->broken)
		virtio_dev_queue_done(dev, q);
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
		pthread_mutex_unlock(&blk->vdev.lock);
		return;
	}
	vq = &blk->vdev.q[r->q].vq;
	status = res >= 0 && (r->type == VIRTIO_BLK_T_FLUSH || (uint64_t)res == r->expect) ? VIRTIO_BLK_S_OK
											  : VIRTIO_BLK_S_IOERR;
	if (status != VIRTIO_BLK_S_OK) {
		blk->errors++;
		log_warn("%s: %s on %s failed: %s", blk->vdev.name,
			 r->type == VIRTIO_BLK_T_FLUSH ? "fdatasync" : r->type == VIRTIO_BLK_T_OUT ? "write" : "read",
			 blk->path, res < 0 ? strerror(-res) : "short transfer");
	}
	/* after a reset (or a broken queue) the request is dropped: the ring is no longer ours */
	if (vq->ready && !vq->broken) {
		if (r->type == VIRTIO_BLK_T_IN && status == VIRTIO_BLK_S_OK)
			written += (uint32_t)(r->elem.in_len - 1);
		vq_buf_to_iov(&r->elem.iov[r->elem.out_num], r->elem.in_num, r->elem.in_len - 1, &status, 1);
		vq_push(vq, &r->elem, written);
		virtio_dev_queue_done(&blk->vdev, r->q);
	}
	free(r);
}

static void on_throttle_timer(void *opaque, int fd, uint32_t events)
{
	struct blk_dev *blk = opaque;
	struct virtio_dev *dev = &blk->vdev;
	uint64_t ticks;

	(void)events;
	if (read(fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&dev->lock);
	blk->throttle_armed = false;
	if ((dev->status & VIRTIO_STATUS_DRIVER_OK) && !(dev->status & VIRTIO_STATUS_NEEDS_RESET) &&
	    dev->q[0].enabled && dev->q[0].vq.ready && !dev->q[0].vq.broken)
		blk_queue_notify(dev, 0);
	pthread_mutex_unlock(&dev->lock);
}

static int blk_setup_limits(struct blk_dev *blk, const struct blk_options *o)
{
	uint64_t now = rl_now_ns();

	rl_init(&blk->rl_ops, o->iops, 0, now);
	rl_init(&blk->rl_bytes, o->bps, 0, now);
	blk->throttle_fd = -1;
	if (!o->iops && !o->bps)
		return 0;
	blk->throttle_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (blk->throttle_fd < 0 || evloop_add(blk->vdev.vm->loop, blk->throttle_fd, EPOLLIN, on_throttle_timer, blk) < 0) {
		log_err("%s: rate limit timer: %s", blk->vdev.name, strerror(errno));
		if (blk->throttle_fd >= 0)
			close(blk->throttle_fd);
		blk->throttle_fd = -1;
		return -1;
	}
	return 0;
}

static void blk_reset(struct virtio_dev *dev)
{
	struct blk_dev *blk = dev->priv;
	struct itimerspec off = { 0 };

	if (blk->throttle_fd >= 0)
		timerfd_settime(blk->throttle_fd, 0, &off, NULL);
	blk->throttle_armed = false;
	/* the queues are already reset: what completes now is dropped, and the guest's status write
	 * returns only once nothing of the old rings is in flight */
	if (blk->aio)
		blk_aio_drain(blk->aio);
}

static const struct virtio_dev_ops blk_ops = {
	.device_id = VIRTIO_ID_BLOCK,
	.reset = blk_reset,
	.config_size = VIRTIO_BLK_CONFIG_SIZE,
	.config_read = blk_config_read,
	.queue_notify = blk_queue_notify,
};

static void blk_fill_config(struct blk_dev *blk)
{
	uint8_t *c = blk->config;

	put_le(c + 0, blk->size / VIRTIO_BLK_SECTOR, 8);   /* capacity */
	put_le(c + 12, BLK_SEG_MAX, 4);                      /* seg_max */
	put_le(c + 20, VIRTIO_BLK_SECTOR, 4);                /* blk_size */
	put_le(c + 36, BLK_MAX_DISCARD, 4);                  /* max_discard_sectors */
	put_le(c + 40, 1, 4);                                /* max_discard_seg */
	put_le(c + 44, 1, 4);                                /* discard_sector_alignment */
	put_le(c + 48, BLK_MAX_DISCARD, 4);                  /* max_write_zeroes_sectors */
	put_le(c + 52, 1, 4);                                /* max_write_zeroes_seg */
	c[56] = 1;                                           /* write_zeroes_may_unmap */
}

struct blk_dev *blk_create(struct vm *vm, const struct blk_options *o, unsigned index)
{
	struct blk_dev *blk = calloc(1, sizeof(*blk));
	uint64_t features;
	char name[32];
	struct stat st;
	int flags;

	if (!blk) {
		log_err("virtio-blk%u: out of memory", index);
		return NULL;
	}
	blk->fd = -1;
	blk->throttle_fd = -1;
	snprintf(name, sizeof(name), "virtio-blk%u", index);
	blk->path = strdup(o->path);
	blk->readonly = o->readonly;
	blk->direct = o->cache == BLK_CACHE_NONE;
	flags = (o->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | (blk->direct ? O_DIRECT : 0);
	blk->fd = blk->path ? open(blk->path, flags) : -1;
	if (blk->fd < 0) {
		log_err("%s: cannot open image %s%s: %m", name, o->path, blk->direct ? " with O_DIRECT (cache=none)" : "");
		goto fail;
	}
	if (fstat(blk->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		log_err("%s: image %s is not a regular file", name, o->path);
		goto fail;
	}
	blk->size = (uint64_t)st.st_size & ~(uint64_t)(VIRTIO_BLK_SECTOR - 1);
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
	if (virtio_dev_init(&blk->vdev, vm, name, &blk_ops, blk, features, 1, BLK_QUEUE_SIZE) < 0 ||
	    blk_setup_limits(blk, o) < 0)
		goto fail;
	if (!o->sync_io)
		blk->aio = blk_aio_new(vm, name, blk->fd, BLK_QUEUE_SIZE, blk_aio_done, blk);
	if (o->transport == VIRTIO_TRANSPORT_MMIO) {
		if (virtio_mmio_init(&blk->mmio, &blk->vdev) < 0)
			goto fail;
		blk->mmio_on = true;
	} else {
		if (virtio_pci_init(&blk->pci, &blk->vdev, 0x018000) < 0)
			goto fail;
		blk->pci_on = true;
	}
	if (blk->mmio_on)
		log_info("%s: %s, %llu sectors%s%s, virtio-mmio at 0x%llx IRQ %u", name, o->path,
			 (unsigned long long)(blk->size / VIRTIO_BLK_SECTOR), o->readonly ? ", read-only" : "",
			 blk->direct ? ", cache=none" : "", (unsigned long long)blk->mmio.base, blk->mmio.gsi);
	else
		log_info("%s: %s, %llu sectors%s%s, PCI slot %u", name, o->path,
			 (unsigned long long)(blk->size / VIRTIO_BLK_SECTOR), o->readonly ? ", read-only" : "",
			 blk->direct ? ", cache=none" : "", blk->pci.pci.slot);
	if (!blk->aio)
		log_info("%s: synchronous I/O on the event loop", name);
	return blk;
fail:
	blk_destroy(blk);
	return NULL;
}

void blk_destroy(struct blk_dev *blk)
{
	if (!blk)
		return;
	if (blk->pci_on)
		virtio_pci_exit(&blk->pci);
	if (blk->mmio_on)
		virtio_mmio_exit(&blk->mmio);
	if (blk->aio) {
		blk_aio_free(blk->aio);
		log_info("%s: %llu of %llu requests served through io_uring", blk->vdev.name,
			 (unsigned long long)blk->async_reqs, (unsigned long long)blk->reqs);
	}
	if (blk->throttle_fd >= 0) {
		evloop_del(blk->vdev.vm->loop, blk->throttle_fd);
		close(blk->throttle_fd);
		log_info("%s: %llu requests, rate limit delayed %llu of them", blk->vdev.name,
			 (unsigned long long)blk->reqs, (unsigned long long)blk->throttled);
	}
	if (blk->vdev.ops)
		virtio_dev_exit(&blk->vdev);
	if (blk->fd >= 0)
		close(blk->fd);
	free(blk->bounce);
	free(blk->path);
	free(blk);
}
