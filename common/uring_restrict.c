/* SPDX-License-Identifier: MIT */
/* io_uring rings confined to one file and a few opcodes: see include/kite/uring_restrict.h. */
#include <errno.h>
#include <string.h>

#include "kite/uring_restrict.h"

int uring_init_restricted(struct io_uring *ring, unsigned entries, int fd, const uint8_t *ops, unsigned nops,
			  int efd, unsigned flags)
{
	struct io_uring_restriction res[IORING_OP_LAST + 3];
	unsigned n = 0;
	int r;

	if (nops > IORING_OP_LAST)
		return -EINVAL;
	r = io_uring_queue_init(entries, ring, IORING_SETUP_R_DISABLED);
	if (r < 0)
		return r;
	memset(res, 0, sizeof(res));
	for (unsigned i = 0; i < nops; i++) {
		res[n].opcode = IORING_RESTRICTION_SQE_OP;
		res[n++].sqe_op = ops[i];
	}
	res[n].opcode = IORING_RESTRICTION_SQE_FLAGS_REQUIRED;
	res[n++].sqe_flags = IOSQE_FIXED_FILE;
	res[n].opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
	res[n++].sqe_flags = IOSQE_FIXED_FILE | IOSQE_ASYNC;   /* ASYNC: run on the kernel's io-wq workers */
	if (flags & URING_FILE_UPDATE) {
		res[n].opcode = IORING_RESTRICTION_REGISTER_OP;
		res[n++].register_op = IORING_REGISTER_FILES_UPDATE;
	}
	/* no other IORING_RESTRICTION_REGISTER_OP: once enabled, nothing else can be registered. The raw
	 * io_uring_register(): Debian's liburing 2.3 does not export io_uring_register_restrictions()
	 * and io_uring_enable_rings(), which its header declares. */
	if ((r = io_uring_register_files(ring, &fd, 1)) < 0 || (efd >= 0 && (r = io_uring_register_eventfd(ring, efd)) < 0) ||
	    (r = io_uring_register((unsigned)ring->ring_fd, IORING_REGISTER_RESTRICTIONS, res, n)) < 0 ||
	    (r = io_uring_register((unsigned)ring->ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0)) < 0) {
		io_uring_queue_exit(ring);
		return r;
	}
	return 0;
}
