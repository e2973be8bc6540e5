/* SPDX-License-Identifier: MIT */
/*
 * Small virtio devices of kite (put on PCI by vmm/board.c, freed with virtio_dev_destroy()):
 *  - virtio-rng (virtio/rng.c): buffers filled from getrandom();
 *  - virtio-console (virtio/console.c): one port (hvc0, no MULTIPORT); what the guest transmits goes
 *    to an output fd (stdout or a file), nothing is received;
 *  - virtio-balloon (virtio/balloon.c, kite/virtio_balloon.h): inflated pages are dropped with
 *    MADV_REMOVE.
 * Each *_create returns the device or NULL after one log line.
 */
#ifndef KITE_VIRTIO_MISC_H
#define KITE_VIRTIO_MISC_H

struct machine;
struct virtio_dev;

struct virtio_dev *rng_create(struct machine *m);

/* out: "stdio" or "file:PATH" (created / truncated). */
struct virtio_dev *vcon_create(struct machine *m, const char *out);

#endif
