/* SPDX-License-Identifier: MIT */
/*
 * The vhost-user requests (QEMU docs/interop/vhost-user.rst), one row each. This table is the only list
 * of requests: it defines the request codes (enum vhost_user_request in vhost_user.h), the names used
 * in logs, what the wire layer (vhost-user/message.c) accepts for a request and for its reply, and
 * which handler kite-dpu's backend (dpu/vhost_backend.c) runs. The frontend (vhost-user/frontend.c)
 * reads the same rows through vu_request_rule() to know whether to wait for a reply and how to check it.
 *
 * X(name, code, payload, fds, reply, reply_fds, queues, backend handler)
 *  name     VHOST_USER_<name> is the request code `code`.
 *  payload  shape of the request's payload (enum vu_payload without its VU_PAYLOAD_ prefix):
 *           REFUSED = the wire layer refuses the request (kite implements nothing of it);
 *           EMPTY = nothing (8 zero bytes are tolerated: some frontends send them);
 *           U64, STATE (vring state), ADDR (vring addresses), LOG = exactly that structure;
 *           MEMTABLE = 8 + 32 bytes per region, 1..VHOST_USER_MEM_REGIONS_MAX regions;
 *           MEMREG = one region (ADD/REM_MEM_REG); CONFIG = 12-byte header + the size it claims
 *           (at most VHOST_USER_CONFIG_MAX); INFLIGHT = struct vhost_user_inflight.
 *  fds      fds the request carries (enum vu_fds without VU_FDS_): NONE; ONE; VRING = one unless the
 *           payload's VHOST_USER_VRING_NOFD_MASK bit is set; REGIONS = one per region; MAYBE = 0 or 1.
 *  reply    ACK = the request has no reply of its own: the backend answers only when the frontend set
 *           VHOST_USER_NEED_REPLY_MASK and REPLY_ACK was negotiated, with a u64 status (0 = success);
 *           anything else = the backend always answers with a payload of that shape.
 *  reply_fds  fds the reply carries (NONE or ONE).
 *  queues   PAUSE = the backend stops every running queue before the handler and restarts them after
 *           it (the handler changes what the pollers read: guest memory, negotiated features); RUN = the
 *           handler itself decides about the one queue it concerns.
 *  backend handler  the function of dpu/vhost_backend.c that serves the request, NULL where kite-dpu
 *           refuses it (the connection is closed with "not supported by this backend"). Only vhost_backend.c
 *           reads this column.
 */
#ifndef KITE_VHOST_USER_REQUESTS_H
#define KITE_VHOST_USER_REQUESTS_H

#include <stdbool.h>
#include <stdint.h>

#define VHOST_USER_REQUESTS(X) \
	X(GET_FEATURES,           1, EMPTY,    NONE,    U64,      NONE, RUN,   be_get_features)          \
	X(SET_FEATURES,           2, U64,      NONE,    ACK,      NONE, PAUSE, be_set_features)          \
	X(SET_OWNER,              3, EMPTY,    NONE,    ACK,      NONE, RUN,   be_set_owner)             \
	X(RESET_OWNER,            4, EMPTY,    NONE,    ACK,      NONE, RUN,   be_reset)                 \
	X(SET_MEM_TABLE,          5, MEMTABLE, REGIONS, ACK,      NONE, PAUSE, be_set_mem_table)         \
	X(SET_LOG_BASE,           6, LOG,      ONE,     ACK,      NONE, RUN,   NULL)                     \
	X(SET_LOG_FD,             7, EMPTY,    ONE,     ACK,      NONE, RUN,   NULL)                     \
	X(SET_VRING_NUM,          8, STATE,    NONE,    ACK,      NONE, RUN,   be_set_vring_num)         \
	X(SET_VRING_ADDR,         9, ADDR,     NONE,    ACK,      NONE, RUN,   be_set_vring_addr)        \
	X(SET_VRING_BASE,        10, STATE,    NONE,    ACK,      NONE, RUN,   be_set_vring_base)        \
	X(GET_VRING_BASE,        11, STATE,    NONE,    STATE,    NONE, RUN,   be_get_vring_base)        \
	X(SET_VRING_KICK,        12, U64,      VRING,   ACK,      NONE, RUN,   be_set_vring_kick)        \
	X(SET_VRING_CALL,        13, U64,      VRING,   ACK,      NONE, RUN,   be_set_vring_call)        \
	X(SET_VRING_ERR,         14, U64,      VRING,   ACK,      NONE, RUN,   be_set_vring_err)         \
	X(GET_PROTOCOL_FEATURES, 15, EMPTY,    NONE,    U64,      NONE, RUN,   be_get_protocol_features) \
	X(SET_PROTOCOL_FEATURES, 16, U64,      NONE,    ACK,      NONE, RUN,   be_set_protocol_features) \
	X(GET_QUEUE_NUM,         17, EMPTY,    NONE,    U64,      NONE, RUN,   be_get_queue_num)         \
	X(SET_VRING_ENABLE,      18, STATE,    NONE,    ACK,      NONE, RUN,   be_set_vring_enable)      \
	X(SEND_RARP,             19, U64,      NONE,    ACK,      NONE, RUN,   NULL)                     \
	X(NET_SET_MTU,           20, U64,      NONE,    ACK,      NONE, RUN,   NULL)                     \
	X(SET_BACKEND_REQ_FD,    21, EMPTY,    ONE,     ACK,      NONE, RUN,   be_set_backend_req_fd)    \
	X(IOTLB_MSG,             22, REFUSED,  NONE,    ACK,      NONE, RUN,   NULL)                     \
	X(SET_VRING_ENDIAN,      23, STATE,    NONE,    ACK,      NONE, RUN,   NULL)                     \
	X(GET_CONFIG,            24, CONFIG,   NONE,    CONFIG,   NONE, RUN,   be_get_config)            \
	X(SET_CONFIG,            25, CONFIG,   NONE,    ACK,      NONE, RUN,   be_set_config)            \
	X(CREATE_CRYPTO_SESSION, 26, REFUSED,  NONE,    ACK,      NONE, RUN,   NULL)                     \
	X(CLOSE_CRYPTO_SESSION,  27, REFUSED,  NONE,    ACK,      NONE, RUN,   NULL)                     \
	X(POSTCOPY_ADVISE,       28, REFUSED,  NONE,    ACK,      NONE, RUN,   NULL)                     \
	X(POSTCOPY_LISTEN,       29, REFUSED,  NONE,    ACK,      NONE, RUN,   NULL)                     \
	X(POSTCOPY_END,          30, REFUSED,  NONE,    ACK,      NONE, RUN,   NULL)                     \
	X(GET_INFLIGHT_FD,       31, INFLIGHT, NONE,    INFLIGHT, ONE,  PAUSE, be_get_inflight_fd)        \
	X(SET_INFLIGHT_FD,       32, INFLIGHT, ONE,     ACK,      NONE, PAUSE, be_set_inflight_fd)        \
	X(GPU_SET_SOCKET,        33, REFUSED,  NONE,    ACK,      NONE, RUN,   NULL)                     \
	X(RESET_DEVICE,          34, EMPTY,    NONE,    ACK,      NONE, RUN,   be_reset)                 \
	X(VRING_KICK,            35, STATE,    NONE,    ACK,      NONE, RUN,   NULL)                     \
	X(GET_MAX_MEM_SLOTS,     36, EMPTY,    NONE,    U64,      NONE, RUN,   be_get_max_mem_slots)     \
	X(ADD_MEM_REG,           37, MEMREG,   ONE,     ACK,      NONE, PAUSE, be_add_mem_reg)           \
	X(REM_MEM_REG,           38, MEMREG,   MAYBE,   ACK,      NONE, PAUSE, be_rem_mem_reg)           \
	X(SET_STATUS,            39, U64,      NONE,    ACK,      NONE, RUN,   NULL)                     \
	X(GET_STATUS,            40, EMPTY,    NONE,    U64,      NONE, RUN,   NULL)

#define VHOST_USER_REQUEST_CODE_(name, code, ...) VHOST_USER_##name = code,
enum vhost_user_request {
	VHOST_USER_NONE = 0,
	VHOST_USER_REQUESTS(VHOST_USER_REQUEST_CODE_)
	VHOST_USER_MAX_REQUEST      /* one past the highest code (the rows are in code order) */
};
#undef VHOST_USER_REQUEST_CODE_

/* Payload shapes (the `payload` and `reply` columns). */
enum vu_payload {
	VU_PAYLOAD_REFUSED, VU_PAYLOAD_ACK, VU_PAYLOAD_EMPTY, VU_PAYLOAD_U64, VU_PAYLOAD_STATE,
	VU_PAYLOAD_ADDR, VU_PAYLOAD_MEMTABLE, VU_PAYLOAD_MEMREG, VU_PAYLOAD_CONFIG, VU_PAYLOAD_LOG,
	VU_PAYLOAD_INFLIGHT,
};

/* Fd rules (the `fds` and `reply_fds` columns). */
enum vu_fds { VU_FDS_NONE, VU_FDS_ONE, VU_FDS_VRING, VU_FDS_REGIONS, VU_FDS_MAYBE };

/* The `queues` column. */
enum vu_queues { VU_QUEUES_RUN, VU_QUEUES_PAUSE };

/* One row as the wire layer and the frontend see it (everything but the backend handler). */
struct vu_request_rule {
	const char *name;           /* "SET_MEM_TABLE" */
	enum vu_payload payload;
	enum vu_fds fds;
	enum vu_payload reply;      /* VU_PAYLOAD_ACK: answered only on NEED_REPLY with REPLY_ACK */
	enum vu_fds reply_fds;
	enum vu_queues queues;
};

/* The row of a request, NULL for a code outside the table (VHOST_USER_NONE, >= MAX_REQUEST). */
const struct vu_request_rule *vu_request_rule(uint32_t request);

/* True when the backend always answers this request (a GET_*), whatever NEED_REPLY says. */
static inline bool vu_request_has_reply(uint32_t request)
{
	const struct vu_request_rule *r = vu_request_rule(request);
	return r && r->reply != VU_PAYLOAD_ACK;
}

#endif
