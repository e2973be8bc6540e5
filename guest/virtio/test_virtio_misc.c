/* SPDX-License-Identifier: MIT */
/*
 * virtio-rng: two 64-byte reads, printed in hex ("virtio-rng: read N: <hex>"); they must differ and
 * not be constant. virtio-console: the text of kite.vcon_text (default "hello from virtio-console")
 * sent on port 0's transmit queue (queue 1), one line.
 */
#include "vdrv.h"

static uint8_t rng_buf[64];
static char tx[128];

static void open_dev(struct vdev *d, uint16_t id, uint16_t qidx, const char *what)
{
	int r;

	if (!vdev_find(d, id, 0))
		guest_fail(GUEST_EXIT_CHECK, "no %s PCI device", what);
	d->qidx = qidx;
	r = vdev_start(d, 0, 2);
	if (r)
		guest_fail(r, "%s did not start", what);
}

void test_virtio_rng(void)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t first[64];
	struct vdev d;

	open_dev(&d, 4, 0, "virtio-rng");
	for (unsigned round = 0; round < 2; round++) {
		uint64_t a = (uint64_t)(uintptr_t)rng_buf;
		uint32_t l = sizeof(rng_buf), got = 0;
		bool w = true;
		char line[2 * sizeof(rng_buf) + 1];
		unsigned same = 0;

		memset(rng_buf, 0, sizeof(rng_buf));
		vq_submit(&d, &a, &l, &w, 1);
		if (!vq_wait(&d, &got))
			guest_fail(GUEST_EXIT_TIMEOUT, "virtio-rng did not answer");
		if (got != sizeof(rng_buf))
			guest_fail(GUEST_EXIT_CHECK, "virtio-rng returned %u bytes, asked for %u", got, l);
		for (unsigned i = 0; i < sizeof(rng_buf); i++) {
			line[2 * i] = hex[rng_buf[i] >> 4];
			line[2 * i + 1] = hex[rng_buf[i] & 15];
			same += rng_buf[i] == rng_buf[0];
		}
		line[sizeof(line) - 1] = '\0';
		guest_printf("virtio-rng: read %u: %s\n", round, line);
		if (same == sizeof(rng_buf))
			guest_fail(GUEST_EXIT_CHECK, "virtio-rng returned a constant buffer");
		if (round == 0)
			memcpy(first, rng_buf, sizeof(first));
		else if (!memcmp(first, rng_buf, sizeof(first)))
			guest_fail(GUEST_EXIT_CHECK, "virtio-rng returned the same bytes twice");
	}
}

void test_virtio_console(void)
{
	struct vdev d;
	uint64_t a = (uint64_t)(uintptr_t)tx;
	uint32_t l;
	bool w = false;
	size_t n;

	if (!cmdline_str("kite.vcon_text", tx, sizeof(tx) - 1))
		memcpy(tx, "hello from virtio-console", 26);
	n = strlen(tx);
	tx[n++] = '\n';
	tx[n] = '\0';
	l = (uint32_t)n;
	open_dev(&d, 3, 1, "virtio-console");
	vq_submit(&d, &a, &l, &w, 1);
	if (!vq_wait(&d, 0))
		guest_fail(GUEST_EXIT_TIMEOUT, "virtio-console did not take the line");
	guest_printf("virtio-console: sent %u bytes on hvc0\n", l);
}

/*
 * virtio-balloon: fill 4 pages with 0xab, inflate them (their PFNs on queue 0), deflate them
 * (queue 1), then the pages must read zero: kite gave their memory back to the host.
 */
static uint8_t balloon_pages[4][4096] __attribute__((aligned(4096)));
static uint32_t pfns[4];

void test_virtio_balloon(void)
{
	struct vdev infl, defl;
	uint64_t a = (uint64_t)(uintptr_t)pfns;
	uint32_t l = sizeof(pfns), target;
	bool w = false;

	if (!vdev_find(&infl, 5, 0))
		guest_fail(GUEST_EXIT_CHECK, "no virtio-balloon PCI device");
	if (vdev_begin(&infl, 0))
		guest_fail(GUEST_EXIT_CHECK, "virtio-balloon negotiation failed");
	defl = infl;
	infl.qidx = 0;
	defl.qidx = 1;
	if (vdev_queue(&infl, 2) || vdev_queue(&defl, 3) || vdev_go(&infl))
		guest_fail(GUEST_EXIT_CHECK, "virtio-balloon queues did not start");
	target = mmio_read32(infl.device);
	for (unsigned i = 0; i < 4; i++) {
		memset(balloon_pages[i], 0xab, sizeof(balloon_pages[i]));
		pfns[i] = (uint32_t)((uintptr_t)balloon_pages[i] >> 12);
	}
	vq_submit(&infl, &a, &l, &w, 1);
	if (!vq_wait(&infl, 0))
		guest_fail(GUEST_EXIT_TIMEOUT, "inflate not acknowledged");
	mmio_write32(infl.device + 4, 4);          /* actual */
	vq_submit(&defl, &a, &l, &w, 1);
	if (!vq_wait(&defl, 0))
		guest_fail(GUEST_EXIT_TIMEOUT, "deflate not acknowledged");
	mmio_write32(infl.device + 4, 0);
	for (unsigned i = 0; i < 4; i++)
		for (unsigned j = 0; j < 4096; j += 512)
			if (balloon_pages[i][j] != 0)
				guest_fail(GUEST_EXIT_CHECK, "page %u byte %u still 0x%x after inflate/deflate", i, j,
					   balloon_pages[i][j]);
	guest_printf("virtio-balloon: host target %u pages; 4 pages inflated and deflated, they read zero\n", target);
}
