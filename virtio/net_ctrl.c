/* SPDX-License-Identifier: MIT */
/* The virtio-net control queue: VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET (kite/virtio_net_ctrl.h). */
#include <stdio.h>

#include "kite/log.h"
#include "kite/virtio_dev.h"
#include "kite/virtio_net_ctrl.h"

int net_ctrl_parse(const struct vq_elem *e, unsigned max_pairs, bool mq, unsigned *pairs, char *why, size_t len)
{
	uint8_t cmd[4] = { 0 };
	size_t n;
	unsigned want;

	if (e->out_len < 2 || e->in_len < 1) {
		snprintf(why, len, "control command with %llu readable and %llu writable bytes (2+ and 1+ needed)",
			 (unsigned long long)e->out_len, (unsigned long long)e->in_len);
		return NET_CTRL_BAD_CHAIN;
	}
	n = vq_iov_to_buf(e->iov, e->out_num, 0, cmd, sizeof(cmd));
	if (n < 2 || cmd[0] != VIRTIO_NET_CTRL_MQ || cmd[1] != VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET) {
		snprintf(why, len, "class %u command %u is not served", cmd[0], cmd[1]);
		return NET_CTRL_REFUSE;
	}
	if (e->out_len != 4) {
		snprintf(why, len, "VQ_PAIRS_SET with %llu bytes of data, 2 expected", (unsigned long long)e->out_len - 2);
		return NET_CTRL_REFUSE;
	}
	want = cmd[2] | (unsigned)cmd[3] << 8;
	if (want < 1 || want > max_pairs || !mq) {
		snprintf(why, len, "VQ_PAIRS_SET %u refused (1..%u with MQ)", want, max_pairs);
		return NET_CTRL_REFUSE;
	}
	*pairs = want;
	return NET_CTRL_SET_PAIRS;
}

int net_ctrl_features_check(uint64_t f, char *why, size_t len)
{
	bool mq = f & (1ULL << VIRTIO_NET_F_MQ), ctrl = f & (1ULL << VIRTIO_NET_F_CTRL_VQ);

	if (mq != ctrl) {
		snprintf(why, len, "driver took %s without %s (kite serves the control queue with MQ only)",
			 mq ? "VIRTIO_NET_F_MQ" : "VIRTIO_NET_F_CTRL_VQ", mq ? "VIRTIO_NET_F_CTRL_VQ" : "VIRTIO_NET_F_MQ");
		return -1;
	}
	return 0;
}

static void push_ack(struct virtqueue *vq, const struct vq_elem *e, uint8_t ack)
{
	vq_buf_to_iov(e->iov + e->out_num, e->in_num, 0, &ack, 1);
	vq_push(vq, e, 1);
}

void net_ctrl_serve(struct virtio_dev *dev, unsigned q, struct net_ctrl *c, unsigned max_pairs,
		    net_ctrl_apply_fn apply, void *opaque)
{
	struct virtqueue *vq = &dev->q[q].vq;
	bool mq = virtio_dev_has_feature(dev, VIRTIO_NET_F_MQ);
	int r;

	if (c->held)
		return;     /* a command waits for its answer: the next ones after it */
	while ((r = vq_pop(vq, &c->elem)) > 0) {
		char why[128];
		unsigned pairs = 0;
		int p = net_ctrl_parse(&c->elem, max_pairs, mq, &pairs, why, sizeof(why));
		int ack;

		if (p == NET_CTRL_BAD_CHAIN) {
			vq_set_broken(vq, "%s", why);
			break;
		}
		if (p == NET_CTRL_REFUSE) {
			if (!c->warned++)
				log_warn_rl_on(&dev->log_rl, "%s: control queue: %s", dev->name, why);
			ack = VIRTIO_NET_ERR;
		} else {
			ack = apply(opaque, pairs);
			if (ack == NET_CTRL_HOLD) {
				c->held = true;
				break;
			}
			log_debug("%s: driver runs %u of %u queue pairs%s", dev->name, pairs, max_pairs,
				  ack == VIRTIO_NET_OK ? "" : " (refused)");
		}
		push_ack(vq, &c->elem, (uint8_t)ack);
	}
	virtio_dev_queue_done(dev, q);
}

void net_ctrl_answer(struct virtio_dev *dev, unsigned q, struct net_ctrl *c, uint8_t ack, unsigned max_pairs,
		     net_ctrl_apply_fn apply, void *opaque)
{
	if (!c->held)
		return;
	c->held = false;
	push_ack(&dev->q[q].vq, &c->elem, ack);
	net_ctrl_serve(dev, q, c, max_pairs, apply, opaque);
}
