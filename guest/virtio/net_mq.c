/* SPDX-License-Identifier: MIT */
/*
 * virtio-net-mq: a multiqueue virtio-net (VIRTIO_NET_F_MQ + CTRL_VQ) on a multiqueue TAP; the host
 * side is tests/virtio/net/net_mq.py. Every queue pair of max_virtqueue_pairs (2..4) and the
 * control queue are set up, 2 KiB receive buffers posted on every receive queue (no MRG_RXBUF).
 *  1. the control-queue checks of net_ctrl.c (VQ_PAIRS_SET 0, max+1, 65535, wrong data lengths,
 *     classes not offered: VIRTIO_NET_ERR), ending with 1 pair;
 *  2. VQ_PAIRS_SET max, then kite.mq_tx=K broadcast frames of ethertype 0x88b5 on each pair's
 *     transmit queue, payload "kmq" + pair + sequence (16 bits); line "virtio-net-mq: sent K frames
 *     on pair P" each;
 *  3. line "virtio-net-mq: ready for N frames on P pairs", then UDP frames to port 7001 are counted
 *     per receive queue until kite.mq_rx=N arrived: "virtio-net-mq: received N frames, per queue:
 *     a b c d" (fails after 30 s without them, printing the counts so far);
 *  4. kite.mq_fewer=F: VQ_PAIRS_SET F, then 3 again ("ready for N frames on F pairs").
 *  kite.mq_nocvq=1 instead: MQ negotiated without CTRL_VQ; the device must report
 *     DEVICE_NEEDS_RESET once the driver is running.
 *  kite.mq_unready=1 instead: pair 0 and the control queue set up, the other pairs not; VQ_PAIRS_SET
 *     max all the same (the device cannot tell), line "virtio-net-mq: ready with pairs 1.. not set
 *     up", then once a UDP frame to port 7001 arrived on queue 0 the guest waits 6e9 TSC cycles
 *     (frames the TAP steered to the pairs not set up must not keep the device's thread busy) and
 *     prints "virtio-net-mq: N frames on queue 0 with pairs 1.. not set up".
 */
#include "vdrv.h"

#define F_MAC 5
#define F_CTRL_VQ 17
#define F_MQ 22
#define HDR 12
#define MQ_PAIRS 4
#define RX_BUFS 8
#define RX_BUF_SIZE 2048

static uint8_t rx_buf[MQ_PAIRS][RX_BUFS][RX_BUF_SIZE] __attribute__((aligned(4096)));
static uint8_t tx_buf[HDR + 64] __attribute__((aligned(64)));
static struct vdev rxq[MQ_PAIRS], txq[MQ_PAIRS], ctrl;
static uint8_t my_mac[6];

static void post(unsigned p, uint16_t i)
{
	struct vring_desc *desc = vq_desc(&rxq[p]);

	desc[i].addr = (uint64_t)(uintptr_t)rx_buf[p][i];
	desc[i].len = RX_BUF_SIZE;
	desc[i].flags = VRING_DESC_F_WRITE;
	desc[i].next = 0;
	vq_publish(&rxq[p], i);
}

static void send_tagged(unsigned p, uint16_t seq)
{
	uint8_t *f = tx_buf + HDR;
	uint64_t a = (uint64_t)(uintptr_t)tx_buf;
	uint32_t l = HDR + 60;
	bool w = false;

	memset(tx_buf, 0, sizeof(tx_buf));
	memset(f, 0xff, 6);
	memcpy(f + 6, my_mac, 6);
	f[12] = 0x88;
	f[13] = 0xb5;
	f[14] = 'k';
	f[15] = 'm';
	f[16] = 'q';
	f[17] = (uint8_t)p;
	f[18] = (uint8_t)(seq >> 8);
	f[19] = (uint8_t)seq;
	vq_submit(&txq[p], &a, &l, &w, 1);
	if (!vq_wait(&txq[p], 0))
		guest_fail(GUEST_EXIT_TIMEOUT, "transmit on pair %u did not complete", p);
}

static void set_pairs(uint16_t n)
{
	uint8_t v[2] = { (uint8_t)n, (uint8_t)(n >> 8) };
	int r = net_ctrl_cmd(&ctrl, 4, 0, v, 2);

	if (r != 0)
		guest_fail(GUEST_EXIT_CHECK, "VQ_PAIRS_SET %u: status %d", n, r);
	guest_printf("virtio-net-mq: VQ_PAIRS_SET %u -> OK\n", n);
}

/* Count UDP frames to port 7001 per receive queue (all max pairs watched) until `want` arrived. */
static void receive_round(unsigned max, unsigned active, uint64_t want)
{
	uint64_t count[MQ_PAIRS] = { 0 }, got = 0, t0;

	guest_printf("virtio-net-mq: ready for %lu frames on %u pairs\n", want, active);
	t0 = rdtsc();
	while (got < want) {
		for (unsigned p = 0; p < max; p++) {
			uint32_t len, id;
			const uint8_t *f;

			if (!vq_wait_cycles(&rxq[p], &len, 0))
				continue;
			id = rxq[p].last_id;
			if (id >= RX_BUFS || len < HDR + 42 || len > RX_BUF_SIZE) {
				if (id < RX_BUFS)
					post(p, (uint16_t)id);
				continue;
			}
			f = rx_buf[p][id] + HDR;
			if (f[12] == 0x08 && f[13] == 0x00 && f[23] == 17 && f[36] == 0x1b && f[37] == 0x59) {
				count[p]++;
				got++;
			}
			post(p, (uint16_t)id);
		}
		if (rdtsc() - t0 > 30ULL * 1000 * 1000 * 1000)
			break;
	}
	guest_printf("virtio-net-mq: received %lu frames, per queue:", got);
	for (unsigned p = 0; p < max; p++)
		guest_printf(" %lu", count[p]);
	guest_printf("\n");
	if (got < want)
		guest_fail(GUEST_EXIT_TIMEOUT, "received %lu of %lu frames", got, want);
}

/* kite.mq_unready=1: only pair 0 is set up (see the header). */
static void unready_pairs(uint16_t max)
{
	uint64_t got = 0, t0;

	set_pairs(max);
	guest_printf("virtio-net-mq: ready with pairs 1.. not set up\n");
	t0 = rdtsc();
	while (!got || rdtsc() - t0 < 6000ULL * 1000 * 1000) {
		uint32_t len, id;

		if (!got && rdtsc() - t0 > 30ULL * 1000 * 1000 * 1000)
			guest_fail(GUEST_EXIT_TIMEOUT, "no frame on queue 0");
		if (!vq_wait_cycles(&rxq[0], &len, 0))
			continue;
		id = rxq[0].last_id;
		if (id >= RX_BUFS)
			guest_fail(GUEST_EXIT_CHECK, "used element id %u", id);
		if (!got)
			t0 = rdtsc();
		got++;
		post(0, (uint16_t)id);
	}
	guest_printf("virtio-net-mq: %lu frames on queue 0 with pairs 1.. not set up\n", got);
}

void test_virtio_net_mq(void)
{
	bool nocvq = cmdline_u64("kite.mq_nocvq", 0), unready = cmdline_u64("kite.mq_unready", 0);
	uint64_t want = (1ULL << F_MAC) | (1ULL << F_MQ) | (nocvq ? 0 : 1ULL << F_CTRL_VQ);
	uint64_t ntx = cmdline_u64("kite.mq_tx", 4), nrx = cmdline_u64("kite.mq_rx", 32);
	uint64_t fewer = cmdline_u64("kite.mq_fewer", 0);
	struct vdev d;
	unsigned max, ring = 0;
	int r;

	if (!vdev_find(&d, 1, 0))
		guest_fail(GUEST_EXIT_CHECK, "no virtio-net PCI device");
	r = vdev_begin(&d, want);
	if (r)
		guest_fail(r, "virtio-net negotiation failed");
	if ((d.features & want) != want)
		guest_fail(GUEST_EXIT_CHECK, "features 0x%lx offered, 0x%lx wanted (MQ, CTRL_VQ)", d.features, want);
	max = mmio_read16(d.device + 8);
	if (max < 2 || max > MQ_PAIRS)
		guest_fail(GUEST_EXIT_CHECK, "max_virtqueue_pairs %u (2..%u expected)", max, MQ_PAIRS);
	if (fewer > max || ntx > 1000 || nrx > 100000)
		guest_fail(GUEST_EXIT_USAGE, "kite.mq_fewer=%lu (at most %u), kite.mq_tx at most 1000", fewer, max);
	for (unsigned i = 0; i < 6; i++)
		my_mac[i] = mmio_read8(d.device + i);
	for (unsigned p = 0; p < (unready ? 1 : max); p++) {
		rxq[p] = d;
		rxq[p].qidx = (uint16_t)(2 * p);
		txq[p] = d;
		txq[p].qidx = (uint16_t)(2 * p + 1);
		if (vdev_queue(&rxq[p], ring++) || vdev_queue(&txq[p], ring++))
			guest_fail(GUEST_EXIT_CHECK, "queue pair %u did not start", p);
	}
	if (!nocvq) {
		ctrl = d;
		ctrl.qidx = (uint16_t)(2 * max);
		if (vdev_queue(&ctrl, ring++))
			guest_fail(GUEST_EXIT_CHECK, "control queue %u did not start", 2 * max);
	}
	if (vdev_go(&d))
		guest_fail(GUEST_EXIT_CHECK, "virtio-net did not start");
	if (nocvq) {
		vdev_wait_needs_reset(&d, "MQ without CTRL_VQ");
		return;
	}
	for (unsigned p = 0; p < (unready ? 1 : max); p++)
		for (uint16_t i = 0; i < RX_BUFS; i++)
			post(p, i);
	guest_printf("virtio-net-mq: %u queue pairs, control queue %u\n", max, 2 * max);
	if (unready) {
		unready_pairs((uint16_t)max);
		return;
	}
	net_ctrl_checks(&ctrl, (uint16_t)max);
	set_pairs((uint16_t)max);
	for (unsigned p = 0; p < max; p++) {
		for (uint64_t s = 0; s < ntx; s++)
			send_tagged(p, (uint16_t)s);
		guest_printf("virtio-net-mq: sent %lu frames on pair %u\n", ntx, p);
	}
	receive_round(max, max, nrx);
	if (fewer) {
		set_pairs((uint16_t)fewer);
		receive_round(max, (unsigned)fewer, nrx);
	}
}
