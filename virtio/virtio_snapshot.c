/* SPDX-License-Identifier: MIT */
/* The virtio device core in a snapshot (kite/virtio_dev.h): save, validate, restore. */
#include <string.h>

#include "kite/log.h"
#include "kite/snapshot.h"
#include "kite/virtio_dev.h"

#define STATUS_KNOWN (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK | \
		      VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED)

/* One queue as saved. */
struct snap_queue {
	uint16_t size, vector, last_avail, used, signalled;
	uint8_t enabled, ready, avail_wrap, used_wrap, signalled_valid, kicks_off, broken;
	uint64_t desc, driver, device;
};

void virtio_dev_save(struct virtio_dev *dev, struct snap_writer *w)
{
	pthread_mutex_lock(&dev->lock);
	snap_put_u32(w, dev->ops->device_id);
	snap_put_u32(w, dev->nqueues);
	snap_put_u64(w, dev->host_features);
	snap_put_u64(w, dev->guest_features);
	snap_put_u8(w, dev->status);
	snap_put_u8(w, dev->isr);
	snap_put_u8(w, dev->config_generation);
	snap_put_u8(w, dev->broken_reported);
	snap_put_u16(w, dev->config_vector);
	for (unsigned q = 0; q < dev->nqueues; q++) {
		const struct virtio_queue *vq = &dev->q[q];
		const struct virtqueue *v = &vq->vq;

		snap_put_u16(w, vq->size);
		snap_put_u8(w, vq->enabled);
		snap_put_u64(w, vq->desc);
		snap_put_u64(w, vq->driver);
		snap_put_u64(w, vq->device);
		snap_put_u16(w, vq->vector);
		snap_put_u8(w, v->ready);
		snap_put_u16(w, v->last_avail_idx);
		snap_put_u16(w, v->used_idx);
		snap_put_u8(w, v->avail_wrap);
		snap_put_u8(w, v->used_wrap);
		snap_put_u16(w, v->signalled_used);
		snap_put_u8(w, v->signalled_used_valid);
		snap_put_u8(w, v->kicks_off);
		snap_put_u8(w, v->broken);
	}
	pthread_mutex_unlock(&dev->lock);
}

static void get_queue(struct snap_cursor *c, struct snap_queue *s)
{
	s->size = snap_get_u16(c);
	s->enabled = snap_get_u8(c);
	s->desc = snap_get_u64(c);
	s->driver = snap_get_u64(c);
	s->device = snap_get_u64(c);
	s->vector = snap_get_u16(c);
	s->ready = snap_get_u8(c);
	s->last_avail = snap_get_u16(c);
	s->used = snap_get_u16(c);
	s->avail_wrap = snap_get_u8(c);
	s->used_wrap = snap_get_u8(c);
	s->signalled = snap_get_u16(c);
	s->signalled_valid = snap_get_u8(c);
	s->kicks_off = snap_get_u8(c);
	s->broken = snap_get_u8(c);
}

static bool vector_ok(uint16_t v, unsigned nvectors)
{
	return v == VIRTIO_MSI_NO_VECTOR || v < nvectors;
}

/* Checks of one saved queue that need no guest memory. */
static void check_queue(struct snap_cursor *c, const struct virtio_queue *vq, const struct snap_queue *s,
			uint64_t features, uint8_t status, unsigned nvectors)
{
	bool packed = features & (1ULL << VIRTIO_F_RING_PACKED);

	if (s->enabled > 1 || s->ready > 1 || s->avail_wrap > 1 || s->used_wrap > 1 || s->signalled_valid > 1 ||
	    s->kicks_off > 1 || s->broken > 1)
		snap_cursor_fail(c, "queue flag other than 0 or 1");
	else if (s->size == 0 || s->size > vq->max_size)
		snap_cursor_fail(c, "queue size 0 or above the device's maximum");
	else if (!packed && (s->size & (s->size - 1)))
		snap_cursor_fail(c, "split queue size is not a power of two");
	else if (!vector_ok(s->vector, nvectors))
		snap_cursor_fail(c, "queue MSI-X vector beyond the table");
	else if (s->enabled != s->ready || (s->enabled && !(status & VIRTIO_STATUS_FEATURES_OK)))
		snap_cursor_fail(c, "queue enabled without rings or before FEATURES_OK");
	else if (s->enabled && packed && (s->last_avail >= s->size || s->used >= s->size))
		snap_cursor_fail(c, "packed ring position outside the queue");
	else if (s->enabled && !packed && (uint16_t)(s->last_avail - s->used) > s->size)
		snap_cursor_fail(c, "more buffers in flight than the queue holds");
}

/* Put queue q back; false if its rings are not in guest memory. */
static bool apply_queue(struct virtio_dev *dev, unsigned q, const struct snap_queue *s)
{
	struct virtio_queue *vq = &dev->q[q];
	struct vq_config cfg = {
		.size = s->size, .desc = s->desc, .driver = s->driver, .device = s->device,
		.features = dev->guest_features, .addr_is_uva = false,
	};
	struct virtqueue *v = &vq->vq;

	vq->size = s->size;
	vq->desc = s->desc;
	vq->driver = s->driver;
	vq->device = s->device;
	vq->vector = s->vector;
	vq->enabled = s->enabled;
	vq_reset(v);
	if (s->enabled) {
		v->last_avail_idx = s->last_avail;
		v->used_idx = s->used;
		v->avail_wrap = s->avail_wrap;
		v->used_wrap = s->used_wrap;
		v->pos_valid = true;
		if (vq_setup(v, dev->machine->mem, &cfg) < 0) {
			log_err("%s: queue %u of the snapshot: %s", dev->name, q, v->broken_reason);
			return false;
		}
		v->signalled_used = s->signalled;
		v->signalled_used_valid = s->signalled_valid;
		v->kicks_off = s->kicks_off;
		vq_set_device_reads_only(v, dev->ops->read_only_queues & (1u << q));
	}
	if (s->broken)
		vq_set_broken(v, "broken before the snapshot");
	return true;
}

void virtio_dev_restore(struct virtio_dev *dev, struct snap_cursor *c, unsigned nvectors)
{
	uint32_t id = snap_get_u32(c), nq = snap_get_u32(c);
	uint64_t host, guest;
	uint8_t status, isr, gen, reported;
	uint16_t cvec;
	struct snap_queue sq[VIRTIO_MAX_QUEUES];

	if (c->bad || id != dev->ops->device_id || nq != dev->nqueues) {
		snap_cursor_fail(c, "another virtio device type or queue count");
		return;
	}
	host = snap_get_u64(c);
	guest = snap_get_u64(c);
	status = snap_get_u8(c);
	isr = snap_get_u8(c);
	gen = snap_get_u8(c);
	reported = snap_get_u8(c);
	cvec = snap_get_u16(c);
	for (unsigned q = 0; q < nq; q++)
		get_queue(c, &sq[q]);
	if (c->bad)
		return;
	(void)host;   /* what the saved device offered; what counts is that this one offers the negotiated */
	if (guest & ~dev->host_features)
		snap_cursor_fail(c, "negotiated features this device does not offer");
	else if ((status & ~STATUS_KNOWN) || ((status & VIRTIO_STATUS_DRIVER_OK) && !(status & VIRTIO_STATUS_FEATURES_OK)))
		snap_cursor_fail(c, "device status with impossible bits");
	else if ((status & VIRTIO_STATUS_FEATURES_OK) && !(guest & (1ULL << VIRTIO_F_VERSION_1)))
		snap_cursor_fail(c, "features accepted without VERSION_1");
	else if (isr & ~(VIRTIO_ISR_QUEUE | VIRTIO_ISR_CONFIG))
		snap_cursor_fail(c, "ISR with bits other than queue and config");
	else if (reported > 1)
		snap_cursor_fail(c, "flag other than 0 or 1");
	else if (!vector_ok(cvec, nvectors))
		snap_cursor_fail(c, "configuration MSI-X vector beyond the table");
	for (unsigned q = 0; q < nq && !c->bad; q++)
		check_queue(c, &dev->q[q], &sq[q], guest, status, nvectors);
	if (c->bad || snap_remaining(c))
		return;

	pthread_mutex_lock(&dev->lock);
	dev->guest_features = guest;
	dev->status = status;
	dev->isr = isr;
	dev->config_generation = gen;
	dev->broken_reported = reported;
	dev->config_vector = cvec;
	for (unsigned q = 0; q < nq; q++) {
		if (!apply_queue(dev, q, &sq[q])) {
			pthread_mutex_unlock(&dev->lock);
			snap_cursor_fail(c, "queue rings are not inside guest memory (wrong memory file?)");
			return;
		}
	}
	/* buffers the driver made available before the snapshot: look at every queue once */
	if ((status & VIRTIO_STATUS_DRIVER_OK) && !(status & VIRTIO_STATUS_NEEDS_RESET))
		for (unsigned q = 0; q < nq; q++)
			if (dev->q[q].enabled && !(dev->ops->external_queues & (1u << q)))
				virtio_dev_kick(dev, q);
	pthread_mutex_unlock(&dev->lock);
}
