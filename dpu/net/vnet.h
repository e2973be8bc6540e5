/* SPDX-License-Identifier: MIT */
/*
 * vhost-user-net port: one vhost-user server socket = one virtio-net device with N queue pairs
 * (queue 2i = receiveq i, the switch fills it; queue 2i + 1 = transmitq i, the guest's frames into
 * the switch). With N > 1 the port offers VIRTIO_NET_F_MQ and PROTOCOL_F_MQ (GET_QUEUE_NUM = N, in
 * pairs); the control queue is the frontend's (kite or QEMU serve it and enable the pairs the driver
 * uses with SET_VRING_ENABLE). Every started transmit queue is polled. Receive without RSS: a frame
 * goes to one of the started receive queues chosen by a hash of its flow (MACs, IP addresses,
 * protocol, TCP/UDP ports), so a flow keeps its queue. Frames per queue pair, each way, are in the
 * port's "queues" of switch_stats.
 *
 * virtio-net header: 12 bytes (struct virtio_net_hdr_v1) with VIRTIO_F_VERSION_1 or MRG_RXBUF,
 * 10 bytes for a legacy driver without either. No checksum/GSO offloads are offered, so a TX header
 * must say flags 0 / GSO_NONE (anything else is dropped and counted as bad_desc). RX with
 * VIRTIO_NET_F_MRG_RXBUF spreads a frame over several chains (num_buffers set in the first
 * header); without it a frame that does not fit one chain is dropped (tx_full on the port).
 * Config space: mac, status (LINK_UP), max_virtqueue_pairs = N, mtu.
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
#define VNET_MAX_PAIRS          8     /* VHOST_DEV_MAX_QUEUES / 2 */

/* Create the port `name` on the runner's switch, serving `socket_path` with `pairs` queue pairs
 * (1..VNET_MAX_PAIRS). mac NULL = derived from name. Returns NULL after one log line. Control thread. */
struct vnet_port *vnet_port_new(struct vsw_runner *h, const char *name, const char *socket_path,
				const uint8_t *mac, uint32_t mtu, unsigned pairs, struct evloop *loop);
void vnet_port_free(struct vnet_port *p);
int vnet_port_id(const struct vnet_port *p);
const char *vnet_port_name(const struct vnet_port *p);

#endif
