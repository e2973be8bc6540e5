/* SPDX-License-Identifier: MIT */
/*
 * The virtio-net control queue as kite's devices serve it (virtio/net_ctrl.c, virtio 1.2 5.1.6.5),
 * shared by virtio-net on a TAP (virtio/net.c) and vhost-user-net (virtio/vhost_user_net.c): a
 * device with N > 1 queue pairs offers VIRTIO_NET_F_MQ with VIRTIO_NET_F_CTRL_VQ, puts the control
 * queue at 2N and serves VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET only; every other command is answered
 * VIRTIO_NET_ERR. A command is a readable {class, command} header with its data, then at least one
 * writable byte for the status.
 * Threads: the device's loop with dev->lock held (net_ctrl_parse has no state and may run anywhere).
 */
#ifndef KITE_VIRTIO_NET_CTRL_H
#define KITE_VIRTIO_NET_CTRL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kite/virtqueue.h"

#define VIRTIO_NET_F_CTRL_VQ            17
#define VIRTIO_NET_F_MQ                 22
#define VIRTIO_NET_CTRL_MQ              4
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET 0
#define VIRTIO_NET_OK                   0
#define VIRTIO_NET_ERR                  1
#define NET_CTRL_HOLD                   2    /* an apply() result: answer later (net_ctrl_answer) */

/* net_ctrl_parse results */
#define NET_CTRL_BAD_CHAIN  (-1)   /* fewer than 2 readable bytes or no writable one: break the queue */
#define NET_CTRL_REFUSE     0      /* answer VIRTIO_NET_ERR */
#define NET_CTRL_SET_PAIRS  1      /* VQ_PAIRS_SET, *pairs in 1..max_pairs */

/* One command chain. mq: the driver took VIRTIO_NET_F_MQ. NET_CTRL_BAD_CHAIN and NET_CTRL_REFUSE
 * put the reason in why (one line, no device name). */
int net_ctrl_parse(const struct vq_elem *e, unsigned max_pairs, bool mq, unsigned *pairs, char *why, size_t len);

/* The driver's features for a device with more than one pair: MQ and CTRL_VQ together or neither.
 * 0, or -1 with the reason in why. */
int net_ctrl_features_check(uint64_t features, char *why, size_t len);

/* A device's control queue: the command waiting for its answer (held) and the refusals since the
 * last reset (only the first is logged). Zeroed = reset. */
struct net_ctrl {
	struct vq_elem elem;
	bool held;
	unsigned warned;
};

struct virtio_dev;
/* apply: the driver asks for `pairs` queue pairs; VIRTIO_NET_OK, VIRTIO_NET_ERR or NET_CTRL_HOLD. */
typedef int (*net_ctrl_apply_fn)(void *opaque, unsigned pairs);

/*
 * Queue q (the control queue) was kicked: answer its commands in order. A malformed chain breaks
 * the queue (DEVICE_NEEDS_RESET). With NET_CTRL_HOLD the chain stays in c->elem unanswered and
 * nothing after it is served until net_ctrl_answer(). Nothing happens while a command is held.
 */
void net_ctrl_serve(struct virtio_dev *dev, unsigned q, struct net_ctrl *c, unsigned max_pairs,
		    net_ctrl_apply_fn apply, void *opaque);
/* Answer the held command with ack and serve the commands after it. No-op when none is held. */
void net_ctrl_answer(struct virtio_dev *dev, unsigned q, struct net_ctrl *c, uint8_t ack, unsigned max_pairs,
		     net_ctrl_apply_fn apply, void *opaque);

#endif
