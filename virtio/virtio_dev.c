/* SPDX-License-Identifier: MIT */
/*
 * The transport-independent virtio device core: status, features, reset, queue setup, kicks on the
 * device's loop, and the DEVICE_NEEDS_RESET path when the driver breaks a queue.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "kite/evloop.h"
#include "kite/iothread.h"
#include "kite/log.h"
#include "kite/virtio_dev.h"

bool virtio_dev_has_feature(const struct virtio_dev *dev, unsigned bit)
{
	return bit < 64 && (dev->guest_features & (1ULL << bit));
}

bool virtio_dev_queue_live(const struct virtio_dev *dev, unsigned q)
{
	return q < dev->nqueues && (dev->status & VIRTIO_STATUS_DRIVER_OK) &&
	       !(dev->status & VIRTIO_STATUS_NEEDS_RESET) && dev->q[q].enabled && dev->q[q].vq.ready &&
	       !dev->q[q].vq.broken;
}

void virtio_dev_needs_reset(struct virtio_dev *dev, const char *why)
{
	if (dev->broken_reported)
		return;
	dev->broken_reported = true;
	log_err_rl_on(&dev->log_rl, "%s: %s: device needs reset", dev->name, why);
	dev->status |= VIRTIO_STATUS_NEEDS_RESET;
	if (dev->status & VIRTIO_STATUS_DRIVER_OK)
		virtio_dev_config_changed(dev);
}

static void report_broken(struct virtio_dev *dev, unsigned q)
{
	char why[192];

	snprintf(why, sizeof(why), "queue %u broken by the driver: %s", q,
		 dev->q[q].vq.broken_reason[0] ? dev->q[q].vq.broken_reason : "invalid ring");
	virtio_dev_needs_reset(dev, why);
}

static void on_kick(void *opaque, int fd, uint32_t events)
{
	struct virtio_queue *vqs;
	struct virtio_dev *dev = opaque;
	uint64_t cnt;
	unsigned q;

	(void)events;
	if (read(fd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&dev->lock);
	vqs = dev->q;
	for (q = 0; q < dev->nqueues && vqs[q].kick_fd != fd; q++)
		;
	if (q < dev->nqueues && (dev->status & VIRTIO_STATUS_DRIVER_OK) &&
	    !(dev->status & VIRTIO_STATUS_NEEDS_RESET) && vqs[q].enabled && vqs[q].vq.ready) {
		if (vqs[q].vq.broken)
			report_broken(dev, q);
		else
			dev->ops->queue_notify(dev, q);
	}
	pthread_mutex_unlock(&dev->lock);
}

int virtio_dev_init(struct virtio_dev *dev, struct machine *m, const char *name, const struct virtio_dev_ops *ops,
		    void *priv, uint64_t host_features, unsigned nqueues, uint16_t qmax)
{
	memset(dev, 0, sizeof(*dev));
	snprintf(dev->name, sizeof(dev->name), "%s", name);
	dev->machine = m;
	dev->ops = ops;
	dev->io = m && ops->iothread && !ops->external_queues ? machine_iothread(m, name) : NULL;
	dev->loop = dev->io ? iothread_loop(dev->io) : m ? m->loop : NULL;
	dev->priv = priv;
	/* every kite device runs on the shared virtqueue, which does split and packed rings */
	dev->host_features = host_features | (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_F_RING_PACKED);
	dev->nqueues = nqueues;
	pthread_mutex_init(&dev->lock, NULL);
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		dev->q[q].kick_fd = -1;
	if (nqueues == 0 || nqueues > VIRTIO_MAX_QUEUES) {
		log_err("%s: %u queues requested, at most %d", name, nqueues, VIRTIO_MAX_QUEUES);
		return -1;
	}
	for (unsigned q = 0; q < nqueues; q++) {
		dev->q[q].max_size = qmax;
		dev->q[q].kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (dev->q[q].kick_fd < 0) {
			log_err("%s: eventfd for queue %u: %m", name, q);
			return -1;
		}
		if (dev->loop && !(ops->external_queues & (1u << q)) && evloop_add(dev->loop, dev->q[q].kick_fd, EPOLLIN, on_kick, dev) < 0) {
			log_err("%s: adding queue %u's kick to the event loop failed", name, q);
			close(dev->q[q].kick_fd);
			dev->q[q].kick_fd = -1;
			return -1;
		}
	}
	virtio_dev_reset(dev);
	return 0;
}

void virtio_dev_exit(struct virtio_dev *dev)
{
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		if (dev->q[q].kick_fd < 0)
			continue;
		if (dev->loop && !(dev->ops->external_queues & (1u << q)))
			evloop_del(dev->loop, dev->q[q].kick_fd);
		close(dev->q[q].kick_fd);
		dev->q[q].kick_fd = -1;
	}
	pthread_mutex_destroy(&dev->lock);
	kite_log_rl_release(&dev->log_rl);
}

void virtio_dev_destroy(struct virtio_dev *dev)
{
	if (dev && dev->ops && dev->ops->destroy)
		dev->ops->destroy(dev);
}

void virtio_dev_reset(struct virtio_dev *dev)
{
	dev->status = 0;
	dev->guest_features = 0;
	dev->isr = 0;
	dev->config_vector = VIRTIO_MSI_NO_VECTOR;
	dev->broken_reported = false;
	for (unsigned q = 0; q < dev->nqueues; q++) {
		struct virtio_queue *vq = &dev->q[q];

		vq->size = vq->max_size;
		vq->enabled = false;
		vq->desc = vq->driver = vq->device = 0;
		vq->vector = VIRTIO_MSI_NO_VECTOR;
		vq_reset(&vq->vq);
	}
	if (dev->ops->reset)
		dev->ops->reset(dev);
}

void virtio_dev_set_status(struct virtio_dev *dev, uint8_t status)
{
	uint8_t old;

	if (status == 0) {
		virtio_dev_reset(dev);
		return;
	}
	old = dev->status;
	if ((status & VIRTIO_STATUS_FEATURES_OK) && !(dev->status & VIRTIO_STATUS_FEATURES_OK)) {
		uint64_t extra = dev->guest_features & ~dev->host_features;

		if (extra || !(dev->guest_features & (1ULL << VIRTIO_F_VERSION_1))) {
			log_warn_rl_on(&dev->log_rl, "%s: driver features 0x%llx refused (%s): FEATURES_OK not set", dev->name,
				 (unsigned long long)dev->guest_features,
				 extra ? "not offered" : "VERSION_1 missing");
			status &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
		}
	}
	if ((status & VIRTIO_STATUS_DRIVER_OK) && !(status & VIRTIO_STATUS_FEATURES_OK))
		status &= (uint8_t)~VIRTIO_STATUS_DRIVER_OK;   /* 1.0 drivers must negotiate first */
	/* NEEDS_RESET is the device's bit: keep it, the driver cannot clear it but by a reset */
	dev->status = (uint8_t)((status & ~VIRTIO_STATUS_NEEDS_RESET) | (dev->status & VIRTIO_STATUS_NEEDS_RESET));
	if ((status & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK)) {
		log_info_rl_on(&dev->log_rl, "%s: driver ready, features 0x%llx, %s rings", dev->name,
			 (unsigned long long)dev->guest_features,
			 virtio_dev_has_feature(dev, VIRTIO_F_RING_PACKED) ? "packed" : "split");
		if (dev->ops->driver_ok)
			dev->ops->driver_ok(dev);
	}
	if (status & VIRTIO_STATUS_DRIVER_OK) {
		/* Buffers may have been queued before DRIVER_OK: look at every queue once. */
		for (unsigned q = 0; q < dev->nqueues; q++)
			if (dev->q[q].enabled)
				virtio_dev_kick(dev, q);
	}
}

void virtio_dev_queue_enable(struct virtio_dev *dev, unsigned q)
{
	struct virtio_queue *vq;
	struct vq_config cfg;

	if (q >= dev->nqueues || dev->q[q].enabled)
		return;
	vq = &dev->q[q];
	cfg = (struct vq_config){
		.size = vq->size,
		.desc = vq->desc,
		.driver = vq->driver,
		.device = vq->device,
		.features = dev->guest_features,
		.addr_is_uva = false,
	};
	if (!(dev->status & VIRTIO_STATUS_FEATURES_OK)) {
		log_warn_rl_on(&dev->log_rl, "%s: queue %u enabled before FEATURES_OK: ignored", dev->name, q);
		return;
	}
	if (vq_setup(&vq->vq, dev->machine->mem, &cfg) < 0) {
		log_err_rl_on(&dev->log_rl, "%s: queue %u setup refused: %s", dev->name, q, vq->vq.broken_reason);
		vq->vq.broken = true;
		report_broken(dev, q);
		return;
	}
	vq_set_device_reads_only(&vq->vq, dev->ops->read_only_queues & (1u << q));
	vq->enabled = true;
}

void virtio_dev_config_access(struct virtio_dev *dev, uint32_t off, uint8_t *data, uint32_t len, bool is_write)
{
	if ((uint64_t)off + len > dev->ops->config_size) {
		if (!is_write)
			memset(data, 0xff, len);
	} else if (is_write) {
		if (dev->ops->config_write)
			dev->ops->config_write(dev, off, data, len);
	} else {
		dev->ops->config_read(dev, off, data, len);
	}
}

void virtio_dev_kick(struct virtio_dev *dev, unsigned q)
{
	uint64_t one = 1;

	if (q < dev->nqueues && dev->q[q].kick_fd >= 0 &&
	    write(dev->q[q].kick_fd, &one, sizeof(one)) != sizeof(one))
		log_warn_rl_on(&dev->log_rl, "%s: kicking queue %u failed", dev->name, q);
}

void virtio_dev_queue_done(struct virtio_dev *dev, unsigned q)
{
	struct virtqueue *vq = &dev->q[q].vq;

	if (vq->broken) {
		report_broken(dev, q);
		return;
	}
	if (vq_should_notify(vq)) {
		dev->isr |= VIRTIO_ISR_QUEUE;
		if (dev->interrupt)
			dev->interrupt(dev, false, dev->q[q].vector);
	}
}

void virtio_dev_queue_interrupt(struct virtio_dev *dev, unsigned q)
{
	dev->isr |= VIRTIO_ISR_QUEUE;
	if (dev->interrupt && q < dev->nqueues)
		dev->interrupt(dev, false, dev->q[q].vector);
}

int virtio_dev_queue_notifier(struct virtio_dev *dev, unsigned q, int fd, bool add)
{
	if (q >= dev->nqueues || !dev->notifier)
		return -1;
	if (add && dev->q[q].vector == VIRTIO_MSI_NO_VECTOR)
		return -1;
	return dev->notifier(dev, dev->q[q].vector, fd, add);
}

void virtio_dev_config_changed(struct virtio_dev *dev)
{
	dev->config_generation++;
	dev->isr |= VIRTIO_ISR_CONFIG;
	if (dev->interrupt)
		dev->interrupt(dev, true, dev->config_vector);
}
