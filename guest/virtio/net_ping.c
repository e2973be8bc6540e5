/* SPDX-License-Identifier: MIT */
/*
 * virtio-net-ping: the guest talks to a real Linux network stack through kite's virtio-net and a
 * TAP. The guest is 192.0.2.2 (kite.ip_last=N changes the last byte), the peer 192.0.2.1
 * (kite.peer_ip_last=N changes its last byte).
 *  kite.ping_loop=N: after step 2, instead of 3-6, echo requests to the peer's MAC learnt in step 2
 *     until N are answered (0 = forever; lines "loop echo SEQ answered|unanswered", ARP requests
 *     for the guest answered meanwhile): a backend restart under a guest whose neighbour cache holds
 *     the peer (tests/vhost/net_restart.py).
 *  kite.respond=1: instead of 1-6, answer ARP requests for the guest's address and ICMP echo
 *     requests to it (one line per echo answered) until kite.respond_count=N echoes were answered
 *     (0, the default: forever); the peer of another test guest (VM to VM, tests/vhost/eastwest.py).
 *  1. kite.oversize=1: sends one frame of MTU + 118 bytes without GSO first (kite must drop it);
 *  2. ARP request for the peer; waits for the ARP reply and prints the peer's MAC;
 *  3. ICMP echo request with kite.ping_size payload bytes (default 1200: with MRG_RXBUF and the
 *     1 KiB receive buffers used then, the reply arrives in two buffers); kite.csum=1 lets the
 *     device fill the ICMP checksum (NEEDS_CSUM, needs VIRTIO_NET_F_CSUM); waits for the reply,
 *     checks identifier, sequence and every payload byte;
 *  4. kite.flood=K: sends K broadcast frames of ethertype 0x88b5 (kite.flood_size bytes, 60..1514,
 *     default 60), each waiting for its completion;
 *  5. kite.tso=N (needs kite.csum=1): one TCP segment of N payload bytes (flags PSH only, to the
 *     closed port 9) sent as a single GSO frame (TCPV4, gso_size 1000, checksum by the device);
 *     Linux must answer with a reset acknowledging all N bytes;
 *  kite.mmio=1: the device is virtio-mmio (virtio_mmio.device= word) instead of PCI.
 *  kite.tcp_rx=N (needs MRG_RXBUF): GUEST_CSUM + GUEST_TSO4 negotiated; TCP handshake with
 *     192.0.2.1:5000 (MSS 1460, window 16000), then N bytes (pattern i * 5 % 251) are received
 *     and checked; the frame header of each data frame is looked at and the number of GSO frames
 *     printed (Linux sends one large TSO frame when the TAP offload is on);
 *  6. kite.evil=1: publishes a transmit descriptor pointing outside guest RAM; the device must
 *     report DEVICE_NEEDS_RESET; after a reset and a fresh start, ARP must work again.
 *  kite.ctrl=1: VIRTIO_NET_F_MQ and CTRL_VQ are required; the control queue (at 2 x
 *     max_virtqueue_pairs) is set up beside receive/transmit queue pair 0, and before step 2 the
 *     commands of net_ctrl.c run (VQ_PAIRS_SET max and back to 1 answered OK; 0, max+1, wrong data
 *     lengths and classes not offered answered ERR). kite.ctrl=2: then, after step 3, a control
 *     command without a status byte: the device must report DEVICE_NEEDS_RESET; after a reset and
 *     a fresh start, ARP must work again. kite.pair1=1 (with kite.ctrl): queue pair 1 is set up too
 *     (no buffers posted), so that VQ_PAIRS_SET max makes the device start its rings.
 * Frames the guest did not ask for (IPv6, others) are skipped.
 */
#include "vdrv.h"

#define F_CSUM 0
#define F_MTU 3
#define F_MAC 5
#define F_HOST_TSO4 11
#define F_GUEST_CSUM 1
#define F_GUEST_TSO4 7
#define F_MRG_RXBUF 15
#define F_CTRL_VQ 17
#define F_MQ 22
#define HDR 12
#define RX_BUFS 8
#define RX_BUF_SIZE 2048
#define MRG_BUF_SIZE 1024
#define MAX_FRAME 9216

static uint8_t rx_buf[RX_BUFS][RX_BUF_SIZE] __attribute__((aligned(4096)));
static uint8_t tx_buf[HDR + MAX_FRAME] __attribute__((aligned(64)));
static uint8_t frame[RX_BUFS * RX_BUF_SIZE];
static uint32_t rx_len_posted;
static bool rx_forever;             /* responder: wait for frames without a time limit */
static uint8_t last_hdr[HDR];       /* virtio-net header of the last received frame */
static uint8_t my_mac[6], my_ip[4] = { 192, 0, 2, 2 };
static uint8_t peer_ip[4] = { 192, 0, 2, 1 };
static struct vdev ctrlq;           /* the control queue (kite.ctrl) */
static uint16_t max_pairs = 1;

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static uint16_t inet_csum(const uint8_t *p, uint32_t len)
{
	uint32_t sum = 0;

	for (uint32_t i = 0; i + 1 < len; i += 2)
		sum += get16(p + i);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void post_rx(struct vdev *rx, uint16_t i)
{
	struct vring_desc *desc = vq_desc(rx);

	desc[i].addr = (uint64_t)(uintptr_t)rx_buf[i];
	desc[i].len = rx_len_posted;
	desc[i].flags = VRING_DESC_F_WRITE;
	desc[i].next = 0;
	vq_publish(rx, i);
}

/* Transmit tx_buf (header + len frame bytes) and wait for its completion. */
static void send_frame(struct vdev *tx, uint32_t len)
{
	uint64_t a = (uint64_t)(uintptr_t)tx_buf;
	uint32_t l = HDR + len;
	bool w = false;

	vq_submit(tx, &a, &l, &w, 1);
	if (!vq_wait(tx, 0))
		guest_fail(GUEST_EXIT_TIMEOUT, "transmit of a %u-byte frame did not complete", len);
}

/* Next received frame into `frame` (buffers reassembled and reposted), its length in *total_out;
 * false if none began within `cycles` TSC cycles. */
static bool recv_frame_within(struct vdev *rx, uint64_t cycles, uint32_t *total_out, unsigned *nbufs_out)
{
	uint32_t id, len, total;
	uint16_t nbufs = 1;
	bool mrg = rx->features & (1ULL << F_MRG_RXBUF);

	if (!vq_wait_cycles(rx, &len, cycles))
		return false;
	id = rx->last_id;
	if (id >= RX_BUFS || len < HDR || len > rx_len_posted)
		guest_fail(GUEST_EXIT_CHECK, "used element id %u length %u", id, len);
	if (mrg)
		nbufs = (uint16_t)(rx_buf[id][10] | rx_buf[id][11] << 8);
	if (nbufs < 1 || nbufs > RX_BUFS)
		guest_fail(GUEST_EXIT_CHECK, "num_buffers %u", nbufs);
	total = len - HDR;
	memcpy(last_hdr, rx_buf[id], HDR);
	memcpy(frame, rx_buf[id] + HDR, total);
	post_rx(rx, (uint16_t)id);
	for (unsigned b = 1; b < nbufs; b++) {
		if (!vq_wait(rx, &len))
			guest_fail(GUEST_EXIT_TIMEOUT, "merged buffer %u of %u missing", b, nbufs);
		id = rx->last_id;
		if (id >= RX_BUFS || len > rx_len_posted || total + len > sizeof(frame))
			guest_fail(GUEST_EXIT_CHECK, "merged buffer id %u length %u", id, len);
		memcpy(frame + total, rx_buf[id], len);
		total += len;
		post_rx(rx, (uint16_t)id);
	}
	*nbufs_out = nbufs;
	*total_out = total;
	return true;
}

/* Next received frame (see recv_frame_within), waiting as long as vq_wait does (the responder:
 * without a limit). Returns its length. */
static uint32_t recv_frame(struct vdev *rx, unsigned *nbufs_out)
{
	uint32_t total;

	while (!recv_frame_within(rx, 30ULL * 1000 * 1000 * 1000, &total, nbufs_out))
		if (!rx_forever)
			guest_fail(GUEST_EXIT_TIMEOUT, "no frame received");
	return total;
}

static void eth_header(uint8_t *f, const uint8_t *dst, uint16_t type)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, my_mac, 6);
	put16(f + 12, type);
}

static void arp_resolve(struct vdev *tx, struct vdev *rx, uint8_t *peer_mac)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint8_t *f = tx_buf + HDR;
	unsigned nb;

	memset(tx_buf, 0, HDR + 60);
	eth_header(f, bcast, 0x0806);
	put16(f + 14, 1);          /* Ethernet */
	put16(f + 16, 0x0800);     /* IPv4 */
	f[18] = 6;
	f[19] = 4;
	put16(f + 20, 1);          /* request */
	memcpy(f + 22, my_mac, 6);
	memcpy(f + 28, my_ip, 4);
	memcpy(f + 38, peer_ip, 4);
	send_frame(tx, 60);
	guest_printf("virtio-net-ping: ARP request for %u.%u.%u.%u sent\n", peer_ip[0], peer_ip[1], peer_ip[2], peer_ip[3]);
	for (unsigned n = 0; n < 64; n++) {
		uint32_t len = recv_frame(rx, &nb);

		if (len < 42 || get16(frame + 12) != 0x0806 || get16(frame + 20) != 2 || memcmp(frame + 28, peer_ip, 4) ||
		    memcmp(frame + 32, my_mac, 6) || memcmp(frame, my_mac, 6))
			continue;
		memcpy(peer_mac, frame + 22, 6);
		guest_printf("virtio-net-ping: ARP reply: %u.%u.%u.%u is at %02x:%02x:%02x:%02x:%02x:%02x\n",
			     peer_ip[0], peer_ip[1], peer_ip[2], peer_ip[3], peer_mac[0], peer_mac[1], peer_mac[2],
			     peer_mac[3], peer_mac[4], peer_mac[5]);
		return;
	}
	guest_fail(GUEST_EXIT_CHECK, "64 frames and no ARP reply");
}

/* An ICMP echo request with `size` payload bytes and sequence `seq` into tx_buf (the device fills the
 * checksum if offload). Returns the frame's length. */
static uint32_t echo_request(const uint8_t *peer_mac, uint32_t size, bool offload, uint16_t seq)
{
	uint8_t *f = tx_buf + HDR, *ip = f + 14, *icmp = f + 34;
	uint32_t len = 34 + 8 + size;

	memset(tx_buf, 0, HDR + len);
	eth_header(f, peer_mac, 0x0800);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + 8 + size));
	put16(ip + 4, 0x4b49);
	ip[8] = 64;
	ip[9] = 1;                 /* ICMP */
	memcpy(ip + 12, my_ip, 4);
	memcpy(ip + 16, peer_ip, 4);
	put16(ip + 10, inet_csum(ip, 20));
	icmp[0] = 8;               /* echo request */
	put16(icmp + 4, 0x6b74);   /* identifier */
	put16(icmp + 6, seq);
	for (uint32_t i = 0; i < size; i++)
		icmp[8 + i] = (uint8_t)(i * 7 + 3);
	if (offload) {
		/* the device side completes the checksum: NEEDS_CSUM from byte 34, field at +2 */
		tx_buf[0] = 1;
		tx_buf[6] = 34;
		tx_buf[8] = 2;
	} else {
		put16(icmp + 2, inet_csum(icmp, 8 + size));
	}
	return len;
}

/* Is the received frame (got bytes) the peer's echo reply to sequence seq? Its payload is checked. */
static bool echo_reply(uint32_t got, uint32_t size, uint16_t seq)
{
	if (got < 42 + size || get16(frame + 12) != 0x0800 || frame[23] != 1 || memcmp(frame + 26, peer_ip, 4) ||
	    frame[34] != 0 || get16(frame + 38) != 0x6b74 || get16(frame + 40) != seq)
		return false;
	for (uint32_t i = 0; i < size; i++)
		if (frame[42 + i] != (uint8_t)(i * 7 + 3))
			guest_fail(GUEST_EXIT_CHECK, "echo reply payload byte %u is 0x%x", i, frame[42 + i]);
	if (inet_csum(frame + 34, 8 + size) != 0)
		guest_fail(GUEST_EXIT_CHECK, "echo reply ICMP checksum wrong");
	return true;
}

static void ping(struct vdev *tx, struct vdev *rx, const uint8_t *peer_mac, uint32_t size, bool offload)
{
	unsigned nb;

	send_frame(tx, echo_request(peer_mac, size, offload, 1));
	guest_printf("virtio-net-ping: echo request with %u payload bytes sent (checksum by %s)\n", size,
		     offload ? "the device" : "the guest");
	for (unsigned n = 0; n < 64; n++) {
		if (!echo_reply(recv_frame(rx, &nb), size, 1))
			continue;
		guest_printf("virtio-net-ping: echo reply from %u.%u.%u.%u, %u payload bytes in %u buffer%s\n", peer_ip[0],
			     peer_ip[1], peer_ip[2], peer_ip[3], size, nb, nb == 1 ? "" : "s");
		return;
	}
	guest_fail(GUEST_EXIT_CHECK, "64 frames and no echo reply");
}

static void tso_segment(struct vdev *tx, struct vdev *rx, const uint8_t *peer_mac, uint32_t size)
{
	uint8_t *f = tx_buf + HDR, *ip = f + 14, *tcp = f + 34;
	uint32_t len = 54 + size, sum = 0, seq = 0x10000;
	unsigned nb;

	if (!(tx->features & (1ULL << F_HOST_TSO4)))
		guest_fail(GUEST_EXIT_CHECK, "HOST_TSO4 not offered");
	memset(tx_buf, 0, HDR + len);
	eth_header(f, peer_mac, 0x0800);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(40 + size));
	put16(ip + 4, 0x4b4a);
	ip[6] = 0x40;              /* DF */
	ip[8] = 64;
	ip[9] = 6;                 /* TCP */
	memcpy(ip + 12, my_ip, 4);
	memcpy(ip + 16, peer_ip, 4);
	put16(ip + 10, inet_csum(ip, 20));
	put16(tcp, 40000);
	put16(tcp + 2, 9);
	tcp[4] = (uint8_t)(seq >> 24); tcp[5] = (uint8_t)(seq >> 16); tcp[6] = (uint8_t)(seq >> 8); tcp[7] = (uint8_t)seq;
	tcp[12] = 5 << 4;
	tcp[13] = 0x08;            /* PSH only: the reset then acknowledges seq + size */
	put16(tcp + 14, 65535);
	for (uint32_t i = 0; i < size; i++)
		tcp[20 + i] = (uint8_t)(i * 11 + 1);
	/* pseudo-header sum, not complemented: the device side finishes the checksum */
	sum = get16(my_ip) + get16(my_ip + 2) + get16(peer_ip) + get16(peer_ip + 2) + 6 + 20 + size;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	put16(tcp + 16, (uint16_t)sum);
	tx_buf[0] = 1;                               /* NEEDS_CSUM */
	tx_buf[1] = 1;                               /* GSO TCPV4 */
	tx_buf[2] = 54; tx_buf[3] = 0;               /* hdr_len */
	tx_buf[4] = 1000 & 0xff; tx_buf[5] = 1000 >> 8;  /* gso_size */
	tx_buf[6] = 34;                              /* csum_start */
	tx_buf[8] = 16;                              /* csum_offset */
	send_frame(tx, len);
	guest_printf("virtio-net-ping: TSO frame of %u bytes (%u payload, gso_size 1000) sent\n", len, size);
	for (unsigned n = 0; n < 64; n++) {
		uint32_t got = recv_frame(rx, &nb), ack;

		if (got < 54 || get16(frame + 12) != 0x0800 || frame[23] != 6 || get16(frame + 36) != 40000 ||
		    !(frame[47] & 0x04))
			continue;
		ack = (uint32_t)frame[42] << 24 | (uint32_t)frame[43] << 16 | (uint32_t)frame[44] << 8 | frame[45];
		if (ack != seq + size)
			guest_fail(GUEST_EXIT_CHECK, "reset acknowledges %u, expected %u", ack, seq + size);
		guest_printf("virtio-net-ping: TSO frame answered by a TCP reset acknowledging all %u bytes\n", size);
		return;
	}
	guest_fail(GUEST_EXIT_CHECK, "64 frames and no TCP reset");
}

static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)get16(p) << 16 | get16(p + 2); }

/* A TCP segment to 192.0.2.1:5000 with the guest computing every checksum. */
static void tcp_send(struct vdev *tx, const uint8_t *peer_mac, uint32_t seq, uint32_t ack, uint8_t flags, bool mss)
{
	uint8_t *f = tx_buf + HDR, *ip = f + 14, *tcp = f + 34, pseudo[12 + 24];
	uint32_t thl = mss ? 24 : 20;

	memset(tx_buf, 0, HDR + 60);
	eth_header(f, peer_mac, 0x0800);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + thl));
	ip[6] = 0x40;
	ip[8] = 64;
	ip[9] = 6;
	memcpy(ip + 12, my_ip, 4);
	memcpy(ip + 16, peer_ip, 4);
	put16(ip + 10, inet_csum(ip, 20));
	put16(tcp, 40001);
	put16(tcp + 2, 5000);
	put32(tcp + 4, seq);
	put32(tcp + 8, ack);
	tcp[12] = (uint8_t)((thl / 4) << 4);
	tcp[13] = flags;
	put16(tcp + 14, 16000);
	if (mss) {
		tcp[20] = 2;
		tcp[21] = 4;
		put16(tcp + 22, 1460);
	}
	memcpy(pseudo, my_ip, 4);
	memcpy(pseudo + 4, peer_ip, 4);
	pseudo[8] = 0;
	pseudo[9] = 6;
	put16(pseudo + 10, (uint16_t)thl);
	memcpy(pseudo + 12, tcp, thl);
	put16(tcp + 16, inet_csum(pseudo, 12 + thl));
	send_frame(tx, 34 + thl < 60 ? 60 : 34 + thl);
}

static void tcp_receive(struct vdev *tx, struct vdev *rx, const uint8_t *peer_mac, uint32_t want)
{
	uint32_t seq = 1000, peer_seq = 0, got = 0, gso_frames = 0, frames = 0, max_frame = 0;
	bool established = false;
	unsigned nb, max_nb = 0;

	if (!(tx->features & (1ULL << F_GUEST_TSO4)) || !(tx->features & (1ULL << F_MRG_RXBUF)))
		guest_fail(GUEST_EXIT_CHECK, "GUEST_TSO4 or MRG_RXBUF not offered");
	tcp_send(tx, peer_mac, seq, 0, 0x02, true);           /* SYN */
	for (unsigned n = 0; n < 256 && got < want; n++) {
		uint32_t len = recv_frame(rx, &nb), ihl, thl, plen, s;
		uint8_t *ip = frame + 14, *tcp;

		if (len < 54 || get16(frame + 12) != 0x0800 || ip[9] != 6)
			continue;
		ihl = (ip[0] & 15u) * 4;
		tcp = ip + ihl;
		if (get16(tcp) != 5000 || get16(tcp + 2) != 40001)
			continue;
		if (tcp[13] & 0x04)
			guest_fail(GUEST_EXIT_CHECK, "the peer reset the TCP connection");
		thl = (uint32_t)(tcp[12] >> 4) * 4;
		s = get32(tcp + 4);
		if (!established) {
			if ((tcp[13] & 0x12) != 0x12 || get32(tcp + 8) != seq + 1)
				continue;
			peer_seq = s + 1;
			established = true;
			tcp_send(tx, peer_mac, seq + 1, peer_seq, 0x10, false);   /* ACK */
			guest_printf("virtio-net-ping: TCP connection to 192.0.2.1:5000 established\n");
			continue;
		}
		plen = get16(ip + 2) - ihl - thl;
		if (s != peer_seq || !plen || 14 + ihl + thl + plen > len)
			continue;
		for (uint32_t i = 0; i < plen; i++)
			if (tcp[thl + i] != (uint8_t)((got + i) * 5 % 251))
				guest_fail(GUEST_EXIT_CHECK, "TCP byte %u is 0x%x", got + i, tcp[thl + i]);
		frames++;
		if (last_hdr[1] == 1)     /* GSO TCPV4: one frame larger than a segment */
			gso_frames++;
		if (len > max_frame)
			max_frame = len;
		if (nb > max_nb)
			max_nb = nb;
		got += plen;
		peer_seq += plen;
		tcp_send(tx, peer_mac, seq + 1, peer_seq, 0x10, false);   /* ACK */
	}
	if (got < want)
		guest_fail(GUEST_EXIT_CHECK, "received %u of %u TCP bytes", got, want);
	guest_printf("virtio-net-ping: received %u TCP bytes in %u frames, %u of them GSO, largest %u bytes in %u buffers\n",
		     got, frames, gso_frames, max_frame, max_nb);
	tcp_send(tx, peer_mac, seq + 1, peer_seq, 0x04, false);       /* RST: done */
}

static void net_start(struct vdev *tx, struct vdev *rx, uint64_t want, bool csum)
{
	int r;

	bool mmio = cmdline_u64("kite.mmio", 0);

	if (mmio ? !vdev_find_mmio(tx, 1, 0) : !vdev_find(tx, 1, 0))
		guest_fail(GUEST_EXIT_CHECK, "no virtio-net %s device", mmio ? "MMIO" : "PCI");
	r = vdev_begin(tx, want);
	if (r)
		guest_fail(r, "virtio-net negotiation failed");
	if (!(tx->features & (1ULL << F_MAC)))
		guest_fail(GUEST_EXIT_CHECK, "MAC not offered");
	if (csum && !(tx->features & (1ULL << F_CSUM)))
		guest_fail(GUEST_EXIT_CHECK, "checksum offload (VIRTIO_NET_F_CSUM) not offered");
	if ((want & (1ULL << F_CTRL_VQ)) &&
	    (tx->features & ((1ULL << F_CTRL_VQ) | (1ULL << F_MQ))) != ((1ULL << F_CTRL_VQ) | (1ULL << F_MQ)))
		guest_fail(GUEST_EXIT_CHECK, "VIRTIO_NET_F_MQ and CTRL_VQ not offered");
	*rx = *tx;
	rx->qidx = 0;
	tx->qidx = 1;
	if (vdev_queue(rx, 2) || vdev_queue(tx, 3))
		guest_fail(GUEST_EXIT_CHECK, "virtio-net queues did not start");
	if (want & (1ULL << F_CTRL_VQ)) {
		max_pairs = mmio_read16(tx->device + 8);
		ctrlq = *tx;
		ctrlq.qidx = (uint16_t)(2 * max_pairs);
		if (max_pairs < 1 || max_pairs > 0x8000 || vdev_queue(&ctrlq, 1))
			guest_fail(GUEST_EXIT_CHECK, "control queue %u (max_virtqueue_pairs %u) did not start", 2 * max_pairs,
				   max_pairs);
		if (cmdline_u64("kite.pair1", 0) && max_pairs >= 2) {
			static struct vdev rx1, tx1;

			rx1 = *tx;
			rx1.qidx = 2;
			tx1 = *tx;
			tx1.qidx = 3;
			if (vdev_queue(&rx1, 4) || vdev_queue(&tx1, 5))
				guest_fail(GUEST_EXIT_CHECK, "virtio-net queue pair 1 did not start");
		}
	}
	if (vdev_go(tx))
		guest_fail(GUEST_EXIT_CHECK, "virtio-net did not start");
	rx_len_posted = (tx->features & (1ULL << F_MRG_RXBUF)) ? MRG_BUF_SIZE : RX_BUF_SIZE;
	for (uint16_t i = 0; i < RX_BUFS; i++)
		post_rx(rx, i);
}

static void evil_descriptor(struct vdev *tx, struct vdev *rx, uint64_t want)
{
	struct vring_desc *desc = vq_desc(tx);
	uint8_t peer_mac[6];

	desc[0] = (struct vring_desc){ 0xfff000000000ULL, 60, 0, 0 };
	vq_publish(tx, 0);
	vdev_wait_needs_reset(tx, "descriptor outside RAM");
	net_start(tx, rx, want, false);
	arp_resolve(tx, rx, peer_mac);
	guest_printf("virtio-net-ping: after reset the device works again\n");
}

/* If the received frame (len bytes) is an ARP request for my_ip: answer it, true. */
static bool answer_arp(struct vdev *tx, uint32_t len)
{
	uint8_t *f = tx_buf + HDR;

	if (len < 42 || get16(frame + 12) != 0x0806 || get16(frame + 20) != 1 || memcmp(frame + 38, my_ip, 4))
		return false;
	memset(tx_buf, 0, HDR + 60);
	eth_header(f, frame + 6, 0x0806);
	memcpy(f + 14, frame + 14, 6);     /* hardware / protocol types and sizes */
	put16(f + 20, 2);                  /* reply */
	memcpy(f + 22, my_mac, 6);
	memcpy(f + 28, my_ip, 4);
	memcpy(f + 32, frame + 22, 10);    /* the asker's MAC and address */
	send_frame(tx, 60);
	return true;
}

/* kite.ping_loop=N: echo requests to the peer, sequence 1, 2, ..., all to the MAC resolved once (as
 * a neighbour cache holds it), until N were answered (0: forever). Each waits up to LOOP_WAIT TSC
 * cycles for its reply, then one line "loop echo SEQ answered" or "loop echo SEQ unanswered"; an
 * answered one is followed by a pause of LOOP_PAUSE cycles. ARP requests for the guest are answered
 * meanwhile (the peer needs the guest's MAC for its replies). */
#define LOOP_WAIT (2ULL * 1000 * 1000 * 1000)
#define LOOP_PAUSE (300ULL * 1000 * 1000)
static void ping_loop(struct vdev *tx, struct vdev *rx, const uint8_t *peer_mac, uint64_t count)
{
	uint64_t answered = 0;

	for (uint16_t seq = 1; !count || answered < count; seq++) {
		uint64_t t0;
		uint32_t got;
		unsigned nb;
		bool ok = false;

		send_frame(tx, echo_request(peer_mac, 56, false, seq));
		t0 = rdtsc();
		for (uint64_t spent = 0; !ok && spent < LOOP_WAIT; spent = rdtsc() - t0) {
			if (!recv_frame_within(rx, LOOP_WAIT - spent, &got, &nb))
				break;
			if (!answer_arp(tx, got))
				ok = echo_reply(got, 56, seq);
		}
		guest_printf("virtio-net-ping: loop echo %u %s\n", seq, ok ? "answered" : "unanswered");
		if (ok) {
			answered++;
			for (t0 = rdtsc(); rdtsc() - t0 < LOOP_PAUSE;)
				cpu_relax();
		}
	}
}

/* kite.respond=1: ARP replies and ICMP echo replies for my_ip, until `count` echoes (0 = forever). */
static void respond(struct vdev *tx, struct vdev *rx, uint64_t count)
{
	uint8_t *f = tx_buf + HDR;
	uint64_t answered = 0;
	unsigned nb;

	rx_forever = true;
	guest_printf("virtio-net-ping: answering ARP and echo requests for %u.%u.%u.%u\n", my_ip[0], my_ip[1],
		     my_ip[2], my_ip[3]);
	while (!count || answered < count) {
		uint32_t len = recv_frame(rx, &nb);

		if (answer_arp(tx, len))
			continue;
		uint32_t ihl = (frame[14] & 15u) * 4, tot = get16(frame + 16);
		if (len < 34 || get16(frame + 12) != 0x0800 || frame[23] != 1 || memcmp(frame + 30, my_ip, 4) ||
		    ihl != 20 || tot < 28 || 14 + tot > len || tot > MAX_FRAME - 14 || frame[34] != 8)
			continue;
		memset(tx_buf, 0, HDR);
		memcpy(f, frame, 14 + tot);
		eth_header(f, frame + 6, 0x0800);
		memcpy(f + 26, my_ip, 4);
		memcpy(f + 30, frame + 26, 4);
		put16(f + 24, 0);
		put16(f + 24, inet_csum(f + 14, 20));
		f[34] = 0;                                 /* echo reply */
		put16(f + 36, 0);
		put16(f + 36, inet_csum(f + 34, tot - 20));
		send_frame(tx, 14 + tot < 60 ? 60 : 14 + tot);
		answered++;
		guest_printf("virtio-net-ping: answered echo request %lu from %u.%u.%u.%u (%u payload bytes)\n", answered,
			     frame[26], frame[27], frame[28], frame[29], tot - 28);
	}
}

void test_virtio_net_ping(void)
{
	uint64_t size = cmdline_u64("kite.ping_size", 1200), flood = cmdline_u64("kite.flood", 0);
	bool oversize = cmdline_u64("kite.oversize", 0), csum = cmdline_u64("kite.csum", 0);
	bool evil = cmdline_u64("kite.evil", 0);
	uint64_t ctrl = cmdline_u64("kite.ctrl", 0);
	uint64_t tso = cmdline_u64("kite.tso", 0), fsize = cmdline_u64("kite.flood_size", 60);
	uint64_t tcp_rx = cmdline_u64("kite.tcp_rx", 0), ping_loop_count = cmdline_u64("kite.ping_loop", ~0ULL);
	uint64_t want = (1ULL << F_MAC) | (1ULL << F_MTU) | (1ULL << F_MRG_RXBUF) | (csum ? 1ULL << F_CSUM : 0) |
			(tso ? 1ULL << F_HOST_TSO4 : 0) |
			(tcp_rx ? (1ULL << F_GUEST_CSUM) | (1ULL << F_GUEST_TSO4) : 0) |
			(ctrl ? (1ULL << F_CTRL_VQ) | (1ULL << F_MQ) : 0);
	uint8_t peer_mac[6];
	struct vdev tx, rx;
	uint16_t mtu;

	my_ip[3] = (uint8_t)cmdline_u64("kite.ip_last", 2);
	peer_ip[3] = (uint8_t)cmdline_u64("kite.peer_ip_last", 1);
	if (tso > 8000 || (tso && !csum))
		guest_fail(GUEST_EXIT_USAGE, "kite.tso=%lu: at most 8000, and needs kite.csum=1", tso);
	if (fsize < 60 || fsize > 1514)
		guest_fail(GUEST_EXIT_USAGE, "kite.flood_size=%lu: 60..1514", fsize);
	if (size > 1400)
		guest_fail(GUEST_EXIT_USAGE, "kite.ping_size=%lu: at most 1400", size);
	net_start(&tx, &rx, want, csum);
	for (unsigned i = 0; i < 6; i++)
		my_mac[i] = mmio_read8(tx.device + i);
	mtu = (tx.features & (1ULL << F_MTU)) ? mmio_read16(tx.device + 10) : 1500;
	guest_printf("virtio-net-ping: MAC %02x:%02x:%02x:%02x:%02x:%02x MTU %u, %s receive buffers\n", my_mac[0],
		     my_mac[1], my_mac[2], my_mac[3], my_mac[4], my_mac[5], mtu,
		     (tx.features & (1ULL << F_MRG_RXBUF)) ? "mergeable 1 KiB" : "2 KiB");

	if (oversize) {
		uint32_t len = (uint32_t)mtu + 118;

		if (len > MAX_FRAME)
			guest_fail(GUEST_EXIT_USAGE, "MTU %u too large for the oversize check", mtu);
		memset(tx_buf, 0, HDR + len);
		memset(tx_buf + HDR, 0xff, 6);
		memcpy(tx_buf + HDR + 6, my_mac, 6);
		put16(tx_buf + HDR + 12, 0x88b5);
		send_frame(&tx, len);
		guest_printf("virtio-net-ping: oversized %u-byte frame handed to the device\n", len);
	}
	if (cmdline_u64("kite.respond", 0)) {
		respond(&tx, &rx, cmdline_u64("kite.respond_count", 0));
		return;
	}
	if (ctrl) {
		guest_printf("virtio-net-ping: control queue %u, max_virtqueue_pairs %u\n", ctrlq.qidx, max_pairs);
		net_ctrl_checks(&ctrlq, max_pairs);
	}
	arp_resolve(&tx, &rx, peer_mac);
	if (ping_loop_count != ~0ULL) {
		ping_loop(&tx, &rx, peer_mac, ping_loop_count);
		return;
	}
	ping(&tx, &rx, peer_mac, (uint32_t)size, csum);
	if (ctrl == 2) {
		net_ctrl_malformed(&ctrlq);
		net_start(&tx, &rx, want, csum);
		arp_resolve(&tx, &rx, peer_mac);
		guest_printf("virtio-net-ping: after reset the device works again\n");
	}
	if (tso)
		tso_segment(&tx, &rx, peer_mac, (uint32_t)tso);
	if (tcp_rx)
		tcp_receive(&tx, &rx, peer_mac, (uint32_t)tcp_rx);
	for (uint64_t i = 0; i < flood; i++) {
		memset(tx_buf, 0, HDR + fsize);
		memset(tx_buf + HDR, 0xff, 6);
		memcpy(tx_buf + HDR + 6, my_mac, 6);
		put16(tx_buf + HDR + 12, 0x88b5);
		put16(tx_buf + HDR + 14, (uint16_t)i);
		send_frame(&tx, (uint32_t)fsize);
	}
	if (flood)
		guest_printf("virtio-net-ping: %lu flood frames of %lu bytes sent\n", flood, fsize);
	if (evil)
		evil_descriptor(&tx, &rx, want);
}
