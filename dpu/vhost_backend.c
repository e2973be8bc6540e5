/* SPDX-License-Identifier: MIT */
/*
 * The backend (device) side of vhost-user: one server socket per device, one frontend at a time.
 * Protocol messages are handled on the control thread's event loop; started queues are polled by a
 * dpu poller thread. Any invalid message closes the connection with one log line; other devices are
 * not affected.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "inflight_order.h"
#include "inflight_packed.h"
#include "poller.h"
#include "kite/evloop.h"
#include "kite/log.h"
#include "kite/ratelimit.h"
#include "kite/unix_socket.h"
#include "vhost_backend.h"
#include "kite/vhost_user.h"
#include "kite/virtio_ring.h"

#define POLL_BUDGET 32
#define INFLIGHT_ALIGN 64

struct vhost_queue {
	struct vhost_dev *dev;
	unsigned idx;
	struct virtqueue vq;
	struct vq_config cfg;
	bool num_set, addr_set, kick_set, started;
	bool enabled, enable_seen;   /* the last SET_VRING_ENABLE, and whether there was one */
	uint32_t base;
	int kick_fd, err_fd;
	_Atomic int call_fd;
	atomic_bool broken_logged;
	/* inflight tracking: the queue's part of the frontend's inflight region (NULL: none), used as a
	 * split (inflight) or packed (ipk) region once the queue starts with that ring kind */
	void *region;
	struct vhost_inflight_split *inflight;
	struct ipk ipk;
	bool ipk_on;
	uint64_t inflight_counter;
	uint16_t inflight_used;      /* used index up to which marks are cleared (shadow of ->used_idx) */
	/* heads the inflight region named at the queue's start, oldest first, popped before the ring */
	uint16_t *resubmit;
	unsigned nresubmit, resubmit_pos;
	bool popped_resubmit;        /* the last pop came from `resubmit` */
	/* interrupt coalescing (vhost_dev_set_coalescing): completions published since the last call
	 * decision, and when the first of them was held (0: no call held) */
	unsigned filled, unsignalled;
	uint64_t held_since_ns;
};

struct vhost_dev {
	char name[64];
	struct kite_log_rl log_rl;   /* the budget of the lines a frontend can repeat (log_*_rl_on) */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const struct vhost_backend_ops *ops;
	void *opaque;
	struct evloop *loop;
	struct dpu_poller *poller;
	int listen_fd, conn_fd;
	int backend_req_fd;  /* SET_BACKEND_REQ_FD: kite-dpu's requests to the frontend; -1 = none */
	unsigned nr_queues;
	uint64_t offered_features, features;
	uint64_t offered_protocol, protocol;
	bool features_set;
	bool unsealed_warned;
	struct guest_mem mem;
	struct vhost_queue q[VHOST_DEV_MAX_QUEUES];
	void *inflight_base;
	size_t inflight_size;
	uint16_t inflight_qsize;
	struct vhost_dev_stats stats;
	_Atomic uint64_t coal_ns;    /* interrupt coalescing: hold a call up to this long (0 = off) */
	_Atomic unsigned coal_max;   /* ... or until this many completions wait (0 = no count bound) */
	char why[160];       /* reason of the failure that closes the connection */
};

static void conn_close(struct vhost_dev *dev);

void *vhost_dev_opaque(const struct vhost_dev *dev) { return dev->opaque; }
bool vhost_dev_connected(const struct vhost_dev *dev) { return dev->conn_fd >= 0; }
uint64_t vhost_dev_features(const struct vhost_dev *dev) { return dev->features; }

void vhost_dev_get_stats(const struct vhost_dev *dev, struct vhost_dev_stats *st)
{
	*st = dev->stats;
	st->kicks_sent = __atomic_load_n(&dev->stats.kicks_sent, __ATOMIC_RELAXED);
	st->broken_queues = __atomic_load_n(&dev->stats.broken_queues, __ATOMIC_RELAXED);
	st->resubmitted = __atomic_load_n(&dev->stats.resubmitted, __ATOMIC_RELAXED);
}

/* ---- fast path (poller thread) ---- */

void vhost_dev_set_coalescing(struct vhost_dev *dev, uint64_t usecs, unsigned max_completions)
{
	atomic_store_explicit(&dev->coal_max, max_completions, memory_order_relaxed);
	atomic_store_explicit(&dev->coal_ns, usecs * 1000, memory_order_relaxed);
}

/* The call decision for every completion published so far (EVENT_IDX rules): nothing held after it. */
static void call_now(struct vhost_dev *dev, struct vhost_queue *vq)
{
	if (vq->held_since_ns)
		__atomic_fetch_add(&dev->stats.calls_held, 1, __ATOMIC_RELAXED);
	vq->held_since_ns = 0;
	vq->unsignalled = 0;
	vhost_dev_notify(dev, vq->idx);
}

/* After a flush: decide the call now, or hold it (coalescing on, below both bounds). */
static void call_or_hold(struct vhost_dev *dev, struct vhost_queue *vq, unsigned published)
{
	uint64_t coal = atomic_load_explicit(&dev->coal_ns, memory_order_relaxed);
	unsigned max = atomic_load_explicit(&dev->coal_max, memory_order_relaxed);

	vq->unsignalled += published;
	if (!coal || vq->vq.broken) {
		call_now(dev, vq);
		return;
	}
	if (!vq->unsignalled)
		return;
	uint64_t now = rl_now_ns();
	if (!vq->held_since_ns)
		vq->held_since_ns = now;
	if ((max && vq->unsignalled >= max) || now - vq->held_since_ns >= coal)
		call_now(dev, vq);
}

/* A held call whose time is up, at the queue's poll call or sleep: decided now. Returns the time
 * left on one still held (0: none held). */
static uint64_t held_call_due(struct vhost_dev *dev, struct vhost_queue *vq)
{
	if (!vq->held_since_ns)
		return 0;
	uint64_t coal = atomic_load_explicit(&dev->coal_ns, memory_order_relaxed), now = rl_now_ns();
	if (now - vq->held_since_ns >= coal) {
		call_now(dev, vq);
		return 0;
	}
	return vq->held_since_ns + coal - now;
}

void vhost_dev_notify(struct vhost_dev *dev, unsigned q)
{
	struct vhost_queue *vq = &dev->q[q];
	int fd = atomic_load_explicit(&vq->call_fd, memory_order_acquire);
	uint64_t one = 1;

	if (fd < 0 || !vq_should_notify(&vq->vq))
		return;
	if (write(fd, &one, sizeof(one)) == sizeof(one))
		__atomic_fetch_add(&dev->stats.kicks_sent, 1, __ATOMIC_RELAXED);
}

/*
 * The inflight region (VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD) records which requests are in flight, so
 * that a restarted kite-dpu serves exactly those again, whatever order they completed in:
 *  - pop: desc[head].inflight = 1 (with a counter giving the pop order);
 *  - fill + flush: the used entries are written, the used index published, and only then are the
 *    marks of the heads in the used ring between ->used_idx and the new index cleared and ->used_idx
 *    advanced. A crash in between leaves ->used_idx behind the ring's: inflight_resume() clears the
 *    marks of that stretch of the used ring.
 * So every popped request is either counted by the used index or marked, and the ring resumes at
 * used index + marked count. Heads are < the ring size, which is <= the region's queue size.
 */
static void inflight_clear_used(struct vhost_queue *vq, uint16_t to)
{
	const struct vring_used *used = vq->vq.device;
	struct vhost_inflight_split *r = vq->inflight;

	for (uint16_t i = vq->inflight_used; i != to; i++) {
		uint32_t id = le32toh(__atomic_load_n(&used->ring[i & (vq->vq.size - 1)].id, __ATOMIC_RELAXED));
		if (id < vq->vq.size)
			__atomic_store_n(&r->desc[id].inflight, 0, __ATOMIC_RELEASE);
	}
	__atomic_thread_fence(__ATOMIC_RELEASE);   /* the marks cleared above before the index moves */
	r->used_idx = to;   /* (a packed member: no atomic on its address; the field is naturally aligned) */
	vq->inflight_used = to;
}

int vhost_dev_pop(struct vhost_dev *dev, unsigned q, struct vq_elem *elem)
{
	struct vhost_queue *vq = &dev->q[q];
	int r;

	if (vq->ipk_on) {
		uint32_t pos = vq_get_base(&vq->vq);

		if ((r = ipk_pop_resubmit(&vq->ipk, &vq->vq, elem)) != 0)
			return r;
		if ((r = vq_pop(&vq->vq, elem)) == 1 && ipk_popped(&vq->ipk, &vq->vq, pos, elem) < 0) {
			vq_set_broken(&vq->vq, "more descriptors in flight than the ring's %u slots (slot %u offered again before it was used)",
				      vq->vq.size, pos & 0x7fff);
			return -1;
		}
		return r;
	}
	vq->popped_resubmit = vq->resubmit_pos < vq->nresubmit;
	if (vq->popped_resubmit) {
		r = vq_pop_head(&vq->vq, vq->resubmit[vq->resubmit_pos], elem);
		if (r == 1)
			vq->resubmit_pos++;
	} else {
		r = vq_pop(&vq->vq, elem);
	}
	if (r == 1 && vq->inflight) {
		vq->inflight->desc[elem->id].counter = ++vq->inflight_counter;
		__atomic_store_n(&vq->inflight->desc[elem->id].inflight, 1, __ATOMIC_RELEASE);
	}
	return r;
}

int vhost_dev_pop_burst(struct vhost_dev *dev, unsigned q, struct vq_elem *elems, unsigned max)
{
	struct vhost_queue *vq = &dev->q[q];
	int r = 0;

	if (vq->ipk_on || vq->resubmit_pos < vq->nresubmit) {
		unsigned got = 0;

		while (got < max && (r = vhost_dev_pop(dev, q, &elems[got])) > 0)
			got++;
		return got ? (int)got : r;
	}
	vq->popped_resubmit = false;
	r = vq_pop_burst(&vq->vq, elems, max);
	for (int i = 0; vq->inflight && i < r; i++) {
		vq->inflight->desc[elems[i].id].counter = ++vq->inflight_counter;
		__atomic_store_n(&vq->inflight->desc[elems[i].id].inflight, 1, __ATOMIC_RELEASE);
	}
	return r;
}

void vhost_dev_unpop(struct vhost_dev *dev, unsigned q, const struct vq_elem *elem)
{
	struct vhost_queue *vq = &dev->q[q];

	if (vq->ipk_on) {
		if (ipk_unpopped(&vq->ipk, elem))
			vq_unpop(&vq->vq, elem);
		else
			vq->vq.popped--;
		return;
	}
	if (vq->popped_resubmit) {
		vq->resubmit_pos--;     /* stays marked: still in flight, popped again first */
		vq->vq.popped--;
		return;
	}
	vq_unpop(&vq->vq, elem);
	if (vq->inflight)
		__atomic_store_n(&vq->inflight->desc[elem->id].inflight, 0, __ATOMIC_RELEASE);
}

void vhost_dev_fill(struct vhost_dev *dev, unsigned q, const struct vq_elem *elem, uint32_t written)
{
	struct vhost_queue *vq = &dev->q[q];

	vq->filled++;
	vq_fill(&vq->vq, elem, written);
	if (vq->ipk_on && !vq->vq.broken && !ipk_filled(&vq->ipk, elem))
		vq_set_broken(&vq->vq, "completion of buffer %u that is not in flight", elem->id);
}

void vhost_dev_fill_burst(struct vhost_dev *dev, unsigned q, const struct vq_elem *elems, const uint32_t *written,
			  unsigned n)
{
	struct vhost_queue *vq = &dev->q[q];

	if (!vq->ipk_on) {
		vq->filled += n;
		vq_fill_burst(&vq->vq, elems, written, n);
		return;
	}
	for (unsigned i = 0; i < n; i++)
		vhost_dev_fill(dev, q, &elems[i], written ? written[i] : 0);
}

void vhost_dev_flush(struct vhost_dev *dev, unsigned q)
{
	struct vhost_queue *vq = &dev->q[q];
	unsigned published = vq->filled;

	vq->filled = 0;
	if (vq->ipk_on && !vq->vq.broken) {
		ipk_flush_begin(&vq->ipk, &vq->vq);
		vq_flush(&vq->vq);
		ipk_flush_end(&vq->ipk, &vq->vq);
		call_or_hold(dev, vq, published);
		return;
	}
	vq_flush(&vq->vq);
	if (vq->inflight && !vq->vq.broken)
		inflight_clear_used(vq, vq->vq.used_idx);
	call_or_hold(dev, vq, published);
}

void vhost_dev_push(struct vhost_dev *dev, unsigned q, const struct vq_elem *elem, uint32_t written)
{
	vhost_dev_fill(dev, q, elem, written);
	vhost_dev_flush(dev, q);
}

static unsigned queue_poll(void *opaque)
{
	struct vhost_queue *vq = opaque;
	struct vhost_dev *dev = vq->dev;

	held_call_due(dev, vq);    /* a held call whose time is up (a broken queue's too) */
	if (vq->vq.broken) {
		if (!atomic_exchange(&vq->broken_logged, true)) {
			log_err_rl_on(&dev->log_rl, "%s: queue %u: stopped serving: %s", dev->name, vq->idx, vq->vq.broken_reason);
			__atomic_fetch_add(&dev->stats.broken_queues, 1, __ATOMIC_RELAXED);
		}
		return 0;
	}
	return dev->ops->queue_poll(dev, vq->idx, &vq->vq, POLL_BUDGET);
}

/* Poller thread, before it sleeps on the kick fd (arm) and after (disarm): see dpu/poller.h. */
static int queue_arm(void *opaque, bool arm)
{
	struct vhost_queue *vq = opaque;
	struct vhost_dev *dev = vq->dev;

	if (vq->vq.broken)
		return POLLER_ARM_IDLE;    /* serves nothing until restarted */
	if (!arm) {
		vq_enable_kicks(&vq->vq, false);
		return POLLER_ARM_IDLE;
	}
	if (vq_enable_kicks(&vq->vq, true))
		return POLLER_ARM_BUSY;    /* buffers came in before the driver saw kicks enabled */
	uint64_t left = held_call_due(dev, vq);
	if (left)
		poller_wake_within(left);  /* the held call goes out when its time is up */
	if (!dev->ops->queue_idle || !dev->ops->queue_idle(dev, vq->idx))
		return POLLER_ARM_TIMED;   /* work that no kick announces (I/O in flight, frames) */
	return POLLER_ARM_IDLE;
}

/* ---- queue life cycle (control thread) ---- */

/*
 * A queue starts with an inflight region (the frontend reconnected after a backend restart, or just
 * started): see the rules above vhost_dev_pop. Returns -1 (out of memory) or 0; a region that does not
 * fit this ring, or whose marks cannot be right (more marks than the driver made available), is not used.
 */
static int inflight_resume(struct vhost_dev *dev, struct vhost_queue *vq)
{
	struct vhost_inflight_split *r = vq->inflight;
	const uint16_t *avail_idx = (const uint16_t *)vq->vq.driver + 1;
	uint16_t size = vq->cfg.size;
	unsigned n = 0;
	uint64_t maxc = 0;

	uint16_t used = le16toh(__atomic_load_n((uint16_t *)vq->vq.device + 1, __ATOMIC_ACQUIRE));
	uint16_t avail = le16toh(__atomic_load_n(avail_idx, __ATOMIC_ACQUIRE));
	/* completions published before a crash whose marks were not cleared yet */
	vq->inflight_used = r->used_idx;
	if ((uint16_t)(used - vq->inflight_used) <= size)
		inflight_clear_used(vq, used);
	for (unsigned i = 0; i < size; i++)
		n += r->desc[i].inflight == 1;
	if (n > (uint16_t)(avail - used)) {
		log_warn_rl_on(&dev->log_rl, "%s: queue %u: inflight region marks %u requests but only %u are outstanding in the ring: ignoring the marks",
			 dev->name, vq->idx, n, (uint16_t)(avail - used));
		for (unsigned i = 0; i < size; i++)
			r->desc[i].inflight = 0;
		n = 0;
	}
	r->used_idx = used;
	vq->inflight_used = used;
	free(vq->resubmit);
	vq->resubmit = NULL;
	vq->nresubmit = vq->resubmit_pos = 0;
	if (n) {
		if (!(vq->resubmit = malloc(n * sizeof(*vq->resubmit))))
			return -1;
		struct inflight_order *o = malloc(n * sizeof(*o));

		if (!o)
			return -1;
		/* each mark and counter read once (the frontend can rewrite the region meanwhile); at
		 * most n, however the marks change after the count above */
		for (unsigned i = 0; i < size && vq->nresubmit < n; i++) {
			const volatile struct vhost_inflight_desc_split *d = &r->desc[i];   /* packed: no atomics */

			if (d->inflight == 1)
				o[vq->nresubmit++] = (struct inflight_order){ d->counter, (uint16_t)i };
		}
		inflight_order_sort(o, vq->nresubmit);
		for (unsigned i = 0; i < vq->nresubmit; i++) {
			vq->resubmit[i] = o[i].head;
			maxc = o[i].counter > maxc ? o[i].counter : maxc;
		}
		free(o);
		log_info_rl_on(&dev->log_rl, "%s: queue %u: resubmitting %u in-flight requests from the inflight region (resuming at used index %u, avail index %u, base %u)",
			 dev->name, vq->idx, n, used, (uint16_t)(used + n), vq->base);
		__atomic_fetch_add(&dev->stats.resubmitted, n, __ATOMIC_RELAXED);
	}
	vq->inflight_counter = maxc;
	vq_set_base(&vq->vq, (uint16_t)(used + n));
	vq->vq.used_idx = used;      /* split ring: the next completion goes after the published ones */
	return 0;
}

/* The same for a packed ring (dpu/inflight_packed.h): the positions come from the region. */
static int inflight_packed_start(struct vhost_dev *dev, struct vhost_queue *vq)
{
	struct ipk_start_info in;

	if (ipk_start(&vq->ipk, vq->region, &vq->vq, vq->base, &in) < 0)
		return -1;
	vq->ipk_on = true;
	if (in.why[0])
		log_warn_rl_on(&dev->log_rl, "%s: queue %u: inflight region not usable (%s): nothing resubmitted, resuming at slot %u wrap %u",
			       dev->name, vq->idx, in.why, in.used_pos & 0x7fff, in.used_pos >> 15);
	if (in.resubmit || in.finished_flush || in.rolled_back)
		log_info_rl_on(&dev->log_rl, "%s: queue %u: resubmitting %u in-flight requests from the inflight region (packed: used slot %u wrap %u, avail slot %u wrap %u%s)",
			       dev->name, vq->idx, in.resubmit, in.used_pos & 0x7fff, in.used_pos >> 15,
			       in.avail_pos & 0x7fff, in.avail_pos >> 15,
			       in.finished_flush ? ", a published flush completed" :
			       in.rolled_back ? ", an unpublished flush rolled back" : "");
	__atomic_fetch_add(&dev->stats.resubmitted, in.resubmit, __ATOMIC_RELAXED);
	return 0;
}

/*
 * Ring states (vhost-user spec): without VHOST_USER_F_PROTOCOL_FEATURES a ring is enabled as soon as
 * it has its kick fd; with it, a ring starts disabled and only SET_VRING_ENABLE 1 enables it.
 */
static bool queue_enabled(const struct vhost_dev *dev, const struct vhost_queue *vq)
{
	if (dev->features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES))
		return vq->enabled;
	return vq->enable_seen ? vq->enabled : true;
}

static int queue_start(struct vhost_dev *dev, struct vhost_queue *vq)
{
	if (vq->started || !vq->addr_set || !vq->kick_set || !queue_enabled(dev, vq))
		return 0;
	vq->cfg.size = vq->num_set ? vq->cfg.size : 256;
	vq->cfg.features = dev->features;
	vq->cfg.addr_is_uva = true;
	memset(&vq->vq, 0, sizeof(vq->vq));
	if (vq_setup(&vq->vq, &dev->mem, &vq->cfg) < 0) {
		snprintf(dev->why, sizeof(dev->why), "queue %u: bad ring: %s", vq->idx, vq->vq.broken_reason);
		return -1;
	}
	vq_set_base(&vq->vq, vq->base);
	vq->inflight = NULL;
	ipk_stop(&vq->ipk);
	vq->ipk_on = false;
	if (vq->region && dev->inflight_qsize < vq->cfg.size) {
		log_warn_rl_on(&dev->log_rl, "%s: queue %u: ring of %u entries, inflight region for %u: running without it",
			       dev->name, vq->idx, vq->cfg.size, dev->inflight_qsize);
	} else if (vq->region) {
		int r;

		if (vq->vq.packed) {
			r = inflight_packed_start(dev, vq);
		} else {
			vq->inflight = vq->region;
			r = inflight_resume(dev, vq);
		}
		if (r < 0) {
			snprintf(dev->why, sizeof(dev->why), "queue %u: out of memory for its inflight requests", vq->idx);
			return -1;
		}
	}
	/* The poller looks at the ring anyway: ask the driver not to kick (saves it an exit per request). */
	vq_enable_kicks(&vq->vq, false);
	vq->filled = vq->unsignalled = 0;
	vq->held_since_ns = 0;
	atomic_store(&vq->broken_logged, false);
	if (dev->ops->queue_start && dev->ops->queue_start(dev, vq->idx, &vq->vq) < 0) {
		snprintf(dev->why, sizeof(dev->why), "queue %u: device refused to start it", vq->idx);
		return -1;
	}
	/* Idle, the poller sleeps on the kick fd (-1 with VHOST_USER_VRING_NOFD_MASK: timed sleeps). A new
	 * kick fd (SET_VRING_KICK, reconnection) stops the queue first, so the poller lets go of the old. */
	int fds[2] = { vq->kick_fd, dev->ops->queue_wake_fd ? dev->ops->queue_wake_fd(dev, vq->idx) : -1 };
	if (poller_add_fds(dev->poller, queue_poll, vq, fds, 2, queue_arm) < 0) {
		if (dev->ops->queue_stop)
			dev->ops->queue_stop(dev, vq->idx, &vq->vq);
		snprintf(dev->why, sizeof(dev->why), "queue %u: no room in the poller", vq->idx);
		return -1;
	}
	vq->started = true;
	log_debug("%s: queue %u started (size %u, base %u)", dev->name, vq->idx, vq->cfg.size, vq->base);
	return 0;
}

static void queue_stop(struct vhost_dev *dev, struct vhost_queue *vq)
{
	if (!vq->started)
		return;
	poller_del(dev->poller, queue_poll, vq);
	if (dev->ops->queue_stop)
		dev->ops->queue_stop(dev, vq->idx, &vq->vq);
	if (vq->held_since_ns)
		call_now(dev, vq);          /* nobody polls the queue any more to send it later */
	vq->base = vq_get_base(&vq->vq);
	vq->started = false;
	vq->ipk_on = false;
	ipk_stop(&vq->ipk);
}

static void queues_pause(struct vhost_dev *dev, bool *was)
{
	for (unsigned i = 0; i < dev->nr_queues; i++) {
		was[i] = dev->q[i].started;
		queue_stop(dev, &dev->q[i]);
	}
}

static int queues_resume(struct vhost_dev *dev, const bool *was)
{
	for (unsigned i = 0; i < dev->nr_queues; i++)
		if (was[i] && queue_start(dev, &dev->q[i]) < 0)
			return -1;
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void queue_reset(struct vhost_queue *vq)
{
	int call = atomic_exchange(&vq->call_fd, -1);

	if (call >= 0)
		close(call);
	close_fd(&vq->kick_fd);
	close_fd(&vq->err_fd);
	vq->num_set = vq->addr_set = vq->kick_set = false;
	vq->enabled = vq->enable_seen = false;
	vq->base = 0;
	vq->region = NULL;
	vq->inflight = NULL;
	vq->ipk_on = false;
	ipk_stop(&vq->ipk);
	vq->inflight_counter = 0;
	free(vq->resubmit);
	vq->resubmit = NULL;
	vq->nresubmit = vq->resubmit_pos = 0;
	memset(&vq->cfg, 0, sizeof(vq->cfg));
}

static void inflight_release(struct vhost_dev *dev)
{
	for (unsigned i = 0; i < dev->nr_queues; i++) {
		dev->q[i].region = NULL;
		dev->q[i].inflight = NULL;
		dev->q[i].ipk_on = false;
		ipk_stop(&dev->q[i].ipk);
	}
	if (dev->inflight_base)
		munmap(dev->inflight_base, dev->inflight_size);
	dev->inflight_base = NULL;
	dev->inflight_size = 0;
}

static void dev_reset_state(struct vhost_dev *dev)
{
	for (unsigned i = 0; i < dev->nr_queues; i++)
		queue_stop(dev, &dev->q[i]);
	for (unsigned i = 0; i < dev->nr_queues; i++)
		queue_reset(&dev->q[i]);
	inflight_release(dev);
	gm_clear(&dev->mem);
	dev->features = 0;
	dev->protocol = 0;
	dev->features_set = false;
	dev->unsealed_warned = false;
}

/* ---- memory ---- */

static int map_region(struct vhost_dev *dev, const struct vhost_user_mem_region *m, int fd, struct gm_region *out)
{
	struct stat st;
	uint64_t end;

	if (m->memory_size == 0 || __builtin_add_overflow(m->mmap_offset, m->memory_size, &end) ||
	    m->guest_phys_addr + m->memory_size < m->guest_phys_addr ||
	    m->userspace_addr + m->memory_size < m->userspace_addr || end > (uint64_t)SIZE_MAX) {
		snprintf(dev->why, sizeof(dev->why), "memory region gpa 0x%llx size 0x%llx offset 0x%llx is invalid",
			 (unsigned long long)m->guest_phys_addr, (unsigned long long)m->memory_size,
			 (unsigned long long)m->mmap_offset);
		return -1;
	}
	if (fstat(fd, &st) < 0 || (S_ISREG(st.st_mode) && (uint64_t)st.st_size < end) ||
	    !(S_ISREG(st.st_mode) || S_ISCHR(st.st_mode))) {
		snprintf(dev->why, sizeof(dev->why), "memory region gpa 0x%llx: fd is not a file covering 0x%llx bytes",
			 (unsigned long long)m->guest_phys_addr, (unsigned long long)end);
		return -1;
	}
	/* A frontend that shrinks the file later would make our accesses fault (SIGBUS): say so when the
	 * fd is not sealed against it (QEMU's memfd backend seals; hugetlbfs files cannot be sealed). */
	int seals = fcntl(fd, F_GET_SEALS);
	if (S_ISREG(st.st_mode) && (seals < 0 || !(seals & F_SEAL_SHRINK)) && !dev->unsealed_warned) {
		log_warn_rl_on(&dev->log_rl, "%s: memory region gpa 0x%llx is not sealed against shrinking (trusting the frontend not to truncate it)",
			 dev->name, (unsigned long long)m->guest_phys_addr);
		dev->unsealed_warned = true;
	}
	void *base = mmap(NULL, end, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (base == MAP_FAILED) {
		snprintf(dev->why, sizeof(dev->why), "memory region gpa 0x%llx: mmap of 0x%llx bytes: %s",
			 (unsigned long long)m->guest_phys_addr, (unsigned long long)end, strerror(errno));
		return -1;
	}
	*out = (struct gm_region){
		.gpa = m->guest_phys_addr, .size = m->memory_size, .uva = m->userspace_addr,
		.hva = (char *)base + m->mmap_offset, .fd = fd, .fd_offset = m->mmap_offset,
		.mmap_base = base, .mmap_len = end,
	};
	return 0;
}

static bool uva_overlaps(const struct guest_mem *gm, const struct gm_region *r)
{
	for (unsigned i = 0; i < gm->nr; i++)
		if (r->uva < gm->r[i].uva + gm->r[i].size && gm->r[i].uva < r->uva + r->size)
			return true;
	return false;
}

/* Takes ownership of fd in every case. */
static int mem_add(struct vhost_dev *dev, const struct vhost_user_mem_region *m, int fd)
{
	struct gm_region r;

	if (map_region(dev, m, fd, &r) < 0) {
		close(fd);
		return -1;
	}
	if (uva_overlaps(&dev->mem, &r) || gm_add(&dev->mem, &r) < 0) {
		snprintf(dev->why, sizeof(dev->why), "memory region gpa 0x%llx overlaps another or the table is full",
			 (unsigned long long)m->guest_phys_addr);
		munmap(r.mmap_base, r.mmap_len);
		close(fd);
		return -1;
	}
	return 0;
}

/* ---- message handlers (the last column of VHOST_USER_REQUESTS) ---- */

/*
 * Each handler returns 1 = send msg as the reply, 0 = no reply (an ack if asked), -1 = close the
 * connection (reason in dev->why). A handler owns the fds it takes (it sets msg->nfds = 0); the
 * dispatcher closes any it left. Rows marked PAUSE run with every queue stopped.
 */

static int be_set_mem_table(struct vhost_dev *dev, struct vhost_user_msg *msg)
{
	int ret = 0;

	gm_clear(&dev->mem);
	for (unsigned i = 0; i < msg->p.mem.nregions; i++) {
		int fd = msg->fds[i];
		msg->fds[i] = -1;
		if (ret == 0 && mem_add(dev, &msg->p.mem.regions[i], fd) < 0)
			ret = -1;
		else if (ret)
			close(fd);
	}
	msg->nfds = 0;
	return ret;
}

/* The region of the table that is exactly m (same addresses, size and offset), or NULL. */
static struct gm_region *mem_same(struct vhost_dev *dev, const struct vhost_user_mem_region *m)
{
	for (unsigned i = 0; i < dev->mem.nr; i++) {
		struct gm_region *r = &dev->mem.r[i];

		if (r->gpa == m->guest_phys_addr && r->size == m->memory_size && r->uva == m->userspace_addr &&
		    r->fd_offset == m->mmap_offset)
			return r;
	}
	return NULL;
}

/* QEMU 7.2 with several queue pairs sends ADD_MEM_REG / REM_MEM_REG once per pair (its per-device
 * requests list misses them): the same region again only counts a reference; the first mapping
 * stays. Anything overlapping that is not the very same region is refused as before. */
static int be_add_mem_reg(struct vhost_dev *dev, struct vhost_user_msg *msg)
{
	struct gm_region *same = mem_same(dev, &msg->p.mem_reg.region);
	int fd = msg->fds[0];

	msg->nfds = 0;
	if (same) {
		close(fd);
		same->refs++;
		return 0;
	}
	if (mem_add(dev, &msg->p.mem_reg.region, fd) < 0)
		return -1;
	mem_same(dev, &msg->p.mem_reg.region)->refs = 1;
	return 0;
}

static int be_rem_mem_reg(struct vhost_dev *dev, struct vhost_user_msg *msg)
{
	const struct vhost_user_mem_region *m = &msg->p.mem_reg.region;

	vu_msg_close_fds(msg);
	for (unsigned i = 0; i < dev->mem.nr; i++) {
		struct gm_region *r = &dev->mem.r[i];
		if (r->gpa == m->guest_phys_addr && r->size == m->memory_size && r->uva == m->userspace_addr) {
			if (r->refs > 1)
				r->refs--;          /* added more than once (be_add_mem_reg) */
			else
				gm_remove(&dev->mem, m->guest_phys_addr);
			return 0;
		}
	}
	snprintf(dev->why, sizeof(dev->why), "REM_MEM_REG: no region at gpa 0x%llx",
		 (unsigned long long)m->guest_phys_addr);
	return -1;
}

/* ---- inflight region ---- */

/* One queue's part of the region: room for either layout (the ring kind is known only at start). */
static uint64_t inflight_queue_bytes(uint16_t qsize)
{
	uint64_t split = vhost_inflight_split_size(qsize), packed = vhost_inflight_packed_size(qsize);

	return ((split > packed ? split : packed) + INFLIGHT_ALIGN - 1) & ~(uint64_t)(INFLIGHT_ALIGN - 1);
}

static int inflight_attach(struct vhost_dev *dev, void *base, size_t size, uint16_t nq, uint16_t qsize)
{
	inflight_release(dev);
	dev->inflight_base = base;
	dev->inflight_size = size;
	dev->inflight_qsize = qsize;
	for (unsigned i = 0; i < dev->nr_queues && i < nq; i++)
		dev->q[i].region = (char *)base + i * inflight_queue_bytes(qsize);
	return 0;
}

static bool protocol_has(struct vhost_dev *dev, const struct vhost_user_msg *msg, unsigned bit)
{
	if (dev->protocol & (1ull << bit))
		return true;
	snprintf(dev->why, sizeof(dev->why), "%s: not supported by this backend without protocol feature %u",
		 vu_request_name(msg->hdr.request), bit);
	return false;
}

static int be_get_inflight_fd(struct vhost_dev *dev, struct vhost_user_msg *msg)
{
	uint16_t nq = msg->p.inflight.num_queues, qs = msg->p.inflight.queue_size;

	if (!protocol_has(dev, msg, VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD))
		return -1;
	if (nq == 0 || nq > dev->nr_queues || qs == 0 || qs > VQ_MAX_SIZE || (qs & (qs - 1))) {
		snprintf(dev->why, sizeof(dev->why), "GET_INFLIGHT_FD: %u queues of %u entries", nq, qs);
		return -1;
	}
	size_t size = (size_t)nq * inflight_queue_bytes(qs);
	int fd = memfd_create("kite-dpu-inflight", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
		snprintf(dev->why, sizeof(dev->why), "GET_INFLIGHT_FD: memfd of %zu bytes: %s", size, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	void *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		snprintf(dev->why, sizeof(dev->why), "GET_INFLIGHT_FD: mmap: %s", strerror(errno));
		close(fd);
		return -1;
	}
	for (unsigned i = 0; i < nq; i++) {
		struct vhost_inflight_split *r = (void *)((char *)base + i * inflight_queue_bytes(qs));
		r->version = 1;
		r->desc_num = qs;
	}
	inflight_attach(dev, base, size, nq, qs);
	msg->hdr.size = sizeof(msg->p.inflight);
	msg->p.inflight.mmap_size = size;
	msg->p.inflight.mmap_offset = 0;
	msg->fds[0] = fd;
	msg->nfds = 1;
	return 1;
}

static int be_set_inflight_fd(struct vhost_dev *dev, struct vhost_user_msg *msg)
{
	struct vhost_user_inflight *in = &msg->p.inflight;
	int fd = msg->fds[0];
	struct stat st;

	if (!protocol_has(dev, msg, VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD))
		return -1;     /* the dispatcher closes the fd */
	msg->nfds = 0;
	uint16_t nq = in->num_queues, qs = in->queue_size;
	if (nq == 0 || nq > dev->nr_queues || qs == 0 || qs > VQ_MAX_SIZE || (qs & (qs - 1)) ||
	    in->mmap_size < nq * inflight_queue_bytes(qs) || in->mmap_size > (1ull << 30) ||
	    in->mmap_offset > (1ull << 30) || fstat(fd, &st) < 0 ||
	    (uint64_t)st.st_size < in->mmap_offset + in->mmap_size) {
		snprintf(dev->why, sizeof(dev->why), "SET_INFLIGHT_FD: region of %llu bytes for %u queues of %u is invalid",
			 (unsigned long long)in->mmap_size, nq, qs);
		close(fd);
		return -1;
	}
	void *base = mmap(NULL, in->mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)in->mmap_offset);
	close(fd);
	if (base == MAP_FAILED) {
		snprintf(dev->why, sizeof(dev->why), "SET_INFLIGHT_FD: mmap: %s", strerror(errno));
		return -1;
	}
	return inflight_attach(dev, base, in->mmap_size, nq, qs);
}

static struct vhost_queue *msg_queue(struct vhost_dev *dev, uint32_t index)
{
	if (index >= dev->nr_queues) {
		snprintf(dev->why, sizeof(dev->why), "queue index %u out of range (%u queues)", index, dev->nr_queues);
		return NULL;
	}
	return &dev->q[index];
}

static int reply_u64(struct vhost_user_msg *msg, uint64_t v)
{
	msg->hdr.size = sizeof(uint64_t);
	msg->p.u64 = v;
	return 1;
}

static int be_get_features(struct vhost_dev *dev, struct vhost_user_msg *msg)
{
	return reply_u64(msg, dev->offered_features);
}

static int be_set_features(struct vhost_dev *dev, struct vhost_user_msg *msg)
{
	if (msg->p.u64 & ~dev->offered_features) {
		snprintf(dev->why, sizeof(dev->why), "SET_FEATURES 0x%llx: not offered 0x%llx",
			 (unsigned long long)msg->p.u64, (unsigned long long)(msg->p.u64 & ~dev->offered_features));
		return -1;
	}
	if (dev->ops->set_features && dev->ops->set_features(dev, msg->p.u64) < 0) {
		snprintf(dev->why, sizeof(dev->why), "SET_FEATURES 0x%llx refused by the device",
			 (unsigned long long)msg->p.u64);
		return -1;
	}
	dev->features = msg->p.u64;
	dev->features_set = true;
	return 0;
}

static int be_get_protocol_features(struct vhost_dev *dev, struct vhost_user_msg *msg)
{
	return reply_u64(msg, dev->offered_protocol);
}

static int be_set_protocol_features(struct vhost_dev *dev, struct vhost_user_msg *msg)
{
	if (msg->p.u64 & ~dev->offered_protocol) {
		snprintf(dev->why, sizeof(dev->why), "SET_PROTOCOL_FEATURES 0x%llx: not offered",
			 (unsigned long long)msg->p.u64);
		return -1;
	}
	dev->protocol = msg->p.u64;
	return 0;
}

static int be_set_owner(struct vhost_dev *dev, struct vhost_user_msg *msg)
{
	(void)dev;
	(void)msg;
	return 0;
}

/* RESET_OWNER and RESET_DEVICE */
static int be_reset(struct vhost_dev *dev, struct vhost_user_msg *msg)
{
	(void)msg;
	dev_reset_state(dev);
	return 0;
}

static int be_set_backend_req_fd(struct vhost_dev *dev, struct vhost_user_msg *msg)
{
	if (!(dev->protocol & (1ull << VHOST_USER_PROTOCOL_F_BACKEND_REQ))) {
		snprintf(dev->why, sizeof(dev->why), "SET_BACKEND_REQ_FD without the BACKEND_REQ protocol feature");
		return -1;
	}
	close_fd(&dev->backend_req_fd);
	dev->backend_req_fd = msg->fds[0];
	msg->nfds = 0;
	return 0;
}

int vhost_dev_config_changed(struct vhost_dev *dev)
{
	struct vhost_user_header h = { .request = VHOST_USER_BACKEND_CONFIG_CHANGE_MSG, .flags = VHOST_USER_VERSION };

	if (dev->conn_fd < 0 || dev->backend_req_fd < 0)
		return 0;
	/* never blocks the control thread: a frontend that does not read its channel loses the message */
	if (send(dev->backend_req_fd, &h, sizeof(h), MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)sizeof(h)) {
		log_warn_rl_on(&dev->log_rl, "%s: configuration change not sent to the frontend: %s", dev->name,
			 errno ? strerror(errno) : "short send");
		return -1;
	}
	return 1;
}

static int be_get_queue_num(struct vhost_dev *dev, struct vhost_user_msg *msg)
{
	return reply_u64(msg, dev->ops->queue_num ? dev->ops->queue_num(dev) : dev->nr_queues);
}

static int be_get_max_mem_slots(struct vhost_dev *dev, struct vhost_user_msg *msg)
{
	(void)dev;
	return reply_u64(msg, GM_MAX_REGIONS);
}

static int be_set_vring_num(struct vhost_dev *dev, struct vhost_user_msg *msg)
{
	struct vhost_queue *vq = msg_queue(dev, msg->p.state.index);
	uint32_t num = msg->p.state.num;

	if (!vq)
		return -1;
	if (vq->started || num == 0 || num > VQ_MAX_SIZE || (num & (num - 1))) {
		snprintf(dev->why, sizeof(dev->why), "SET_VRING_NUM %u on queue %u%s", num, vq->idx,
			 vq->started ? " while running" : ": not a power of two up to 32768");
		return -1;
	}
	vq->cfg.size = (uint16_t)num;
	vq->num_set = true;
	return 0;
}

static int be_set_vring_base(struct vhost_dev *dev, struct vhost_user_msg *msg)
{
	struct vhost_queue *vq = msg_queue(dev, msg->p.state.index);

	if (!vq)
		return -1;
	if (vq->started || msg->p.state.num > 0xffff) {
		snprintf(dev->why, sizeof(dev->why), "SET_VRING_BASE %u on queue %u%s", msg->p.state.num, vq->idx,
			 vq->started ? " while running" : ": out of range");
		return -1;
	}
	vq->base = msg->p.state.num;
	return 0;
}

static int be_get_vring_base(struct vhost_dev *dev, struct vhost_user_msg *msg)
{
	struct vhost_queue *vq = msg_queue(dev, msg->p.state.index);

	if (!vq)
		return -1;
	queue_stop(dev, vq);
	msg->p.state.num = vq->base;
	msg->hdr.size = sizeof(msg->p.state);
	/* The ring is stopped until the next kick fd. */
	vq->kick_set = false;
	close_fd(&vq->kick_fd);
	return 1;
}

static int be_set_vring_addr(struct vhost_dev *dev, struct vhost_user_msg *msg)
{
	struct vhost_queue *vq = msg_queue(dev, msg->p.addr.index);

	if (!vq)
		return -1;
	bool was = vq->started;
	queue_stop(dev, vq);
	vq->cfg.desc = msg->p.addr.desc_user_addr;
	vq->cfg.driver = msg->p.addr.avail_user_addr;
	vq->cfg.device = msg->p.addr.used_user_addr;
	vq->addr_set = true;
	return was ? queue_start(dev, vq) : 0;
}

/*
 * SET_VRING_KICK/CALL/ERR: the queue their u64 names (the wire layer checked that an fd is attached
 * unless the NOFD bit is set). Takes the fd out of msg into *fd (-1 for none).
 */
static struct vhost_queue *vring_fd_queue(struct vhost_dev *dev, struct vhost_user_msg *msg, int *fd)
{
	struct vhost_queue *vq = msg_queue(dev, (uint32_t)(msg->p.u64 & VHOST_USER_VRING_IDX_MASK));

	if (!vq)
		return NULL;
	if (msg->p.u64 & ~(uint64_t)(VHOST_USER_VRING_IDX_MASK | VHOST_USER_VRING_NOFD_MASK)) {
		snprintf(dev->why, sizeof(dev->why), "%s: bad payload 0x%llx", vu_request_name(msg->hdr.request),
			 (unsigned long long)msg->p.u64);
		return NULL;
	}
	*fd = msg->nfds ? msg->fds[0] : -1;
	msg->nfds = 0;
	return vq;
}

static int be_set_vring_kick(struct vhost_dev *dev, struct vhost_user_msg *msg)
{
	int fd;
	struct vhost_queue *vq = vring_fd_queue(dev, msg, &fd);

	if (!vq)
		return -1;
	/* we poll; the fd marks the ring as started and wakes an idle poller (queue_start) */
	queue_stop(dev, vq);
	close_fd(&vq->kick_fd);
	vq->kick_fd = fd;
	vq->kick_set = true;
	return queue_start(dev, vq);
}

static int be_set_vring_call(struct vhost_dev *dev, struct vhost_user_msg *msg)
{
	int fd;
	struct vhost_queue *vq = vring_fd_queue(dev, msg, &fd);

	if (!vq)
		return -1;
	int old = atomic_exchange(&vq->call_fd, fd);
	if (old < 0)
		return 0;
	/* the poller may be writing the old fd right now: let it go first */
	bool was = vq->started;
	queue_stop(dev, vq);
	close(old);
	return was ? queue_start(dev, vq) : 0;
}

static int be_set_vring_err(struct vhost_dev *dev, struct vhost_user_msg *msg)
{
	int fd;
	struct vhost_queue *vq = vring_fd_queue(dev, msg, &fd);

	if (!vq)
		return -1;
	close_fd(&vq->err_fd);
	vq->err_fd = fd;
	return 0;
}

static int be_set_vring_enable(struct vhost_dev *dev, struct vhost_user_msg *msg)
{
	struct vhost_queue *vq = msg_queue(dev, msg->p.state.index);

	if (!vq)
		return -1;
	if (msg->p.state.num > 1) {
		snprintf(dev->why, sizeof(dev->why), "SET_VRING_ENABLE %u", msg->p.state.num);
		return -1;
	}
	vq->enabled = msg->p.state.num;
	vq->enable_seen = true;
	if (vq->enabled)
		return queue_start(dev, vq);
	queue_stop(dev, vq);
	return 0;
}

/* GET/SET_CONFIG: the range [offset, +size) must lie in the device's config space. */
static bool config_range_ok(struct vhost_dev *dev, const struct vhost_user_msg *msg, bool has_op)
{
	uint32_t off = msg->p.config.offset, len = msg->p.config.size;

	if ((dev->protocol & (1ull << VHOST_USER_PROTOCOL_F_CONFIG)) && has_op && off <= dev->ops->config_size &&
	    len <= dev->ops->config_size - off)
		return true;
	snprintf(dev->why, sizeof(dev->why), "%s [%u, +%u) of a %u-byte config space not allowed",
		 vu_request_name(msg->hdr.request), off, len, dev->ops->config_size);
	return false;
}

static int be_get_config(struct vhost_dev *dev, struct vhost_user_msg *msg)
{
	if (!config_range_ok(dev, msg, dev->ops->get_config != NULL))
		return -1;
	memset(msg->p.config.payload, 0, msg->p.config.size);
	if (dev->ops->get_config(dev, msg->p.config.offset, msg->p.config.payload, msg->p.config.size) < 0) {
		snprintf(dev->why, sizeof(dev->why), "GET_CONFIG failed in the device");
		return -1;
	}
	return 1;
}

static int be_set_config(struct vhost_dev *dev, struct vhost_user_msg *msg)
{
	if (!config_range_ok(dev, msg, dev->ops->set_config != NULL))
		return -1;
	return dev->ops->set_config(dev, msg->p.config.offset, msg->p.config.payload, msg->p.config.size) < 0 ? -1 : 0;
}

/* ---- message dispatch ---- */

typedef int (*backend_handler)(struct vhost_dev *dev, struct vhost_user_msg *msg);

/* The backend handler column of include/kite/vhost_user_requests.h. */
static const backend_handler handlers[VHOST_USER_MAX_REQUEST] = {
#define HANDLER_ROW(name, code, payload, fds, reply, reply_fds, queues, handler) [code] = handler,
	VHOST_USER_REQUESTS(HANDLER_ROW)
#undef HANDLER_ROW
};

/*
 * Run the request's handler, with every queue stopped around it when its row says PAUSE.
 * The wire layer has checked the payload and fds against the row. Returns like a handler.
 */
static int dispatch(struct vhost_dev *dev, struct vhost_user_msg *msg)
{
	const struct vu_request_rule *rule = vu_request_rule(msg->hdr.request);
	backend_handler handler = rule ? handlers[msg->hdr.request] : NULL;
	bool was[VHOST_DEV_MAX_QUEUES];

	if (!handler) {
		snprintf(dev->why, sizeof(dev->why), "%s: not supported by this backend",
			 vu_request_name(msg->hdr.request));
		return -1;
	}
	if (rule->queues != VU_QUEUES_PAUSE)
		return handler(dev, msg);
	queues_pause(dev, was);
	int r = handler(dev, msg);
	if (r < 0)
		return r;      /* the connection closes: every queue is reset anyway */
	return queues_resume(dev, was) < 0 ? -1 : r;
}

static void conn_readable(void *opaque, int fd, uint32_t events)
{
	struct vhost_dev *dev = opaque;
	struct vhost_user_msg msg;
	char err[160];

	(void)events;
	int r = vu_msg_recv(fd, &msg, false, err, sizeof(err));
	if (r == 0) {
		log_info_rl_on(&dev->log_rl, "%s: frontend disconnected", dev->name);
		conn_close(dev);
		return;
	}
	if (r < 0) {
		log_err_rl_on(&dev->log_rl, "%s: closing connection: bad message: %s", dev->name, err);
		dev->stats.protocol_errors++;
		conn_close(dev);
		return;
	}
	uint32_t request = msg.hdr.request;
	bool need_reply = msg.hdr.flags & VHOST_USER_NEED_REPLY_MASK;
	dev->why[0] = '\0';
	log_debug("%s: %s", dev->name, vu_request_name(request));
	r = dispatch(dev, &msg);
	if (r != 1)
		vu_msg_close_fds(&msg);  /* received fds the handler did not take */
	if (r < 0) {
		log_err_rl_on(&dev->log_rl, "%s: closing connection: %s", dev->name, dev->why[0] ? dev->why : vu_request_name(request));
		dev->stats.protocol_errors++;
		conn_close(dev);
		return;
	}
	if (r == 0 && !(need_reply && (dev->protocol & (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK))))
		return;
	if (r == 0)
		reply_u64(&msg, 0);
	msg.hdr.request = request;
	msg.hdr.flags = VHOST_USER_VERSION | VHOST_USER_REPLY_MASK;
	int sr = vu_msg_send(fd, &msg);
	vu_msg_close_fds(&msg);
	if (sr < 0) {
		log_err_rl_on(&dev->log_rl, "%s: closing connection: sending the %s reply: %s", dev->name, vu_request_name(request),
			strerror(-sr));
		conn_close(dev);
	}
}

static void conn_close(struct vhost_dev *dev)
{
	if (dev->conn_fd < 0)
		return;
	dev_reset_state(dev);
	close_fd(&dev->backend_req_fd);
	evloop_del(dev->loop, dev->conn_fd);
	close(dev->conn_fd);
	dev->conn_fd = -1;
	dev->stats.disconnects++;
	if (dev->ops->disconnected)
		dev->ops->disconnected(dev);
}

static void listen_readable(void *opaque, int fd, uint32_t events)
{
	struct vhost_dev *dev = opaque;
	struct timeval tv = { .tv_sec = 2 };

	(void)events;
	int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return;
	if (dev->conn_fd >= 0) {
		log_warn_rl_on(&dev->log_rl, "%s: refusing a second frontend on %s: one is connected", dev->name, dev->path);
		close(c);
		return;
	}
	/* A peer that stalls inside a message must not block the control thread for long. */
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (evloop_add(dev->loop, c, EPOLLIN, conn_readable, dev) < 0) {
		log_err("%s: cannot watch the new connection", dev->name);
		close(c);
		return;
	}
	dev->conn_fd = c;
	dev->stats.connects++;
	log_info_rl_on(&dev->log_rl, "%s: frontend connected on %s", dev->name, dev->path);
	if (dev->ops->connected)
		dev->ops->connected(dev);
}

struct vhost_dev *vhost_dev_new(const char *name, const char *path, const struct vhost_backend_ops *ops,
				void *opaque, struct evloop *loop, struct dpu_poller *poller)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct vhost_dev *dev;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_err("%s: socket path %s is too long", name, path);
		return NULL;
	}
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return NULL;
	snprintf(dev->name, sizeof(dev->name), "%s", name);
	snprintf(dev->path, sizeof(dev->path), "%s", path);
	dev->ops = ops;
	dev->opaque = opaque;
	dev->loop = loop;
	dev->poller = poller;
	dev->conn_fd = -1;
	dev->backend_req_fd = -1;
	dev->nr_queues = ops->num_queues(dev);
	if (dev->nr_queues == 0 || dev->nr_queues > VHOST_DEV_MAX_QUEUES) {
		log_err("%s: %u queues is out of range 1..%d", name, dev->nr_queues, VHOST_DEV_MAX_QUEUES);
		free(dev);
		return NULL;
	}
	for (unsigned i = 0; i < dev->nr_queues; i++) {
		dev->q[i].dev = dev;
		dev->q[i].idx = i;
		dev->q[i].kick_fd = dev->q[i].err_fd = -1;
		atomic_init(&dev->q[i].call_fd, -1);
		queue_reset(&dev->q[i]);
	}
	dev->offered_features = ops->get_features(dev) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES) |
				(1ull << VIRTIO_F_VERSION_1);
	dev->offered_protocol = (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) |
				(1ull << VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS) |
				(ops->get_protocol_features ? ops->get_protocol_features(dev) : 0);
	if (dev->nr_queues > 1)
		dev->offered_protocol |= 1ull << VHOST_USER_PROTOCOL_F_MQ;

	dev->listen_fd = unix_listen(path, 4);
	if (dev->listen_fd < 0) {
		log_err("%s: cannot listen on %s: %s", name, path, strerror(errno));
		goto fail;
	}
	if (evloop_add(loop, dev->listen_fd, EPOLLIN, listen_readable, dev) < 0) {
		log_err("%s: cannot watch %s", name, path);
		goto fail;
	}
	return dev;
fail:
	if (dev->listen_fd >= 0)
		close(dev->listen_fd);
	free(dev);
	return NULL;
}

void vhost_dev_free(struct vhost_dev *dev)
{
	if (!dev)
		return;
	conn_close(dev);
	for (unsigned i = 0; i < dev->nr_queues; i++)
		queue_reset(&dev->q[i]);
	evloop_del(dev->loop, dev->listen_fd);
	close(dev->listen_fd);
	unlink(dev->path);
	kite_log_rl_release(&dev->log_rl);
	free(dev);
}
