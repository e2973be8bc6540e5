/* SPDX-License-Identifier: MIT */
/*
 * Small virtio devices of kite on the PCI bus:
 *  - virtio-rng (virtio/rng.c): buffers filled from getrandom();
 *  - virtio-console (virtio/console.c): one port (hvc0, no MULTIPORT); what the guest transmits goes
 *    to an output fd (stdout or a file), nothing is received.
 */
#ifndef KITE_VIRTIO_MISC_H
#define KITE_VIRTIO_MISC_H

struct vm;
struct rng_dev;
struct vcon_dev;

struct rng_dev *rng_create(struct vm *vm);
void rng_destroy(struct rng_dev *rng);

/* out: "stdio" or "file:PATH" (created / truncated). */
struct vcon_dev *vcon_create(struct vm *vm, const char *out);
void vcon_destroy(struct vcon_dev *con);

#endif
