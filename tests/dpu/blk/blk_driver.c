/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "blk_driver.h"
#include "kite/virtqueue.h"

#define SLOT_BYTES (4096 + BLKDRV_SLOT_DATA)
#define RING_BYTES(qs) ((uint64_t)(qs) * 16 + 4096 + (uint64_t)(qs) * 8 + 8192)

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* Connect, negotiate, memory table, inflight region (created on the first session, then reused). */
static int session_begin(struct blkdrv *d, const char *sock, int timeout_ms)
{
	uint64_t want = d->features;

	if (vuf_connect(&d->fe, sock, timeout_ms) < 0 ||
	    vuf_negotiate(&d->fe, want | (1ull << VIRTIO_F_VERSION_1),
			  (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) | (1ull << VHOST_USER_PROTOCOL_F_CONFIG) |
			  (1ull << VHOST_USER_PROTOCOL_F_MQ) | (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD)) < 0 ||
	    vuf_set_mem_table(&d->fe, &d->gm) < 0)
		goto fail;
	if (d->fe.protocol & (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD)) {
		if (d->inflight_fd < 0) {
			d->inflight_fd = vuf_get_inflight(&d->fe, (uint16_t)d->nq, d->qsize, &d->inflight_size);
			if (d->inflight_fd < 0)
				goto fail;
		}
		if (vuf_set_inflight(&d->fe, d->inflight_fd, d->inflight_size, (uint16_t)d->nq, d->qsize) < 0)
			goto fail;
	}
	return 0;
fail:
	snprintf(d->err, sizeof(d->err), "%s", d->fe.err);
	return -1;
}

static int start_vring(struct blkdrv *d, unsigned q, uint16_t base)
{
	uint64_t uva = (uint64_t)(uintptr_t)d->mem;
	const struct vring_drv_config *c = &d->vq[q].cfg;

	if (vuf_start_vring(&d->fe, q, d->qsize, uva + c->desc, uva + c->driver, uva + c->device, base,
			    d->kick[q], d->call[q]) < 0) {
		snprintf(d->err, sizeof(d->err), "%s", d->fe.err);
		return -1;
	}
	return 0;
}

int blkdrv_open(struct blkdrv *d, const char *sock, unsigned nq, uint16_t qsize, unsigned nslots, uint64_t features)
{
	memset(d, 0, sizeof(*d));
	d->memfd = -1;
	d->inflight_fd = -1;
	for (unsigned i = 0; i < BLKDRV_MAX_QUEUES; i++)
		d->kick[i] = d->call[i] = -1;
	if (nq == 0 || nq > BLKDRV_MAX_QUEUES || nslots == 0 || nslots > qsize) {
		snprintf(d->err, sizeof(d->err), "bad parameters");
		return -1;
	}
	d->nq = nq;
	d->qsize = qsize;
	d->nslots = nslots;
	uint64_t rings = align_up(RING_BYTES(qsize), 4096);
	d->mem_size = align_up(nq * rings + (uint64_t)nq * nslots * SLOT_BYTES, 2 << 20);
	d->memfd = memfd_create("blkdrv-guest-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (d->memfd < 0 || ftruncate(d->memfd, (off_t)d->mem_size) < 0 ||
	    fcntl(d->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		snprintf(d->err, sizeof(d->err), "memfd: %s", strerror(errno));
		return -1;
	}
	d->mem = mmap(NULL, d->mem_size, PROT_READ | PROT_WRITE, MAP_SHARED, d->memfd, 0);
	if (d->mem == MAP_FAILED) {
		d->mem = NULL;
		snprintf(d->err, sizeof(d->err), "mmap: %s", strerror(errno));
		return -1;
	}
	struct gm_region r = { .gpa = 0, .size = d->mem_size, .uva = (uint64_t)(uintptr_t)d->mem,
			       .hva = d->mem, .fd = d->memfd, .fd_offset = 0 };
	gm_add(&d->gm, &r);

	d->features = features;
	if (session_begin(d, sock, 5000) < 0)
		return -1;
	d->features = d->fe.features;
	uint64_t cap;
	if (vuf_get_config(&d->fe, 0, &cap, sizeof(cap)) < 0) {
		snprintf(d->err, sizeof(d->err), "%s", d->fe.err);
		return -1;
	}
	d->capacity = cap;
	for (unsigned q = 0; q < nq; q++) {
		uint64_t base = q * rings;
		struct vring_drv_config c = {
			.size = qsize, .event_idx = !!(d->features & (1ull << VIRTIO_F_EVENT_IDX)),
			.packed = !!(d->features & (1ull << VIRTIO_F_RING_PACKED)),
			.desc = base, .driver = base + (uint64_t)qsize * 16,
			.device = align_up(base + (uint64_t)qsize * 16 + 6 + 2ull * qsize, 4096),
		};
		d->ring_gpa[q] = base;
		if (vring_drv_init(&d->vq[q], &d->gm, &c) < 0) {
			snprintf(d->err, sizeof(d->err), "vring_drv_init failed");
			return -1;
		}
		d->slots[q] = calloc(nslots, sizeof(struct blkdrv_slot));
		for (unsigned s = 0; s < nslots; s++)
			d->slots[q][s].gpa = nq * rings + ((uint64_t)q * nslots + s) * SLOT_BYTES;
		d->kick[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		d->call[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (start_vring(d, q, c.packed ? 0x8000 : 0) < 0)   /* packed: wrap counter 1 in bit 15 */
			return -1;
	}
	return 0;
}

int blkdrv_reconnect(struct blkdrv *d, const char *sock, int timeout_ms)
{
	vuf_close(&d->fe);
	if (session_begin(d, sock, timeout_ms) < 0)
		return -1;
	for (unsigned q = 0; q < d->nq; q++) {
		/* resume where the device's completions end. Packed rings have no used index in memory and a
		 * VMM cannot know the position: like kite, say "wrap 1, slot 0" and let the backend take the
		 * position from its inflight region (a backend that used this base would go wrong) */
		uint16_t used = d->vq[q].cfg.packed ? 0x8000 :
			__atomic_load_n((uint16_t *)d->vq[q].device + 1, __ATOMIC_ACQUIRE);
		if (start_vring(d, q, used) < 0)
			return -1;
	}
	return 0;
}

void blkdrv_close(struct blkdrv *d)
{
	vuf_close(&d->fe);
	for (unsigned q = 0; q < d->nq; q++) {
		vring_drv_free(&d->vq[q]);
		free(d->slots[q]);
		d->slots[q] = NULL;
		if (d->kick[q] >= 0)
			close(d->kick[q]);
		if (d->call[q] >= 0)
			close(d->call[q]);
		d->kick[q] = d->call[q] = -1;
	}
	if (d->mem)
		munmap(d->mem, d->mem_size);
	if (d->memfd >= 0)
		close(d->memfd);
	if (d->inflight_fd >= 0)
		close(d->inflight_fd);
	d->inflight_fd = -1;
	d->mem = NULL;
	d->memfd = -1;
}

uint8_t *blkdrv_data(struct blkdrv *d, unsigned q, unsigned slot)
{
	return d->mem + d->slots[q][slot].gpa + 4096;
}

uint8_t blkdrv_status(struct blkdrv *d, unsigned q, unsigned slot)
{
	return __atomic_load_n(d->mem + d->slots[q][slot].gpa + 16, __ATOMIC_ACQUIRE);
}

static void kick(struct blkdrv *d, unsigned q)
{
	uint64_t one = 1;
	if (vring_drv_kick_needed(&d->vq[q]) && write(d->kick[q], &one, sizeof(one)) < 0)
		perror("kick");
}

int blkdrv_submit(struct blkdrv *d, unsigned q, unsigned slot, uint32_t type, uint64_t sector, uint32_t len)
{
	struct blkdrv_slot *s = &d->slots[q][slot];
	uint8_t *hdr = d->mem + s->gpa;
	struct vring_buf b[3];
	unsigned n = 0;

	if (len > BLKDRV_SLOT_DATA)
		return -1;
	memcpy(hdr, &type, 4);
	memset(hdr + 4, 0, 4);
	memcpy(hdr + 8, &sector, 8);
	hdr[16] = 0xff;     /* status, overwritten by the device */
	b[n++] = (struct vring_buf){ s->gpa, 16, false };
	if (len)
		b[n++] = (struct vring_buf){ s->gpa + 4096, len, type != 1 && type != 11 && type != 13 ? true : false };
	b[n++] = (struct vring_buf){ s->gpa + 16, 1, true };
	if (vring_drv_add(&d->vq[q], b, n, false, (void *)(uintptr_t)(slot + 1)) < 0)
		return -1;
	s->busy = true;
	kick(d, q);
	return 0;
}

int blkdrv_submit_raw(struct blkdrv *d, unsigned q, const struct vring_buf *bufs, unsigned n, void *token)
{
	if (vring_drv_add(&d->vq[q], bufs, n, false, token) < 0)
		return -1;
	kick(d, q);
	return 0;
}

long blkdrv_poll(struct blkdrv *d, unsigned q, uint8_t *status, uint32_t *len)
{
	void *token;
	uint32_t l;
	int r = vring_drv_get_used(&d->vq[q], &l, &token);

	if (r <= 0)
		return r;
	long slot = (long)(uintptr_t)token;
	if (len)
		*len = l;
	if (slot >= 1 && (unsigned long)slot <= d->nslots) {
		d->slots[q][slot - 1].busy = false;
		if (status)
			*status = blkdrv_status(d, q, (unsigned)slot - 1);
	}
	return slot;
}

long blkdrv_collect(struct blkdrv *d, unsigned nq, unsigned want, int timeout_ms, unsigned *not_ok)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	unsigned got = 0, idle = 0;

	*not_ok = 0;
	while (got < want) {
		bool any = false;

		for (unsigned q = 0; q < nq; q++) {
			uint8_t st = 0xff;   /* a token that names no slot: not OK */
			long r = blkdrv_poll(d, q, &st, NULL);
			if (r < 0)
				return -1;
			if (r > 0) {
				got++;
				*not_ok += st != 0;   /* VIRTIO_BLK_S_OK */
				any = true;
			}
		}
		if (any) {
			idle = 0;
			continue;
		}
		if (now_ms() > deadline)
			break;
		if (++idle > 1000) {   /* the backend is slow (a loaded machine, a disk): do not hog the CPU */
			struct timespec ts = { 0, 20000 };
			nanosleep(&ts, NULL);
		}
	}
	return got;
}

int blkdrv_io(struct blkdrv *d, unsigned q, uint32_t type, uint64_t sector, void *buf, uint32_t len, int timeout_ms)
{
	bool wr = type == 1 || type == 11 || type == 13;
	uint8_t status = 0xff;   /* no status yet: not VIRTIO_BLK_S_OK */
	uint32_t written;

	if (wr && len)
		memcpy(blkdrv_data(d, q, 0), buf, len);
	if (blkdrv_submit(d, q, 0, type, sector, len) < 0)
		return -1;
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	for (unsigned spins = 0;; spins++) {
		long r = blkdrv_poll(d, q, &status, &written);
		if (r < 0)
			return -1;
		if (r > 0)
			break;
		if (now_ms() > deadline)
			return -1;
		if (spins > 1000) {
			struct timespec ts = { 0, 20000 };
			nanosleep(&ts, NULL);
		} else {
			sched_yield();
		}
	}
	if (!wr && len && buf)
		memcpy(buf, blkdrv_data(d, q, 0), len);
	return status;
}
