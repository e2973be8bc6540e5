/* SPDX-License-Identifier: MIT */
/*
 * The shared core of kite's vhost-user devices (vhost_user_dev.c), as vhost_user_blk.c and
 * vhost_user_net.c see it. Contract and threads: kite/virtio_vhost_user.h.
 */
#ifndef KITE_VIRTIO_VHOST_USER_DEV_H
#define KITE_VIRTIO_VHOST_USER_DEV_H

#include <pthread.h>

#include "kite/vhost_frontend.h"
#include "kite/virtio_dev.h"
#include "kite/virtio_net_ctrl.h"
#include "kite/virtio_vhost_user.h"

#define VU_QUEUE_MAX_SIZE 256     /* queue size offered to the driver (and the inflight region's) */

struct vu_dev;

/* What a kind of device (blk, net) adds to the core. */
struct vu_kind {
	const char *prefix;           /* device name prefix: "vhost-user-blk" */
	uint32_t device_id, pci_class, config_size;
	uint64_t pass_features;       /* device feature bits the guest may get when the backend offers them */
	uint64_t own_features;        /* bits kite serves itself (config fields kite owns) */
	uint64_t protocol;            /* protocol features wanted besides REPLY_ACK and MQ */
	/* After each connection (first: main thread; later: device thread): read and check what the
	 * device needs from the backend into d->config. 0, or -1 with the reason in why. */
	int (*session)(struct vu_dev *d, bool first, char *why, size_t len);
	/* Device thread, the backend sent CONFIG_CHANGE_MSG: read the configuration again into `config`
	 * (holds the current one) and check it. 0, or -1 with why (the device breaks). NULL = the kind
	 * does not ask for the backend's channel's configuration changes. */
	int (*config_reread)(struct vu_dev *d, uint8_t *config, char *why, size_t len);
	/* The queues from d->backend_queues up are kite's own: queue q was kicked (event loop thread,
	 * dev->lock held). NULL = every queue is the backend's. */
	void (*queue_notify)(struct vu_dev *d, unsigned q);
	/* DRIVER_OK (vCPU thread, dev->lock held): may the device run with these driver features? 0, or
	 * -1 with why (the device then needs a reset). Optional. */
	int (*driver_check)(struct vu_dev *d, uint64_t features, char *why, size_t len);
	/* A rings_off change the kind waits for (vu_dev_set_rings_off returned true) reached the backend
	 * (ok: every SET_VRING_ENABLE sent and, with REPLY_ACK, acknowledged) or the backend failed (!ok).
	 * Event loop thread, dev->lock held. Optional. */
	void (*rings_done)(struct vu_dev *d, bool ok);
};

/* The rings as the driver set them up, handed to the device thread at DRIVER_OK. */
struct vu_plan {
	uint64_t features;            /* what the driver negotiated */
	bool has_base;                /* start at base[] (a snapshot's, or after one), not at 0 / the used index */
	uint16_t base[VIRTIO_MAX_QUEUES];
	struct {
		bool enabled;
		uint16_t size;
		uint64_t desc, avail, used;   /* kite's virtual addresses of the rings */
		volatile uint16_t *used_idx;  /* split rings: the used index in guest memory */
	} q[VIRTIO_MAX_QUEUES];
};

struct vu_call {
	struct vu_dev *d;
	unsigned q;
	int fd;                       /* the backend's call fd for queue q (kite's eventfd, constant) */
	bool direct;                  /* delivered by the transport (MSI-X irqfd) */
	bool watched;                 /* on kite's event loop (INTx, virtio-mmio, no vector) */
};

/* rings_off_done before a start applied any: no rings_off equals it (ring 0 is never off) */
#define VU_RINGS_OFF_UNKNOWN UINT32_MAX

struct vu_dev {
	struct virtio_dev vdev;
	struct virtio_dev_ops ops;
	const struct vu_kind *kind;
	struct machine *m;
	unsigned index;                    /* the N of vhost-user-blkN */
	char thread_name[16];              /* vu-blkN / vu-netN, set by the thread itself */
	struct vhost_user_options opt;     /* socket owned */
	unsigned nqueues;                  /* the device's queues */
	unsigned backend_queues;           /* queues 0 .. backend_queues-1 are the backend's (configure) */
	unsigned queue_num_need;           /* GET_QUEUE_NUM must say at least this (configure) */
	bool mq_required;                  /* the backend must offer PROTOCOL_F_MQ (configure) */
	uint32_t rings_off_reset;          /* rings_off after a reset (configure) */
	uint64_t backend_features;         /* GET_FEATURES of the first connection, masked */
	uint64_t own_features;             /* kind->own_features, adjusted by the kind's configure */
	uint8_t config[VHOST_USER_CONFIG_MAX];   /* the configuration space the driver reads */
	/* the kind's control queue (net): a command held until the backend applied it and the refusals
	 * since the last reset (dev->lock; a reset zeroes it) */
	struct net_ctrl ctrl;
	struct vu_call call[VIRTIO_MAX_QUEUES];

	pthread_mutex_t lock;              /* the fields down to `thread only` */
	pthread_cond_t cond;
	bool want_run;                     /* driver is running: rings should be started */
	bool quit;
	struct vu_plan plan;
	uint32_t rings_off;                /* bit q: the backend's ring q stays disabled (SET_VRING_ENABLE 0) */
	uint32_t rings_off_done;           /* rings_off as the backend has applied it (device thread sets it;
					    * VU_RINGS_OFF_UNKNOWN from vu_start until the start applied one) */
	bool rings_waiting;                /* the kind waits for rings_off to be applied (kind->rings_done) */
	bool new_session;                  /* a reset happened: the next start gets a new inflight region */
	bool running;                      /* rings started on the connected backend */
	bool broken;                       /* backend failed: DEVICE_NEEDS_RESET until a reset */
	char broken_why[320];              /* "backend SOCKET: why": a socket path (<= 108) and a reason (< 192) */
	int wake_fd;                       /* eventfd: vCPU threads -> device thread */
	bool config_pending;               /* the backend changed the configuration: interrupt to raise */
	int broken_fd;                     /* eventfd: device thread -> event loop (broken, config_pending,
					    * restart_pending) */
	/* snapshots (virtio/vhost_user_snapshot.c) */
	uint16_t stopped_base[VIRTIO_MAX_QUEUES];   /* GET_VRING_BASE of the last stop (set before running=false) */
	bool stopped_clean;                /* the last stop got every base from the backend */
	bool restart_pending;              /* a snapshot stopped the rings: start them again when the loop runs */
	uint16_t snap_base[VIRTIO_MAX_QUEUES];      /* bases the snapshot holds (quiesce) / restores */
	bool snap_has_base;

	/* thread only (and the main thread before the thread starts) */
	pthread_t thread;
	bool thread_on;
	struct vu_frontend fe;
	int backend_fd;                    /* our end of the backend's channel (BACKEND_REQ), -1 = none */
	bool resume;                       /* rings were started in this driver session: resume at used idx */
	uint32_t rings_off_applied;        /* rings_off as the backend has it */
	int inflight_fd;
	uint64_t inflight_size;
};

/* Which of the backend's rings run (bit q set = ring q disabled), e.g. a virtio-net driver's queue
 * pairs: the device thread sends SET_VRING_ENABLE for the started rings that change, and starts
 * later rings accordingly. Any thread but the device thread; takes d->lock. Returns true if the rings
 * run or are starting on a backend: kind->rings_done follows (event loop) once the backend applied
 * the change (with REPLY_ACK: answered it) or failed; false: nothing to wait for (no DRIVER_OK yet:
 * the rings start with it). */
bool vu_dev_set_rings_off(struct vu_dev *d, uint32_t off);

/* Snapshots (vhost_user_snapshot.c): virtio_dev_ops members of every vhost-user device. */
int vu_snap_quiesce(struct virtio_dev *dev, char *err, size_t errlen);
void vu_snap_save(struct virtio_dev *dev, struct snap_writer *w);
void vu_snap_restore(struct virtio_dev *dev, struct snap_cursor *c);
int vu_snap_restored(struct virtio_dev *dev, char *err, size_t errlen);
/* Shared with the core (vhost_user_dev.c). dev->lock held: hand plan p to the device thread and
 * let it start the rings; bind the call fds first. */
void vu_start(struct vu_dev *d, const struct vu_plan *p);
/* d->lock held: wait until d->running == want or the backend broke, at most the memory table's
 * deadline and one reply's plus a second. true if reached. */
bool vu_wait_running(struct vu_dev *d, bool want);
/* The deadline of the backend's reply to SET_MEM_TABLE: mem_timeout=, else KITE_VHOST_USER_MEM_REPLY_MS. */
int vu_mem_reply_ms(const struct vu_dev *d);
/* Signal eventfd fd (one log line if that fails). */
void vu_poke(int fd);
/* The plan of the driver's current rings (dev->lock held). */
void vu_plan_of(struct vu_dev *d, struct vu_plan *p);

/* Create the device from o (main thread): first connection, kind->session, then `configure` (the
 * kind's: fills the rest of d->config, may adjust d->own_features, returns the number of queues or 0
 * after a log line; it may set backend_queues (default: all), queue_num_need (default:
 * backend_queues), mq_required and rings_off_reset), virtio core, device thread. NULL on error (logged). */
struct virtio_dev *vu_dev_create(struct machine *m, const struct vu_kind *kind, const struct vhost_user_options *o,
				 unsigned index, unsigned (*configure)(struct vu_dev *d, const char *name));

#endif
