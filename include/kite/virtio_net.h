/* SPDX-License-Identifier: MIT */
/*
 * virtio-net on a host TAP device (virtio/net.c): IFF_VNET_HDR with the 12-byte virtio 1.x header,
 * so checksum and TSO offloads pass through (TUNSETOFFLOAD follows what the driver negotiated);
 * MAC and MTU in the configuration space; mergeable receive buffers. Queue 0 receives, queue 1
 * transmits; both are served on kite's event loop.
 *   --net tap=NAME[,mac=52:54:00:xx:xx:xx][,mtu=N]   (JSON "net": [ { "tap": ..., ... } ])
 */
#ifndef KITE_VIRTIO_NET_H
#define KITE_VIRTIO_NET_H

#include <stdint.h>

#define VIRTIO_NET_F_CSUM        0
#define VIRTIO_NET_F_GUEST_CSUM  1
#define VIRTIO_NET_F_MTU         3
#define VIRTIO_NET_F_MAC         5
#define VIRTIO_NET_F_GUEST_TSO4  7
#define VIRTIO_NET_F_GUEST_TSO6  8
#define VIRTIO_NET_F_HOST_TSO4   11
#define VIRTIO_NET_F_HOST_TSO6   12
#define VIRTIO_NET_F_MRG_RXBUF   15
#define VIRTIO_NET_F_STATUS      16

#define VIRTIO_NET_HDR_LEN       12
#define KITE_MAX_NET             4

struct net_options {
	char *tap;
	uint8_t mac[6];
	int has_mac;
	unsigned mtu;            /* 0 = 1500 */
};

struct vm;
struct net_dev;

struct net_dev *net_create(struct vm *vm, const struct net_options *o, unsigned index);
void net_destroy(struct net_dev *net);

#endif
