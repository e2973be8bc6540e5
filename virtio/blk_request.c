/* SPDX-License-Identifier: MIT */
/* The virtio-blk request parser shared by kite and kite-dpu: see include/kite/blk_request.h. */
#include <stddef.h>
#include <string.h>

#include "kite/blk_request.h"

#define SECTOR VIRTIO_BLK_SECTOR
#define USED_LEN_MAX 0xffffffffull   /* the used ring's length field is 32 bits, the status byte included */

/* r->data = the bytes [skip, skip + len) of the segments iov[0 .. n). */
static void slice(struct blk_request *r, const struct iovec *iov, unsigned n, uint64_t skip, uint64_t len)
{
	r->ndata = 0;
	for (unsigned i = 0; i < n && len; i++) {
		uint64_t l = iov[i].iov_len, take;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		take = l - skip < len ? l - skip : len;
		r->data[r->ndata].iov_base = (uint8_t *)iov[i].iov_base + skip;
		r->data[r->ndata].iov_len = (size_t)take;
		r->ndata++;
		len -= take;
		skip = 0;
	}
}

static int refuse(struct blk_request *r, uint8_t status, const char *why)
{
	r->op = BLK_REQ_REFUSED;
	r->status = status;
	r->why = why;
	r->ndata = 0;
	r->len = 0;
	return 0;
}

/* first + count sectors inside the capacity, without overflow */
static bool in_capacity(const struct blk_req_limits *lim, uint64_t first, uint64_t count)
{
	return first <= lim->capacity && count <= lim->capacity - first;
}

static int parse_rw(const struct vq_elem *e, const struct blk_req_limits *lim, struct blk_request *r, bool write)
{
	uint64_t out_data = e->out_len - sizeof(struct virtio_blk_outhdr), in_data = e->in_len - 1;
	uint64_t len = write ? out_data : in_data;

	if (write ? in_data != 0 : out_data != 0)
		return refuse(r, VIRTIO_BLK_S_IOERR, write ? "writable data in a write" : "readable data in a read");
	if (len == 0 || len % SECTOR)
		return refuse(r, VIRTIO_BLK_S_IOERR, "data not a positive number of whole sectors");
	if (len > USED_LEN_MAX - 1 || (lim->max_rw_bytes && len > lim->max_rw_bytes))
		return refuse(r, VIRTIO_BLK_S_IOERR, "data larger than the device takes in one request");
	if (!in_capacity(lim, r->sector, len / SECTOR))
		return refuse(r, VIRTIO_BLK_S_IOERR, "sectors beyond the capacity");
	if (write && lim->readonly)
		return refuse(r, VIRTIO_BLK_S_IOERR, "write to a read-only device");
	r->op = write ? BLK_REQ_WRITE : BLK_REQ_READ;
	r->len = len;
	if (write)
		slice(r, e->iov, e->out_num, sizeof(struct virtio_blk_outhdr), len);
	else
		slice(r, e->iov + e->out_num, e->in_num, 0, len);
	return 0;
}

static int parse_dwz(const struct vq_elem *e, const struct blk_req_limits *lim, struct blk_request *r, bool zeroes)
{
	struct virtio_blk_discard_write_zeroes seg;
	uint64_t segs = e->out_len - sizeof(struct virtio_blk_outhdr);

	if (lim->readonly)
		return refuse(r, VIRTIO_BLK_S_IOERR, "discard or write-zeroes on a read-only device");
	if (!lim->dwz)
		return refuse(r, VIRTIO_BLK_S_UNSUPP, "discard and write-zeroes not offered");
	if (e->in_len != 1)
		return refuse(r, VIRTIO_BLK_S_IOERR, "writable data in a discard or write-zeroes");
	if (segs == 0 || segs % sizeof(seg))
		return refuse(r, VIRTIO_BLK_S_IOERR, "segments not 16 bytes each");
	if (segs > sizeof(seg))
		return refuse(r, VIRTIO_BLK_S_UNSUPP, "more than one discard or write-zeroes segment");
	vq_iov_to_buf(e->iov, e->out_num, sizeof(struct virtio_blk_outhdr), &seg, sizeof(seg));
	if ((seg.flags & ~1u) || (!zeroes && seg.flags))
		return refuse(r, VIRTIO_BLK_S_UNSUPP, zeroes ? "unknown write-zeroes flags" : "flags on a discard");
	if (seg.num_sectors == 0 || seg.num_sectors > lim->max_dwz_sectors)
		return refuse(r, VIRTIO_BLK_S_IOERR, "segment of zero sectors or over the maximum");
	if (!in_capacity(lim, seg.sector, seg.num_sectors))
		return refuse(r, VIRTIO_BLK_S_IOERR, "segment beyond the capacity");
	r->op = zeroes ? BLK_REQ_WRITE_ZEROES : BLK_REQ_DISCARD;
	r->sector = seg.sector;
	r->len = (uint64_t)seg.num_sectors * SECTOR;
	r->unmap = seg.flags & 1;
	return 0;
}

int blk_request_parse(const struct vq_elem *e, const struct blk_req_limits *lim, struct blk_request *r)
{
	struct virtio_blk_outhdr hdr;
	const struct iovec *in = e->iov + e->out_num;
	unsigned last;

	memset(r, 0, offsetof(struct blk_request, data));
	r->ndata = 0;
	if (e->in_len == 0)
		return -1;
	/* the status byte: the last byte of the last non-empty writable segment */
	for (last = e->in_num; last && in[last - 1].iov_len == 0; last--)
		;
	if (!last)
		return -1;   /* in_len said otherwise: not a chain the virtqueue code produces */
	r->status_byte = (uint8_t *)in[last - 1].iov_base + in[last - 1].iov_len - 1;
	r->status = VIRTIO_BLK_S_OK;
	if (e->out_len < sizeof(hdr))
		return refuse(r, VIRTIO_BLK_S_IOERR, "header shorter than 16 bytes");
	vq_iov_to_buf(e->iov, e->out_num, 0, &hdr, sizeof(hdr));
	r->type = hdr.type;
	r->sector = hdr.sector;
	switch (hdr.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		return parse_rw(e, lim, r, hdr.type == VIRTIO_BLK_T_OUT);
	case VIRTIO_BLK_T_FLUSH:
		r->op = BLK_REQ_FLUSH;
		return 0;
	case VIRTIO_BLK_T_GET_ID:
		if (e->in_len < 2)
			return refuse(r, VIRTIO_BLK_S_IOERR, "no room for the id");
		r->op = BLK_REQ_GET_ID;
		r->len = e->in_len - 1 < VIRTIO_BLK_ID_BYTES ? e->in_len - 1 : VIRTIO_BLK_ID_BYTES;
		slice(r, in, e->in_num, 0, r->len);
		return 0;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return parse_dwz(e, lim, r, hdr.type == VIRTIO_BLK_T_WRITE_ZEROES);
	default:
		return refuse(r, VIRTIO_BLK_S_UNSUPP, "unknown request type");
	}
}

void blk_config_fill(struct virtio_blk_config *c, const struct blk_req_limits *lim, uint32_t seg_max,
		     uint16_t num_queues)
{
	memset(c, 0, sizeof(*c));   /* little-endian host (see virtio_blk.h) */
	c->capacity = lim->capacity;
	c->seg_max = seg_max;
	c->blk_size = VIRTIO_BLK_SECTOR;
	c->num_queues = num_queues;
	if (lim->dwz) {
		c->max_discard_sectors = lim->max_dwz_sectors;
		c->max_discard_seg = 1;
		c->discard_sector_alignment = 1;
		c->max_write_zeroes_sectors = lim->max_dwz_sectors;
		c->max_write_zeroes_seg = 1;
		c->write_zeroes_may_unmap = 1;
	}
}
