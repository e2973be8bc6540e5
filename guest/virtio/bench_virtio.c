/* SPDX-License-Identifier: MIT */
/*
 * Benchmark modes of the test guest (bench/virtio/run.sh drives them). Both poll the used ring
 * (no interrupts: kvm-pvm native mode delivers none) and ask the device for none
 * (VRING_AVAIL_F_NO_INTERRUPT); a kick is skipped while the device sets VRING_USED_F_NO_NOTIFY.
 *
 *  blkbench  kite.bench=randread|randwrite|seqread64k|seqwrite64k kite.ops=N kite.qd=Q
 *            kite.blk_dev=D kite.seed=S: N requests on virtio-blk disk D with up to Q in flight
 *            (4 KiB at xorshift64 4 KiB-aligned offsets, or 64 KiB sequential, wrapping).
 *            kite.bench=stream: N sequential 4 KiB writes from block 0 (N <= the disk's blocks), every
 *            8-byte word of block b holding b * 0x9e3779b97f4a7c15 ^ S; prints "blkbench: K acked"
 *            after every kite.progress completions (default 250) -- the host checks the image and
 *            may restart a vhost-user backend meanwhile (tests/vhost).
 *            kite.bench=streamread: the same N blocks read back in the same order, each checked
 *            against its stamp (a mismatch fails the guest with the block and the word's offset).
 *            kite.then_idle=1: after the report the guest halts (test_idle: its "idle:" line), the
 *            disk quiet and the VM running, until the host stops it (tests/api: an idle disk's polling).
 *  netbench  kite.ops=N kite.qd=Q kite.frame=S kite.pairs=P: N broadcast frames of S bytes (60..1514,
 *            default 60, ethertype 0x88b5) with up to Q in flight on each transmit queue used. P > 1
 *            (at most 4 and max_virtqueue_pairs): MQ and CTRL_VQ negotiated, VQ_PAIRS_SET P on the
 *            control queue, the transmit queues of pairs 0..P-1 all driven from the one vCPU, in turn:
 *            each pair is drained, refilled and kicked once per pass (a completed frame's slot is sent
 *            again on its own pair); prints "netbench: pair I sent N" per pair.
 *  netsink   kite.ops=N: every receive buffer posted (2 KiB each), frames counted until N arrived or
 *            none came for kite.idle_tsc TSC cycles (default 1e10) after the first (the first may take
 *            up to 6e11); T runs from the first frame to the last batch (the receiving side of a
 *            VM-to-VM benchmark).
 *
 * Each prints "BENCH ops=N bytes=B tsc=T kicks=K" (T: TSC cycles from the first submission to the
 * last completion; the host converts with its TSC frequency). blkbench also prints
 * "BENCHLAT p50=A p99=B max=C" in TSC cycles: per request, from just before the kick that made it
 * available (the kick's own exit included) to the poll that saw it used; a
 * histogram of LAT_BUCKET-cycle buckets (coarser beyond LAT_COARSE cycles), so a percentile is
 * exact to one bucket (the last bucket holds everything longer).
 */
#include "vdrv.h"

void test_blkbench(void);
void test_netbench(void);
void test_netsink(void);

#define BQ_MAX 256                  /* queue entries we use at most */
#define BLK_QD_MAX 32
#define BLK_IO_MAX (64 * 1024)
#define BLK_SEG_MAX 2
#define NET_QD_MAX 128
#define NET_HDR 12
#define NET_FRAME_MIN 60
#define NET_FRAME_MAX 1514
#define SINK_BUF 2048

#define F_BLK_RO 5
#define F_BLK_FLUSH 9    /* negotiated as Linux does: without it a device may run writethrough */
#define F_NET_MAC 5
#define T_IN 0
#define T_OUT 1
#define AVAIL_F_NO_INTERRUPT 1
#define USED_F_NO_NOTIFY 1

/* virtio-pci common configuration offsets (virtio 1.2, 4.1.4.3) */
#define C_QSELECT 0x16
#define C_QSIZE   0x18
#define C_QENABLE 0x1c
#define C_QNOFF   0x1e
#define C_QDESC   0x20
#define C_QAVAIL  0x28
#define C_QUSED   0x30

/* A split queue of our own (vring.c keeps 16 entries and one request in flight). */
struct bq {
	struct vdev *d;
	uint16_t idx, size;
	struct vring_desc *desc;
	volatile uint16_t *avail;         /* flags, idx, ring[] */
	volatile uint16_t *used_flags, *used_idx;
	volatile uint32_t *used_ring;     /* {id, len} pairs */
	uint64_t notify;
	uint16_t avail_idx, used_seen, pending;
	uint64_t kicks;
};

#define NET_PAIRS_MAX 4
static uint8_t bq_mem[1 + NET_PAIRS_MAX][3 * 4096] __attribute__((aligned(4096)));

static void write64(uint64_t a, uint64_t v)
{
	mmio_write32(a, (uint32_t)v);
	mmio_write32(a + 4, (uint32_t)(v >> 32));
}

/* Queue q->idx of d, as large as the device allows up to BQ_MAX, in bq_mem[mem]. After vdev_begin. */
static void bq_setup(struct bq *q, struct vdev *d, uint16_t idx, unsigned mem)
{
	uint8_t *m = bq_mem[mem];
	uint16_t max;

	if (d->mmio)
		guest_fail(GUEST_EXIT_USAGE, "the benchmarks drive virtio-pci devices only");
	memset(q, 0, sizeof(*q));
	memset(m, 0, sizeof(bq_mem[mem]));
	q->d = d;
	q->idx = idx;
	mmio_write16(d->common + C_QSELECT, idx);
	max = mmio_read16(d->common + C_QSIZE);
	if (max < 4 || (max & (max - 1)))
		guest_fail(GUEST_EXIT_CHECK, "queue %u: bad size %u", idx, max);
	q->size = max < BQ_MAX ? max : BQ_MAX;
	q->desc = (struct vring_desc *)m;
	q->avail = (volatile uint16_t *)(m + 4096);
	q->used_flags = (volatile uint16_t *)(m + 8192);
	q->used_idx = q->used_flags + 1;
	q->used_ring = (volatile uint32_t *)(m + 8192 + 4);
	q->avail[0] = AVAIL_F_NO_INTERRUPT;
	mmio_write16(d->common + C_QSIZE, q->size);
	write64(d->common + C_QDESC, (uint64_t)(uintptr_t)q->desc);
	write64(d->common + C_QAVAIL, (uint64_t)(uintptr_t)q->avail);
	write64(d->common + C_QUSED, (uint64_t)(uintptr_t)q->used_flags);
	q->notify = d->notify + (uint64_t)mmio_read16(d->common + C_QNOFF) * d->notify_mult;
	mmio_write16(d->common + C_QENABLE, 1);
}

/* Make the chain at head available; the device sees it at the next bq_kick. */
static void bq_add(struct bq *q, uint16_t head)
{
	q->avail[2 + q->avail_idx % q->size] = head;
	q->avail_idx++;
	q->pending++;
}

static void bq_kick(struct bq *q)
{
	if (!q->pending)
		return;
	barrier();
	q->avail[1] = q->avail_idx;
	barrier();
	q->pending = 0;
	if (*q->used_flags & USED_F_NO_NOTIFY)
		return;
	mmio_write16(q->notify, q->idx);
	q->kicks++;
}

/* Next used element (head id, length), polling until timeout_tsc; false on timeout. */
static bool bq_next(struct bq *q, uint32_t *id, uint32_t *len, uint64_t timeout_tsc)
{
	uint64_t t0 = rdtsc();
	unsigned spins = 0;

	while (*q->used_idx == q->used_seen) {
		cpu_relax();
		/* rdtsc costs an exit on some hosts: look at the clock now and then */
		if (++spins % 1024 == 0 && rdtsc() - t0 > timeout_tsc)
			return false;
	}
	barrier();
	*id = q->used_ring[2 * (q->used_seen % q->size)];
	*len = q->used_ring[2 * (q->used_seen % q->size) + 1];
	q->used_seen++;
	return true;
}

#define TIMEOUT_TSC (60ULL * 1000 * 1000 * 1000)

/* The content of block blk in stream mode. */
static void stamp(uint8_t *buf, uint64_t blk, uint64_t seed, uint32_t len)
{
	uint64_t w = blk * 0x9e3779b97f4a7c15ULL ^ seed;

	for (uint32_t i = 0; i + 8 <= len; i += 8)
		memcpy(buf + i, &w, 8);
}

/* A block read back in streamread mode holds its stamp, or the guest fails. */
static void stamp_check(const uint8_t *buf, uint64_t blk, uint64_t seed, uint32_t len)
{
	uint64_t w = blk * 0x9e3779b97f4a7c15ULL ^ seed, got;

	for (uint32_t i = 0; i + 8 <= len; i += 8) {
		memcpy(&got, buf + i, 8);
		if (got != w)
			guest_fail(GUEST_EXIT_CHECK, "streamread: block %lu, byte %u: %lx, expected %lx", blk, i, got, w);
	}
}

static uint64_t xorshift64(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static void bench_report(uint64_t ops, uint64_t bytes, uint64_t tsc, uint64_t kicks)
{
	guest_printf("BENCH ops=%lu bytes=%lu tsc=%lu kicks=%lu\n", ops, bytes, tsc, kicks);
}

/* ---- virtio-blk ---- */

struct blk_slot {
	struct { uint32_t type, reserved; uint64_t sector; } __attribute__((packed)) hdr;
	volatile uint8_t status;
} __attribute__((aligned(64)));

static struct blk_slot slots[BLK_QD_MAX];
static uint64_t slot_t0[BLK_QD_MAX];

#define LAT_BUCKET  64u              /* TSC cycles: ~25 ns at 2.5 GHz */
#define LAT_BUCKETS 65536u           /* fine buckets: up to ~1.7 ms at 2.5 GHz */
#define LAT_COARSE  (LAT_BUCKET * LAT_BUCKETS)  /* then coarse ones of that width, up to ~0.4 s */
#define LAT_COARSE_BUCKETS 256u
static uint32_t lat_hist[LAT_BUCKETS + LAT_COARSE_BUCKETS];

static void lat_add(uint64_t cycles)
{
	uint64_t b = cycles < LAT_COARSE ? cycles / LAT_BUCKET : LAT_BUCKETS + cycles / LAT_COARSE - 1;

	lat_hist[b < LAT_BUCKETS + LAT_COARSE_BUCKETS ? b : LAT_BUCKETS + LAT_COARSE_BUCKETS - 1]++;
}

/* The upper edge of the bucket holding the p-th permille of n samples. */
static uint64_t lat_permille(uint64_t n, unsigned p)
{
	uint64_t want = (n * p + 999) / 1000, seen = 0;

	for (unsigned b = 0; b < LAT_BUCKETS + LAT_COARSE_BUCKETS; b++) {
		seen += lat_hist[b];
		if (seen >= want && seen)
			return b < LAT_BUCKETS ? (uint64_t)(b + 1) * LAT_BUCKET : (uint64_t)(b - LAT_BUCKETS + 2) * LAT_COARSE;
	}
	return (uint64_t)(LAT_COARSE_BUCKETS + 1) * LAT_COARSE;
}

static void lat_report(uint64_t n, uint64_t max)
{
	guest_printf("BENCHLAT p50=%lu p99=%lu max=%lu\n", lat_permille(n, 500), lat_permille(n, 990), max);
}
static uint8_t blk_data[BLK_QD_MAX][BLK_IO_MAX] __attribute__((aligned(4096)));

void test_blkbench(void)
{
	char mode[16];
	uint64_t ops = cmdline_u64("kite.ops", 10000), qd = cmdline_u64("kite.qd", 8);
	uint64_t seed = cmdline_u64("kite.seed", 0x9e3779b97f4a7c15ULL) | 1, stamp_seed = seed;
	uint64_t progress = cmdline_u64("kite.progress", 250);
	uint64_t sectors, blocks, next_seq = 0, issued = 0, done = 0, t0, t1, lat_max = 0;
	uint32_t io, type;
	bool rnd, stream = false;
	struct vdev d;
	struct bq q;
	int r;

	if (!cmdline_str("kite.bench", mode, sizeof(mode)))
		guest_fail(GUEST_EXIT_USAGE, "kite.bench=randread|randwrite|seqread64k|seqwrite64k|stream|streamread missing");
	if (!strcmp(mode, "randread") || !strcmp(mode, "randwrite")) {
		io = 4096;
		rnd = true;
	} else if (!strcmp(mode, "stream") || !strcmp(mode, "streamread")) {
		io = 4096;
		rnd = false;
		stream = true;
	} else if (!strcmp(mode, "seqread64k") || !strcmp(mode, "seqwrite64k")) {
		io = BLK_IO_MAX;
		rnd = false;
	} else {
		guest_fail(GUEST_EXIT_USAGE, "kite.bench=%s unknown", mode);
	}
	type = !strcmp(mode, "randread") || !strcmp(mode, "seqread64k") || !strcmp(mode, "streamread") ? T_IN : T_OUT;
	if (!ops || !qd || qd > BLK_QD_MAX)
		guest_fail(GUEST_EXIT_USAGE, "kite.ops=%lu kite.qd=%lu: need ops >= 1 and qd 1..%d", ops, qd,
			   BLK_QD_MAX);
	if (!vdev_find(&d, 2, (unsigned)cmdline_u64("kite.blk_dev", 0)))
		guest_fail(GUEST_EXIT_CHECK, "no virtio-blk PCI device");
	r = vdev_begin(&d, (1ULL << F_BLK_RO) | (1ULL << F_BLK_FLUSH));
	if (r)
		guest_fail(r, "virtio-blk negotiation failed");
	if (type == T_OUT && (d.features & (1ULL << F_BLK_RO)))
		guest_fail(GUEST_EXIT_CHECK, "disk is read-only, cannot run %s", mode);
	sectors = mmio_read32(d.device) | (uint64_t)mmio_read32(d.device + 4) << 32;
	blocks = sectors / (io / 512);
	if (!blocks)
		guest_fail(GUEST_EXIT_CHECK, "disk of %lu sectors is smaller than one %u-byte request", sectors, io);
	if (stream && ops > blocks)
		guest_fail(GUEST_EXIT_USAGE, "kite.ops=%lu: the stream needs as many blocks, the disk has %lu", ops, blocks);
	bq_setup(&q, &d, 0, 0);
	if (q.size < qd * 3)
		qd = q.size / 3;
	r = vdev_go(&d);
	if (r)
		guest_fail(r, "virtio-blk did not start");
	guest_printf("blkbench: %s, %lu ops of %u bytes, %lu in flight, disk of %lu sectors, queue size %u\n",
		     mode, ops, io, qd, sectors, q.size);
	for (unsigned i = 0; i < qd; i++) {
		struct vring_desc *dc = &q.desc[3 * i];

		/* every slot owns descriptors 3i..3i+2: header, data, status */
		dc[0] = (struct vring_desc){ (uint64_t)(uintptr_t)&slots[i].hdr, 16, VRING_DESC_F_NEXT, (uint16_t)(3 * i + 1) };
		dc[1] = (struct vring_desc){ (uint64_t)(uintptr_t)blk_data[i], io,
					     (uint16_t)(VRING_DESC_F_NEXT | (type == T_IN ? VRING_DESC_F_WRITE : 0)),
					     (uint16_t)(3 * i + 2) };
		dc[2] = (struct vring_desc){ (uint64_t)(uintptr_t)&slots[i].status, 1, VRING_DESC_F_WRITE, 0 };
		if (type == T_OUT)
			memset(blk_data[i], (int)(0xa0 + i), io);
	}

	t0 = rdtsc();
	for (unsigned i = 0; i < qd && issued < ops; i++, issued++) {
		uint64_t blk = rnd ? xorshift64(&seed) % blocks : next_seq++ % blocks;

		slots[i].hdr = (typeof(slots[i].hdr)){ type, 0, blk * (io / 512) };
		slots[i].status = 0xee;
		if (stream && type == T_OUT)
			stamp(blk_data[i], blk, stamp_seed, io);
		bq_add(&q, (uint16_t)(3 * i));
	}
	for (unsigned i = 0; i < qd; i++)
		slot_t0[i] = t0;
	bq_kick(&q);
	while (done < ops) {
		uint32_t id, len, refilled[BLK_QD_MAX], nrefill = 0;
		uint64_t now;

		if (!bq_next(&q, &id, &len, TIMEOUT_TSC))
			guest_fail(GUEST_EXIT_TIMEOUT, "%lu of %lu requests completed, then none", done, ops);
		/* drain what is there, then refill and kick once */
		do {
			unsigned s = id / 3;

			if (id % 3 || s >= qd)
				guest_fail(GUEST_EXIT_CHECK, "used id %u is not one of our heads", id);
			if (slots[s].status != 0)
				guest_fail(GUEST_EXIT_CHECK, "request at sector %lu: status %u (used length %u)",
					   slots[s].hdr.sector, slots[s].status, len);
			now = rdtsc();
			lat_add(now - slot_t0[s]);
			if (now - slot_t0[s] > lat_max)
				lat_max = now - slot_t0[s];
			if (stream && type == T_IN)
				stamp_check(blk_data[s], slots[s].hdr.sector / (io / 512), stamp_seed, io);
			done++;
			if (stream && progress && done % progress == 0)
				guest_printf("blkbench: %lu acked\n", done);
			if (issued < ops) {
				uint64_t blk = rnd ? xorshift64(&seed) % blocks : next_seq++ % blocks;

				if (stream && type == T_OUT)
					stamp(blk_data[s], blk, stamp_seed, io);
				slots[s].hdr.sector = blk * (io / 512);
				slots[s].status = 0xee;
				bq_add(&q, (uint16_t)id);
				refilled[nrefill++] = s;
				issued++;
			}
		} while (*q.used_idx != q.used_seen && bq_next(&q, &id, &len, TIMEOUT_TSC));
		now = rdtsc();
		for (uint32_t i = 0; i < nrefill; i++)
			slot_t0[refilled[i]] = now;
		bq_kick(&q);
	}
	t1 = rdtsc();
	bench_report(done, done * io, t1 - t0, q.kicks);
	lat_report(done, lat_max);
	if (cmdline_u64("kite.then_idle", 0))
		test_idle();
}

/* ---- virtio-net ---- */

static uint8_t net_tx[NET_QD_MAX][NET_HDR + NET_FRAME_MAX] __attribute__((aligned(64)));

#define F_NET_CTRL_VQ 17
#define F_NET_MQ 22

void test_netbench(void)
{
	uint64_t ops = cmdline_u64("kite.ops", 100000), qd = cmdline_u64("kite.qd", 64);
	uint64_t frame = cmdline_u64("kite.frame", NET_FRAME_MIN), pairs = cmdline_u64("kite.pairs", 1);
	uint64_t issued = 0, done = 0, t0, t1, kicks = 0, per[NET_PAIRS_MAX] = { 0 };
	uint64_t mq = (1ULL << F_NET_MQ) | (1ULL << F_NET_CTRL_VQ);
	uint8_t mac[6] = { 0x52, 0x54, 0, 0, 0, 1 };
	struct vdev d, ctrl;
	struct bq rx, tx[NET_PAIRS_MAX];
	uint16_t max = 1;
	int r;

	if (!ops || !qd || qd > NET_QD_MAX)
		guest_fail(GUEST_EXIT_USAGE, "kite.ops=%lu kite.qd=%lu: need ops >= 1 and qd 1..%d", ops, qd,
			   NET_QD_MAX);
	if (frame < NET_FRAME_MIN || frame > NET_FRAME_MAX)
		guest_fail(GUEST_EXIT_USAGE, "kite.frame=%lu: %d..%d", frame, NET_FRAME_MIN, NET_FRAME_MAX);
	if (!pairs || pairs > NET_PAIRS_MAX)
		guest_fail(GUEST_EXIT_USAGE, "kite.pairs=%lu: 1..%d", pairs, NET_PAIRS_MAX);
	if (!vdev_find(&d, 1, 0))
		guest_fail(GUEST_EXIT_CHECK, "no virtio-net PCI device");
	r = vdev_begin(&d, (1ULL << F_NET_MAC) | (pairs > 1 ? mq : 0));
	if (r)
		guest_fail(r, "virtio-net negotiation failed");
	if (pairs > 1) {
		if ((d.features & mq) != mq)
			guest_fail(GUEST_EXIT_CHECK, "kite.pairs=%lu: the device offers no MQ with CTRL_VQ", pairs);
		max = mmio_read16(d.device + 8);
		if (pairs > max)
			guest_fail(GUEST_EXIT_USAGE, "kite.pairs=%lu: the device has %u queue pairs", pairs, max);
	}
	if (d.features & (1ULL << F_NET_MAC))
		for (unsigned i = 0; i < 6; i++)
			mac[i] = mmio_read8(d.device + i);
	bq_setup(&rx, &d, 0, 0);       /* no receive buffers: the benchmark only sends */
	for (unsigned p = 0; p < pairs; p++) {
		bq_setup(&tx[p], &d, (uint16_t)(2 * p + 1), 1 + p);
		if (qd > tx[p].size)
			qd = tx[p].size;
	}
	if (pairs > 1) {
		ctrl = d;
		ctrl.qidx = (uint16_t)(2 * max);
		if (vdev_queue(&ctrl, 0))
			guest_fail(GUEST_EXIT_CHECK, "control queue %u did not start", 2 * max);
	}
	r = vdev_go(&d);
	if (r)
		guest_fail(r, "virtio-net did not start");
	if (pairs > 1) {
		uint8_t v[2] = { (uint8_t)pairs, 0 };

		if (net_ctrl_cmd(&ctrl, 4, 0, v, 2) != 0)
			guest_fail(GUEST_EXIT_CHECK, "VQ_PAIRS_SET %lu refused", pairs);
	}
	guest_printf("netbench: %lu frames of %lu bytes, %lu in flight per queue, %lu transmit queue(s), queue size %u\n",
		     ops, frame, qd, pairs, tx[0].size);
	for (unsigned i = 0; i < qd; i++) {
		uint8_t *f = net_tx[i] + NET_HDR;

		memset(net_tx[i], 0, sizeof(net_tx[i]));       /* virtio-net header: no offloads */
		memset(f, 0xff, 6);
		memcpy(f + 6, mac, 6);
		f[12] = 0x88;
		f[13] = 0xb5;
		memcpy(f + 14, "kite-netbench", 13);
		/* every pair's slot i sends the same (read-only) frame buffer */
		for (unsigned p = 0; p < pairs; p++)
			tx[p].desc[i] = (struct vring_desc){ (uint64_t)(uintptr_t)net_tx[i], (uint32_t)(NET_HDR + frame), 0, 0 };
	}
	t0 = rdtsc();
	for (unsigned p = 0; p < pairs; p++) {
		for (unsigned i = 0; i < qd && issued < ops; i++, issued++)
			bq_add(&tx[p], (uint16_t)i);
		bq_kick(&tx[p]);
	}
	if (pairs == 1) {
		while (done < ops) {
			uint32_t id, len;

			if (!bq_next(&tx[0], &id, &len, TIMEOUT_TSC))
				guest_fail(GUEST_EXIT_TIMEOUT, "%lu of %lu frames sent, then none", done, ops);
			do {
				if (id >= qd)
					guest_fail(GUEST_EXIT_CHECK, "used id %u is not one of our frames", id);
				done++;
				if (issued < ops) {
					bq_add(&tx[0], (uint16_t)id);
					issued++;
				}
			} while (*tx[0].used_idx != tx[0].used_seen && bq_next(&tx[0], &id, &len, TIMEOUT_TSC));
			bq_kick(&tx[0]);
		}
		per[0] = done;
	} else {
		uint64_t idle_since = rdtsc();
		unsigned spins = 0;

		while (done < ops) {
			bool any = false;

			for (unsigned p = 0; p < pairs; p++) {
				struct bq *q = &tx[p];
				uint32_t id, len;

				while (*q->used_idx != q->used_seen && bq_next(q, &id, &len, TIMEOUT_TSC)) {
					if (id >= qd)
						guest_fail(GUEST_EXIT_CHECK, "pair %u: used id %u is not one of our frames", p, id);
					done++;
					per[p]++;
					any = true;
					if (issued < ops) {
						bq_add(q, (uint16_t)id);
						issued++;
					}
				}
				bq_kick(q);
			}
			if (any) {
				spins = 0;
				idle_since = 0;
			} else {
				cpu_relax();
				/* rdtsc costs an exit on some hosts: look at the clock now and then */
				if (++spins % 1024 == 0) {
					if (!idle_since)
						idle_since = rdtsc();
					else if (rdtsc() - idle_since > TIMEOUT_TSC)
						guest_fail(GUEST_EXIT_TIMEOUT, "%lu of %lu frames sent, then none", done, ops);
				}
			}
		}
	}
	t1 = rdtsc();
	for (unsigned p = 0; p < pairs; p++) {
		kicks += tx[p].kicks;
		if (pairs > 1)
			guest_printf("netbench: pair %u sent %lu\n", p, per[p]);
	}
	bench_report(done, done * frame, t1 - t0, kicks);
}

static uint8_t sink_buf[BQ_MAX][SINK_BUF] __attribute__((aligned(64)));

void test_netsink(void)
{
	uint64_t ops = cmdline_u64("kite.ops", 100000), idle = cmdline_u64("kite.idle_tsc", 10000000000ULL);
	uint64_t got = 0, bytes = 0, t0 = 0, t1 = 0;
	struct vdev d;
	struct bq rx, tx;
	int r;

	if (!ops)
		guest_fail(GUEST_EXIT_USAGE, "kite.ops=0");
	if (!vdev_find(&d, 1, 0))
		guest_fail(GUEST_EXIT_CHECK, "no virtio-net PCI device");
	r = vdev_begin(&d, 0);
	if (r)
		guest_fail(r, "virtio-net negotiation failed");
	bq_setup(&rx, &d, 0, 0);
	bq_setup(&tx, &d, 1, 1);       /* nothing is sent */
	r = vdev_go(&d);
	if (r)
		guest_fail(r, "virtio-net did not start");
	for (uint16_t i = 0; i < rx.size; i++) {
		rx.desc[i] = (struct vring_desc){ (uint64_t)(uintptr_t)sink_buf[i], SINK_BUF, VRING_DESC_F_WRITE, 0 };
		bq_add(&rx, i);
	}
	bq_kick(&rx);
	guest_printf("netsink: ready, %u receive buffers of %u bytes\n", rx.size, SINK_BUF);
	while (got < ops) {
		uint32_t id, len;

		/* the sender may be a VM that still boots (SeaBIOS under kvm-pvm: seconds): wait long for it */
		if (!bq_next(&rx, &id, &len, got ? idle : 10 * TIMEOUT_TSC)) {
			if (!got)
				guest_fail(GUEST_EXIT_TIMEOUT, "no frame arrived");
			break;
		}
		if (!got)
			t0 = rdtsc();
		do {
			if (id >= rx.size || len < NET_HDR || len > SINK_BUF)
				guest_fail(GUEST_EXIT_CHECK, "used id %u length %u", id, len);
			got++;
			bytes += len - NET_HDR;
			bq_add(&rx, (uint16_t)id);
		} while (got < ops && *rx.used_idx != rx.used_seen && bq_next(&rx, &id, &len, TIMEOUT_TSC));
		t1 = rdtsc();
		bq_kick(&rx);
	}
	bench_report(got, bytes, t1 - t0, rx.kicks);
}
