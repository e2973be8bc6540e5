/* SPDX-License-Identifier: MIT */
/*
 * vhost-user devices in a snapshot (vhost_user_dev.h). The rings' position lives in the backend:
 * quiesce asks the device thread to stop them (GET_VRING_BASE: kite-dpu completes what it holds and
 * returns its next avail index), and the bases go into the section with the device's configuration
 * space. The VM stays paused while the state and memory are written; the rings start again at the
 * same bases when kite serves the VM's loop again (resume). A restore on a new backend connection
 * (made when the board was built) checks the configuration, then starts the rings at the saved bases
 * (SET_FEATURES, SET_MEM_TABLE, the inflight region, SET_VRING_BASE/ADDR/KICK/CALL, enable) and
 * waits for the backend to take them: a backend that refuses is a clear error, no guest code runs.
 */
#include <stdio.h>
#include <string.h>

#include "kite/log.h"
#include "kite/snapshot.h"
#include "vhost_user_dev.h"

static bool driver_running(const struct virtio_dev *dev)
{
	return (dev->status & VIRTIO_STATUS_DRIVER_OK) && !(dev->status & VIRTIO_STATUS_NEEDS_RESET);
}

int vu_snap_quiesce(struct virtio_dev *dev, char *err, size_t errlen)
{
	struct vu_dev *d = dev->priv;
	struct vu_plan p;
	bool running;
	int ret = 0;

	/* the device thread may need dev->lock (a configuration change) while we wait for it */
	pthread_mutex_lock(&dev->lock);
	vu_plan_of(d, &p);
	running = driver_running(dev);
	pthread_mutex_unlock(&dev->lock);
	pthread_mutex_lock(&d->lock);
	d->snap_has_base = false;
	if (!d->want_run || d->broken || !running)
		goto out;                 /* no rings to keep: the driver must reset (or has not started) */
	d->want_run = false;
	d->stopped_clean = false;
	vu_poke(d->wake_fd);
	if (!vu_wait_running(d, false)) {
		snprintf(err, errlen, "%s: backend %s did not stop its rings for the snapshot%s%s", dev->name,
			 d->opt.socket, d->broken ? ": " : "", d->broken ? d->broken_why : "");
		ret = -1;
	} else if (d->stopped_clean) {
		memcpy(d->snap_base, d->stopped_base, sizeof(d->snap_base));
		d->snap_has_base = true;
	} else {
		/* the backend was lost (kite is reconnecting): split rings go on from the used index */
		for (unsigned q = 0; q < d->backend_queues && !ret; q++) {
			if (!p.q[q].enabled)
				continue;
			if (p.features & (1ULL << VIRTIO_F_RING_PACKED)) {
				snprintf(err, errlen, "%s: backend %s is lost and queue %u is a packed ring: no position to save",
					 dev->name, d->opt.socket, q);
				ret = -1;
			}
			d->snap_base[q] = __atomic_load_n(p.q[q].used_idx, __ATOMIC_ACQUIRE);
		}
		d->snap_has_base = !ret;
	}
	/* started again once the VM's loop runs (after resume), never while state or memory is written */
	d->restart_pending = true;
	vu_poke(d->broken_fd);
out:
	pthread_mutex_unlock(&d->lock);
	return ret;
}

void vu_snap_save(struct virtio_dev *dev, struct snap_writer *w)
{
	struct vu_dev *d = dev->priv;

	pthread_mutex_lock(&dev->lock);
	pthread_mutex_lock(&d->lock);
	snap_put_u32(w, d->nqueues);
	snap_put_u32(w, d->backend_queues);
	snap_put_u32(w, d->rings_off);
	snap_put_u32(w, d->kind->config_size);
	snap_put(w, d->config, d->kind->config_size);
	snap_put_u8(w, d->snap_has_base);
	for (unsigned q = 0; q < d->backend_queues; q++)
		snap_put_u16(w, d->snap_base[q]);
	pthread_mutex_unlock(&d->lock);
	pthread_mutex_unlock(&dev->lock);
}

void vu_snap_restore(struct virtio_dev *dev, struct snap_cursor *c)
{
	struct vu_dev *d = dev->priv;
	uint32_t nq = snap_get_u32(c), bq = snap_get_u32(c), off = snap_get_u32(c), size = snap_get_u32(c);
	uint8_t config[VHOST_USER_CONFIG_MAX], has;
	uint16_t base[VIRTIO_MAX_QUEUES] = { 0 };
	bool packed = dev->guest_features & (1ULL << VIRTIO_F_RING_PACKED);

	if (c->bad || nq != d->nqueues || bq != d->backend_queues || size != d->kind->config_size) {
		snap_cursor_fail(c, "another queue count or configuration size than this device's");
		return;
	}
	if (off >> bq) {
		snap_cursor_fail(c, "disabled rings beyond the backend's queues");
		return;
	}
	snap_get(c, config, size);
	has = snap_get_u8(c);
	for (unsigned q = 0; q < bq; q++)
		base[q] = snap_get_u16(c);
	if (c->bad || snap_remaining(c))
		return;
	if (has > 1 || (has && !driver_running(dev))) {
		snap_cursor_fail(c, "ring bases without a running driver");
		return;
	}
	if (memcmp(config, d->config, size)) {
		log_err("%s: backend %s describes the device differently than at the snapshot (capacity, limits)",
			dev->name, d->opt.socket);
		snap_cursor_fail(c, "the backend's configuration space differs from the snapshot's");
		return;
	}
	for (unsigned q = 0; q < bq && has; q++) {
		const struct virtio_queue *vq = &dev->q[q];
		uint16_t used;

		if (!vq->enabled)
			continue;
		if (packed) {
			if ((base[q] & 0x7fff) >= vq->size)
				snap_cursor_fail(c, "packed ring base outside its queue");
			continue;
		}
		used = __atomic_load_n((uint16_t *)vq->vq.device + 1, __ATOMIC_ACQUIRE);
		if ((uint16_t)(base[q] - used) > vq->size)
			snap_cursor_fail(c, "ring base further from the used index than the queue holds");
	}
	if (c->bad)
		return;
	pthread_mutex_lock(&d->lock);
	memcpy(d->snap_base, base, sizeof(base));
	d->snap_has_base = has;
	d->rings_off = off;              /* the driver's queue pairs, as the rings start */
	pthread_mutex_unlock(&d->lock);
}

int vu_snap_restored(struct virtio_dev *dev, char *err, size_t errlen)
{
	struct vu_dev *d = dev->priv;
	struct vu_plan p;
	int ret = 0;

	pthread_mutex_lock(&dev->lock);
	if (!driver_running(dev)) {
		pthread_mutex_unlock(&dev->lock);
		return 0;                 /* the driver starts (or resets) the device itself */
	}
	vu_plan_of(d, &p);
	pthread_mutex_lock(&d->lock);
	p.has_base = d->snap_has_base;
	memcpy(p.base, d->snap_base, sizeof(p.base));
	pthread_mutex_unlock(&d->lock);
	if (!p.has_base) {
		pthread_mutex_unlock(&dev->lock);
		snprintf(err, errlen, "%s: the snapshot holds no ring position for a running driver", dev->name);
		return -1;
	}
	vu_start(d, &p);
	pthread_mutex_unlock(&dev->lock);
	pthread_mutex_lock(&d->lock);
	if (!vu_wait_running(d, true)) {
		snprintf(err, errlen, "%s: backend %s did not take the snapshot's rings: %s", dev->name, d->opt.socket,
			 d->broken ? d->broken_why : "no answer in time");
		ret = -1;
	} else {
		log_info("%s: rings restored on backend %s", dev->name, d->opt.socket);
	}
	pthread_mutex_unlock(&d->lock);
	return ret;
}
