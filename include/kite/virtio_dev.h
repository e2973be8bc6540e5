/* SPDX-License-Identifier: MIT */
/*
 * The transport-independent core of kite's virtio devices (virtio/virtio_dev.c): device status and
 * feature negotiation (FEATURES_OK refused for features the device did not offer or without
 * VERSION_1), reset, queue setup through vq_setup(), kicks (an eventfd per queue, signalled by a
 * doorbell of the machine or by the transport) dispatched on the device's loop (dev->loop: its own
 * I/O thread's when ops->iothread asks for one and the machine gives it, else the machine's), and
 * DEVICE_NEEDS_RESET with a configuration-change interrupt when a queue goes broken. A device model
 * implements only struct virtio_dev_ops; virtio/transport.c puts it on PCI or MMIO.
 *
 * Locking: dev->lock covers everything below; transports take it around register accesses (vCPU
 * threads), the device's loop thread around device work. Device callbacks run with it held. A
 * device on an I/O thread registers every fd of its data path on dev->loop, and pauses dev->io
 * (iothread_pause, without dev->lock) before freeing anything a callback there may touch.
 */
#ifndef KITE_VIRTIO_DEV_H
#define KITE_VIRTIO_DEV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "kite/log.h"
#include "kite/machine.h"
#include "kite/virtqueue.h"

#define VIRTIO_MAX_QUEUES      17     /* 8 virtio-net queue pairs + its control queue */
#define VIRTIO_MSI_NO_VECTOR   0xffff

/* Device status bits (virtio 1.2 2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER      0x02
#define VIRTIO_STATUS_DRIVER_OK   0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED      0x80

/* ISR bits. */
#define VIRTIO_ISR_QUEUE  0x1
#define VIRTIO_ISR_CONFIG 0x2

/* Device ids. */
#define VIRTIO_ID_NET     1
#define VIRTIO_ID_BLOCK   2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG     4
#define VIRTIO_ID_BALLOON 5

struct virtio_dev;
struct snap_writer;
struct snap_cursor;

struct virtio_dev_ops {
	uint32_t device_id;
	uint32_t pci_class;           /* class code on PCI: 0xCCSSPP (class, subclass, prog-if) */
	uint32_t config_size;
	/* Device configuration space; off + len <= config_size is checked by the caller. */
	void (*config_read)(struct virtio_dev *dev, uint32_t off, uint8_t *data, uint32_t len);
	void (*config_write)(struct virtio_dev *dev, uint32_t off, const uint8_t *data, uint32_t len);
	/* Queue q was kicked (dev->loop's thread). Pop, serve, push, then virtio_dev_queue_done(). */
	void (*queue_notify)(struct virtio_dev *dev, unsigned q);
	/* Device-specific part of a reset (optional). */
	void (*reset)(struct virtio_dev *dev);
	/* Free the device model (main thread, after its transport is gone); see virtio_dev_destroy(). */
	void (*destroy)(struct virtio_dev *dev);
	/* Bit q set: the device only reads queue q's buffers (e.g. net transmit). Such queues ignore the
	 * stale WRITE flags some drivers (DPDK's virtio PMD) leave in packed indirect tables. */
	uint32_t read_only_queues;
	/* Bit q set: queue q is served outside kite (vhost-user): kite does not watch its kick eventfd
	 * (the data plane reads it) and never calls queue_notify for it. The other queues are kite's
	 * (a vhost-user-net control queue). */
	uint32_t external_queues;
	/* The driver set DRIVER_OK (optional; dev->lock held, vCPU thread). */
	void (*driver_ok)(struct virtio_dev *dev);
	/* Serve this device's queues on an I/O thread of its own (machine_iothread), if the machine
	 * gives one. */
	bool iothread;
	/*
	 * Snapshots (all optional; main thread, the VM paused, dev->lock not held). quiesce: before
	 * anything is saved, finish or stop what the device does outside the state it saves (I/O in
	 * flight, a backend's rings); 0, or -1 with a one-line err. save/restore: the model's own
	 * section `snap_name`, version `snap_version` (restore reads versions 1..snap_version and
	 * refuses bad values with snap_cursor_fail, applying nothing then). restored: after the core and
	 * the model are restored, reconnect the host side (a backend's rings); 0 or -1 with err.
	 */
	const char *snap_name;
	uint32_t snap_version;
	int (*quiesce)(struct virtio_dev *dev, char *err, size_t errlen);
	void (*save)(struct virtio_dev *dev, struct snap_writer *w);
	void (*restore)(struct virtio_dev *dev, struct snap_cursor *c);
	int (*restored)(struct virtio_dev *dev, char *err, size_t errlen);
};

/* How the transport interrupts the guest: for queue q's vector, or for a configuration change. */
typedef void (*virtio_interrupt_fn)(struct virtio_dev *dev, bool config, uint16_t vector);

struct virtio_queue {
	uint16_t max_size;
	uint16_t size;
	bool enabled;
	uint64_t desc, driver, device;
	uint16_t vector;
	int kick_fd;                  /* eventfd: KVM ioeventfd or the transport writes it */
	struct virtqueue vq;
};

struct virtio_dev {
	char name[32];                /* "virtio-blk0": every log line starts with it */
	struct machine *machine;
	struct evloop *loop;          /* serves the kicks (and the device's own fds): see above */
	struct iothread *io;          /* the thread serving loop, or NULL for the machine's loop */
	const struct virtio_dev_ops *ops;
	void *priv;
	pthread_mutex_t lock;
	uint64_t host_features;
	uint64_t guest_features;
	uint8_t status;
	uint8_t isr;
	uint8_t config_generation;
	uint16_t config_vector;
	unsigned nqueues;
	struct virtio_queue q[VIRTIO_MAX_QUEUES];
	virtio_interrupt_fn interrupt;  /* set by the transport */
	/* Set by a transport that can deliver an eventfd's signals as `vector` without kite (PCI
	 * MSI-X); see virtio_dev_queue_notifier(). */
	int (*notifier)(struct virtio_dev *dev, uint16_t vector, int fd, bool add);
	void *transport;
	bool broken_reported;
	struct kite_log_rl log_rl;    /* the budget of this device's guest-triggered lines (log_*_rl_on) */
};

/* Set up the core: nqueues queues of at most qmax entries, kick eventfds on dev->loop.
 * host_features gets VERSION_1 added. Returns 0 or -1 (logged). */
int virtio_dev_init(struct virtio_dev *dev, struct machine *m, const char *name, const struct virtio_dev_ops *ops,
		    void *priv, uint64_t host_features, unsigned nqueues, uint16_t qmax);
void virtio_dev_exit(struct virtio_dev *dev);
/* Free a device model through ops->destroy (NULL is ignored). */
void virtio_dev_destroy(struct virtio_dev *dev);

/* Register-level operations for transports (dev->lock held). */
void virtio_dev_set_status(struct virtio_dev *dev, uint8_t status);
void virtio_dev_reset(struct virtio_dev *dev);
/* Driver wrote queue_enable = 1: validate and map the rings. */
void virtio_dev_queue_enable(struct virtio_dev *dev, unsigned q);
/* A driver access to the device-specific configuration space at offset off: reads beyond
 * config_size return all-ones, writes there are dropped. */
void virtio_dev_config_access(struct virtio_dev *dev, uint32_t off, uint8_t *data, uint32_t len, bool is_write);
/* Kick queue q from the transport's slow path (MMIO write that reached kite). */
void virtio_dev_kick(struct virtio_dev *dev, unsigned q);
bool virtio_dev_has_feature(const struct virtio_dev *dev, unsigned bit);
/* Queue q may be served now: the driver is running (DRIVER_OK, no NEEDS_RESET) and the queue is
 * enabled, set up and not broken. dev->lock held. */
bool virtio_dev_queue_live(const struct virtio_dev *dev, unsigned q);

/* For device models (dev->lock held): after pushing, interrupt if the driver wants it; if the
 * queue broke, report DEVICE_NEEDS_RESET (one log line, config interrupt). */
void virtio_dev_queue_done(struct virtio_dev *dev, unsigned q);
/* Signal a configuration change (config_generation bumped). */
void virtio_dev_config_changed(struct virtio_dev *dev);
/* Queue q's interrupt, as the device decided to send it (ISR bit, then the transport). */
void virtio_dev_queue_interrupt(struct virtio_dev *dev, unsigned q);
/* The device cannot go on: DEVICE_NEEDS_RESET, one log line with `why`, a configuration-change
 * interrupt if the driver is running. Once until the next reset. dev->lock held. */
void virtio_dev_needs_reset(struct virtio_dev *dev, const char *why);
/*
 * Snapshots of the core (virtio/virtio_snapshot.c): status, features, ISR, config generation and
 * vector, and per queue its size, enabled, ring addresses, vector and ring position (last avail and
 * used index, packed wrap counters, EVENT_IDX bookkeeping, broken). save takes dev->lock; the
 * device must be quiesced first. restore validates everything against this device (its id, queue
 * count and maximum sizes, features it offers, `nvectors` MSI-X vectors of the transport, 0 = none)
 * and sets up the rings in guest memory again (guest memory must be in place); a queue of a running
 * driver is kicked once so that buffers made available before the snapshot are seen. Values it
 * refuses mark the cursor bad with the reason (nothing applied).
 */
#define VIRTIO_SNAP_VERSION 1
void virtio_dev_save(struct virtio_dev *dev, struct snap_writer *w);
void virtio_dev_restore(struct virtio_dev *dev, struct snap_cursor *c, unsigned nvectors);

/* Let eventfd fd raise queue q's interrupt without kite (add) or stop that (add=false): 0 if the
 * transport does it (MSI-X with a vector for q: KVM irqfd, masking handled), -1 if the caller must
 * watch fd and call virtio_dev_queue_interrupt() itself (INTx, virtio-mmio, no vector). */
int virtio_dev_queue_notifier(struct virtio_dev *dev, unsigned q, int fd, bool add);

#endif
