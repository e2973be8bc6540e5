/* SPDX-License-Identifier: MIT */
/*
 * io_uring rings confined to one file and a few opcodes (common/uring_restrict.c), for kite's
 * virtio-blk engine (virtio/blk_uring.c) and kite-dpu's volume queues (dpu/blk/blk.c).
 *
 * seccomp sees io_uring_enter, not the operations a ring runs: a thread that may call it could run
 * any opcode (openat, connect, ...) on any fd. So each ring is created disabled
 * (IORING_SETUP_R_DISABLED), gets its one file registered as fixed file 0 and, when asked, its
 * completion eventfd, then IORING_REGISTER_RESTRICTIONS: only the given opcodes, every SQE must
 * carry IOSQE_FIXED_FILE and no other flag but IOSQE_ASYNC (run it on an io-wq worker; so the only
 * file it can reach is the registered one),
 * and no io_uring_register opcode afterwards (but a file update, with URING_FILE_UPDATE: that file
 * is then any fd the process already holds); then the ring is enabled. No io_uring_setup is needed
 * after start (kite swaps an image by updating file 0), so the seccomp lists can leave it out. A forbidden SQE
 * completes with -EACCES; a forbidden register call fails with EACCES.
 * Callers prepare SQEs with fd URING_FILE and call uring_fixed() on each.
 */
#ifndef KITE_URING_RESTRICT_H
#define KITE_URING_RESTRICT_H

#include <liburing.h>
#include <stdint.h>

#define URING_FILE 0   /* the index of the ring's file in its fixed-file table */

/* flags of uring_init_restricted */
#define URING_FILE_UPDATE 1u   /* IORING_REGISTER_FILES_UPDATE stays allowed: the owner may point file 0
				* at another fd it holds (an image swap); no other register opcode */

/* Set up `ring` with `entries` SQEs, confined to `fd` and the `nops` opcodes in `ops` (IORING_OP_*),
 * with `efd` (>= 0) registered as its completion eventfd; flags: URING_FILE_UPDATE or 0. Returns 0
 * or a negative errno (the ring is then not initialised; kernels before 5.10 have no restrictions:
 * -EINVAL). */
int uring_init_restricted(struct io_uring *ring, unsigned entries, int fd, const uint8_t *ops, unsigned nops,
			  int efd, unsigned flags);

/* Mark a prepared SQE (fd URING_FILE) as using the fixed file. */
static inline void uring_fixed(struct io_uring_sqe *sqe)
{
	sqe->flags |= IOSQE_FIXED_FILE;
}

#endif
