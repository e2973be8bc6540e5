/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk tests of the guest (options on the command line):
 *  virtio-blk       kite.blk_dev=N (which disk, default 0), kite.blk_sector=S, kite.blk_count=C
 *                   (default 8 and 8), kite.seed=X: write the pattern (s * 31 + i * 7 + X) & 0xff to
 *                   sectors [S, S+C) in one 4-descriptor request, flush, read back and compare;
 *                   kite.wz_sector=W: write-zeroes one sector at W; kite.discard_sector=D: discard
 *                   sectors [D, D+8); kite.irq=1: MSI-X completion
 *                   instead of polling; kite.expect_ro=1: the disk must be read-only and refuse a write.
 *                   kite.msix_mask=1 (with kite.irq=1): MSI-X mask / PBA check;
 *                   kite.mmio=1 (kite.irq=1: IOAPIC pin from the command line, level, acknowledged):
 *                   the disks are virtio-mmio (virtio_mmio.device= words), not PCI.
 *  virtio-blk-stream  kite.blk_count=C (default 4096), kite.blk_step=K (sectors per request, default
 *                   1), kite.seed=X, kite.irq=1, kite.mmio=1: C write requests, request r writes
 *                   the pattern to sectors [r K, r K + K), printing "blk-stream: N written" every 64
 *                   (a snapshot may be taken and restored anywhere in between); then a flush, and
 *                   every request's sectors read back and compared.
 *  virtio-blk-evil  kite.evil=baddesc|loop|scribble on disk 0 (baddesc and loop also on packed rings,
 *                   kite.packed=1; loop is then one chain of NEXT descriptors round the whole ring,
 *                   scribble is split only): it must report DEVICE_NEEDS_RESET with
 *                   a configuration-change MSI-X interrupt; then
 *                   disk 1 must still serve the pattern write/read, and disk 0 must work after a reset.
 *                   kite.evil=backend: disk 0's vhost-user backend is the hostile one (not the
 *                   driver): NEEDS_RESET, then disk 1's pattern; disk 0 is not restarted.
 *                   kite.evil=flood kite.evil_count=N (default 300): break disk 0 (baddesc, polled)
 *                   and reset it N times in a row, a flood of log-worthy events for the VMM's
 *                   rate limit; then the usual disk 1 pattern and disk 0 read.
 */
#include "vdrv.h"

#define F_RO 5
#define F_BLK_SIZE 6
#define F_FLUSH 9
#define F_SEG_MAX 2
#define F_DISCARD 13
#define F_WRITE_ZEROES 14
#define F_MQ 12
#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define T_GET_ID 8
#define T_DISCARD 11
#define T_WRITE_ZEROES 13
#define MAX_SECTORS 64

struct req_hdr { uint32_t type, reserved; uint64_t sector; } __attribute__((packed));

static struct req_hdr hdr;
static volatile uint8_t status;
static uint8_t buf[MAX_SECTORS * 512] __attribute__((aligned(4096)));
static struct { uint64_t sector; uint32_t num, flags; } __attribute__((packed)) wz;
static char id[24];

static uint8_t pattern(uint64_t sector, unsigned i, uint64_t seed)
{
	return (uint8_t)(sector * 31 + i * 7 + seed);
}

/* Header, data split in two segments (or none), status. Returns the status byte or 0xff. */
static uint8_t blk_req(struct vdev *d, uint32_t type, uint64_t sector, void *data, uint32_t len)
{
	uint64_t a[4];
	uint32_t l[4];
	bool w[4];
	unsigned n = 0;
	uint32_t used_len;
	bool dev_writes = type == T_IN || type == T_GET_ID;

	hdr.type = type;
	hdr.reserved = 0;
	hdr.sector = sector;
	status = 0xee;
	a[n] = (uint64_t)(uintptr_t)&hdr; l[n] = sizeof(hdr); w[n++] = false;
	if (len >= 1024) {
		uint32_t half = (len / 2) & ~511u;

		a[n] = (uint64_t)(uintptr_t)data; l[n] = half; w[n++] = dev_writes;
		a[n] = (uint64_t)(uintptr_t)data + half; l[n] = len - half; w[n++] = dev_writes;
	} else if (len) {
		a[n] = (uint64_t)(uintptr_t)data; l[n] = len; w[n++] = dev_writes;
	}
	a[n] = (uint64_t)(uintptr_t)&status; l[n] = 1; w[n++] = true;
	vq_submit(d, a, l, w, n);
	if (!vq_wait(d, &used_len))
		guest_fail(GUEST_EXIT_TIMEOUT, "request type %u sector %lu: no completion", type, sector);
	if (used_len < 1)
		guest_fail(GUEST_EXIT_CHECK, "request type %u: used length %u", type, used_len);
	return status;
}

static uint64_t capacity(struct vdev *d)
{
	return mmio_read32(d->device) | (uint64_t)mmio_read32(d->device + 4) << 32;
}

/* Disk n with its requests on queue `queue` (F_MQ asked for when it is not 0), ring memory `ring`. */
static void open_disk(struct vdev *d, unsigned n, bool irq, unsigned ring, unsigned queue)
{
	int r;

	bool mmio = cmdline_u64("kite.mmio", 0);

	if (mmio ? !vdev_find_mmio(d, 2, n) : !vdev_find(d, 2, n))
		guest_fail(GUEST_EXIT_CHECK, "no virtio-blk %s device number %u", mmio ? "MMIO" : "PCI", n);
	d->use_irq = irq;
	d->qidx = (uint16_t)queue;
	r = vdev_start(d, (1ULL << F_RO) | (1ULL << F_BLK_SIZE) | (1ULL << F_FLUSH) | (1ULL << F_SEG_MAX) |
			  (1ULL << F_WRITE_ZEROES) | (1ULL << F_DISCARD) | (queue ? 1ULL << F_MQ : 0), ring);
	if (r)
		guest_fail(r, "virtio-blk %u did not start", n);
	if (queue && !(d->features & (1ULL << F_MQ)))
		guest_fail(GUEST_EXIT_CHECK, "virtio-blk %u: queue %u asked for, VIRTIO_BLK_F_MQ not offered", n, queue);
}

/* Pattern write, flush, read back. */
static void pattern_io(struct vdev *d, const char *tag, uint64_t sector, uint64_t count, uint64_t seed)
{
	uint8_t st;

	for (uint64_t s = 0; s < count; s++)
		for (unsigned i = 0; i < 512; i++)
			buf[s * 512 + i] = pattern(sector + s, i, seed);
	st = blk_req(d, T_OUT, sector, buf, (uint32_t)(count * 512));
	if (st != 0)
		guest_fail(GUEST_EXIT_CHECK, "%s: write of sectors %lu+%lu: status %u", tag, sector, count, st);
	st = blk_req(d, T_FLUSH, 0, 0, 0);
	if (st != 0)
		guest_fail(GUEST_EXIT_CHECK, "%s: flush: status %u", tag, st);
	memset(buf, 0, count * 512);
	st = blk_req(d, T_IN, sector, buf, (uint32_t)(count * 512));
	if (st != 0)
		guest_fail(GUEST_EXIT_CHECK, "%s: read back: status %u", tag, st);
	for (uint64_t s = 0; s < count; s++)
		for (unsigned i = 0; i < 512; i++)
			if (buf[s * 512 + i] != pattern(sector + s, i, seed))
				guest_fail(GUEST_EXIT_CHECK, "%s: sector %lu byte %u reads 0x%x", tag, sector + s, i,
					   buf[s * 512 + i]);
	guest_printf("%s: wrote, flushed and read back sectors %lu..%lu (fnv1a 0x%x)\n", tag, sector,
		     sector + count - 1, fnv1a32(buf, count * 512, 2166136261u));
}

/*
 * MSI-X per-vector mask: a completion while vector 0 is masked must set its pending bit in the PBA
 * and raise nothing; unmasking must deliver it and clear the bit (PCI 6.8.2.9).
 */
static void msix_mask_check(struct vdev *d, uint64_t sector)
{
	volatile uint16_t *used_idx = (volatile uint16_t *)(d->used + 2);
	uint64_t before, t0;

	mmio_write32(d->msix_table + 12, 1);            /* mask entry 0 */
	before = d->irqs;
	hdr.type = T_IN;
	hdr.sector = sector;
	{
		uint64_t a[3] = { (uint64_t)(uintptr_t)&hdr, (uint64_t)(uintptr_t)buf, (uint64_t)(uintptr_t)&status };
		uint32_t l[3] = { sizeof(hdr), 512, 1 };
		bool w[3] = { false, true, true };

		vq_submit(d, a, l, w, 3);
	}
	t0 = rdtsc();
	while (*used_idx == d->used_seen) {
		__asm__ volatile("sti; nop; cli" ::: "memory");   /* an interrupt would be taken here */
		if (rdtsc() - t0 > 30ULL * 1000 * 1000 * 1000)
			guest_fail(GUEST_EXIT_TIMEOUT, "masked request did not complete");
	}
	d->used_seen++;
	/* The used index and the message are not one event: a vhost-user backend publishes the used
	 * entry, then signals its call eventfd, which kite turns into the pending bit. So the bit may
	 * come a moment after the index; it must come (3e9 TSC cycles, about a second here), and no
	 * interrupt meanwhile. */
	t0 = rdtsc();
	while (!(mmio_read32(d->msix_pba) & 1)) {
		__asm__ volatile("sti; nop; cli" ::: "memory");
		if (rdtsc() - t0 > 3000ULL * 1000 * 1000)
			guest_fail(GUEST_EXIT_CHECK, "PBA bit 0 not set for the masked completion");
	}
	if (d->irqs != before)
		guest_fail(GUEST_EXIT_CHECK, "interrupt delivered while the vector was masked");
	mmio_write32(d->msix_table + 12, 0);            /* unmask: the pending message goes out */
	t0 = rdtsc();
	while (d->irqs == before) {
		__asm__ volatile("sti; hlt; cli" ::: "memory");
		if (rdtsc() - t0 > 30ULL * 1000 * 1000 * 1000)
			guest_fail(GUEST_EXIT_TIMEOUT, "unmasking did not deliver the pending interrupt");
	}
	if (mmio_read32(d->msix_pba) & 1)
		guest_fail(GUEST_EXIT_CHECK, "PBA bit 0 still set after delivery");
	guest_printf("virtio-blk: masked MSI-X vector latched in the PBA, delivered on unmask\n");
}

/*
 * kite.resize_wait=1 (PCI, polled): the host grows the disk while the guest waits; the device's ISR
 * must show a configuration change, then the capacity must be larger and its last sector readable.
 */
static void resize_wait(struct vdev *d)
{
	uint64_t before = capacity(d), t0 = rdtsc(), after;
	uint8_t st;

	if (d->mmio)
		guest_fail(GUEST_EXIT_USAGE, "kite.resize_wait needs virtio-pci");
	guest_printf("virtio-blk: waiting for a configuration change\n");
	while (!(*(volatile uint8_t *)d->isr & 2)) {      /* reading the ISR clears it */
		if (rdtsc() - t0 > 120ULL * 1000 * 1000 * 1000)
			guest_fail(GUEST_EXIT_TIMEOUT, "no configuration change");
		cpu_relax();
	}
	after = capacity(d);
	if (after <= before)
		guest_fail(GUEST_EXIT_CHECK, "configuration change, but the capacity is %lu sectors (was %lu)", after, before);
	st = blk_req(d, T_IN, after - 1, buf, 512);
	if (st != 0)
		guest_fail(GUEST_EXIT_CHECK, "read of the new last sector %lu: status %u", after - 1, st);
	guest_printf("virtio-blk: configuration change: %lu sectors (was %lu), sector %lu reads\n", after, before,
		     after - 1);
}

void test_virtio_blk(void)
{
	uint64_t n = cmdline_u64("kite.blk_dev", 0), sector = cmdline_u64("kite.blk_sector", 8);
	uint64_t count = cmdline_u64("kite.blk_count", 8), seed = cmdline_u64("kite.seed", 1);
	uint64_t wz_sector = cmdline_u64("kite.wz_sector", (uint64_t)-1);
	uint64_t discard_sector = cmdline_u64("kite.discard_sector", (uint64_t)-1);
	bool irq = cmdline_u64("kite.irq", 0), want_ro = cmdline_u64("kite.expect_ro", 0);
	struct vdev d;
	uint8_t st;

	if (!count || count > MAX_SECTORS)
		guest_fail(GUEST_EXIT_USAGE, "kite.blk_count=%lu out of range 1..%d", count, MAX_SECTORS);
	/* kite.blk_queue=Q: every request on queue Q (multiqueue devices; F_MQ negotiated) */
	open_disk(&d, (unsigned)n, irq, 0, (unsigned)cmdline_u64("kite.blk_queue", 0));
	guest_printf("virtio-blk: %lu sectors, %s completion, queue %u\n", capacity(&d), irq ? "MSI-X" : "polled",
		     (unsigned)cmdline_u64("kite.blk_queue", 0));
	if (cmdline_u64("kite.resize_wait", 0))
		resize_wait(&d);
	if (sector + count > capacity(&d))
		guest_fail(GUEST_EXIT_USAGE, "sectors %lu+%lu beyond the disk", sector, count);
	memset(id, 0, sizeof(id));
	st = blk_req(&d, T_GET_ID, 0, id, 20);
	guest_printf("virtio-blk: id \"%s\" (status %u)\n", id, st);

	if (!!(d.features & (1ULL << F_RO)) != want_ro)
		guest_fail(GUEST_EXIT_CHECK, "disk is %sread-only, expected %s", want_ro ? "not " : "",
			   want_ro ? "read-only" : "writable");
	if (want_ro) {
		memset(buf, 0x5a, 512);
		st = blk_req(&d, T_OUT, sector, buf, 512);
		if (st == 0)
			guest_fail(GUEST_EXIT_CHECK, "write to the read-only disk succeeded");
		st = blk_req(&d, T_IN, sector, buf, (uint32_t)(count * 512));
		if (st != 0)
			guest_fail(GUEST_EXIT_CHECK, "read of the read-only disk: status %u", st);
		guest_printf("virtio-blk: read-only disk refused the write (status 1), read fnv1a 0x%x\n",
			     fnv1a32(buf, count * 512, 2166136261u));
		return;
	}
	pattern_io(&d, "virtio-blk", sector, count, seed);
	if (wz_sector != (uint64_t)-1) {
		if (!(d.features & (1ULL << F_WRITE_ZEROES)))
			guest_fail(GUEST_EXIT_CHECK, "WRITE_ZEROES not offered");
		wz.sector = wz_sector;
		wz.num = 1;
		wz.flags = 0;
		st = blk_req(&d, T_WRITE_ZEROES, 0, &wz, sizeof(wz));
		if (st != 0)
			guest_fail(GUEST_EXIT_CHECK, "write-zeroes at sector %lu: status %u", wz_sector, st);
		guest_printf("virtio-blk: write-zeroes of sector %lu done\n", wz_sector);
	}
	if (discard_sector != (uint64_t)-1) {
		if (!(d.features & (1ULL << F_DISCARD)))
			guest_fail(GUEST_EXIT_CHECK, "DISCARD not offered");
		wz.sector = discard_sector;
		wz.num = 8;
		wz.flags = 0;
		st = blk_req(&d, T_DISCARD, 0, &wz, sizeof(wz));
		if (st != 0)
			guest_fail(GUEST_EXIT_CHECK, "discard at sector %lu: status %u", discard_sector, st);
		guest_printf("virtio-blk: discard of sectors %lu..%lu done\n", discard_sector, discard_sector + 7);
	}
	if (d.use_irq)
		guest_printf("virtio-blk: %lu %s interrupts\n", d.irqs, d.mmio ? "IOAPIC" : "MSI-X");
	if (d.use_irq && !d.irqs)
		guest_fail(GUEST_EXIT_CHECK, "no interrupt arrived");
	if (d.use_irq && !d.mmio && cmdline_u64("kite.msix_mask", 0))
		msix_mask_check(&d, sector);
}

void test_virtio_blk_stream(void)
{
	uint64_t count = cmdline_u64("kite.blk_count", 4096), seed = cmdline_u64("kite.seed", 1);
	uint64_t step = cmdline_u64("kite.blk_step", 1);
	bool irq = cmdline_u64("kite.irq", 0);
	struct vdev d;
	uint8_t st;

	if (!step || step > MAX_SECTORS)
		guest_fail(GUEST_EXIT_USAGE, "kite.blk_step=%lu out of range 1..%d", step, MAX_SECTORS);
	open_disk(&d, 0, irq, 0, 0);
	if (count * step > capacity(&d))
		guest_fail(GUEST_EXIT_USAGE, "%lu requests of %lu sectors go beyond the disk's %lu sectors", count, step,
			   capacity(&d));
	guest_printf("blk-stream: %lu requests of %lu sectors to write, %s completion\n", count, step,
		     irq ? "interrupt" : "polled");
	for (uint64_t r = 0; r < count; r++) {
		for (uint64_t s = 0; s < step; s++)
			for (unsigned i = 0; i < 512; i++)
				buf[s * 512 + i] = pattern(r * step + s, i, seed);
		st = blk_req(&d, T_OUT, r * step, buf, (uint32_t)(step * 512));
		if (st != 0)
			guest_fail(GUEST_EXIT_CHECK, "blk-stream: write %lu: status %u", r, st);
		if ((r + 1) % 64 == 0)
			guest_printf("blk-stream: %lu written\n", r + 1);
	}
	st = blk_req(&d, T_FLUSH, 0, 0, 0);
	if (st != 0)
		guest_fail(GUEST_EXIT_CHECK, "blk-stream: flush: status %u", st);
	for (uint64_t r = 0; r < count; r++) {
		st = blk_req(&d, T_IN, r * step, buf, (uint32_t)(step * 512));
		if (st != 0)
			guest_fail(GUEST_EXIT_CHECK, "blk-stream: read %lu: status %u", r, st);
		for (uint64_t i = 0; i < step * 512; i++)
			if (buf[i] != pattern(r * step + i / 512, (unsigned)(i % 512), seed))
				guest_fail(GUEST_EXIT_CHECK, "blk-stream: sector %lu byte %lu reads 0x%x", r * step + i / 512,
					   i % 512, buf[i]);
	}
	if (irq && !d.irqs)
		guest_fail(GUEST_EXIT_CHECK, "blk-stream: no interrupt arrived");
	guest_printf("blk-stream: %lu requests checked (%lu interrupts)\n", count, d.irqs);
}

/* Disk 0 must report DEVICE_NEEDS_RESET within `limit` TSC cycles (a hang guard); with irq, the
 * configuration-change interrupt must follow. */
static void broken_wait(struct vdev *d0, const char *mode, bool irq, uint64_t limit)
{
	uint64_t t0 = rdtsc();

	while (!(vdev_status(d0) & 0x40)) {
		if (rdtsc() - t0 > limit)
			guest_fail(GUEST_EXIT_TIMEOUT, "disk 0 never reported DEVICE_NEEDS_RESET (status 0x%x)",
				   vdev_status(d0));
		cpu_relax();
	}
	guest_printf("virtio-blk-evil: %s: disk 0 reports DEVICE_NEEDS_RESET (status 0x%x)\n", mode, vdev_status(d0));
	t0 = rdtsc();
	while (irq && d0->irqs == d0->irqs_at_kick) {
		__asm__ volatile("sti; nop; cli" ::: "memory");
		if (rdtsc() - t0 > 30ULL * 1000 * 1000 * 1000)
			guest_fail(GUEST_EXIT_TIMEOUT, "no configuration-change interrupt for DEVICE_NEEDS_RESET");
	}
	if (irq)
		guest_printf("virtio-blk-evil: configuration-change interrupt received\n");
}

/*
 * kite.evil=backend: disk 0's vhost-user backend misbehaves once the driver starts the device
 * (tests/vhost/hostile.py). Disk 0 must report DEVICE_NEEDS_RESET (already while starting, or after
 * DRIVER_OK with a configuration-change interrupt); disk 1 must keep serving.
 */
static void evil_backend(void)
{
	struct vdev d0, d1;
	int r;

	if (!vdev_find(&d0, 2, 0))
		guest_fail(GUEST_EXIT_CHECK, "no virtio-blk PCI device number 0");
	d0.use_irq = true;
	r = vdev_start(&d0, (1ULL << F_FLUSH) | (1ULL << F_BLK_SIZE) | (1ULL << F_SEG_MAX), 0);
	guest_printf("virtio-blk-evil: backend: disk 0 %s (status 0x%x)\n", r ? "refused to start" : "started",
		     vdev_status(&d0));
	/* a stalling backend breaks the device only when the VMM's reply timeout expires: wait longer */
	broken_wait(&d0, "backend", r == 0, 120ULL * 1000 * 1000 * 1000);
	open_disk(&d1, 1, false, 1, 0);
	pattern_io(&d1, "virtio-blk-evil: disk 1", cmdline_u64("kite.blk_sector", 8), 4, cmdline_u64("kite.seed", 1));
}

/* kite.evil=flood: N rounds of "bad descriptor, wait for NEEDS_RESET, reset and start again". */
static void evil_flood(struct vdev *d0)
{
	uint64_t n = cmdline_u64("kite.evil_count", 300);

	for (uint64_t i = 0; i < n; i++) {
		struct vring_desc *desc = vq_desc(d0);
		uint64_t t0 = rdtsc();

		desc[0] = (struct vring_desc){ 0xfff000000000ULL, 16, VRING_DESC_F_NEXT, 1 };
		desc[1] = (struct vring_desc){ (uint64_t)(uintptr_t)&status, 1, VRING_DESC_F_WRITE, 0 };
		vq_publish(d0, 0);
		while (!(vdev_status(d0) & 0x40)) {
			if (rdtsc() - t0 > 30ULL * 1000 * 1000 * 1000)
				guest_fail(GUEST_EXIT_TIMEOUT, "flood round %lu: no DEVICE_NEEDS_RESET", i);
			cpu_relax();
		}
		if (vdev_start(d0, (1ULL << F_FLUSH), 0))
			guest_fail(GUEST_EXIT_CHECK, "flood round %lu: disk 0 did not restart", i);
	}
	guest_printf("virtio-blk-evil: flood: disk 0 broken and reset %lu times\n", n);
}

void test_virtio_blk_evil(void)
{
	char mode[16];
	struct vdev d0, d1;
	struct vring_desc *desc;

	if (!cmdline_str("kite.evil", mode, sizeof(mode)))
		guest_fail(GUEST_EXIT_USAGE, "kite.evil=baddesc|loop|scribble|backend|flood missing");
	if (!strcmp(mode, "backend")) {
		evil_backend();
		return;
	}
	open_disk(&d0, 0, true, 0, 0);       /* MSI-X: the broken queue must raise a config interrupt */
	open_disk(&d1, 1, false, 1, 0);
	desc = vq_desc(&d0);
	if (!strcmp(mode, "flood")) {
		evil_flood(&d0);
		desc = vq_desc(&d0);
		desc[0] = (struct vring_desc){ 0xfff000000000ULL, 16, VRING_DESC_F_NEXT, 1 };
		desc[1] = (struct vring_desc){ (uint64_t)(uintptr_t)&status, 1, VRING_DESC_F_WRITE, 0 };
		vq_publish(&d0, 0);
	} else if (!strcmp(mode, "baddesc")) {
		desc[0] = (struct vring_desc){ 0xfff000000000ULL, 16, VRING_DESC_F_NEXT, 1 };
		desc[1] = (struct vring_desc){ (uint64_t)(uintptr_t)&status, 1, VRING_DESC_F_WRITE, 0 };
		vq_publish(&d0, 0);
	} else if (!strcmp(mode, "loop") && d0.packed) {
		/* packed rings have no next field: the endless chain is NEXT on every descriptor */
		vq_packed_endless(&d0, (uint64_t)(uintptr_t)&hdr, 16);
	} else if (!strcmp(mode, "loop")) {
		desc[0] = (struct vring_desc){ (uint64_t)(uintptr_t)&hdr, 16, VRING_DESC_F_NEXT, 1 };
		desc[1] = (struct vring_desc){ (uint64_t)(uintptr_t)&hdr, 16, VRING_DESC_F_NEXT, 0 };
		vq_publish(&d0, 0);
	} else if (!strcmp(mode, "scribble") && !d0.packed) {
		/* garbage over the avail index and the used ring the device owns */
		memset((void *)d0.used, 0xa5, 64);
		d0.avail_idx = (uint16_t)(d0.avail_idx + 0x7777);
		vq_publish(&d0, 3);
	} else {
		guest_fail(GUEST_EXIT_USAGE, "kite.evil=%s unknown", mode);
	}
	broken_wait(&d0, mode, true, 30ULL * 1000 * 1000 * 1000);
	pattern_io(&d1, "virtio-blk-evil: disk 1", cmdline_u64("kite.blk_sector", 8), 4, cmdline_u64("kite.seed", 1));
	if (vdev_start(&d0, (1ULL << F_FLUSH), 0))
		guest_fail(GUEST_EXIT_CHECK, "disk 0 did not restart after a reset");
	if (blk_req(&d0, T_IN, 0, buf, 512) != 0)
		guest_fail(GUEST_EXIT_CHECK, "disk 0 read after reset failed");
	guest_printf("virtio-blk-evil: disk 0 serves reads again after a reset\n");
}
