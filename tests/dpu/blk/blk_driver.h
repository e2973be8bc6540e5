/* SPDX-License-Identifier: MIT */
/*
 * A minimal vhost-user-blk frontend ("driver") for tests and the load generator: shared memfd guest
 * memory, split (or, with VIRTIO_F_RING_PACKED in the features, packed) rings laid out by
 * tests/lib/vring, requests as header/data/status chains, completion by polling the used ring.
 */
#ifndef KITE_TESTS_BLK_DRIVER_H
#define KITE_TESTS_BLK_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "kite/vhost_frontend.h"
#include "vring_driver.h"

#define BLKDRV_MAX_QUEUES 8
#define BLKDRV_SLOT_DATA (256u * 1024)   /* largest request data per slot */

struct blkdrv_slot {
	uint64_t gpa;         /* header at gpa, status at gpa + 16, data at gpa + 4096 */
	bool busy;
};

struct blkdrv {
	struct vu_frontend fe;
	struct guest_mem gm;
	uint8_t *mem;
	size_t mem_size;
	int memfd;
	unsigned nq;
	uint16_t qsize;
	struct vring_drv vq[BLKDRV_MAX_QUEUES];
	int kick[BLKDRV_MAX_QUEUES], call[BLKDRV_MAX_QUEUES];
	uint64_t ring_gpa[BLKDRV_MAX_QUEUES];
	unsigned nslots;                       /* per queue */
	struct blkdrv_slot *slots[BLKDRV_MAX_QUEUES];
	uint64_t capacity;
	uint64_t features;
	int inflight_fd;                       /* inflight region kept across backend restarts, or -1 */
	uint64_t inflight_size;
	char err[256];
};

/* Connect, negotiate, set memory and start nq queues of qsize entries, nslots request slots each.
 * features: virtio feature bits the driver wants (offered & wanted are negotiated). */
int blkdrv_open(struct blkdrv *d, const char *sock, unsigned nq, uint16_t qsize, unsigned nslots, uint64_t features);
void blkdrv_close(struct blkdrv *d);
/* The backend went away (e.g. kill -9 and restart): connect again, hand over the same memory, rings
 * and inflight region, and resume every queue at its used index (packed rings: base 0x8000, the
 * backend must recover the position from the inflight region). Requests in flight are not lost. */
int blkdrv_reconnect(struct blkdrv *d, const char *sock, int timeout_ms);
/* Host pointers into a slot. */
uint8_t *blkdrv_data(struct blkdrv *d, unsigned q, unsigned slot);
/* Submit on queue q using `slot`: type, sector, len data bytes (in the slot's data area; for writes
 * the caller filled it). Returns 0 or -1 (ring full). */
int blkdrv_submit(struct blkdrv *d, unsigned q, unsigned slot, uint32_t type, uint64_t sector, uint32_t len);
/* Submit a raw chain (hostile tests): segments as given. */
int blkdrv_submit_raw(struct blkdrv *d, unsigned q, const struct vring_buf *bufs, unsigned n, void *token);
/* Collect one completion: returns the slot token (slot number + 1) or 0 if none yet; *status = the
 * status byte, *len = bytes the device said it wrote. -1 if the device returned garbage. */
long blkdrv_poll(struct blkdrv *d, unsigned q, uint8_t *status, uint32_t *len);
/* Collect completions on queues 0..nq-1 until `want` came or timeout_ms passed (a bound for a hung
 * backend, not a measure). Returns how many came (*not_ok: how many of those had a status other than
 * OK), -1 if the device returned garbage. */
long blkdrv_collect(struct blkdrv *d, unsigned nq, unsigned want, int timeout_ms, unsigned *not_ok);
/* Synchronous request through slot 0 of queue q; buf is copied in (writes) or out (reads).
 * Returns the status byte, or -1 on timeout (timeout_ms) / garbage. */
int blkdrv_io(struct blkdrv *d, unsigned q, uint32_t type, uint64_t sector, void *buf, uint32_t len, int timeout_ms);
uint8_t blkdrv_status(struct blkdrv *d, unsigned q, unsigned slot);

#endif
