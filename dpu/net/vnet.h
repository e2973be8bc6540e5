/* SPDX-License-Identifier: MIT */
/*
 * vhost-user-net port: one vhost-user server socket = one virtio-net device with one queue pair
 * (queue 0 = receiveq, the switch fills it; queue 1 = transmitq, the guest's frames into the switch).
 *
 * virtio-net header: 12 bytes (struct virtio_net_hdr_v1) with VIRTIO_F_VERSION_1 or MRG_RXBUF,
 * 10 bytes for a legacy driver without either. No checksum/GSO offloads are offered, so a TX header
 * must say flags 0 / GSO_NONE (anything else is dropped and counted as bad_desc). RX with
 * VIRTIO_NET_F_MRG_RXBUF spreads a frame over several chains (num_buffers set in the first
 * header); without it a frame that does not fit one chain is dropped (tx_full on the port).
 * Config space: mac, status (LINK_UP), max_virtqueue_pairs = 1, mtu.
 */
#ifndef KITE_DPU_NET_VNET_H
#define KITE_DPU_NET_VNET_H

#include <stdint.h>

struct vsw_runner;
struct evloop;
struct vnet_port;

/* Virtio-net feature bits used (virtio 1.2 section 5.1.3). */
#define VIRTIO_NET_F_MTU        3
#define VIRTIO_NET_F_MAC        5
#define VIRTIO_NET_F_MRG_RXBUF  15
#define VIRTIO_NET_F_STATUS     16
#define VIRTIO_NET_S_LINK_UP    1
#define VIRTIO_NET_HDR_LEN      12
#define VIRTIO_NET_HDR_LEN_LEGACY 10

/* Create the port `name` on the runner's switch, serving `socket_path`. mac NULL = derived from name.
 * Returns NULL after one log line. Control thread. */
struct vnet_port *vnet_port_new(struct vsw_runner *h, const char *name, const char *socket_path,
				const uint8_t *mac, uint32_t mtu, struct evloop *loop);
void vnet_port_free(struct vnet_port *p);
int vnet_port_id(const struct vnet_port *p);
const char *vnet_port_name(const struct vnet_port *p);

#endif
