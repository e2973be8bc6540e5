/* SPDX-License-Identifier: MIT */
/*
 * virtio-balloon-stats (kite.seed=S): the full balloon driver path.
 *  - negotiates STATS_VQ and DEFLATE_ON_OOM, starts the inflate, deflate and statistics queues;
 *  - reads num_pages (at most 16 are used), fills those pages with a pattern, inflates them in one
 *    request together with one PFN outside guest RAM (the host must ignore and count it), writes
 *    actual;
 *  - sends a statistics report (free = S * 4096, total = 0x6b697465000, swap_in = 7), waits for
 *    the host to hand the buffer back (its statistics period) and sends a second one (free + 1);
 *  - deflates the pages, writes actual = 0 and checks that every page reads zero: the host
 *    released them, the pattern is gone;
 *  - kite.evil=1: then sends a 6-byte inflate request (not a PFN array): the device must report
 *    DEVICE_NEEDS_RESET.
 */
#include "vdrv.h"

#define F_STATS_VQ 1
#define F_DEFLATE_ON_OOM 2
#define MAX_PAGES 16
#define BAD_PFN 0xfffff0u          /* 64 GiB - 64 KiB: far beyond the test guest's RAM */
#define TOTAL_MARK 0x6b697465000ULL

struct stat_entry { uint16_t tag; uint64_t val; } __attribute__((packed));

static uint64_t pages[MAX_PAGES][512] __attribute__((aligned(4096)));
static uint32_t pfns[MAX_PAGES + 1];
static struct stat_entry stats[3];

static void send_pfns(struct vdev *q, unsigned n, const char *what)
{
	uint64_t a = (uint64_t)(uintptr_t)pfns;
	uint32_t l = n * 4;
	bool w = false;

	vq_submit(q, &a, &l, &w, 1);
	if (!vq_wait(q, 0))
		guest_fail(GUEST_EXIT_TIMEOUT, "%s request not completed", what);
}

static void send_stats(struct vdev *q, uint64_t free_bytes)
{
	uint64_t a = (uint64_t)(uintptr_t)stats;
	uint32_t l = sizeof(stats);
	bool w = false;

	stats[0] = (struct stat_entry){ 0, 7 };              /* swap_in */
	stats[1] = (struct stat_entry){ 4, free_bytes };     /* free */
	stats[2] = (struct stat_entry){ 5, TOTAL_MARK };     /* total */
	vq_submit(q, &a, &l, &w, 1);
}

void test_virtio_balloon_stats(void)
{
	uint64_t seed = cmdline_u64("kite.seed", 1);
	struct vdev inf, def, st;
	uint32_t target, n;
	int r;

	if (!vdev_find(&inf, 5, 0))
		guest_fail(GUEST_EXIT_CHECK, "no virtio-balloon PCI device");
	r = vdev_begin(&inf, (1ULL << F_STATS_VQ) | (1ULL << F_DEFLATE_ON_OOM));
	if (r)
		guest_fail(r, "virtio-balloon negotiation failed");
	if (!(inf.features & (1ULL << F_STATS_VQ)) || !(inf.features & (1ULL << F_DEFLATE_ON_OOM)))
		guest_fail(GUEST_EXIT_CHECK, "STATS_VQ or DEFLATE_ON_OOM not offered (features 0x%lx)", inf.features);
	def = inf;
	st = inf;
	inf.qidx = 0;
	def.qidx = 1;
	st.qidx = 2;
	if (vdev_queue(&inf, 0) || vdev_queue(&def, 1) || vdev_queue(&st, 2) || vdev_go(&inf))
		guest_fail(GUEST_EXIT_CHECK, "virtio-balloon queues did not start");

	target = mmio_read32(inf.device);
	n = target < MAX_PAGES ? target : MAX_PAGES;
	if (!n)
		guest_fail(GUEST_EXIT_USAGE, "host target num_pages is 0 (run kite with --balloon=pages=N)");
	for (uint32_t i = 0; i < n; i++) {
		for (unsigned j = 0; j < 512; j++)
			pages[i][j] = 0x6b69746500000000ULL | (seed << 16) | (i << 9) | j;
		pfns[i] = (uint32_t)((uintptr_t)pages[i] >> 12);
	}
	pfns[n] = BAD_PFN;
	send_pfns(&inf, n + 1, "inflate");
	mmio_write32(inf.device + 4, n);
	guest_printf("virtio-balloon-stats: target %u pages, inflated %u (+1 PFN outside RAM)\n", target, n);

	send_stats(&st, seed * 4096);
	if (!vq_wait(&st, 0))
		guest_fail(GUEST_EXIT_TIMEOUT, "host never handed the statistics buffer back");
	send_stats(&st, seed * 4096 + 1);
	if (!vq_wait(&st, 0))
		guest_fail(GUEST_EXIT_TIMEOUT, "host never asked for the second statistics report");
	guest_printf("virtio-balloon-stats: 2 statistics reports taken by the host\n");

	for (uint32_t i = 0; i < n; i++)
		pfns[i] = (uint32_t)((uintptr_t)pages[i] >> 12);
	send_pfns(&def, n, "deflate");
	mmio_write32(inf.device + 4, 0);
	for (uint32_t i = 0; i < n; i++)
		for (unsigned j = 0; j < 512; j++)
			if (pages[i][j] != 0)
				guest_fail(GUEST_EXIT_CHECK, "page %u word %u reads 0x%lx after deflate: not released", i,
					   j, pages[i][j]);
	guest_printf("virtio-balloon-stats: deflated %u pages, all read zero\n", n);
	if (cmdline_u64("kite.evil", 0)) {
		uint64_t a = (uint64_t)(uintptr_t)pfns, t0;
		uint32_t l = 6;
		bool w = false;

		vq_submit(&inf, &a, &l, &w, 1);
		t0 = rdtsc();
		while (!(vdev_status(&inf) & 0x40)) {
			if (rdtsc() - t0 > 30ULL * 1000 * 1000 * 1000)
				guest_fail(GUEST_EXIT_TIMEOUT, "no DEVICE_NEEDS_RESET after a 6-byte inflate request");
			cpu_relax();
		}
		guest_printf("virtio-balloon-stats: 6-byte inflate request: DEVICE_NEEDS_RESET (status 0x%x)\n",
			     vdev_status(&inf));
	}
}
