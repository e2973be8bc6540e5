/* SPDX-License-Identifier: MIT */
/*
 * kite-dpu block service: one vhost-user-blk device per volume, backed by a raw image file through
 * io_uring (O_DIRECT when the file system allows it). Optional AES-256-XTS encryption at rest
 * (tweak = 512-byte sector number) and per-volume IOPS / bandwidth limits.
 */
#ifndef KITE_DPU_BLK_H
#define KITE_DPU_BLK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct blk_volume;
struct evloop;
struct dpu_poller;

#define BLK_XTS_KEY_LEN 64   /* two AES-256 keys */
#define BLK_MAX_QUEUES 8

/* "direct": absent AUTO: O_DIRECT where the file system takes it, except for an image in memory
 * (tmpfs, ramfs), which is served buffered with mapped reads and writes (blk.c, open_image); true ON: O_DIRECT
 * wherever the file system takes it; false OFF: never. */
enum blk_direct { BLK_DIRECT_AUTO, BLK_DIRECT_ON, BLK_DIRECT_OFF };

struct blk_volume_params {
	const char *name;        /* volume name (stats, logs) */
	const char *image;       /* raw image file */
	const char *socket;      /* vhost-user server socket path */
	bool readonly;
	unsigned num_queues;     /* 1..BLK_MAX_QUEUES (0 = 1) */
	uint64_t iops_limit;     /* requests per second, 0 = unlimited */
	uint64_t bps_limit;      /* bytes per second, 0 = unlimited */
	bool has_key;
	uint8_t key[BLK_XTS_KEY_LEN];
	enum blk_direct direct;  /* the volume's "direct" (below) */
	bool no_map;             /* "map": false: a buffered volume's reads and writes not copied out of
				  * and into mappings of the image (kite/inline_io.h, "Mapped reads and
				  * writes") */
	bool packed;             /* offer VIRTIO_F_RING_PACKED (inflight tracking covers packed rings) */
	uint64_t coalesce_usecs; /* "coalesce_usecs": interrupt coalescing, 0 = off (vhost_dev_set_coalescing) */
	unsigned coalesce_max;   /* "coalesce_max": completions that end a held interrupt, 0 = no bound */
};
#define BLK_COALESCE_MAX_USECS 10000    /* 10 ms: beyond, a guest's I/O would time out before it helps */

struct blk_volume *blk_volume_new(const struct blk_volume_params *p, struct evloop *loop, struct dpu_poller *poller);
void blk_volume_free(struct blk_volume *v);
const char *blk_volume_name(const struct blk_volume *v);
/* Change the QoS limits at run time (picked up by the poller at its next round). */
void blk_volume_set_qos(struct blk_volume *v, uint64_t iops_limit, uint64_t bps_limit);
/* Control thread: grow the volume (and its image file) to `bytes` (a multiple of 512, not smaller than
 * now) and tell a connected frontend (CONFIG_CHANGE_MSG, vhost_dev_config_changed). 0, or -1 with err. */
int blk_volume_resize(struct blk_volume *v, uint64_t bytes, char *err, size_t errlen);
/* Append Prometheus text counters of this volume to f. */
void blk_volume_stats(struct blk_volume *v, FILE *f);

#endif
