/* SPDX-License-Identifier: MIT */
/*
 * virtio-net on a host TAP device (virtio/net.c): IFF_VNET_HDR with the 12-byte virtio 1.x header,
 * so checksum and TSO offloads pass through (TUNSETOFFLOAD follows what the driver negotiated);
 * MAC and MTU in the configuration space; mergeable receive buffers. Queue 2i receives, queue 2i+1
 * transmits for queue pair i; every queue, the TAP's fds and the rate-limit timers are served on the
 * device's own I/O thread (kite/iothread.h; the machine's event loop with --iothreads off).
 * queues=N > 1: the TAP is opened with IFF_MULTI_QUEUE, one fd per pair (a persistent TAP must have
 * been created multi_queue), VIRTIO_NET_F_MQ + CTRL_VQ with the control queue at 2N
 * (kite/virtio_net_ctrl.h); the pairs the driver does not run have their fds detached.
 *   --net tap=NAME[,mac=52:54:00:xx:xx:xx][,mtu=N][,queues=N][,bps=N][,pps=N][,burst=N][,transport=pci|mmio]
 *   (JSON "net": [ { "tap": ..., ... } ])
 * A transmitted frame longer than MTU + 18 (Ethernet header with a VLAN tag) without GSO, or with a
 * GSO type / checksum request the driver did not negotiate or that points outside the frame, is
 * dropped and counted. bps / pps: token buckets (common/ratelimit.c) per direction; burst is in
 * frames when pps is set (the byte bucket then holds burst full-size frames), in bytes with bps
 * alone (burst 0 = one second's worth); a limited direction waits on a timer (transmit chains stay
 * in the ring, the TAP is not read).
 */
#ifndef KITE_VIRTIO_NET_H
#define KITE_VIRTIO_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "kite/virtio_transport.h"

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
#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1   /* header flags: checksum from csum_start to be filled */
#define KITE_MAX_NET             4
#define KITE_NET_MAX_QUEUES      8      /* queue pairs of one device (queues=N) */

struct net_options {
	char *tap;
	uint8_t mac[6];
	int has_mac;
	unsigned mtu;            /* 0 = 1500 */
	uint64_t bps, pps;       /* rate limits per direction, 0 = unlimited */
	uint64_t burst;          /* frames (with pps) or bytes (bps alone); 0 = one second's worth */
	unsigned queues;         /* queue pairs, 1..KITE_NET_MAX_QUEUES; 0 = 1 */
	enum virtio_transport transport;
};

/* virtio/net_limit.c: the rate-limit and transport keys of --net (bps, pps, burst, transport).
 * 1 = key taken, 0 = not one of them, -1 = bad value (logged with `what`). */
int net_option_limit(struct net_options *o, const char *key, const char *val, const char *what);

struct machine;
struct virtio_dev;

/* Open the TAP and create the device model, named virtio-net<index>. The caller puts it on the
 * transport o->transport names and frees it with virtio_dev_destroy(). NULL on error (logged). */
struct virtio_dev *net_create(struct machine *m, const struct net_options *o, unsigned index);

/*
 * Run-time changes and counters (kite's API: PATCH /network-interfaces, metrics). Call them on the
 * thread that serves the machine's event loop (not the device's I/O thread); each takes dev->lock. dev must come from
 * net_create(): any other device gets -1 / false.
 */
/* New limits per direction (receive: TAP -> guest, transmit: guest -> TAP; ops = frames), buckets
 * full now; a direction waiting for tokens is served again by its timer. 0 or -1 (logged). */
struct limiter_cfg;
int net_set_limits(struct virtio_dev *dev, const struct limiter_cfg *rx, const struct limiter_cfg *tx);

struct net_counters {
	uint64_t rx_frames, rx_bytes, tx_frames, tx_bytes;   /* bytes of frames, headers not counted */
	uint64_t tx_errors;      /* transmit chains dropped (bad header, oversized, TAP write failed) */
	uint64_t rx_dropped;     /* received frames with offloads the driver did not negotiate */
	uint64_t rx_throttled, tx_throttled;   /* rate-limiter refusals per direction */
};
/* A consistent copy of the counters; false when dev is not a virtio-net TAP device. */
bool net_get_counters(struct virtio_dev *dev, struct net_counters *out);
/* Queue pair i's share of them (what the guest sent on transmit queue 2i + 1 and received on
 * receive queue 2i; a pair the driver turned off still counts what it sends, through fd 0): a
 * consistent copy in *out when i < the device's queues=. The throttle counters are 0 (the buckets
 * are the device's). Returns the number of queue pairs (queues=), 0 when dev is not a virtio-net
 * TAP device. */
unsigned net_get_pair_counters(struct virtio_dev *dev, unsigned i, struct net_counters *out);

#endif
