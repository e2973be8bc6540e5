/* SPDX-License-Identifier: MIT */
/*
 * kite's vhost-user devices: virtio devices whose data plane is a vhost-user backend (kite-dpu,
 * qemu-storage-daemon, dpdk-testpmd). virtio/vhost_user_dev.c is the shared core; vhost_user_blk.c
 * and vhost_user_net.c say what each device offers and what its configuration space holds.
 *   --vhost-user-blk socket=PATH[,queues=N][,transport=pci|mmio][,reconnect=SECONDS][,mem_timeout=SECONDS]
 *   --vhost-user-net socket=PATH[,mac=MAC][,queues=N][,mtu=N][,transport=pci|mmio][,reconnect=SECONDS]
 *                    [,mem_timeout=SECONDS]
 *   JSON "vhost_user_blk": [ {"socket": "...", "queues": 2, ...} | "socket=...,queues=2", ... ],
 *        "vhost_user_net": [ ... ] (the same keys as the flags)
 * blk: queues = the backend's num_queues (default) or fewer; capacity, geometry, block size,
 * segment limits, discard / write-zeroes limits come from the backend's GET_CONFIG, read once per
 * connection and served from kite's copy, and again when the backend sends CONFIG_CHANGE_MSG on its
 * channel (PROTOCOL_F_BACKEND_REQ; the device thread reads it, the event loop raises the config
 * interrupt). net: MAC (default 52:54:00:12:35:<index + 0x56>), MTU and link status are kite's;
 * queues=N queue pairs (default 1; 1..8). With N > 1 kite offers VIRTIO_NET_F_MQ + CTRL_VQ and serves
 * the control queue itself (the backend needs PROTOCOL_F_MQ and GET_QUEUE_NUM >= N): the driver's
 * VQ_PAIRS_SET becomes SET_VRING_ENABLE on the backend's rings (pair 0 alone until then); a malformed
 * control chain breaks the device, an unknown or out-of-range command gets VIRTIO_NET_ERR.
 *
 * Data path: the queue's KVM ioeventfd is the backend's kick fd (kite never reads it); the call fd
 * is an eventfd of kite's that is, with MSI-X, a KVM irqfd of the queue's vector (a masked vector:
 * the fd moves to kite's event loop and sets the PBA bit, back to KVM on unmask -- pci/msix.c), and
 * with INTx or virtio-mmio watched on kite's event loop (ISR bit + interrupt line). No request and no
 * interrupt passes through kite after DRIVER_OK.
 *
 * Threads: each device has one thread of its own, "vu-blkN" / "vu-netN", that owns the socket and does the
 * whole vhost-user conversation (blocking, every reply bounded by KITE_VHOST_USER_REPLY_MS, the one
 * to SET_MEM_TABLE by KITE_VHOST_USER_MEM_REPLY_MS or mem_timeout=). vCPU
 * threads only post what the driver did (DRIVER_OK: start the rings; reset: stop them, waiting at
 * most KITE_VHOST_USER_REPLY_MS for GET_VRING_BASE) and never talk to the backend; the event loop
 * reports a broken backend as DEVICE_NEEDS_RESET (one log line) and serves the INTx path.
 *
 * Backend lost (end of stream on the socket): guest requests stay in the rings; the device thread
 * reconnects (retry every 100 ms doubling to 2 s, one log line when lost and one when back) and
 * restores features, memory table, the same inflight region (INFLIGHT_SHMFD, blk and net) and the
 * rings: split ones at the used index in guest memory, packed ones (no used index in memory) at base
 * 0x8000, the backend taking their position from its inflight region (without one a packed ring
 * cannot resume: DEVICE_NEEDS_RESET); the backend resubmits what the inflight region holds in
 * flight. A guest reset starts a new driver session with a new inflight region. reconnect=SECONDS:
 * give up after that long without a backend (then DEVICE_NEEDS_RESET); 0 (default) = keep trying.
 * A backend that answers badly, too slowly or breaks the protocol breaks only its device
 * (DEVICE_NEEDS_RESET); a guest reset then reconnects from scratch. At start-up kite needs the
 * backend's features (and blk's configuration) to describe the device: a backend that is absent or
 * fails that handshake stops kite's start with one line. Memory, inflight region and rings are set
 * up at DRIVER_OK, so anything later breaks only the device.
 */
#ifndef KITE_VIRTIO_VHOST_USER_H
#define KITE_VIRTIO_VHOST_USER_H

#include <stdbool.h>
#include <stdint.h>

#include "kite/virtio_transport.h"

#define KITE_MAX_VHOST_USER        8       /* of each kind */
#define KITE_VHOST_USER_MAX_QUEUES 8       /* queues= (blk: queues, net: queue pairs) */
#define KITE_VHOST_USER_REPLY_MS   5000    /* longest wait for one backend reply ... */
#define KITE_VHOST_USER_MEM_REPLY_MS 30000 /* ... but SET_MEM_TABLE's (the backend maps guest RAM;
					       * one sharing a core with a busy poller took > 5 s under
					       * load): mem_timeout=SECONDS overrides it */
#define KITE_VHOST_USER_CONNECT_MS 10000   /* first connection at start-up */

enum vhost_user_kind { VHOST_USER_BLK, VHOST_USER_NET };

struct vhost_user_options {
	char *socket;
	unsigned queues;          /* 0 = default (blk: the backend's, net: 1) */
	unsigned reconnect;       /* seconds without a backend before giving up; 0 = forever */
	unsigned mem_timeout;     /* seconds for the reply to SET_MEM_TABLE; 0 = KITE_VHOST_USER_MEM_REPLY_MS */
	uint8_t mac[6];           /* net */
	bool has_mac;
	unsigned mtu;             /* net; 0 = not announced */
	enum virtio_transport transport;
};

/* One key=value of either kind (`kind` says which keys exist). 0 or -1 (one log line with what). */
int vhost_user_option_set(struct vhost_user_options *o, enum vhost_user_kind kind, const char *key,
			  const char *val, const char *what);
/* After the last key: socket= present. 0 or -1 (logged). */
int vhost_user_option_check(const struct vhost_user_options *o, const char *what);
void vhost_user_options_free(struct vhost_user_options *o);

struct machine;
struct virtio_dev;

/* Connect to the backend (up to KITE_VHOST_USER_CONNECT_MS), read its features (and for blk its
 * configuration), start the device thread and create the device model named
 * vhost-user-blk<index> / vhost-user-net<index>. The caller puts it on o->transport and frees it
 * with virtio_dev_destroy(). Main thread. NULL on error (logged). */
struct virtio_dev *vhost_user_blk_create(struct machine *m, const struct vhost_user_options *o, unsigned index);
struct virtio_dev *vhost_user_net_create(struct machine *m, const struct vhost_user_options *o, unsigned index);

#endif
