/* SPDX-License-Identifier: MIT */
/* virtio-rng (entropy device): every device-writable buffer is filled from getrandom(). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "kite/log.h"
#include "kite/virtio_dev.h"
#include "kite/virtio_misc.h"

#define RNG_QUEUE_SIZE 64
#define RNG_MAX_CHUNK  4096    /* bytes per request: a driver asking for more gets less */

struct rng_dev {
	struct virtio_dev vdev;
	struct vq_elem elem;
	uint8_t buf[RNG_MAX_CHUNK];
};

static void rng_config_read(struct virtio_dev *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	(void)dev;
	(void)off;
	(void)data;
	(void)len;          /* no configuration space: config_size 0 makes this unreachable */
}

static void rng_queue_notify(struct virtio_dev *dev, unsigned q)
{
	struct rng_dev *rng = dev->priv;
	struct virtqueue *vq = &dev->q[q].vq;
	unsigned served = 0;
	int r;

	while ((r = vq_pop(vq, &rng->elem)) == 1) {
		size_t want = rng->elem.in_len < RNG_MAX_CHUNK ? (size_t)rng->elem.in_len : RNG_MAX_CHUNK;
		ssize_t got = want ? getrandom(rng->buf, want, 0) : 0;

		if (got < 0) {
			log_warn_rl_on(&dev->log_rl, "%s: getrandom failed: %s", dev->name, strerror(errno));
			got = 0;
		}
		vq_buf_to_iov(&rng->elem.iov[rng->elem.out_num], rng->elem.in_num, 0, rng->buf, (size_t)got);
		vq_push(vq, &rng->elem, (uint32_t)got);
		served++;
	}
	if (served || r < 0)
		virtio_dev_queue_done(dev, q);
}

static void rng_destroy(struct virtio_dev *dev)
{
	struct rng_dev *rng = dev->priv;

	virtio_dev_exit(&rng->vdev);
	free(rng);
}

static const struct virtio_dev_ops rng_ops = {
	.device_id = VIRTIO_ID_RNG,
	.pci_class = 0x00ff00,            /* unclassified */
	.destroy = rng_destroy,
	.config_size = 0,
	.config_read = rng_config_read,
	.queue_notify = rng_queue_notify,
};

struct virtio_dev *rng_create(struct machine *m)
{
	struct rng_dev *rng = calloc(1, sizeof(*rng));

	if (!rng) {
		log_err("virtio-rng0: out of memory");
		return NULL;
	}
	if (virtio_dev_init(&rng->vdev, m, "virtio-rng0", &rng_ops, rng, 1ULL << VIRTIO_F_INDIRECT_DESC, 1,
			    RNG_QUEUE_SIZE) < 0) {
		if (rng->vdev.ops)
			virtio_dev_exit(&rng->vdev);
		free(rng);
		return NULL;
	}
	log_info("virtio-rng0: getrandom() entropy");
	return &rng->vdev;
}
