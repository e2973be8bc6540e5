/* SPDX-License-Identifier: MIT */
/*
 * The vhost-user wire protocol (QEMU docs/interop/vhost-user.rst): message layout, feature bits,
 * inflight region layout, and the message send/receive helpers shared by the frontend (kite, tests,
 * load generator) and the backend (kite-dpu). The requests themselves are in vhost_user_requests.h.
 *
 * A message is a 12-byte header followed by `size` bytes of payload, fds travel as SCM_RIGHTS.
 * vu_msg_recv() validates the header, the payload size and the number of fds against the request's row
 * in vhost_user_requests.h (its request columns, or its reply columns for a reply); anything else is
 * an error and the caller closes the connection.
 */
#ifndef KITE_VHOST_USER_H
#define KITE_VHOST_USER_H

#include <stdbool.h>
#include <stdint.h>

#include "kite/vhost_user_requests.h"   /* the request codes and the per-request rules */

/* Header flags */
#define VHOST_USER_VERSION          0x1u
#define VHOST_USER_VERSION_MASK     0x3u
#define VHOST_USER_REPLY_MASK       (1u << 2)
#define VHOST_USER_NEED_REPLY_MASK  (1u << 3)

/* Virtio feature bit that announces the protocol-features negotiation. */
#define VHOST_USER_F_PROTOCOL_FEATURES 30

/* Protocol feature bits */
#define VHOST_USER_PROTOCOL_F_MQ                   0
#define VHOST_USER_PROTOCOL_F_LOG_SHMFD            1
#define VHOST_USER_PROTOCOL_F_RARP                 2
#define VHOST_USER_PROTOCOL_F_REPLY_ACK            3
#define VHOST_USER_PROTOCOL_F_NET_MTU              4
#define VHOST_USER_PROTOCOL_F_BACKEND_REQ          5
#define VHOST_USER_PROTOCOL_F_CROSS_ENDIAN         6
#define VHOST_USER_PROTOCOL_F_CRYPTO_SESSION       7
#define VHOST_USER_PROTOCOL_F_PAGEFAULT            8
#define VHOST_USER_PROTOCOL_F_CONFIG               9
#define VHOST_USER_PROTOCOL_F_BACKEND_SEND_FD      10
#define VHOST_USER_PROTOCOL_F_HOST_NOTIFIER        11
#define VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD       12
#define VHOST_USER_PROTOCOL_F_RESET_DEVICE         13
#define VHOST_USER_PROTOCOL_F_INBAND_NOTIFICATIONS 14
#define VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS  15
#define VHOST_USER_PROTOCOL_F_STATUS               16

/* Requests on the backend's channel (SET_BACKEND_REQ_FD, backend -> frontend); their own code space. */
#define VHOST_USER_BACKEND_CONFIG_CHANGE_MSG 2

/* Vring index payloads (SET_VRING_KICK/CALL/ERR): low byte = index, bit 8 = no fd attached. */
#define VHOST_USER_VRING_IDX_MASK   0xffu
#define VHOST_USER_VRING_NOFD_MASK  (1u << 8)

/* Most regions in one SET_MEM_TABLE and most fds in one message. */
#define VHOST_USER_MEM_REGIONS_MAX  8
#define VHOST_USER_MAX_FDS          8
/* Largest config space accepted by GET/SET_CONFIG (QEMU's limit). */
#define VHOST_USER_CONFIG_MAX       256

struct vhost_user_header {
	uint32_t request;
	uint32_t flags;
	uint32_t size;     /* payload bytes that follow */
} __attribute__((packed));

struct vhost_user_vring_state {
	uint32_t index;
	uint32_t num;
} __attribute__((packed));

struct vhost_user_vring_addr {
	uint32_t index;
	uint32_t flags;            /* bit 0: log dirty pages */
	uint64_t desc_user_addr;
	uint64_t used_user_addr;
	uint64_t avail_user_addr;
	uint64_t log_guest_addr;
} __attribute__((packed));

struct vhost_user_mem_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t mmap_offset;
} __attribute__((packed));

struct vhost_user_mem_table {
	uint32_t nregions;
	uint32_t padding;
	struct vhost_user_mem_region regions[VHOST_USER_MEM_REGIONS_MAX];
} __attribute__((packed));

/* ADD_MEM_REG / REM_MEM_REG */
struct vhost_user_mem_single {
	uint64_t padding;
	struct vhost_user_mem_region region;
} __attribute__((packed));

struct vhost_user_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t payload[VHOST_USER_CONFIG_MAX];
} __attribute__((packed));
#define VHOST_USER_CONFIG_HDR_SIZE 12u

struct vhost_user_log {
	uint64_t mmap_size;
	uint64_t mmap_offset;
} __attribute__((packed));

/* Not packed on the wire either: QEMU sends and expects 24 bytes (natural alignment). */
struct vhost_user_inflight {
	uint64_t mmap_size;
	uint64_t mmap_offset;
	uint16_t num_queues;
	uint16_t queue_size;
	uint32_t padding;
};

union vhost_user_payload {
	uint64_t u64;
	struct vhost_user_vring_state state;
	struct vhost_user_vring_addr addr;
	struct vhost_user_mem_table mem;
	struct vhost_user_mem_single mem_reg;
	struct vhost_user_config config;
	struct vhost_user_log log;
	struct vhost_user_inflight inflight;
};

struct vhost_user_msg {
	struct vhost_user_header hdr;
	union vhost_user_payload p;
	/* received / to-send fds (not part of the wire payload) */
	int fds[VHOST_USER_MAX_FDS];
	unsigned nfds;
};

/* Inflight region for split rings (one per queue, laid out back to back in the shared memory). */
struct vhost_inflight_desc_split {
	uint8_t inflight;
	uint8_t padding[5];
	uint16_t next;
	uint64_t counter;
} __attribute__((packed));

struct vhost_inflight_split {
	uint64_t features;
	uint16_t version;
	uint16_t desc_num;
	uint16_t last_batch_head;
	uint16_t used_idx;
	struct vhost_inflight_desc_split desc[];
} __attribute__((packed));

/* Bytes of one queue's inflight region for a split ring of `queue_size` entries. */
static inline uint64_t vhost_inflight_split_size(uint16_t queue_size)
{
	return sizeof(struct vhost_inflight_split) +
	       (uint64_t)queue_size * sizeof(struct vhost_inflight_desc_split);
}

/* Inflight region for packed rings (the vhost-user spec's DescStatePacked / QueueRegionPacked; one
 * per queue, back to back). desc[] has one entry per ring slot. */
struct vhost_inflight_desc_packed {
	uint8_t inflight;         /* head entry: the chain starting at this slot is in flight */
	uint8_t padding;
	uint16_t next;            /* link to the next entry of the chain / of the free list */
	uint16_t last;            /* head entry: the chain's last entry */
	uint16_t num;             /* head entry: descriptors in the chain */
	uint64_t counter;         /* head entry: fetch order */
	uint16_t id;              /* the descriptor as the driver wrote it: buffer id, */
	uint16_t flags;           /* flags, */
	uint32_t len;             /* length */
	uint64_t addr;            /* and address */
};

struct vhost_inflight_packed {
	uint64_t features;
	uint16_t version;
	uint16_t desc_num;
	uint16_t free_head;
	uint16_t old_free_head;
	uint16_t used_idx;        /* the device's used position after the flush in progress */
	uint16_t old_used_idx;    /* ... after the last completed flush */
	uint8_t used_wrap_counter;
	uint8_t old_used_wrap_counter;
	uint8_t padding[7];
	struct vhost_inflight_desc_packed desc[];
};

_Static_assert(sizeof(struct vhost_inflight_desc_packed) == 32, "DescStatePacked is 32 bytes");
_Static_assert(sizeof(struct vhost_inflight_packed) == 32, "QueueRegionPacked header is 32 bytes");

/* Bytes of one queue's inflight region for a packed ring of `queue_size` entries. */
static inline uint64_t vhost_inflight_packed_size(uint16_t queue_size)
{
	return sizeof(struct vhost_inflight_packed) +
	       (uint64_t)queue_size * sizeof(struct vhost_inflight_desc_packed);
}

/* Name of a request for logs ("SET_MEM_TABLE"), "UNKNOWN" for anything else. */
const char *vu_request_name(uint32_t request);

/*
 * Receive one message from a connected stream socket (blocking). Returns 1 on success, 0 on orderly
 * end of stream before a header, -1 on an error or an invalid message (one reason in `err`, the caller
 * logs it with the peer's name and closes the connection). On success the caller owns msg->fds.
 * `is_reply`: validate as a reply from a backend (the frontend side) rather than a request.
 */
int vu_msg_recv(int sock, struct vhost_user_msg *msg, bool is_reply, char *err, unsigned errlen);
/* Send a message with msg->nfds fds; the header's size must be set. Returns 0 or -errno. */
int vu_msg_send(int sock, const struct vhost_user_msg *msg);
/* Close the fds carried by a message and forget them. */
void vu_msg_close_fds(struct vhost_user_msg *msg);

#endif
