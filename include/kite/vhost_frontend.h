/* SPDX-License-Identifier: MIT */
/*
 * The frontend (driver / VMM) side of vhost-user: a small blocking client used by kite, the tests and
 * the load generator. Whether a request waits for a reply, and how that reply is validated (reply
 * flag, request code, size, fds), comes from the request's row in vhost_user_requests.h.
 */
#ifndef KITE_VHOST_FRONTEND_H
#define KITE_VHOST_FRONTEND_H

#include <stdbool.h>
#include <stdint.h>

#include "kite/guest_mem.h"
#include "kite/vhost_user.h"

struct vu_frontend {
	int sock;
	char path[108];
	uint64_t features;        /* negotiated */
	uint64_t protocol;        /* negotiated protocol features */
	char err[192];            /* last error */
	bool peer_closed;         /* the last error was the backend closing the connection */
	int reply_ms;             /* vuf_set_deadlines; 0: the socket blocks */
	int mem_reply_ms;
};

/* Connect to a backend's server socket, retrying for up to timeout_ms. 0 or -1 (reason in f->err). */
int vuf_connect(struct vu_frontend *f, const char *path, int timeout_ms);
void vuf_close(struct vu_frontend *f);
/* Deadlines (after vuf_connect): every send and reply within reply_ms, except the replies to the
 * requests that make the backend map guest memory (SET_MEM_TABLE, ADD_MEM_REG: it may mmap and
 * fault in or lock all of it, and a backend sharing its core with a busy poller is slow to get
 * there) within mem_reply_ms. A reply that does not come in time is an error naming the request
 * ("no reply within N s"). 0, or -1 with f->err. */
int vuf_set_deadlines(struct vu_frontend *f, int reply_ms, int mem_reply_ms);
/* Send msg; if the request's row has a reply (or need_ack with REPLY_ACK), receive and check it into msg.
 * Returns 0, or -1 with f->err set. A nonzero REPLY_ACK status is an error. */
int vuf_call(struct vu_frontend *f, struct vhost_user_msg *msg, bool need_ack);
/* GET_FEATURES, SET_FEATURES(offered & want), GET/SET_PROTOCOL_FEATURES(offered & want_proto), SET_OWNER. */
int vuf_negotiate(struct vu_frontend *f, uint64_t want, uint64_t want_proto);
int vuf_get_u64(struct vu_frontend *f, uint32_t request, uint64_t *out);
/* SET_FEATURES again (e.g. with what the guest negotiated, before the rings start). */
int vuf_set_features(struct vu_frontend *f, uint64_t features);
/* Memory: SET_MEM_TABLE with every region of gm (each needs fd >= 0 and uva set). */
int vuf_set_mem_table(struct vu_frontend *f, const struct guest_mem *gm);
/* One queue: NUM, BASE, ADDR (frontend virtual addresses), CALL, KICK, then ENABLE if negotiated. */
int vuf_start_vring(struct vu_frontend *f, unsigned idx, uint16_t size, uint64_t desc, uint64_t avail,
		    uint64_t used, uint16_t base, int kick_fd, int call_fd);
/* The same, leaving the ring disabled when !enable (SET_VRING_ENABLE 0 sent before its kick fd). */
int vuf_setup_vring(struct vu_frontend *f, unsigned idx, uint16_t size, uint64_t desc, uint64_t avail,
		    uint64_t used, uint16_t base, int kick_fd, int call_fd, bool enable);
/* SET_VRING_ENABLE (needs VHOST_USER_F_PROTOCOL_FEATURES to disable; enabling without it is a no-op). */
int vuf_enable_vring(struct vu_frontend *f, unsigned idx, bool on);
int vuf_get_vring_base(struct vu_frontend *f, unsigned idx, uint32_t *base);
int vuf_get_config(struct vu_frontend *f, uint32_t offset, void *buf, uint32_t len);
/* Inflight region: GET_INFLIGHT_FD; returns the fd (caller owns) and its size, or -1. */
int vuf_get_inflight(struct vu_frontend *f, uint16_t num_queues, uint16_t queue_size, uint64_t *size);
int vuf_set_inflight(struct vu_frontend *f, int fd, uint64_t size, uint16_t num_queues, uint16_t queue_size);
/* VHOST_USER_PROTOCOL_F_BACKEND_REQ: a socket pair; SET_BACKEND_REQ_FD hands one end to the backend.
 * Returns the other end (caller owns; nonblocking) or -1 with f->err. */
int vuf_backend_channel(struct vu_frontend *f);
/* Read one request from the backend channel fd (validated: header, version, a payload of at most
 * VHOST_USER_CONFIG_MAX bytes read and dropped, fds closed) and answer it if it asks for a reply:
 * 0 for a request the caller accepts (`known`), failure otherwise. Returns the request code, 0 when
 * nothing is there, or -1 with the reason in err (end of stream: "channel closed"). */
int vuf_backend_recv(int fd, uint32_t known, char *err, size_t errlen);

#endif
