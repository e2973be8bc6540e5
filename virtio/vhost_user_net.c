/* SPDX-License-Identifier: MIT */
/*
 * vhost-user-net: the backend serves the receive (2i) and transmit (2i+1) queues of each of the N
 * queue pairs (queues=N); MAC, MTU, link status and max_virtqueue_pairs are kite's options, in kite's
 * own configuration space. Offloads and mergeable receive buffers are passed through when the backend
 * offers them. With N > 1 kite offers VIRTIO_NET_F_MQ and VIRTIO_NET_F_CTRL_VQ and serves the control
 * queue (2N) itself: VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET turns the backend's rings of the pairs past the
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
#include "vhost_user_dev.h"

#define VIRTIO_NET_F_GUEST_ECN  9
#define VIRTIO_NET_F_GUEST_UFO  10
#define VIRTIO_NET_F_HOST_ECN   13
#define VIRTIO_NET_F_HOST_UFO   14
#define VIRTIO_NET_F_CTRL_VQ    17
#define VIRTIO_NET_F_MQ         22
#define VIRTIO_NET_S_LINK_UP    1
#define VU_NET_MAX_PAIRS        ((VIRTIO_MAX_QUEUES - 1) / 2)

/* control queue commands (virtio 1.2 5.1.6.5) */
#define VIRTIO_NET_CTRL_MQ               4
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET  0
#define VIRTIO_NET_OK                    0
#define VIRTIO_NET_ERR                   1

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
	bool mq = f & (1ULL << VIRTIO_NET_F_MQ), ctrl = f & (1ULL << VIRTIO_NET_F_CTRL_VQ);

	if (d->backend_queues > 2 && mq != ctrl) {
		snprintf(why, len, "driver took %s without %s (kite serves the control queue with MQ only)",
			 mq ? "VIRTIO_NET_F_MQ" : "VIRTIO_NET_F_CTRL_VQ", mq ? "VIRTIO_NET_F_CTRL_VQ" : "VIRTIO_NET_F_MQ");
		return -1;
	}
	return 0;
}

/* One command: VIRTIO_NET_OK or VIRTIO_NET_ERR (the first refusal after a reset is logged); *wait:
 * the answer waits for the backend (net_rings_done). */
static uint8_t ctrl_command(struct vu_dev *d, const struct vq_elem *e, bool *wait)
{
	uint8_t cmd[4];
	unsigned max = d->backend_queues / 2;
	size_t n = vq_iov_to_buf(e->iov, e->out_num, 0, cmd, sizeof(cmd));

	if (n < 2 || cmd[0] != VIRTIO_NET_CTRL_MQ || cmd[1] != VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET) {
		if (!d->driver_warned++)
			log_warn_rl_on(&d->vdev.log_rl, "%s: control queue: class %u command %u is not served", d->vdev.name, n > 0 ? cmd[0] : 0,
				 n > 1 ? cmd[1] : 0);
		return VIRTIO_NET_ERR;
	}
	if (e->out_len != 4) {
		if (!d->driver_warned++)
			log_warn_rl_on(&d->vdev.log_rl, "%s: control queue: VQ_PAIRS_SET with %llu bytes of data, 2 expected", d->vdev.name,
				 (unsigned long long)e->out_len - 2);
		return VIRTIO_NET_ERR;
	}
	unsigned pairs = cmd[2] | (unsigned)cmd[3] << 8;

	if (pairs < 1 || pairs > max || !virtio_dev_has_feature(&d->vdev, VIRTIO_NET_F_MQ)) {
		if (!d->driver_warned++)
			log_warn_rl_on(&d->vdev.log_rl, "%s: control queue: VQ_PAIRS_SET %u refused (1..%u with MQ)", d->vdev.name, pairs, max);
		return VIRTIO_NET_ERR;
	}
	*wait = vu_dev_set_rings_off(d, pairs_off(d, pairs));
	log_debug("%s: driver runs %u of %u queue pairs", d->vdev.name, pairs, max);
	return VIRTIO_NET_OK;
}

/* The control queue was kicked (event loop, dev->lock held). A chain without the 2-byte header or
 * without a writable status byte breaks the queue (DEVICE_NEEDS_RESET). */
static void net_ctrl_notify(struct vu_dev *d, unsigned q)
{
	struct virtqueue *vq = &d->vdev.q[q].vq;
	struct vq_elem *e = &d->ctrl_elem;
	int r;

	if (q != d->backend_queues || d->ctrl_held)
		return;     /* a command waits for the backend: the next ones after it */
	while ((r = vq_pop(vq, e)) > 0) {
		bool wait = false;
		uint8_t ack;

		if (e->out_len < 2 || e->in_len < 1) {
			vq_set_broken(vq, "control command with %llu readable and %llu writable bytes (2+ and 1+ needed)",
				      (unsigned long long)e->out_len, (unsigned long long)e->in_len);
			break;
		}
		ack = ctrl_command(d, e, &wait);
		if (wait) {
			d->ctrl_held = true;
			break;
		}
		vq_buf_to_iov(e->iov + e->out_num, e->in_num, 0, &ack, 1);
		vq_push(vq, e, 1);
	}
	virtio_dev_queue_done(&d->vdev, q);
}

/* The backend applied the held VQ_PAIRS_SET (or failed): answer it, then serve what came after. */
static void net_rings_done(struct vu_dev *d, bool ok)
{
	struct virtqueue *vq = &d->vdev.q[d->backend_queues].vq;
	uint8_t ack = ok ? VIRTIO_NET_OK : VIRTIO_NET_ERR;

	if (!d->ctrl_held)
		return;
	d->ctrl_held = false;
	vq_buf_to_iov(d->ctrl_elem.iov + d->ctrl_elem.out_num, d->ctrl_elem.in_num, 0, &ack, 1);
	vq_push(vq, &d->ctrl_elem, 1);
	net_ctrl_notify(d, d->backend_queues);
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
