/* SPDX-License-Identifier: MIT */
/*
 * kite's virtio device set: what the flags and the JSON file asked for (virtio/virtio_config.c) and
 * its creation on the PCI bus next to the legacy devices (virtio/virtio_devices.c).
 *   --blk path=IMG[,readonly=on|off][,cache=none|writeback][,id=NAME][,iops=N][,bps=N][,transport=pci]
 *   JSON: "blk": [ { "path": "IMG", "readonly": true, "cache": "none", "id": "x", ... }, ... ]
 *         (an array element may also be the flag's string form)
 *   --rng (JSON "rng": true): virtio-rng; --console-virtio stdio|file:PATH (JSON "console_virtio"):
 *   virtio-console hvc0 output
 */
#ifndef KITE_VIRTIO_DEVICES_H
#define KITE_VIRTIO_DEVICES_H

#include <stdbool.h>
#include <stdint.h>

#define KITE_MAX_BLK 16

struct vm;

/* Add one block device from its flag form; `what` names the flag or key in errors. 0 or -1. */
int virtio_cfg_parse_blk(const char *spec, const char *what);
/* --net tap=NAME[,mac=..][,mtu=N] (JSON "net": [ {"tap": ...}, ... ]) */
int virtio_cfg_parse_net(const char *spec, const char *what);
int virtio_cfg_set_rng(bool on);
/* --balloon [pages=N] (JSON "balloon": true | N) */
int virtio_cfg_set_balloon(const char *spec, const char *what);
int virtio_cfg_set_console(const char *out, const char *what);
/* Apply the JSON value of key "blk", "net", "rng", "balloon" or "console_virtio" (a cJSON *). 0 or -1 (logged). */
int virtio_cfg_json(const char *key, const void *item, const char *origin);
/* Forget every configured device. */
void virtio_cfg_clear(void);
unsigned virtio_cfg_nr_blk(void);

/* Create the PCI bus and the configured devices (after the legacy devices). 0 or -1 (logged). */
int virtio_devices_init(struct vm *vm);
void virtio_devices_exit(struct vm *vm);

#endif
