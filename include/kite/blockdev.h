/* SPDX-License-Identifier: MIT */
/*
 * kite's virtio-blk device on a raw image file (virtio/blk.c): read, write, flush (fdatasync),
 * get-id, discard (punch hole), write-zeroes, read-only; cache=writeback (page cache) or cache=none
 * (O_DIRECT; guest buffers not 4 KiB aligned go through a bounce buffer). Reads, writes and flushes
 * go to io_uring (virtio/blk_uring.c) and complete on kite's event loop; aio=sync, or a kite built
 * without it, serves them synchronously on the loop.
 */
#ifndef KITE_BLOCKDEV_H
#define KITE_BLOCKDEV_H

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

struct vm;
struct blk_dev;

/* Open the image and create the device on the PCI bus; index names it virtio-blk<index>. */
struct blk_dev *blk_create(struct vm *vm, const struct blk_options *opts, unsigned index);
void blk_destroy(struct blk_dev *blk);

#endif
