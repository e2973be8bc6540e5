/* SPDX-License-Identifier: MIT */
/* vhost-user-blk volumes: request parsing and validation, io_uring submission, completion. Each
 * queue's ring reaches only the volume's image and the opcodes in ring_ops (kite/uring_restrict.h). */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <linux/magic.h>

#include "../poller.h"
#include "kite/blk_request.h"
#include "kite/log.h"
#include "kite/ratelimit.h"
#include "kite/uring_restrict.h"
#include "../vhost_backend.h"
#include "kite/vhost_user.h"
#include "blk.h"
#include "blk_crypt.h"
#include "kite/inline_io.h"
#include "kite/virtio_blk.h"

static const uint8_t ring_ops[] = { IORING_OP_READ, IORING_OP_WRITE, IORING_OP_READV, IORING_OP_WRITEV,
				    IORING_OP_FSYNC, IORING_OP_FALLOCATE };

#define QUEUE_DEPTH 64
#define MAX_REQ_BYTES (4u << 20)
#define SEG_MAX 254
#define DISCARD_MAX_SECTORS (1u << 22)
#define BOUNCE_ALIGN 4096

enum req_op { OP_READ, OP_WRITE, OP_FLUSH, OP_DISCARD, OP_ZEROES };

struct blk_req {
	struct vq_elem elem;
	struct blk_request req;            /* the parsed chain: data part, sectors, status byte */
	enum req_op op;
	void *bounce;                      /* aligned buffer for O_DIRECT fix-ups and encryption */
	size_t bounce_cap;
	bool use_bounce;
	struct blk_req *next_free;
};

struct blk_queue_stats {
	uint64_t reads, writes, flushes, discards, write_zeroes, get_ids;
	uint64_t read_bytes, write_bytes;
	uint64_t ioerr, unsupp, throttled;
};

struct blk_queue {
	struct blk_volume *vol;
	unsigned idx;
	struct io_uring ring;
	bool ring_ok;
	int done_fd;                       /* eventfd the ring signals on completions, or -1 */
	struct blk_req reqs[QUEUE_DEPTH];
	struct blk_req *free;
	/* Requests complete in the order the I/O does; the inflight region (dpu/vhost_backend.c) names
	 * the ones in flight, so a restarted kite-dpu serves exactly those again. */
	unsigned inflight;                 /* submitted to io_uring */
	unsigned filled;                   /* completions filled into the used ring, not yet flushed */
	struct blk_req *held;              /* popped last, waiting for the QoS limiter */
	struct blk_crypt *crypt;
	struct rate_limiter qos;      /* this queue's share of the volume's limits; no timer (polled) */
	unsigned qos_gen;
	uint64_t inline_ns;           /* inline read and write time in this poll call (IW_ROUND_NS) */
	struct blk_queue_stats st;    /* written by the poller only */
};

struct blk_volume {
	char name[64];
	int fd;
	bool direct, readonly, packed;
	uint64_t capacity;            /* 512-byte sectors; grows (control thread) while pollers read it */
	unsigned num_queues;
	char serial[VIRTIO_BLK_ID_BYTES];
	struct vhost_dev *dev;
	bool has_key;
	uint8_t key[BLK_XTS_KEY_LEN];
	_Atomic unsigned qos_gen;
	_Atomic uint64_t iops_limit, bps_limit;
	/* writes, reads; the poller's (every queue of a volume has the same poller); they count what they
	 * serve (iw_done, iw_slow) */
	struct inline_io iw, ir;
	struct blk_queue q[BLK_MAX_QUEUES];
};

static inline void stat_add(uint64_t *c, uint64_t v)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}

/* ---- device ops ---- */

static uint64_t blk_get_features(struct vhost_dev *dev)
{
	struct blk_volume *v = vhost_dev_opaque(dev);
	uint64_t f = (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE) |
		     (1ull << VIRTIO_BLK_F_FLUSH) | (1ull << VIRTIO_BLK_F_MQ) |
		     (1ull << VIRTIO_F_INDIRECT_DESC) | (1ull << VIRTIO_F_EVENT_IDX);

	if (v->packed)
		f |= 1ull << VIRTIO_F_RING_PACKED;
	if (v->readonly)
		f |= 1ull << VIRTIO_BLK_F_RO;
	else if (!v->has_key)
		f |= (1ull << VIRTIO_BLK_F_DISCARD) | (1ull << VIRTIO_BLK_F_WRITE_ZEROES);
	return f;
}

static uint64_t blk_get_protocol_features(struct vhost_dev *dev)
{
	(void)dev;
	return (1ull << VHOST_USER_PROTOCOL_F_CONFIG) | (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD) |
	       (1ull << VHOST_USER_PROTOCOL_F_BACKEND_REQ);
}

static unsigned blk_num_queues(struct vhost_dev *dev)
{
	struct blk_volume *v = vhost_dev_opaque(dev);
	return v->num_queues;
}

/* What this volume offers, for the shared parser. */
static struct blk_req_limits volume_limits(const struct blk_volume *v)
{
	return (struct blk_req_limits){ .capacity = __atomic_load_n(&v->capacity, __ATOMIC_RELAXED), .max_rw_bytes = MAX_REQ_BYTES,
					.max_dwz_sectors = DISCARD_MAX_SECTORS, .readonly = v->readonly,
					.dwz = !v->readonly && !v->has_key };
}

static int blk_get_config(struct vhost_dev *dev, uint32_t offset, void *buf, uint32_t len)
{
	struct blk_volume *v = vhost_dev_opaque(dev);
	uint8_t space[VHOST_USER_CONFIG_MAX] = { 0 };
	struct blk_req_limits lim = volume_limits(v);

	blk_config_fill((struct virtio_blk_config *)space, &lim, SEG_MAX, (uint16_t)v->num_queues);
	memcpy(buf, space + offset, len);
	return 0;
}

static int blk_queue_start(struct vhost_dev *dev, unsigned qi, struct virtqueue *vq)
{
	struct blk_volume *v = vhost_dev_opaque(dev);
	struct blk_queue *q = &v->q[qi];
	int r;

	(void)vq;
	/* a sleeping poller wakes on completions (else it polls on a timer while I/O is in flight) */
	q->done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if ((r = uring_init_restricted(&q->ring, QUEUE_DEPTH, v->fd, ring_ops, sizeof(ring_ops), q->done_fd, 0)) < 0) {
		log_err_rl("%s: queue %u: io_uring setup failed: %s", v->name, qi, strerror(-r));
		if (q->done_fd >= 0)
			close(q->done_fd);
		q->done_fd = -1;
		return -1;
	}
	q->ring_ok = true;
	q->free = NULL;
	for (unsigned i = 0; i < QUEUE_DEPTH; i++) {
		q->reqs[i].next_free = q->free;
		q->free = &q->reqs[i];
	}
	q->inflight = q->filled = 0;
	q->held = NULL;
	q->qos_gen = ~0u;    /* re-read limits at the first poll */
	if (v->has_key && !q->crypt && !(q->crypt = blk_crypt_new(v->key))) {
		log_err_rl("%s: queue %u: cannot set up AES-XTS", v->name, qi);
		io_uring_queue_exit(&q->ring);
		q->ring_ok = false;
		if (q->done_fd >= 0)
			close(q->done_fd);
		q->done_fd = -1;
		return -1;
	}
	return 0;
}

/* ---- request completion ---- */

/* The request is finished: status byte, used entry (published by the next flush_done), slot freed. */
static void req_done(struct blk_queue *q, struct vhost_dev *dev, struct blk_req *r, uint8_t status, uint32_t written)
{
	if (status == VIRTIO_BLK_S_IOERR)
		stat_add(&q->st.ioerr, 1);
	else if (status == VIRTIO_BLK_S_UNSUPP)
		stat_add(&q->st.unsupp, 1);
	*r->req.status_byte = status;
	vhost_dev_fill(dev, q->idx, &r->elem, written + 1);
	r->next_free = q->free;
	q->free = r;
	q->filled++;
}

/* Publish the filled completions and notify the driver once (EVENT_IDX rules). */
static void flush_done(struct blk_queue *q, struct vhost_dev *dev)
{
	if (!q->filled)
		return;
	q->filled = 0;
	vhost_dev_flush(dev, q->idx);
}

static void complete_io(struct blk_queue *q, struct vhost_dev *dev, struct blk_req *r, int res)
{
	uint8_t status = VIRTIO_BLK_S_OK;
	uint32_t written = 0;

	q->inflight--;
	switch (r->op) {
	case OP_READ:
		if (res < 0 || (uint64_t)res != r->req.len) {
			status = VIRTIO_BLK_S_IOERR;
			break;
		}
		if (q->crypt)
			blk_crypt_run(q->crypt, false, r->bounce, r->req.len, r->req.sector);
		if (r->use_bounce)
			vq_buf_to_iov(r->req.data, r->req.ndata, 0, r->bounce, r->req.len);
		written = (uint32_t)r->req.len;
		stat_add(&q->st.reads, 1);
		stat_add(&q->st.read_bytes, r->req.len);
		break;
	case OP_WRITE:
		if (res < 0 || (uint64_t)res != r->req.len) {
			status = VIRTIO_BLK_S_IOERR;
			break;
		}
		stat_add(&q->st.writes, 1);
		stat_add(&q->st.write_bytes, r->req.len);
		break;
	case OP_FLUSH:
	case OP_DISCARD:
	case OP_ZEROES:
		if (res < 0)
			status = VIRTIO_BLK_S_IOERR;
		break;
	}
	req_done(q, dev, r, status, written);
}

static unsigned reap(struct blk_queue *q, struct vhost_dev *dev)
{
	struct io_uring_cqe *cqe;
	unsigned n = 0;

	while (io_uring_peek_cqe(&q->ring, &cqe) == 0) {
		struct blk_req *r = io_uring_cqe_get_data(cqe);
		int res = cqe->res;
		io_uring_cqe_seen(&q->ring, cqe);
		complete_io(q, dev, r, res);
		n++;
	}
	return n;
}

static void blk_queue_stop(struct vhost_dev *dev, unsigned qi, struct virtqueue *vq)
{
	struct blk_volume *v = vhost_dev_opaque(dev);
	struct blk_queue *q = &v->q[qi];
	struct io_uring_cqe *cqe;

	(void)vq;
	if (!q->ring_ok)
		return;
	/* Everything submitted completes before the rings and guest memory go away. */
	while (q->inflight && io_uring_wait_cqe(&q->ring, &cqe) == 0) {
		struct blk_req *r = io_uring_cqe_get_data(cqe);
		int res = cqe->res;
		io_uring_cqe_seen(&q->ring, cqe);
		complete_io(q, dev, r, res);
	}
	flush_done(q, dev);
	/* a request the limiter held goes back into the ring: the stopped ring's base excludes it */
	if (q->held) {
		vhost_dev_unpop(dev, qi, &q->held->elem);
		q->held->next_free = q->free;
		q->free = q->held;
		q->held = NULL;
	}
	io_uring_queue_exit(&q->ring);
	q->ring_ok = false;
	if (q->done_fd >= 0)
		close(q->done_fd);
	q->done_fd = -1;
	for (unsigned i = 0; i < QUEUE_DEPTH; i++) {
		free(q->reqs[i].bounce);
		q->reqs[i].bounce = NULL;
		q->reqs[i].bounce_cap = 0;
	}
}

/* ---- request parsing ---- */

static bool bounce_reserve(struct blk_req *r, size_t len)
{
	if (r->bounce_cap >= len)
		return true;
	free(r->bounce);
	r->bounce = NULL;
	r->bounce_cap = 0;
	if (posix_memalign(&r->bounce, BOUNCE_ALIGN, len))
		return false;
	r->bounce_cap = len;
	return true;
}

static bool data_aligned(const struct blk_req *r)
{
	for (unsigned i = 0; i < r->req.ndata; i++)
		if (((uintptr_t)r->req.data[i].iov_base | r->req.data[i].iov_len) & 511)
			return false;
	return true;
}

/* Returns 1 if submitted to io_uring, 0 if completed here (status set), -1 if the chain has no
 * place for a status (the caller breaks the queue). */
static int req_start(struct blk_queue *q, struct vhost_dev *dev, struct blk_req *r)
{
	struct blk_volume *v = q->vol;
	struct blk_req_limits lim = volume_limits(v);
	struct blk_request *p = &r->req;
	struct io_uring_sqe *sqe;

	r->use_bounce = false;
	if (blk_request_parse(&r->elem, &lim, p) < 0)
		return -1;
	switch (p->op) {
	case BLK_REQ_REFUSED:
		req_done(q, dev, r, p->status, 0);
		return 0;
	case BLK_REQ_READ:
	case BLK_REQ_WRITE: {
		bool wr = p->op == BLK_REQ_WRITE;
		uint64_t len = p->len, pos = p->sector * VIRTIO_BLK_SECTOR;
		/* Without FLUSH negotiated the cache is write-through (virtio 1.2 5.2.6): every write
		 * is durable before it completes. */
		bool dsync = wr && !(vhost_dev_features(dev) & (1ull << VIRTIO_BLK_F_FLUSH));

		r->op = wr ? OP_WRITE : OP_READ;
		r->use_bounce = q->crypt || (v->direct && !data_aligned(r));
		if (r->use_bounce && !bounce_reserve(r, len)) {
			req_done(q, dev, r, VIRTIO_BLK_S_IOERR, 0);
			return 0;
		}
		if (r->use_bounce && wr) {
			vq_iov_to_buf(p->data, p->ndata, 0, r->bounce, len);
			if (q->crypt)
				blk_crypt_run(q->crypt, true, r->bounce, len, p->sector);
		}
		if (!dsync) {
			/* a backing whose buffered reads or writes io_uring would punt: done here
			 * (kite/inline_io.h), completed like a CQE (a read's bounce is decrypted/copied there) */
			struct iovec one = { r->bounce, len };
			ssize_t res = iw_io(wr ? &v->iw : &v->ir, v->fd, r->use_bounce ? &one : p->data,
					    r->use_bounce ? 1 : (int)p->ndata, (off_t)pos, len, &q->inline_ns);

			if (res != IW_PUNT) {
				q->inflight++;
				complete_io(q, dev, r, (int)res);
				return 0;
			}
		}
		sqe = io_uring_get_sqe(&q->ring);
		if (r->use_bounce) {
			if (wr)
				io_uring_prep_write(sqe, URING_FILE, r->bounce, (unsigned)len, pos);
			else
				io_uring_prep_read(sqe, URING_FILE, r->bounce, (unsigned)len, pos);
		} else if (p->ndata == 1) {
			/* one segment (a 4 KiB request of Linux's driver): READ/WRITE take the buffer as it
			 * is, READV/WRITEV copy and check an iovec array per request first */
			if (wr)
				io_uring_prep_write(sqe, URING_FILE, p->data[0].iov_base, (unsigned)len, pos);
			else
				io_uring_prep_read(sqe, URING_FILE, p->data[0].iov_base, (unsigned)len, pos);
		} else if (wr) {
			io_uring_prep_writev(sqe, URING_FILE, p->data, p->ndata, pos);
		} else {
			io_uring_prep_readv(sqe, URING_FILE, p->data, p->ndata, pos);
		}
		if (dsync)
			sqe->rw_flags |= RWF_DSYNC;
		break;
	}
	case BLK_REQ_FLUSH:
		if (v->readonly) {
			req_done(q, dev, r, VIRTIO_BLK_S_OK, 0);
			return 0;
		}
		r->op = OP_FLUSH;
		stat_add(&q->st.flushes, 1);
		sqe = io_uring_get_sqe(&q->ring);
		io_uring_prep_fsync(sqe, URING_FILE, IORING_FSYNC_DATASYNC);
		break;
	case BLK_REQ_GET_ID: {
		size_t done = vq_buf_to_iov(p->data, p->ndata, 0, v->serial, p->len);

		stat_add(&q->st.get_ids, 1);
		req_done(q, dev, r, VIRTIO_BLK_S_OK, (uint32_t)done);
		return 0;
	}
	case BLK_REQ_DISCARD:
	case BLK_REQ_WRITE_ZEROES: {
		bool discard = p->op == BLK_REQ_DISCARD;
		int mode = FALLOC_FL_KEEP_SIZE | (discard || p->unmap ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE);

		r->op = discard ? OP_DISCARD : OP_ZEROES;
		stat_add(discard ? &q->st.discards : &q->st.write_zeroes, 1);
		sqe = io_uring_get_sqe(&q->ring);
		io_uring_prep_fallocate(sqe, URING_FILE, mode, p->sector * VIRTIO_BLK_SECTOR, p->len);
		break;
	}
	default:
		req_done(q, dev, r, VIRTIO_BLK_S_UNSUPP, 0);
		return 0;
	}
	uring_fixed(sqe);
	io_uring_sqe_set_data(sqe, r);
	q->inflight++;
	return 1;
}

/* ---- the poller's entry point ---- */

static void qos_refresh(struct blk_queue *q)
{
	struct blk_volume *v = q->vol;
	unsigned gen = atomic_load_explicit(&v->qos_gen, memory_order_acquire);

	if (gen == q->qos_gen)
		return;
	q->qos_gen = gen;
	uint64_t iops = atomic_load(&v->iops_limit), bps = atomic_load(&v->bps_limit);
	/* Each queue gets an equal share; a burst of 1/10 s keeps the rate smooth. */
	uint64_t qi = iops ? (iops + v->num_queues - 1) / v->num_queues : 0;
	uint64_t qb = bps ? (bps + v->num_queues - 1) / v->num_queues : 0;
	/* a request larger than the bytes burst passes when the bucket is full (rate_limiter_admit) */
	rate_limiter_set(&q->qos, qi, qi / 10 ? qi / 10 : 1, qb, qb / 10 > 65536 ? qb / 10 : 65536, rl_now_ns());
}

static unsigned blk_queue_poll(struct vhost_dev *dev, unsigned qi, struct virtqueue *vq, unsigned budget)
{
	struct blk_volume *v = vhost_dev_opaque(dev);
	struct blk_queue *q = &v->q[qi];
	unsigned done = 0, submitted = 0;
	bool limited = false;

	qos_refresh(q);
	q->inline_ns = 0;
	iw_round(&v->iw);
	iw_round(&v->ir);
	if (q->inflight)
		done += reap(q, dev);
	/* inline reads and writes stop the batch after IW_ROUND_NS: the poller's other items get their turn */
	while (done + submitted < budget && q->inline_ns < IW_ROUND_NS) {
		struct blk_req *r = q->held;

		if (!r) {
			if (!q->free || vhost_dev_pop(dev, qi, &(r = q->free)->elem) <= 0)
				break;
			q->free = r->next_free;
		}
		/* refused: the request stays popped (in flight in the inflight region) until tokens come */
		if (!rate_limiter_admit(&q->qos, r->elem.out_len + r->elem.in_len, 0)) {
			q->held = r;
			limited = true;
			break;
		}
		q->held = NULL;
		int started = req_start(q, dev, r);

		if (started < 0) {
			vq_set_broken(vq, "request %u: no device-writable byte for the status", r->elem.id);
			r->next_free = q->free;
			q->free = r;
			break;
		}
		if (started)
			submitted++;
		else
			done++;
	}
	if (limited)
		stat_add(&q->st.throttled, 1);
	if (submitted) {
		io_uring_submit(&q->ring);
		reap(q, dev);     /* page-cache I/O often completes within the submission */
	}
	flush_done(q, dev);
	if (!done && !submitted && q->inflight && q->done_fd >= 0 && !q->held)
		return POLLER_IO_WAIT;   /* only I/O the kernel does elsewhere; done_fd wakes the poller */
	return done + submitted;
}

static bool blk_queue_idle(struct vhost_dev *dev, unsigned qi)
{
	struct blk_volume *v = vhost_dev_opaque(dev);
	struct blk_queue *q = &v->q[qi];

	/* I/O in flight signals done_fd when it completes; a held request waits for tokens (timed) */
	return (!q->inflight || q->done_fd >= 0) && !q->held;
}

static int blk_queue_wake_fd(struct vhost_dev *dev, unsigned qi)
{
	struct blk_volume *v = vhost_dev_opaque(dev);

	return v->q[qi].done_fd;
}

static const struct vhost_backend_ops blk_ops = {
	.type = "blk",
	.get_features = blk_get_features,
	.get_protocol_features = blk_get_protocol_features,
	.num_queues = blk_num_queues,
	.get_config = blk_get_config,
	.config_size = VHOST_USER_CONFIG_MAX,
	.queue_start = blk_queue_start,
	.queue_stop = blk_queue_stop,
	.queue_poll = blk_queue_poll,
	.queue_idle = blk_queue_idle,
	.queue_wake_fd = blk_queue_wake_fd,
};

/* ---- volume life cycle ---- */

/* open(2) with O_NOATIME where the caller may ask for it (it owns the image or has CAP_FOWNER): every
 * read of the image would otherwise check (and now and then write) its access time, which nobody uses
 * for a volume: 2% of the poller at 4 KiB page-cache reads (touch_atime, atime_needs_update). */
static int open_noatime(const char *path, int flags)
{
	int fd = open(path, flags | O_NOATIME);

	return fd < 0 && errno == EPERM ? open(path, flags) : fd;
}

/* A regular file on a file system that keeps its files in memory (tmpfs, ramfs). A device node's
 * fstatfs answers for the file system holding the node (/dev: devtmpfs, tmpfs's magic), hence S_ISREG. */
static bool image_in_memory(int fd)
{
	struct stat st;
	struct statfs sf;

	return fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && fstatfs(fd, &sf) == 0 &&
	       (sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC);
}

/*
 * O_DIRECT if the file system takes it for 512-byte aligned I/O, else buffered with a log line.
 * BLK_DIRECT_AUTO leaves an image in memory buffered: tmpfs accepts O_DIRECT (kernel >= 6.6) but
 * copies through the page cache all the same, since that is where its files live, so O_DIRECT would
 * only take the volume off the poller's inline writes and mapped reads and put every request through
 * io_uring (and its workers, for writes). Sets v->direct.
 */
static int open_image(struct blk_volume *v, const char *path, enum blk_direct direct)
{
	int flags = (v->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;

	v->direct = false;
	if (direct == BLK_DIRECT_AUTO) {
		int fd = open_noatime(path, flags);

		if (fd >= 0 && image_in_memory(fd)) {
			log_info("%s: %s is in memory (tmpfs or ramfs): buffered I/O, reads mapped "
				 "(O_DIRECT there copies through the page cache too; \"direct\": true forces it)",
				 v->name, path);
			return fd;
		}
		if (fd >= 0)
			close(fd);
	}
	if (direct != BLK_DIRECT_OFF) {
		int fd = open_noatime(path, flags | O_DIRECT);
		if (fd >= 0) {
			void *buf;
			if (posix_memalign(&buf, BOUNCE_ALIGN, 512) == 0) {
				ssize_t r = pread(fd, buf, 512, 0);
				free(buf);
				if (r >= 0) {
					v->direct = true;
					return fd;
				}
			}
			close(fd);
		}
		log_info("%s: %s: O_DIRECT not usable here (%s), using buffered I/O", v->name, path, strerror(errno));
	}
	return open_noatime(path, flags);
}

struct blk_volume *blk_volume_new(const struct blk_volume_params *p, struct evloop *loop, struct dpu_poller *poller)
{
	struct blk_volume *v = calloc(1, sizeof(*v));
	struct stat st;

	if (!v)
		return NULL;
	snprintf(v->name, sizeof(v->name), "%s", p->name);
	v->readonly = p->readonly;
	v->packed = p->packed;
	v->num_queues = p->num_queues ? p->num_queues : 1;
	if (v->num_queues > BLK_MAX_QUEUES) {
		log_err("%s: %u queues requested, at most %d", p->name, v->num_queues, BLK_MAX_QUEUES);
		goto fail;
	}
	v->fd = open_image(v, p->image, p->direct);
	if (v->fd < 0 || fstat(v->fd, &st) < 0) {
		log_err("%s: cannot open image %s: %s", p->name, p->image, strerror(errno));
		goto fail;
	}
	v->capacity = (uint64_t)st.st_size / 512;
	memcpy(v->serial, p->name, strnlen(p->name, sizeof(v->serial)));
	v->has_key = p->has_key;
	if (p->has_key)
		memcpy(v->key, p->key, sizeof(v->key));
	atomic_store(&v->iops_limit, p->iops_limit);
	atomic_store(&v->bps_limit, p->bps_limit);
	iw_init(&v->iw, v->name, IW_WRITE, !v->direct && !v->readonly, NULL);
	iw_init(&v->ir, v->name, IW_READ, !v->direct, NULL);
	if (!v->direct && !p->no_map && v->capacity) {
		/* a buffered volume's reads and writes: copies out of and into a mapping of the image
		 * (kite/inline_io.h); a read-only volume maps only for reading */
		int r = iw_map(&v->ir, v->fd, v->capacity * 512);
		if (r < 0)
			log_info("%s: %s cannot be mapped (%s): reads go through io_uring", v->name, p->image,
				 strerror(-r));
		if (!v->readonly && (r = iw_map(&v->iw, v->fd, v->capacity * 512)) < 0)
			log_info("%s: %s cannot be mapped for writing (%s): writes go through the file", v->name,
				 p->image, strerror(-r));
	}
	for (unsigned i = 0; i < v->num_queues; i++) {
		v->q[i].vol = v;
		v->q[i].idx = i;
		v->q[i].done_fd = -1;
		rate_limiter_init(&v->q[i].qos, 0, 0, 0, 0, 0);
	}
	v->dev = vhost_dev_new(v->name, p->socket, &blk_ops, v, loop, poller);
	if (!v->dev)
		goto fail;
	vhost_dev_set_coalescing(v->dev, p->coalesce_usecs, p->coalesce_max);
	log_info("%s: serving %s (%llu sectors%s%s%s) on %s", v->name, p->image, (unsigned long long)v->capacity,
		 v->readonly ? ", read-only" : "", v->direct ? ", O_DIRECT" : "", v->has_key ? ", encrypted" : "",
		 p->socket);
	return v;
fail:
	iw_unmap(&v->ir);
	iw_unmap(&v->iw);
	if (v->fd > 0)
		close(v->fd);
	free(v);
	return NULL;
}

void blk_volume_free(struct blk_volume *v)
{
	if (!v)
		return;
	vhost_dev_free(v->dev);
	for (unsigned i = 0; i < v->num_queues; i++)
		blk_crypt_free(v->q[i].crypt);
	iw_unmap(&v->ir);
	iw_unmap(&v->iw);
	close(v->fd);
	memset(v->key, 0, sizeof(v->key));
	free(v);
}

const char *blk_volume_name(const struct blk_volume *v)
{
	return v->name;
}

int blk_volume_resize(struct blk_volume *v, uint64_t bytes, char *err, size_t errlen)
{
	uint64_t old = __atomic_load_n(&v->capacity, __ATOMIC_RELAXED);

	if (bytes % 512 || bytes / 512 < old || bytes > (uint64_t)INT64_MAX) {
		snprintf(err, errlen, "%s: size %llu is not a multiple of 512 at least the current %llu bytes", v->name,
			 (unsigned long long)bytes, (unsigned long long)old * 512);
		return -1;
	}
	if (v->readonly) {
		snprintf(err, errlen, "%s: read-only volume", v->name);
		return -1;
	}
	if (ftruncate(v->fd, (off_t)bytes) < 0) {
		snprintf(err, errlen, "%s: growing the image to %llu bytes: %s", v->name, (unsigned long long)bytes,
			 strerror(errno));
		return -1;
	}
	__atomic_store_n(&v->capacity, bytes / 512, __ATOMIC_RELAXED);
	log_info("%s: resized from %llu to %llu sectors%s", v->name, (unsigned long long)old,
		 (unsigned long long)(bytes / 512),
		 vhost_dev_config_changed(v->dev) > 0 ? ", frontend told (configuration change)" : "");
	return 0;
}

void blk_volume_set_qos(struct blk_volume *v, uint64_t iops_limit, uint64_t bps_limit)
{
	atomic_store(&v->iops_limit, iops_limit);
	atomic_store(&v->bps_limit, bps_limit);
	atomic_fetch_add_explicit(&v->qos_gen, 1, memory_order_release);
}

void blk_volume_stats(struct blk_volume *v, FILE *f)
{
	struct blk_queue_stats s = { 0 };
	struct vhost_dev_stats ds;

	for (unsigned i = 0; i < v->num_queues; i++) {
		const uint64_t *src = (const uint64_t *)&v->q[i].st;
		uint64_t *dst = (uint64_t *)&s;
		for (size_t k = 0; k < sizeof(s) / sizeof(uint64_t); k++)
			dst[k] += __atomic_load_n(&src[k], __ATOMIC_RELAXED);
	}
	vhost_dev_get_stats(v->dev, &ds);
#define C(metric, val) fprintf(f, "kite_dpu_blk_" metric "{volume=\"%s\"} %llu\n", v->name, (unsigned long long)(val))
	C("reads_total", s.reads);
	C("writes_total", s.writes);
	C("flushes_total", s.flushes);
	C("discards_total", s.discards);
	C("write_zeroes_total", s.write_zeroes);
	C("get_id_total", s.get_ids);
	C("read_bytes_total", s.read_bytes);
	C("write_bytes_total", s.write_bytes);
	C("ioerr_total", s.ioerr);
	C("unsupp_total", s.unsupp);
	C("throttled_total", s.throttled);
	C("inline_writes_total", iw_done(&v->iw));
	C("inline_reads_total", iw_done(&v->ir));
	C("inline_slow_total", iw_slow(&v->iw) + iw_slow(&v->ir));
	C("connects_total", ds.connects);
	C("protocol_errors_total", ds.protocol_errors);
	C("broken_queues_total", ds.broken_queues);
	C("resubmitted_total", ds.resubmitted);
	C("notifications_total", ds.kicks_sent);
	C("notifications_held_total", ds.calls_held);
	C("connected", vhost_dev_connected(v->dev));
	C("capacity_sectors", v->capacity);
	C("direct", v->direct);
#undef C
}
