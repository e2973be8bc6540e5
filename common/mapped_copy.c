/* SPDX-License-Identifier: MIT */
/* SIGBUS-guarded copies out of and into a file mapping: the handler and the armed copy (contract in
 * kite/mapped_copy.h). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>

#include "kite/mapped_copy.h"

static __thread sigjmp_buf *armed;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	sigjmp_buf *jb = armed;

	(void)uc;
	if (jb && si->si_code > 0) {
		armed = NULL;
		siglongjmp(*jb, 1);
	}
	/* not a fault of an armed copy: what SIGBUS would have done without us */
	signal(sig, SIG_DFL);
	if (si->si_code <= 0)
		raise(sig);    /* sent, not a fault: returning would not re-raise it */
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

int mc_init(void)
{
	struct sigaction sa, cur;
	int r = 0;

	pthread_mutex_lock(&lock);
	if (sigaction(SIGBUS, NULL, &cur) < 0 || !(cur.sa_flags & SA_SIGINFO) || cur.sa_sigaction != on_sigbus) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = on_sigbus;
		sa.sa_flags = SA_SIGINFO | SA_NODEFER;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGBUS, &sa, NULL) < 0)
			r = -errno;
	}
	pthread_mutex_unlock(&lock);
	return r;
}

/* The copy itself, apart from sigsetjmp's frame: nothing it changes is read after a jump. in: from
 * the buffers into the mapping (a write), else out of it. */
static __attribute__((noinline)) void copy_iov(char *map, const struct iovec *iov, int iovcnt, size_t len, bool in)
{
	for (int i = 0; i < iovcnt && len; i++) {
		size_t n = iov[i].iov_len < len ? iov[i].iov_len : len;

		if (in)
			memcpy(map, iov[i].iov_base, n);
		else
			memcpy(iov[i].iov_base, map, n);
		map += n;
		len -= n;
	}
}

static ssize_t armed_copy(char *map, const struct iovec *iov, int iovcnt, size_t len, bool in)
{
	sigjmp_buf jb;

	if (sigsetjmp(jb, 0))
		return -EIO;    /* the handler disarmed */
	armed = &jb;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	copy_iov(map, iov, iovcnt, len, in);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	armed = NULL;
	return (ssize_t)len;
}

ssize_t mc_copy(const char *src, const struct iovec *iov, int iovcnt, size_t len)
{
	return armed_copy((char *)src, iov, iovcnt, len, false);
}

ssize_t mc_copy_in(char *dst, const struct iovec *iov, int iovcnt, size_t len)
{
	return armed_copy(dst, iov, iovcnt, len, true);
}
