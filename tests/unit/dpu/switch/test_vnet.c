/* SPDX-License-Identifier: MIT */
/*
 * The vhost-user-net port's data path against a real device-side virtqueue driven by the test's
 * driver-side ring (tests/lib/vring): virtio-net header handling on TX, RX with and without mergeable
 * buffers, and descriptor garbage (dropped, counted, completed: never a stall); a port with two queue
 * pairs (both transmit queues polled, receive steered by flow, per-pair counters, GET_QUEUE_NUM in
 * pairs); the burst phases (pop all, copy all, complete all): every frame length through the inline
 * one-segment copies and the segmented ones, both ways, a malformed chain in the middle of a burst,
 * a receive burst larger than the chain scratch; VIRTIO_F_IN_ORDER (chains used in avail order
 * through drops, refusals and mergeable frames). The vhost-user backend is replaced by a stub that
 * maps vhost_dev_* onto the virtqueues.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../../../dpu/poller.h"
#include "../../../../dpu/vhost_backend.h"
#include "kite/virtqueue.h"
#include "vring_driver.h"

#include "frames.h"
#include "runner.h"
#include "vnet.h"

/* ---- stub vhost-user backend ---- */
struct vhost_dev {
	const struct vhost_backend_ops *ops;
	void *opaque;
	uint64_t features;
	struct virtqueue *vq[4];
	unsigned flushes[4];
};

static struct vhost_dev stub_dev;

struct vhost_dev *vhost_dev_new(const char *name, const char *path, const struct vhost_backend_ops *ops,
				void *opaque, struct evloop *loop, struct dpu_poller *poller)
{
	(void)name; (void)path; (void)loop; (void)poller;
	memset(&stub_dev, 0, sizeof(stub_dev));
	stub_dev.ops = ops;
	stub_dev.opaque = opaque;
	return &stub_dev;
}

void vhost_dev_free(struct vhost_dev *dev) { (void)dev; }
void *vhost_dev_opaque(const struct vhost_dev *dev) { return dev->opaque; }
uint64_t vhost_dev_features(const struct vhost_dev *dev) { return dev->features; }
int vhost_dev_pop(struct vhost_dev *dev, unsigned q, struct vq_elem *e) { return vq_pop(dev->vq[q], e); }
void vhost_dev_unpop(struct vhost_dev *dev, unsigned q, const struct vq_elem *e) { vq_unpop(dev->vq[q], e); }
int vhost_dev_pop_burst(struct vhost_dev *dev, unsigned q, struct vq_elem *e, unsigned max)
{
	return vq_pop_burst(dev->vq[q], e, max);
}

void vhost_dev_fill_burst(struct vhost_dev *dev, unsigned q, const struct vq_elem *e, const uint32_t *written,
			  unsigned n)
{
	vq_fill_burst(dev->vq[q], e, written, n);
}

void vhost_dev_fill(struct vhost_dev *dev, unsigned q, const struct vq_elem *e, uint32_t written)
{
	vq_fill(dev->vq[q], e, written);
}

void vhost_dev_flush(struct vhost_dev *dev, unsigned q)
{
	vq_flush(dev->vq[q]);
	dev->flushes[q]++;
}

int poller_add(struct dpu_poller *p, dpu_poll_fn fn, void *opaque) { (void)p; (void)fn; (void)opaque; return 0; }
void poller_del(struct dpu_poller *p, dpu_poll_fn fn, void *opaque) { (void)p; (void)fn; (void)opaque; }

/* ---- guest memory and rings ---- */
#define MEM_GPA   0x100000ull
#define MEM_SIZE  0x200000ull
#define RX_RING   0x100000ull
#define TX_RING   0x110000ull
#define RX1_RING  0x120000ull
#define TX1_RING  0x130000ull
#define DATA      0x200000ull
#define QSIZE     256

static uint8_t *mem;
static struct guest_mem gm;
static struct vring_drv rxd, txd, rxd1, txd1;
static struct virtqueue rxq, txq, rxq1, txq1;
static struct vsw_runner *runner;
static struct vnet_port *vp;
static uint64_t data_next;

/* The switch's other port: records what it gets. */
#define PEER_MAX 64
static unsigned peer_n;
static uint32_t peer_len[PEER_MAX];
static uint8_t peer_data[PEER_MAX][2048];
static int peer_id;

static unsigned peer_tx(void *opaque, struct vsw_frame **frames, unsigned n)
{
	(void)opaque;
	for (unsigned i = 0; i < n && peer_n < PEER_MAX; i++) {
		peer_len[peer_n] = frames[i]->len;
		memcpy(peer_data[peer_n], frames[i]->data, frames[i]->len < 2048 ? frames[i]->len : 2048);
		peer_n++;
	}
	return n;
}

static const struct vsw_port_ops peer_ops = { .tx = peer_tx };

static void *gpa(uint64_t a)
{
	return mem + (a - MEM_GPA);
}

static uint64_t alloc_data(uint32_t len)
{
	uint64_t a = data_next;

	data_next += (len + 63) & ~63u;
	assert_true(data_next <= MEM_GPA + MEM_SIZE);
	return a;
}

static void ring_init(struct vring_drv *d, struct virtqueue *vq, uint64_t base, uint64_t features)
{
	struct vring_drv_config dc = { .size = QSIZE, .desc = base, .driver = base + 0x1000,
				       .device = base + 0x2000 };
	struct vq_config vc = { .size = QSIZE, .desc = dc.desc, .driver = dc.driver, .device = dc.device,
				.features = features };

	assert_int_equal(vring_drv_init(d, &gm, &dc), 0);
	memset(vq, 0, sizeof(*vq));
	assert_int_equal(vq_setup(vq, &gm, &vc), 0);
}

static void start(uint64_t features)
{
	stub_dev.features = features;
	ring_init(&rxd, &rxq, RX_RING, features);
	ring_init(&txd, &txq, TX_RING, features);
	stub_dev.vq[0] = &rxq;
	stub_dev.vq[1] = &txq;
	assert_int_equal(stub_dev.ops->queue_start(&stub_dev, 0, &rxq), 0);
	assert_int_equal(stub_dev.ops->queue_start(&stub_dev, 1, &txq), 0);
}

static unsigned setup_pairs = 1;

static int setup(void **state)
{
	struct gm_region r = { .gpa = MEM_GPA, .size = MEM_SIZE, .fd = -1 };
	static const uint8_t mac[6] = { 2, 0, 0, 0, 0, 0x42 };

	(void)state;
	mem = aligned_alloc(4096, MEM_SIZE);
	assert_non_null(mem);
	memset(mem, 0, MEM_SIZE);
	r.hva = mem;
	memset(&gm, 0, sizeof(gm));
	assert_int_equal(gm_add(&gm, &r), 0);
	data_next = DATA;
	peer_n = 0;
	runner = vsw_runner_new(NULL, NULL, true);
	assert_non_null(runner);
	peer_id = vswitch_port_add(runner->sw, "peer", &peer_ops, NULL);
	assert_true(peer_id >= 0);
	vp = vnet_port_new(runner, "vm0", "/nonexistent.sock", mac, 1500, setup_pairs, NULL);
	assert_non_null(vp);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	stub_dev.ops->queue_stop(&stub_dev, 0, &rxq);
	stub_dev.ops->queue_stop(&stub_dev, 1, &txq);
	vnet_port_free(vp);
	vsw_runner_free(runner);
	vring_drv_free(&rxd);
	vring_drv_free(&txd);
	free(mem);
	return 0;
}

static const struct vsw_port_stats *vm_stats(void)
{
	return vswitch_port_stats(runner->sw, vnet_port_id(vp));
}

/* Post a TX chain: header (12 bytes, flags) then the frame, split over `split` descriptors. */
static void post_tx(const uint8_t *frame, uint32_t len, uint8_t hdr_flags, unsigned split)
{
	struct vring_buf b[3];
	uint64_t h = alloc_data(12), f = alloc_data(len ? len : 1);
	uint8_t *hp = gpa(h);

	memset(hp, 0, 12);
	hp[0] = hdr_flags;
	memcpy(gpa(f), frame, len);
	b[0] = (struct vring_buf){ h, 12, false };
	if (split == 2) {
		b[1] = (struct vring_buf){ f, len / 2, false };
		b[2] = (struct vring_buf){ f + len / 2, len - len / 2, false };
		assert_true(vring_drv_add(&txd, b, 3, false, NULL) >= 0);
	} else {
		b[1] = (struct vring_buf){ f, len, false };
		assert_true(vring_drv_add(&txd, b, 2, false, NULL) >= 0);
	}
}

static unsigned drain_used(struct vring_drv *d, uint32_t *lens, unsigned max)
{
	unsigned n = 0;
	uint32_t len;
	void *tok;

	while (n < max && vring_drv_get_used(d, &len, &tok) == 1)
		lens[n++] = len;
	return n;
}

static uint32_t build_frame(uint8_t *buf, uint32_t payload)
{
	struct tf_spec s = { .dst = MAC_BCAST, .src = MAC_A, .vid = -1, .ethertype = 0x88b5, .payload = payload };

	return tf_build(buf, &s);
}

static void test_tx(void **state)
{
	uint8_t fr[256];
	uint32_t len = build_frame(fr, 46), lens[8];

	(void)state;
	start(1ull << VIRTIO_F_VERSION_1);
	post_tx(fr, len, 0, 1);
	post_tx(fr, len, 0, 2);
	assert_int_equal(stub_dev.ops->queue_poll(&stub_dev, 1, &txq, 32), 2);
	assert_int_equal(peer_n, 2);
	assert_int_equal(peer_len[0], len);
	assert_memory_equal(peer_data[0], fr, len);
	assert_memory_equal(peer_data[1], fr, len);
	assert_int_equal(drain_used(&txd, lens, 8), 2);
	assert_int_equal(lens[0], 0);
	assert_int_equal(vm_stats()->rx_packets, 2);
	assert_int_equal(stub_dev.ops->queue_poll(&stub_dev, 1, &txq, 32), 0);
}

static void test_tx_garbage(void **state)
{
	uint8_t fr[256];
	uint32_t len = build_frame(fr, 46), lens[8];
	struct vring_buf b[3];
	uint64_t a = alloc_data(64);

	(void)state;
	start(1ull << VIRTIO_F_VERSION_1);
	/* shorter than the header */
	b[0] = (struct vring_buf){ a, 5, false };
	assert_true(vring_drv_add(&txd, b, 1, false, NULL) >= 0);
	/* checksum offload requested although not negotiated */
	post_tx(fr, len, 1, 1);
	/* a device-writable descriptor in a TX chain */
	b[0] = (struct vring_buf){ a, 12, false };
	b[1] = (struct vring_buf){ a + 12, 40, true };
	assert_true(vring_drv_add(&txd, b, 2, false, NULL) >= 0);
	/* a header and nothing else: a runt for the switch */
	b[0] = (struct vring_buf){ a, 12, false };
	assert_true(vring_drv_add(&txd, b, 1, false, NULL) >= 0);
	/* and a good one after all that */
	post_tx(fr, len, 0, 1);
	assert_int_equal(stub_dev.ops->queue_poll(&stub_dev, 1, &txq, 32), 5);
	assert_int_equal(peer_n, 1);
	assert_memory_equal(peer_data[0], fr, len);
	assert_int_equal(vm_stats()->drops[VSW_DROP_BAD_DESC], 3);
	assert_int_equal(vm_stats()->drops[VSW_DROP_RUNT], 1);
	/* every chain was completed: the guest gets all its buffers back */
	assert_int_equal(drain_used(&txd, lens, 8), 5);
	assert_false(txq.broken);
}

/* Peer sends a broadcast of `payload` bytes: it floods to the vnet port's receive queue. */
static uint32_t peer_send(uint8_t *fr, uint32_t payload)
{
	struct vsw_frame *f = vswitch_frame_alloc(runner->sw);
	uint32_t len = build_frame(fr, payload);

	for (uint32_t i = 14; i < len; i++)
		fr[i] = (uint8_t)(i * 7);
	memcpy(f->data, fr, len);
	f->len = len;
	vswitch_input(runner->sw, peer_id, &f, 1);
	return len;
}

static void test_rx_plain(void **state)
{
	uint8_t fr[2048];
	struct vring_buf b;
	uint32_t lens[8], len;
	uint64_t bufs[2];
	const uint8_t *h;

	(void)state;
	start(1ull << VIRTIO_F_VERSION_1);
	for (int i = 0; i < 2; i++) {
		bufs[i] = alloc_data(1536);
		b = (struct vring_buf){ bufs[i], 1536, true };
		assert_true(vring_drv_add(&rxd, &b, 1, false, NULL) >= 0);
	}
	len = peer_send(fr, 200);
	assert_int_equal(drain_used(&rxd, lens, 8), 1);
	assert_int_equal(lens[0], 12 + len);
	h = gpa(bufs[0]);
	assert_int_equal(h[0], 0);                 /* flags */
	assert_int_equal(h[1], 0);                 /* GSO none */
	assert_int_equal(h[10] | h[11] << 8, 1);   /* num_buffers */
	assert_memory_equal(h + 12, fr, len);
	assert_int_equal(vm_stats()->tx_packets, 1);
	/* one buffer left; a frame larger than it does not fit without mergeable buffers */
	assert_int_equal(vswitch_port_set_mtu(runner->sw, peer_id, 9000), 0);
	peer_send(fr, 1600);
	assert_int_equal(vm_stats()->drops[VSW_DROP_OVERSIZE], 1);   /* larger than the port MTU */
	assert_int_equal(vswitch_port_set_mtu(runner->sw, vnet_port_id(vp), 9000), 0);
	peer_send(fr, 1600);
	assert_int_equal(vm_stats()->drops[VSW_DROP_TX_FULL], 1);
	assert_int_equal(drain_used(&rxd, lens, 8), 0);   /* the buffer was put back, not consumed */
	len = peer_send(fr, 100);
	assert_int_equal(drain_used(&rxd, lens, 8), 1);
	assert_int_equal(lens[0], 12 + len);
	/* ring empty: dropped and counted, nothing breaks */
	peer_send(fr, 100);
	assert_int_equal(vm_stats()->drops[VSW_DROP_TX_FULL], 2);
	assert_false(rxq.broken);
}

static void test_rx_mergeable(void **state)
{
	uint8_t fr[2048], got[2048];
	struct vring_buf b;
	uint32_t lens[8], len, total = 0;
	uint64_t bufs[6];
	const uint8_t *h;

	(void)state;
	start(1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_NET_F_MRG_RXBUF);
	for (int i = 0; i < 6; i++) {
		bufs[i] = alloc_data(100);
		b = (struct vring_buf){ bufs[i], 100, true };
		assert_true(vring_drv_add(&rxd, &b, 1, false, NULL) >= 0);
	}
	len = peer_send(fr, 300 - 14);    /* 300-byte frame + 12-byte header = 4 buffers */
	assert_int_equal(len, 300);
	assert_int_equal(drain_used(&rxd, lens, 8), 4);
	assert_int_equal(lens[0], 100);
	assert_int_equal(lens[1], 100);
	assert_int_equal(lens[2], 100);
	assert_int_equal(lens[3], 12);
	h = gpa(bufs[0]);
	assert_int_equal(h[10] | h[11] << 8, 4);
	for (int i = 0; i < 4; i++) {
		memcpy(got + total, gpa(bufs[i]), lens[i]);
		total += lens[i];
	}
	assert_int_equal(total, 312);
	assert_memory_equal(got + 12, fr, 300);
	/* two buffers left (200 bytes) cannot hold 312: both go back, the frame is counted */
	peer_send(fr, 300 - 14);
	assert_int_equal(drain_used(&rxd, lens, 8), 0);
	assert_int_equal(vm_stats()->drops[VSW_DROP_TX_FULL], 1);
	/* ... and a small frame still uses the first of them */
	len = peer_send(fr, 50);
	assert_int_equal(drain_used(&rxd, lens, 8), 1);
	assert_int_equal(lens[0], 12 + len);
	assert_memory_equal((uint8_t *)gpa(bufs[4]) + 12, fr, len);
}

static void test_rx_garbage(void **state)
{
	uint8_t fr[256];
	struct vring_buf b[2];
	uint32_t lens[8];
	uint64_t a = alloc_data(256);

	(void)state;
	start(1ull << VIRTIO_F_VERSION_1);
	/* a receive buffer that is device-readable: handed back empty, frame dropped and counted */
	b[0] = (struct vring_buf){ a, 64, false };
	b[1] = (struct vring_buf){ a + 64, 128, true };
	assert_true(vring_drv_add(&rxd, b, 2, false, NULL) >= 0);
	/* a good one behind it still receives the next frame */
	b[0] = (struct vring_buf){ a + 128, 128, true };
	assert_true(vring_drv_add(&rxd, b, 1, false, NULL) >= 0);
	peer_send(fr, 46);
	assert_int_equal(vm_stats()->drops[VSW_DROP_BAD_DESC], 1);
	peer_send(fr, 46);
	assert_int_equal(drain_used(&rxd, lens, 8), 2);
	assert_int_equal(lens[0], 0);
	assert_int_equal(lens[1], 12 + 60);
	assert_int_equal(vm_stats()->tx_packets, 2);   /* the dropped one counts as taken (and as bad_desc) */
	/* config space: MAC, link up, one queue pair, MTU */
	{
		uint8_t cfg[12];

		assert_int_equal(stub_dev.ops->get_config(&stub_dev, 0, cfg, sizeof(cfg)), 0);
		assert_int_equal(cfg[5], 0x42);
		assert_int_equal(cfg[6], 1);
		assert_int_equal(cfg[8], 1);
		assert_int_equal(cfg[10] | cfg[11] << 8, 1500);
	}
}

static int setup_mq(void **state)
{
	setup_pairs = 2;
	setup(state);
	setup_pairs = 1;
	return 0;
}

static int teardown_mq(void **state)
{
	stub_dev.ops->queue_stop(&stub_dev, 2, &rxq1);
	stub_dev.ops->queue_stop(&stub_dev, 3, &txq1);
	vring_drv_free(&rxd1);
	vring_drv_free(&txd1);
	return teardown(state);
}

/* One UDP/IPv4 broadcast frame of flow `sport` from the peer. */
static void peer_flow(uint16_t sport)
{
	struct tf_spec sp = { .dst = MAC_BCAST, .src = MAC_A, .vid = -1, .ip_ver = 4, .sip = "10.0.0.1",
			      .dip = "10.0.0.2", .proto = 17, .sport = sport, .dport = 9, .payload = 18 };
	struct vsw_frame *f = vswitch_frame_alloc(runner->sw);

	f->len = tf_build(f->data, &sp);
	vswitch_input(runner->sw, peer_id, &f, 1);
}

static void post_rx_bufs(struct vring_drv *d, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct vring_buf b = { alloc_data(1536), 1536, true };

		assert_true(vring_drv_add(d, &b, 1, false, NULL) >= 0);
	}
}

static void test_mq(void **state)
{
	uint8_t fr[256];
	uint32_t len = build_frame(fr, 46), lens[32];
	struct vring_buf b[2];
	unsigned on0, on1;
	char *js;

	(void)state;
	assert_int_equal(stub_dev.ops->num_queues(&stub_dev), 4);
	assert_int_equal(stub_dev.ops->queue_num(&stub_dev), 2);
	assert_true(stub_dev.ops->get_features(&stub_dev) & (1ull << 22));   /* VIRTIO_NET_F_MQ */
	{
		uint8_t cfg[12];

		assert_int_equal(stub_dev.ops->get_config(&stub_dev, 0, cfg, sizeof(cfg)), 0);
		assert_int_equal(cfg[8], 2);   /* max_virtqueue_pairs */
	}
	start(1ull << VIRTIO_F_VERSION_1);
	ring_init(&rxd1, &rxq1, RX1_RING, 1ull << VIRTIO_F_VERSION_1);
	ring_init(&txd1, &txq1, TX1_RING, 1ull << VIRTIO_F_VERSION_1);
	stub_dev.vq[2] = &rxq1;
	stub_dev.vq[3] = &txq1;
	assert_int_equal(stub_dev.ops->queue_start(&stub_dev, 2, &rxq1), 0);
	assert_int_equal(stub_dev.ops->queue_start(&stub_dev, 3, &txq1), 0);
	assert_int_equal(stub_dev.ops->queue_start(&stub_dev, 4, &txq1), -1);   /* no third pair */

	/* transmit: each queue is taken from on its own */
	post_tx(fr, len, 0, 1);
	b[0] = (struct vring_buf){ alloc_data(12), 12, false };
	b[1] = (struct vring_buf){ alloc_data(len), len, false };
	memset(gpa(b[0].addr), 0, 12);
	memcpy(gpa(b[1].addr), fr, len);
	assert_true(vring_drv_add(&txd1, b, 2, false, NULL) >= 0);
	assert_true(vring_drv_add(&txd1, b, 2, false, NULL) >= 0);
	assert_int_equal(stub_dev.ops->queue_poll(&stub_dev, 3, &txq1, 32), 2);
	assert_int_equal(stub_dev.ops->queue_poll(&stub_dev, 1, &txq, 32), 1);
	assert_int_equal(peer_n, 3);
	assert_int_equal(drain_used(&txd1, lens, 8), 2);

	/* receive: 16 flows spread over both queues; one flow always lands on the same queue */
	post_rx_bufs(&rxd, 24);
	post_rx_bufs(&rxd1, 24);
	for (uint16_t f = 0; f < 16; f++)
		peer_flow((uint16_t)(1000 + f));
	on0 = drain_used(&rxd, lens, 32);
	on1 = drain_used(&rxd1, lens, 32);
	assert_int_equal(on0 + on1, 16);
	assert_true(on0 > 0 && on1 > 0);
	for (int i = 0; i < 4; i++)
		peer_flow(4242);
	on0 = drain_used(&rxd, lens, 32);
	on1 = drain_used(&rxd1, lens, 32);
	assert_true((on0 == 4 && on1 == 0) || (on0 == 0 && on1 == 4));

	/* per-pair counters in the switch's JSON (to the port = tx, from it = rx) */
	js = vswitch_stats_json(runner->sw);
	assert_non_null(js);
	assert_non_null(strstr(js, "\"queues\":[{"));
	assert_non_null(strstr(js, "\"rx_packets\":1}"));   /* pair 0 sent one frame */
	assert_non_null(strstr(js, "\"rx_packets\":2}"));   /* pair 1 sent two */
	free(js);

	/* receive queue 1 stopped (the driver runs one pair): every flow goes to queue 0 */
	stub_dev.ops->queue_stop(&stub_dev, 2, &rxq1);
	for (uint16_t f = 0; f < 8; f++)
		peer_flow((uint16_t)(2000 + f));
	assert_int_equal(drain_used(&rxd, lens, 32), 8);
	assert_int_equal(drain_used(&rxd1, lens, 32), 0);
	stub_dev.ops->queue_start(&stub_dev, 2, &rxq1);
}

/* ---- burst phases ---- */

static uint8_t big[9200];

/* A frame of `len` bytes (>= 14): broadcast from MAC_A, a pattern that depends on len after the
 * Ethernet header. */
static void make_frame(uint8_t *fr, uint32_t len)
{
	build_frame(big, 46);
	memcpy(fr, big, 14);
	for (uint32_t i = 14; i < len; i++)
		fr[i] = (uint8_t)(i * 13 + len);
}

/* Post a TX chain for fr[0, len) in one of three layouts: 0 = header and frame in one descriptor
 * (the inline fast path), 1 = header, then the frame, 2 = header and the frame's start in one
 * descriptor, the rest cut in two at len-dependent points. */
static void post_tx_layout(const uint8_t *fr, uint32_t len, unsigned layout)
{
	uint64_t a = alloc_data(12 + len);
	uint8_t *p = gpa(a);
	struct vring_buf b[3];
	unsigned nb;

	memset(p, 0, 12);
	memcpy(p + 12, fr, len);
	if (layout == 0) {
		b[0] = (struct vring_buf){ a, 12 + len, false };
		nb = 1;
	} else if (layout == 1) {
		b[0] = (struct vring_buf){ a, 12, false };
		b[1] = (struct vring_buf){ a + 12, len, false };
		nb = 2;
	} else {
		uint32_t c1 = 12 + len % 17, c2 = (12 + len - c1) / 2;

		b[0] = (struct vring_buf){ a, c1, false };
		b[1] = (struct vring_buf){ a + c1, c2, false };
		b[2] = (struct vring_buf){ a + c1 + c2, 12 + len - c1 - c2, false };
		nb = 3;
	}
	assert_true(vring_drv_add(&txd, b, nb, false, NULL) >= 0);
}

static void test_tx_every_length(void **state)
{
	static uint8_t fr[2048], expect[32][2048];
	uint32_t lens[64];

	(void)state;
	start(1ull << VIRTIO_F_VERSION_1);
	for (unsigned layout = 0; layout < 3; layout++) {
		for (uint32_t len = 14; len <= 1514;) {
			unsigned n = 0;

			peer_n = 0;
			data_next = DATA;
			for (; n < 32 && len <= 1514; n++, len++) {
				make_frame(fr, len);
				memcpy(expect[n], fr, len);
				post_tx_layout(fr, len, layout);
			}
			assert_int_equal(stub_dev.ops->queue_poll(&stub_dev, 1, &txq, 32), n);
			assert_int_equal(peer_n, n);
			for (unsigned i = 0; i < n; i++) {
				assert_int_equal(peer_len[i], len - n + i);
				assert_memory_equal(peer_data[i], expect[i], peer_len[i]);
			}
			assert_int_equal(drain_used(&txd, lens, 64), n);
		}
	}
	assert_int_equal(vm_stats()->rx_packets, 3 * (1514 - 14 + 1));
	assert_false(txq.broken);
}

/* The peer sends frames of lengths first..first+n-1 (n <= 32) in one burst; they flood to vm0. */
static void peer_burst(uint32_t first, unsigned n, uint8_t (*sent)[2048])
{
	struct vsw_frame *f[32];

	for (unsigned i = 0; i < n; i++) {
		f[i] = vswitch_frame_alloc(runner->sw);
		assert_non_null(f[i]);
		make_frame(f[i]->data, first + i);
		f[i]->len = first + i;
		if (sent)
			memcpy(sent[i], f[i]->data, f[i]->len);
	}
	vswitch_input(runner->sw, peer_id, f, n);
}

/* Receive buffers of one layout, tokens 1.. in order: 0 = one 1536-byte descriptor (the inline fast
 * path), 1 = a chain of two writable descriptors 700 + 836 bytes. */
static void post_rx_layout(unsigned n, unsigned layout, uint64_t *addr)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t a = alloc_data(1536);
		struct vring_buf b[2] = { { a, 1536, true } };

		addr[i] = a;
		if (layout == 1) {
			b[0].len = 700;
			b[1] = (struct vring_buf){ a + 700, 836, true };
		}
		assert_true(vring_drv_add(&rxd, b, layout == 1 ? 2 : 1, false, (void *)(uintptr_t)(i + 1)) >= 0);
	}
}

static void test_rx_every_length(void **state)
{
	static uint8_t sent[32][2048];
	uint64_t addr[32];

	(void)state;
	start(1ull << VIRTIO_F_VERSION_1);
	for (unsigned layout = 0; layout < 2; layout++) {
		for (uint32_t len = 14; len <= 1514;) {
			unsigned n = 1514 - len + 1 < 32 ? 1514 - len + 1 : 32;

			data_next = DATA;
			post_rx_layout(n, layout, addr);
			peer_burst(len, n, sent);
			for (unsigned i = 0; i < n; i++) {
				const uint8_t *h = gpa(addr[i]);
				uint32_t ulen;
				void *tok;

				assert_int_equal(vring_drv_get_used(&rxd, &ulen, &tok), 1);
				assert_int_equal((uintptr_t)tok, i + 1);
				assert_int_equal(ulen, 12 + len + i);
				assert_int_equal(h[0] | h[1] | h[2] | h[3] | h[4] | h[5] | h[6] | h[7] | h[8] | h[9], 0);
				assert_int_equal(h[10] | h[11] << 8, 1);
				assert_memory_equal(h + 12, sent[i], len + i);
			}
			len += n;
		}
	}
	assert_int_equal(vm_stats()->tx_packets, 2 * (1514 - 14 + 1));
	assert_int_equal(vm_stats()->drops[VSW_DROP_TX_FULL], 0);
	assert_false(rxq.broken);
}

/* 32 frames of 300 bytes in 100-byte mergeable buffers: 4 chains each, 128 > the 96 chains popped
 * per sub-burst; every frame arrives whole, in order, with num_buffers 4. */
static void test_rx_scratch_sub_burst(void **state)
{
	static uint8_t sent[32][2048];
	uint64_t addr[128];
	uint8_t got[400];

	(void)state;
	start(1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_NET_F_MRG_RXBUF);
	for (unsigned i = 0; i < 128; i++) {
		struct vring_buf b = { alloc_data(100), 100, true };

		addr[i] = b.addr;
		assert_true(vring_drv_add(&rxd, &b, 1, false, NULL) >= 0);
	}
	{
		struct vsw_frame *f[32];

		for (unsigned i = 0; i < 32; i++) {
			f[i] = vswitch_frame_alloc(runner->sw);
			make_frame(f[i]->data, 300);
			f[i]->data[20] = (uint8_t)i;
			f[i]->len = 300;
			memcpy(sent[i], f[i]->data, 300);
		}
		vswitch_input(runner->sw, peer_id, f, 32);
	}
	assert_int_equal(vm_stats()->tx_packets, 32);
	for (unsigned i = 0; i < 32; i++) {
		uint32_t total = 0;

		for (unsigned k = 0; k < 4; k++) {
			uint32_t ulen;
			void *tok;

			assert_int_equal(vring_drv_get_used(&rxd, &ulen, &tok), 1);
			assert_int_equal(ulen, k < 3 ? 100 : 12);
			memcpy(got + total, gpa(addr[4 * i + k]), ulen);
			total += ulen;
		}
		assert_int_equal(got[10] | got[11] << 8, 4);
		assert_memory_equal(got + 12, sent[i], 300);
	}
	assert_false(rxq.broken);
}

/* A chain pointing outside guest memory in the middle of a TX burst: the chains before it are
 * switched, the transmit queue is broken (nothing after it is served), the receive queue still
 * works. */
static void test_tx_bad_mid_burst(void **state)
{
	static uint8_t fr[2048];
	struct vring_buf b = { MEM_GPA + MEM_SIZE - 8, 76, false };
	uint64_t addr[1];

	(void)state;
	start(1ull << VIRTIO_F_VERSION_1);
	for (unsigned i = 0; i < 3; i++) {
		make_frame(fr, 64 + i);
		post_tx_layout(fr, 64 + i, 0);
	}
	assert_true(vring_drv_add(&txd, &b, 1, false, NULL) >= 0);
	for (unsigned i = 0; i < 3; i++) {
		make_frame(fr, 64);
		post_tx_layout(fr, 64, 0);
	}
	stub_dev.ops->queue_poll(&stub_dev, 1, &txq, 32);
	assert_int_equal(peer_n, 3);
	for (unsigned i = 0; i < 3; i++) {
		make_frame(fr, 64 + i);
		assert_int_equal(peer_len[i], 64 + i);
		assert_memory_equal(peer_data[i], fr, 64 + i);
	}
	assert_true(txq.broken);
	assert_int_equal(stub_dev.ops->queue_poll(&stub_dev, 1, &txq, 32), 0);
	assert_int_equal(peer_n, 3);
	/* the receive queue of the same port is untouched */
	post_rx_layout(1, 0, addr);
	peer_burst(80, 1, NULL);
	assert_int_equal(vm_stats()->tx_packets, 1);
	assert_false(rxq.broken);
}

/* Receive bursts with a malformed chain in the middle: a device-readable one is handed back empty
 * and its frame counted as bad_desc while the others of the burst arrive; one outside guest memory
 * breaks the receive queue only (the transmit queue still works). */
static void test_rx_bad_mid_burst(void **state)
{
	static uint8_t sent[32][2048], fr[2048];
	uint64_t good[5];
	struct vring_buf bad = { 0, 1536, false };
	uint32_t ulen;
	void *tok;

	(void)state;
	start(1ull << VIRTIO_F_VERSION_1);
	for (unsigned i = 0; i < 5; i++) {
		struct vring_buf b = { alloc_data(1536), 1536, true };

		good[i] = b.addr;
		if (i == 2) {
			bad.addr = b.addr;
			b = bad;
		}
		assert_true(vring_drv_add(&rxd, &b, 1, false, (void *)(uintptr_t)(i + 1)) >= 0);
	}
	peer_burst(100, 5, sent);
	assert_int_equal(vm_stats()->drops[VSW_DROP_BAD_DESC], 1);
	assert_int_equal(vm_stats()->tx_packets, 5);   /* the dropped one counts as taken */
	for (unsigned i = 0; i < 5; i++) {
		assert_int_equal(vring_drv_get_used(&rxd, &ulen, &tok), 1);
		assert_int_equal((uintptr_t)tok, i + 1);
		if (i == 2) {
			assert_int_equal(ulen, 0);
			continue;
		}
		assert_int_equal(ulen, 12 + 100 + i);
		assert_memory_equal((uint8_t *)gpa(good[i]) + 12, sent[i], 100 + i);
	}
	assert_false(rxq.broken);
	/* now a buffer outside guest memory between two good ones */
	{
		struct vring_buf b[3] = { { alloc_data(1536), 1536, true },
					  { MEM_GPA + MEM_SIZE - 100, 1536, true },
					  { alloc_data(1536), 1536, true } };

		for (unsigned i = 0; i < 3; i++)
			assert_true(vring_drv_add(&rxd, &b[i], 1, false, NULL) >= 0);
	}
	peer_burst(100, 3, NULL);
	assert_true(rxq.broken);
	/* the transmit queue of the port still forwards */
	make_frame(fr, 90);
	post_tx_layout(fr, 90, 0);
	assert_int_equal(stub_dev.ops->queue_poll(&stub_dev, 1, &txq, 32), 1);
	assert_int_equal(peer_n, 1);
	assert_memory_equal(peer_data[0], fr, 90);
	assert_false(txq.broken);
}

/* VIRTIO_F_IN_ORDER (offered; DPDK's virtio PMD then frees descriptors by count): every chain is
 * used in the order it was made available, through a receive burst that mixes a one-buffer frame, a
 * frame over four mergeable buffers, a device-readable buffer (dropped, used empty) and a frame
 * refused for want of buffers (its chains go back and are used first later), and through a transmit
 * burst. The tokens come back 1, 2, 3... and used entry i names the head of avail entry i. */
static void used_in_avail_order(const struct vring_drv *d, unsigned n)
{
	const struct vring_avail *a = d->driver;
	const struct vring_used *u = d->device;

	assert_int_equal(u->idx, n);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(u->ring[i].id, a->ring[i]);
}

static void test_in_order(void **state)
{
	uint8_t fr[2048];
	uint32_t ulen;
	void *tok;
	unsigned next = 1;

	(void)state;
	assert_true(stub_dev.ops->get_features(&stub_dev) & (1ull << VIRTIO_F_IN_ORDER));
	start(1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_NET_F_MRG_RXBUF | 1ull << VIRTIO_F_IN_ORDER);
	for (unsigned i = 1; i <= 10; i++) {
		struct vring_buf b = { alloc_data(100), 100, i != 6 };   /* token 6: device-readable */

		assert_true(vring_drv_add(&rxd, &b, 1, false, (void *)(uintptr_t)i) >= 0);
	}
	{
		static const uint32_t lens[5] = { 60, 300, 60, 60, 300 };   /* buffers 1, 2-5, 6, 7, 8-11 */
		struct vsw_frame *f[5];

		for (unsigned i = 0; i < 5; i++) {
			f[i] = vswitch_frame_alloc(runner->sw);
			make_frame(f[i]->data, lens[i]);
			f[i]->len = lens[i];
		}
		vswitch_input(runner->sw, peer_id, f, 5);
	}
	assert_int_equal(vm_stats()->drops[VSW_DROP_BAD_DESC], 1);
	assert_int_equal(vm_stats()->drops[VSW_DROP_TX_FULL], 1);
	while (vring_drv_get_used(&rxd, &ulen, &tok) == 1)
		assert_int_equal((uintptr_t)tok, next++);
	assert_int_equal(next, 8);
	/* one more buffer: the refused frame's size now fits in buffers 8-11, used before 12 */
	for (unsigned i = 11; i <= 12; i++) {
		struct vring_buf b = { alloc_data(100), 100, true };

		assert_true(vring_drv_add(&rxd, &b, 1, false, (void *)(uintptr_t)i) >= 0);
	}
	make_frame(fr, 300);
	{
		struct vsw_frame *f = vswitch_frame_alloc(runner->sw);

		memcpy(f->data, fr, 300);
		f->len = 300;
		vswitch_input(runner->sw, peer_id, &f, 1);
		f = vswitch_frame_alloc(runner->sw);
		memcpy(f->data, fr, 60);
		f->len = 60;
		vswitch_input(runner->sw, peer_id, &f, 1);
	}
	while (vring_drv_get_used(&rxd, &ulen, &tok) == 1)
		assert_int_equal((uintptr_t)tok, next++);
	assert_int_equal(next, 13);
	used_in_avail_order(&rxd, 12);
	assert_false(rxq.broken);
	/* transmit: a burst of one- and two-segment chains */
	for (unsigned i = 0; i < 6; i++) {
		make_frame(fr, 64 + i);
		post_tx_layout(fr, 64 + i, i % 2);
	}
	assert_int_equal(stub_dev.ops->queue_poll(&stub_dev, 1, &txq, 32), 6);
	assert_int_equal(peer_n, 6);
	used_in_avail_order(&txd, 6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_plain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_mergeable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mq, setup_mq, teardown_mq),
		cmocka_unit_test_setup_teardown(test_tx_every_length, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_every_length, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_scratch_sub_burst, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_bad_mid_burst, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_bad_mid_burst, setup, teardown),
		cmocka_unit_test_setup_teardown(test_in_order, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
