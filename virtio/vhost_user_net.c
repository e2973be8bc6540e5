/* SPDX-License-Identifier: MIT */
/*
 * vhost-user-net: the backend serves the receive (0) and transmit (1) queues; MAC, MTU and link
 * status are kite's options, in kite's own configuration space. Offloads and mergeable receive
 * buffers are passed through when the backend offers them. Everything else is the shared core.
 */
#include <stdio.h>
#include <string.h>

#include "kite/log.h"
#include "kite/virtio_net.h"
#include "vhost_user_dev.h"

#define VIRTIO_NET_F_GUEST_ECN  9
#define VIRTIO_NET_F_GUEST_UFO  10
#define VIRTIO_NET_F_HOST_ECN   13
#define VIRTIO_NET_F_HOST_UFO   14
#define VIRTIO_NET_S_LINK_UP    1

struct vu_net_config {
	uint8_t mac[6];
	uint16_t status;
	uint16_t max_virtqueue_pairs;
	uint16_t mtu;
} __attribute__((packed));

static unsigned net_configure(struct vu_dev *d, const char *name)
{
	struct vu_net_config c = { .status = VIRTIO_NET_S_LINK_UP, .max_virtqueue_pairs = 1 };
	if (d->opt.queues > 1) {
		log_err("%s: queues=%u: kite's vhost-user-net serves one queue pair for now", name, d->opt.queues);
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
	memcpy(d->config, &c, sizeof(c));
	return 2;
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
	.protocol = 0,
	.session = NULL,
};

struct virtio_dev *vhost_user_net_create(struct machine *m, const struct vhost_user_options *o, unsigned index)
{
	return vu_dev_create(m, &net_kind, o, index, net_configure);
}
