/* SPDX-License-Identifier: MIT */
/*
 * The shared core of kite's vhost-user devices: a virtio device whose queues a vhost-user backend
 * serves. The driver's register writes (vCPU threads) only post the wanted state; the device thread
 * talks to the backend, survives its loss and reports a broken one. See kite/virtio_vhost_user.h.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kite/evloop.h"
#include "kite/log.h"
#include "kite/seccomp.h"
#include "kite/virtio_ring.h"
#include "vhost_user_dev.h"

#define VU_TRANSPORT_FEATURES ((1ULL << VIRTIO_F_INDIRECT_DESC) | (1ULL << VIRTIO_F_EVENT_IDX) | \
			       (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_F_RING_PACKED))
#define VU_INFLIGHT_MAX (64ULL << 20)     /* largest inflight region kite maps from a backend */
#define VU_RETRY_FIRST_MS 100
#define VU_RETRY_MAX_MS 2000

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void vu_poke(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) != sizeof(one))
		log_warn_rl("vhost-user: eventfd write failed: %m");
}

static void drain(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) == sizeof(v))
		;
}

/* ---- the backend conversation (device thread; the main thread before the thread starts) ---- */

/* End the connection: the socket and the backend's channel. */
static void session_close(struct vu_dev *d)
{
	vuf_close(&d->fe);
	if (d->backend_fd >= 0)
		close(d->backend_fd);
	d->backend_fd = -1;
}

/* The backend serves as many queues as the device needs: GET_QUEUE_NUM (PROTOCOL_F_MQ). 0, or -1
 * with why. */
static int queue_num_check(struct vu_dev *d, char *why, size_t len)
{
	unsigned need = d->queue_num_need ? d->queue_num_need : d->backend_queues;
	uint64_t nq;

	if (!(d->fe.protocol & (1ULL << VHOST_USER_PROTOCOL_F_MQ))) {
		if (!d->mq_required)
			return 0;
		snprintf(why, len, "backend does not offer VHOST_USER_PROTOCOL_F_MQ (needed for %u queue pairs)", need);
		return -1;
	}
	if (vuf_get_u64(&d->fe, VHOST_USER_GET_QUEUE_NUM, &nq) < 0) {
		snprintf(why, len, "%s", d->fe.err);
		return -1;
	}
	if (nq < need) {
		snprintf(why, len, "GET_QUEUE_NUM: backend serves %llu, the device needs %u", (unsigned long long)nq, need);
		return -1;
	}
	return 0;
}

/* Connect and negotiate; kind->session fills the config. Memory and rings wait for DRIVER_OK
 * (rings_start), so a backend that fails there breaks the device, not kite's start. 0, or -1 with
 * why (fe closed). */
static int session_open(struct vu_dev *d, bool first, int timeout_ms, char *why, size_t len)
{
	uint64_t want = d->kind->pass_features | VU_TRANSPORT_FEATURES, offered;
	uint64_t proto = d->kind->protocol | (1ULL << VHOST_USER_PROTOCOL_F_REPLY_ACK) |
			 (1ULL << VHOST_USER_PROTOCOL_F_MQ);

	if (vuf_connect(&d->fe, d->opt.socket, timeout_ms) < 0) {
		snprintf(why, len, "%s", d->fe.err);
		return -1;
	}
	if (vuf_set_deadlines(&d->fe, KITE_VHOST_USER_REPLY_MS, vu_mem_reply_ms(d)) < 0) {
		snprintf(why, len, "%s", d->fe.err);
		goto fail;
	}
	if (vuf_negotiate(&d->fe, want, proto) < 0) {
		snprintf(why, len, "%s", d->fe.err);
		goto fail;
	}
	offered = d->fe.features & want;
	if (!(offered & (1ULL << VIRTIO_F_VERSION_1))) {
		snprintf(why, len, "backend does not offer VIRTIO_F_VERSION_1 (features 0x%llx)",
			 (unsigned long long)d->fe.features);
		goto fail;
	}
	if (first) {
		d->backend_features = offered;
	} else if ((d->backend_features & ~offered) != 0) {
		snprintf(why, len, "backend no longer offers features 0x%llx", (unsigned long long)(d->backend_features & ~offered));
		goto fail;
	}
	if (!first && queue_num_check(d, why, len) < 0)   /* the first: after configure */
		goto fail;
	if (d->kind->session && d->kind->session(d, first, why, len) < 0)
		goto fail;
	if ((d->fe.protocol & (1ULL << VHOST_USER_PROTOCOL_F_BACKEND_REQ)) &&
	    (d->backend_fd = vuf_backend_channel(&d->fe)) < 0) {
		snprintf(why, len, "%s", d->fe.err);
		goto fail;
	}
	return 0;
fail:
	session_close(d);
	return -1;
}

/* The inflight region (INFLIGHT_SHMFD): created by the backend once, handed back on every start. */
static int inflight_set(struct vu_dev *d, char *why, size_t len)
{
	struct stat st;

	if (!(d->fe.protocol & (1ULL << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD)))
		return 0;
	if (d->inflight_fd < 0) {
		int fd = vuf_get_inflight(&d->fe, (uint16_t)d->backend_queues, VU_QUEUE_MAX_SIZE, &d->inflight_size);

		if (fd < 0) {
			snprintf(why, len, "%s", d->fe.err);
			return -1;
		}
		if (d->inflight_size == 0 || d->inflight_size > VU_INFLIGHT_MAX || fstat(fd, &st) < 0 ||
		    (uint64_t)st.st_size < d->inflight_size) {
			snprintf(why, len, "GET_INFLIGHT_FD: region of %llu bytes does not fit its fd or kite's limit",
				 (unsigned long long)d->inflight_size);
			close(fd);
			return -1;
		}
		d->inflight_fd = fd;
	}
	if (vuf_set_inflight(&d->fe, d->inflight_fd, d->inflight_size, (uint16_t)d->backend_queues, VU_QUEUE_MAX_SIZE) < 0) {
		snprintf(why, len, "%s", d->fe.err);
		return -1;
	}
	return 0;
}

/* Start every enabled ring of plan p; the rings in `off` stay disabled. 0, or -1 with why. */
static int rings_start(struct vu_dev *d, const struct vu_plan *p, uint32_t off, char *why, size_t len)
{
	bool packed = p->features & (1ULL << VIRTIO_F_RING_PACKED);

	if (vuf_set_features(&d->fe, (p->features & d->backend_features) |
					 (d->fe.features & (1ULL << VHOST_USER_F_PROTOCOL_FEATURES))) < 0) {
		snprintf(why, len, "%s", d->fe.err);
		return -1;
	}
	/* memory first: the inflight region and the rings refer to it */
	if (vuf_set_mem_table(&d->fe, d->m->mem) < 0) {
		snprintf(why, len, "%s", d->fe.err);
		return -1;
	}
	if (inflight_set(d, why, len) < 0)
		return -1;
	for (unsigned q = 0; q < d->backend_queues; q++) {
		/* a packed ring's base carries the avail wrap counter in bit 15; a fresh ring starts at 1 */
		uint16_t base = packed ? 0x8000 : 0;

		if (!p->q[q].enabled)
			continue;
		if (p->has_base) {
			base = p->base[q];
		} else if (d->resume && packed) {
			/* a packed ring has no used index in guest memory and kite cannot know its used
			 * position: the backend takes it from its inflight region */
			if (d->inflight_fd < 0) {
				snprintf(why, len, "queue %u: a packed ring cannot resume without the backend's inflight region", q);
				return -1;
			}
		} else if (d->resume) {
			base = __atomic_load_n(p->q[q].used_idx, __ATOMIC_ACQUIRE);
		}
		if (vuf_setup_vring(&d->fe, q, p->q[q].size, p->q[q].desc, p->q[q].avail, p->q[q].used, base,
				    d->vdev.q[q].kick_fd, d->call[q].fd, !(off & (1u << q))) < 0) {
			snprintf(why, len, "%s", d->fe.err);
			return -1;
		}
	}
	d->resume = true;
	d->rings_off_applied = off;
	return 0;
}

/* The driver changed which rings run (rings_off): SET_VRING_ENABLE on each started ring that
 * changes. 0, or -1 with why. */
static int rings_enable(struct vu_dev *d, const struct vu_plan *p, uint32_t off, char *why, size_t len)
{
	for (unsigned q = 0; q < d->backend_queues; q++) {
		uint32_t bit = 1u << q;

		if (!p->q[q].enabled || !((off ^ d->rings_off_applied) & bit))
			continue;
		if (vuf_enable_vring(&d->fe, q, !(off & bit)) < 0) {
			snprintf(why, len, "%s", d->fe.err);
			return -1;
		}
	}
	d->rings_off_applied = off;
	return 0;
}

bool vu_dev_set_rings_off(struct vu_dev *d, uint32_t off)
{
	bool wait;

	pthread_mutex_lock(&d->lock);
	d->rings_off = off;
	/* rings that are starting (DRIVER_OK handed to the device thread, not yet running) count as
	 * running: the start applies `off` and answers through rings_applied, or fails and breaks the
	 * device; answering at once would tell the guest OK for what the backend may still refuse */
	wait = (d->running || d->want_run) && !d->broken && off != d->rings_off_done;
	d->rings_waiting = wait;
	pthread_mutex_unlock(&d->lock);
	vu_poke(d->wake_fd);
	return wait;
}

/* Device thread: the backend has rings_off `off` now; a kind waiting for it hears it on the loop. */
static void rings_applied(struct vu_dev *d, uint32_t off)
{
	pthread_mutex_lock(&d->lock);
	d->rings_off_done = off;
	if (d->rings_waiting)
		vu_poke(d->broken_fd);
	pthread_mutex_unlock(&d->lock);
}

/* Stop every started ring (GET_VRING_BASE stops a ring; its answer is kept for a snapshot). 0, or
 * -1 with why. */
static int rings_stop(struct vu_dev *d, const struct vu_plan *p, char *why, size_t len)
{
	uint16_t bases[VIRTIO_MAX_QUEUES] = { 0 };

	for (unsigned q = 0; q < d->backend_queues; q++) {
		uint32_t base;

		if (!p->q[q].enabled)
			continue;
		if (vuf_get_vring_base(&d->fe, q, &base) < 0) {
			snprintf(why, len, "%s", d->fe.err);
			return -1;
		}
		bases[q] = (uint16_t)base;
	}
	pthread_mutex_lock(&d->lock);
	memcpy(d->stopped_base, bases, sizeof(bases));
	d->stopped_clean = true;
	pthread_mutex_unlock(&d->lock);
	return 0;
}

/* Device thread: the backend failed. Lost (closed the connection): reconnect later. Anything else
 * (bad reply, timeout, protocol violation): the device breaks. d->lock held. */
static void backend_failed(struct vu_dev *d, const char *why, bool lost)
{
	session_close(d);
	d->running = false;
	d->stopped_clean = false;
	if (!lost && !d->broken) {
		d->broken = true;
		snprintf(d->broken_why, sizeof(d->broken_why), "backend %s: %s", d->opt.socket, why);
		vu_poke(d->broken_fd);
	}
	pthread_cond_broadcast(&d->cond);
}

/* Device thread: wait for a wake-up, the socket, the backend's channel, or timeout_ms (-1 = none).
 * Returns WAIT_SOCKET if the socket has something (only end of stream is expected: the backend sends
 * nothing unasked there) and WAIT_CHANNEL if the backend's channel has. */
enum { WAIT_SOCKET = 1, WAIT_CHANNEL = 2 };
static int wait_events(struct vu_dev *d, int timeout_ms)
{
	struct pollfd p[3] = { { .fd = d->wake_fd, .events = POLLIN }, { .fd = d->fe.sock, .events = POLLIN },
			       { .fd = d->backend_fd, .events = POLLIN } };
	int n = poll(p, 3, timeout_ms);     /* poll skips fds < 0 */

	if (n > 0 && (p[0].revents & POLLIN))
		drain(d->wake_fd);
	if (n <= 0)
		return 0;
	return (d->fe.sock >= 0 && p[1].revents ? WAIT_SOCKET : 0) | (d->backend_fd >= 0 && p[2].revents ? WAIT_CHANNEL : 0);
}

/* The socket woke us while no request was outstanding: end of stream = lost, data = violation. */
static void unasked(struct vu_dev *d)
{
	char c;
	ssize_t r = recv(d->fe.sock, &c, 1, MSG_PEEK | MSG_DONTWAIT);

	pthread_mutex_lock(&d->lock);
	if (r == 0 || (r < 0 && errno != EAGAIN))
		backend_failed(d, "connection closed", true);
	else if (r > 0)
		backend_failed(d, "sent a message nobody asked for", false);
	pthread_mutex_unlock(&d->lock);
}

/* A request on the backend's channel: CONFIG_CHANGE_MSG re-reads the configuration (checked like the
 * first one, kind->config_reread) and raises the configuration-change interrupt. Anything else, or a
 * configuration kite refuses, breaks the device; the channel closing alone is left to the socket. */
static void backend_request(struct vu_dev *d)
{
	uint8_t config[VHOST_USER_CONFIG_MAX];
	char why[192];
	int req = vuf_backend_recv(d->backend_fd, d->kind->config_reread ? VHOST_USER_BACKEND_CONFIG_CHANGE_MSG : 0,
				   why, sizeof(why));

	if (req == 0)
		return;
	if (req < 0 && strcmp(why, "backend channel closed") == 0) {
		close(d->backend_fd);
		d->backend_fd = -1;
		return;
	}
	if (req == VHOST_USER_BACKEND_CONFIG_CHANGE_MSG && d->kind->config_reread) {
		pthread_mutex_lock(&d->vdev.lock);
		memcpy(config, d->config, sizeof(config));
		pthread_mutex_unlock(&d->vdev.lock);
		if (d->kind->config_reread(d, config, why, sizeof(why)) == 0) {
			pthread_mutex_lock(&d->vdev.lock);
			memcpy(d->config, config, sizeof(config));
			pthread_mutex_unlock(&d->vdev.lock);
			/* the interrupt is the event loop's (this thread makes no KVM calls) */
			pthread_mutex_lock(&d->lock);
			d->config_pending = true;
			pthread_mutex_unlock(&d->lock);
			vu_poke(d->broken_fd);
			return;
		}
	} else if (req > 0) {
		snprintf(why, sizeof(why), "backend channel: request %d is not served", req);
	}
	pthread_mutex_lock(&d->lock);
	backend_failed(d, why, false);
	pthread_mutex_unlock(&d->lock);
}

static void *device_thread(void *arg)
{
	struct vu_dev *d = arg;
	unsigned retry_ms = VU_RETRY_FIRST_MS;
	uint64_t lost_at = 0;
	char why[192];

	/* named by itself (prctl): naming it from outside goes through /proc, absent in a jail */
	pthread_setname_np(pthread_self(), d->thread_name);
	if (seccomp_enter("vhost-user") < 0) {   /* before the first backend message */
		vu_poke(d->broken_fd);
		return NULL;
	}
	for (;;) {
		struct vu_plan plan;
		bool want, running, broken;
		uint32_t off;
		int timeout = -1;

		pthread_mutex_lock(&d->lock);
		if (d->quit) {
			pthread_mutex_unlock(&d->lock);
			break;
		}
		want = d->want_run;
		running = d->running;
		broken = d->broken;
		plan = d->plan;
		off = d->rings_off;
		if (d->new_session && d->inflight_fd >= 0) {
			/* a new driver session gets a new (zeroed) inflight region: what the old one says in
			 * flight belongs to rings the driver has given up */
			close(d->inflight_fd);
			d->inflight_fd = -1;
		}
		d->new_session = false;
		pthread_mutex_unlock(&d->lock);

		if (!broken && d->fe.sock < 0) {
			if (!lost_at) {
				lost_at = now_ms();
				log_warn_rl_on(&d->vdev.log_rl, "%s: backend %s lost: requests wait in the rings, reconnecting", d->vdev.name,
					 d->opt.socket);
			}
			if (session_open(d, false, 0, why, sizeof(why)) == 0) {
				log_info_rl_on(&d->vdev.log_rl, "%s: backend %s is back after %llu ms", d->vdev.name, d->opt.socket,
					 (unsigned long long)(now_ms() - lost_at));
				lost_at = 0;
				retry_ms = VU_RETRY_FIRST_MS;
			} else if (d->opt.reconnect && now_ms() - lost_at >= d->opt.reconnect * 1000ULL) {
				pthread_mutex_lock(&d->lock);
				snprintf(why, sizeof(why), "not back after %u s (reconnect=%u)", d->opt.reconnect,
					 d->opt.reconnect);
				backend_failed(d, why, false);
				pthread_mutex_unlock(&d->lock);
				continue;
			} else {
				timeout = (int)retry_ms;
				retry_ms = retry_ms * 2 > VU_RETRY_MAX_MS ? VU_RETRY_MAX_MS : retry_ms * 2;
			}
		}
		if (!broken && d->fe.sock >= 0 && want != running) {
			int r = want ? rings_start(d, &plan, off, why, sizeof(why)) : rings_stop(d, &plan, why, sizeof(why));

			pthread_mutex_lock(&d->lock);
			if (r < 0) {
				backend_failed(d, why, d->fe.peer_closed);
			} else {
				d->running = want;
				pthread_cond_broadcast(&d->cond);
			}
			pthread_mutex_unlock(&d->lock);
			if (r == 0 && want)
				rings_applied(d, off);
			continue;
		}
		if (!broken && d->fe.sock >= 0 && want && running && off != d->rings_off_applied) {
			if (rings_enable(d, &plan, off, why, sizeof(why)) < 0) {
				pthread_mutex_lock(&d->lock);
				backend_failed(d, why, d->fe.peer_closed);
				pthread_mutex_unlock(&d->lock);
			} else {
				rings_applied(d, off);
			}
			continue;
		}
		int ev = wait_events(d, timeout);

		if (ev & WAIT_CHANNEL)
			backend_request(d);
		if ((ev & WAIT_SOCKET) && d->fe.sock >= 0)
			unasked(d);
	}
	return NULL;
}

/* ---- interrupts: the backend's call fds ---- */

static void on_call(void *opaque, int fd, uint32_t events)
{
	struct vu_call *c = opaque;
	struct virtio_dev *dev = &c->d->vdev;

	(void)events;
	drain(fd);
	pthread_mutex_lock(&dev->lock);
	if (dev->status & VIRTIO_STATUS_DRIVER_OK)
		virtio_dev_queue_interrupt(dev, c->q);
	pthread_mutex_unlock(&dev->lock);
}

/* dev->lock held: route queue q's call fd (MSI-X irqfd through the transport, else kite's loop). */
static void call_bind(struct vu_dev *d, unsigned q)
{
	struct vu_call *c = &d->call[q];

	if (virtio_dev_queue_notifier(&d->vdev, q, c->fd, true) == 0) {
		c->direct = true;
		return;
	}
	if (evloop_add(d->m->loop, c->fd, EPOLLIN, on_call, c) == 0)
		c->watched = true;
	else
		log_warn("%s: queue %u: cannot watch the backend's call fd: no interrupts", d->vdev.name, q);
}

static void call_unbind(struct vu_dev *d, unsigned q)
{
	struct vu_call *c = &d->call[q];

	if (c->direct)
		virtio_dev_queue_notifier(&d->vdev, q, c->fd, false);
	if (c->watched)
		evloop_del(d->m->loop, c->fd);
	c->direct = c->watched = false;
	drain(c->fd);
}

/* The device thread reported a broken backend or a configuration change (event loop thread). */
static void on_broken(void *opaque, int fd, uint32_t events)
{
	struct vu_dev *d = opaque;
	char why[sizeof(((struct vu_dev *)0)->broken_why)] = "";
	bool changed, rings_done = false;

	(void)events;
	drain(fd);
	pthread_mutex_lock(&d->vdev.lock);
	pthread_mutex_lock(&d->lock);
	if (d->broken)
		snprintf(why, sizeof(why), "%s", d->broken_why);
	changed = d->config_pending;
	d->config_pending = false;
	if (d->restart_pending && !d->broken && !d->want_run && (d->vdev.status & VIRTIO_STATUS_DRIVER_OK)) {
		/* a snapshot stopped the rings while the VM was paused: the VM runs again */
		struct vu_plan p = d->plan;

		p.has_base = d->snap_has_base;
		memcpy(p.base, d->snap_base, sizeof(p.base));
		d->plan = p;
		d->want_run = true;
		vu_poke(d->wake_fd);
	}
	d->restart_pending = false;
	/* a rings_off change the kind waits for: applied, or the backend failed */
	if (d->rings_waiting && (d->broken || d->rings_off_done == d->rings_off)) {
		d->rings_waiting = false;
		rings_done = true;
	}
	pthread_mutex_unlock(&d->lock);
	if (rings_done && d->kind->rings_done)
		d->kind->rings_done(d, !why[0]);
	if (changed && !why[0])
		virtio_dev_config_changed(&d->vdev);
	if (why[0])
		virtio_dev_needs_reset(&d->vdev, why);
	pthread_mutex_unlock(&d->vdev.lock);
}

/* ---- virtio_dev_ops (dev->lock held, vCPU threads) ---- */

static void vu_config_read(struct virtio_dev *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	struct vu_dev *d = dev->priv;

	memcpy(data, d->config + off, len);
}

void vu_plan_of(struct vu_dev *d, struct vu_plan *p)
{
	struct virtio_dev *dev = &d->vdev;

	memset(p, 0, sizeof(*p));
	p->features = dev->guest_features;
	for (unsigned q = 0; q < d->backend_queues; q++) {
		struct virtio_queue *vq = &dev->q[q];

		if (!vq->enabled || !vq->vq.ready)
			continue;
		p->q[q].enabled = true;
		p->q[q].size = vq->size;
		p->q[q].desc = (uint64_t)(uintptr_t)vq->vq.desc;
		p->q[q].avail = (uint64_t)(uintptr_t)vq->vq.driver;
		p->q[q].used = (uint64_t)(uintptr_t)vq->vq.device;
		p->q[q].used_idx = (volatile uint16_t *)vq->vq.device + 1;
	}
}

void vu_start(struct vu_dev *d, const struct vu_plan *p)
{
	for (unsigned q = 0; q < d->backend_queues; q++)
		if (p->q[q].enabled)
			call_bind(d, q);
	pthread_mutex_lock(&d->lock);
	d->plan = *p;
	d->want_run = true;
	d->rings_off_done = VU_RINGS_OFF_UNKNOWN;   /* nothing applied by this start yet */
	pthread_mutex_unlock(&d->lock);
	vu_poke(d->wake_fd);
}

static void vu_driver_ok(struct virtio_dev *dev)
{
	struct vu_dev *d = dev->priv;
	struct vu_plan p;
	char why[192];

	if (d->kind->driver_check && d->kind->driver_check(d, dev->guest_features, why, sizeof(why)) < 0) {
		virtio_dev_needs_reset(dev, why);
		return;
	}
	vu_plan_of(d, &p);
	vu_start(d, &p);
}

int vu_mem_reply_ms(const struct vu_dev *d)
{
	return d->opt.mem_timeout ? (int)d->opt.mem_timeout * 1000 : KITE_VHOST_USER_MEM_REPLY_MS;
}

bool vu_wait_running(struct vu_dev *d, bool want)
{
	struct timespec until;

	/* the device thread may be in a start (the memory table's long deadline, then a ring's reply)
	 * or in a stop; it gives up on a silent backend by itself after those deadlines */
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += (vu_mem_reply_ms(d) + KITE_VHOST_USER_REPLY_MS) / 1000 + 1;
	while (d->running != want && !d->broken && pthread_cond_timedwait(&d->cond, &d->lock, &until) == 0)
		;
	return d->running == want && !d->broken;
}

/* One of kite's own queues (past the backend's) was kicked: the kind serves it. */
static void vu_queue_notify(struct virtio_dev *dev, unsigned q)
{
	struct vu_dev *d = dev->priv;

	if (q >= d->backend_queues && d->kind->queue_notify)
		d->kind->queue_notify(d, q);
}

/* Reset: the rings must be stopped before the driver reuses their memory; wait for the device
 * thread, at most one reply timeout (then the backend is broken: it is dropped). */
static void vu_reset(struct virtio_dev *dev)
{
	struct vu_dev *d = dev->priv;

	if (!d || !d->thread_on)
		return;
	for (unsigned q = 0; q < d->backend_queues; q++)
		call_unbind(d, q);
	pthread_mutex_lock(&d->lock);
	d->want_run = false;
	d->restart_pending = false;
	vu_poke(d->wake_fd);
	vu_wait_running(d, false);
	if (d->running && !d->broken)
		log_warn_rl_on(&dev->log_rl, "%s: backend %s did not stop the rings in time", dev->name, d->opt.socket);
	if (d->broken) {
		/* a reset gives a broken backend another chance: the device thread reconnects */
		d->broken = false;
		d->running = false;
	}
	d->resume = false;      /* safe: the thread is not starting rings while want_run is false */
	d->new_session = true;  /* the device thread drops the inflight region before the next start */
	d->rings_off = d->rings_off_reset;
	d->rings_waiting = false;
	pthread_mutex_unlock(&d->lock);
	memset(&d->ctrl, 0, sizeof(d->ctrl));    /* a held command's ring is gone with the reset */
}

/* Everything vu_dev_create allocated before the virtio core existed. */
static void release(struct vu_dev *d)
{
	session_close(d);
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		if (d->call[q].fd >= 0)
			close(d->call[q].fd);
	if (d->wake_fd >= 0)
		close(d->wake_fd);
	if (d->broken_fd >= 0)
		close(d->broken_fd);
	if (d->inflight_fd >= 0)
		close(d->inflight_fd);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->lock);
	free(d->opt.socket);
	free(d);
}

static void vu_destroy(struct virtio_dev *dev)
{
	struct vu_dev *d = dev->priv;

	if (d->thread_on) {
		pthread_mutex_lock(&d->lock);
		d->quit = true;
		pthread_mutex_unlock(&d->lock);
		vu_poke(d->wake_fd);
		pthread_join(d->thread, NULL);
	}
	for (unsigned q = 0; q < d->backend_queues; q++)
		call_unbind(d, q);
	if (d->broken_fd >= 0)
		evloop_del(d->m->loop, d->broken_fd);
	virtio_dev_exit(&d->vdev);
	release(d);
}

struct virtio_dev *vu_dev_create(struct machine *m, const struct vu_kind *kind, const struct vhost_user_options *o,
				 unsigned index, unsigned (*configure)(struct vu_dev *d, const char *name))
{
	struct vu_dev *d = calloc(1, sizeof(*d));
	char name[32], why[192];
	pthread_condattr_t ca;

	if (!d) {
		log_err("%s%u: out of memory", kind->prefix, index);
		return NULL;
	}
	snprintf(name, sizeof(name), "%s%u", kind->prefix, index);
	d->kind = kind;
	d->m = m;
	d->index = index;
	d->opt = *o;
	d->opt.socket = strdup(o->socket);
	d->fe.sock = -1;
	d->backend_fd = -1;
	d->inflight_fd = -1;
	d->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	d->broken_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		d->call[q] = (struct vu_call){ .d = d, .q = q,
					       .fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) };
	pthread_mutex_init(&d->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->cond, &ca);
	pthread_condattr_destroy(&ca);
	d->ops = (struct virtio_dev_ops){
		.device_id = kind->device_id,
		.pci_class = kind->pci_class,
		.config_size = kind->config_size,
		.config_read = vu_config_read,
		.reset = vu_reset,
		.destroy = vu_destroy,
		.queue_notify = vu_queue_notify,
		.driver_ok = vu_driver_ok,
		.snap_name = "vhost-user",
		.snap_version = 1,
		.quiesce = vu_snap_quiesce,
		.save = vu_snap_save,
		.restore = vu_snap_restore,
		.restored = vu_snap_restored,
	};
	/* the virtio core is not set up yet: a failure below frees by hand */
	if (!d->opt.socket || d->wake_fd < 0 || d->broken_fd < 0) {
		log_err("%s: out of memory or eventfds", name);
		goto fail_early;
	}
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		if (d->call[q].fd < 0) {
			log_err("%s: eventfd for a call fd: %m", name);
			goto fail_early;
		}
	if (session_open(d, true, KITE_VHOST_USER_CONNECT_MS, why, sizeof(why)) < 0) {
		log_err("%s: backend %s: %s", name, o->socket, why);
		goto fail_early;
	}
	d->own_features = kind->own_features;
	d->nqueues = configure(d, name);
	if (d->nqueues == 0)
		goto fail_early;
	if (!d->backend_queues || d->backend_queues > d->nqueues)
		d->backend_queues = d->nqueues;
	if (queue_num_check(d, why, sizeof(why)) < 0) {
		log_err("%s: backend %s: %s", name, o->socket, why);
		goto fail_early;
	}
	d->rings_off = d->rings_off_reset;
	d->ops.external_queues = (uint32_t)((1ULL << d->backend_queues) - 1);
	if (virtio_dev_init(&d->vdev, m, name, &d->ops, d,
			    (d->backend_features & (kind->pass_features | VU_TRANSPORT_FEATURES)) | d->own_features,
			    d->nqueues, VU_QUEUE_MAX_SIZE) < 0) {
		virtio_dev_exit(&d->vdev);
		goto fail_early;
	}
	/* virtio_dev_init adds RING_PACKED (kite's own queues do both): only if the backend does */
	d->vdev.host_features = (d->backend_features & (kind->pass_features | VU_TRANSPORT_FEATURES)) |
				d->own_features;
	if (evloop_add(m->loop, d->broken_fd, EPOLLIN, on_broken, d) < 0) {
		log_err("%s: cannot watch its failure eventfd", name);
		d->nqueues = d->backend_queues = 0;
		vu_destroy(&d->vdev);
		return NULL;
	}
	snprintf(d->thread_name, sizeof(d->thread_name), "vu-%s%u", kind->prefix + strlen("vhost-user-"), index);
	if (pthread_create(&d->thread, NULL, device_thread, d) != 0) {
		log_err("%s: cannot start its thread", name);
		vu_destroy(&d->vdev);
		return NULL;
	}
	d->thread_on = true;
	log_info("%s: backend %s, %u queues, features 0x%llx, protocol 0x%llx", name, o->socket, d->nqueues,
		 (unsigned long long)d->vdev.host_features, (unsigned long long)d->fe.protocol);
	return &d->vdev;

fail_early:
	release(d);
	return NULL;
}
