/* SPDX-License-Identifier: MIT */
/*
 * The kernel's side of kite-dpu's 4 KiB page-cache reads alone, in one thread, without virtio: the
 * ways a poller can read random 4 KiB blocks of a file in the page cache, in batches of 32, by CPU
 * time of the thread per read (CLOCK_THREAD_CPUTIME_ID: a busy machine's preemption does not count).
 * The ways take turns in every round (the order rotates); each is given as a ratio to io_uring READV
 * in the same round (read_noatime: to read, the same call without O_NOATIME):
 *   readv          io_uring IORING_OP_READV, one iovec per request
 *   read           io_uring IORING_OP_READ (the buffer as is, no iovec array to copy and check)
 *   read_noatime   the same on a descriptor opened with O_NOATIME (no access-time check per read)
 *   read_fixed     IORING_OP_READ_FIXED into a registered buffer
 *   preadv2_nowait preadv2(RWF_NOWAIT) per request, a syscall each (no io_uring)
 * Prints "blk_read_<way>_ns_per_read MEDIAN ns (MIN-MAX)" and "blk_read_<way>_vs_<readv|read>
 * MEDIAN x (MIN-MAX)" lines. Usage: blk_read_micro FILE [ROUNDS (9, at most 99)]. FILE should be
 * in the page cache (read it first: cat FILE >/dev/null) and large (random blocks; 512 MiB as
 * blk_bench.py's image); reads that do not return 4096 bytes are counted and reported (a
 * page-cache miss under RWF_NOWAIT).
 */
#include <fcntl.h>
#include <liburing.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "../micro.h"

#define QD 32
#define BS 4096
#define BATCHES 2000
#define MAX_ROUNDS 99

enum way { READV, READ, READ_NOATIME, READ_FIXED, PREADV2_NOWAIT, NWAYS };
static const char *const names[NWAYS] = { "readv", "read", "read_noatime", "read_fixed", "preadv2_nowait" };

/* One batch of QD reads the given way; returns the reads that did not return BS bytes. */
static unsigned batch(struct io_uring *ring, int fd, enum way w, uint8_t *buf, const struct iovec *iov,
		      uint64_t blocks)
{
	unsigned bad = 0;

	if (w == PREADV2_NOWAIT) {
		for (unsigned i = 0; i < QD; i++)
			bad += preadv2(fd, &iov[i], 1, (off_t)((uint64_t)random() % blocks * BS), RWF_NOWAIT) != BS;
		return bad;
	}
	for (unsigned i = 0; i < QD; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
		off_t off = (off_t)((uint64_t)random() % blocks * BS);

		if (w == READV)
			io_uring_prep_readv(sqe, 0, &iov[i], 1, off);
		else if (w == READ_FIXED)
			io_uring_prep_read_fixed(sqe, 0, buf + i * BS, BS, off, 0);
		else
			io_uring_prep_read(sqe, w == READ_NOATIME ? 1 : 0, buf + i * BS, BS, off);
		sqe->flags |= IOSQE_FIXED_FILE;
	}
	io_uring_submit(ring);
	for (unsigned got = 0; got < QD; got++) {
		struct io_uring_cqe *cqe;

		if (io_uring_wait_cqe(ring, &cqe) < 0)
			return QD;
		bad += cqe->res != BS;
		io_uring_cqe_seen(ring, cqe);
	}
	return bad;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: blk_read_micro FILE [ROUNDS]\n");
		return 2;
	}
	unsigned rounds = argc > 2 ? (unsigned)atoi(argv[2]) : 9;
	if (rounds < 1 || rounds > MAX_ROUNDS)
		rounds = 9;
	int fds[2] = { open(argv[1], O_RDONLY), open(argv[1], O_RDONLY | O_NOATIME) };
	if (fds[0] < 0 || fds[1] < 0) {
		perror(argv[1]);
		return 1;
	}
	uint64_t blocks = (uint64_t)lseek(fds[0], 0, SEEK_END) / BS;
	uint8_t *buf = aligned_alloc(BS, QD * BS);
	struct iovec iov[QD], whole = { buf, QD * BS };
	struct io_uring ring;

	if (!blocks || !buf || io_uring_queue_init(2 * QD, &ring, 0) < 0 || io_uring_register_files(&ring, fds, 2) < 0 ||
	    io_uring_register_buffers(&ring, &whole, 1) < 0) {
		fprintf(stderr, "blk_read_micro: set-up failed (empty file, no io_uring or no memory)\n");
		return 1;
	}
	for (unsigned i = 0; i < QD; i++)
		iov[i] = (struct iovec){ buf + i * BS, BS };

	static double ns[NWAYS][MAX_ROUNDS], ratio[NWAYS][MAX_ROUNDS];
	unsigned long bad[NWAYS] = { 0 };
	for (unsigned r = 0; r < rounds; r++) {
		for (unsigned k = 0; k < NWAYS; k++) {
			enum way w = (enum way)((k + r) % NWAYS);
			uint64_t t0 = micro_thread_cpu_ns();

			for (unsigned b = 0; b < BATCHES; b++)
				bad[w] += batch(&ring, fds[w == READ_NOATIME], w, buf, iov, blocks);
			ns[w][r] = (double)(micro_thread_cpu_ns() - t0) / (BATCHES * QD);
		}
		for (unsigned w = 0; w < NWAYS; w++)
			ratio[w][r] = ns[w][r] / ns[w == READ_NOATIME ? READ : READV][r];
	}
	char name[64];
	for (unsigned w = 0; w < NWAYS; w++) {
		snprintf(name, sizeof(name), "%s_ns_per_read", names[w]);
		micro_print_span("blk_read_", name, "ns", 0, ns[w], rounds);
		if (w != READV) {
			snprintf(name, sizeof(name), "%s_vs_%s", names[w], w == READ_NOATIME ? "read" : "readv");
			micro_print_span("blk_read_", name, "x", 3, ratio[w], rounds);
		}
		if (bad[w])
			printf("# %s: %lu reads did not return %d bytes (not in the page cache?)\n", names[w], bad[w], BS);
	}
	return 0;
}
