/* SPDX-License-Identifier: MIT */
/*
 * The virtio devices a kite VM gets, as the flags and the JSON file asked for them
 * (virtio/virtio_config.c parses them into struct virtio_options, part of struct vm_config;
 * vmm/board.c creates the devices from it).
 *   --blk path=IMG[,readonly=on|off][,cache=none|writeback][,id=NAME][,iops=N][,bps=N][,transport=pci|mmio]
 *   JSON: "blk": [ { "path": "IMG", "readonly": true, "cache": "none", "id": "x", ... }, ... ]
 *         (an array element may also be the flag's string form)
 *   --net tap=NAME[,...] (JSON "net": [ ... ]), see kite/virtio_net.h
 *   --rng (JSON "rng": true): virtio-rng; --console-virtio stdio|file:PATH (JSON "console_virtio"):
 *   virtio-console hvc0 output; --balloon[=pages=N,stats=S] (JSON "balloon"), see kite/virtio_balloon.h
 *   --vhost-user-blk socket=PATH[,...], --vhost-user-net socket=PATH[,...] (JSON "vhost_user_blk",
 *   "vhost_user_net"), see kite/virtio_vhost_user.h
 * Every parser returns 0 or -1 after one log line naming `what` (the flag or key).
 */
#ifndef KITE_VIRTIO_OPTIONS_H
#define KITE_VIRTIO_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "kite/virtio_balloon.h"
#include "kite/virtio_blk_dev.h"
#include "kite/virtio_net.h"
#include "kite/virtio_vhost_user.h"

#define KITE_MAX_BLK 16

struct virtio_options {
	struct blk_options blk[KITE_MAX_BLK];
	unsigned nblk;
	struct net_options net[KITE_MAX_NET];
	unsigned nnet;
	bool rng;
	struct balloon_options balloon;
	char *console;                /* --console-virtio, NULL = none */
	struct vhost_user_options vu_blk[KITE_MAX_VHOST_USER];
	unsigned nvu_blk;
	struct vhost_user_options vu_net[KITE_MAX_VHOST_USER];
	unsigned nvu_net;
};

/* Add one block device from its flag form. */
int virtio_opts_parse_blk(struct virtio_options *v, const char *spec, const char *what);
/* --net tap=NAME[,mac=..][,mtu=N] (JSON "net": [ {"tap": ...}, ... ]) */
int virtio_opts_parse_net(struct virtio_options *v, const char *spec, const char *what);
/* --balloon [pages=N][,stats=S] (JSON "balloon": true | N | "pages=N,stats=S") */
int virtio_opts_set_balloon(struct virtio_options *v, const char *spec, const char *what);
int virtio_opts_set_console(struct virtio_options *v, const char *out, const char *what);
/* --vhost-user-blk / --vhost-user-net SPEC (JSON elements of "vhost_user_blk" / "vhost_user_net"). */
int virtio_opts_parse_vhost_user(struct virtio_options *v, enum vhost_user_kind kind, const char *spec,
				 const char *what);
/* Apply the JSON value of key "blk", "net", "rng", "balloon", "console_virtio", "vhost_user_blk" or
 * "vhost_user_net" (a cJSON *). */
int virtio_opts_json(struct virtio_options *v, const char *key, const void *item, const char *origin);
/* Release what the parsers allocated and forget every device. */
void virtio_opts_free(struct virtio_options *v);

#endif
