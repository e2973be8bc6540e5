/* SPDX-License-Identifier: MIT */
/*
 * The vhost-user backend state machine with a tiny "echo" device (it answers every chain with the sum
 * of its readable bytes), driven by the frontend client in the same process: memory by ADD_MEM_REG /
 * REM_MEM_REG, GET_VRING_BASE stop and resume, GET_CONFIG, refused features, a second frontend, a
 * bad message closing only that connection, dispatch by the request table (queues paused around
 * SET_FEATURES, a request without a backend handler refused), and ring states (with
 * VHOST_USER_F_PROTOCOL_FEATURES a ring starts disabled until SET_VRING_ENABLE 1). Interrupt
 * coalescing (vhost_dev_set_coalescing): off, one call per completion; with a count bound of 4, six
 * completions make one call at the fourth, all six published at once, and the two held go out when
 * their time is up (a bound on waiting, not a timing check); a stopping queue sends its held call.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../../dpu/poller.h"
#include "kite/evloop.h"
#include "../../../dpu/vhost_backend.h"
#include "kite/vhost_frontend.h"
#include "kite/vhost_user.h"
#include "vring_driver.h"

#define REG_SIZE (1u << 20)
#define DATA_GPA 0x100000ull
#define QSIZE 64

static struct vq_elem elems[2];

static uint64_t echo_features(struct vhost_dev *dev)
{
	(void)dev;
	return 1ull << VIRTIO_F_EVENT_IDX;
}

static uint64_t echo_proto(struct vhost_dev *dev)
{
	(void)dev;
	return 1ull << VHOST_USER_PROTOCOL_F_CONFIG;
}

static unsigned echo_nq(struct vhost_dev *dev)
{
	(void)dev;
	return 2;
}

static int echo_config(struct vhost_dev *dev, uint32_t off, void *buf, uint32_t len)
{
	static const char cfg[16] = "echo-config-0123";
	(void)dev;
	memcpy(buf, cfg + off, len);
	return 0;
}

static unsigned echo_poll(struct vhost_dev *dev, unsigned q, struct virtqueue *vq, unsigned budget)
{
	unsigned n = 0;
	(void)vq;
	while (n < budget && vhost_dev_pop(dev, q, &elems[q]) == 1) {
		uint8_t buf[512];
		size_t len = vq_iov_to_buf(elems[q].iov, elems[q].out_num, 0, buf, sizeof(buf));
		uint32_t sum = 0;
		for (size_t i = 0; i < len; i++)
			sum += buf[i];
		size_t w = vq_buf_to_iov(elems[q].iov + elems[q].out_num, elems[q].in_num, 0, &sum, sizeof(sum));
		vhost_dev_push(dev, q, &elems[q], (uint32_t)w);
		n++;
	}
	return n;
}

static int echo_starts;

static int echo_queue_start(struct vhost_dev *dev, unsigned q, struct virtqueue *vq)
{
	(void)dev, (void)q, (void)vq;
	__atomic_fetch_add(&echo_starts, 1, __ATOMIC_RELAXED);
	return 0;
}

static const struct vhost_backend_ops echo_ops = {
	.type = "echo",
	.get_features = echo_features,
	.get_protocol_features = echo_proto,
	.num_queues = echo_nq,
	.get_config = echo_config,
	.config_size = 16,
	.queue_poll = echo_poll,
	.queue_start = echo_queue_start,
};

struct env {
	char dir[64], path[96];
	struct evloop *loop;
	struct dpu_poller *poller;
	struct vhost_dev *dev;
	pthread_t tid;
	/* frontend side */
	struct vu_frontend fe;
	int memfd[2];
	uint8_t *mem[2];
	struct guest_mem gm;
	struct vring_drv vq;
	int kick, call;
};

static void *loop_thread(void *arg)
{
	evloop_run(arg);
	return NULL;
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	snprintf(e->dir, sizeof(e->dir), "/tmp/kite-vu-backend-XXXXXX");
	if (!mkdtemp(e->dir))
		return -1;
	snprintf(e->path, sizeof(e->path), "%s/echo.sock", e->dir);
	e->loop = evloop_new();
	e->poller = poller_new(-1, true);
	e->dev = vhost_dev_new("echo0", e->path, &echo_ops, NULL, e->loop, e->poller);
	if (!e->dev || pthread_create(&e->tid, NULL, loop_thread, e->loop))
		return -1;
	for (int i = 0; i < 2; i++) {
		e->memfd[i] = memfd_create("echo-ram", MFD_CLOEXEC);
		if (ftruncate(e->memfd[i], REG_SIZE) < 0)
			return -1;
		e->mem[i] = mmap(NULL, REG_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, e->memfd[i], 0);
		struct gm_region r = { .gpa = i ? DATA_GPA : 0, .size = REG_SIZE,
				       .uva = (uint64_t)(uintptr_t)e->mem[i], .hva = e->mem[i], .fd = e->memfd[i] };
		gm_add(&e->gm, &r);
	}
	e->kick = eventfd(0, EFD_CLOEXEC);
	e->call = eventfd(0, EFD_CLOEXEC);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	vuf_close(&e->fe);
	evloop_stop(e->loop);
	pthread_join(e->tid, NULL);
	vhost_dev_free(e->dev);
	poller_free(e->poller);
	evloop_free(e->loop);
	vring_drv_free(&e->vq);
	for (int i = 0; i < 2; i++) {
		munmap(e->mem[i], REG_SIZE);
		close(e->memfd[i]);
	}
	close(e->kick);
	close(e->call);
	rmdir(e->dir);
	free(e);
	return 0;
}

static int mem_reg(struct env *e, uint32_t req, int i, bool with_fd)
{
	struct vhost_user_msg m = { .hdr = { .request = req, .size = sizeof(struct vhost_user_mem_single) } };
	m.p.mem_reg.region = (struct vhost_user_mem_region){ e->gm.r[i].gpa, REG_SIZE, e->gm.r[i].uva, 0 };
	if (with_fd) {
		m.fds[0] = e->memfd[i];
		m.nfds = 1;
	}
	return vuf_call(&e->fe, &m, true);
}

static void connect_and_start(struct env *e, uint16_t base, bool fresh_ring)
{
	assert_int_equal(vuf_connect(&e->fe, e->path, 2000), 0);
	assert_int_equal(vuf_negotiate(&e->fe, 1ull << VIRTIO_F_VERSION_1,
				       (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) |
				       (1ull << VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS) |
				       (1ull << VHOST_USER_PROTOCOL_F_CONFIG)), 0);
	assert_true(e->fe.protocol & (1ull << VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS));
	uint64_t slots;
	assert_int_equal(vuf_get_u64(&e->fe, VHOST_USER_GET_MAX_MEM_SLOTS, &slots), 0);
	assert_true(slots >= 2);
	assert_int_equal(mem_reg(e, VHOST_USER_ADD_MEM_REG, 0, true), 0);
	assert_int_equal(mem_reg(e, VHOST_USER_ADD_MEM_REG, 1, true), 0);
	struct vring_drv_config c = { .size = QSIZE, .desc = 0, .driver = 0x1000, .device = 0x2000 };
	if (fresh_ring)
		assert_int_equal(vring_drv_init(&e->vq, &e->gm, &c), 0);
	uint64_t uva = e->gm.r[0].uva;
	assert_int_equal(vuf_start_vring(&e->fe, 0, QSIZE, uva + c.desc, uva + c.driver, uva + c.device, base,
					 e->kick, e->call), 0);
}

/* Send `n` bytes of value v through the echo device; returns the sum it answered (or -1). */
static long echo(struct env *e, uint8_t v, unsigned n)
{
	memset(e->mem[1], v, n);
	struct vring_buf b[2] = { { DATA_GPA, n, false }, { DATA_GPA + 4096, 4, true } };
	assert_true(vring_drv_add(&e->vq, b, 2, false, (void *)1) >= 0);
	for (int i = 0; i < 2000; i++) {
		uint32_t len;
		void *tok;
		int r = vring_drv_get_used(&e->vq, &len, &tok);
		assert_true(r >= 0);
		if (r == 1) {
			assert_int_equal(len, 4);
			uint32_t sum;
			memcpy(&sum, e->mem[1] + 4096, 4);
			return sum;
		}
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	return -1;
}

/* Queue n echo requests at once (tokens 1..n) and wait until all n are used (a bound, not a time). */
static void echo_many(struct env *e, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct vring_buf b[2] = { { DATA_GPA, 8, false }, { DATA_GPA + 4096 + 8 * i, 4, true } };
		assert_true(vring_drv_add(&e->vq, b, 2, false, (void *)(uintptr_t)(i + 1)) >= 0);
	}
	for (unsigned got = 0, tries = 0; got < n; tries++) {
		uint32_t len;
		void *tok;
		int r = vring_drv_get_used(&e->vq, &len, &tok);
		assert_true(r >= 0);
		if (r == 1) {
			got++;
			continue;
		}
		assert_true(tries < 5000);
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
}

/* The calls written to the frontend's call eventfd since the last look (nonblocking read). */
static uint64_t calls(struct env *e)
{
	struct pollfd pfd = { e->call, POLLIN, 0 };
	uint64_t n = 0;

	if (poll(&pfd, 1, 0) == 1)
		assert_int_equal(read(e->call, &n, sizeof(n)), (ssize_t)sizeof(n));
	return n;
}

/* Wait (up to 10 s: a bound) for at least one call. */
static uint64_t wait_calls(struct env *e)
{
	struct pollfd pfd = { e->call, POLLIN, 0 };

	assert_int_equal(poll(&pfd, 1, 10000), 1);
	return calls(e);
}

static void test_coalescing(void **state)
{
	struct env *e = *state;

	connect_and_start(e, 0, true);
	/* off (the default): a call per completion (no EVENT_IDX here: every decision says call) */
	echo_many(e, 6);
	uint64_t n = 0;
	while (n < 6)
		n += wait_calls(e);        /* the last call may follow its used entry by a moment */
	assert_int_equal(n, 6);
	/* at most 4 completions or 2 s: the fourth makes the call; all six are published at once,
	 * the last two's call is held */
	vhost_dev_set_coalescing(e->dev, 2000000, 4);
	echo_many(e, 6);
	assert_int_equal(calls(e), 1);
	/* then their time is up: the poller does not sleep past it */
	assert_int_equal(wait_calls(e), 1);
	struct vhost_dev_stats st;
	/* the poller counts a call after its write, which the test may see first: wait (a bound) */
	for (unsigned tries = 0; vhost_dev_get_stats(e->dev, &st), st.kicks_sent < 8 && tries < 5000; tries++) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	assert_int_equal(st.calls_held, 2);
	assert_int_equal(st.kicks_sent, 8);
	/* a call held for a minute: stopping the queue (GET_VRING_BASE) sends it */
	vhost_dev_set_coalescing(e->dev, 60000000, 0);
	echo_many(e, 3);
	assert_int_equal(calls(e), 0);
	uint32_t base;
	assert_int_equal(vuf_get_vring_base(&e->fe, 0, &base), 0);
	assert_int_equal(base, 15);
	assert_int_equal(calls(e), 1);
	vhost_dev_get_stats(e->dev, &st);
	assert_int_equal(st.calls_held, 3);
}

static void test_flow(void **state)
{
	struct env *e = *state;

	connect_and_start(e, 0, true);
	char cfg[16];
	assert_int_equal(vuf_get_config(&e->fe, 5, cfg, 6), 0);
	assert_memory_equal(cfg, "config", 6);
	for (unsigned i = 1; i <= 10; i++)
		assert_int_equal(echo(e, (uint8_t)i, 100), 100 * i);
	/* stop: the base is what was consumed; nothing is served while stopped */
	uint32_t base;
	assert_int_equal(vuf_get_vring_base(&e->fe, 0, &base), 0);
	assert_int_equal(base, 10);
	/* the data region goes away and comes back (QEMU does this on memory hot-plug) */
	assert_int_equal(mem_reg(e, VHOST_USER_REM_MEM_REG, 1, false), 0);
	assert_int_equal(mem_reg(e, VHOST_USER_ADD_MEM_REG, 1, true), 0);
	/* QEMU 7.2 with queue pairs repeats ADD_MEM_REG / REM_MEM_REG once per pair: the very same region
	 * again only counts, and stays mapped until removed as often (the echo below reads it) */
	assert_int_equal(mem_reg(e, VHOST_USER_ADD_MEM_REG, 1, true), 0);
	assert_int_equal(mem_reg(e, VHOST_USER_REM_MEM_REG, 1, false), 0);
	uint64_t uva = e->gm.r[0].uva;
	assert_int_equal(vuf_start_vring(&e->fe, 0, QSIZE, uva, uva + 0x1000, uva + 0x2000, (uint16_t)base, e->kick,
					 e->call), 0);
	assert_int_equal(echo(e, 3, 200), 600);
	struct vhost_dev_stats st;
	vhost_dev_get_stats(e->dev, &st);
	assert_int_equal(st.connects, 1);
	assert_int_equal(st.protocol_errors, 0);
}

static void test_second_frontend_refused(void **state)
{
	struct env *e = *state;
	struct vu_frontend other;
	uint64_t f;

	connect_and_start(e, 0, true);
	assert_int_equal(echo(e, 1, 10), 10);
	assert_int_equal(vuf_connect(&other, e->path, 1000), 0);
	/* the backend closes the second connection at once */
	assert_int_equal(vuf_get_u64(&other, VHOST_USER_GET_FEATURES, &f), -1);
	vuf_close(&other);
	assert_int_equal(echo(e, 2, 10), 20);
}

/* Wait until the backend has counted a disconnect; returns its stats. */
static struct vhost_dev_stats wait_disconnect(struct env *e)
{
	struct vhost_dev_stats st;
	for (int i = 0; i < 200 && (vhost_dev_get_stats(e->dev, &st), st.disconnects == 0); i++)
		usleep(5000);
	return st;
}

static void test_bad_features_close(void **state)
{
	struct env *e = *state;

	connect_and_start(e, 0, true);
	assert_int_equal(echo(e, 1, 7), 7);
	/* a feature that was not offered: the connection is closed, queues stop */
	struct vhost_user_msg m = { .hdr = { .request = VHOST_USER_SET_FEATURES, .size = 8 },
				    .p.u64 = 1ull << 50 };
	assert_int_equal(vuf_call(&e->fe, &m, true), -1);
	vuf_close(&e->fe);
	struct vhost_dev_stats st = wait_disconnect(e);
	assert_int_equal(st.protocol_errors, 1);
	assert_false(vhost_dev_connected(e->dev));
	/* a well-behaved frontend is served again, resuming the same ring where it stopped */
	connect_and_start(e, e->vq.last_used, false);
	assert_int_equal(echo(e, 4, 5), 20);
}

/* The dispatcher follows the request table: a PAUSE row (SET_FEATURES) stops and restarts the running
 * ring around its handler, and a request the wire accepts but the backend has no handler for closes
 * the connection. */
static void test_table_dispatch(void **state)
{
	struct env *e = *state;

	connect_and_start(e, 0, true);
	assert_int_equal(echo(e, 1, 9), 9);
	struct vhost_user_msg m = { .hdr = { .request = VHOST_USER_SET_FEATURES, .size = 8 },
				    .p.u64 = e->fe.features };
	assert_int_equal(vuf_call(&e->fe, &m, true), 0);
	assert_int_equal(echo(e, 2, 9), 18);     /* the queue was restarted where it stopped */
	struct vhost_dev_stats st;
	vhost_dev_get_stats(e->dev, &st);
	assert_int_equal(st.protocol_errors, 0);
	m = (struct vhost_user_msg){ .hdr = { .request = VHOST_USER_SEND_RARP, .size = 8 } };
	assert_int_equal(vuf_call(&e->fe, &m, true), -1);
	st = wait_disconnect(e);
	assert_int_equal(st.protocol_errors, 1);
	assert_false(vhost_dev_connected(e->dev));
}

/* Ring states: with VHOST_USER_F_PROTOCOL_FEATURES negotiated a ring with everything set (size, base,
 * addresses, call and kick fds) stays disabled until SET_VRING_ENABLE 1; ENABLE 0 stops it again. */
static void test_ring_starts_disabled(void **state)
{
	struct env *e = *state;
	struct vring_drv_config c = { .size = QSIZE, .desc = 0, .driver = 0x1000, .device = 0x2000 };
	uint64_t uva = e->gm.r[0].uva;

	assert_int_equal(vuf_connect(&e->fe, e->path, 2000), 0);
	assert_int_equal(vuf_negotiate(&e->fe, 1ull << VIRTIO_F_VERSION_1,
				       (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) |
				       (1ull << VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS)), 0);
	assert_true(e->fe.features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES));
	assert_true(e->fe.protocol & (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK));
	assert_int_equal(mem_reg(e, VHOST_USER_ADD_MEM_REG, 0, true), 0);
	assert_int_equal(mem_reg(e, VHOST_USER_ADD_MEM_REG, 1, true), 0);
	assert_int_equal(vring_drv_init(&e->vq, &e->gm, &c), 0);
	struct vhost_user_msg m[5] = {
		{ .hdr = { .request = VHOST_USER_SET_VRING_NUM, .size = 8 }, .p.state = { 0, QSIZE } },
		{ .hdr = { .request = VHOST_USER_SET_VRING_BASE, .size = 8 }, .p.state = { 0, 0 } },
		{ .hdr = { .request = VHOST_USER_SET_VRING_ADDR, .size = sizeof(struct vhost_user_vring_addr) },
		  .p.addr = { .index = 0, .desc_user_addr = uva + c.desc, .used_user_addr = uva + c.device,
			      .avail_user_addr = uva + c.driver } },
		{ .hdr = { .request = VHOST_USER_SET_VRING_CALL, .size = 8 }, .p.u64 = 0, .fds = { e->call }, .nfds = 1 },
		{ .hdr = { .request = VHOST_USER_SET_VRING_KICK, .size = 8 }, .p.u64 = 0, .fds = { e->kick }, .nfds = 1 },
	};
	__atomic_store_n(&echo_starts, 0, __ATOMIC_RELAXED);
	for (int i = 0; i < 5; i++)
		assert_int_equal(vuf_call(&e->fe, &m[i], true), 0);    /* acknowledged: handled */
	assert_int_equal(__atomic_load_n(&echo_starts, __ATOMIC_RELAXED), 0);
	assert_int_equal(vuf_enable_vring(&e->fe, 0, true), 0);
	assert_int_equal(__atomic_load_n(&echo_starts, __ATOMIC_RELAXED), 1);
	assert_int_equal(echo(e, 2, 30), 60);
	assert_int_equal(vuf_enable_vring(&e->fe, 0, false), 0);
	assert_int_equal(vuf_enable_vring(&e->fe, 0, true), 0);
	assert_int_equal(__atomic_load_n(&echo_starts, __ATOMIC_RELAXED), 2);
	assert_int_equal(echo(e, 3, 30), 90);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_flow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_second_frontend_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_features_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_dispatch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ring_starts_disabled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_coalescing, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
