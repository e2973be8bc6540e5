/* SPDX-License-Identifier: MIT */
/* vhost-user frontend client (blocking). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "kite/vhost_frontend.h"

int vuf_connect(struct vu_frontend *f, const char *path, int timeout_ms)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	size_t len = path ? strlen(path) : 0;

	memset(f, 0, sizeof(*f));
	f->sock = -1;
	if (!path || len >= sizeof(sa.sun_path)) {
		snprintf(f->err, sizeof(f->err), "socket path missing or too long");
		return -1;
	}
	memcpy(f->path, path, len + 1);
	memcpy(sa.sun_path, path, len + 1);
	for (int waited = 0;; waited += 10) {
		int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s < 0) {
			snprintf(f->err, sizeof(f->err), "socket: %s", strerror(errno));
			return -1;
		}
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			f->sock = s;
			return 0;
		}
		int e = errno;
		close(s);
		if (waited >= timeout_ms) {
			snprintf(f->err, sizeof(f->err), "%s: connect: %s", path, strerror(e));
			return -1;
		}
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

void vuf_close(struct vu_frontend *f)
{
	if (f->sock >= 0)
		close(f->sock);
	f->sock = -1;
}

static int rcv_timeout(int sock, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	return setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

int vuf_set_deadlines(struct vu_frontend *f, int reply_ms, int mem_reply_ms)
{
	struct timeval tv = { reply_ms / 1000, (reply_ms % 1000) * 1000 };

	if (rcv_timeout(f->sock, reply_ms) < 0 || setsockopt(f->sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
		snprintf(f->err, sizeof(f->err), "socket timeouts: %s", strerror(errno));
		return -1;
	}
	f->reply_ms = reply_ms;
	f->mem_reply_ms = mem_reply_ms;
	return 0;
}

/* The reply deadline of req: the long one for the requests that map guest memory. */
static int deadline_for(struct vu_frontend *f, uint32_t req, int ms)
{
	if (f->reply_ms <= 0 || f->mem_reply_ms <= 0 || f->mem_reply_ms == f->reply_ms ||
	    (req != VHOST_USER_SET_MEM_TABLE && req != VHOST_USER_ADD_MEM_REG))
		return 0;
	if (rcv_timeout(f->sock, ms) < 0) {
		snprintf(f->err, sizeof(f->err), "%s: socket timeout: %s", vu_request_name(req), strerror(errno));
		return -1;
	}
	return 0;
}

int vuf_call(struct vu_frontend *f, struct vhost_user_msg *msg, bool need_ack)
{
	uint32_t req = msg->hdr.request;
	bool ack = need_ack && !vu_request_has_reply(req) && (f->protocol & (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK));
	char err[160];

	msg->hdr.flags = VHOST_USER_VERSION | (ack ? VHOST_USER_NEED_REPLY_MASK : 0);
	int r = vu_msg_send(f->sock, msg);
	f->peer_closed = r == -EPIPE || r == -ECONNRESET;
	if (r < 0) {
		snprintf(f->err, sizeof(f->err), "%s: send: %s", vu_request_name(req), strerror(-r));
		return -1;
	}
	if (!vu_request_has_reply(req) && !ack)
		return 0;
	if (deadline_for(f, req, f->mem_reply_ms) < 0)
		return -1;
	r = vu_msg_recv(f->sock, msg, true, err, sizeof(err));
	if (deadline_for(f, req, f->reply_ms) < 0) {
		if (r > 0)
			vu_msg_close_fds(msg);
		return -1;
	}
	if (r <= 0) {
		f->peer_closed = r == 0;
		snprintf(f->err, sizeof(f->err), "%s: reply: %s", vu_request_name(req), r ? err : "connection closed");
		return -1;
	}
	if (msg->hdr.request != req) {
		snprintf(f->err, sizeof(f->err), "%s: reply is for %s", vu_request_name(req),
			 vu_request_name(msg->hdr.request));
		vu_msg_close_fds(msg);
		return -1;
	}
	if (ack && msg->p.u64 != 0) {
		snprintf(f->err, sizeof(f->err), "%s: backend answered failure %llu", vu_request_name(req),
			 (unsigned long long)msg->p.u64);
		return -1;
	}
	return 0;
}

int vuf_get_u64(struct vu_frontend *f, uint32_t request, uint64_t *out)
{
	struct vhost_user_msg m = { .hdr = { .request = request } };

	if (vuf_call(f, &m, false) < 0)
		return -1;
	*out = m.p.u64;
	return 0;
}

static int set_u64(struct vu_frontend *f, uint32_t request, uint64_t v, int fd)
{
	struct vhost_user_msg m = { .hdr = { .request = request, .size = 8 }, .p.u64 = v };

	if (fd >= 0) {
		m.fds[0] = fd;
		m.nfds = 1;
	}
	return vuf_call(f, &m, true);
}

int vuf_set_features(struct vu_frontend *f, uint64_t features)
{
	f->features = features;
	return set_u64(f, VHOST_USER_SET_FEATURES, features, -1);
}

int vuf_negotiate(struct vu_frontend *f, uint64_t want, uint64_t want_proto)
{
	uint64_t offered, proto = 0;

	if (vuf_get_u64(f, VHOST_USER_GET_FEATURES, &offered) < 0)
		return -1;
	f->features = offered & want;
	if (offered & (1ull << VHOST_USER_F_PROTOCOL_FEATURES)) {
		f->features |= 1ull << VHOST_USER_F_PROTOCOL_FEATURES;
		if (vuf_get_u64(f, VHOST_USER_GET_PROTOCOL_FEATURES, &proto) < 0)
			return -1;
		if (set_u64(f, VHOST_USER_SET_PROTOCOL_FEATURES, proto & want_proto, -1) < 0)
			return -1;
		f->protocol = proto & want_proto;
	}
	struct vhost_user_msg m = { .hdr = { .request = VHOST_USER_SET_OWNER } };
	if (vuf_call(f, &m, true) < 0)
		return -1;
	return set_u64(f, VHOST_USER_SET_FEATURES, f->features, -1);
}

int vuf_set_mem_table(struct vu_frontend *f, const struct guest_mem *gm)
{
	struct vhost_user_msg m = { .hdr = { .request = VHOST_USER_SET_MEM_TABLE } };

	if (gm->nr == 0 || gm->nr > VHOST_USER_MEM_REGIONS_MAX) {
		snprintf(f->err, sizeof(f->err), "SET_MEM_TABLE: %u regions", gm->nr);
		return -1;
	}
	m.p.mem.nregions = gm->nr;
	for (unsigned i = 0; i < gm->nr; i++) {
		m.p.mem.regions[i] = (struct vhost_user_mem_region){
			.guest_phys_addr = gm->r[i].gpa, .memory_size = gm->r[i].size,
			.userspace_addr = gm->r[i].uva, .mmap_offset = gm->r[i].fd_offset,
		};
		m.fds[i] = gm->r[i].fd;
	}
	m.nfds = gm->nr;
	m.hdr.size = 8 + gm->nr * sizeof(struct vhost_user_mem_region);
	return vuf_call(f, &m, true);
}

static int vring_state(struct vu_frontend *f, uint32_t request, unsigned idx, uint32_t num)
{
	struct vhost_user_msg m = { .hdr = { .request = request, .size = sizeof(struct vhost_user_vring_state) },
				    .p.state = { .index = idx, .num = num } };
	return vuf_call(f, &m, true);
}

int vuf_enable_vring(struct vu_frontend *f, unsigned idx, bool on)
{
	if (!(f->features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES))) {
		if (on)
			return 0;   /* without protocol features a ring runs once it has its kick fd */
		snprintf(f->err, sizeof(f->err), "queue %u: cannot be disabled without VHOST_USER_F_PROTOCOL_FEATURES", idx);
		return -1;
	}
	return vring_state(f, VHOST_USER_SET_VRING_ENABLE, idx, on);
}

int vuf_setup_vring(struct vu_frontend *f, unsigned idx, uint16_t size, uint64_t desc, uint64_t avail,
		    uint64_t used, uint16_t base, int kick_fd, int call_fd, bool enable)
{
	struct vhost_user_msg m = { .hdr = { .request = VHOST_USER_SET_VRING_ADDR,
					      .size = sizeof(struct vhost_user_vring_addr) },
				    .p.addr = { .index = idx, .desc_user_addr = desc, .used_user_addr = used,
						.avail_user_addr = avail } };

	if (vring_state(f, VHOST_USER_SET_VRING_NUM, idx, size) < 0 ||
	    vring_state(f, VHOST_USER_SET_VRING_BASE, idx, base) < 0 || vuf_call(f, &m, true) < 0)
		return -1;
	/* a ring that stays off is disabled before its kick fd: a backend that starts rings enabled
	 * (against the spec's ring states, or without PROTOCOL_FEATURES) never runs it */
	if (!enable && vuf_enable_vring(f, idx, false) < 0)
		return -1;
	if (set_u64(f, VHOST_USER_SET_VRING_CALL, idx | (call_fd < 0 ? VHOST_USER_VRING_NOFD_MASK : 0), call_fd) < 0 ||
	    set_u64(f, VHOST_USER_SET_VRING_KICK, idx | (kick_fd < 0 ? VHOST_USER_VRING_NOFD_MASK : 0), kick_fd) < 0)
		return -1;
	return enable ? vuf_enable_vring(f, idx, true) : 0;
}

int vuf_start_vring(struct vu_frontend *f, unsigned idx, uint16_t size, uint64_t desc, uint64_t avail,
		    uint64_t used, uint16_t base, int kick_fd, int call_fd)
{
	return vuf_setup_vring(f, idx, size, desc, avail, used, base, kick_fd, call_fd, true);
}

int vuf_get_vring_base(struct vu_frontend *f, unsigned idx, uint32_t *base)
{
	struct vhost_user_msg m = { .hdr = { .request = VHOST_USER_GET_VRING_BASE,
					      .size = sizeof(struct vhost_user_vring_state) },
				    .p.state = { .index = idx } };

	if (vuf_call(f, &m, false) < 0)
		return -1;
	if (m.p.state.index != idx) {
		snprintf(f->err, sizeof(f->err), "GET_VRING_BASE: reply for queue %u, asked %u", m.p.state.index, idx);
		return -1;
	}
	*base = m.p.state.num;
	return 0;
}

int vuf_get_config(struct vu_frontend *f, uint32_t offset, void *buf, uint32_t len)
{
	struct vhost_user_msg m = { .hdr = { .request = VHOST_USER_GET_CONFIG } };

	if (len > VHOST_USER_CONFIG_MAX) {
		snprintf(f->err, sizeof(f->err), "GET_CONFIG: %u bytes is too large", len);
		return -1;
	}
	m.hdr.size = VHOST_USER_CONFIG_HDR_SIZE + len;
	m.p.config.offset = offset;
	m.p.config.size = len;
	if (vuf_call(f, &m, false) < 0)
		return -1;
	if (m.p.config.size != len || m.p.config.offset != offset) {
		snprintf(f->err, sizeof(f->err), "GET_CONFIG: reply covers [%u,+%u), asked [%u,+%u)", m.p.config.offset,
			 m.p.config.size, offset, len);
		return -1;
	}
	memcpy(buf, m.p.config.payload, len);
	return 0;
}

int vuf_get_inflight(struct vu_frontend *f, uint16_t num_queues, uint16_t queue_size, uint64_t *size)
{
	struct vhost_user_msg m = { .hdr = { .request = VHOST_USER_GET_INFLIGHT_FD,
					      .size = sizeof(struct vhost_user_inflight) },
				    .p.inflight = { .num_queues = num_queues, .queue_size = queue_size } };

	if (vuf_call(f, &m, false) < 0)
		return -1;
	if (m.p.inflight.mmap_offset != 0) {
		snprintf(f->err, sizeof(f->err), "GET_INFLIGHT_FD: nonzero offset");
		vu_msg_close_fds(&m);
		return -1;
	}
	*size = m.p.inflight.mmap_size;
	return m.fds[0];
}

int vuf_set_inflight(struct vu_frontend *f, int fd, uint64_t size, uint16_t num_queues, uint16_t queue_size)
{
	struct vhost_user_msg m = { .hdr = { .request = VHOST_USER_SET_INFLIGHT_FD,
					      .size = sizeof(struct vhost_user_inflight) },
				    .p.inflight = { .mmap_size = size, .num_queues = num_queues,
						    .queue_size = queue_size } };
	m.fds[0] = fd;
	m.nfds = 1;
	return vuf_call(f, &m, true);
}

int vuf_backend_channel(struct vu_frontend *f)
{
	struct vhost_user_msg m = { .hdr = { .request = VHOST_USER_SET_BACKEND_REQ_FD } };
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0) {
		snprintf(f->err, sizeof(f->err), "SET_BACKEND_REQ_FD: socketpair: %s", strerror(errno));
		return -1;
	}
	m.fds[0] = sv[1];
	m.nfds = 1;
	int r = vuf_call(f, &m, true);
	close(sv[1]);
	if (r < 0) {
		close(sv[0]);
		return -1;
	}
	return sv[0];
}

int vuf_backend_recv(int fd, uint32_t known, char *err, size_t errlen)
{
	struct vhost_user_header h;
	uint8_t payload[VHOST_USER_CONFIG_MAX + VHOST_USER_CONFIG_HDR_SIZE];
	char ctl[CMSG_SPACE(VHOST_USER_MAX_FDS * sizeof(int))];
	struct iovec iov = { .iov_base = &h, .iov_len = sizeof(h) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl) };
	ssize_t r = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);

	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	for (struct cmsghdr *c = r > 0 ? CMSG_FIRSTHDR(&mh) : NULL; c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
				int x;
				memcpy(&x, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				close(x);
			}
	if (r <= 0) {
		snprintf(err, errlen, "backend channel %s", r == 0 ? "closed" : strerror(errno));
		return -1;
	}
	/* the backend writes a message at once: a partial one is a violation, not something to wait for */
	if ((size_t)r != sizeof(h) || (h.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION ||
	    (h.flags & VHOST_USER_REPLY_MASK) || h.size > sizeof(payload) || h.request == 0 ||
	    (h.size && recv(fd, payload, h.size, MSG_DONTWAIT) != (ssize_t)h.size)) {
		snprintf(err, errlen, "backend channel: malformed message (request %u, flags 0x%x, size %u)", h.request,
			 h.flags, h.size);
		return -1;
	}
	if (h.flags & VHOST_USER_NEED_REPLY_MASK) {
		struct { struct vhost_user_header h; uint64_t v; } __attribute__((packed)) ack = {
			{ h.request, VHOST_USER_VERSION | VHOST_USER_REPLY_MASK, 8 }, h.request == known ? 0 : 1 };

		if (send(fd, &ack, sizeof(ack), MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)sizeof(ack)) {
			snprintf(err, errlen, "backend channel: reply to request %u: %s", h.request, strerror(errno));
			return -1;
		}
	}
	return (int)h.request;
}
