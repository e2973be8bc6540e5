/* SPDX-License-Identifier: MIT */
/* vhost-user messages on a Unix stream socket: framing, SCM_RIGHTS fds, per-request validation. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kite/vhost_user.h"

static const char *const request_names[VHOST_USER_MAX_REQUEST] = {
	[VHOST_USER_GET_FEATURES] = "GET_FEATURES",
	[VHOST_USER_SET_FEATURES] = "SET_FEATURES",
	[VHOST_USER_SET_OWNER] = "SET_OWNER",
	[VHOST_USER_RESET_OWNER] = "RESET_OWNER",
	[VHOST_USER_SET_MEM_TABLE] = "SET_MEM_TABLE",
	[VHOST_USER_SET_LOG_BASE] = "SET_LOG_BASE",
	[VHOST_USER_SET_LOG_FD] = "SET_LOG_FD",
	[VHOST_USER_SET_VRING_NUM] = "SET_VRING_NUM",
	[VHOST_USER_SET_VRING_ADDR] = "SET_VRING_ADDR",
	[VHOST_USER_SET_VRING_BASE] = "SET_VRING_BASE",
	[VHOST_USER_GET_VRING_BASE] = "GET_VRING_BASE",
	[VHOST_USER_SET_VRING_KICK] = "SET_VRING_KICK",
	[VHOST_USER_SET_VRING_CALL] = "SET_VRING_CALL",
	[VHOST_USER_SET_VRING_ERR] = "SET_VRING_ERR",
	[VHOST_USER_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
	[VHOST_USER_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
	[VHOST_USER_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
	[VHOST_USER_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
	[VHOST_USER_SEND_RARP] = "SEND_RARP",
	[VHOST_USER_NET_SET_MTU] = "NET_SET_MTU",
	[VHOST_USER_SET_BACKEND_REQ_FD] = "SET_BACKEND_REQ_FD",
	[VHOST_USER_IOTLB_MSG] = "IOTLB_MSG",
	[VHOST_USER_SET_VRING_ENDIAN] = "SET_VRING_ENDIAN",
	[VHOST_USER_GET_CONFIG] = "GET_CONFIG",
	[VHOST_USER_SET_CONFIG] = "SET_CONFIG",
	[VHOST_USER_CREATE_CRYPTO_SESSION] = "CREATE_CRYPTO_SESSION",
	[VHOST_USER_CLOSE_CRYPTO_SESSION] = "CLOSE_CRYPTO_SESSION",
	[VHOST_USER_POSTCOPY_ADVISE] = "POSTCOPY_ADVISE",
	[VHOST_USER_POSTCOPY_LISTEN] = "POSTCOPY_LISTEN",
	[VHOST_USER_POSTCOPY_END] = "POSTCOPY_END",
	[VHOST_USER_GET_INFLIGHT_FD] = "GET_INFLIGHT_FD",
	[VHOST_USER_SET_INFLIGHT_FD] = "SET_INFLIGHT_FD",
	[VHOST_USER_GPU_SET_SOCKET] = "GPU_SET_SOCKET",
	[VHOST_USER_RESET_DEVICE] = "RESET_DEVICE",
	[VHOST_USER_VRING_KICK] = "VRING_KICK",
	[VHOST_USER_GET_MAX_MEM_SLOTS] = "GET_MAX_MEM_SLOTS",
	[VHOST_USER_ADD_MEM_REG] = "ADD_MEM_REG",
	[VHOST_USER_REM_MEM_REG] = "REM_MEM_REG",
	[VHOST_USER_SET_STATUS] = "SET_STATUS",
	[VHOST_USER_GET_STATUS] = "GET_STATUS",
};

const char *vu_request_name(uint32_t request)
{
	if (request < VHOST_USER_MAX_REQUEST && request_names[request])
		return request_names[request];
	return "UNKNOWN";
}

void vu_msg_close_fds(struct vhost_user_msg *msg)
{
	for (unsigned i = 0; i < msg->nfds; i++)
		if (msg->fds[i] >= 0)
			close(msg->fds[i]);
	msg->nfds = 0;
}

/* Payload shapes: exact size, or a range for the variable-length requests checked below. */
enum shape { NOPAYLOAD, U64, STATE, ADDR, MEMTABLE, MEMREG, CONFIG, LOG, INFLIGHT, UNSUPPORTED };

static enum shape request_shape(uint32_t req, bool is_reply)
{
	if (is_reply) {
		switch (req) {
		case VHOST_USER_GET_FEATURES:
		case VHOST_USER_GET_PROTOCOL_FEATURES:
		case VHOST_USER_GET_QUEUE_NUM:
		case VHOST_USER_GET_MAX_MEM_SLOTS:
		case VHOST_USER_GET_STATUS:
			return U64;
		case VHOST_USER_GET_VRING_BASE:
			return STATE;
		case VHOST_USER_GET_CONFIG:
			return CONFIG;
		case VHOST_USER_GET_INFLIGHT_FD:
			return INFLIGHT;
		default:
			/* REPLY_ACK answers carry a u64 for any request */
			return req && req < VHOST_USER_MAX_REQUEST ? U64 : UNSUPPORTED;
		}
	}
	switch (req) {
	case VHOST_USER_GET_FEATURES:
	case VHOST_USER_SET_OWNER:
	case VHOST_USER_RESET_OWNER:
	case VHOST_USER_GET_PROTOCOL_FEATURES:
	case VHOST_USER_GET_QUEUE_NUM:
	case VHOST_USER_RESET_DEVICE:
	case VHOST_USER_GET_MAX_MEM_SLOTS:
	case VHOST_USER_GET_STATUS:
	case VHOST_USER_SET_BACKEND_REQ_FD:
	case VHOST_USER_SET_LOG_FD:
		return NOPAYLOAD;
	case VHOST_USER_SET_FEATURES:
	case VHOST_USER_SET_PROTOCOL_FEATURES:
	case VHOST_USER_SET_VRING_KICK:
	case VHOST_USER_SET_VRING_CALL:
	case VHOST_USER_SET_VRING_ERR:
	case VHOST_USER_SET_STATUS:
	case VHOST_USER_SEND_RARP:
	case VHOST_USER_NET_SET_MTU:
		return U64;
	case VHOST_USER_SET_VRING_NUM:
	case VHOST_USER_SET_VRING_BASE:
	case VHOST_USER_GET_VRING_BASE:
	case VHOST_USER_SET_VRING_ENABLE:
	case VHOST_USER_SET_VRING_ENDIAN:
	case VHOST_USER_VRING_KICK:
		return STATE;
	case VHOST_USER_SET_VRING_ADDR:
		return ADDR;
	case VHOST_USER_SET_MEM_TABLE:
		return MEMTABLE;
	case VHOST_USER_ADD_MEM_REG:
	case VHOST_USER_REM_MEM_REG:
		return MEMREG;
	case VHOST_USER_GET_CONFIG:
	case VHOST_USER_SET_CONFIG:
		return CONFIG;
	case VHOST_USER_SET_LOG_BASE:
		return LOG;
	case VHOST_USER_GET_INFLIGHT_FD:
	case VHOST_USER_SET_INFLIGHT_FD:
		return INFLIGHT;
	default:
		return UNSUPPORTED;
	}
}

/* Check size and fd count of a fully received message. 0 = fine, -1 with reason in err. */
static int msg_validate(const struct vhost_user_msg *msg, bool is_reply, char *err, unsigned errlen)
{
	uint32_t req = msg->hdr.request, size = msg->hdr.size;
	enum shape sh = request_shape(req, is_reply);
	unsigned want_fds = 0;
	bool fd_any = false;      /* 0 or 1 fd allowed */

	if ((msg->hdr.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION) {
		snprintf(err, errlen, "%s: bad version in flags 0x%x", vu_request_name(req), msg->hdr.flags);
		return -1;
	}
	if (!!(msg->hdr.flags & VHOST_USER_REPLY_MASK) != is_reply) {
		snprintf(err, errlen, "%s: reply flag %s where not expected", vu_request_name(req),
			 is_reply ? "missing" : "set");
		return -1;
	}
	switch (sh) {
	case UNSUPPORTED:
		snprintf(err, errlen, "unsupported request %u", req);
		return -1;
	case NOPAYLOAD:
		/* some frontends send a zeroed u64 with requests that carry nothing */
		if (size != 0 && size != 8)
			goto bad_size;
		if (req == VHOST_USER_SET_BACKEND_REQ_FD || req == VHOST_USER_SET_LOG_FD)
			want_fds = 1;
		break;
	case U64:
		if (size != 8)
			goto bad_size;
		if (!is_reply && (req == VHOST_USER_SET_VRING_KICK || req == VHOST_USER_SET_VRING_CALL ||
				  req == VHOST_USER_SET_VRING_ERR))
			want_fds = (msg->p.u64 & VHOST_USER_VRING_NOFD_MASK) ? 0 : 1;
		break;
	case STATE:
		if (size != sizeof(struct vhost_user_vring_state))
			goto bad_size;
		break;
	case ADDR:
		if (size != sizeof(struct vhost_user_vring_addr))
			goto bad_size;
		break;
	case MEMTABLE: {
		uint32_t n = msg->p.mem.nregions;
		if (size < 8 || n == 0 || n > VHOST_USER_MEM_REGIONS_MAX ||
		    size != 8 + n * sizeof(struct vhost_user_mem_region)) {
			snprintf(err, errlen, "SET_MEM_TABLE: %u regions in %u bytes", n, size);
			return -1;
		}
		want_fds = n;
		break;
	}
	case MEMREG:
		if (size != sizeof(struct vhost_user_mem_single))
			goto bad_size;
		if (req == VHOST_USER_ADD_MEM_REG)
			want_fds = 1;
		else
			fd_any = true;
		break;
	case CONFIG:
		if (size < VHOST_USER_CONFIG_HDR_SIZE || msg->p.config.size > VHOST_USER_CONFIG_MAX ||
		    size != VHOST_USER_CONFIG_HDR_SIZE + msg->p.config.size) {
			snprintf(err, errlen, "%s: config payload %u bytes claims %u", vu_request_name(req),
				 size, size >= VHOST_USER_CONFIG_HDR_SIZE ? msg->p.config.size : 0);
			return -1;
		}
		break;
	case LOG:
		if (size != sizeof(struct vhost_user_log))
			goto bad_size;
		want_fds = 1;
		break;
	case INFLIGHT:
		if (size != sizeof(struct vhost_user_inflight))
			goto bad_size;
		if (is_reply ? req == VHOST_USER_GET_INFLIGHT_FD : req == VHOST_USER_SET_INFLIGHT_FD)
			want_fds = 1;
		break;
	}
	if (msg->nfds != want_fds && !(fd_any && msg->nfds <= 1)) {
		snprintf(err, errlen, "%s: %u fds attached, expected %u", vu_request_name(req), msg->nfds,
			 want_fds);
		return -1;
	}
	return 0;
bad_size:
	snprintf(err, errlen, "%s: payload size %u is wrong", vu_request_name(req), size);
	return -1;
}

/* Read exactly len bytes (retrying on EINTR / short reads). 0 ok, -1 error or EOF. */
static int read_full(int sock, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r = recv(sock, (char *)buf + done, len - done, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		done += (size_t)r;
	}
	return 0;
}

int vu_msg_recv(int sock, struct vhost_user_msg *msg, bool is_reply, char *err, unsigned errlen)
{
	union {
		char buf[CMSG_SPACE(VHOST_USER_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = &msg->hdr, .iov_len = sizeof(msg->hdr) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf) };
	ssize_t r;

	memset(msg, 0, sizeof(*msg));
	do
		r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return 0;
	if (r < 0) {
		snprintf(err, errlen, "recvmsg: %s", strerror(errno));
		return -1;
	}
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		unsigned n = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (unsigned i = 0; i < n; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (msg->nfds < VHOST_USER_MAX_FDS)
				msg->fds[msg->nfds++] = fd;
			else
				close(fd);
		}
	}
	if (mh.msg_flags & MSG_CTRUNC) {
		snprintf(err, errlen, "too many fds attached to one message");
		goto fail;
	}
	if ((size_t)r < sizeof(msg->hdr) && read_full(sock, (char *)&msg->hdr + r, sizeof(msg->hdr) - (size_t)r)) {
		snprintf(err, errlen, "connection closed inside a message header");
		goto fail;
	}
	if (msg->hdr.size > sizeof(msg->p)) {
		snprintf(err, errlen, "%s: payload of %u bytes is too large", vu_request_name(msg->hdr.request),
			 msg->hdr.size);
		goto fail;
	}
	if (msg->hdr.size && read_full(sock, &msg->p, msg->hdr.size)) {
		snprintf(err, errlen, "%s: connection closed or timed out inside the payload",
			 vu_request_name(msg->hdr.request));
		goto fail;
	}
	if (msg_validate(msg, is_reply, err, errlen))
		goto fail;
	return 1;
fail:
	vu_msg_close_fds(msg);
	return -1;
}

int vu_msg_send(int sock, const struct vhost_user_msg *msg)
{
	union {
		char buf[CMSG_SPACE(VHOST_USER_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov[2] = {
		{ .iov_base = (void *)&msg->hdr, .iov_len = sizeof(msg->hdr) },
		{ .iov_base = (void *)&msg->p, .iov_len = msg->hdr.size },
	};
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = msg->hdr.size ? 2 : 1 };
	size_t total = sizeof(msg->hdr) + msg->hdr.size;
	ssize_t r;

	if (msg->hdr.size > sizeof(msg->p) || msg->nfds > VHOST_USER_MAX_FDS)
		return -EINVAL;
	if (msg->nfds) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(msg->nfds * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(msg->nfds * sizeof(int));
		memcpy(CMSG_DATA(c), msg->fds, msg->nfds * sizeof(int));
	}
	do
		r = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	/* Unix stream sockets send small messages whole; finish a short write without fds. */
	size_t done = (size_t)r;
	while (done < total) {
		const char *src;
		size_t left;
		if (done < sizeof(msg->hdr)) {
			src = (const char *)&msg->hdr + done;
			left = sizeof(msg->hdr) - done;
		} else {
			src = (const char *)&msg->p + (done - sizeof(msg->hdr));
			left = total - done;
		}
		r = send(sock, src, left, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EPIPE;
		done += (size_t)r;
	}
	return 0;
}
