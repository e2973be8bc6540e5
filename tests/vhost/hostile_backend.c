/* SPDX-License-Identifier: MIT */
/*
 * A hostile vhost-user-blk backend for the vhost suite (tests/vhost/hostile.py), and with one case a
 * hostile vhost-user-net backend (tests/vhost/net_ack.py).
 *
 *   hostile_backend --socket PATH --case CASE [--sectors N]
 *
 * It listens on PATH (a stale file there is removed) and answers the control plane of a virtio-blk
 * backend correctly (features, protocol features MQ / REPLY_ACK / CONFIG / INFLIGHT_SHMFD, config
 * space, vring state, inflight region) but never serves a request on a ring. Exactly once, at the
 * point its case names, it misbehaves:
 *
 *   wrong-code   the first reply after SET_VRING_NUM carries another request's code
 *   short-reply  the first reply after SET_VRING_NUM is 4 bytes shorter than its request needs
 *   long-reply   the first reply after SET_VRING_NUM is 32 bytes longer than its request needs
 *   huge-reply   the first reply after SET_VRING_NUM claims a 1 MiB payload (4 KiB of it follow)
 *   big-config   the first GET_CONFIG reply returns 64 bytes more config space than asked
 *   huge-config  the first GET_CONFIG reply claims 64 KiB of config space in a 268-byte payload
 *   extra-fds    the first reply after SET_VRING_NUM carries three fds nobody asked for
 *   missing-fd   the first GET_INFLIGHT_FD reply carries no fd
 *   ack-fail     the first REPLY_ACK after SET_VRING_NUM reports failure (status 1)
 *   features     GET_FEATURES offers every bit 0..63 except VIRTIO_F_VERSION_1 (no modern device)
 *   stall        the first reply after SET_VRING_NUM is never sent (requests are still read)
 *   stall-mid    the first reply after SET_VRING_NUM stops after its header and 2 payload bytes
 *   hangup       the connection is closed instead of the first reply after SET_VRING_NUM
 *   enable-nack  a vhost-user-net backend with 2 queue pairs (GET_QUEUE_NUM 2, no device features
 *                but VERSION_1): the REPLY_ACK of the first SET_VRING_ENABLE 1 of a ring of pair 1
 *                (index 2 or 3) reports failure (status 1)
 *   enable-nack-late  the same, and the reply to SET_MEM_TABLE comes 1 s late, so the rings are still
 *                starting when the guest's VQ_PAIRS_SET reaches the frontend
 *   mem-late     the reply to the first SET_MEM_TABLE comes 2 s late, then all is well (a frontend
 *                must give mapping memory a longer deadline than other replies)
 *   stall-mem    the reply to the first SET_MEM_TABLE is never sent (requests are still read)
 *
 * "The first reply after SET_VRING_NUM" is the reply to the first SET_VRING_NUM itself when the
 * frontend asks for one (REPLY_ACK), else to the next request that needs a reply. A VMM sets up the
 * rings when the guest's driver starts the device, so these cases misbehave while the VM runs;
 * GET_FEATURES and GET_CONFIG come earlier, when the VMM starts.
 *
 * stderr: one line per connection, one line per request received (name, size, fds), and the line
 * "hostile-backend: CASE done at REQUEST" when the misbehaviour happened; the test asserts on it, so
 * a case that never triggers fails instead of passing vacuously. After the misbehaviour it keeps
 * answering correctly (a reconnecting frontend gets a sane backend, still with no I/O served).
 * Runs until killed. Exit 2 on a usage error, 1 if the socket cannot be set up.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "kite/virtio_blk.h"
#include "kite/vhost_user.h"

#define F_SEG_MAX 2
#define F_BLK_SIZE 6
#define F_FLUSH 9
#define F_VERSION_1 32
#define MAX_QUEUES 8

enum hcase {
	C_WRONG_CODE, C_SHORT_REPLY, C_LONG_REPLY, C_HUGE_REPLY, C_BIG_CONFIG, C_HUGE_CONFIG, C_EXTRA_FDS,
	C_MISSING_FD, C_ACK_FAIL, C_FEATURES, C_STALL, C_STALL_MID, C_HANGUP, C_ENABLE_NACK,
	C_ENABLE_NACK_LATE, C_MEM_LATE, C_STALL_MEM, C_COUNT
};

static const char *const case_names[C_COUNT] = {
	"wrong-code", "short-reply", "long-reply", "huge-reply", "big-config", "huge-config", "extra-fds",
	"missing-fd", "ack-fail", "features", "stall", "stall-mid", "hangup", "enable-nack",
	"enable-nack-late", "mem-late", "stall-mem",
};

static struct {
	enum hcase kase;
	bool armed;            /* the misbehaviour is still to come */
	bool rings_started;  /* SET_VRING_NUM was received on this connection */
	bool stalled;          /* the connection is in a stall: read, never answer */
	uint64_t sectors;
	uint32_t vring_base[MAX_QUEUES];
} st;

static void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_line(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("hostile-backend: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void done(const struct vhost_user_msg *req)
{
	st.armed = false;
	log_line("%s done at %s", case_names[st.kase], vu_request_name(req->hdr.request));
}

/* enable-nack and enable-nack-late serve a vhost-user-net device with 2 queue pairs */
static bool net_case(void)
{
	return st.kase == C_ENABLE_NACK || st.kase == C_ENABLE_NACK_LATE;
}

static uint64_t offered_features(void)
{
	if (st.kase == C_FEATURES && st.armed)
		return ~(1ull << F_VERSION_1);
	if (net_case())     /* a net backend: kite offers MQ and the control queue itself */
		return (1ull << F_VERSION_1) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES);
	return (1ull << F_VERSION_1) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES) | (1ull << F_SEG_MAX) |
	       (1ull << F_BLK_SIZE) | (1ull << F_FLUSH);
}

/* The correct reply to req into rep (request code, flags, size, payload, fds). False: no reply is due. */
static bool build_reply(const struct vhost_user_msg *req, struct vhost_user_msg *rep)
{
	uint32_t code = req->hdr.request;

	memset(rep, 0, sizeof(*rep));
	rep->hdr.request = code;
	rep->hdr.flags = VHOST_USER_VERSION | VHOST_USER_REPLY_MASK;
	rep->hdr.size = sizeof(uint64_t);
	switch (code) {
	case VHOST_USER_GET_FEATURES:
		rep->p.u64 = offered_features();
		return true;
	case VHOST_USER_GET_PROTOCOL_FEATURES:
		rep->p.u64 = (1ull << VHOST_USER_PROTOCOL_F_MQ) | (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) |
			     (1ull << VHOST_USER_PROTOCOL_F_CONFIG) | (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD);
		return true;
	case VHOST_USER_GET_QUEUE_NUM:
		rep->p.u64 = net_case() ? 2 : 1;
		return true;
	case VHOST_USER_GET_MAX_MEM_SLOTS:
		rep->p.u64 = VHOST_USER_MEM_REGIONS_MAX;
		return true;
	case VHOST_USER_GET_VRING_BASE:
		rep->hdr.size = sizeof(struct vhost_user_vring_state);
		rep->p.state.index = req->p.state.index;
		rep->p.state.num = req->p.state.index < MAX_QUEUES ? st.vring_base[req->p.state.index] : 0;
		return true;
	case VHOST_USER_GET_CONFIG: {
		struct virtio_blk_config cfg = { .capacity = st.sectors, .seg_max = 64, .blk_size = 512, .num_queues = 1 };
		uint32_t off = req->p.config.offset, len = req->p.config.size;

		rep->p.config = req->p.config;
		memset(rep->p.config.payload, 0, sizeof(rep->p.config.payload));
		if (off < sizeof(cfg))
			memcpy(rep->p.config.payload, (const uint8_t *)&cfg + off,
			       len < sizeof(cfg) - off ? len : sizeof(cfg) - off);
		rep->hdr.size = VHOST_USER_CONFIG_HDR_SIZE + len;
		return true;
	}
	case VHOST_USER_GET_INFLIGHT_FD: {
		uint16_t nq = req->p.inflight.num_queues, qs = req->p.inflight.queue_size;
		uint64_t size = ((uint64_t)nq * vhost_inflight_split_size(qs) + 4095) & ~4095ull;
		int fd = memfd_create("hostile-inflight", MFD_CLOEXEC);

		if (fd < 0 || !size || ftruncate(fd, (off_t)size) < 0) {
			log_line("GET_INFLIGHT_FD: cannot make a %llu-byte memfd: %s", (unsigned long long)size,
				 strerror(errno));
			if (fd >= 0)
				close(fd);
			size = 0;
			fd = -1;
		}
		rep->hdr.size = sizeof(struct vhost_user_inflight);
		rep->p.inflight = (struct vhost_user_inflight){ .mmap_size = size, .num_queues = nq, .queue_size = qs };
		if (fd >= 0) {
			rep->fds[0] = fd;
			rep->nfds = 1;
		}
		return true;
	}
	default:
		/* requests without a reply of their own: an ACK when asked for one (success) */
		rep->p.u64 = 0;
		return (req->hdr.flags & VHOST_USER_NEED_REPLY_MASK) != 0;
	}
}

/* Bring the reply of the triggering request into its hostile shape. Returns -1 to hang up. */
static int corrupt(const struct vhost_user_msg *req, struct vhost_user_msg *rep, int sock)
{
	switch (st.kase) {
	case C_WRONG_CODE:
		rep->hdr.request = req->hdr.request == VHOST_USER_GET_FEATURES ? VHOST_USER_GET_PROTOCOL_FEATURES
										: VHOST_USER_GET_FEATURES;
		break;
	case C_SHORT_REPLY:
		rep->hdr.size = rep->hdr.size >= 4 ? rep->hdr.size - 4 : 0;
		break;
	case C_LONG_REPLY:
		rep->hdr.size += 32;
		break;
	case C_HUGE_REPLY: {
		static char junk[4096];

		rep->hdr.size = 1u << 20;
		vu_msg_close_fds(rep);
		done(req);
		if (send(sock, &rep->hdr, sizeof(rep->hdr), MSG_NOSIGNAL) < 0 ||
		    send(sock, junk, sizeof(junk), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			log_line("huge-reply: send: %s", strerror(errno));
		return 1;
	}
	case C_BIG_CONFIG:
		rep->p.config.size += 64;
		if (rep->p.config.size > VHOST_USER_CONFIG_MAX)
			rep->p.config.size = VHOST_USER_CONFIG_MAX;
		memset(rep->p.config.payload + req->p.config.size, 0xa5, rep->p.config.size - req->p.config.size);
		rep->hdr.size = VHOST_USER_CONFIG_HDR_SIZE + rep->p.config.size;
		break;
	case C_HUGE_CONFIG:
		rep->p.config.size = 0x10000;
		rep->hdr.size = VHOST_USER_CONFIG_HDR_SIZE + VHOST_USER_CONFIG_MAX;
		break;
	case C_EXTRA_FDS:
		for (unsigned i = rep->nfds; i < 3; i++) {
			int fd = memfd_create("hostile-extra", MFD_CLOEXEC);
			if (fd >= 0)
				rep->fds[rep->nfds++] = fd;
		}
		break;
	case C_MISSING_FD:
		vu_msg_close_fds(rep);
		break;
	case C_ACK_FAIL:
	case C_ENABLE_NACK:
	case C_ENABLE_NACK_LATE:
		rep->p.u64 = 1;
		break;
	case C_STALL:
	case C_STALL_MEM:
		vu_msg_close_fds(rep);
		st.stalled = true;
		done(req);
		return 1;
	case C_STALL_MID:
		vu_msg_close_fds(rep);
		st.stalled = true;
		done(req);
		if (send(sock, rep, sizeof(rep->hdr) + 2, MSG_NOSIGNAL) < 0)
			log_line("stall-mid: send: %s", strerror(errno));
		return 1;
	case C_HANGUP:
		vu_msg_close_fds(rep);
		done(req);
		return -1;
	default:
		break;
	}
	done(req);
	return 0;
}

/* Send rep as is, even when its header claims more or less payload than its request's shape. */
static int send_raw(int sock, struct vhost_user_msg *rep)
{
	uint32_t size = rep->hdr.size;
	int r;

	if (size > sizeof(rep->p)) {
		/* only the header's claim is big: send what the union holds */
		rep->hdr.size = sizeof(rep->p);
		r = vu_msg_send(sock, rep);
		rep->hdr.size = size;
	} else {
		r = vu_msg_send(sock, rep);
	}
	vu_msg_close_fds(rep);
	return r;
}

/* Which request's reply is hostile for this case. */
static bool triggers(const struct vhost_user_msg *req, bool reply_due)
{
	if (!st.armed || !reply_due)
		return false;
	switch (st.kase) {
	case C_BIG_CONFIG:
	case C_HUGE_CONFIG:
		return req->hdr.request == VHOST_USER_GET_CONFIG;
	case C_MISSING_FD:
		return req->hdr.request == VHOST_USER_GET_INFLIGHT_FD;
	case C_FEATURES:
	case C_MEM_LATE:
		return false;      /* handled in offered_features() / serve() */
	case C_STALL_MEM:
		return req->hdr.request == VHOST_USER_SET_MEM_TABLE;
	case C_ACK_FAIL:
		return st.rings_started && !vu_request_has_reply(req->hdr.request);
	case C_ENABLE_NACK:
	case C_ENABLE_NACK_LATE:
		return req->hdr.request == VHOST_USER_SET_VRING_ENABLE && req->p.state.num == 1 &&
		       (req->p.state.index == 2 || req->p.state.index == 3);
	default:
		return st.rings_started;
	}
}

/* Serve one connection until it closes or the case hangs up. */
static void serve(int sock)
{
	struct vhost_user_msg req, rep;
	char err[200];

	st.rings_started = false;
	st.stalled = false;
	for (;;) {
		int r = vu_msg_recv(sock, &req, false, err, sizeof(err));

		if (r == 0) {
			log_line("connection closed by the frontend");
			return;
		}
		if (r < 0) {
			log_line("bad request (%s): closing", err);
			return;
		}
		log_line("request %s size %u fds %u%s", vu_request_name(req.hdr.request), req.hdr.size, req.nfds,
			 req.hdr.flags & VHOST_USER_NEED_REPLY_MASK ? " need-reply" : "");
		if (req.hdr.request == VHOST_USER_SET_VRING_NUM)
			st.rings_started = true;
		if (req.hdr.request == VHOST_USER_SET_MEM_TABLE && st.kase == C_ENABLE_NACK_LATE) {
			log_line("enable-nack-late: SET_MEM_TABLE answered in 1 s");
			sleep(1);
		}
		if (req.hdr.request == VHOST_USER_SET_MEM_TABLE && st.kase == C_MEM_LATE && st.armed) {
			sleep(2);
			done(&req);
		}
		if (req.hdr.request == VHOST_USER_SET_VRING_BASE && req.p.state.index < MAX_QUEUES)
			st.vring_base[req.p.state.index] = req.p.state.num;
		if (req.hdr.request == VHOST_USER_GET_FEATURES && st.kase == C_FEATURES && st.armed) {
			build_reply(&req, &rep);
			done(&req);
			send_raw(sock, &rep);
			vu_msg_close_fds(&req);
			continue;
		}
		vu_msg_close_fds(&req);
		bool due = build_reply(&req, &rep);
		if (st.stalled) {
			vu_msg_close_fds(&rep);
			continue;
		}
		if (triggers(&req, due)) {
			int c = corrupt(&req, &rep, sock);
			if (c < 0)
				return;
			if (c > 0)
				continue;
		}
		if (due && send_raw(sock, &rep) < 0) {
			log_line("send of the %s reply failed: closing", vu_request_name(req.hdr.request));
			return;
		}
		if (!due)
			vu_msg_close_fds(&rep);
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: hostile_backend --socket PATH --case CASE [--sectors N]\ncases:");
	for (unsigned i = 0; i < C_COUNT; i++)
		fprintf(stderr, " %s", case_names[i]);
	fputc('\n', stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, 0, 's' },
		{ "case", required_argument, 0, 'c' },
		{ "sectors", required_argument, 0, 'n' },
		{ 0, 0, 0, 0 },
	};
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = NULL, *kase = NULL;
	int o, ls;

	st.sectors = 4096;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 's')
			path = optarg;
		else if (o == 'c')
			kase = optarg;
		else if (o == 'n')
			st.sectors = strtoull(optarg, NULL, 0);
		else
			usage();
	}
	if (!path || !kase || optind != argc || strlen(path) >= sizeof(sa.sun_path))
		usage();
	st.kase = C_COUNT;
	for (unsigned i = 0; i < C_COUNT; i++)
		if (!strcmp(kase, case_names[i]))
			st.kase = (enum hcase)i;
	if (st.kase == C_COUNT)
		usage();
	st.armed = true;

	memcpy(sa.sun_path, path, strlen(path) + 1);
	unlink(path);
	ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ls, 4) < 0) {
		log_line("%s: cannot listen: %s", path, strerror(errno));
		return 1;
	}
	setvbuf(stderr, NULL, _IOLBF, 0);
	log_line("listening on %s, case %s", path, kase);
	for (unsigned n = 1;; n++) {
		int s = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
		if (s < 0) {
			if (errno == EINTR)
				continue;
			log_line("accept: %s", strerror(errno));
			return 1;
		}
		log_line("connection %u", n);
		serve(s);
		close(s);
	}
}
