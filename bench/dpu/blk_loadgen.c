/* SPDX-License-Identifier: MIT */
/*
 * vhost-user-blk load generator: random 4 KiB (or --bs) reads or writes at a fixed queue depth over
 * any vhost-user-blk backend (kite-dpu, qemu-storage-daemon), polling the used rings.
 *   blk_loadgen --socket SOCK [--rw randread|randwrite] [--bs 4096] [--qd 32] [--queues 1]
 *               [--seconds 5] [--cpu N]
 * Prints "iops <n>", "mib_per_s <n>" and "errors <n>" lines.
 */
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blk_driver.h"
#include "kite/virtqueue.h"
#include "kite/virtio_blk.h"

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' }, { "rw", required_argument, NULL, 'r' },
		{ "bs", required_argument, NULL, 'b' },     { "qd", required_argument, NULL, 'q' },
		{ "queues", required_argument, NULL, 'n' }, { "seconds", required_argument, NULL, 't' },
		{ "cpu", required_argument, NULL, 'c' },    { 0 }
	};
	const char *sock = NULL;
	bool write = false;
	unsigned bs = 4096, qd = 32, nq = 1, cpu = ~0u;
	double seconds = 5;
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 's': sock = optarg; break;
		case 'r': write = !strcmp(optarg, "randwrite"); break;
		case 'b': bs = (unsigned)atoi(optarg); break;
		case 'q': qd = (unsigned)atoi(optarg); break;
		case 'n': nq = (unsigned)atoi(optarg); break;
		case 't': seconds = atof(optarg); break;
		case 'c': cpu = (unsigned)atoi(optarg); break;
		default: return 2;
		}
	}
	if (!sock || bs == 0 || bs % 512 || bs > BLKDRV_SLOT_DATA || qd == 0 || qd > 128 || nq == 0 ||
	    nq > BLKDRV_MAX_QUEUES) {
		fprintf(stderr, "usage: blk_loadgen --socket SOCK [--rw randread|randwrite] [--bs N] [--qd 1..128] [--queues N] [--seconds S] [--cpu N]\n");
		return 2;
	}
	if (cpu != ~0u) {
		cpu_set_t cs;
		CPU_ZERO(&cs);
		CPU_SET(cpu, &cs);
		sched_setaffinity(0, sizeof(cs), &cs);
	}
	struct blkdrv d;
	if (blkdrv_open(&d, sock, nq, 256, qd, (1ull << VIRTIO_BLK_F_FLUSH) | (1ull << VIRTIO_BLK_F_MQ)) < 0) {
		fprintf(stderr, "blk_loadgen: %s: %s\n", sock, d.err);
		return 1;
	}
	uint64_t blocks = d.capacity * 512 / bs;
	if (blocks == 0) {
		fprintf(stderr, "blk_loadgen: %s: disk smaller than one block\n", sock);
		return 1;
	}
	for (unsigned q = 0; q < nq; q++)
		for (unsigned s = 0; s < qd; s++) {
			memset(blkdrv_data(&d, q, s), (int)s, bs);
			blkdrv_submit(&d, q, s, write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, rnd() % blocks * (bs / 512), bs);
		}
	uint64_t done = 0, errors = 0, t0 = now_ns(), end = t0 + (uint64_t)(seconds * 1e9);
	unsigned idle = 0;
	for (;;) {
		unsigned got = 0;
		for (unsigned q = 0; q < nq; q++) {
			uint8_t st;
			long slot;
			while ((slot = blkdrv_poll(&d, q, &st, NULL)) > 0) {
				got++;
				if (st != VIRTIO_BLK_S_OK)
					errors++;
				blkdrv_submit(&d, q, (unsigned)slot - 1, write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN,
					      rnd() % blocks * (bs / 512), bs);
			}
			if (slot < 0) {
				fprintf(stderr, "blk_loadgen: the backend returned a bad used entry\n");
				return 1;
			}
		}
		done += got;
		if (got) {
			idle = 0;
			if (now_ns() >= end)
				break;
		} else if (++idle > 64) {
			if (now_ns() >= end + 5000000000ull) {
				fprintf(stderr, "blk_loadgen: no completions for 5 s\n");
				return 1;
			}
			sched_yield();
		}
	}
	double el = (double)(now_ns() - t0) / 1e9;
	printf("iops %.0f\nmib_per_s %.1f\nerrors %llu\n", done / el, done * (double)bs / el / (1 << 20),
	       (unsigned long long)errors);
	blkdrv_close(&d);
	return errors ? 1 : 0;
}
