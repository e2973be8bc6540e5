/* SPDX-License-Identifier: MIT */
/*
 * Snapshots of the PCI bus, the virtio-pci transport and the virtio core, without KVM: a driver
 * sets up a device on fake machine A (tests/lib/machine): BAR moved, MSI-X on with programmed
 * vectors, features negotiated, a split queue with one request served and one in flight. The
 * state goes through a VM-state file to the same device on machine B (its RAM a copy of A's, as
 * the memory file would give): the registers read back the same, the doorbells sit on the moved
 * BAR, every programmed vector has its MSI route, the ring position is kept (the in-flight request
 * is completed by B) and the queue is kicked once. Bad values are refused with their reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake_machine.h"
#include "kite/evloop.h"
#include "kite/iobus.h"
#include "kite/log.h"
#include "kite/pci.h"
#include "kite/snapshot.h"
#include "kite/virtio_pci.h"
#include "kite/virtio_ring.h"
#include "kite/virtio_transport.h"

#define RAM_SIZE (1u << 20)
#define BAR_AT 0xe8000000u
#define DESC 0x1000
#define AVAIL 0x2000
#define USED 0x3000

struct side {
	struct fake_machine fm;
	struct pci_bus *bus;
	struct virtio_transport_host host;
	struct virtio_dev vdev;
	struct virtio_attachment *at;
	int notified;
};

static struct side a, b;

static void t_config_read(struct virtio_dev *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	(void)dev;
	(void)off;
	memset(data, 0, len);
}

static void t_queue_notify(struct virtio_dev *dev, unsigned q)
{
	struct side *s = dev == &a.vdev ? &a : &b;

	(void)q;
	s->notified++;
}

static const struct virtio_dev_ops t_ops = {
	.device_id = 4,
	.config_size = 8,
	.config_read = t_config_read,
	.queue_notify = t_queue_notify,
};

static void side_up(struct side *s)
{
	fake_machine_init(&s->fm, RAM_SIZE);
	s->bus = pci_bus_new(&s->fm.m, (struct machine_event){ 0 });
	assert_non_null(s->bus);
	s->host.pci = s->bus;
	assert_int_equal(virtio_dev_init(&s->vdev, &s->fm.m, "virtio-test0", &t_ops, NULL, 1ULL << 1, 2, 64), 0);
	s->at = virtio_transport_attach(&s->vdev, VIRTIO_TRANSPORT_PCI, &s->host);
	assert_non_null(s->at);
	s->notified = 0;
}

static void side_down(struct side *s)
{
	virtio_transport_detach(s->at);
	virtio_dev_exit(&s->vdev);
	pci_bus_free(s->bus);
	fake_machine_fini(&s->fm);
}

static int setup(void **state)
{
	(void)state;
	kite_log_init("test_snapshot_unit", KITE_LOG_ERR + 1);
	side_up(&a);
	side_up(&b);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	side_down(&a);
	side_down(&b);
	return 0;
}

static void cfg_write(struct side *s, unsigned off, unsigned len, uint32_t v)
{
	uint32_t addr = 0x80000000u | 1u << 11 | (off & 0xfc);

	iobus_access(s->fm.m.pio, 0xcf8, (uint8_t *)&addr, 4, true);
	iobus_access(s->fm.m.pio, 0xcfc + (off & 3), (uint8_t *)&v, len, true);
}

static uint32_t cfg_read(struct side *s, unsigned off, unsigned len)
{
	uint32_t addr = 0x80000000u | 1u << 11 | (off & 0xfc), v = 0;

	iobus_access(s->fm.m.pio, 0xcf8, (uint8_t *)&addr, 4, true);
	iobus_access(s->fm.m.pio, 0xcfc + (off & 3), (uint8_t *)&v, len, false);
	return v;
}

static void w(struct side *s, uint64_t off, unsigned len, uint64_t v)
{
	assert_true(iobus_access(s->fm.m.mmio, BAR_AT + off, (uint8_t *)&v, len, true));
}

static uint64_t r(struct side *s, uint64_t off, unsigned len)
{
	uint64_t v = 0;

	if (!iobus_access(s->fm.m.mmio, BAR_AT + off, (uint8_t *)&v, len, false))
		return ~0ULL;
	return v;
}

static struct virtio_pci *vp(struct side *s)
{
	return s->vdev.transport;
}

/* The driver on A: BAR at BAR_AT, MSI-X with vectors 0 and 1 programmed, queue 1 running. */
static void drive_a(void)
{
	struct vring_desc *d = machine_gpa(&a.fm.m, DESC, 16 * sizeof(*d));
	struct vring_avail *av = machine_gpa(&a.fm.m, AVAIL, 64);
	struct virtqueue *vq = &a.vdev.q[1].vq;
	uint8_t msix = vp(&a)->pci.msix_cap;
	struct vq_elem e;

	cfg_write(&a, 0x10, 4, BAR_AT);
	cfg_write(&a, 0x04, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	cfg_write(&a, msix + 2, 2, PCI_MSIX_FLAGS_ENABLE);
	for (unsigned v = 0; v < 2; v++) {
		w(&a, VIRTIO_PCI_MSIX_OFF + 16 * v, 4, 0xfee00000u + v);
		w(&a, VIRTIO_PCI_MSIX_OFF + 16 * v + 8, 4, 0x40 + v);
		w(&a, VIRTIO_PCI_MSIX_OFF + 16 * v + 12, 4, 0);        /* unmasked */
	}
	w(&a, VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	w(&a, VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
	w(&a, VIRTIO_PCI_COMMON_GF, 4, 2);
	w(&a, VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	w(&a, VIRTIO_PCI_COMMON_GF, 4, 1);
	w(&a, VIRTIO_PCI_COMMON_STATUS, 1, 0x0b);
	w(&a, VIRTIO_PCI_COMMON_MSIX, 2, 0);
	w(&a, VIRTIO_PCI_COMMON_Q_SELECT, 2, 1);
	w(&a, VIRTIO_PCI_COMMON_Q_SIZE, 2, 16);
	w(&a, VIRTIO_PCI_COMMON_Q_DESCLO, 8, DESC);
	w(&a, VIRTIO_PCI_COMMON_Q_AVAILLO, 8, AVAIL);
	w(&a, VIRTIO_PCI_COMMON_Q_USEDLO, 8, USED);
	w(&a, VIRTIO_PCI_COMMON_Q_MSIX, 2, 1);
	w(&a, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	w(&a, VIRTIO_PCI_COMMON_STATUS, 1, 0x0f);
	assert_int_equal(r(&a, VIRTIO_PCI_COMMON_STATUS, 1), 0x0f);
	/* two requests made available; the device serves one and holds the other */
	for (unsigned i = 0; i < 2; i++) {
		d[i] = (struct vring_desc){ .addr = 0x8000 + 0x100 * i, .len = 64, .flags = VRING_DESC_F_WRITE };
		av->ring[i] = (uint16_t)i;
	}
	av->idx = 2;
	assert_int_equal(vq_pop(vq, &e), 1);
	vq_push(vq, &e, 8);
	assert_int_equal(vq_pop(vq, &e), 1);
	assert_int_equal(vq->last_avail_idx, 2);
	assert_int_equal(vq->used_idx, 1);
}

static struct snap_reader *save(struct side *s)
{
	struct snap_writer *wr = snap_writer_new();
	const uint8_t *buf;
	struct snap_reader *rd;
	char err[256];
	size_t len;

	pci_bus_save(s->bus, wr);
	snap_section_begin(wr, "virtio", 0, VIRTIO_SNAP_VERSION);
	virtio_transport_save(s->at, wr);
	snap_section_end(wr);
	assert_int_equal(snap_writer_bytes(wr, &buf, &len, err, sizeof(err)), 0);
	rd = snap_reader_parse(buf, len, err, sizeof(err));
	assert_non_null(rd);
	snap_writer_free(wr);
	return rd;
}

/* Restore into b: 0, or -1 with err. */
static int restore_b(struct snap_reader *rd, char *err, size_t errlen)
{
	struct snap_cursor c;

	memcpy(b.fm.ram, a.fm.ram, RAM_SIZE);     /* what the memory file gives */
	if (pci_bus_restore(b.bus, rd, err, errlen) < 0)
		return -1;
	if (snap_section_open(rd, "virtio", 0, VIRTIO_SNAP_VERSION, &c, err, errlen) < 0)
		return -1;
	virtio_transport_restore(b.at, &c);
	return snap_cursor_finish(&c, err, errlen);
}

static void test_round_trip(void **state)
{
	struct virtqueue *vq = &b.vdev.q[1].vq;
	struct vring_used *used;
	struct snap_reader *rd;
	char err[256];
	struct vq_elem e;

	(void)state;
	drive_a();
	rd = save(&a);
	assert_int_equal(restore_b(rd, err, sizeof(err)), 0);
	assert_null(snap_reader_unconsumed(rd, NULL));
	snap_reader_free(rd);

	/* configuration space and BAR: decoded where the guest put it, doorbells there */
	assert_int_equal(cfg_read(&b, 0x10, 4), BAR_AT);
	assert_int_equal(cfg_read(&b, 0x04, 2), PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	assert_non_null(fake_machine_doorbell(&b.fm, BAR_AT + VIRTIO_PCI_NOTIFY_OFF + VIRTIO_PCI_NOTIFY_MULT, 0));
	assert_int_equal(b.fm.ndoorbells, a.fm.ndoorbells);
	/* MSI-X: enabled, table entries, routes installed for the programmed vectors */
	assert_true(pci_msix_enabled(&vp(&b)->pci));
	for (unsigned v = 0; v < 2; v++) {
		unsigned gsi = vp(&b)->pci.msix[v].gsi;

		assert_int_equal(r(&b, VIRTIO_PCI_MSIX_OFF + 16 * v, 4), 0xfee00000u + v);
		assert_true(b.fm.msi[gsi].valid);
		assert_int_equal(b.fm.msi[gsi].addr, 0xfee00000u + v);
		assert_int_equal(b.fm.msi[gsi].data, 0x40 + v);
	}
	/* the virtio registers */
	assert_int_equal(r(&b, VIRTIO_PCI_COMMON_STATUS, 1), 0x0f);
	assert_int_equal(b.vdev.guest_features, (1ULL << 32) | 2);
	assert_int_equal(r(&b, VIRTIO_PCI_COMMON_MSIX, 2), 0);
	assert_int_equal(r(&b, VIRTIO_PCI_COMMON_Q_SELECT, 2), 1);
	assert_int_equal(r(&b, VIRTIO_PCI_COMMON_Q_SIZE, 2), 16);
	assert_int_equal(r(&b, VIRTIO_PCI_COMMON_Q_MSIX, 2), 1);
	assert_int_equal(r(&b, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 1);
	assert_int_equal(r(&b, VIRTIO_PCI_COMMON_Q_USEDLO, 4), USED);
	/* the ring position: the held request completes on B, nothing is served twice */
	assert_true(vq->ready);
	assert_int_equal(vq->last_avail_idx, 2);
	assert_int_equal(vq->used_idx, 1);
	assert_int_equal(vq_pop(vq, &e), 0);
	e = (struct vq_elem){ .id = 1, .ndescs = 1, .in_len = 64 };
	vq_push(vq, &e, 4);
	used = machine_gpa(&b.fm.m, USED, 64);
	assert_int_equal(used->idx, 2);
	assert_int_equal(used->ring[1].id, 1);
	/* both queues enabled by the driver were kicked once: the device looks at them */
	b.notified = 0;
	evloop_run_once(b.fm.m.loop, 0);
	assert_int_equal(b.notified, 1);
}

/* Values a restore must refuse (each on a fresh save of A, changed where the value lives). */
static void test_refusals(void **state)
{
	static const char *const why[] = { "power of two", "beyond the table", "impossible bits", "does not offer",
					    "in flight" };
	char err[256];

	(void)state;
	drive_a();
	for (unsigned i = 0; i < sizeof(why) / sizeof(why[0]); i++) {
		struct virtio_queue saved_q = a.vdev.q[1];
		uint8_t saved_status = a.vdev.status;
		uint64_t saved_features = a.vdev.guest_features;
		struct snap_reader *rd;

		switch (i) {
		case 0: a.vdev.q[1].size = 12; break;
		case 1: a.vdev.q[1].vector = 7; break;
		case 2: a.vdev.status = VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_DRIVER; break;
		case 3: a.vdev.guest_features |= 1ULL << 5; break;
		case 4: a.vdev.q[1].vq.last_avail_idx = 40; break;
		}
		rd = save(&a);
		a.vdev.q[1] = saved_q;
		a.vdev.status = saved_status;
		a.vdev.guest_features = saved_features;
		assert_int_equal(restore_b(rd, err, sizeof(err)), -1);
		if (!strstr(err, why[i]) || !strstr(err, "'virtio' 0"))
			fail_msg("case %u: '%s' does not say '%s'", i, err, why[i]);
		snap_reader_free(rd);
		/* nothing of the core was applied */
		assert_int_equal(b.vdev.status, 0);
		assert_false(b.vdev.q[1].vq.ready);
	}
}

/* A function whose read-only bytes differ (another device in the slot) is refused. */
static void test_other_function(void **state)
{
	struct snap_reader *rd;
	char err[256];

	(void)state;
	drive_a();
	vp(&a)->pci.cfg[PCI_DEVICE_ID] ^= 1;
	rd = save(&a);
	vp(&a)->pci.cfg[PCI_DEVICE_ID] ^= 1;
	assert_int_equal(restore_b(rd, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not the same function"));
	assert_non_null(strstr(err, "virtio-test0"));
	snap_reader_free(rd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_function, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
