/* SPDX-License-Identifier: MIT */
/*
 * virtio-net: kite.seed=S. Reads the MAC and MTU from the device, posts 4 receive buffers of 2 KiB,
 * sends one broadcast frame (ethertype 0x88b5, payload "kite-net-tx-S"), then waits for a frame
 * of ethertype 0x88b5 addressed to its MAC whose payload is "kite-net-rx-S" followed by bytes
 * (i * 13 + S) & 0xff; with MRG_RXBUF a frame larger than one buffer arrives in several
 * (num_buffers), reassembled here. Frames of other types are skipped and their buffers reposted.
 */
#include "vdrv.h"

#define F_MTU 3
#define F_MAC 5
#define F_MRG_RXBUF 15
#define HDR 12
#define RX_BUFS 4
#define RX_BUF_SIZE 2048
#define ETHERTYPE 0x88b5

static uint8_t rx_buf[RX_BUFS][RX_BUF_SIZE] __attribute__((aligned(4096)));
static uint8_t tx_buf[HDR + 128];
static uint8_t frame[RX_BUFS * RX_BUF_SIZE];

static void post_rx(struct vdev *rx, uint16_t i)
{
	struct vring_desc *desc = vq_desc(rx);

	desc[i].addr = (uint64_t)(uintptr_t)rx_buf[i];
	desc[i].len = RX_BUF_SIZE;
	desc[i].flags = VRING_DESC_F_WRITE;
	desc[i].next = 0;
	vq_publish(rx, i);
}

/* Next used element of rx: its id and length. */
static bool rx_next(struct vdev *rx, uint32_t *id, uint32_t *len)
{
	if (!vq_wait(rx, len))
		return false;
	*id = rx->last_id;
	return *id < RX_BUFS;
}

static void fmt_text(char *dst, const char *prefix, uint64_t seed)
{
	size_t n = strlen(prefix);
	char digits[24];
	int k = 0;

	memcpy(dst, prefix, n);
	do {
		digits[k++] = (char)('0' + seed % 10);
		seed /= 10;
	} while (seed);
	while (k)
		dst[n++] = digits[--k];
	dst[n] = '\0';
}

void test_virtio_net(void)
{
	uint64_t seed = cmdline_u64("kite.seed", 1);
	uint64_t a;
	uint32_t l;
	bool w = false;
	struct vdev tx, rx;
	uint8_t mac[6];
	char text[48], want[48];
	uint16_t mtu;
	int r;

	if (!vdev_find(&tx, 1, 0))
		guest_fail(GUEST_EXIT_CHECK, "no virtio-net PCI device");
	r = vdev_begin(&tx, (1ULL << F_MAC) | (1ULL << F_MTU) | (1ULL << F_MRG_RXBUF));
	if (r)
		guest_fail(r, "virtio-net negotiation failed");
	if (!(tx.features & (1ULL << F_MAC)) || !(tx.features & (1ULL << F_MRG_RXBUF)))
		guest_fail(GUEST_EXIT_CHECK, "MAC or MRG_RXBUF not offered");
	for (unsigned i = 0; i < 6; i++)
		mac[i] = mmio_read8(tx.device + i);
	mtu = (tx.features & (1ULL << F_MTU)) ? mmio_read16(tx.device + 10) : 1500;
	guest_printf("virtio-net: MAC %x:%x:%x:%x:%x:%x MTU %u\n", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], mtu);
	rx = tx;
	rx.qidx = 0;
	tx.qidx = 1;
	if (vdev_queue(&rx, 2) || vdev_queue(&tx, 3) || vdev_go(&tx))
		guest_fail(GUEST_EXIT_CHECK, "virtio-net queues did not start");
	for (uint16_t i = 0; i < RX_BUFS; i++)
		post_rx(&rx, i);

	/* transmit */
	memset(tx_buf, 0, sizeof(tx_buf));
	memset(tx_buf + HDR, 0xff, 6);
	memcpy(tx_buf + HDR + 6, mac, 6);
	tx_buf[HDR + 12] = ETHERTYPE >> 8;
	tx_buf[HDR + 13] = ETHERTYPE & 0xff;
	fmt_text(text, "kite-net-tx-", seed);
	memcpy(tx_buf + HDR + 14, text, strlen(text) + 1);
	a = (uint64_t)(uintptr_t)tx_buf;
	l = HDR + 60;
	vq_submit(&tx, &a, &l, &w, 1);
	if (!vq_wait(&tx, 0))
		guest_fail(GUEST_EXIT_TIMEOUT, "transmit did not complete");
	guest_printf("virtio-net: sent \"%s\"\n", text);

	/* receive */
	fmt_text(want, "kite-net-rx-", seed);
	for (unsigned frames = 0; frames < 64; frames++) {
		uint32_t id, len, total;
		uint16_t nbufs;
		size_t tl = strlen(want);

		if (!rx_next(&rx, &id, &len))
			guest_fail(GUEST_EXIT_TIMEOUT, "no frame received");
		if (len < HDR || len > RX_BUF_SIZE)
			guest_fail(GUEST_EXIT_CHECK, "used length %u of a receive buffer", len);
		nbufs = (uint16_t)(rx_buf[id][10] | rx_buf[id][11] << 8);
		if (nbufs < 1 || nbufs > RX_BUFS)
			guest_fail(GUEST_EXIT_CHECK, "num_buffers %u", nbufs);
		memcpy(frame, rx_buf[id] + HDR, len - HDR);
		total = len - HDR;
		post_rx(&rx, (uint16_t)id);
		for (unsigned b = 1; b < nbufs; b++) {
			if (!rx_next(&rx, &id, &len) || len > RX_BUF_SIZE)
				guest_fail(GUEST_EXIT_CHECK, "merged buffer %u of %u missing", b, nbufs);
			memcpy(frame + total, rx_buf[id], len);
			total += len;
			post_rx(&rx, (uint16_t)id);
		}
		if (total < 14 + tl || frame[12] != (ETHERTYPE >> 8) || frame[13] != (ETHERTYPE & 0xff) ||
		    memcmp(frame, mac, 6))
			continue;     /* someone else's frame */
		if (memcmp(frame + 14, want, tl))
			guest_fail(GUEST_EXIT_CHECK, "frame payload is not \"%s\"", want);
		for (uint32_t i = 14 + (uint32_t)tl; i < total; i++)
			if (frame[i] != (uint8_t)((i * 13 + seed) & 0xff))
				guest_fail(GUEST_EXIT_CHECK, "frame byte %u is 0x%x", i, frame[i]);
		guest_printf("virtio-net: received \"%s\", %u bytes in %u buffers (fnv1a 0x%x)\n", want, total, nbufs,
			     fnv1a32(frame, total, 2166136261u));
		return;
	}
	guest_fail(GUEST_EXIT_CHECK, "64 frames and none for us");
}
