/* SPDX-License-Identifier: MIT */
/*
 * What a vhost-user backend device (kite-dpu's blk volumes, net ports) implements, and what the
 * generic vhost-user backend (dpu/vhost_backend.c) gives it.
 *
 * One struct vhost_dev = one served vhost-user SERVER socket = one device with at most one frontend
 * connection at a time. vhost_backend.c owns the socket, the protocol state machine, guest memory
 * (struct guest_mem from SET_MEM_TABLE / ADD_MEM_REG), the virtqueues and the kick/call eventfds.
 * It runs all protocol handling on the control thread's event loop and hands every started queue to a
 * kite-dpu poller (dpu/poller.h), which calls ops->queue_poll() on its own thread. Which requests it
 * serves, and which pause the queues, is the handler column of include/kite/vhost_user_requests.h.
 *
 * Threading contract for devices:
 *  - every op except queue_poll runs on the control thread;
 *  - queue_poll(dev, q) runs on the poller thread, only between queue_start(q) and queue_stop(q);
 *    queue_stop(q) is called after the poller has let go of the queue, so the device may then drain
 *    its outstanding I/O for that queue synchronously;
 *  - a device must never block in queue_poll.
 * Queues are started when the frontend has given the ring addresses, the kick fd and (with
 * VHOST_USER_F_PROTOCOL_FEATURES) enabled the ring; they are stopped on GET_VRING_BASE, disable,
 * reset and disconnect, and paused (stopped, then started again) around memory table and feature
 * changes.
 */
#ifndef KITE_VHOST_BACKEND_H
#define KITE_VHOST_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "kite/virtqueue.h"

struct vhost_dev;
struct dpu_poller;
struct evloop;

/* Most queues one device may have. */
#define VHOST_DEV_MAX_QUEUES 16

struct vhost_backend_ops {
	const char *type;                /* "blk", "net": used in log lines */
	/* Virtio feature bits the device offers (device-specific + ring features it supports).
	 * backend.c adds VHOST_USER_F_PROTOCOL_FEATURES and VIRTIO_F_VERSION_1 itself. */
	uint64_t (*get_features)(struct vhost_dev *dev);
	/* Extra protocol features (e.g. 1 << VHOST_USER_PROTOCOL_F_CONFIG, _MQ). Optional. */
	uint64_t (*get_protocol_features)(struct vhost_dev *dev);
	/* Number of queues offered (GET_QUEUE_NUM), 1..VHOST_DEV_MAX_QUEUES. */
	unsigned (*num_queues)(struct vhost_dev *dev);
	/* What GET_QUEUE_NUM answers, if not num_queues (net: queue pairs, as DPDK and QEMU count them).
	 * Optional. */
	unsigned (*queue_num)(struct vhost_dev *dev);
	/* Frontend acknowledged `features` (already checked to be a subset of what was offered).
	 * Optional; return -1 to refuse (connection is closed). */
	int (*set_features)(struct vhost_dev *dev, uint64_t features);
	/* Config space read at [offset, offset+len); the range is already checked against config_size.
	 * Optional (needs PROTOCOL_F_CONFIG). */
	int (*get_config)(struct vhost_dev *dev, uint32_t offset, void *buf, uint32_t len);
	int (*set_config)(struct vhost_dev *dev, uint32_t offset, const void *buf, uint32_t len);
	uint32_t config_size;
	/* Queue q is about to be polled (control thread). Return -1 to refuse (queue stays stopped). */
	int (*queue_start)(struct vhost_dev *dev, unsigned q, struct virtqueue *vq);
	/* Queue q is no longer polled: finish or cancel every outstanding request of q, push their
	 * completions (vq may be used here) before returning. */
	void (*queue_stop)(struct vhost_dev *dev, unsigned q, struct virtqueue *vq);
	/* Poller thread: handle up to `budget` requests of queue q, reap completions, push and notify
	 * (vhost_dev_notify). Return the work done (0 = nothing to do), or POLLER_IO_WAIT (dpu/poller.h)
	 * when it did nothing and waits only for I/O whose completion signals a wake fd of the queue. */
	unsigned (*queue_poll)(struct vhost_dev *dev, unsigned q, struct virtqueue *vq, unsigned budget);
	/* Poller thread, when queue_poll found nothing: true if queue q waits only for the driver (no
	 * I/O in flight, nothing held), so the poller may sleep until the next kick. Optional: without
	 * it the poller sleeps on a timer as well as on the kick fd. */
	bool (*queue_idle)(struct vhost_dev *dev, unsigned q);
	/* Control thread, after queue_start: an eventfd the device's own work on queue q signals (e.g.
	 * io_uring completions), watched beside the kick fd while the poller sleeps, or -1. Optional. */
	int (*queue_wake_fd)(struct vhost_dev *dev, unsigned q);
	/* A frontend connected / the connection ended (after all queues were stopped). Optional. */
	void (*connected)(struct vhost_dev *dev);
	void (*disconnected)(struct vhost_dev *dev);
};

/* Per-device counters kept by backend.c (readable from any thread, approximately). */
struct vhost_dev_stats {
	uint64_t connects;
	uint64_t disconnects;
	uint64_t protocol_errors;    /* connections closed for a bad message */
	uint64_t kicks_sent;         /* call eventfd writes */
	uint64_t calls_held;         /* call decisions interrupt coalescing delayed */
	uint64_t broken_queues;
	uint64_t resubmitted;        /* requests marked in flight in the inflight region at a queue's start */
};

/*
 * Create a device serving a vhost-user server socket at `path` (an existing socket file is replaced).
 * `loop`: the control thread's event loop; `poller`: the thread that polls its queues.
 * Returns NULL with one log line on failure.
 */
struct vhost_dev *vhost_dev_new(const char *name, const char *path, const struct vhost_backend_ops *ops,
				void *opaque, struct evloop *loop, struct dpu_poller *poller);
/* Drop the connection, stop every queue, close and unlink the socket, free. Control thread. */
void vhost_dev_free(struct vhost_dev *dev);

void *vhost_dev_opaque(const struct vhost_dev *dev);
bool vhost_dev_connected(const struct vhost_dev *dev);
uint64_t vhost_dev_features(const struct vhost_dev *dev);     /* negotiated */
void vhost_dev_get_stats(const struct vhost_dev *dev, struct vhost_dev_stats *st);

/*
 * Control thread: the device's configuration space changed (e.g. a resized volume): send
 * CONFIG_CHANGE_MSG on the frontend's backend channel (VHOST_USER_PROTOCOL_F_BACKEND_REQ), without
 * waiting for an answer. 1 sent, 0 no frontend or no channel, -1 the send failed (logged).
 */
int vhost_dev_config_changed(struct vhost_dev *dev);

/*
 * Interrupt coalescing for every queue of the device (off: usecs 0, the default). When a poll call
 * publishes completions, the decision to signal the frontend's call eventfd (the guest's interrupt,
 * by the ring's EVENT_IDX rules) is held until usecs after the first completion still waiting, or
 * until max_completions wait (0: no count bound), whichever comes first; the used ring itself is
 * published at once. The poller does not sleep past a held call's time (poller_wake_within); a
 * stopping queue decides its held call at once. Any thread; takes effect at the next flush.
 */
void vhost_dev_set_coalescing(struct vhost_dev *dev, uint64_t usecs, unsigned max_completions);

/*
 * Poller thread, from queue_poll: the device pushed completions on queue q; signal the frontend's
 * call eventfd if the ring's notification rules ask for it (no coalescing: the device's own call).
 */
void vhost_dev_notify(struct vhost_dev *dev, unsigned q);
/*
 * Poller thread, from queue_poll: wrappers around vq_pop/vq_push that also maintain the inflight
 * region (VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD) so requests survive a backend restart. Devices should
 * use these rather than vq_pop/vq_push directly.
 */
int vhost_dev_pop(struct vhost_dev *dev, unsigned q, struct vq_elem *elem);
void vhost_dev_push(struct vhost_dev *dev, unsigned q, const struct vq_elem *elem, uint32_t written);
/* Up to max chains at once (vq_pop_burst): the number popped, 0 = none, -1 = queue broken (a chain
 * that breaks the queue ends the burst; the chains before it are returned). Inflight marks as
 * vhost_dev_pop. */
int vhost_dev_pop_burst(struct vhost_dev *dev, unsigned q, struct vq_elem *elems, unsigned max);
/* Batched form: fill several, then one flush (publishes the used index and notifies if needed). */
void vhost_dev_fill(struct vhost_dev *dev, unsigned q, const struct vq_elem *elem, uint32_t written);
/* vhost_dev_fill() of elems[0..n), written[i] bytes each (NULL: 0 each), in one pass (vq_fill_burst). */
void vhost_dev_fill_burst(struct vhost_dev *dev, unsigned q, const struct vq_elem *elems, const uint32_t *written,
			  unsigned n);
void vhost_dev_flush(struct vhost_dev *dev, unsigned q);
/* Give back the most recently popped element (vq_unpop) and clear its inflight mark. Poller thread, or
 * the control thread from the device's queue_stop. */
void vhost_dev_unpop(struct vhost_dev *dev, unsigned q, const struct vq_elem *elem);

#endif
