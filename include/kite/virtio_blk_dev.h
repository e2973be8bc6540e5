/* SPDX-License-Identifier: MIT */
/*
 * kite's virtio-blk device on a raw image file (virtio/blk.c): read, write, flush (fdatasync),
 * get-id, discard (punch hole), write-zeroes, read-only; cache=writeback (page cache) or cache=none
 * (O_DIRECT; guest buffers not 4 KiB aligned go through a bounce buffer). Reads, writes and flushes
 * go to io_uring (virtio/blk_uring.c) and complete on the device's own I/O thread (kite/iothread.h:
 * its kicks, completions and rate-limit timer; the machine's event loop with --iothreads off);
 * aio=sync, or a host without io_uring, serves them synchronously on that thread.
 */
#ifndef KITE_VIRTIO_BLK_DEV_H
#define KITE_VIRTIO_BLK_DEV_H

#include <stdbool.h>
#include <stdint.h>

#include "kite/virtio_blk.h"
#include "kite/ratelimit.h"
#include "kite/virtio_transport.h"

/* kite's device exposes the config space up to write_zeroes_may_unmap. */
#define VIRTIO_BLK_CONFIG_SIZE    60

enum blk_cache { BLK_CACHE_WRITEBACK = 0, BLK_CACHE_NONE };

struct blk_options {
	char *path;
	char *id;                 /* serial returned by GET_ID; default: file name */
	bool readonly;
	enum blk_cache cache;
	uint64_t iops, bps;       /* --blk iops=, bps=: 0 = unlimited, one second's burst */
	struct limiter_cfg limits;   /* the API's buckets (capacity, one-time budget); used when it sets a rate */
	enum virtio_transport transport;
	bool sync_io;             /* aio=sync: no io_uring */
	uint64_t poll_us;         /* poll=US: the I/O thread polls the queue that long after work
				   * (kite/iothread.h), kicks off meanwhile; 0 = off, at most 1000 */
	bool poll_set;            /* poll= given; else adaptive (BLK_POLL_DEFAULT_ADAPTIVE) */
	bool poll_adaptive;       /* poll=adaptive: the window adapts (kite/poll_window.h) up to
				   * poll_max (poll_us; BLK_POLL_MAX_DEFAULT_US unless given) */
	bool poll_max_set;        /* poll_max=US given (1..1000, into poll_us) */
	uint64_t poll_budget;     /* poll_budget=PCT of one core polling in vain, 1..100; 0: default */
	uint64_t queues;          /* queues=N: request queues (VIRTIO_BLK_F_MQ when > 1), 1..8; 0 = 1 */
	bool no_map;              /* map=off: reads of a cache=writeback image through io_uring, not
				   * copied from a mapping of it (kite/inline_io.h, "Mapped reads") */
	const struct iw_ops *inline_ops;   /* unit tests only: a fake backing and clock for the inline
					    * reads and writes (kite/inline_io.h); NULL = the system's */
};

/* Polling without poll=: adaptive (as QEMU's iothreads), within BLK_POLL_MAX_DEFAULT_US and
 * BLK_POLL_BUDGET_ADAPTIVE_DEFAULT. The window starts at 0 and opens only when events come close
 * together, so an idle disk polls nothing, and on a core shared with the vCPU it mostly stays shut
 * (docs/benchmarks.md: qd-1 p50 at off's there; 0.13-0.18x of QEMU's, 0.26x of off's, where the I/O
 * thread has a core). poll=0 turns it off. Without an I/O thread (--iothreads off) nothing polls. */
#define BLK_POLL_DEFAULT_ADAPTIVE true
/* poll=adaptive without poll_max=: the window's ceiling (QEMU's poll-max-ns default is 32 us) */
#define BLK_POLL_MAX_DEFAULT_US 64
/* the budget without poll_budget=: adaptive polling may spend half a core polling in vain; a fixed
 * window is not capped (100), as before budgets existed */
#define BLK_POLL_BUDGET_ADAPTIVE_DEFAULT 50

struct machine;
struct virtio_dev;
struct iw_ops;

/* Open the image and create the device model; index names it virtio-blk<index>. The caller puts it
 * on the transport opts->transport names and frees it with virtio_dev_destroy(). NULL on error. */
struct virtio_dev *blk_create(struct machine *m, const struct blk_options *opts, unsigned index);

/*
 * Run-time changes and counters (kite's API: PATCH /drives, metrics). Call them on the thread that
 * serves the machine's event loop (never the device's I/O thread: blk_replace_image pauses it
 * around the swap); each takes dev->lock. dev must come from blk_create(): any other device gets -1 / false.
 */
/* Serve `path` from now on: opened like the first image (same read-only and cache mode), a regular
 * file; what is in flight on the old image completes first; the capacity follows the new size and
 * the driver gets a configuration-change interrupt. 0, or -1 (logged) with the old image kept. */
int blk_replace_image(struct virtio_dev *dev, const char *path);
/* New limits (rate 0 = unlimited; buckets full now); 0 or -1 (logged). */
int blk_set_limits(struct virtio_dev *dev, const struct limiter_cfg *c);

struct blk_counters {
	uint64_t requests, read_ops, write_ops, flush_ops, read_bytes, write_bytes;
	uint64_t errors;          /* requests completed with a status other than OK */
	uint64_t throttled;       /* admissions the rate limiter refused (the request waited) */
	uint64_t image_swaps;     /* blk_replace_image() calls that took effect */
	uint64_t inline_writes;   /* buffered writes the I/O thread did itself (kite/inline_io.h) */
	uint64_t inline_slow;     /* those that slept over IW_SLOW_NS (writes went to io_uring for IW_BACKOFF_NS) */
	uint64_t inline_reads;    /* buffered reads the I/O thread did itself (kite/inline_io.h) */
	uint64_t inline_read_slow;   /* those that slept over IW_SLOW_NS (reads went to io_uring for IW_BACKOFF_NS) */
};
/* A consistent copy of the counters; false when dev is not a virtio-blk image device. */
bool blk_get_counters(struct virtio_dev *dev, struct blk_counters *out);

#endif
