/* SPDX-License-Identifier: MIT */
/*
 * virtio-net on a TAP device. Transmit: each chain (header + frame) is one writev() to the TAP.
 * Receive: a frame read from the TAP (header included, IFF_VNET_HDR) is scattered over one chain,
 * or over several with MRG_RXBUF (num_buffers set); with no buffer posted it waits, and TAP input
 * pauses until the driver refills the queue. Transmitted headers are checked against the MTU and
 * the negotiated offloads (bad frames dropped and counted); bps/pps token buckets per direction.
 * Multiqueue (queues=N > 1): the TAP is opened N times with IFF_MULTI_QUEUE, one fd per queue pair
 * (receive queue 2i, transmit queue 2i+1, fd i; queues=1 on a persistent multi_queue TAP opens its
 * one queue with IFF_MULTI_QUEUE too, the kernel refuses a plain open); the kernel steers frames for the guest across the
 * attached fds by flow hash. VIRTIO_NET_F_MQ + CTRL_VQ, control queue 2N (virtio/net_ctrl.c):
 * VQ_PAIRS_SET k attaches fds 0..k-1 and detaches the rest (TUNSETQUEUE), so that the kernel steers
 * nothing to a pair the driver does not serve; a reset goes back to pair 0 alone. One I/O thread
 * serves every pair; the rate limiters are per device, shared by all pairs.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "kite/evloop.h"
#include "kite/log.h"
#include "kite/ratelimit.h"
#include "kite/snapshot.h"
#include "kite/virtio_dev.h"
#include "kite/virtio_net.h"
#include "kite/virtio_net_ctrl.h"

#define NET_QUEUE_SIZE 256
#define NET_RXQ(p) (2 * (p))
#define NET_TXQ(p) (2 * (p) + 1)
#define NET_MAX_PAIRS 8
#define NET_MAX_FRAME (65536 + VIRTIO_NET_HDR_LEN)
#define NET_RX_MAX_CHAINS 64

struct net_dev;

/* One queue pair's TAP queue: its fd (attached to the TAP while the pair runs) and a received
 * frame waiting for buffers. */
struct net_pair {
	struct net_dev *net;
	unsigned index;
	int fd;
	bool polled;                /* EPOLLIN asked for */
	bool attached;              /* attached to the TAP and on the loop (pair 0: always) */
	uint8_t *frame;             /* pending received frame */
	size_t frame_len;           /* 0 = none pending */
	/* what the guest sent on this pair's transmit queue and received on its receive queue */
	uint64_t tx_frames, rx_frames, tx_bytes, rx_bytes;
	uint64_t tx_errors, rx_dropped;     /* as the device's counters of the same names */
};

struct net_dev {
	struct virtio_dev vdev;
	bool offloads_set;
	char tap[IFNAMSIZ];
	uint8_t config[12];
	unsigned npairs;            /* queues=N */
	unsigned active;            /* pairs the driver runs: 1 until VQ_PAIRS_SET and after a reset */
	struct net_pair pair[NET_MAX_PAIRS];
	struct net_ctrl ctrl;       /* the control queue (2 * npairs) when npairs > 1 */
	struct vq_elem elem;
	struct vq_elem *rx_elems;   /* chains one merged frame is spread over */
	uint64_t tx_frames, rx_frames, rx_waits, tx_errors;
	uint64_t tx_bytes, rx_bytes;         /* frames without the virtio-net header */
	/* header checks and rate limits */
	unsigned mtu;
	uint64_t tx_oversized, tx_bad_hdr, rx_dropped;
	struct rate_limiter tx_rl, rx_rl;   /* pps=, bps=, burst=, each with its retry timer */
};

/* Checks of a transmitted frame's header. true = send it. */
static bool tx_header_ok(struct net_dev *net, const struct vq_elem *e)
{
	struct { uint8_t flags, gso_type; uint16_t hdr_len, gso_size, csum_start, csum_offset; } __attribute__((packed)) h;
	uint64_t frame = e->out_len - VIRTIO_NET_HDR_LEN;
	uint8_t gso = 0;

	vq_iov_to_buf(e->iov, e->out_num, 0, &h, sizeof(h));
	gso = h.gso_type & 0x7f;
	if (gso == 0 && frame > (uint64_t)net->mtu + 18) {
		if (!net->tx_oversized)
			log_warn_rl_on(&net->vdev.log_rl, "%s: %llu-byte frame over MTU %u + 18 without GSO dropped (counted from now on)",
				 net->vdev.name, (unsigned long long)frame, net->mtu);
		net->tx_oversized++;
		return false;
	}
	if ((gso == 1 && !virtio_dev_has_feature(&net->vdev, VIRTIO_NET_F_HOST_TSO4)) ||
	    (gso == 4 && !virtio_dev_has_feature(&net->vdev, VIRTIO_NET_F_HOST_TSO6)) ||
	    (gso != 0 && gso != 1 && gso != 4) ||
	    ((h.flags & 1) && (!virtio_dev_has_feature(&net->vdev, VIRTIO_NET_F_CSUM) ||
			       (uint64_t)h.csum_start + h.csum_offset + 2 > frame)) ||
	    (gso && (!(h.flags & 1) || !h.gso_size))) {
		if (!net->tx_bad_hdr)
			log_warn_rl_on(&net->vdev.log_rl, "%s: frame with header flags 0x%x gso %u csum %u+%u (not negotiated or outside the "
				 "%llu-byte frame) dropped (counted from now on)", net->vdev.name, h.flags, h.gso_type,
				 h.csum_start, h.csum_offset, (unsigned long long)frame);
		net->tx_bad_hdr++;
		return false;
	}
	return true;
}

static void net_config_read(struct virtio_dev *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	struct net_dev *net = dev->priv;

	memcpy(data, &net->config[off], len);
}

static void tap_poll(struct net_pair *p, bool on)
{
	if (p->polled == on || !p->attached)
		return;
	if (evloop_mod(p->net->vdev.loop, p->fd, on ? EPOLLIN : 0) == 0)
		p->polled = on;
}

/* Transmit queue of pair pi. A pair the driver turned off still sends through pair 0's fd (its own
 * is detached). */
static void net_tx(struct net_dev *net, unsigned pi)
{
	struct virtqueue *vq = &net->vdev.q[NET_TXQ(pi)].vq;
	struct net_pair *p = &net->pair[net->pair[pi].attached ? pi : 0], *q = &net->pair[pi];
	unsigned served = 0;
	int r;

	while ((r = vq_pop(vq, &net->elem)) == 1) {
		if (net->elem.out_len >= VIRTIO_NET_HDR_LEN &&
		    !rate_limiter_admit(&net->tx_rl, net->elem.out_len - VIRTIO_NET_HDR_LEN, 0)) {
			vq_unpop(vq, &net->elem);       /* stays in the ring until the timer says tokens came */
			break;
		}
		if (net->elem.out_len < VIRTIO_NET_HDR_LEN || net->elem.out_len > NET_MAX_FRAME) {
			log_warn_rl_on(&net->vdev.log_rl, "%s: transmit chain of %llu bytes dropped (header %d, at most %d)", net->vdev.name,
				 (unsigned long long)net->elem.out_len, VIRTIO_NET_HDR_LEN, NET_MAX_FRAME);
			net->tx_errors++;
			q->tx_errors++;
		} else if (!tx_header_ok(net, &net->elem)) {
			net->tx_errors++;
			q->tx_errors++;
		} else if (writev(p->fd, net->elem.iov, (int)net->elem.out_num) < 0) {
			if (errno != EAGAIN)
				log_warn_rl_on(&net->vdev.log_rl, "%s: write to TAP %s failed: %s", net->vdev.name, net->tap, strerror(errno));
			net->tx_errors++;
			q->tx_errors++;
		} else {
			net->tx_frames++;
			q->tx_frames++;
			net->tx_bytes += net->elem.out_len - VIRTIO_NET_HDR_LEN;
			q->tx_bytes += net->elem.out_len - VIRTIO_NET_HDR_LEN;
		}
		vq_push(vq, &net->elem, 0);
		served++;
	}
	if (served || r < 0)
		virtio_dev_queue_done(&net->vdev, NET_TXQ(pi));
}

/* Deliver pair p's pending frame. true = delivered (or dropped), false = waiting for buffers. */
static bool net_rx_deliver(struct net_dev *net, struct net_pair *p)
{
	struct virtqueue *vq = &net->vdev.q[NET_RXQ(p->index)].vq;
	bool mrg = virtio_dev_has_feature(&net->vdev, VIRTIO_NET_F_MRG_RXBUF);
	uint64_t room = 0;
	size_t done = 0;
	unsigned n = 0;
	int r = 1;

	/* gather chains until the frame fits (one chain without MRG_RXBUF) */
	while (room < p->frame_len && n < (mrg ? NET_RX_MAX_CHAINS : 1)) {
		r = vq_pop(vq, &net->rx_elems[n]);
		if (r != 1)
			break;
		if (n == 0 && net->rx_elems[0].in_len < VIRTIO_NET_HDR_LEN) {
			vq_set_broken(vq, "receive buffer of %llu bytes cannot hold the %d-byte header",
				      (unsigned long long)net->rx_elems[0].in_len, VIRTIO_NET_HDR_LEN);
			r = -1;
			break;
		}
		room += net->rx_elems[n].in_len;
		n++;
	}
	if (r < 0) {
		virtio_dev_queue_done(&net->vdev, NET_RXQ(p->index));
		p->frame_len = 0;
		return true;
	}
	if (room < p->frame_len && (mrg || n == 0)) {
		/* not enough buffers yet: give the chains back and wait for a refill */
		for (unsigned i = n; i > 0; i--)
			vq_unpop(vq, &net->rx_elems[i - 1]);
		net->rx_waits++;
		return false;
	}
	{
		/* num_buffers, the header's last field, counts the chains used (1 without MRG_RXBUF) */
		uint16_t nb = mrg ? (uint16_t)n : 1;

		memcpy(p->frame + 10, &nb, 2);
	}
	for (unsigned i = 0; i < n; i++) {
		struct vq_elem *e = &net->rx_elems[i];
		size_t chunk = p->frame_len - done < e->in_len ? p->frame_len - done : (size_t)e->in_len;

		vq_buf_to_iov(&e->iov[e->out_num], e->in_num, 0, p->frame + done, chunk);
		vq_fill(vq, e, (uint32_t)chunk);    /* a single short chain gets the frame cut */
		done += chunk;
	}
	vq_flush(vq);
	net->rx_frames++;
	p->rx_frames++;
	net->rx_bytes += p->frame_len - VIRTIO_NET_HDR_LEN;
	p->rx_bytes += p->frame_len - VIRTIO_NET_HDR_LEN;
	p->frame_len = 0;
	virtio_dev_queue_done(&net->vdev, NET_RXQ(p->index));
	return true;
}

static void net_set_offloads(struct net_dev *net);

/* A frame from the TAP may only carry offloads the driver negotiated (frames queued before the
 * TAP's offloads changed, e.g. across a reset, could): otherwise it is dropped and counted. */
static bool rx_offload_ok(struct net_dev *net, const uint8_t *frame)
{
	uint8_t flags = frame[0], gso = frame[1] & 0x7f;

	if (((flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !virtio_dev_has_feature(&net->vdev, VIRTIO_NET_F_GUEST_CSUM)) ||
	    (gso == 1 && !virtio_dev_has_feature(&net->vdev, VIRTIO_NET_F_GUEST_TSO4)) ||
	    (gso == 4 && !virtio_dev_has_feature(&net->vdev, VIRTIO_NET_F_GUEST_TSO6)) ||
	    (gso != 0 && gso != 1 && gso != 4)) {
		net->rx_dropped++;
		return false;
	}
	return true;
}

/* Receive on pair pi (dev->lock held). */
static void net_rx(struct net_dev *net, unsigned pi)
{
	struct net_pair *p = &net->pair[pi];
	struct virtqueue *vq = &net->vdev.q[NET_RXQ(pi)].vq;

	if (!(net->vdev.status & VIRTIO_STATUS_DRIVER_OK) || !p->attached)
		return;
	if (!vq->ready || vq->broken) {
		/* nobody to deliver to: stop reading the fd, or its frames wake the loop forever (a
		 * kick of this queue or a reset polls it again) */
		tap_poll(p, false);
		return;
	}
	if (!net->offloads_set) {
		net_set_offloads(net);          /* before the first frame the driver sees */
		net->offloads_set = true;
	}
	for (;;) {
		ssize_t len;

		if (p->frame_len && !rate_limiter_admit(&net->rx_rl, p->frame_len - VIRTIO_NET_HDR_LEN, 0)) {
			tap_poll(p, false);           /* the frame waits for the timer, the TAP is not read meanwhile */
			return;
		}

		if (p->frame_len && !net_rx_deliver(net, p)) {
			tap_poll(p, false);           /* resume on the next receive-queue kick */
			return;
		}
		len = read(p->fd, p->frame, NET_MAX_FRAME);
		if (len <= 0)
			break;
		if (len < VIRTIO_NET_HDR_LEN)
			continue;
		if (!rx_offload_ok(net, p->frame)) {
			p->rx_dropped++;
			continue;
		}
		p->frame_len = (size_t)len;
	}
	tap_poll(p, true);
}

static void on_tap(void *opaque, int fd, uint32_t events)
{
	struct net_pair *p = opaque;
	struct net_dev *net = p->net;

	(void)fd;
	(void)events;
	pthread_mutex_lock(&net->vdev.lock);
	if (!p->attached) {
		;                                     /* detached meanwhile (a reset on a vCPU thread) */
	} else if (!(net->vdev.status & VIRTIO_STATUS_DRIVER_OK)) {
		char drop[256];

		while (read(p->fd, drop, sizeof(drop)) > 0)
			;                             /* no driver: frames are dropped, as on a cable */
	} else {
		net_rx(net, p->index);
	}
	pthread_mutex_unlock(&net->vdev.lock);
}

/* A direction's rate-limit timer fired: its tokens are back, serve it again. */
static void limit_timer(struct net_dev *net, struct rate_limiter *rl)
{
	pthread_mutex_lock(&net->vdev.lock);
	if (rate_limiter_timer_fired(rl) && (net->vdev.status & VIRTIO_STATUS_DRIVER_OK) &&
	    !(net->vdev.status & VIRTIO_STATUS_NEEDS_RESET)) {
		/* one bucket per direction for the whole device: every pair may have waited */
		for (unsigned i = 0; i < net->npairs; i++) {
			struct virtqueue *txq = &net->vdev.q[NET_TXQ(i)].vq;

			if (rl == &net->rx_rl)
				net_rx(net, i);
			else if (txq->ready && !txq->broken)
				net_tx(net, i);
		}
	}
	pthread_mutex_unlock(&net->vdev.lock);
}

static void on_tx_limit_timer(void *opaque, int fd, uint32_t events)
{
	struct net_dev *net = opaque;

	(void)fd;
	(void)events;
	limit_timer(net, &net->tx_rl);
}

/* Off the loop (-ENOENT if it never got there: harmless) and closed. */
static void limit_timer_close(struct net_dev *net, struct rate_limiter *rl)
{
	if (rl->timer_fd >= 0 && net->vdev.loop)
		evloop_del(net->vdev.loop, rl->timer_fd);
	rate_limiter_timer_close(rl);
}

static void on_rx_limit_timer(void *opaque, int fd, uint32_t events)
{
	struct net_dev *net = opaque;

	(void)fd;
	(void)events;
	limit_timer(net, &net->rx_rl);
}

/* Both directions' retry timers on the device's loop (once). 0 or -1 (logged). */
static int limit_timers_open(struct net_dev *net)
{
	struct evloop *loop = net->vdev.loop;

	if (net->tx_rl.timer_fd >= 0)
		return 0;
	if (rate_limiter_timer_open(&net->tx_rl) < 0 ||
	    evloop_add(loop, net->tx_rl.timer_fd, EPOLLIN, on_tx_limit_timer, net) < 0 ||
	    rate_limiter_timer_open(&net->rx_rl) < 0 ||
	    evloop_add(loop, net->rx_rl.timer_fd, EPOLLIN, on_rx_limit_timer, net) < 0) {
		log_err("%s: rate-limit timers for TAP %s: %s", net->vdev.name, net->tap, strerror(errno));
		limit_timer_close(net, &net->tx_rl);
		limit_timer_close(net, &net->rx_rl);
		return -1;
	}
	return 0;
}

static void net_set_offloads(struct net_dev *net)
{
	unsigned off = 0;

	if (virtio_dev_has_feature(&net->vdev, VIRTIO_NET_F_GUEST_CSUM)) {
		off |= TUN_F_CSUM;
		if (virtio_dev_has_feature(&net->vdev, VIRTIO_NET_F_GUEST_TSO4))
			off |= TUN_F_TSO4;
		if (virtio_dev_has_feature(&net->vdev, VIRTIO_NET_F_GUEST_TSO6))
			off |= TUN_F_TSO6;
	}
	if (ioctl(net->pair[0].fd, TUNSETOFFLOAD, off) < 0)    /* the TAP's, through pair 0's fd (always attached) */
		log_warn_rl_on(&net->vdev.log_rl, "%s: TUNSETOFFLOAD 0x%x on %s failed: %s", net->vdev.name, off, net->tap, strerror(errno));
}

/* Pair p's fd onto the TAP and the loop (attach) or off both (detach); its pending frame is dropped
 * on detach (the kernel purges the fd's queue likewise). 0, or -1 (logged). dev->lock held; any
 * thread (the loop takes its own lock). */
static int pair_attach(struct net_dev *net, struct net_pair *p, bool on)
{
	struct ifreq ifr;

	if (p->attached == on)
		return 0;
	memset(&ifr, 0, sizeof(ifr));
	if (!on) {
		/* off the loop first: a detached TAP fd polls as EPOLLERR */
		evloop_del(net->vdev.loop, p->fd);
		p->attached = false;
		p->polled = false;
		p->frame_len = 0;
		ifr.ifr_flags = IFF_DETACH_QUEUE;
		if (ioctl(p->fd, TUNSETQUEUE, &ifr) < 0) {
			log_err("%s: TAP %s: detaching queue %u failed: %s", net->vdev.name, net->tap, p->index, strerror(errno));
			return -1;
		}
		return 0;
	}
	ifr.ifr_flags = IFF_ATTACH_QUEUE;
	if (ioctl(p->fd, TUNSETQUEUE, &ifr) < 0) {
		log_err("%s: TAP %s: attaching queue %u failed: %s", net->vdev.name, net->tap, p->index, strerror(errno));
		return -1;
	}
	if (evloop_add(net->vdev.loop, p->fd, EPOLLIN, on_tap, p) < 0) {
		log_err("%s: TAP %s: queue %u cannot join the event loop", net->vdev.name, net->tap, p->index);
		ifr.ifr_flags = IFF_DETACH_QUEUE;
		ioctl(p->fd, TUNSETQUEUE, &ifr);
		return -1;
	}
	p->attached = true;
	p->polled = true;
	return 0;
}

/* Run pairs 0..pairs-1 (the rest detached). On a failure the pair count stays as it was. 0 or -1. */
static int set_active(struct net_dev *net, unsigned pairs)
{
	unsigned old = net->active;

	for (unsigned i = 1; i < net->npairs; i++) {
		if (pair_attach(net, &net->pair[i], i < pairs) < 0) {
			for (unsigned j = 1; j < net->npairs; j++)
				pair_attach(net, &net->pair[j], j < old);
			return -1;
		}
	}
	net->active = pairs;
	return 0;
}

/* VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET (virtio/net_ctrl.c validated pairs: 1..npairs, MQ negotiated). */
static int net_apply_pairs(void *opaque, unsigned pairs)
{
	struct net_dev *net = opaque;

	if (set_active(net, pairs) < 0)
		return VIRTIO_NET_ERR;
	for (unsigned i = 0; i < pairs; i++)
		net_rx(net, i);       /* a newly attached fd may hold frames already */
	return VIRTIO_NET_OK;
}

static void net_queue_notify(struct virtio_dev *dev, unsigned q)
{
	struct net_dev *net = dev->priv;

	if (!net->offloads_set) {
		net_set_offloads(net);          /* features are final once the driver runs */
		net->offloads_set = true;
	}
	if (net->npairs > 1 && q == NET_RXQ(net->npairs))
		net_ctrl_serve(dev, q, &net->ctrl, net->npairs, net_apply_pairs, net);
	else if (q & 1)
		net_tx(net, q / 2);
	else
		net_rx(net, q / 2);
}

/* MQ and CTRL_VQ come together (a driver with one but not the other cannot be served). */
static void net_driver_ok(struct virtio_dev *dev)
{
	char why[160];

	if (dev->nqueues > 2 && net_ctrl_features_check(dev->guest_features, why, sizeof(why)) < 0)
		virtio_dev_needs_reset(dev, why);
}

static void net_reset(struct virtio_dev *dev)
{
	struct net_dev *net = dev->priv;

	net->offloads_set = false;
	if (ioctl(net->pair[0].fd, TUNSETOFFLOAD, 0) < 0)   /* no offloads until the next driver says */
		log_warn_rl_on(&net->vdev.log_rl, "%s: clearing the offloads of TAP %s failed: %s", net->vdev.name, net->tap, strerror(errno));
	rate_limiter_timer_stop(&net->tx_rl);
	rate_limiter_timer_stop(&net->rx_rl);
	memset(&net->ctrl, 0, sizeof(net->ctrl));
	if (set_active(net, 1) < 0)
		virtio_dev_needs_reset(dev, "the TAP's extra queues cannot be detached");
	for (unsigned i = 0; i < net->npairs; i++)
		net->pair[i].frame_len = 0;
	tap_poll(&net->pair[0], true);
}

static void net_destroy(struct virtio_dev *dev);
static void net_free(struct net_dev *net);
static void net_save(struct virtio_dev *dev, struct snap_writer *w);
static void net_restore(struct virtio_dev *dev, struct snap_cursor *c);

static const struct virtio_dev_ops net_ops = {
	.device_id = VIRTIO_ID_NET,
	.pci_class = 0x020000,            /* network, Ethernet */
	.destroy = net_destroy,
	.config_size = 12,
	.config_read = net_config_read,
	.queue_notify = net_queue_notify,
	.reset = net_reset,
	.driver_ok = net_driver_ok,
	.read_only_queues = 0xaaaau,      /* the transmit queues 2i + 1 */
	.iothread = true,
	.snap_name = "virtio-net",
	.snap_version = 2,
	.save = net_save,
	.restore = net_restore,
};

/* Open TAP `name` once per queue pair (IFF_MULTI_QUEUE with more than one); pairs past the first
 * are detached at once (the driver starts with pair 0). 0 or -1 (logged). */
static int tap_open(struct net_dev *net, const char *name)
{
	bool mq = net->npairs > 1;
	int hdr = VIRTIO_NET_HDR_LEN;

	for (unsigned i = 0; i < net->npairs; i++) {
		struct net_pair *p = &net->pair[i];
		struct ifreq ifr;
		int r;

		p->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
		if (p->fd < 0) {
			log_err("%s: cannot open /dev/net/tun: %s", net->vdev.name, strerror(errno));
			return -1;
		}
		memset(&ifr, 0, sizeof(ifr));
		ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (mq ? IFF_MULTI_QUEUE : 0);
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
		r = ioctl(p->fd, TUNSETIFF, &ifr);
		if (r < 0 && !mq && errno == EINVAL) {
			/* a persistent TAP made with multi_queue refuses an open without IFF_MULTI_QUEUE
			 * (EINVAL): open its one queue with the flag, queues=1 runs on it alike */
			ifr.ifr_flags |= IFF_MULTI_QUEUE;
			r = ioctl(p->fd, TUNSETIFF, &ifr);
			if (r == 0)
				log_info("%s: TAP %s is a multiqueue TAP: its queue opened with IFF_MULTI_QUEUE",
					 net->vdev.name, name);
			else
				errno = EINVAL;         /* refused either way: report the plain open's error */
		}
		if (r < 0) {
			if (!mq && errno == EINVAL)
				log_err("%s: TAP %s: TUNSETIFF failed: %s, with and without IFF_MULTI_QUEUE (is %s a TUN "
					"device rather than a TAP?)", net->vdev.name, name, strerror(errno), name);
			else if (mq && i == 0 && errno == EINVAL)
				log_err("%s: TAP %s: queues=%u needs a multiqueue TAP, and %s is not one (TUNSETIFF with "
					"IFF_MULTI_QUEUE: %s; create it with 'ip tuntap add dev %s mode tap multi_queue')",
					net->vdev.name, name, net->npairs, name, strerror(errno), name);
			else
				log_err("%s: TAP %s: TUNSETIFF%s failed: %s", net->vdev.name, name,
					mq ? " (queue pair)" : "", strerror(errno));
			return -1;
		}
		snprintf(net->tap, sizeof(net->tap), "%s", ifr.ifr_name);
		if (ioctl(p->fd, TUNSETVNETHDRSZ, &hdr) < 0) {
			log_err("%s: TAP %s: TUNSETVNETHDRSZ %d failed: %s", net->vdev.name, name, hdr, strerror(errno));
			return -1;
		}
		p->attached = true;
	}
	if (ioctl(net->pair[0].fd, TUNSETOFFLOAD, 0) < 0)
		log_warn("%s: TAP %s: TUNSETOFFLOAD failed: %s", net->vdev.name, name, strerror(errno));
	for (unsigned i = 1; i < net->npairs; i++) {
		struct ifreq ifr = { .ifr_flags = IFF_DETACH_QUEUE };

		if (ioctl(net->pair[i].fd, TUNSETQUEUE, &ifr) < 0) {
			log_err("%s: TAP %s: detaching queue %u failed: %s", net->vdev.name, name, i, strerror(errno));
			return -1;
		}
		net->pair[i].attached = false;
	}
	return 0;
}

struct virtio_dev *net_create(struct machine *m, const struct net_options *o, unsigned index)
{
	struct net_dev *net = calloc(1, sizeof(*net));
	unsigned mtu = o->mtu ? o->mtu : 1500;
	unsigned pairs = o->queues ? o->queues : 1;
	uint64_t features;
	char name[32], mq[48];

	if (!net) {
		log_err("virtio-net%u: out of memory", index);
		return NULL;
	}
	for (unsigned i = 0; i < NET_MAX_PAIRS; i++)
		net->pair[i] = (struct net_pair){ .net = net, .index = i, .fd = -1 };
	rate_limiter_init(&net->tx_rl, 0, 0, 0, 0, 0);
	rate_limiter_init(&net->rx_rl, 0, 0, 0, 0, 0);
	net->mtu = mtu;
	snprintf(name, sizeof(name), "virtio-net%u", index);
	snprintf(net->vdev.name, sizeof(net->vdev.name), "%s", name);
	if (pairs > NET_MAX_PAIRS) {
		log_err("%s: queues=%u: at most %u queue pairs", name, pairs, NET_MAX_PAIRS);
		goto fail;
	}
	net->npairs = pairs;
	net->active = 1;
	for (unsigned i = 0; i < pairs; i++) {
		net->pair[i].frame = malloc(NET_MAX_FRAME);
		if (!net->pair[i].frame) {
			log_err("%s: out of memory", name);
			goto fail;
		}
	}
	net->rx_elems = calloc(NET_RX_MAX_CHAINS, sizeof(*net->rx_elems));
	if (!net->rx_elems) {
		log_err("%s: out of memory", name);
		goto fail;
	}
	if (tap_open(net, o->tap) < 0)
		goto fail;
	if (o->has_mac)
		memcpy(net->config, o->mac, 6);
	else {
		static const uint8_t base[6] = { 0x52, 0x54, 0x00, 0x4b, 0x54, 0x00 };

		memcpy(net->config, base, 6);
		net->config[5] = (uint8_t)index;
	}
	net->config[6] = 1;                  /* status: link up */
	net->config[8] = (uint8_t)pairs;     /* max_virtqueue_pairs */
	net->config[10] = (uint8_t)mtu;
	net->config[11] = (uint8_t)(mtu >> 8);
	features = (1ULL << VIRTIO_NET_F_MAC) | (1ULL << VIRTIO_NET_F_MTU) | (1ULL << VIRTIO_NET_F_STATUS) |
		   (1ULL << VIRTIO_NET_F_MRG_RXBUF) | (1ULL << VIRTIO_NET_F_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_CSUM) |
		   (1ULL << VIRTIO_NET_F_HOST_TSO4) | (1ULL << VIRTIO_NET_F_HOST_TSO6) |
		   (1ULL << VIRTIO_NET_F_GUEST_TSO4) | (1ULL << VIRTIO_NET_F_GUEST_TSO6) |
		   (1ULL << VIRTIO_F_INDIRECT_DESC) | (1ULL << VIRTIO_F_EVENT_IDX);
	if (pairs > 1)
		features |= (1ULL << VIRTIO_NET_F_MQ) | (1ULL << VIRTIO_NET_F_CTRL_VQ);
	if (virtio_dev_init(&net->vdev, m, name, &net_ops, net, features, pairs > 1 ? 2 * pairs + 1 : 2,
			    NET_QUEUE_SIZE) < 0)
		goto fail;
	if (evloop_add(net->vdev.loop, net->pair[0].fd, EPOLLIN, on_tap, &net->pair[0]) < 0) {
		log_err("%s: adding TAP %s to the event loop failed", name, net->tap);
		net->pair[0].attached = false;     /* not on the loop: net_free must not take it off */
		goto fail;
	}
	net->pair[0].polled = true;
	if (o->pps || o->bps) {
		/* with pps, burst counts frames and the byte bucket holds as many full-size frames;
		 * with bps alone, burst counts bytes */
		uint64_t now = rl_now_ns(), fburst = o->burst;
		uint64_t bburst = o->pps ? o->burst * (mtu + 18ULL) : o->burst;

		rate_limiter_set(&net->tx_rl, o->pps, fburst, o->bps, bburst, now);
		rate_limiter_set(&net->rx_rl, o->pps, fburst, o->bps, bburst, now);
		if (limit_timers_open(net) < 0)
			goto fail;
	}
	snprintf(mq, sizeof(mq), pairs > 1 ? ", %u queue pairs (multiqueue TAP)" : "", pairs);
	log_info("%s: TAP %s, MAC %02x:%02x:%02x:%02x:%02x:%02x, MTU %u%s%s", name, net->tap,
		 net->config[0], net->config[1], net->config[2], net->config[3], net->config[4], net->config[5], mtu,
		 mq, rate_limiter_active(&net->tx_rl) ? ", rate limited" : "");
	return &net->vdev;
fail:
	net_free(net);
	return NULL;
}

static struct net_dev *net_of(struct virtio_dev *dev)
{
	return dev && dev->ops == &net_ops ? dev->priv : NULL;
}

int net_set_limits(struct virtio_dev *dev, const struct limiter_cfg *rx, const struct limiter_cfg *tx)
{
	struct net_dev *net = net_of(dev);
	uint64_t now = rl_now_ns();
	int ret = 0;

	if (!net) {
		log_err("%s: not a virtio-net device on a TAP", dev ? dev->name : "virtio-net");
		return -1;
	}
	pthread_mutex_lock(&dev->lock);
	rate_limiter_configure(&net->rx_rl, rx, now);
	rate_limiter_configure(&net->tx_rl, tx, now);
	if (rate_limiter_active(&net->rx_rl) || rate_limiter_active(&net->tx_rl))
		ret = limit_timers_open(net);
	pthread_mutex_unlock(&dev->lock);
	if (ret == 0)
		log_info("%s: rate limits now rx %llu frames/s %llu bytes/s, tx %llu frames/s %llu bytes/s "
			 "(0 = unlimited)", dev->name, (unsigned long long)rx->ops.rate, (unsigned long long)rx->bytes.rate,
			 (unsigned long long)tx->ops.rate, (unsigned long long)tx->bytes.rate);
	return ret;
}

bool net_get_counters(struct virtio_dev *dev, struct net_counters *out)
{
	struct net_dev *net = net_of(dev);

	if (!net)
		return false;
	pthread_mutex_lock(&dev->lock);
	*out = (struct net_counters){
		.rx_frames = net->rx_frames, .rx_bytes = net->rx_bytes, .tx_frames = net->tx_frames,
		.tx_bytes = net->tx_bytes, .tx_errors = net->tx_errors, .rx_dropped = net->rx_dropped,
		.rx_throttled = net->rx_rl.refused, .tx_throttled = net->tx_rl.refused,
	};
	pthread_mutex_unlock(&dev->lock);
	return true;
}

unsigned net_get_pair_counters(struct virtio_dev *dev, unsigned i, struct net_counters *out)
{
	struct net_dev *net = net_of(dev);
	unsigned n;

	if (!net)
		return 0;
	pthread_mutex_lock(&dev->lock);
	n = net->npairs;
	if (i < n) {
		const struct net_pair *p = &net->pair[i];

		*out = (struct net_counters){
			.rx_frames = p->rx_frames, .rx_bytes = p->rx_bytes, .tx_frames = p->tx_frames,
			.tx_bytes = p->tx_bytes, .tx_errors = p->tx_errors, .rx_dropped = p->rx_dropped,
		};
	}
	pthread_mutex_unlock(&dev->lock);
	return n;
}

static void net_destroy(struct virtio_dev *dev)
{
	net_free(dev->priv);
}

static void net_free(struct net_dev *net)
{
	if (!net)
		return;
	if (net->pair[0].fd >= 0 && net->vdev.ops) {
		char per[NET_MAX_PAIRS * 48] = "";
		size_t used = 0;

		for (unsigned i = 0; net->npairs > 1 && i < net->npairs && used < sizeof(per); i++)
			used += (size_t)snprintf(per + used, sizeof(per) - used, "%s pair %u: %llu sent, %llu received",
						 i ? "," : ";", i, (unsigned long long)net->pair[i].tx_frames,
						 (unsigned long long)net->pair[i].rx_frames);
		log_info("%s: %llu frames sent, %llu received, %llu dropped (%llu oversized, %llu bad headers), "
			 "throttled %llu times, %llu received frames with offloads not negotiated dropped%s", net->vdev.name, (unsigned long long)net->tx_frames,
			 (unsigned long long)net->rx_frames, (unsigned long long)net->tx_errors,
			 (unsigned long long)net->tx_oversized, (unsigned long long)net->tx_bad_hdr,
			 (unsigned long long)(net->tx_rl.refused + net->rx_rl.refused), (unsigned long long)net->rx_dropped, per);
	}
	for (unsigned i = 0; i < NET_MAX_PAIRS; i++) {
		struct net_pair *p = &net->pair[i];

		if (p->fd >= 0) {
			if (p->attached && net->vdev.loop)
				evloop_del(net->vdev.loop, p->fd);
			close(p->fd);
		}
		free(p->frame);
	}
	limit_timer_close(net, &net->tx_rl);
	limit_timer_close(net, &net->rx_rl);
	if (net->vdev.ops)
		virtio_dev_exit(&net->vdev);
	free(net->rx_elems);
	free(net);
}

/*
 * Snapshots. The device has nothing in flight between callbacks (the VM paused: its I/O thread or
 * loop runs none): its state is the TAP's name (the restored device must sit on a TAP of that name: the
 * board opened the configured one), the MTU, a received frame still waiting for buffers, whether the
 * TAP's offloads follow the driver, both directions' rate limiters and the counters. Version 2 adds
 * the number of queue pairs (must be the configured one), the pairs the driver runs and the frames
 * waiting on pairs 1..N-1; a version 1 section (kite before multiqueue) restores as one pair running
 * (the queue count itself is the virtio core's section's, checked there).
 */
static void net_save(struct virtio_dev *dev, struct snap_writer *w)
{
	struct net_dev *net = dev->priv;

	pthread_mutex_lock(&dev->lock);
	snap_put_str(w, net->tap);
	snap_put_u32(w, net->mtu);
	snap_put_u8(w, net->offloads_set);
	snap_put_u32(w, (uint32_t)net->pair[0].frame_len);
	snap_put(w, net->pair[0].frame, net->pair[0].frame_len);
	rate_limiter_save(&net->tx_rl, w);
	rate_limiter_save(&net->rx_rl, w);
	snap_put_u64(w, net->tx_frames);
	snap_put_u64(w, net->rx_frames);
	snap_put_u64(w, net->tx_bytes);
	snap_put_u64(w, net->rx_bytes);
	snap_put_u64(w, net->tx_errors);
	snap_put_u64(w, net->rx_dropped);
	snap_put_u32(w, net->npairs);
	snap_put_u32(w, net->active);
	for (unsigned i = 1; i < net->npairs; i++) {
		snap_put_u32(w, (uint32_t)net->pair[i].frame_len);
		snap_put(w, net->pair[i].frame, net->pair[i].frame_len);
	}
	pthread_mutex_unlock(&dev->lock);
}

static void net_restore(struct virtio_dev *dev, struct snap_cursor *c)
{
	struct net_dev *net = dev->priv;
	struct rate_limiter tx = net->tx_rl, rx = net->rx_rl;
	char tap[IFNAMSIZ];
	uint32_t mtu, frame_len[NET_MAX_PAIRS] = { 0 }, npairs = net->npairs, active = 1;
	uint8_t offloads;
	uint64_t n[6], now = rl_now_ns();

	snap_get_str(c, tap, sizeof(tap));
	mtu = snap_get_u32(c);
	offloads = snap_get_u8(c);
	frame_len[0] = snap_get_u32(c);
	if (frame_len[0] && (frame_len[0] < VIRTIO_NET_HDR_LEN || frame_len[0] > NET_MAX_FRAME)) {
		snap_cursor_fail(c, "pending received frame of impossible length");
		return;
	}
	snap_get(c, net->pair[0].frame, frame_len[0]);
	rate_limiter_restore(&tx, c, now);
	rate_limiter_restore(&rx, c, now);
	for (unsigned i = 0; i < 6; i++)
		n[i] = snap_get_u64(c);
	if (c->version >= 2) {
		npairs = snap_get_u32(c);
		active = snap_get_u32(c);
		if (!c->bad && (active < 1 || active > npairs ||
				(active > 1 && !virtio_dev_has_feature(dev, VIRTIO_NET_F_MQ)))) {
			snap_cursor_fail(c, "running queue pairs out of range (1..queues=, more than 1 only with MQ)");
			return;
		}
		for (unsigned i = 1; i < npairs && !c->bad; i++) {
			frame_len[i] = snap_get_u32(c);
			if (frame_len[i] && (frame_len[i] < VIRTIO_NET_HDR_LEN || frame_len[i] > NET_MAX_FRAME ||
					     i >= active)) {
				snap_cursor_fail(c, "pending received frame of impossible length, or on a pair not running");
				return;
			}
			snap_get(c, net->pair[i].frame, frame_len[i]);
		}
	}
	if (!c->bad && npairs != net->npairs) {
		snap_cursor_fail(c, "the snapshot's number of queue pairs differs from the configured queues=");
		return;
	}
	if (!c->bad && strcmp(tap, net->tap))
		snap_cursor_fail(c, "the snapshot's TAP name differs from the configured one");
	if (!c->bad && (mtu != net->mtu || offloads > 1))
		snap_cursor_fail(c, "MTU differs from the configured one, or a bad flag");
	if (c->bad || snap_remaining(c))
		return;
	pthread_mutex_lock(&dev->lock);
	if (set_active(net, active) < 0) {
		snap_cursor_fail(c, "the TAP's queues cannot be attached as the snapshot's running pairs need");
		pthread_mutex_unlock(&dev->lock);
		return;
	}
	for (unsigned i = 0; i < net->npairs; i++)
		net->pair[i].frame_len = frame_len[i];
	net->offloads_set = offloads;
	if (offloads)
		net_set_offloads(net);      /* the TAP is new: tell it what the running driver takes */
	net->tx_rl = tx;
	net->rx_rl = rx;
	net->tx_frames = n[0];
	net->rx_frames = n[1];
	net->tx_bytes = n[2];
	net->rx_bytes = n[3];
	net->tx_errors = n[4];
	net->rx_dropped = n[5];
	if ((rate_limiter_active(&tx) || rate_limiter_active(&rx)) && limit_timers_open(net) < 0)
		snap_cursor_fail(c, "the rate limiters' timers cannot be opened");
	pthread_mutex_unlock(&dev->lock);
}
