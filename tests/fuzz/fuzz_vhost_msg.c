/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the vhost-user backend state machine (dpu/vhost_backend.c + message.c): a frontend
 * connection in this process sends a sequence of messages built from the input, with file descriptors
 * attached where the input says so; the backend's event loop and its (thread-less) poller run in this
 * thread after each message. The device is a small "sum" device: two queues, config space, every chain
 * answered with the sum of its readable bytes (so the poller touches every mapped byte).
 *
 * Input: records of { u8 ctl, 12-byte header (request, flags, size), payload }. The payload is
 * header.size bytes (zero-padded when the input ends) if that fits a vhost-user payload; otherwise only
 * the header is sent (the backend must refuse it without waiting for more). ctl bit0: attach the
 * 64 KiB guest-RAM memfd, bit1: an eventfd, bit2: a second memfd (4 KiB), bit3: run the poller,
 * bit4: the record is instead a write into guest RAM (the header's first 2 bytes: offset in 8-byte
 * units, then 32 bytes of data), the guest side of the rings.
 * Checks: the backend never crashes and each reply it sends is well-formed (reply flag, known size).
 *
 * Builds: meson test (suite 'unit') with fuzz_regress.c over tests/fuzz/corpus/vhost_msg/ and
 * generated inputs; with clang also fuzz_vhost_msg_libfuzzer.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fuzz_regress.h"
#include "fuzz_sendfds.h"
#include "../../dpu/poller.h"
#include "kite/evloop.h"
#include "kite/log.h"
#include "../../dpu/vhost_backend.h"
#include "kite/vhost_user.h"

#define RAM_SIZE 0x10000u
#define UVA_BASE 0x7f0000000000ull
#define MAX_RECORDS 64

static struct {
	char dir[64], path[96];
	struct evloop *loop;
	struct dpu_poller *poller;
	struct vhost_dev *dev;
	int ram, small;
	uint8_t *ram_map;
	struct vq_elem elem;
} env;

static struct {
	unsigned long inputs, msgs, replies, pops, polls, closed_by_backend;
} st;

static uint64_t sum_features(struct vhost_dev *dev)
{
	(void)dev;
	return (1ull << VIRTIO_F_EVENT_IDX) | (1ull << VIRTIO_F_INDIRECT_DESC) | (1ull << VIRTIO_F_RING_PACKED);
}

static uint64_t sum_proto(struct vhost_dev *dev)
{
	(void)dev;
	return (1ull << VHOST_USER_PROTOCOL_F_CONFIG) | (1ull << VHOST_USER_PROTOCOL_F_MQ) |
	       (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD);
}

static unsigned sum_nq(struct vhost_dev *dev)
{
	(void)dev;
	return 2;
}

static uint8_t config[24];

static int sum_get_config(struct vhost_dev *dev, uint32_t off, void *buf, uint32_t len)
{
	(void)dev;
	memcpy(buf, config + off, len);
	return 0;
}

static int sum_set_config(struct vhost_dev *dev, uint32_t off, const void *buf, uint32_t len)
{
	(void)dev;
	memcpy(config + off, buf, len);
	return 0;
}

static unsigned sum_poll(struct vhost_dev *dev, unsigned q, struct virtqueue *vq, unsigned budget)
{
	unsigned n = 0;
	(void)vq;
	while (n < budget && vhost_dev_pop(dev, q, &env.elem) == 1) {
		uint32_t sum = 0;
		for (unsigned i = 0; i < env.elem.out_num; i++)
			for (size_t b = 0; b < env.elem.iov[i].iov_len; b++)
				sum += ((const uint8_t *)env.elem.iov[i].iov_base)[b];
		size_t w = vq_buf_to_iov(env.elem.iov + env.elem.out_num, env.elem.in_num, 0, &sum, sizeof(sum));
		vhost_dev_push(dev, q, &env.elem, (uint32_t)w);
		st.pops++;
		n++;
	}
	return n;
}

static const struct vhost_backend_ops sum_ops = {
	.type = "sum",
	.get_features = sum_features,
	.get_protocol_features = sum_proto,
	.num_queues = sum_nq,
	.get_config = sum_get_config,
	.set_config = sum_set_config,
	.config_size = sizeof(config),
	.queue_poll = sum_poll,
};

static __attribute__((noreturn)) void fail(const char *what)
{
	fprintf(stderr, "fuzz_vhost_msg: %s\n", what);
	abort();
}

static void cleanup(void)
{
	vhost_dev_free(env.dev);
	poller_free(env.poller);
	evloop_free(env.loop);
	unlink(env.path);
	rmdir(env.dir);
}

static void init(void)
{
	kite_log_init("fuzz-vhost-msg", getenv("FUZZ_VERBOSE") ? KITE_LOG_DEBUG : KITE_LOG_ERR);
	snprintf(env.dir, sizeof(env.dir), "/tmp/kite-fuzz-vu-XXXXXX");
	if (!mkdtemp(env.dir))
		fail("cannot make a temporary directory");
	snprintf(env.path, sizeof(env.path), "%s/sum.sock", env.dir);
	env.loop = evloop_new();
	env.poller = poller_new(-1, false);
	env.dev = env.loop && env.poller ? vhost_dev_new("sum0", env.path, &sum_ops, NULL, env.loop, env.poller) : NULL;
	if (!env.dev)
		fail("cannot create the device");
	env.ram = memfd_create("fuzz-vu-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	env.small = memfd_create("fuzz-vu-small", MFD_CLOEXEC);
	if (env.ram < 0 || env.small < 0 || ftruncate(env.ram, RAM_SIZE) < 0 || ftruncate(env.small, 4096) < 0)
		fail("cannot create the memfds");
	fcntl(env.ram, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
	env.ram_map = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, env.ram, 0);
	if (env.ram_map == MAP_FAILED)
		fail("cannot map the memfd");
	atexit(cleanup);
}

static int send_record(int sock, const uint8_t *buf, size_t len, uint8_t ctl)
{
	int fds[3], ev = -1;
	unsigned nfds = 0;

	if (ctl & 1)
		fds[nfds++] = env.ram;
	if (ctl & 2) {
		ev = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (ev >= 0)
			fds[nfds++] = ev;
	}
	if (ctl & 4)
		fds[nfds++] = env.small;
	ssize_t r = fuzz_sendfds(sock, buf, len, fds, nfds, 0);
	if (ev >= 0)
		close(ev);
	return r == (ssize_t)len ? 0 : -1;
}

/* Read what the backend answered; every reply must be a well-formed reply header + its payload. */
static uint8_t reply_buf[1 << 16];
static size_t reply_have;

static void drain_replies(int sock)
{
	uint8_t *buf = reply_buf;
	size_t have = reply_have;
	ssize_t r;

	while ((r = recv(sock, buf + have, sizeof(reply_buf) - have, MSG_DONTWAIT)) > 0)
		have += (size_t)r;
	for (;;) {
		struct vhost_user_header h;
		if (have < sizeof(h))
			break;
		memcpy(&h, buf, sizeof(h));
		if (!(h.flags & VHOST_USER_REPLY_MASK) || (h.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION ||
		    h.size > sizeof(union vhost_user_payload))
			fail("the backend sent a malformed reply header");
		if (have < sizeof(h) + h.size)
			break;
		st.replies++;
		memmove(buf, buf + sizeof(h) + h.size, have - sizeof(h) - h.size);
		have -= sizeof(h) + h.size;
	}
	if (r == 0 || have == sizeof(reply_buf))
		have = 0;   /* connection over: forget a partial reply */
	reply_have = have;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t msg[sizeof(struct vhost_user_header) + sizeof(union vhost_user_payload)];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t pos = 0;

	if (!env.dev)
		init();
	st.inputs++;
	memset(env.ram_map, 0, RAM_SIZE);
	int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	strcpy(sa.sun_path, env.path);
	if (sock < 0 || connect(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		fail("cannot connect to the backend");
	evloop_run_once(env.loop, 1000);
	if (!vhost_dev_connected(env.dev))
		fail("the backend did not accept the connection");

	for (unsigned n = 0; n < MAX_RECORDS && pos + 1 + sizeof(struct vhost_user_header) <= size; n++) {
		uint8_t ctl = data[pos++];
		struct vhost_user_header h;
		if (ctl & 0x10) {
			size_t off = (size_t)(data[pos] | data[pos + 1] << 8) * 8 % (RAM_SIZE - 32);
			size_t take = size - pos - 2 < 32 ? size - pos - 2 : 32;
			memcpy(env.ram_map + off, data + pos + 2, take);
			pos += 2 + take;
			continue;
		}
		memcpy(&h, data + pos, sizeof(h));
		pos += sizeof(h);
		size_t len = sizeof(h);
		memcpy(msg, &h, sizeof(h));
		if (h.size <= sizeof(union vhost_user_payload)) {
			size_t take = size - pos < h.size ? size - pos : h.size;
			memset(msg + sizeof(h), 0, h.size);
			memcpy(msg + sizeof(h), data + pos, take);
			pos += take;
			len += h.size;
		}
		if (send_record(sock, msg, len, ctl) < 0)
			break;
		st.msgs++;
		evloop_run_once(env.loop, 1000);
		if (ctl & 8) {
			/* the guest side: something in the ring area, then a poller round */
			st.polls++;
			poller_run_once(env.poller);
			if (getenv("FUZZ_VERBOSE"))   /* queue 0 at the generator's default ring addresses */
				fprintf(stderr, "poll: avail idx %u used idx %u\n", *(uint16_t *)(env.ram_map + 0x4002),
					*(uint16_t *)(env.ram_map + 0x8002));
		}
		drain_replies(sock);
		if (!vhost_dev_connected(env.dev)) {
			st.closed_by_backend++;
			break;
		}
	}
	close(sock);
	for (int i = 0; i < 10 && vhost_dev_connected(env.dev); i++)
		evloop_run_once(env.loop, 1000);
	if (vhost_dev_connected(env.dev))
		fail("the backend did not notice the frontend going away");
	reply_have = 0;
	return 0;
}

/* ---- generator for the meson run: a plausible session with perturbed fields ---- */

struct gen {
	uint8_t *buf;
	size_t cap, pos;
	uint64_t s;
};

static void put(struct gen *g, uint8_t ctl, uint32_t req, uint32_t flags, const void *p, uint32_t size)
{
	struct vhost_user_header h = { req, flags & VHOST_USER_VERSION_MASK ? flags : flags | VHOST_USER_VERSION, size };

	if (fuzz_rand(&g->s) % 64 == 0)
		h.size = (uint32_t)fuzz_rand(&g->s) % 80;
	if (fuzz_rand(&g->s) % 64 == 0)
		h.request = (uint32_t)fuzz_rand(&g->s) % 45;
	if (g->pos + 1 + sizeof(h) + size > g->cap)
		return;
	g->buf[g->pos++] = ctl;
	memcpy(g->buf + g->pos, &h, sizeof(h));
	g->pos += sizeof(h);
	if (size)
		memcpy(g->buf + g->pos, p, size);
	g->pos += size;
}

static uint64_t maybe(struct gen *g, uint64_t v)
{
	switch (fuzz_rand(&g->s) % 40) {
	case 0: return fuzz_rand(&g->s);
	case 1: return v + fuzz_rand(&g->s) % 0x3000;
	case 2: return v ^ (1ull << (fuzz_rand(&g->s) % 64));
	default: return v;
	}
}

size_t fuzz_make_input(uint64_t seed, uint8_t *buf, size_t cap)
{
	struct gen g = { buf, cap, 0, seed | 1 };
	uint64_t u;
	uint32_t ack = fuzz_rand(&g.s) % 3 == 0 ? VHOST_USER_NEED_REPLY_MASK : 0;
	unsigned steps = 6 + fuzz_rand(&g.s) % 20;

	put(&g, 0, VHOST_USER_GET_FEATURES, 0, NULL, 0);
	u = maybe(&g, (1ull << VIRTIO_F_VERSION_1) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES) |
		      (fuzz_rand(&g.s) & ((1ull << VIRTIO_F_EVENT_IDX) | (1ull << VIRTIO_F_INDIRECT_DESC) |
					 (1ull << VIRTIO_F_RING_PACKED))));
	bool packed = u & (1ull << VIRTIO_F_RING_PACKED);
	put(&g, 0, VHOST_USER_SET_FEATURES, 0, &u, 8);
	put(&g, 0, VHOST_USER_GET_PROTOCOL_FEATURES, 0, NULL, 0);
	u = maybe(&g, (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) | (1ull << VHOST_USER_PROTOCOL_F_CONFIG) |
		      (1ull << VHOST_USER_PROTOCOL_F_MQ) | (1ull << VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS) |
		      (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD));
	put(&g, 0, VHOST_USER_SET_PROTOCOL_FEATURES, 0, &u, 8);
	put(&g, 0, VHOST_USER_SET_OWNER, ack, NULL, 0);
	struct vhost_user_mem_table mt = { .nregions = 1 };
	mt.regions[0] = (struct vhost_user_mem_region){ 0, RAM_SIZE, UVA_BASE, 0 };
	mt.regions[0].memory_size = maybe(&g, RAM_SIZE);
	mt.regions[0].mmap_offset = maybe(&g, 0);
	mt.nregions = (uint32_t)maybe(&g, 1);
	put(&g, fuzz_rand(&g.s) % 10 ? 1 : (uint8_t)fuzz_rand(&g.s), VHOST_USER_SET_MEM_TABLE, ack, &mt,
	    (uint32_t)(8 + 32 * (mt.nregions <= 8 ? mt.nregions : 1)));
	for (unsigned i = 0; i < steps; i++) {
		/* the first steps set queue 0 up in order (NUM/BASE, ADDR, KICK/CALL, a chain), then anything */
		uint32_t q = i < 6 ? 0 : (uint32_t)maybe(&g, fuzz_rand(&g.s) % 2);
		unsigned what = i < 6 ? (unsigned[]){ 0, 2, 4, 4, 6, 12 }[i] : (unsigned)(fuzz_rand(&g.s) % 15);
		uint8_t poll = fuzz_rand(&g.s) % 3 ? 8 : 0;
		switch (what) {
		case 0: case 1: {
			struct vhost_user_vring_state vs = { q, (uint32_t)maybe(&g, 1u << (fuzz_rand(&g.s) % 9)) };
			put(&g, poll, VHOST_USER_SET_VRING_NUM, ack, &vs, sizeof(vs));
			vs.num = (uint32_t)maybe(&g, 0);
			put(&g, poll, VHOST_USER_SET_VRING_BASE, ack, &vs, sizeof(vs));
			break;
		}
		case 2: case 3: {
			struct vhost_user_vring_addr a = { q, 0, maybe(&g, UVA_BASE + 0x1000 * q),
							   maybe(&g, UVA_BASE + 0x8000 + 0x1000 * q),   /* used */
							   maybe(&g, UVA_BASE + 0x4000 + 0x1000 * q), 0 };  /* avail */
			if (packed)
				a.used_user_addr = a.desc_user_addr + 0x800;
			put(&g, poll, VHOST_USER_SET_VRING_ADDR, ack, &a, sizeof(a));
			break;
		}
		case 4: case 5:
			u = q | (fuzz_rand(&g.s) % 5 == 0 ? VHOST_USER_VRING_NOFD_MASK : 0);
			put(&g, poll | 2, (i < 6 ? i == 2 : fuzz_rand(&g.s) & 1) ? VHOST_USER_SET_VRING_CALL :
			    VHOST_USER_SET_VRING_KICK, ack, &u, 8);
			break;
		case 6: {
			struct vhost_user_vring_state vs = { q, (uint32_t)maybe(&g, 1) };
			put(&g, poll, VHOST_USER_SET_VRING_ENABLE, ack, &vs, sizeof(vs));
			break;
		}
		case 7: {
			struct vhost_user_vring_state vs = { q, 0 };
			put(&g, poll, VHOST_USER_GET_VRING_BASE, 0, &vs, sizeof(vs));
			break;
		}
		case 8: {
			struct vhost_user_config c = { (uint32_t)maybe(&g, fuzz_rand(&g.s) % 24),
						       (uint32_t)maybe(&g, fuzz_rand(&g.s) % 24), 0, { 0 } };
			uint32_t n = c.size <= VHOST_USER_CONFIG_MAX ? c.size : 4;
			put(&g, poll, fuzz_rand(&g.s) & 1 ? VHOST_USER_GET_CONFIG : VHOST_USER_SET_CONFIG, ack, &c,
			    VHOST_USER_CONFIG_HDR_SIZE + n);
			break;
		}
		case 9: {
			struct vhost_user_mem_single m = { 0, { maybe(&g, 0x20000), maybe(&g, 4096),
								maybe(&g, UVA_BASE + 0x20000), maybe(&g, 0) } };
			put(&g, fuzz_rand(&g.s) % 4 ? 4 : 1,
			    fuzz_rand(&g.s) & 1 ? VHOST_USER_ADD_MEM_REG : VHOST_USER_REM_MEM_REG, ack, &m, sizeof(m));
			break;
		}
		case 10: {
			struct vhost_user_inflight in = { maybe(&g, 0), 0, (uint16_t)maybe(&g, 2),
							  (uint16_t)maybe(&g, 64), 0 };
			put(&g, 0, VHOST_USER_GET_INFLIGHT_FD, 0, &in, sizeof(in));
			break;
		}
		case 11: {
			uint64_t any[2] = { fuzz_rand(&g.s), fuzz_rand(&g.s) };
			put(&g, 0, (uint32_t)(fuzz_rand(&g.s) % 42), fuzz_rand(&g.s) % 4 ? ack : (uint32_t)fuzz_rand(&g.s),
			    any, (uint32_t)(fuzz_rand(&g.s) % 5 * 4));
			break;
		}
		case 12: {
			/* one split-ring chain on queue q's default rings: 64 readable bytes + 4 writable */
			uint8_t rec[34] = { 0 };
			uint64_t addr = 0x3000;
			uint32_t l0 = 64, l1 = 4;
			uint16_t f0 = 1, n0 = 1, f1 = 2;
			uint16_t at = (uint16_t)(0x1000 * (q & 1) / 8);
			memcpy(rec, &at, 2);
			memcpy(rec + 2, &addr, 8); memcpy(rec + 10, &l0, 4); memcpy(rec + 14, &f0, 2); memcpy(rec + 16, &n0, 2);
			addr = 0x3100;
			memcpy(rec + 18, &addr, 8); memcpy(rec + 26, &l1, 4); memcpy(rec + 30, &f1, 2);
			if (g.pos + 35 + 5 < g.cap) {
				g.buf[g.pos++] = 0x10;
				memcpy(g.buf + g.pos, rec, 34);
				g.pos += 34;
				uint16_t avail[4] = { (uint16_t)(0x4000 + 0x1000 * (q & 1)) / 8, 0, (uint16_t)(1 + i), 0 };
				g.buf[g.pos++] = 0x10;
				memcpy(g.buf + g.pos, avail, 8);   /* offset, flags 0, idx, ring[0] = 0 */
				g.pos += 8;
				memset(g.buf + g.pos, 0, 26);
				g.pos += 26;
				put(&g, 8, VHOST_USER_GET_QUEUE_NUM, 0, NULL, 0);   /* and a poller round */
			}
			break;
		}
		case 13:
			u = maybe(&g, 0);
			put(&g, poll, VHOST_USER_GET_QUEUE_NUM, 0, NULL, 0);
			put(&g, poll, VHOST_USER_GET_MAX_MEM_SLOTS, 0, NULL, 0);
			break;
		default:
			put(&g, poll, VHOST_USER_RESET_DEVICE, ack, NULL, 0);
		}
	}
	return g.pos;
}

int fuzz_report(void)
{
	struct vhost_dev_stats ds = { 0 };

	if (env.dev)
		vhost_dev_get_stats(env.dev, &ds);
	printf("fuzz_vhost_msg: %lu inputs, %lu messages, %lu replies, %lu chains served, %lu poller rounds, "
	       "%lu connections closed by the backend (protocol errors %llu)\n", st.inputs, st.msgs, st.replies,
	       st.pops, st.polls, st.closed_by_backend, (unsigned long long)ds.protocol_errors);
	if (!st.replies || !st.closed_by_backend || !st.pops || st.msgs < st.inputs * 4) {
		printf("fuzz_vhost_msg: the run did not reach answered messages, refused ones and served chains\n");
		return 1;
	}
	return 0;
}
