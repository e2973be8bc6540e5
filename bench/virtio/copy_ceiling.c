/* SPDX-License-Identifier: MIT */
/*
 * One core's copy ceiling for 64 KiB sequential reads of an image in the page cache: what bounds
 * virtio-blk seqread64k once the device side has one core (vbench.py --split, docs/benchmarks.md).
 * Two ways of moving the same bytes into a 2 MiB ring of 32 guest-sized buffers (the polling test
 * guest's qd 32 reuses its buffers, so the destination stays in the cache and the source does not):
 *   mapped   kite's mapped read: mc_copy (kite/mapped_copy.h, glibc memcpy under the SIGBUS guard) out of
 *            a read-only shared mapping of the file, no system call
 *   preadv   preadv(2), the kernel's copy_to_user from the page cache: what QEMU's thread pool
 *            (aio=threads) does for a buffered image
 * The ways take turns in every round (the order rotates). Each round passes over the whole file once
 * per way; time is the thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so a busy machine's preemption does
 * not count. Prints, per way, "blk_copy64k_<way>_us_per_read", "..._gbps" and "..._iops_per_core" as
 * MEDIAN unit (MIN-MAX) over the rounds, then "blk_copy64k_mapped_over_preadv MEDIAN x (MIN-MAX)",
 * the ratio within each round: the most a device side that copies with mapped reads on one core can
 * lead one that copies with preadv on one core, at 64 KiB.
 * Usage: copy_ceiling FILE [ROUNDS (7, 1..99)]. FILE: a few hundred MiB, larger than the last-level
 * cache, in the page cache (cat FILE >/dev/null first; vbench uses a 256 MiB image). Pin it with
 * taskset to the core the device side would have. Exit 1 on a usage or I/O error.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "kite/mapped_copy.h"
#include "../micro.h"

#define BS (64u << 10)
#define SLOTS 32
#define MAX_ROUNDS 99

enum way { MAPPED, PREADV, NWAYS };
static const char *const names[NWAYS] = { "mapped", "preadv" };

/* One pass over the file the given way; CPU ns per 64 KiB read, or -1 on a failed read. */
static double pass(enum way w, int fd, const char *map, uint64_t blocks, uint8_t *ring)
{
	uint64_t t0 = micro_thread_cpu_ns();

	for (uint64_t b = 0; b < blocks; b++) {
		struct iovec iov = { ring + (b % SLOTS) * BS, BS };
		ssize_t r = w == MAPPED ? mc_copy(map + b * BS, &iov, 1, BS) : preadv(fd, &iov, 1, (off_t)(b * BS));

		if (r != (ssize_t)BS)
			return -1;
	}
	return (double)(micro_thread_cpu_ns() - t0) / (double)blocks;
}

int main(int argc, char **argv)
{
	unsigned rounds = argc > 2 ? (unsigned)atoi(argv[2]) : 7;
	double ns[NWAYS][MAX_ROUNDS], ratio[MAX_ROUNDS], v[MAX_ROUNDS];
	struct stat st;
	uint8_t *ring;
	const char *map;
	uint64_t blocks;
	int fd;

	if (argc < 2 || argc > 3 || rounds < 1 || rounds > MAX_ROUNDS) {
		fprintf(stderr, "usage: copy_ceiling FILE [ROUNDS 1..%d]\n", MAX_ROUNDS);
		return 1;
	}
	fd = open(argv[1], O_RDONLY);
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size < (off_t)(SLOTS * BS)) {
		fprintf(stderr, "copy_ceiling: %s: cannot open, or smaller than %u bytes\n", argv[1], SLOTS * BS);
		return 1;
	}
	blocks = (uint64_t)st.st_size / BS;
	map = mmap(NULL, blocks * BS, PROT_READ, MAP_SHARED, fd, 0);
	ring = aligned_alloc(4096, SLOTS * BS);
	if (map == MAP_FAILED || !ring || mc_init() < 0) {
		fprintf(stderr, "copy_ceiling: %s: cannot map it or set up the copy\n", argv[1]);
		return 1;
	}
	memset(ring, 0, SLOTS * BS);
	for (unsigned r = 0; r < rounds; r++) {
		for (unsigned i = 0; i < NWAYS; i++) {
			enum way w = (enum way)((r + i) % NWAYS);

			ns[w][r] = pass(w, fd, map, blocks, ring);
			if (ns[w][r] < 0) {
				fprintf(stderr, "copy_ceiling: %s: a %s read of %u bytes failed\n", argv[1], names[w], BS);
				return 1;
			}
		}
		ratio[r] = ns[PREADV][r] / ns[MAPPED][r];
	}
	for (unsigned w = 0; w < NWAYS; w++) {
		char name[64];

		for (unsigned r = 0; r < rounds; r++)
			v[r] = ns[w][r] / 1000.0;
		snprintf(name, sizeof(name), "%s_us_per_read", names[w]);
		micro_print_span("blk_copy64k_", name, "us", 2, v, rounds);
		for (unsigned r = 0; r < rounds; r++)
			v[r] = BS / ns[w][r];
		snprintf(name, sizeof(name), "%s_gbps", names[w]);
		micro_print_span("blk_copy64k_", name, "GB/s", 2, v, rounds);
		for (unsigned r = 0; r < rounds; r++)
			v[r] = 1e9 / ns[w][r];
		snprintf(name, sizeof(name), "%s_iops_per_core", names[w]);
		micro_print_span("blk_copy64k_", name, "IOPS", 0, v, rounds);
	}
	micro_print_span("blk_copy64k_", "mapped_over_preadv", "x", 3, ratio, rounds);
	return 0;
}
