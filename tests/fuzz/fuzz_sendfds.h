/* SPDX-License-Identifier: MIT */
/*
 * Fuzz targets that play a vhost-user peer: send bytes over a Unix stream socket with up to
 * FUZZ_SENDFDS_MAX file descriptors attached (SCM_RIGHTS; the socket holds its own references).
 */
#ifndef KITE_FUZZ_SENDFDS_H
#define KITE_FUZZ_SENDFDS_H

#include <string.h>
#include <sys/socket.h>

#define FUZZ_SENDFDS_MAX 4

/* sendmsg's result: bytes sent, or -1 (errno). `flags` as for sendmsg (MSG_NOSIGNAL is added). */
static inline ssize_t fuzz_sendfds(int sock, const void *buf, size_t len, const int *fds, unsigned nfds, int flags)
{
	union {
		char b[CMSG_SPACE(FUZZ_SENDFDS_MAX * sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds > FUZZ_SENDFDS_MAX)
		nfds = FUZZ_SENDFDS_MAX;
	if (nfds) {
		memset(&cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf.b;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	return sendmsg(sock, &mh, flags | MSG_NOSIGNAL);
}

#endif
