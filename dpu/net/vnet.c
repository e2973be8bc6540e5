/* SPDX-License-Identifier: MIT */
/* vhost-user-net port device (see vnet.h). */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kite/copy_small.h"
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
/* Receive chains popped per sub-burst: a whole burst of one-chain frames, and always room for one
 * frame of VNET_MAX_MRG chains. */
#define VNET_RX_ELEMS (VNET_MAX_MRG + VSW_BURST)

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
	/* scratch of one burst: the TX chains; the RX chains and the bytes written into each */
	struct vq_elem tx_elem[VSW_BURST];
	struct vq_elem rx_elem[VNET_RX_ELEMS];
	uint32_t rx_written[VNET_RX_ELEMS];
};

static struct vnet_port *port_of(struct vhost_dev *dev)
{
	return vhost_dev_opaque(dev);
}

/* VIRTIO_F_IN_ORDER holds by construction: per queue, chains are popped in avail order, handed back
 * (unpop) only from the tail, and completed in the order popped (vnet_tx_poll: one fill of the whole
 * burst; vnet_tx: runs of rx_elem in pop order, a dropped frame's chains used empty in their place).
 * DPDK's virtio PMD then takes its in-order paths, as with DPDK's own vhost library. */
static uint64_t vnet_get_features(struct vhost_dev *dev)
{
	return 1ull << VIRTIO_NET_F_MAC | 1ull << VIRTIO_NET_F_MTU | 1ull << VIRTIO_NET_F_STATUS |
	       1ull << VIRTIO_NET_F_MRG_RXBUF | 1ull << VIRTIO_F_INDIRECT_DESC | 1ull << VIRTIO_F_EVENT_IDX |
	       1ull << VIRTIO_F_RING_PACKED | 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_F_IN_ORDER |
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

/* Phase 2 of a TX burst for one chain: the frame it carries in a switch buffer, or NULL (the drop is
 * counted). The common chain is one segment holding header and frame: checked and copied in place
 * with inline fixed-size copies; others go through the iovec helpers. */
static struct vsw_frame *tx_frame(struct vnet_port *p, const struct vq_elem *e)
{
	struct vswitch *sw = p->runner->sw;
	unsigned hl = p->tx_hdr_len;
	uint8_t hbuf[VIRTIO_NET_HDR_LEN];
	const uint8_t *h = hbuf;
	bool one = e->out_num == 1;   /* with in_num 0: iov[0] is the whole chain, out_len bytes */
	struct vsw_frame *f;
	uint64_t flen;

	/* the frame after the header must be readable, sized sanely, and carry no offload */
	if (e->in_num != 0 || e->out_len < hl) {
		vswitch_count_drop(sw, p->id, VSW_DROP_BAD_DESC);
		return NULL;
	}
	if (one)
		h = e->iov[0].iov_base;
	else if (vq_iov_to_buf(e->iov, e->out_num, 0, hbuf, hl) != hl) {
		vswitch_count_drop(sw, p->id, VSW_DROP_BAD_DESC);
		return NULL;
	}
	if (h[0] != 0 || h[1] != 0) {
		vswitch_count_drop(sw, p->id, VSW_DROP_BAD_DESC);
		return NULL;
	}
	flen = e->out_len - hl;
	if (flen > VSW_MAX_FRAME) {
		vswitch_count_drop(sw, p->id, VSW_DROP_OVERSIZE);
		return NULL;
	}
	f = vswitch_frame_alloc(sw);
	if (!f) {
		vswitch_count_drop(sw, p->id, VSW_DROP_NO_BUFFER);
		return NULL;
	}
	if (one) {
		copy_small(f->data, h + hl, flen);
		f->len = (uint32_t)flen;
	} else {
		f->len = (uint32_t)vq_iov_to_buf(e->iov, e->out_num, hl, f->data, flen);
	}
	return f;
}

/* Guest -> switch, from transmit queue q, in three phases per burst (as DPDK's vhost library does):
 * 1. pop every chain of the burst (vhost_dev_pop_burst: one avail index read, the heads and their
 *    descriptors read in one pass, then the walks back to back);
 * 2. copy the frames back to back, so that the cache misses on the lines the driver wrote on its
 *    own core overlap instead of each waiting behind the previous frame's switching work;
 * 3. complete all chains (one used index store, one notification decision), then switch the frames.
 * A chain that breaks the queue in phase 1 ends the burst: the frames popped before it are still
 * switched, nothing after it is read (a broken queue publishes no completions). */
static unsigned vnet_tx_poll(struct vnet_port *p, unsigned q, unsigned budget)
{
	struct vsw_frame *frames[VSW_BURST];
	struct vq_elem *el = p->tx_elem;
	unsigned n = 0, got;
	int r;

	if (budget > VSW_BURST)
		budget = VSW_BURST;
	r = vhost_dev_pop_burst(p->dev, q, el, budget);
	if (r <= 0)
		return 0;
	got = (unsigned)r;
	for (unsigned i = 0; i < got; i++) {
		struct vsw_frame *f = tx_frame(p, &el[i]);

		if (f)
			frames[n++] = f;
	}
	vhost_dev_fill_burst(p->dev, q, el, NULL, got);
	vhost_dev_flush(p->dev, q);
	if (n)
		vswitch_input(p->runner->sw, p->id, frames, n);
	p->q_tx[q / 2] += n;
	return got;
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

/* Phase 1 of an RX burst for one frame: pop into p->rx_elem[first..] the chains the frame needs
 * (*nel of them). 1 = got them, 0 = not enough buffers (the chains go back; the frame and the rest
 * of the burst are refused), 2 = the scratch is full (the chains go back; serve the sub-burst so
 * far, then this frame again), -1 = the driver gave a malformed buffer (the *nel chains popped are
 * to be handed back empty, the frame is dropped and counted as bad_desc). */
#define RX_SCRATCH_FULL 2
static int rx_take(struct vnet_port *p, unsigned pair, const struct vsw_frame *f, unsigned first,
		   unsigned *nel_out)
{
	unsigned hl = p->rx_hdr_len;
	uint64_t need = hl + f->len, have = 0;
	unsigned nel = 0, maxel = p->mrg_rxbuf ? VNET_MAX_MRG : 1;

	while (have < need) {
		struct vq_elem *e = &p->rx_elem[first + nel];
		/* first == 0 always has room for maxel chains: a frame is refused or served there */
		int r = nel == maxel ? 0 : first + nel == VNET_RX_ELEMS ? RX_SCRATCH_FULL : 1;

		if (r != 1 || vhost_dev_pop(p->dev, VNET_RXQ(pair), e) <= 0) {
			/* popped buffers go back in reverse order, as if never taken */
			while (nel > 0)
				vhost_dev_unpop(p->dev, VNET_RXQ(pair), &p->rx_elem[first + --nel]);
			return r == RX_SCRATCH_FULL ? r : 0;
		}
		nel++;
		if (e->out_num != 0 || e->in_len < (nel == 1 ? hl : 1)) {
			*nel_out = nel;
			vswitch_count_drop(p->runner->sw, p->id, VSW_DROP_BAD_DESC);
			return -1;
		}
		have += e->in_len;
	}
	*nel_out = nel;
	return 1;
}

/* Phase 2 of an RX burst for one frame: header and frame into the nel chains at p->rx_elem[first..]
 * (which hold enough room), the bytes written into each in p->rx_written[]. The common case, one
 * chain whose first segment holds it all, is two inline fixed-size copies. */
static void rx_copy(struct vnet_port *p, const struct vsw_frame *f, unsigned first, unsigned nel)
{
	uint8_t hdr[VIRTIO_NET_HDR_LEN] = { 0 };
	unsigned hl = p->rx_hdr_len;
	const struct vq_elem *e0 = &p->rx_elem[first];
	size_t off = 0;

	put_le16(hdr + 10, (uint16_t)nel);   /* num_buffers (1 without MRG_RXBUF) */
	if (nel == 1 && e0->iov[0].iov_len >= hl + (size_t)f->len) {   /* out_num is 0 (rx_take) */
		uint8_t *d = e0->iov[0].iov_base;

		copy_small_ends(d, hdr, hl, 8);   /* hl is 10 or 12: two 8-byte stores */
		copy_small(d + hl, f->data, f->len);
		p->rx_written[first] = hl + f->len;
		return;
	}
	for (unsigned i = 0; i < nel; i++) {
		const struct vq_elem *e = &p->rx_elem[first + i];
		size_t w = 0, room = e->in_len, chunk;

		if (i == 0) {
			w = vq_buf_to_iov(e->iov + e->out_num, e->in_num, 0, hdr, hl);
			room -= w;
		}
		chunk = f->len - off < room ? f->len - off : room;
		w += vq_buf_to_iov(e->iov + e->out_num, e->in_num, w, f->data + off, chunk);
		off += chunk;
		p->rx_written[first + i] = (uint32_t)w;
	}
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
 * and the rest of the burst. Served in sub-bursts of three phases, as on transmit: pop the chains of
 * every frame (rx_take), copy the frames back to back (rx_copy), then complete the chains; one used
 * index store and one notification decision per queue at the end. */
static unsigned vnet_tx(void *opaque, struct vsw_frame **frames, unsigned n)
{
	struct vnet_port *p = opaque;
	uint64_t pushed[VNET_MAX_PAIRS];
	struct {
		uint16_t first, nel;
		uint8_t pair;
		bool ok;
	} plan[VSW_BURST];
	unsigned sent = 0;
	bool refused = false;

	if (p->n_rx_on == 0)
		return 0;
	for (unsigned i = 0; i < p->n_rx_on; i++)
		pushed[p->rx_on[i]] = p->rxq[p->rx_on[i]]->pushed;
	while (sent < n && !refused) {
		unsigned nf = 0, used = 0;

		for (; sent + nf < n && nf < VSW_BURST; nf++) {
			unsigned pair = rx_pick(p, frames[sent + nf]), nel = 0;
			int r = rx_take(p, pair, frames[sent + nf], used, &nel);

			if (r == 0)
				refused = true;
			if (r == 0 || r == RX_SCRATCH_FULL)
				break;
			plan[nf].first = (uint16_t)used;
			plan[nf].nel = (uint16_t)nel;
			plan[nf].pair = (uint8_t)pair;
			plan[nf].ok = r > 0;
			used += nel;
		}
		for (unsigned i = 0; i < nf; i++)
			if (plan[i].ok)
				rx_copy(p, frames[sent + i], plan[i].first, plan[i].nel);
		/* A frame dropped for a malformed buffer counts as taken (its drop is counted as bad_desc):
		 * its chains complete empty. The chains of consecutive frames to one queue are contiguous
		 * in rx_elem: one fill per run of them. */
		for (unsigned i = 0, j; i < nf; i = j) {
			unsigned pair = plan[i].pair, first = plan[i].first;

			for (j = i; j < nf && plan[j].pair == pair; j++) {
				if (!plan[j].ok)
					memset(&p->rx_written[plan[j].first], 0, plan[j].nel * sizeof(p->rx_written[0]));
				p->q_rx[pair] += plan[j].ok;
			}
			vhost_dev_fill_burst(p->dev, VNET_RXQ(pair), &p->rx_elem[first], &p->rx_written[first],
					     plan[j - 1].first + plan[j - 1].nel - first);
		}
		sent += nf;
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
