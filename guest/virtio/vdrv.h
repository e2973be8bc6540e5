/* SPDX-License-Identifier: MIT */
/*
 * The test guest's virtio drivers: PCI enumeration the way Linux does it (BAR sizing, capability
 * walk, MSI-X), the modern virtio-pci transport, split or (kite.packed=1) packed virtqueues with
 * polled or interrupt-driven completion, and the virtio-blk tests built on them. Packed mode goes
 * through vq_publish / vq_submit / vq_wait (and vq_packed_endless for the hostile loop); the
 * hostile scribble test and the MSI-X mask check, which write or poll the split rings themselves,
 * are split-only.
 */
#ifndef GUEST_VIRTIO_VDRV_H
#define GUEST_VIRTIO_VDRV_H

#include "../guest.h"

static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
static inline uint32_t inl(uint16_t port) { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint8_t mmio_read8(uint64_t a) { return *(volatile uint8_t *)a; }
static inline uint16_t mmio_read16(uint64_t a) { return *(volatile uint16_t *)a; }
static inline void mmio_write8(uint64_t a, uint8_t v) { *(volatile uint8_t *)a = v; }
static inline void mmio_write16(uint64_t a, uint16_t v) { *(volatile uint16_t *)a = v; }
static inline void barrier(void) { __asm__ volatile("mfence" ::: "memory"); }

/* pci_enum.c */
uint32_t pci_cfg_read32(unsigned slot, unsigned off);
void pci_cfg_write32(unsigned slot, unsigned off, uint32_t v);
uint16_t pci_cfg_read16(unsigned slot, unsigned off);
void pci_cfg_write16(unsigned slot, unsigned off, uint16_t v);
uint8_t pci_cfg_read8(unsigned slot, unsigned off);
/* Identity-map [addr, addr + size) uncached (the guest's own map covers only the first GiB). */
void map_mmio(uint64_t addr, uint64_t size);

#define VQ_SIZE 16

struct vring_desc { uint64_t addr; uint32_t len; uint16_t flags, next; } __attribute__((packed));
#define VRING_DESC_F_NEXT  1
#define VRING_DESC_F_WRITE 2

/* Packed ring (virtio 1.2, 2.8): descriptors with a buffer id, flags AVAIL (bit 7) / USED (bit 15)
 * compared with wrap counters; event suppression {off_wrap, flags} in the driver and device areas. */
struct vring_packed_desc { uint64_t addr; uint32_t len; uint16_t id, flags; } __attribute__((packed));
#define VRING_PACKED_F_AVAIL (1u << 7)
#define VRING_PACKED_F_USED  (1u << 15)
#define VRING_PACKED_EVENT_ENABLE  0
#define VRING_PACKED_EVENT_DISABLE 1
#define VIRTIO_F_RING_PACKED 34

struct vdev {
	bool mmio;                    /* virtio-mmio v2 at base, else virtio-pci */
	uint64_t base;
	unsigned mmio_irq;             /* IOAPIC pin from virtio_mmio.device=...:<irq> */
	unsigned slot;
	uint16_t device_id;           /* virtio id */
	uint64_t bar[6];
	uint32_t bar_size[6];
	uint64_t common, isr, device, notify;
	uint32_t notify_mult;
	uint8_t msix_cap;
	uint64_t msix_table, msix_pba;
	unsigned msix_n;
	bool use_irq;
	uint8_t irq_vector;
	uint64_t features;            /* negotiated */
	/* the one queue the driver uses (index qidx, 0 unless set before vdev_start) */
	uint16_t qidx;
	uint16_t qsize;                /* entries: min(device maximum, VQ_SIZE) */
	uint16_t q_notify_off;
	struct vring_desc *desc;
	volatile uint16_t *avail;      /* flags, idx, ring[] */
	volatile uint8_t *used;        /* flags, idx, ring[] of {u32 id, u32 len} */
	uint16_t avail_idx, used_seen;
	uint16_t last_id;              /* buffer id (split: head) of the last element vq_wait() took */
	/* packed mode (kite.packed=1 and RING_PACKED negotiated): desc above is a split-layout shadow
	 * table the callers fill; vq_publish() copies a chain from it into the packed ring. */
	bool packed;
	volatile struct vring_packed_desc *pring;
	volatile uint16_t *drv_event, *dev_event;   /* {off_wrap, flags} */
	uint16_t next_avail, next_used;
	bool avail_wrap, used_wrap;
	uint16_t chain_len[VQ_SIZE];   /* descriptors of the buffer with that id */
	volatile uint64_t irqs;
	uint64_t irqs_at_kick;
};

/* Find the n-th (0-based) virtio device with virtio id `id`: sizes BARs, walks capabilities, turns
 * memory decoding and bus mastering on. false if none. */
bool vdev_find(struct vdev *d, uint16_t id, unsigned n);
/* Find the n-th virtio-mmio device with id `id` among the virtio_mmio.device= words of the command
 * line. false if none. */
bool vdev_find_mmio(struct vdev *d, uint16_t id, unsigned n);
/* Reset, negotiate (want = feature bits wanted besides VERSION_1; refused ones dropped; with
 * kite.packed=1 on the command line RING_PACKED is required too), set up
 * queue qidx in ring memory slot `ring`, MSI-X vector if use_irq, DRIVER_OK. 0 or a guest_exit code. */
int vdev_start(struct vdev *d, uint64_t want, unsigned ring);
/* The same in steps, for devices with several queues: begin (reset .. FEATURES_OK), one
 * vdev_queue() per queue (d->qidx, on copies of d sharing the transport), then vdev_go (DRIVER_OK). */
int vdev_begin(struct vdev *d, uint64_t want);
int vdev_queue(struct vdev *d, unsigned ring);
int vdev_go(struct vdev *d);
uint8_t vdev_status(struct vdev *d);
/* Wait (up to ~30 s) for DEVICE_NEEDS_RESET after `after` happened, then print
 * "virtio-net-ping: <after>: device reports DEVICE_NEEDS_RESET"; fails the test on timeout. */
void vdev_wait_needs_reset(struct vdev *d, const char *after);
/* Queue a chain of n buffers (addr, len, writable) and kick. */
void vq_submit(struct vdev *d, const uint64_t *addr, const uint32_t *len, const bool *wr, unsigned n);
/* Wait for one used element; returns false on timeout (seconds of TSC at ~1 GHz+). */
bool vq_wait(struct vdev *d, uint32_t *len);
/* The same, giving up after `cycles` TSC cycles. */
bool vq_wait_cycles(struct vdev *d, uint32_t *len, uint64_t cycles);
/* Raw ring access for the hostile tests. */
static inline struct vring_desc *vq_desc(struct vdev *d) { return d->desc; }
void vq_publish(struct vdev *d, uint16_t head);
/* Packed only, hostile: every slot of the ring, from the next free one round to it again, gets a
 * descriptor (addr, len) with NEXT set, all made available: one chain that never ends. Kicks. */
void vq_packed_endless(struct vdev *d, uint64_t addr, uint32_t len);

/* test_virtio_misc.c */
void test_virtio_rng(void);
void test_virtio_console(void);
void test_virtio_balloon(void);
/* test_virtio_net.c */
void test_virtio_net(void);
/* test_virtio_balloon.c */
void test_virtio_balloon_stats(void);
/* net_ping.c */
void test_virtio_net_ping(void);
/* net_mq.c */
void test_virtio_net_mq(void);
/* net_ctrl.c: the virtio-net control queue c. net_ctrl_cmd: one command with len data bytes (0..8),
 * returns the device's status (0 OK, 1 ERR; anything else fails the test). net_ctrl_checks: good and
 * refused commands (MQ VQ_PAIRS_SET up to `pairs`, ends with 1 pair). net_ctrl_malformed: a command
 * without a status byte, then waits for DEVICE_NEEDS_RESET. */
int net_ctrl_cmd(struct vdev *c, uint8_t cls, uint8_t cmd, const uint8_t *data, uint32_t len);
void net_ctrl_checks(struct vdev *c, uint16_t pairs);
void net_ctrl_malformed(struct vdev *c);

/* test_virtio_blk.c */
void test_virtio_blk(void);
void test_virtio_blk_stream(void);
void test_virtio_blk_evil(void);

#endif
