/* SPDX-License-Identifier: MIT */
/*
 * Small virtio devices of kite on the PCI bus:
 *  - virtio-rng (virtio/rng.c): buffers filled from getrandom();
 *  - virtio-console (virtio/console.c): one port (hvc0, no MULTIPORT); what the guest transmits goes
 *    to an output fd (stdout or a file), nothing is received;
 *  - virtio-balloon (virtio/balloon.c): inflated pages are dropped with MADV_REMOVE.
 */
#ifndef KITE_VIRTIO_MISC_H
#define KITE_VIRTIO_MISC_H

struct vm;
struct rng_dev;
struct vcon_dev;
struct balloon_dev;

struct rng_dev *rng_create(struct vm *vm);
void rng_destroy(struct rng_dev *rng);

/* out: "stdio" or "file:PATH" (created / truncated). */
struct vcon_dev *vcon_create(struct vm *vm, const char *out);
void vcon_destroy(struct vcon_dev *con);

/* target_pages: the num_pages the host asks the guest to give back. */
struct balloon_dev *balloon_create(struct vm *vm, uint32_t target_pages);
void balloon_destroy(struct balloon_dev *b);

#endif
