/* SPDX-License-Identifier: MIT */
/*
 * The virtio-blk request parser (virtio/blk_request.c), one for both programs: kite's device
 * (virtio/blk.c) and kite-dpu's vhost-user-blk volumes (dpu/blk/blk.c). It looks at a popped chain
 * and says what to do; it moves no data and touches no file.
 *
 * Layout it expects (virtio 1.2 5.2.6): a 16-byte struct virtio_blk_outhdr at the start of the
 * device-readable part, the data (device-readable for writes and discard/write-zeroes segments,
 * device-writable for reads and GET_ID) and one status byte, the last byte of the device-writable
 * part. The virtqueue code already guarantees that readable segments precede writable ones.
 *
 * Behaviour on bad requests, the same in both programs:
 *  - No writable byte at all: there is no place for a status, so the driver cannot be told anything.
 *    blk_request_parse() returns -1 and the caller breaks the queue (DEVICE_NEEDS_RESET in kite, the
 *    queue stops being served in kite-dpu).
 *  - Anything else is answered through the status byte and the queue keeps going. The spec's
 *    status values say "IOERR for device or driver error, UNSUPP for a request unsupported by
 *    device", and its device requirements ask for IOERR on a write to a read-only device and UNSUPP
 *    for unknown discard/write-zeroes flags or for unmap on a discard. So:
 *      IOERR:  header shorter than 16 bytes; data in the wrong direction (readable data in a read,
 *              writable data besides the status in a write, discard or write-zeroes); a read/write
 *              of zero bytes, not whole sectors, over the device's max_rw_bytes or 4 GiB (the used
 *              length is 32 bits); sectors beyond the capacity (overflow-safe); write, discard or
 *              write-zeroes on a read-only device; GET_ID without room for a byte of the id; a
 *              discard/write-zeroes segment that is not exactly 16 bytes a piece, covers zero
 *              sectors, more than max_dwz_sectors, or lies beyond the capacity.
 *      UNSUPP: an unknown request type; discard/write-zeroes on a device that does not offer
 *              them; more than one segment (max_discard_seg = max_write_zeroes_seg = 1); flags
 *              other than unmap, or unmap on a discard.
 *    Breaking the queue for these would take every other request down with one bad one; a status is
 *    what the spec provides for it (kite used to break the queue on a short header, kite-dpu
 *    answered IOERR: both now answer IOERR).
 * FLUSH ignores any data segments. GET_ID writes min(writable bytes - 1, 20) bytes of the id.
 *
 * Thread: none of its own; pure function of its inputs (any thread).
 */
#ifndef KITE_BLK_REQUEST_H
#define KITE_BLK_REQUEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "kite/virtio_blk.h"
#include "kite/virtqueue.h"

/* What the device serving the request offers. */
struct blk_req_limits {
	uint64_t capacity;          /* 512-byte sectors */
	uint64_t max_rw_bytes;      /* largest read/write data part; 0 = only the 4 GiB used-length bound */
	uint32_t max_dwz_sectors;   /* largest discard/write-zeroes segment (config max_*_sectors) */
	bool readonly;              /* VIRTIO_BLK_F_RO offered */
	bool dwz;                   /* VIRTIO_BLK_F_DISCARD and _WRITE_ZEROES offered */
};

enum blk_req_op {
	BLK_REQ_REFUSED,            /* answer `status` now, nothing else to do */
	BLK_REQ_READ,
	BLK_REQ_WRITE,
	BLK_REQ_FLUSH,
	BLK_REQ_GET_ID,
	BLK_REQ_DISCARD,
	BLK_REQ_WRITE_ZEROES,
};

struct blk_request {
	enum blk_req_op op;
	uint8_t status;             /* BLK_REQ_REFUSED: VIRTIO_BLK_S_IOERR or _UNSUPP; else VIRTIO_BLK_S_OK */
	const char *why;            /* BLK_REQ_REFUSED: what was wrong, for a log line */
	uint32_t type;              /* the header's type (0 if the header was short) */
	uint64_t sector;            /* read/write: the header's; discard/write-zeroes: the segment's */
	uint64_t len;               /* data bytes: read/write, GET_ID (1..20), discard/write-zeroes
				     * (num_sectors * 512) */
	bool unmap;                 /* write-zeroes may deallocate the range */
	uint8_t *status_byte;       /* host address of the status byte (set whenever parse returns 0) */
	/* read/write: the data part of the chain (no header, no status byte); GET_ID: where the id goes */
	struct iovec data[VQ_MAX_SEGS];
	unsigned ndata;
};

/* Parse the popped chain e for a device with limits lim. Returns 0 with r filled (r->op says what
 * to do; BLK_REQ_REFUSED: write r->status to *r->status_byte and complete with 1 byte written), or
 * -1 when the chain has no device-writable byte (the caller breaks the queue). */
int blk_request_parse(const struct vq_elem *e, const struct blk_req_limits *lim, struct blk_request *r);

/* The configuration space that matches lim (so the driver is told exactly what the parser accepts):
 * capacity, blk_size 512, seg_max, num_queues, and the discard/write-zeroes limits when lim->dwz.
 * Every other field is zero. */
void blk_config_fill(struct virtio_blk_config *c, const struct blk_req_limits *lim, uint32_t seg_max,
		     uint16_t num_queues);

#endif
