/* SPDX-License-Identifier: MIT */
/*
 * Frame buffers of the virtual switch.
 *
 * Design: one pool of fixed-size buffers per switch, allocated once. Every buffer holds a whole
 * frame (no chaining): VSW_HEADROOM bytes in front for VXLAN encapsulation (outer Ethernet + IPv4 +
 * UDP + VXLAN = 50 bytes, plus an outer VLAN tag) and room for the largest frame the switch accepts
 * (VSW_MAX_MTU + Ethernet header + two VLAN tags). With jumbo frames allowed (MTU 9000) a buffer is
 * ~9.3 KiB; the pool size is chosen by the owner (vswitch_config.pool_frames). Single-threaded: the
 * pool belongs to the poller thread that runs the switch, no locks.
 */
#ifndef KITE_DPU_SWITCH_FRAME_H
#define KITE_DPU_SWITCH_FRAME_H

#include <stdbool.h>
#include <stdint.h>

#define VSW_HEADROOM     128
#define VSW_MAX_MTU      9000
#define VSW_ETH_HLEN     14
#define VSW_VLAN_HLEN    4
/* Largest frame on a port: MTU + Ethernet header + up to two VLAN tags (QinQ is not switched, but
 * such a frame is still received whole and then dropped with a reason). */
#define VSW_MAX_FRAME    (VSW_MAX_MTU + VSW_ETH_HLEN + 2 * VSW_VLAN_HLEN)
#define VSW_BUF_SIZE     (VSW_HEADROOM + VSW_MAX_FRAME)
/* Frames handled per burst by ports and the switch. */
#define VSW_BURST        32

struct vsw_frame {
	uint8_t *data;        /* first byte of the frame (inside buf) */
	uint32_t len;         /* frame bytes at data */
	uint16_t vid;         /* switch-internal: VLAN (segment) of the frame, set at ingress */
	uint16_t in_port;     /* switch-internal: port it came from */
	uint32_t remote_ip;   /* VXLAN: outer source of a decapsulated frame (network order), else 0 */
	struct vsw_frame *next_free;
	uint8_t buf[VSW_BUF_SIZE];
};

struct vsw_pool {
	struct vsw_frame *frames;   /* one block of nr frames */
	struct vsw_frame **free;    /* stack of free frames */
	uint32_t nr, nfree;
	uint64_t alloc_fail;
};

int vsw_pool_init(struct vsw_pool *pool, uint32_t nr);
void vsw_pool_destroy(struct vsw_pool *pool);
/* A frame with len 0 and data at the headroom, or NULL when the pool is empty. */
struct vsw_frame *vsw_frame_alloc(struct vsw_pool *pool);
void vsw_frame_free(struct vsw_pool *pool, struct vsw_frame *f);
/* Copy of f (data, len, metadata) or NULL. */
struct vsw_frame *vsw_frame_clone(struct vsw_pool *pool, const struct vsw_frame *f);
/* Room left in front of / behind the frame data. */
static inline uint32_t vsw_frame_headroom(const struct vsw_frame *f)
{
	return (uint32_t)(f->data - f->buf);
}
static inline uint32_t vsw_frame_tailroom(const struct vsw_frame *f)
{
	return (uint32_t)(VSW_BUF_SIZE - (f->data - f->buf) - f->len);
}
/* Grow the frame at the front by n bytes (returns the new data pointer) or NULL if no room. */
uint8_t *vsw_frame_push(struct vsw_frame *f, uint32_t n);
/* Drop n bytes at the front; NULL if the frame is shorter. */
uint8_t *vsw_frame_pull(struct vsw_frame *f, uint32_t n);

#endif
