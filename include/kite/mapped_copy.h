/* SPDX-License-Identifier: MIT */
/*
 * Copies out of and into a file mapping that survive the file: a shared mapping of an image faults
 * with SIGBUS when the page under it is gone (the file shrank beneath the mapping), cannot be read
 * (an I/O error on the disk) or, written, cannot be given blocks (ENOSPC in a hole of a sparse
 * image). mc_copy and mc_copy_in turn such a fault into -EIO for that copy, so a device handles one
 * request (reports an error, or redoes it through the file) instead of the whole process dying.
 *
 * How: mc_init installs a process-wide SIGBUS handler (SA_NODEFER, so the signal stays unblocked after
 * the jump), again if something else took SIGBUS since (a test framework does). A copy arms a per-thread jump buffer for the length of its copy; a SIGBUS while it
 * is armed jumps back out of the copy. A SIGBUS with nothing armed (any other fault, or one sent with
 * kill) is not ours: the handler restores the default action and the fault, re-raised, ends the
 * process as it would have without the handler.
 *
 * Thread: any thread, any number at once (the jump buffer is thread-local). mc_init is idempotent and
 * thread safe (a mutex; call it when a mapping is made, not per copy); it returns 0 or -errno. rt_sigaction on SIGBUS is in
 * every thread's seccomp base (common/seccomp.c), so a device may map an image after the filters are in.
 */
#ifndef KITE_MAPPED_COPY_H
#define KITE_MAPPED_COPY_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

int mc_init(void);

/* Copy len bytes from src into the iovcnt buffers of iov, in order (their total must be >= len).
 * Returns len, or -EIO when a SIGBUS ended the copy part-way (what was copied until then stays). */
ssize_t mc_copy(const char *src, const struct iovec *iov, int iovcnt, size_t len);

/* The other way: len bytes from the iovcnt buffers of iov, in order, into dst (a writable shared
 * mapping). Returns len, or -EIO when a SIGBUS ended the copy part-way (what was copied stays). */
ssize_t mc_copy_in(char *dst, const struct iovec *iov, int iovcnt, size_t len);

#endif
