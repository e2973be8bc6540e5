/* SPDX-License-Identifier: MIT */
/* vhost-user-net port device (see vnet.h). */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kite/log.h"
#include "../vhost_backend.h"
#include "kite/virtqueue.h"
#include "kite/vhost_user.h"

#include "../switch/parse.h"
#include "port_mac.h"
#include "runner.h"
#include "vnet.h"

/* Queue pair i: receive queue 2i, transmit queue 2i + 1. */
#define VNET_RXQ(i) (2 * (i))
#define VNET_TXQ(i) (2 * (i) + 1)
#define VIRTIO_NET_F_MQ 22
/* Most chains one received frame may be spread over (mergeable buffers). */
#define VNET_MAX_MRG 64

struct virtio_net_config_ {
	uint8_t mac[6];
	uint16_t status;
	uint16_t max_virtqueue_pairs;
	uint16_t mtu;
} __attribute__((packed));

struct vnet_port {
	char name[VSW_NAME_MAX];
	struct vsw_runner *runner;
	struct vhost_dev *dev;
	int id;                        /* switch port id */
	uint8_t mac[6];
	uint32_t mtu;
	unsigned pairs;                /* queue pairs offered */
	/* poller-thread state (set through vsw_runner_call) */
	struct virtqueue *rxq[VNET_MAX_PAIRS];   /* started receive queues (NULL: not started) */
	uint8_t rx_on[VNET_MAX_PAIRS];  /* the pairs whose receive queue is started, n_rx_on of them */
	unsigned n_rx_on;
	bool mrg_rxbuf;
	unsigned rx_hdr_len;
	uint64_t q_rx[VNET_MAX_PAIRS], q_tx[VNET_MAX_PAIRS];   /* frames per pair: to / from the guest */
	/* set in queue_start before the transmit queue is polled */
	unsigned tx_hdr_len;
	/* scratch: one TX element, RX elements of one frame */
	struct vq_elem tx_elem;
	struct vq_elem rx_elem[VNET_MAX_MRG];
};

static struct vnet_port *port_of(struct vhost_dev *dev)
{
	return vhost_dev_opaque(dev);
}

static uint64_t vnet_get_features(struct vhost_dev *dev)
{
	return 1ull << VIRTIO_NET_F_MAC | 1ull << VIRTIO_NET_F_MTU | 1ull << VIRTIO_NET_F_STATUS |
	       1ull << VIRTIO_NET_F_MRG_RXBUF | 1ull << VIRTIO_F_INDIRECT_DESC | 1ull << VIRTIO_F_EVENT_IDX |
	       1ull << VIRTIO_F_RING_PACKED | 1ull << VIRTIO_F_VERSION_1 |
	       (port_of(dev)->pairs > 1 ? 1ull << VIRTIO_NET_F_MQ : 0);
}

static uint64_t vnet_get_protocol_features(struct vhost_dev *dev)
{
	(void)dev;
	/* the inflight region lets a restarted kite-dpu find a packed ring's position again */
	return (1ull << VHOST_USER_PROTOCOL_F_CONFIG) | (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD);
}

static unsigned vnet_num_queues(struct vhost_dev *dev)
{
	return 2 * port_of(dev)->pairs;
}

/* GET_QUEUE_NUM counts queue pairs for net (DPDK's vhost library and QEMU do the same). */
static unsigned vnet_queue_num(struct vhost_dev *dev)
{
	return port_of(dev)->pairs;
}

static int vnet_get_config(struct vhost_dev *dev, uint32_t offset, void *buf, uint32_t len)
{
	struct vnet_port *p = port_of(dev);
	struct virtio_net_config_ cfg;

	memset(&cfg, 0, sizeof(cfg));
	memcpy(cfg.mac, p->mac, 6);
	cfg.status = VIRTIO_NET_S_LINK_UP;   /* little-endian host */
	cfg.max_virtqueue_pairs = (uint16_t)p->pairs;
	cfg.mtu = (uint16_t)p->mtu;
	if (offset > sizeof(cfg) || len > sizeof(cfg) - offset) {
		memset(buf, 0, len);
		if (offset < sizeof(cfg))
			memcpy(buf, (uint8_t *)&cfg + offset, sizeof(cfg) - offset);
		return 0;
	}
	memcpy(buf, (uint8_t *)&cfg + offset, len);
	return 0;
}

struct rxq_arg {
	struct vnet_port *p;
	unsigned pair;
	struct virtqueue *vq;
	bool mrg;
	unsigned hdr_len;
};

/* Poller thread: receive queue of a.pair started (vq) or stopped (NULL); the list of started ones
 * the switch steers into follows. */
static void set_rxq(struct vsw_runner *h, void *arg)
{
	struct rxq_arg *a = arg;
	struct vnet_port *p = a->p;

	(void)h;
	p->rxq[a->pair] = a->vq;
	if (a->vq) {
		p->mrg_rxbuf = a->mrg;
		p->rx_hdr_len = a->hdr_len;
	}
	p->n_rx_on = 0;
	for (unsigned i = 0; i < p->pairs; i++)
		if (p->rxq[i])
			p->rx_on[p->n_rx_on++] = (uint8_t)i;
}

static int vnet_queue_start(struct vhost_dev *dev, unsigned q, struct virtqueue *vq)
{
	struct vnet_port *p = port_of(dev);
	uint64_t f = vhost_dev_features(dev);
	bool mrg = f & (1ull << VIRTIO_NET_F_MRG_RXBUF);
	unsigned hdr_len = (mrg || (f & (1ull << VIRTIO_F_VERSION_1))) ? VIRTIO_NET_HDR_LEN :
									   VIRTIO_NET_HDR_LEN_LEGACY;

	if (q >= 2 * p->pairs)
		return -1;
	if (q % 2 == 0) {
		struct rxq_arg a = { p, q / 2, vq, mrg, hdr_len };

		vsw_runner_call(p->runner, set_rxq, &a);
	} else {
		p->tx_hdr_len = hdr_len;
		vq_set_device_reads_only(vq, true);   /* transmit buffers are only read (DPDK's stale WRITE flags) */
	}
	return 0;
}

static void vnet_queue_stop(struct vhost_dev *dev, unsigned q, struct virtqueue *vq)
{
	struct vnet_port *p = port_of(dev);

	(void)vq;
	if (q % 2 == 0 && q < 2 * p->pairs) {
		struct rxq_arg a = { p, q / 2, NULL, false, VIRTIO_NET_HDR_LEN };

		vsw_runner_call(p->runner, set_rxq, &a);
	}
}

/* Guest -> switch, from transmit queue q. */
static unsigned vnet_tx_poll(struct vnet_port *p, unsigned q, unsigned budget)
{
	struct vswitch *sw = p->runner->sw;
	struct vsw_frame *frames[VSW_BURST];
	struct vq_elem *e = &p->tx_elem;
	unsigned n = 0, done = 0;

	if (budget > VSW_BURST)
		budget = VSW_BURST;
	while (done < budget) {
		uint8_t hdr[VIRTIO_NET_HDR_LEN];
		struct vsw_frame *f;
		int r = vhost_dev_pop(p->dev, q, e);
		uint64_t flen;

		if (r <= 0)
			break;
		done++;
		/* the frame after the header must be readable, sized sanely, and carry no offload */
		if (e->in_num != 0 || e->out_len < p->tx_hdr_len ||
		    vq_iov_to_buf(e->iov, e->out_num, 0, hdr, p->tx_hdr_len) != p->tx_hdr_len ||
		    hdr[0] != 0 || hdr[1] != 0) {
			vswitch_count_drop(sw, p->id, VSW_DROP_BAD_DESC);
			vhost_dev_fill(p->dev, q, e, 0);
			continue;
		}
		flen = e->out_len - p->tx_hdr_len;
		if (flen > VSW_MAX_FRAME) {
			vswitch_count_drop(sw, p->id, VSW_DROP_OVERSIZE);
			vhost_dev_fill(p->dev, q, e, 0);
			continue;
		}
		f = vswitch_frame_alloc(sw);
		if (!f) {
			vswitch_count_drop(sw, p->id, VSW_DROP_NO_BUFFER);
			vhost_dev_fill(p->dev, q, e, 0);
			continue;
		}
		f->len = (uint32_t)vq_iov_to_buf(e->iov, e->out_num, p->tx_hdr_len, f->data, flen);
		vhost_dev_fill(p->dev, q, e, 0);
		frames[n++] = f;
	}
	if (done)
		vhost_dev_flush(p->dev, q);
	if (n)
		vswitch_input(sw, p->id, frames, n);
	p->q_tx[q / 2] += n;
	return done;
}

static unsigned vnet_queue_poll(struct vhost_dev *dev, unsigned q, struct virtqueue *vq, unsigned budget)
{
	struct vnet_port *p = port_of(dev);

	(void)vq;
	if (q % 2 == 1)
		return vnet_tx_poll(p, q, budget);
	return 0;   /* receive queues are filled by the switch (vnet_tx below) */
}

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* Copy one frame into the receive queue: 1 = delivered, 0 = not enough buffers (the frame and the
 * rest of the burst are refused), -1 = the driver gave a malformed buffer (popped buffers handed back
 * empty, frame dropped and counted as bad_desc). */
static int rx_one(struct vnet_port *p, unsigned pair, const struct vsw_frame *f)
{
	uint8_t hdr[VIRTIO_NET_HDR_LEN] = { 0 };
	unsigned hl = p->rx_hdr_len;
	uint64_t need = hl + f->len, have = 0;
	unsigned nel = 0, maxel = p->mrg_rxbuf ? VNET_MAX_MRG : 1;
	size_t off = 0;

	while (have < need) {
		struct vq_elem *e = &p->rx_elem[nel];

		if (nel == maxel || vhost_dev_pop(p->dev, VNET_RXQ(pair), e) <= 0) {
			/* popped buffers go back in reverse order, as if never taken */
			while (nel > 0)
				vhost_dev_unpop(p->dev, VNET_RXQ(pair), &p->rx_elem[--nel]);
			return 0;
		}
		nel++;
		if (e->out_num != 0 || e->in_len < (nel == 1 ? hl : 1)) {
			for (unsigned i = 0; i < nel; i++)
				vhost_dev_fill(p->dev, VNET_RXQ(pair), &p->rx_elem[i], 0);
			vswitch_count_drop(p->runner->sw, p->id, VSW_DROP_BAD_DESC);
			return -1;
		}
		have += e->in_len;
	}
	put_le16(hdr + 10, (uint16_t)nel);   /* num_buffers (1 without MRG_RXBUF) */
	for (unsigned i = 0; i < nel; i++) {
		struct vq_elem *e = &p->rx_elem[i];
		size_t w = 0, room = e->in_len, chunk;

		if (i == 0) {
			w = vq_buf_to_iov(e->iov + e->out_num, e->in_num, 0, hdr, hl);
			room -= w;
		}
		chunk = f->len - off < room ? f->len - off : room;
		w += vq_buf_to_iov(e->iov + e->out_num, e->in_num, w, f->data + off, chunk);
		off += chunk;
		vhost_dev_fill(p->dev, VNET_RXQ(pair), e, (uint32_t)w);
	}
	return 1;
}

/* Which started receive queue a frame goes to, without RSS: a hash of its flow (MAC addresses, and
 * for IP the addresses, protocol and TCP/UDP ports), so one flow stays on one queue. */
static unsigned rx_pick(const struct vnet_port *p, const struct vsw_frame *f)
{
	struct vsw_pkt k;
	uint32_t h = 2166136261u;
	uint8_t key[52];      /* 2 MACs, 2 IPv6 addresses, protocol, 2 ports: 49 bytes at most */
	unsigned n = 0;

	if (p->n_rx_on == 1 || vsw_parse(f->data, f->len, &k) != VSW_PARSE_OK)
		return p->rx_on[0];
	memcpy(key, k.dst, 6);
	memcpy(key + 6, k.src, 6);
	n = 12;
	if (k.ip_ver == 4) {
		memcpy(key + n, &k.src4, 4);
		memcpy(key + n + 4, &k.dst4, 4);
		n += 8;
	} else if (k.ip_ver == 6) {
		memcpy(key + n, k.src6, 16);
		memcpy(key + n + 16, k.dst6, 16);
		n += 32;
	}
	if (k.ip_ver) {
		key[n++] = k.proto;
		if (k.l4_ok && (k.proto == IPPROTO_TCP_ || k.proto == IPPROTO_UDP_)) {
			memcpy(key + n, &k.sport, 2);
			memcpy(key + n + 2, &k.dport, 2);
			n += 4;
		}
	}
	for (unsigned i = 0; i < n; i++)
		h = (h ^ key[i]) * 16777619u;
	return p->rx_on[(h ^ (h >> 16)) % p->n_rx_on];
}

/* Switch -> guest: the switch's tx callback for this port. A queue out of buffers refuses its frame
 * and the rest of the burst. */
static unsigned vnet_tx(void *opaque, struct vsw_frame **frames, unsigned n)
{
	struct vnet_port *p = opaque;
	uint64_t pushed[VNET_MAX_PAIRS];
	unsigned sent = 0;

	if (p->n_rx_on == 0)
		return 0;
	for (unsigned i = 0; i < p->n_rx_on; i++)
		pushed[p->rx_on[i]] = p->rxq[p->rx_on[i]]->pushed;
	/* A frame dropped for a malformed buffer counts as taken (its drop is counted as bad_desc). */
	for (; sent < n; sent++) {
		unsigned pair = rx_pick(p, frames[sent]);
		int r = rx_one(p, pair, frames[sent]);

		if (r == 0)
			break;
		p->q_rx[pair] += r > 0;
	}
	for (unsigned i = 0; i < p->n_rx_on; i++) {
		unsigned pair = p->rx_on[i];

		if (p->rxq[pair]->pushed != pushed[pair])
			vhost_dev_flush(p->dev, VNET_RXQ(pair));
	}
	return sent;
}

static bool vnet_link_up(void *opaque)
{
	struct vnet_port *p = opaque;

	return p->n_rx_on > 0;
}

static unsigned vnet_queue_stats(void *opaque, uint64_t *to_port, uint64_t *from_port, unsigned max)
{
	struct vnet_port *p = opaque;
	unsigned n = p->pairs < max ? p->pairs : max;

	memcpy(to_port, p->q_rx, n * sizeof(*to_port));
	memcpy(from_port, p->q_tx, n * sizeof(*from_port));
	return n;
}

static const struct vhost_backend_ops vnet_ops = {
	.type = "net",
	.get_features = vnet_get_features,
	.get_protocol_features = vnet_get_protocol_features,
	.num_queues = vnet_num_queues,
	.queue_num = vnet_queue_num,
	.get_config = vnet_get_config,
	.config_size = sizeof(struct virtio_net_config_),
	.queue_start = vnet_queue_start,
	.queue_stop = vnet_queue_stop,
	.queue_poll = vnet_queue_poll,
};

static const struct vsw_port_ops vnet_port_ops = {
	.tx = vnet_tx,
	.link_up = vnet_link_up,
	.queue_stats = vnet_queue_stats,
};

struct add_arg {
	struct vnet_port *p;
	int ret;
};

static void do_port_add(struct vsw_runner *h, void *arg)
{
	struct add_arg *a = arg;

	a->ret = vswitch_port_add(h->sw, a->p->name, &vnet_port_ops, a->p);
	if (a->ret >= 0)
		vswitch_port_set_mtu(h->sw, a->ret, a->p->mtu);
}

static void do_port_remove(struct vsw_runner *h, void *arg)
{
	struct add_arg *a = arg;

	vswitch_port_remove(h->sw, a->p->id);
}

struct vnet_port *vnet_port_new(struct vsw_runner *h, const char *name, const char *socket_path,
				const uint8_t *mac, uint32_t mtu, unsigned pairs, struct evloop *loop)
{
	struct vnet_port *p;
	struct add_arg a;

	if (strlen(name) >= VSW_NAME_MAX) {
		log_err("net port %s: name longer than %d bytes", name, VSW_NAME_MAX - 1);
		return NULL;
	}
	if (mtu < 68 || mtu > VSW_MAX_MTU) {
		log_err("net port %s: MTU %u outside 68..%d", name, mtu, VSW_MAX_MTU);
		return NULL;
	}
	if (pairs < 1 || pairs > VNET_MAX_PAIRS) {
		log_err("net port %s: %u queue pairs outside 1..%d", name, pairs, VNET_MAX_PAIRS);
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		log_err("net port %s: out of memory", name);
		return NULL;
	}
	strcpy(p->name, name);
	p->runner = h;
	p->mtu = mtu;
	p->pairs = pairs;
	p->rx_hdr_len = p->tx_hdr_len = VIRTIO_NET_HDR_LEN;
	if (mac) {
		memcpy(p->mac, mac, 6);
	} else {
		port_name_mac(name, PORT_MAC_VHOST, p->mac);
	}
	a.p = p;
	vsw_runner_call(h, do_port_add, &a);
	if (a.ret < 0) {
		log_err("net port %s: cannot add to the switch: %s", name, strerror(-a.ret));
		free(p);
		return NULL;
	}
	p->id = a.ret;
	p->dev = vhost_dev_new(name, socket_path, &vnet_ops, p, loop, h->poller);
	if (!p->dev) {
		vsw_runner_call(h, do_port_remove, &a);
		free(p);
		return NULL;
	}
	return p;
}

void vnet_port_free(struct vnet_port *p)
{
	struct add_arg a = { p, 0 };

	if (!p)
		return;
	vhost_dev_free(p->dev);   /* stops every queue: the switch no longer touches the rings */
	vsw_runner_call(p->runner, do_port_remove, &a);
	free(p);
}

int vnet_port_id(const struct vnet_port *p)
{
	return p->id;
}

const char *vnet_port_name(const struct vnet_port *p)
{
	return p->name;
}
