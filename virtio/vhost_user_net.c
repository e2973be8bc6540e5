/* SPDX-License-Identifier: MIT */
/*
 * vhost-user-net: the backend serves the receive (2i) and transmit (2i+1) queues of each of the N
 * queue pairs (queues=N); MAC, MTU, link status and max_virtqueue_pairs are kite's options, in kite's
 * own configuration space. Offloads and mergeable receive buffers are passed through when the backend
 * offers them. With N > 1 kite offers VIRTIO_NET_F_MQ and VIRTIO_NET_F_CTRL_VQ and serves the control
 * queue (2N) itself (the parser and answers shared with virtio/net.c: virtio/net_ctrl.c):
 * VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET turns the backend's rings of the pairs past the
 * asked number off (SET_VRING_ENABLE through the device thread); while the rings run on a backend
 * the command is acknowledged only once the backend applied it (with REPLY_ACK: answered every
 * SET_VRING_ENABLE), and the control queue waits meanwhile; every other command is answered
 * VIRTIO_NET_ERR. Until the driver asks, and after a reset, pair 0 alone runs (virtio 1.2 5.1.6.5.5).
 * Everything else is the shared core.
 */
#include <stdio.h>
#include <string.h>

#include "kite/log.h"
#include "kite/virtio_net.h"
#include "kite/virtio_net_ctrl.h"
#include "vhost_user_dev.h"

#define VIRTIO_NET_F_GUEST_ECN  9
#define VIRTIO_NET_F_GUEST_UFO  10
#define VIRTIO_NET_F_HOST_ECN   13
#define VIRTIO_NET_F_HOST_UFO   14
#define VIRTIO_NET_S_LINK_UP    1
#define VU_NET_MAX_PAIRS        ((VIRTIO_MAX_QUEUES - 1) / 2)

struct vu_net_config {
	uint8_t mac[6];
	uint16_t status;
	uint16_t max_virtqueue_pairs;
	uint16_t mtu;
} __attribute__((packed));

/* The backend's rings of the pairs from `pairs` up: off. */
static uint32_t pairs_off(const struct vu_dev *d, unsigned pairs)
{
	return (uint32_t)((1ULL << d->backend_queues) - 1) & ~(uint32_t)((1ULL << (2 * pairs)) - 1);
}

static unsigned net_configure(struct vu_dev *d, const char *name)
{
	struct vu_net_config c = { .status = VIRTIO_NET_S_LINK_UP, .max_virtqueue_pairs = 1 };
	unsigned pairs = d->opt.queues ? d->opt.queues : 1;

	if (pairs > VU_NET_MAX_PAIRS) {
		log_err("%s: queues=%u: at most %u queue pairs", name, pairs, VU_NET_MAX_PAIRS);
		return 0;
	}
	if (d->opt.has_mac)
		memcpy(c.mac, d->opt.mac, 6);
	else
		memcpy(c.mac, (uint8_t[6]){ 0x52, 0x54, 0x00, 0x12, 0x35, (uint8_t)(0x56 + d->index) }, 6);
	if (d->opt.mtu) {
		c.mtu = (uint16_t)d->opt.mtu;
		d->own_features |= 1ULL << VIRTIO_NET_F_MTU;
	}
	d->backend_queues = 2 * pairs;
	d->queue_num_need = pairs;          /* GET_QUEUE_NUM counts queue pairs for net (as DPDK and QEMU) */
	if (pairs > 1) {
		c.max_virtqueue_pairs = (uint16_t)pairs;
		d->own_features |= (1ULL << VIRTIO_NET_F_MQ) | (1ULL << VIRTIO_NET_F_CTRL_VQ);
		d->mq_required = true;
		d->rings_off_reset = pairs_off(d, 1);
	}
	memcpy(d->config, &c, sizeof(c));
	return pairs > 1 ? 2 * pairs + 1 : 2;
}

/* The control queue sits at 2N only with MQ; kite serves it there or nowhere. */
static int net_driver_check(struct vu_dev *d, uint64_t f, char *why, size_t len)
{
	return d->backend_queues > 2 ? net_ctrl_features_check(f, why, len) : 0;
}

/* VQ_PAIRS_SET: the backend's rings of the pairs past `pairs` off; the answer waits for the backend
 * (net_rings_done) while it applies it. */
static int net_apply_pairs(void *opaque, unsigned pairs)
{
	struct vu_dev *d = opaque;

	return vu_dev_set_rings_off(d, pairs_off(d, pairs)) ? NET_CTRL_HOLD : VIRTIO_NET_OK;
}

/* The control queue was kicked (event loop, dev->lock held). */
static void net_ctrl_notify(struct vu_dev *d, unsigned q)
{
	if (q == d->backend_queues)
		net_ctrl_serve(&d->vdev, q, &d->ctrl, d->backend_queues / 2, net_apply_pairs, d);
}

/* The backend applied the held VQ_PAIRS_SET (or failed): answer it, then serve what came after. */
static void net_rings_done(struct vu_dev *d, bool ok)
{
	net_ctrl_answer(&d->vdev, d->backend_queues, &d->ctrl, ok ? VIRTIO_NET_OK : VIRTIO_NET_ERR,
			d->backend_queues / 2, net_apply_pairs, d);
}

static const struct vu_kind net_kind = {
	.prefix = "vhost-user-net",
	.device_id = VIRTIO_ID_NET,
	.pci_class = 0x020000,
	.config_size = sizeof(struct vu_net_config),
	.pass_features = (1ULL << VIRTIO_NET_F_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_CSUM) |
			 (1ULL << VIRTIO_NET_F_GUEST_TSO4) | (1ULL << VIRTIO_NET_F_GUEST_TSO6) |
			 (1ULL << VIRTIO_NET_F_GUEST_ECN) | (1ULL << VIRTIO_NET_F_GUEST_UFO) |
			 (1ULL << VIRTIO_NET_F_HOST_TSO4) | (1ULL << VIRTIO_NET_F_HOST_TSO6) |
			 (1ULL << VIRTIO_NET_F_HOST_ECN) | (1ULL << VIRTIO_NET_F_HOST_UFO) |
			 (1ULL << VIRTIO_NET_F_MRG_RXBUF),
	.own_features = (1ULL << VIRTIO_NET_F_MAC) | (1ULL << VIRTIO_NET_F_STATUS),
	/* with the backend's inflight region a packed ring resumes after the backend restarts */
	.protocol = 1ULL << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD,
	.session = NULL,
	.queue_notify = net_ctrl_notify,
	.driver_check = net_driver_check,
	.rings_done = net_rings_done,
};

struct virtio_dev *vhost_user_net_create(struct machine *m, const struct vhost_user_options *o, unsigned index)
{
	return vu_dev_create(m, &net_kind, o, index, net_configure);
}
