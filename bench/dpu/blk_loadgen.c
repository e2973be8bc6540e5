/* SPDX-License-Identifier: MIT */
/*
 * vhost-user-blk load generator: random 4 KiB (or --bs) reads or writes at a fixed queue depth over
 * any vhost-user-blk backend (kite-dpu, qemu-storage-daemon), polling the used rings.
 *   blk_loadgen --socket SOCK [--rw randread|randwrite] [--bs 4096] [--qd 32] [--queues 1]
 *               [--seconds 5] [--cpu N] [--pace-us N]
 * Without --pace-us it keeps qd requests in flight and polls the used ring (saturation: what a backend
 * does per core at full load). --pace-us N drives it the way a slow guest does instead: one request
 * every N us (open loop: the schedule does not wait for completions, up to qd in flight, a late
 * request goes at once; one queue; a timer slack of 1 ns), EVENT_IDX negotiated, and between requests
 * it sleeps in ppoll on the call fd with interrupts enabled, so that every completion the backend
 * signals costs it a call and the generator a wake-up, and every request finds a backend that may
 * have gone to sleep (a Linux guest under QEMU TCG sends one every 100-200 us: docs/benchmarks.md,
 * "kite-dpu per core in real Linux").
 * Prints "iops <n>", "mib_per_s <n>", "errors <n>" and the per-request latency (submission to the
 * poll that saw the completion, CLOCK_MONOTONIC, 100 ns buckets to 10 ms, 10 us ones to 1 s, nearest rank)
 * "lat_p50_us <x>", "lat_p99_us <x>" lines; with --pace-us also "interrupts <n>" (wake-ups by the call fd).
 */
#include <getopt.h>
#include <poll.h>
#include <sched.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

/* Latency histogram: 100 ns buckets below 10 ms, 10 us buckets from 10 ms to 1 s (slower requests
 * count in the last bucket). */
#define LAT_FINE_NS   100
#define LAT_FINE      100000
#define LAT_COARSE_NS 10000
#define LAT_BUCKETS   (LAT_FINE + 99000)
static uint64_t lat_hist[LAT_BUCKETS], lat_count;
static uint64_t sent_ns[BLKDRV_MAX_QUEUES][128];

static void lat_add(uint64_t ns)
{
	uint64_t b = ns < (uint64_t)LAT_FINE * LAT_FINE_NS ? ns / LAT_FINE_NS
			 : LAT_FINE + (ns - (uint64_t)LAT_FINE * LAT_FINE_NS) / LAT_COARSE_NS;

	lat_hist[b < LAT_BUCKETS ? b : LAT_BUCKETS - 1]++;
	lat_count++;
}

/* The latency at quantile q (0..1) in microseconds, by nearest rank (the bucket's middle). */
static double lat_quantile(double q)
{
	uint64_t rank = (uint64_t)(q * (double)lat_count + 0.999999), seen = 0;

	if (rank == 0)
		rank = 1;
	for (unsigned b = 0; b < LAT_BUCKETS; b++) {
		seen += lat_hist[b];
		if (seen >= rank)
			return b < LAT_FINE ? ((double)b + 0.5) * LAT_FINE_NS / 1000.0
					    : (LAT_FINE * (double)LAT_FINE_NS + ((double)(b - LAT_FINE) + 0.5) * LAT_COARSE_NS) / 1000.0;
	}
	return 0;
}

/* --pace-us: one request every pace_ns on queue 0, completions taken on interrupts (see the top). The
 * slots free to submit are a stack; latency is from the request's submission. Returns the number of
 * completions (errors in *errors, wake-ups by the call fd in *interrupts), or -1: garbage from the
 * device, or no completion for 5 s. */
static long run_paced(struct blkdrv *d, bool write, unsigned bs, unsigned qd, uint64_t blocks, uint64_t pace_ns,
		      uint64_t end, uint64_t *errors, uint64_t *interrupts)
{
	unsigned free_slot[128], nfree = 0;
	uint64_t next = now_ns(), last_done = next;
	long done = 0;

	for (unsigned s = 0; s < qd; s++)
		free_slot[nfree++] = qd - 1 - s;
	/* sleeps end when the next request is due, not up to the default 50 us slack later */
	if (prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL) < 0)
		perror("blk_loadgen: PR_SET_TIMERSLACK");
	vring_drv_set_interrupts(&d->vq[0], false);
	for (;;) {
		uint8_t st;
		long slot;
		bool irq_on = false;

		while ((slot = blkdrv_poll(d, 0, &st, NULL)) > 0) {
			uint64_t t = now_ns();

			done++;
			last_done = t;
			if (st != VIRTIO_BLK_S_OK)
				(*errors)++;
			lat_add(t - sent_ns[0][slot - 1]);
			free_slot[nfree++] = (unsigned)slot - 1;
		}
		if (slot < 0) {
			fprintf(stderr, "blk_loadgen: the backend returned a bad used entry\n");
			return -1;
		}
		uint64_t now = now_ns();
		if (now >= end)
			return done;
		if (nfree < qd && now - last_done > 5000000000ull) {
			fprintf(stderr, "blk_loadgen: no completions for 5 s\n");
			return -1;
		}
		if (nfree && now >= next) {
			unsigned s = free_slot[--nfree];

			sent_ns[0][s] = now;
			blkdrv_submit(d, 0, s, write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, rnd() % blocks * (bs / 512), bs);
			next += pace_ns;   /* a late wake-up catches up at once; a backlog of more than a
					    * full queue (the backend is too slow) is dropped */
			if (now > next + (uint64_t)qd * pace_ns)
				next = now;
			continue;
		}
		/* sleep until the next request is due or a completion's interrupt: enable interrupts, and
		 * look at the ring once more (a completion in between would send none) */
		uint64_t until = nfree ? next : end;
		if (nfree < qd) {
			vring_drv_set_interrupts(&d->vq[0], true);
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			irq_on = true;
		}
		if (!irq_on || !vring_drv_has_used(&d->vq[0])) {
			struct pollfd pfd = { .fd = d->call[0], .events = POLLIN };
			uint64_t left = until > now ? until - now : 0;
			struct timespec ts = { (time_t)(left / 1000000000u), (long)(left % 1000000000u) };
			uint64_t v;

			if (ppoll(&pfd, irq_on ? 1 : 0, &ts, NULL) > 0) {
				if (read(d->call[0], &v, sizeof(v)) == sizeof(v))
					(*interrupts)++;
				else
					perror("blk_loadgen: call fd");
			}
		}
		if (irq_on)
			vring_drv_set_interrupts(&d->vq[0], false);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' }, { "rw", required_argument, NULL, 'r' },
		{ "bs", required_argument, NULL, 'b' },     { "qd", required_argument, NULL, 'q' },
		{ "queues", required_argument, NULL, 'n' }, { "seconds", required_argument, NULL, 't' },
		{ "cpu", required_argument, NULL, 'c' },    { "pace-us", required_argument, NULL, 'p' }, { 0 }
	};
	const char *sock = NULL;
	bool write = false;
	unsigned bs = 4096, qd = 32, nq = 1, cpu = ~0u;
	double seconds = 5, pace_us = 0;
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
		case 'p': pace_us = atof(optarg); break;
		default: return 2;
		}
	}
	if (!sock || bs == 0 || bs % 512 || bs > BLKDRV_SLOT_DATA || qd == 0 || qd > 128 || nq == 0 ||
	    nq > BLKDRV_MAX_QUEUES || pace_us < 0 || (pace_us > 0 && nq != 1)) {
		fprintf(stderr, "usage: blk_loadgen --socket SOCK [--rw randread|randwrite] [--bs N] [--qd 1..128] [--queues N] [--seconds S] [--cpu N] [--pace-us N (one queue)]\n");
		return 2;
	}
	if (cpu != ~0u) {
		cpu_set_t cs;
		CPU_ZERO(&cs);
		CPU_SET(cpu, &cs);
		sched_setaffinity(0, sizeof(cs), &cs);
	}
	struct blkdrv d;
	uint64_t want = (1ull << VIRTIO_BLK_F_FLUSH) | (1ull << VIRTIO_BLK_F_MQ);
	if (pace_us > 0)
		want |= 1ull << VIRTIO_F_EVENT_IDX;    /* as a Linux guest's driver */
	if (blkdrv_open(&d, sock, nq, 256, qd, want) < 0) {
		fprintf(stderr, "blk_loadgen: %s: %s\n", sock, d.err);
		return 1;
	}
	uint64_t blocks = d.capacity * 512 / bs;
	if (blocks == 0) {
		fprintf(stderr, "blk_loadgen: %s: disk smaller than one block\n", sock);
		return 1;
	}
	for (unsigned q = 0; q < nq; q++)
		for (unsigned s = 0; s < qd; s++)
			memset(blkdrv_data(&d, q, s), (int)s, bs);
	uint64_t done = 0, errors = 0, interrupts = 0, t0 = now_ns(), end = t0 + (uint64_t)(seconds * 1e9);
	if (pace_us > 0) {
		long n = run_paced(&d, write, bs, qd, blocks, (uint64_t)(pace_us * 1000), end, &errors, &interrupts);
		if (n < 0)
			return 1;
		done = (uint64_t)n;
		goto report;
	}
	for (unsigned q = 0; q < nq; q++)
		for (unsigned s = 0; s < qd; s++) {
			sent_ns[q][s] = now_ns();
			blkdrv_submit(&d, q, s, write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, rnd() % blocks * (bs / 512), bs);
		}
	unsigned idle = 0;
	for (;;) {
		unsigned got = 0;
		for (unsigned q = 0; q < nq; q++) {
			uint8_t st;
			long slot;
			while ((slot = blkdrv_poll(&d, q, &st, NULL)) > 0) {
				uint64_t t = now_ns();

				got++;
				if (st != VIRTIO_BLK_S_OK)
					errors++;
				lat_add(t - sent_ns[q][slot - 1]);
				sent_ns[q][slot - 1] = t;
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
report:;
	double el = (double)(now_ns() - t0) / 1e9;
	printf("iops %.0f\nmib_per_s %.1f\nerrors %llu\n", done / el, done * (double)bs / el / (1 << 20),
	       (unsigned long long)errors);
	printf("lat_p50_us %.1f\nlat_p99_us %.1f\n", lat_quantile(0.5), lat_quantile(0.99));
	if (pace_us > 0)
		printf("interrupts %llu\n", (unsigned long long)interrupts);
	blkdrv_close(&d);
	return errors ? 1 : 0;
}
