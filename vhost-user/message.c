/* SPDX-License-Identifier: MIT */
/*
 * vhost-user messages on a Unix stream socket: framing, SCM_RIGHTS fds, and validation of each message
 * against its request's row of the table in include/kite/vhost_user_requests.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "kite/vhost_user.h"

static const struct vu_request_rule rules[VHOST_USER_MAX_REQUEST] = {
#define RULE_ROW(name_, code, payload_, fds_, reply_, reply_fds_, queues_, handler_)                      \
	[code] = { .name = #name_, .payload = VU_PAYLOAD_##payload_, .fds = VU_FDS_##fds_,                 \
		   .reply = VU_PAYLOAD_##reply_, .reply_fds = VU_FDS_##reply_fds_,                        \
		   .queues = VU_QUEUES_##queues_ },
	VHOST_USER_REQUESTS(RULE_ROW)
#undef RULE_ROW
};

const struct vu_request_rule *vu_request_rule(uint32_t request)
{
	if (request < VHOST_USER_MAX_REQUEST && rules[request].name)
		return &rules[request];
	return NULL;
}

const char *vu_request_name(uint32_t request)
{
	const struct vu_request_rule *r = vu_request_rule(request);
	return r ? r->name : "UNKNOWN";
}

void vu_msg_close_fds(struct vhost_user_msg *msg)
{
	for (unsigned i = 0; i < msg->nfds; i++)
		if (msg->fds[i] >= 0)
			close(msg->fds[i]);
	msg->nfds = 0;
}

/* Check the payload size against a shape. 0 = fine, -1 with the reason in err. */
static int payload_check(const struct vhost_user_msg *msg, enum vu_payload shape, char *err, unsigned errlen)
{
	uint32_t req = msg->hdr.request, size = msg->hdr.size;
	uint32_t want;

	switch (shape) {
	case VU_PAYLOAD_REFUSED:
		snprintf(err, errlen, "unsupported request %u (%s)", req, vu_request_name(req));
		return -1;
	case VU_PAYLOAD_EMPTY:
		/* some frontends send a zeroed u64 with requests that carry nothing */
		if (size == 0)
			return 0;
		want = sizeof(uint64_t);
		break;
	case VU_PAYLOAD_ACK:
	case VU_PAYLOAD_U64:
		want = sizeof(uint64_t);
		break;
	case VU_PAYLOAD_STATE:
		want = sizeof(struct vhost_user_vring_state);
		break;
	case VU_PAYLOAD_ADDR:
		want = sizeof(struct vhost_user_vring_addr);
		break;
	case VU_PAYLOAD_MEMREG:
		want = sizeof(struct vhost_user_mem_single);
		break;
	case VU_PAYLOAD_LOG:
		want = sizeof(struct vhost_user_log);
		break;
	case VU_PAYLOAD_INFLIGHT:
		want = sizeof(struct vhost_user_inflight);
		break;
	case VU_PAYLOAD_MEMTABLE: {
		uint32_t n = msg->p.mem.nregions;
		if (size < 8 || n == 0 || n > VHOST_USER_MEM_REGIONS_MAX ||
		    size != 8 + n * sizeof(struct vhost_user_mem_region)) {
			snprintf(err, errlen, "%s: %u regions in %u bytes", vu_request_name(req), n, size);
			return -1;
		}
		return 0;
	}
	case VU_PAYLOAD_CONFIG:
		if (size < VHOST_USER_CONFIG_HDR_SIZE || msg->p.config.size > VHOST_USER_CONFIG_MAX ||
		    size != VHOST_USER_CONFIG_HDR_SIZE + msg->p.config.size) {
			snprintf(err, errlen, "%s: config payload %u bytes claims %u", vu_request_name(req),
				 size, size >= VHOST_USER_CONFIG_HDR_SIZE ? msg->p.config.size : 0);
			return -1;
		}
		return 0;
	default:
		snprintf(err, errlen, "%s: no payload rule", vu_request_name(req));
		return -1;
	}
	if (size != want) {
		snprintf(err, errlen, "%s: payload size %u is wrong (expected %u)", vu_request_name(req), size, want);
		return -1;
	}
	return 0;
}

/* Check the number of attached fds against a rule (the payload is already checked). */
static int fds_check(const struct vhost_user_msg *msg, enum vu_fds rule, char *err, unsigned errlen)
{
	unsigned lo = 0, hi = 0;

	switch (rule) {
	case VU_FDS_NONE:
		break;
	case VU_FDS_ONE:
		lo = hi = 1;
		break;
	case VU_FDS_VRING:
		lo = hi = (msg->p.u64 & VHOST_USER_VRING_NOFD_MASK) ? 0 : 1;
		break;
	case VU_FDS_REGIONS:
		lo = hi = msg->p.mem.nregions;
		break;
	case VU_FDS_MAYBE:
		hi = 1;
		break;
	}
	if (msg->nfds < lo || msg->nfds > hi) {
		if (lo == hi)
			snprintf(err, errlen, "%s: %u fds attached, expected %u", vu_request_name(msg->hdr.request),
				 msg->nfds, lo);
		else
			snprintf(err, errlen, "%s: %u fds attached, expected %u to %u",
				 vu_request_name(msg->hdr.request), msg->nfds, lo, hi);
		return -1;
	}
	return 0;
}

/* Check a fully received message against its request's row. 0 = fine, -1 with reason in err. */
static int msg_validate(const struct vhost_user_msg *msg, bool is_reply, char *err, unsigned errlen)
{
	uint32_t req = msg->hdr.request;
	const struct vu_request_rule *rule = vu_request_rule(req);

	if ((msg->hdr.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION) {
		snprintf(err, errlen, "%s: bad version in flags 0x%x", vu_request_name(req), msg->hdr.flags);
		return -1;
	}
	if (!!(msg->hdr.flags & VHOST_USER_REPLY_MASK) != is_reply) {
		snprintf(err, errlen, "%s: reply flag %s where not expected", vu_request_name(req),
			 is_reply ? "missing" : "set");
		return -1;
	}
	if (!rule) {
		snprintf(err, errlen, "unsupported request %u", req);
		return -1;
	}
	if (is_reply)
		return payload_check(msg, rule->reply, err, errlen) ? -1 : fds_check(msg, rule->reply_fds, err, errlen);
	return payload_check(msg, rule->payload, err, errlen) ? -1 : fds_check(msg, rule->fds, err, errlen);
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
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		/* the socket's receive timeout (SO_RCVTIMEO) ran out before anything arrived */
		struct timeval tv = { 0 };
		socklen_t tl = sizeof(tv);

		if (getsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, &tl) == 0 && (tv.tv_sec || tv.tv_usec))
			snprintf(err, errlen, "no %s within %g s", is_reply ? "reply" : "message",
				 (double)tv.tv_sec + tv.tv_usec / 1e6);
		else
			snprintf(err, errlen, "no %s: the socket would block", is_reply ? "reply" : "message");
		return -1;
	}
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
