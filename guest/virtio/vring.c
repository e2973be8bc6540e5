/* SPDX-License-Identifier: MIT */
/* Modern virtio-pci / virtio-mmio driver core: status handshake, features, one split or packed
 * queue, MSI-X, kicks. */
#include "vdrv.h"

#define C_DFSELECT 0x00
#define C_DF       0x04
#define C_GFSELECT 0x08
#define C_GF       0x0c
#define C_MSIX     0x10
#define C_STATUS   0x14
#define C_QSELECT  0x16
#define C_QSIZE    0x18
#define C_QMSIX    0x1a
#define C_QENABLE  0x1c
#define C_QNOFF    0x1e
#define C_QDESC    0x20
#define C_QAVAIL   0x28
#define C_QUSED    0x30

#define S_ACK 1
#define S_DRIVER 2
#define S_DRIVER_OK 4
#define S_FEATURES_OK 8

#define RING_SLOTS 12     /* queues set up at once (a 4-pair virtio-net with its control queue: 9) */
#define RING_IRQ_SLOTS 8  /* the first ones may take interrupts: vectors IRQ_VECTOR_BASE .. +7 */
#define IRQ_VECTOR_BASE 0x48   /* the guest installs IDT gates up to TIMER_VECTOR_MAX (0x4f) */

static uint8_t ring_mem[RING_SLOTS][8192] __attribute__((aligned(4096)));
static struct vdev *irq_owner[RING_SLOTS];
/* packed mode: the split-layout descriptor tables the callers fill (vq_publish copies chains out) */
static struct vring_desc shadow_desc[RING_SLOTS][VQ_SIZE];

static void vdev_irq(struct irq_frame *f)
{
	unsigned i = (unsigned)(f->vector - IRQ_VECTOR_BASE);

	if (i < RING_SLOTS && irq_owner[i]) {
		struct vdev *d = irq_owner[i];

		if (d->mmio) {
			/* level interrupt: acknowledge what is pending, which lowers the line */
			uint32_t st = mmio_read32(d->base + 0x060);

			mmio_write32(d->base + 0x064, st);
		}
		d->irqs++;
	}
	lapic_eoi();
}

/* virtio-mmio v2 registers */
#define M_DF       0x010
#define M_DFSEL    0x014
#define M_GF       0x020
#define M_GFSEL    0x024
#define M_QSEL     0x030
#define M_QNUMMAX  0x034
#define M_QNUM     0x038
#define M_QREADY   0x044
#define M_QNOTIFY  0x050
#define M_STATUS   0x070
#define M_QDESC    0x080
#define M_QDRIVER  0x090
#define M_QDEVICE  0x0a0

uint8_t vdev_status(struct vdev *d)
{
	return d->mmio ? (uint8_t)mmio_read32(d->base + M_STATUS) : mmio_read8(d->common + C_STATUS);
}

void vdev_wait_needs_reset(struct vdev *d, const char *after)
{
	uint64_t t0 = rdtsc();

	while (!(vdev_status(d) & 0x40)) {
		if (rdtsc() - t0 > 30ULL * 1000 * 1000 * 1000)
			guest_fail(GUEST_EXIT_TIMEOUT, "no DEVICE_NEEDS_RESET after %s (status 0x%x)", after, vdev_status(d));
		cpu_relax();
	}
	guest_printf("virtio-net-ping: %s: device reports DEVICE_NEEDS_RESET (status 0x%x)\n", after, vdev_status(d));
}

static void set_status(struct vdev *d, uint8_t s)
{
	if (d->mmio)
		mmio_write32(d->base + M_STATUS, s);
	else
		mmio_write8(d->common + C_STATUS, s);
}

static uint32_t read_df(struct vdev *d, unsigned sel)
{
	if (d->mmio) {
		mmio_write32(d->base + M_DFSEL, sel);
		return mmio_read32(d->base + M_DF);
	}
	mmio_write32(d->common + C_DFSELECT, sel);
	return mmio_read32(d->common + C_DF);
}

static void write_gf(struct vdev *d, unsigned sel, uint32_t v)
{
	if (d->mmio) {
		mmio_write32(d->base + M_GFSEL, sel);
		mmio_write32(d->base + M_GF, v);
		return;
	}
	mmio_write32(d->common + C_GFSELECT, sel);
	mmio_write32(d->common + C_GF, v);
}

static void write64(uint64_t a, uint64_t v)
{
	mmio_write32(a, (uint32_t)v);
	mmio_write32(a + 4, (uint32_t)(v >> 32));
}

static int setup_msix(struct vdev *d, unsigned ring)
{
	uint16_t ctrl;

	if (!d->msix_cap || !d->msix_n) {
		guest_printf("virtio: slot %u has no MSI-X\n", d->slot);
		return GUEST_EXIT_CHECK;
	}
	d->irq_vector = (uint8_t)(IRQ_VECTOR_BASE + ring);
	irq_owner[ring] = d;
	irq_set_handler(d->irq_vector, vdev_irq);
	lapic_enable();
	/* entry 0 -> this CPU's LAPIC, fixed delivery, vector irq_vector; then unmask */
	mmio_write32(d->msix_table + 0, 0xfee00000u | (lapic_id() << 12));
	mmio_write32(d->msix_table + 4, 0);
	mmio_write32(d->msix_table + 8, d->irq_vector);
	mmio_write32(d->msix_table + 12, 0);
	ctrl = pci_cfg_read16(d->slot, d->msix_cap + 2);
	pci_cfg_write16(d->slot, d->msix_cap + 2, (uint16_t)((ctrl | 0x8000) & ~0x4000));
	/* configuration changes (e.g. DEVICE_NEEDS_RESET) share vector 0 with the queue */
	mmio_write16(d->common + C_MSIX, 0);
	if (mmio_read16(d->common + C_MSIX) != 0) {
		guest_printf("virtio: slot %u refused MSI-X vector 0 for configuration changes\n", d->slot);
		return GUEST_EXIT_CHECK;
	}
	mmio_write16(d->common + C_QMSIX, 0);
	if (mmio_read16(d->common + C_QMSIX) != 0) {
		guest_printf("virtio: slot %u refused MSI-X vector 0 for queue 0\n", d->slot);
		return GUEST_EXIT_CHECK;
	}
	return 0;
}

int vdev_begin(struct vdev *d, uint64_t want)
{
	bool want_packed = cmdline_u64("kite.packed", 0);
	uint64_t offered;

	if (want_packed)
		want |= 1ULL << VIRTIO_F_RING_PACKED;

	set_status(d, 0);
	if (vdev_status(d) != 0) {
		guest_printf("virtio: slot %u: reset did not clear the status\n", d->slot);
		return GUEST_EXIT_CHECK;
	}
	set_status(d, S_ACK);
	set_status(d, S_ACK | S_DRIVER);
	offered = read_df(d, 0) | (uint64_t)read_df(d, 1) << 32;
	if (!(offered & (1ULL << 32))) {
		guest_printf("virtio: slot %u does not offer VERSION_1\n", d->slot);
		return GUEST_EXIT_CHECK;
	}
	d->features = (offered & want) | (1ULL << 32);
	if (want_packed && !(d->features & (1ULL << VIRTIO_F_RING_PACKED))) {
		guest_printf("virtio: slot %u does not offer RING_PACKED (kite.packed=1)\n", d->slot);
		return GUEST_EXIT_CHECK;
	}
	d->packed = want_packed;
	write_gf(d, 0, (uint32_t)d->features);
	write_gf(d, 1, (uint32_t)(d->features >> 32));
	set_status(d, S_ACK | S_DRIVER | S_FEATURES_OK);
	if (!(vdev_status(d) & S_FEATURES_OK)) {
		guest_printf("virtio: slot %u refused features 0x%lx\n", d->slot, d->features);
		return GUEST_EXIT_CHECK;
	}
	guest_printf("virtio: slot %u features offered 0x%lx, accepted 0x%lx\n", d->slot, offered, d->features);
	return 0;
}

int vdev_queue(struct vdev *d, unsigned ring)
{
	uint64_t want_size;
	uint16_t qsize;
	uint8_t *mem;

	if (ring >= RING_SLOTS || (d->use_irq && ring >= RING_IRQ_SLOTS))
		return GUEST_EXIT_USAGE;

	if (d->mmio) {
		mmio_write32(d->base + M_QSEL, d->qidx);
		qsize = (uint16_t)mmio_read32(d->base + M_QNUMMAX);
	} else {
		mmio_write16(d->common + C_QSELECT, d->qidx);
		qsize = mmio_read16(d->common + C_QSIZE);
	}
	/* split sizes are powers of two; packed ones any size (virtio 1.2, 2.8.10.1) */
	if (qsize < 4 || (!d->packed && (qsize & (qsize - 1)))) {
		guest_printf("virtio: slot %u queue %u: bad size %u\n", d->slot, d->qidx, qsize);
		return GUEST_EXIT_CHECK;
	}
	d->qsize = qsize < VQ_SIZE ? qsize : VQ_SIZE;
	/* kite.qsize=N: a smaller queue (packed rings take any size, e.g. 7, so chains cross the wrap) */
	want_size = cmdline_u64("kite.qsize", 0);
	if (want_size >= 4 && want_size < d->qsize)
		d->qsize = (uint16_t)want_size;
	mem = ring_mem[ring];
	memset(mem, 0, sizeof(ring_mem[ring]));
	d->desc = (struct vring_desc *)mem;
	d->avail = (volatile uint16_t *)(mem + 1024);
	d->used = mem + 2048;
	d->avail_idx = d->used_seen = 0;
	if (d->packed) {
		/* same three areas: descriptor ring, driver event suppression, device event suppression */
		d->pring = (volatile struct vring_packed_desc *)mem;
		d->drv_event = (volatile uint16_t *)(mem + 1024);
		d->dev_event = (volatile uint16_t *)(mem + 2048);
		d->drv_event[0] = 0;
		d->drv_event[1] = VRING_PACKED_EVENT_ENABLE;   /* used buffer notifications wanted */
		d->next_avail = d->next_used = 0;
		d->avail_wrap = d->used_wrap = true;
		memset(d->chain_len, 0, sizeof(d->chain_len));
		memset(shadow_desc[ring], 0, sizeof(shadow_desc[ring]));
		d->desc = shadow_desc[ring];
		guest_printf("virtio: slot %u queue %u: packed ring of %u\n", d->slot, d->qidx, d->qsize);
	}
	if (d->mmio) {
		if (d->use_irq) {
			if (!d->mmio_irq || d->mmio_irq >= 24)
				return GUEST_EXIT_USAGE;
			d->irq_vector = (uint8_t)(IRQ_VECTOR_BASE + ring);
			irq_owner[ring] = d;
			irq_set_handler(d->irq_vector, vdev_irq);
			lapic_enable();
			ioapic_route(KITE_IOAPIC_GPA, d->mmio_irq, d->irq_vector, lapic_id());
		}
		mmio_write32(d->base + M_QNUM, d->qsize);
		write64(d->base + M_QDESC, (uint64_t)(uintptr_t)mem);
		write64(d->base + M_QDRIVER, (uint64_t)(uintptr_t)d->avail);
		write64(d->base + M_QDEVICE, (uint64_t)(uintptr_t)d->used);
		mmio_write32(d->base + M_QREADY, 1);
		return 0;
	}
	mmio_write16(d->common + C_QSIZE, d->qsize);
	write64(d->common + C_QDESC, (uint64_t)(uintptr_t)mem);
	write64(d->common + C_QAVAIL, (uint64_t)(uintptr_t)d->avail);
	write64(d->common + C_QUSED, (uint64_t)(uintptr_t)d->used);
	d->q_notify_off = mmio_read16(d->common + C_QNOFF);
	if (d->use_irq) {
		int r = setup_msix(d, ring);

		if (r)
			return r;
	}
	mmio_write16(d->common + C_QENABLE, 1);
	return 0;
}

int vdev_go(struct vdev *d)
{
	set_status(d, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	if (!(vdev_status(d) & S_DRIVER_OK)) {
		guest_printf("virtio: slot %u did not take DRIVER_OK (status 0x%x)\n", d->slot, vdev_status(d));
		return GUEST_EXIT_CHECK;
	}
	return 0;
}

int vdev_start(struct vdev *d, uint64_t want, unsigned ring)
{
	int r = vdev_begin(d, want);

	if (!r)
		r = vdev_queue(d, ring);
	if (!r)
		r = vdev_go(d);
	return r;
}

static void notify(struct vdev *d)
{
	if (d->mmio)
		mmio_write32(d->base + M_QNOTIFY, d->qidx);
	else
		mmio_write16(d->notify + (uint64_t)d->q_notify_off * d->notify_mult, d->qidx);
}

/*
 * Packed: the chain at `head` of the shadow table goes into the ring at next_avail, buffer id =
 * head; the head's flags are written last, after a barrier, so the device sees the whole chain.
 */
static void packed_publish(struct vdev *d, uint16_t head)
{
	uint16_t idx[VQ_SIZE], slot = d->next_avail, head_slot = d->next_avail, head_flags = 0;
	bool wrap = d->avail_wrap;
	unsigned n = 0, i = head;

	if (head >= d->qsize)
		guest_fail(GUEST_EXIT_USAGE, "packed publish of head %u (queue size %u)", head, d->qsize);
	for (;;) {
		idx[n++] = (uint16_t)i;
		if (!(d->desc[i].flags & VRING_DESC_F_NEXT))
			break;
		i = d->desc[i].next;
		if (i >= d->qsize || n == d->qsize)
			guest_fail(GUEST_EXIT_USAGE, "bad chain at head %u", head);
	}
	for (unsigned k = 0; k < n; k++) {
		const struct vring_desc *sd = &d->desc[idx[k]];
		uint16_t f = (uint16_t)(sd->flags & (VRING_DESC_F_NEXT | VRING_DESC_F_WRITE));

		f |= wrap ? VRING_PACKED_F_AVAIL : VRING_PACKED_F_USED;
		d->pring[slot].addr = sd->addr;
		d->pring[slot].len = sd->len;
		d->pring[slot].id = head;
		if (k == 0)
			head_flags = f;
		else
			d->pring[slot].flags = f;
		if (++slot == d->qsize) {
			slot = 0;
			wrap = !wrap;
		}
	}
	d->chain_len[head] = (uint16_t)n;
	d->next_avail = slot;
	d->avail_wrap = wrap;
	barrier();
	d->pring[head_slot].flags = head_flags;
	barrier();
	/* the device event suppression area says whether it wants this notification */
	if (d->dev_event[1] != VRING_PACKED_EVENT_DISABLE)
		notify(d);
}

void vq_publish(struct vdev *d, uint16_t head)
{
	d->irqs_at_kick = d->irqs;
	if (d->packed) {
		packed_publish(d, head);
		return;
	}
	d->avail[2 + (d->avail_idx % d->qsize)] = head;
	barrier();
	d->avail_idx++;
	d->avail[1] = d->avail_idx;
	barrier();
	notify(d);
}

void vq_packed_endless(struct vdev *d, uint64_t addr, uint32_t len)
{
	uint16_t slot = d->next_avail, head = d->next_avail, head_flags = 0;
	bool wrap = d->avail_wrap;

	d->irqs_at_kick = d->irqs;
	for (unsigned k = 0; k < d->qsize; k++) {
		uint16_t f = (uint16_t)(VRING_DESC_F_NEXT | (wrap ? VRING_PACKED_F_AVAIL : VRING_PACKED_F_USED));

		d->pring[slot].addr = addr;
		d->pring[slot].len = len;
		d->pring[slot].id = 0;
		if (k)
			d->pring[slot].flags = f;
		else
			head_flags = f;
		if (++slot == d->qsize) {
			slot = 0;
			wrap = !wrap;
		}
	}
	barrier();
	d->pring[head].flags = head_flags;   /* the head last: the device sees the whole chain at once */
	barrier();
	notify(d);
}

void vq_submit(struct vdev *d, const uint64_t *addr, const uint32_t *len, const bool *wr, unsigned n)
{
	/* one request in flight at a time: descriptors 0..n-1 */
	for (unsigned i = 0; i < n; i++) {
		d->desc[i].addr = addr[i];
		d->desc[i].len = len[i];
		d->desc[i].flags = (uint16_t)((i + 1 < n ? VRING_DESC_F_NEXT : 0) | (wr[i] ? VRING_DESC_F_WRITE : 0));
		d->desc[i].next = (uint16_t)(i + 1);
	}
	vq_publish(d, 0);
}

/* Packed: the descriptor at next_used is used when AVAIL and USED both equal the used wrap counter;
 * its id says which buffer, whose descriptor count the position skips. */
static bool packed_wait(struct vdev *d, uint32_t *len, uint64_t t0, uint64_t cycles)
{
	volatile struct vring_packed_desc *u = &d->pring[d->next_used];
	uint16_t f, id, n;

	for (;;) {
		f = u->flags;
		if (!!(f & VRING_PACKED_F_AVAIL) == d->used_wrap && !!(f & VRING_PACKED_F_USED) == d->used_wrap)
			break;
		cpu_relax();
		if (rdtsc() - t0 > cycles)
			return false;
	}
	barrier();
	id = u->id;
	if (id >= d->qsize || !d->chain_len[id])
		guest_fail(GUEST_EXIT_CHECK, "packed used descriptor at %u: id %u is not in flight", d->next_used, id);
	if (len)
		*len = u->len;
	n = d->chain_len[id];
	d->chain_len[id] = 0;
	d->next_used = (uint16_t)(d->next_used + n);
	if (d->next_used >= d->qsize) {
		d->next_used = (uint16_t)(d->next_used - d->qsize);
		d->used_wrap = !d->used_wrap;
	}
	d->last_id = id;
	d->used_seen++;
	return true;
}

bool vq_wait(struct vdev *d, uint32_t *len)
{
	return vq_wait_cycles(d, len, 30ULL * 1000 * 1000 * 1000);
}

bool vq_wait_cycles(struct vdev *d, uint32_t *len, uint64_t cycles)
{
	uint64_t t0 = rdtsc();
	volatile uint16_t *used_idx = (volatile uint16_t *)(d->used + 2);

	/* Interrupt-driven: sleep until this request's interrupt arrived, then look at the ring. */
	while (d->use_irq && d->irqs == d->irqs_at_kick) {
		__asm__ volatile("sti; hlt; cli" ::: "memory");
		if (rdtsc() - t0 > cycles)
			return false;
	}
	if (d->packed)
		return packed_wait(d, len, t0, cycles);
	while (*used_idx == d->used_seen) {
		cpu_relax();
		if (rdtsc() - t0 > cycles)
			return false;
	}
	barrier();
	if (len)
		*len = *(volatile uint32_t *)(d->used + 4 + 8 * (d->used_seen % d->qsize) + 4);
	d->last_id = (uint16_t)*(volatile uint32_t *)(d->used + 4 + 8 * (d->used_seen % d->qsize));
	d->used_seen++;
	return true;
}
