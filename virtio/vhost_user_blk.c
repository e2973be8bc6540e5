/* SPDX-License-Identifier: MIT */
/*
 * vhost-user-blk: the disk's features and configuration space (capacity, geometry, block size,
 * queues, discard limits) are the backend's, read with GET_CONFIG on every connection and checked;
 * everything else is the shared core (vhost_user_dev.c).
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "kite/log.h"
#include "kite/virtio_blk.h"
#include "kite/virtio_blk_dev.h"
#include "vhost_user_dev.h"

/* GET_CONFIG and the checks every configuration from the backend passes. 0, or -1 with why. */
static int blk_config_get(struct vu_dev *d, struct virtio_blk_config *c, char *why, size_t len)
{
	uint64_t f = d->fe.features;

	memset(c, 0, sizeof(*c));
	if (vuf_get_config(&d->fe, 0, c, VIRTIO_BLK_CONFIG_SIZE) < 0) {
		snprintf(why, len, "%s", d->fe.err);
		return -1;
	}
	if ((f & (1ULL << VIRTIO_BLK_F_BLK_SIZE)) &&
	    (c->blk_size < VIRTIO_BLK_SECTOR || c->blk_size > 65536 || (c->blk_size & (c->blk_size - 1)))) {
		snprintf(why, len, "GET_CONFIG: block size %u is not a power of two in 512..65536", c->blk_size);
		return -1;
	}
	if ((f & (1ULL << VIRTIO_BLK_F_MQ)) && (c->num_queues == 0 || c->num_queues > VIRTIO_MAX_QUEUES)) {
		snprintf(why, len, "GET_CONFIG: %u queues is out of range 1..%d", c->num_queues, VIRTIO_MAX_QUEUES);
		return -1;
	}
	return 0;
}

/* Configuration change of the backend between two connections that kite refuses to hide. */
static int blk_session(struct vu_dev *d, bool first, char *why, size_t len)
{
	struct virtio_blk_config c, old;

	if (!(d->fe.protocol & (1ULL << VHOST_USER_PROTOCOL_F_CONFIG))) {
		snprintf(why, len, "backend does not offer the CONFIG protocol feature (needed for the capacity)");
		return -1;
	}
	if (blk_config_get(d, &c, why, len) < 0)
		return -1;
	if (first) {
		memcpy(d->config, &c, VIRTIO_BLK_CONFIG_SIZE);
		return 0;
	}
	memcpy(&old, d->config, VIRTIO_BLK_CONFIG_SIZE);
	if (c.capacity != old.capacity || c.blk_size != old.blk_size) {
		snprintf(why, len, "backend came back with another disk (%llu sectors of %u bytes, was %llu of %u)",
			 (unsigned long long)c.capacity, c.blk_size, (unsigned long long)old.capacity, old.blk_size);
		return -1;
	}
	return 0;
}

/* CONFIG_CHANGE_MSG: the capacity (and the limits) may change; the block size and the number of
 * queues the driver was given may not. */
static int blk_config_reread(struct vu_dev *d, uint8_t *config, char *why, size_t len)
{
	struct virtio_blk_config c, old;

	memcpy(&old, config, VIRTIO_BLK_CONFIG_SIZE);
	if (blk_config_get(d, &c, why, len) < 0)
		return -1;
	if (c.blk_size != old.blk_size) {
		snprintf(why, len, "configuration change: block size %u, was %u", c.blk_size, old.blk_size);
		return -1;
	}
	c.num_queues = old.num_queues;
	log_info_rl_on(&d->vdev.log_rl, "%s: configuration change from the backend: capacity %llu sectors (was %llu)", d->vdev.name, (unsigned long long)c.capacity,
		 (unsigned long long)old.capacity);
	memcpy(config, &c, VIRTIO_BLK_CONFIG_SIZE);
	return 0;
}

static unsigned blk_configure(struct vu_dev *d, const char *name)
{
	struct virtio_blk_config *c = (struct virtio_blk_config *)d->config;
	unsigned have = (d->backend_features & (1ULL << VIRTIO_BLK_F_MQ)) ? c->num_queues : 1;
	unsigned n = d->opt.queues ? d->opt.queues : have;

	if (n > have) {
		log_err("%s: queues=%u but the backend %s serves %u", name, n, d->opt.socket, have);
		return 0;
	}
	c->num_queues = (uint16_t)n;
	if (n > 1)
		d->backend_features |= 1ULL << VIRTIO_BLK_F_MQ;
	return n;
}

static const struct vu_kind blk_kind = {
	.prefix = "vhost-user-blk",
	.device_id = VIRTIO_ID_BLOCK,
	.pci_class = 0x018000,
	.config_size = VIRTIO_BLK_CONFIG_SIZE,
	.pass_features = (1ULL << VIRTIO_BLK_F_SIZE_MAX) | (1ULL << VIRTIO_BLK_F_SEG_MAX) |
			 (1ULL << VIRTIO_BLK_F_GEOMETRY) | (1ULL << VIRTIO_BLK_F_RO) | (1ULL << VIRTIO_BLK_F_BLK_SIZE) |
			 (1ULL << VIRTIO_BLK_F_FLUSH) | (1ULL << VIRTIO_BLK_F_TOPOLOGY) | (1ULL << VIRTIO_BLK_F_MQ) |
			 (1ULL << VIRTIO_BLK_F_DISCARD) | (1ULL << VIRTIO_BLK_F_WRITE_ZEROES),
	.protocol = (1ULL << VHOST_USER_PROTOCOL_F_CONFIG) | (1ULL << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD) |
		    (1ULL << VHOST_USER_PROTOCOL_F_BACKEND_REQ),
	.session = blk_session,
	.config_reread = blk_config_reread,
};

struct virtio_dev *vhost_user_blk_create(struct machine *m, const struct vhost_user_options *o, unsigned index)
{
	return vu_dev_create(m, &blk_kind, o, index, blk_configure);
}
