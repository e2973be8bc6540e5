/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the shared virtio-blk request parser (virtio/blk_request.c) through both programs
 * that use it: virtio-blk chains with arbitrary header / data / status layout reach
 *  - kite-dpu volumes (dpu/blk/blk.c; 1 MiB image in a temporary directory, io_uring) through the
 *    real vhost-user backend: plain, encrypted (AES-256-XTS, bounce buffers) and read-only. A
 *    frontend per volume in this process connects, negotiates and maps one 1 MiB memfd region
 *    holding a split ring; the control loop thread then stops and the target polls the queues
 *    itself (poller without a thread), so a run is deterministic;
 *  - kite's device (virtio/blk.c, synchronous I/O on a 1 MiB image) on the virtio-mmio transport,
 *    driven through its registers like a guest driver would, kicks dispatched by polling kite's
 *    event loop once.
 *
 * Input: u8 (bits 0-4: chains - 1, bits 5-6: device 0..3: dpu plain, dpu encrypted, dpu read-only,
 * kite), then per chain: u8 nseg (1..8 used) and nseg x { u16 offset, u16 len, u8 flags }
 * (offset in 16-byte units inside the data area, flags bit0 = device-writable), then the rest of the
 * input is copied to the start of the data area (headers, discard segments, data).
 * Checks: every chain with a device-writable byte comes back (within a bound); its used length fits
 * its writable bytes; a chain with a writable last byte gets a status in {OK, IOERR, UNSUPP}. A chain
 * without a writable byte has no place for a status: kite's queue must break (DEVICE_NEEDS_RESET,
 * then the harness resets the device) and must break for nothing else; kite-dpu would stop serving
 * the queue for good, so such chains are not posted to it (the parser's unit test covers it).
 *
 * Builds: meson test (suite 'unit') with fuzz_regress.c over tests/fuzz/corpus/blk_request/ and
 * generated inputs; with clang also fuzz_blk_request_libfuzzer.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_regress.h"
#include "../../dpu/poller.h"
#include "fake_machine.h"
#include "kite/virtio_blk_dev.h"
#include "kite/evloop.h"
#include "kite/iobus.h"
#include "kite/log.h"
#include "kite/virtio_dev.h"
#include "kite/virtio_mmio.h"
#include "kite/virtio_transport.h"
#include "kite/vhost_frontend.h"
#include "kite/virtqueue.h"
#include "kite/vhost_user.h"
#include "vring_driver.h"
#include "../../dpu/blk/blk.h"
#include "kite/virtio_blk.h"

#define MEM_SIZE (1u << 20)
#define QSIZE 64
#define DATA_OFF 0x10000u
#define DATA_SIZE (MEM_SIZE - DATA_OFF)
#define MAX_CHAINS 32
#define MAX_SEGS 8
#define POLL_BOUND 2000000u

/* One device with its own guest memory and ring: a kite-dpu volume with its own frontend
 * connection, or kite's virtio-blk device on virtio-mmio. */
struct rig {
	const char *what;
	bool kite;
	char image[96], sock[96];
	struct blk_volume *vol;
	struct vu_frontend fe;
	struct fake_machine fm;        /* kite's device: a machine without KVM */
	struct virtio_dev *blk;
	struct virtio_attachment *at;
	int memfd, kick, call;
	uint8_t *mem;
	struct guest_mem gm;
	struct vring_drv vq;
};

#define NR_RIGS 4   /* dpu: plain, encrypted (AES-XTS bounce path), read-only; kite */
#define KITE_RIG 3

static struct {
	bool ready;
	char dir[64];
	struct evloop *loop;
	struct dpu_poller *poller;
	struct rig rig[NR_RIGS];
} env;

static struct {
	unsigned long inputs, chains, refused_by_driver, status[3], no_status, per_rig[NR_RIGS];
	unsigned long kite_resets, dpu_no_status_skipped;
} st;

static void *loop_thread(void *arg)
{
	evloop_run(arg);
	return NULL;
}

static __attribute__((noreturn)) void fail(const char *what)
{
	fprintf(stderr, "fuzz_blk_request: %s\n", what);
	for (unsigned i = 0; i < NR_RIGS; i++)
		if (env.rig[i].fe.err[0])
			fprintf(stderr, "fuzz_blk_request: %s volume frontend: %s\n", env.rig[i].what, env.rig[i].fe.err);
	abort();
}

static void cleanup(void)
{
	for (unsigned i = 0; i < NR_RIGS; i++) {
		struct rig *g = &env.rig[i];
		if (g->kite) {
			virtio_transport_detach(g->at);
			virtio_dev_destroy(g->blk);
			fake_machine_fini(&g->fm);
		} else {
			vuf_close(&g->fe);
			blk_volume_free(g->vol);
		}
		unlink(g->image);
		unlink(g->sock);
	}
	poller_free(env.poller);
	evloop_free(env.loop);
	rmdir(env.dir);
}

static void rig_volume(struct rig *g, unsigned i)
{
	static const char *const what[KITE_RIG] = { "plain", "encrypted", "read-only" };
	struct blk_volume_params p = { .name = what[i], .num_queues = 1, .direct = BLK_DIRECT_OFF };

	g->what = what[i];
	snprintf(g->image, sizeof(g->image), "%s/vol%u.img", env.dir, i);
	snprintf(g->sock, sizeof(g->sock), "%s/vol%u.sock", env.dir, i);
	int fd = open(g->image, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, 1 << 20) < 0)
		fail("cannot create an image");
	close(fd);
	p.image = g->image;
	p.socket = g->sock;
	if (i == 1) {
		p.has_key = true;
		for (unsigned b = 0; b < BLK_XTS_KEY_LEN; b++)
			p.key[b] = (uint8_t)(b * 37 + 1);
	}
	p.readonly = i == 2;
	g->vol = blk_volume_new(&p, env.loop, env.poller);
	if (!g->vol)
		fail("cannot create a volume");
}

/* The rig's guest memory: one 1 MiB memfd region at guest address 0. Returns it. */
static struct gm_region rig_memory(struct rig *g)
{
	g->memfd = memfd_create("fuzz-blk-ram", MFD_CLOEXEC);
	if (g->memfd < 0 || ftruncate(g->memfd, MEM_SIZE) < 0)
		fail("cannot create guest memory");
	g->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, g->memfd, 0);
	if (g->mem == MAP_FAILED)
		fail("cannot map guest memory");
	struct gm_region r = { .gpa = 0, .size = MEM_SIZE, .uva = (uint64_t)(uintptr_t)g->mem, .hva = g->mem,
			       .fd = g->memfd };
	gm_add(&g->gm, &r);
	return r;
}

static void rig_connect(struct rig *g)
{
	struct gm_region r = rig_memory(g);

	g->kick = eventfd(0, EFD_CLOEXEC);
	g->call = eventfd(0, EFD_CLOEXEC);
	struct vring_drv_config c = { .size = QSIZE, .desc = 0, .driver = 0x1000, .device = 0x2000 };
	if (vring_drv_init(&g->vq, &g->gm, &c) < 0)
		fail("cannot set the ring up");
	if (vuf_connect(&g->fe, g->sock, 2000) < 0 ||
	    vuf_negotiate(&g->fe, 1ull << VIRTIO_F_VERSION_1, 1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) < 0 ||
	    vuf_set_mem_table(&g->fe, &g->gm) < 0 ||
	    vuf_start_vring(&g->fe, 0, QSIZE, r.uva + c.desc, r.uva + c.driver, r.uva + c.device, 0, g->kick,
			    g->call) < 0)
		fail("cannot start a volume's queue through vhost-user");
}

/* ---- kite's device on a fake machine (tests/lib/machine), and a driver on virtio-mmio ---- */

static uint32_t mmio_rd(struct rig *g, uint32_t off)
{
	uint32_t v = 0;

	iobus_access(g->fm.m.mmio, KITE_VIRTIO_MMIO_BASE + off, (uint8_t *)&v, 4, false);
	return v;
}

static void mmio_wr(struct rig *g, uint32_t off, uint32_t v)
{
	iobus_access(g->fm.m.mmio, KITE_VIRTIO_MMIO_BASE + off, (uint8_t *)&v, 4, true);
}

static void rig_kite_device(struct rig *g)
{
	struct blk_options o = { .transport = VIRTIO_TRANSPORT_MMIO, .sync_io = true };

	g->what = "kite";
	g->kite = true;
	snprintf(g->image, sizeof(g->image), "%s/kite.img", env.dir);
	int fd = open(g->image, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, 1 << 20) < 0)
		fail("cannot create an image");
	close(fd);
	fake_machine_init(&g->fm, 0);      /* guest RAM: the rig's memory, added by init() */
	o.path = g->image;
	o.id = "kite-fuzz";
	g->blk = blk_create(&g->fm.m, &o, 0);
	if (!g->blk)
		fail("cannot create kite's virtio-blk device");
	g->at = virtio_transport_attach(g->blk, o.transport, &(struct virtio_transport_host){ .mmio_used = 0 });
	if (!g->at)
		fail("cannot put kite's virtio-blk device on virtio-mmio");
	if (mmio_rd(g, VIRTIO_MMIO_MAGIC_VALUE) != VIRTIO_MMIO_MAGIC || mmio_rd(g, VIRTIO_MMIO_DEVICE_ID) != VIRTIO_ID_BLOCK)
		fail("kite's virtio-blk is not at the first virtio-mmio window");
}

/* Reset kite's device and bring its queue up on a fresh ring (FLUSH negotiated: no O_DSYNC writes). */
static void rig_kite_start(struct rig *g)
{
	struct vring_drv_config c = { .size = QSIZE, .desc = 0, .driver = 0x1000, .device = 0x2000 };

	mmio_wr(g, VIRTIO_MMIO_STATUS, 0);
	memset(g->mem, 0, DATA_OFF);
	vring_drv_free(&g->vq);      /* the previous ring's driver state, if any */
	if (vring_drv_init(&g->vq, &g->gm, &c) < 0)
		fail("cannot set the ring up");
	mmio_wr(g, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	mmio_wr(g, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	mmio_wr(g, VIRTIO_MMIO_DRIVER_FEATURES, 1u << VIRTIO_BLK_F_FLUSH);
	mmio_wr(g, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	mmio_wr(g, VIRTIO_MMIO_DRIVER_FEATURES, 1u << (VIRTIO_F_VERSION_1 - 32));
	mmio_wr(g, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	mmio_wr(g, VIRTIO_MMIO_QUEUE_SEL, 0);
	mmio_wr(g, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
	mmio_wr(g, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)c.desc);
	mmio_wr(g, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)c.driver);
	mmio_wr(g, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)c.device);
	mmio_wr(g, VIRTIO_MMIO_QUEUE_READY, 1);
	mmio_wr(g, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
					 VIRTIO_STATUS_DRIVER_OK);
	if (mmio_rd(g, VIRTIO_MMIO_STATUS) != (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
					       VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK))
		fail("kite's virtio-blk did not accept the driver");
}

static void init(void)
{
	pthread_t tid;

	kite_log_init("fuzz-blk-request", getenv("FUZZ_VERBOSE") ? KITE_LOG_DEBUG : KITE_LOG_ERR);
	snprintf(env.dir, sizeof(env.dir), "/tmp/kite-fuzz-blk-XXXXXX");
	if (!mkdtemp(env.dir))
		fail("cannot make a temporary directory");
	env.loop = evloop_new();
	env.poller = poller_new(-1, false);
	if (!env.loop || !env.poller)
		fail("cannot create the event loop or the poller");
	for (unsigned i = 0; i < KITE_RIG; i++)
		rig_volume(&env.rig[i], i);
	rig_kite_device(&env.rig[KITE_RIG]);
	struct gm_region kr = rig_memory(&env.rig[KITE_RIG]);
	gm_add(&env.rig[KITE_RIG].fm.mem, &kr);
	rig_kite_start(&env.rig[KITE_RIG]);
	if (pthread_create(&tid, NULL, loop_thread, env.loop))
		fail("cannot start the control loop thread");
	for (unsigned i = 0; i < KITE_RIG; i++)
		rig_connect(&env.rig[i]);
	/* From here on this thread alone runs the queues. */
	evloop_stop(env.loop);
	pthread_join(tid, NULL);
	if (poller_nr_items(env.poller) != KITE_RIG)
		fail("a volume's queue is not on the poller");
	atexit(cleanup);
	env.ready = true;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct chain { uint64_t wbytes; uint64_t last_gpa; bool last_w; } ch[MAX_CHAINS];
	unsigned nch = 0, pending = 0;
	bool no_status_posted = false;
	size_t pos = 0;

	if (!env.ready)
		init();
	st.inputs++;
	if (size < 1)
		return 0;
	struct rig *g = &env.rig[(data[pos] >> 5) % NR_RIGS];
	st.per_rig[g - env.rig]++;
	unsigned want = data[pos++] % MAX_CHAINS + 1;
	struct vring_buf bufs[MAX_CHAINS][MAX_SEGS];
	unsigned nbufs[MAX_CHAINS];
	for (unsigned c = 0; c < want && pos < size; c++) {
		unsigned nseg = data[pos++] % MAX_SEGS + 1;
		nbufs[nch] = 0;
		ch[nch] = (struct chain){ 0 };
		for (unsigned s = 0; s < nseg && pos + 5 <= size; s++, pos += 5) {
			uint64_t off = (uint64_t)get16(data + pos) * 16 % DATA_SIZE;
			uint32_t len = get16(data + pos + 2);
			if (len > DATA_SIZE - off)
				len = (uint32_t)(DATA_SIZE - off);
			bufs[nch][nbufs[nch]++] = (struct vring_buf){ DATA_OFF + off, len, data[pos + 4] & 1 };
		}
		if (nbufs[nch])
			nch++;
	}
	memset(g->mem + DATA_OFF, 0, DATA_SIZE);
	memcpy(g->mem + DATA_OFF, data + pos, size - pos < DATA_SIZE ? size - pos : DATA_SIZE);

	for (unsigned c = 0; c < nch; c++) {
		for (unsigned s = 0; s < nbufs[c]; s++)
			if (bufs[c][s].write)
				ch[c].wbytes += bufs[c][s].len;
		const struct vring_buf *last = &bufs[c][nbufs[c] - 1];
		ch[c].last_w = last->write && last->len;
		ch[c].last_gpa = last->addr + last->len - 1;
		if (ch[c].last_w)
			g->mem[ch[c].last_gpa] = 0xee;
	}
	/* A status byte that another writable segment also covers may hold that segment's data. */
	for (unsigned c = 0; c < nch; c++) {
		for (unsigned d = 0; d < nch && ch[c].last_w; d++)
			for (unsigned s = 0; s < nbufs[d]; s++) {
				const struct vring_buf *b = &bufs[d][s];
				if (b->write && !(d == c && s == nbufs[c] - 1) && ch[c].last_gpa >= b->addr &&
				    ch[c].last_gpa < b->addr + b->len)
					ch[c].last_w = false;
			}
		/* Readable after writable is not a chain a driver may post: the device would (rightly) stop
		 * serving the queue for good (tested in fuzz_virtqueue), which would end this run. */
		bool order_ok = true;
		for (unsigned s = 1; s < nbufs[c]; s++)
			if (bufs[c][s - 1].write && !bufs[c][s].write)
				order_ok = false;
		if (!ch[c].wbytes && !g->kite) {
			st.dpu_no_status_skipped++;   /* would stop the volume's queue for good */
			continue;
		}
		if (!order_ok || vring_drv_add(&g->vq, bufs[c], nbufs[c], false, &ch[c]) < 0) {
			st.refused_by_driver++;
			continue;
		}
		no_status_posted |= !ch[c].wbytes;
		pending++;
		st.chains++;
	}
	if (g->kite && pending)
		mmio_wr(g, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	for (unsigned round = 0; pending; round++) {
		uint32_t len;
		void *tok;
		int r;

		if (round > POLL_BOUND)
			fail("requests were never completed");
		if (g->kite)
			evloop_run_once(g->fm.m.loop, 0);
		else
			poller_run_once(env.poller);
		while ((r = vring_drv_get_used(&g->vq, &len, &tok)) == 1) {
			struct chain *c = tok;
			pending--;
			if (!c->wbytes)
				fail("a chain without a device-writable byte came back");
			if (len > c->wbytes)
				fail("used length larger than the chain's writable bytes");
			if (!c->last_w) {
				st.no_status++;
				continue;
			}
			uint8_t s = g->mem[c->last_gpa];
			if (s > VIRTIO_BLK_S_UNSUPP)
				fail("status byte not written or out of range");
			st.status[s]++;
		}
		if (r < 0)
			fail("the device returned a bad used entry");
		if (g->kite && (mmio_rd(g, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET)) {
			if (!no_status_posted)
				fail("kite broke the queue, yet every chain had a place for its status");
			st.kite_resets++;
			rig_kite_start(g);
			break;
		}
		if (round > 1000)
			sched_yield();
	}
	return 0;
}

/* ---- generator for the meson run: mostly well-formed requests with one thing off ---- */

static const uint32_t types[] = { VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT, VIRTIO_BLK_T_FLUSH, VIRTIO_BLK_T_GET_ID,
				  VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_T_WRITE_ZEROES, 7, 0xffffffff };

size_t fuzz_make_input(uint64_t seed, uint8_t *buf, size_t cap)
{
	uint64_t s = seed | 1;
	uint8_t hdrs[MAX_CHAINS * 32];
	unsigned n = 1 + fuzz_rand(&s) % 8;
	size_t pos = 0;

	if (cap < 1 + n * (1 + 5 * 4) + sizeof(hdrs))
		return 0;
	memset(hdrs, 0, sizeof(hdrs));
	buf[pos++] = (uint8_t)((n - 1) | (fuzz_rand(&s) % NR_RIGS) << 5);
	for (unsigned c = 0; c < n; c++) {
		/* hdr (16 bytes) + discard segment (16 bytes) at 32 * c; data in 4 KiB pages after them */
		uint32_t type = types[fuzz_rand(&s) % 8];
		uint64_t sector = fuzz_rand(&s) % 4 ? fuzz_rand(&s) % 2100 : fuzz_rand(&s);
		uint32_t dlen = fuzz_rand(&s) % 5 ? 512 * (uint32_t)(1 + fuzz_rand(&s) % 8) : (uint32_t)(fuzz_rand(&s) % 5000);
		uint64_t dsec = fuzz_rand(&s) % 2100;
		uint32_t dnum = (uint32_t)(fuzz_rand(&s) % 64), dflags = fuzz_rand(&s) % 5 ? 0 : (uint32_t)fuzz_rand(&s) % 3;
		memcpy(hdrs + 32 * c, &type, 4);
		memcpy(hdrs + 32 * c + 8, &sector, 8);
		memcpy(hdrs + 32 * c + 16, &dsec, 8);
		memcpy(hdrs + 32 * c + 24, &dnum, 4);
		memcpy(hdrs + 32 * c + 28, &dflags, 4);
		bool disc = type == VIRTIO_BLK_T_DISCARD || type == VIRTIO_BLK_T_WRITE_ZEROES;
		bool wr = type == VIRTIO_BLK_T_OUT;
		struct { uint16_t off, len; uint8_t w; } seg[4];
		unsigned ns = 0;
		seg[ns++] = (typeof(seg[0])){ (uint16_t)(2 * c), (uint16_t)(disc ? 32 : 16), 0 };
		if (fuzz_rand(&s) % 6 == 0)
			seg[0].len = (uint16_t)(fuzz_rand(&s) % 40);
		if (type != VIRTIO_BLK_T_FLUSH)
			seg[ns++] = (typeof(seg[0])){ (uint16_t)(0x100 * (c + 1)), (uint16_t)dlen, !wr };
		seg[ns++] = (typeof(seg[0])){ (uint16_t)(0x100 * (c + 1) + 0x80 * 8 * 5), 1, 1 };
		if (fuzz_rand(&s) % 8 == 0)
			seg[ns - 1].len = (uint16_t)(fuzz_rand(&s) % 3);
		if (fuzz_rand(&s) % 8 == 0 && ns > 1) {   /* data and status in one segment */
			seg[ns - 2].len = (uint16_t)(seg[ns - 2].len + 1);
			seg[ns - 2].w = 1;
			ns--;
		}
		buf[pos++] = (uint8_t)(ns - 1);
		for (unsigned i = 0; i < ns; i++) {
			memcpy(buf + pos, &seg[i].off, 2);
			memcpy(buf + pos + 2, &seg[i].len, 2);
			buf[pos + 4] = seg[i].w;
			pos += 5;
		}
	}
	memcpy(buf + pos, hdrs, 32 * n);
	pos += 32 * n;
	/* the write payloads: a recognisable pattern in the first data pages */
	for (unsigned i = 0; i < 4096 && pos < cap; i++)
		buf[pos++] = (uint8_t)(i * 7 + seed);
	return pos;
}

int fuzz_report(void)
{
	printf("fuzz_blk_request: %lu inputs (dpu plain %lu, encrypted %lu, read-only %lu; kite %lu), %lu chains "
	       "(%lu not postable, %lu without a writable byte kept from kite-dpu): status ok %lu, ioerr %lu, "
	       "unsupp %lu, status byte not checked %lu; kite queue broken and reset %lu times\n", st.inputs,
	       st.per_rig[0], st.per_rig[1], st.per_rig[2], st.per_rig[KITE_RIG], st.chains, st.refused_by_driver,
	       st.dpu_no_status_skipped, st.status[VIRTIO_BLK_S_OK], st.status[VIRTIO_BLK_S_IOERR],
	       st.status[VIRTIO_BLK_S_UNSUPP], st.no_status, st.kite_resets);
	if (!st.status[VIRTIO_BLK_S_OK] || !st.status[VIRTIO_BLK_S_IOERR] || !st.status[VIRTIO_BLK_S_UNSUPP] ||
	    !st.per_rig[0] || !st.per_rig[1] || !st.per_rig[2] || !st.per_rig[KITE_RIG] || !st.kite_resets) {
		printf("fuzz_blk_request: the run did not produce every status (ok, ioerr, unsupp)\n");
		return 1;
	}
	return 0;
}
