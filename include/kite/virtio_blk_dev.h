/* SPDX-License-Identifier: MIT */
/*
 * kite's virtio-blk device on a raw image file (virtio/blk.c): read, write, flush (fdatasync),
 * get-id, discard (punch hole), write-zeroes, read-only; cache=writeback (page cache) or cache=none
 * (O_DIRECT; guest buffers not 4 KiB aligned go through a bounce buffer). Reads, writes and flushes
 * go to io_uring (virtio/blk_uring.c) and complete on kite's event loop; aio=sync, or a host
 * without io_uring, serves them synchronously on the loop.
 */
#ifndef KITE_VIRTIO_BLK_DEV_H
#define KITE_VIRTIO_BLK_DEV_H

#include <stdbool.h>
#include <stdint.h>

#include "kite/virtio_blk.h"
#include "kite/virtio_transport.h"

/* kite's device exposes the config space up to write_zeroes_may_unmap. */
#define VIRTIO_BLK_CONFIG_SIZE    60

enum blk_cache { BLK_CACHE_WRITEBACK = 0, BLK_CACHE_NONE };

struct blk_options {
	char *path;
	char *id;                 /* serial returned by GET_ID; default: file name */
	bool readonly;
	enum blk_cache cache;
	uint64_t iops, bps;       /* 0 = unlimited; enforced by a rate_limiter (kite/ratelimit.h) */
	enum virtio_transport transport;
	bool sync_io;             /* aio=sync: no io_uring */
};

struct machine;
struct virtio_dev;

/* Open the image and create the device model; index names it virtio-blk<index>. The caller puts it
 * on the transport opts->transport names and frees it with virtio_dev_destroy(). NULL on error. */
struct virtio_dev *blk_create(struct machine *m, const struct blk_options *opts, unsigned index);

#endif
