/* SPDX-License-Identifier: MIT */
/*
 * PCI bus and virtio-pci transport without KVM: configuration mechanism #1, BAR sizing and moves,
 * the capability list a driver walks, feature negotiation (FEATURES_OK refused for features not
 * offered), queue setup into guest memory, the notify slow path reaching the device's kick, ISR
 * read-to-clear and reset, on a fake machine (tests/lib/machine) that records interrupt lines, exit
 * requests, doorbells and MSI routes: the doorbells follow BAR 0, MSI-X vectors get a GSI, an irqfd
 * and their route when they fire.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_machine.h"
#include "kite/evloop.h"
#include "kite/iobus.h"
#include "kite/log.h"
#include "kite/pci.h"
#include "kite/virtio_pci.h"

#define RAM_SIZE (1u << 20)

static struct fake_machine fm;
static struct pci_bus *bus;
static int notified, resets;

static void on_reset(void *opaque)
{
	(void)opaque;
	resets++;
}

static void t_config_read(struct virtio_dev *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	static const uint8_t cfg[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

	(void)dev;
	memcpy(data, cfg + off, len);
}

static void t_queue_notify(struct virtio_dev *dev, unsigned q)
{
	(void)dev;
	(void)q;
	notified++;
}

static const struct virtio_dev_ops t_ops = {
	.device_id = 4,
	.config_size = 8,
	.config_read = t_config_read,
	.queue_notify = t_queue_notify,
};

static struct virtio_dev vdev;
static struct virtio_pci vpci;

static uint32_t cfg_read(unsigned slot, unsigned off, unsigned len)
{
	uint32_t addr = 0x80000000u | slot << 11 | (off & 0xfc), v = 0;

	iobus_access(fm.m.pio, 0xcf8, (uint8_t *)&addr, 4, true);
	iobus_access(fm.m.pio, 0xcfc + (off & 3), (uint8_t *)&v, len, false);
	return v;
}

static void cfg_write(unsigned slot, unsigned off, unsigned len, uint32_t v)
{
	uint32_t addr = 0x80000000u | slot << 11 | (off & 0xfc);

	iobus_access(fm.m.pio, 0xcf8, (uint8_t *)&addr, 4, true);
	iobus_access(fm.m.pio, 0xcfc + (off & 3), (uint8_t *)&v, len, true);
}

static uint64_t bar_rw(uint64_t addr, unsigned len, bool write, uint64_t v)
{
	bool hit = iobus_access(fm.m.mmio, addr, (uint8_t *)&v, len, write);

	return hit ? v : ~0ULL;
}

static int setup(void **state)
{
	(void)state;
	notified = resets = 0;
	fake_machine_init(&fm, RAM_SIZE);
	bus = pci_bus_new(&fm.m, (struct machine_event){ .fire = on_reset });
	assert_non_null(bus);
	assert_int_equal(virtio_dev_init(&vdev, &fm.m, "virtio-test0", &t_ops, NULL, 1ULL << 1, 2, 64), 0);
	assert_int_equal(virtio_pci_init(&vpci, &vdev, bus), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	virtio_pci_exit(&vpci);
	virtio_dev_exit(&vdev);
	pci_bus_free(bus);
	/* every doorbell and irqfd was handed back */
	assert_int_equal(fm.ndoorbells, 0);
	for (unsigned g = 0; g < FAKE_MAX_GSI; g++)
		assert_int_equal(fm.irqfd[g], -1);
	fake_machine_fini(&fm);
	return 0;
}

static void test_enumeration(void **state)
{
	(void)state;
	assert_int_equal(cfg_read(0, 0, 2), 0x8086);                /* host bridge */
	assert_int_equal(cfg_read(0, 0x0a, 2), 0x0600);
	assert_int_equal(cfg_read(1, 0, 4), 0x1044u << 16 | 0x1af4);  /* virtio id 4 */
	assert_int_equal(cfg_read(1, 0x08, 1), 1);                  /* revision 1: modern */
	assert_int_equal(cfg_read(1, 0x2e, 2), 4);                  /* subsystem id */
	assert_int_equal(cfg_read(5, 0, 4), 0xffffffffu);           /* empty slot */
	assert_int_equal(cfg_read(1, 0x3d, 1), 1);                  /* INTA# */
	/* disabled configuration cycle */
	{
		uint32_t addr = 1u << 11, v = 0;

		iobus_access(fm.m.pio, 0xcf8, (uint8_t *)&addr, 4, true);
		iobus_access(fm.m.pio, 0xcfc, (uint8_t *)&v, 4, false);
		assert_int_equal(v, 0xffffffffu);
	}
	/* 0xCF9 with the reset bit fires the bus's reset event; the bus does not end the VM itself */
	{
		uint8_t b = 0x02;

		iobus_access(fm.m.pio, 0xcf9, &b, 1, true);
		assert_int_equal(resets, 0);
		b = 0x06;
		iobus_access(fm.m.pio, 0xcf9, &b, 1, true);
		assert_int_equal(resets, 1);
		assert_int_equal(fm.exit_requests, 0);
	}
}

static void test_bar_sizing_and_moves(void **state)
{
	uint32_t orig = cfg_read(1, 0x10, 4);

	(void)state;
	assert_true(orig >= KITE_PCI_MMIO_BASE && orig < KITE_IOAPIC_ADDR);
	assert_int_equal(orig & 0xf, 0);                       /* 32-bit memory BAR */
	cfg_write(1, 0x10, 4, 0xffffffffu);
	assert_int_equal(cfg_read(1, 0x10, 4), (uint32_t)~(VIRTIO_PCI_BAR_SIZE - 1));
	cfg_write(1, 0x10, 4, orig);
	/* decoding off: nothing on the bus */
	assert_int_equal(bar_rw(orig + VIRTIO_PCI_COMMON_NUMQ, 2, false, 0), ~0ULL);
	cfg_write(1, 0x04, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	assert_int_equal(bar_rw(orig + VIRTIO_PCI_COMMON_NUMQ, 2, false, 0), 2);
	/* move it: the old place goes quiet, the new one answers */
	cfg_write(1, 0x10, 4, 0xe8000000u);
	assert_int_equal(bar_rw(orig + VIRTIO_PCI_COMMON_NUMQ, 2, false, 0), ~0ULL);
	assert_int_equal(bar_rw(0xe8000000u + VIRTIO_PCI_COMMON_NUMQ, 2, false, 0), 2);
	/* a place outside the MMIO hole is never decoded */
	cfg_write(1, 0x10, 4, 0x10000000u);
	assert_int_equal(bar_rw(0x10000000u + VIRTIO_PCI_COMMON_NUMQ, 2, false, 0), ~0ULL);
}

static void test_capabilities(void **state)
{
	unsigned seen = 0, guard = 0;
	uint8_t p;

	(void)state;
	assert_true(cfg_read(1, 0x06, 2) & PCI_STATUS_CAP_LIST);
	for (p = (uint8_t)cfg_read(1, 0x34, 1); p && guard < 48; p = (uint8_t)cfg_read(1, p + 1, 1), guard++) {
		uint8_t id = (uint8_t)cfg_read(1, p, 1);

		assert_true(p >= 0x40 && (p & 3) == 0);
		if (id == PCI_CAP_ID_VNDR) {
			uint8_t type = (uint8_t)cfg_read(1, p + 3, 1);
			uint32_t off = cfg_read(1, p + 8, 4), len = cfg_read(1, p + 12, 4);

			assert_int_equal(cfg_read(1, p + 4, 1), 0);   /* BAR 0 */
			seen |= 1u << type;
			if (type == VIRTIO_PCI_CAP_COMMON_CFG)
				assert_true(off == VIRTIO_PCI_COMMON_OFF && len >= VIRTIO_PCI_COMMON_SIZE);
			if (type == VIRTIO_PCI_CAP_NOTIFY_CFG) {
				assert_int_equal(off, VIRTIO_PCI_NOTIFY_OFF);
				assert_int_equal(cfg_read(1, p + 16, 4), VIRTIO_PCI_NOTIFY_MULT);
			}
			if (type == VIRTIO_PCI_CAP_DEVICE_CFG)
				assert_int_equal(len, 8);
		}
	}
	assert_true(guard < 48);
	assert_int_equal(seen, 0x3e);                          /* common, notify, ISR, device, PCI_CFG */
}

static void w(uint64_t off, unsigned len, uint64_t v)
{
	assert_int_not_equal(bar_rw(vpci.pci.bar[0].addr + off, len, true, v), ~0ULL);
}

static uint64_t r(uint64_t off, unsigned len)
{
	return bar_rw(vpci.pci.bar[0].addr + off, len, false, 0);
}

static void test_negotiation_and_queue(void **state)
{
	uint64_t desc = 0x1000, avail = 0x2000, used = 0x3000;

	(void)state;
	cfg_write(1, 0x04, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	w(VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	w(VIRTIO_PCI_COMMON_DFSELECT, 4, 1);
	assert_int_equal(r(VIRTIO_PCI_COMMON_DF, 4), 5);       /* VERSION_1 | RING_PACKED (bits 32, 34) */
	w(VIRTIO_PCI_COMMON_DFSELECT, 4, 0);
	assert_int_equal(r(VIRTIO_PCI_COMMON_DF, 4), 2);       /* bit 1 offered */
	/* a feature not offered: FEATURES_OK must not stick */
	w(VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
	w(VIRTIO_PCI_COMMON_GF, 4, 1u << 3);
	w(VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	w(VIRTIO_PCI_COMMON_GF, 4, 1);
	w(VIRTIO_PCI_COMMON_STATUS, 1, 0x0b);
	assert_int_equal(r(VIRTIO_PCI_COMMON_STATUS, 1) & VIRTIO_STATUS_FEATURES_OK, 0);
	/* without VERSION_1 it is refused too */
	w(VIRTIO_PCI_COMMON_STATUS, 1, 0);
	w(VIRTIO_PCI_COMMON_STATUS, 1, 3);
	w(VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
	w(VIRTIO_PCI_COMMON_GF, 4, 2);
	w(VIRTIO_PCI_COMMON_STATUS, 1, 0x0b);
	assert_int_equal(r(VIRTIO_PCI_COMMON_STATUS, 1) & VIRTIO_STATUS_FEATURES_OK, 0);
	w(VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	w(VIRTIO_PCI_COMMON_GF, 4, 1);
	w(VIRTIO_PCI_COMMON_STATUS, 1, 0x0b);
	assert_int_equal(r(VIRTIO_PCI_COMMON_STATUS, 1) & VIRTIO_STATUS_FEATURES_OK, VIRTIO_STATUS_FEATURES_OK);
	assert_int_equal(vdev.guest_features, (1ULL << 32) | 2);

	/* queue 1: sizes above the maximum are refused, addresses land, enable maps the rings */
	assert_int_equal(r(VIRTIO_PCI_COMMON_NUMQ, 2), 2);
	w(VIRTIO_PCI_COMMON_Q_SELECT, 2, 1);
	assert_int_equal(r(VIRTIO_PCI_COMMON_Q_SIZE, 2), 64);
	w(VIRTIO_PCI_COMMON_Q_SIZE, 2, 128);
	assert_int_equal(r(VIRTIO_PCI_COMMON_Q_SIZE, 2), 64);
	w(VIRTIO_PCI_COMMON_Q_SIZE, 2, 16);
	assert_int_equal(r(VIRTIO_PCI_COMMON_Q_NOFF, 2), 1);
	w(VIRTIO_PCI_COMMON_Q_DESCLO, 4, desc);
	w(VIRTIO_PCI_COMMON_Q_DESCHI, 4, 0);
	w(VIRTIO_PCI_COMMON_Q_AVAILLO, 8, avail);          /* one 64-bit access */
	w(VIRTIO_PCI_COMMON_Q_USEDLO, 4, used);
	assert_int_equal(r(VIRTIO_PCI_COMMON_Q_AVAILLO, 4), avail);
	w(VIRTIO_PCI_COMMON_Q_MSIX, 2, 3);                 /* vectors 0..2 exist: 3 is NO_VECTOR */
	assert_int_equal(r(VIRTIO_PCI_COMMON_Q_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
	w(VIRTIO_PCI_COMMON_Q_MSIX, 2, 1);
	assert_int_equal(r(VIRTIO_PCI_COMMON_Q_MSIX, 2), 1);
	w(VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	assert_int_equal(r(VIRTIO_PCI_COMMON_Q_ENABLE, 2), 1);
	assert_true(vdev.q[1].vq.ready);
	/* addresses are frozen once enabled */
	w(VIRTIO_PCI_COMMON_Q_DESCLO, 4, 0x5000);
	assert_int_equal(r(VIRTIO_PCI_COMMON_Q_DESCLO, 4), desc);
	w(VIRTIO_PCI_COMMON_STATUS, 1, 0x0f);
	assert_int_equal(r(VIRTIO_PCI_COMMON_STATUS, 1), 0x0f);

	/* device config window */
	assert_int_equal(r(VIRTIO_PCI_DEVICE_OFF + 4, 4), 0x08070605);
	assert_int_equal(r(VIRTIO_PCI_DEVICE_OFF + 6, 4), ~0ULL & 0xffffffff);   /* beyond config_size */

	/* a kick that reached kite (not caught by the doorbell) runs the device on the loop */
	notified = 0;
	w(VIRTIO_PCI_NOTIFY_OFF + VIRTIO_PCI_NOTIFY_MULT * 1, 2, 1);
	evloop_run_once(fm.m.loop, 1000);
	assert_int_equal(notified, 1);

	/* interrupt without MSI-X: INTx up, ISR read clears it and lowers the line */
	pthread_mutex_lock(&vdev.lock);
	virtio_dev_config_changed(&vdev);
	pthread_mutex_unlock(&vdev.lock);
	assert_int_equal(fm.irq_level[vpci.pci.intx_gsi], 1);
	assert_int_equal(r(VIRTIO_PCI_ISR_OFF, 1), VIRTIO_ISR_CONFIG);
	assert_int_equal(fm.irq_level[vpci.pci.intx_gsi], 0);
	assert_int_equal(r(VIRTIO_PCI_ISR_OFF, 1), 0);

	/* reset */
	w(VIRTIO_PCI_COMMON_STATUS, 1, 0);
	assert_int_equal(r(VIRTIO_PCI_COMMON_STATUS, 1), 0);
	assert_false(vdev.q[1].vq.ready);
	assert_int_equal(vdev.guest_features, 0);
}

/* The PCI_CFG access capability reaches BAR 0 through configuration space, decoding on or off. */
static void test_pci_cfg_window(void **state)
{
	unsigned guard = 0;
	uint8_t p;

	(void)state;
	for (p = (uint8_t)cfg_read(1, 0x34, 1); p && guard < 48; p = (uint8_t)cfg_read(1, p + 1, 1), guard++)
		if (cfg_read(1, p, 1) == PCI_CAP_ID_VNDR && cfg_read(1, p + 3, 1) == VIRTIO_PCI_CAP_PCI_CFG)
			break;
	assert_true(p != 0);
	assert_int_equal(cfg_read(1, p + 2, 1), 20);
	/* device_feature_select = 1 through the window, then device_feature reads VERSION_1 */
	cfg_write(1, p + 4, 1, 0);
	cfg_write(1, p + 8, 4, VIRTIO_PCI_COMMON_DFSELECT);
	cfg_write(1, p + 12, 4, 4);
	cfg_write(1, p + 16, 4, 1);
	assert_int_equal(vpci.dfselect, 1);
	cfg_write(1, p + 8, 4, VIRTIO_PCI_COMMON_DF);
	assert_int_equal(cfg_read(1, p + 16, 4), 5);
	/* a byte: num_queues low byte */
	cfg_write(1, p + 8, 4, VIRTIO_PCI_COMMON_NUMQ);
	cfg_write(1, p + 12, 4, 1);
	assert_int_equal(cfg_read(1, p + 16, 4), 2);
	/* length 3 or an offset past the BAR: nothing happens, reads zero */
	cfg_write(1, p + 12, 4, 3);
	assert_int_equal(cfg_read(1, p + 16, 4), 0);
	cfg_write(1, p + 8, 4, VIRTIO_PCI_BAR_SIZE);
	cfg_write(1, p + 12, 4, 4);
	assert_int_equal(cfg_read(1, p + 16, 4), 0);
}

static void test_bad_ring_needs_reset(void **state)
{
	(void)state;
	cfg_write(1, 0x04, 2, PCI_COMMAND_MEMORY);
	w(VIRTIO_PCI_COMMON_STATUS, 1, 3);
	w(VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	w(VIRTIO_PCI_COMMON_GF, 4, 1);
	w(VIRTIO_PCI_COMMON_STATUS, 1, 0x0b);
	w(VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	w(VIRTIO_PCI_COMMON_Q_DESCLO, 4, RAM_SIZE - 16);    /* descriptor table runs off the end of RAM */
	w(VIRTIO_PCI_COMMON_Q_AVAILLO, 4, 0x2000);
	w(VIRTIO_PCI_COMMON_Q_USEDLO, 4, 0x3000);
	w(VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	assert_int_equal(r(VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
	assert_true(r(VIRTIO_PCI_COMMON_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET);
	w(VIRTIO_PCI_COMMON_STATUS, 1, 0);
	assert_int_equal(r(VIRTIO_PCI_COMMON_STATUS, 1), 0);
}

/* The notify doorbells are ioeventfds of the machine wherever BAR 0 is decoded, and nowhere else. */
static void test_doorbells_follow_bar(void **state)
{
	uint32_t bar = cfg_read(1, 0x10, 4);
	const struct machine_ioeventfd *d;

	(void)state;
	assert_int_equal(fm.ndoorbells, 0);                    /* decoding off */
	cfg_write(1, 0x04, 2, PCI_COMMAND_MEMORY);
	assert_int_equal(fm.ndoorbells, 2);
	for (unsigned q = 0; q < 2; q++) {
		d = fake_machine_doorbell(&fm, bar + VIRTIO_PCI_NOTIFY_OFF + VIRTIO_PCI_NOTIFY_MULT * q, 0);
		assert_non_null(d);
		assert_int_equal(d->fd, vdev.q[q].kick_fd);
		assert_false(d->pio);
	}
	cfg_write(1, 0x10, 4, 0xe8000000u);                    /* moved: they move along */
	assert_int_equal(fm.ndoorbells, 2);
	assert_null(fake_machine_doorbell(&fm, bar + VIRTIO_PCI_NOTIFY_OFF, 0));
	assert_non_null(fake_machine_doorbell(&fm, 0xe8000000u + VIRTIO_PCI_NOTIFY_OFF + VIRTIO_PCI_NOTIFY_MULT, 0));
	cfg_write(1, 0x04, 2, 0);                              /* decoding off: gone */
	assert_int_equal(fm.ndoorbells, 0);
}

static uint8_t find_cap(uint8_t id)
{
	unsigned guard = 0;
	uint8_t p;

	for (p = (uint8_t)cfg_read(1, 0x34, 1); p && guard < 48; p = (uint8_t)cfg_read(1, p + 1, 1), guard++)
		if (cfg_read(1, p, 1) == id)
			return p;
	return 0;
}

static uint64_t irqfd_count(unsigned gsi)
{
	uint64_t n = 0;

	assert_true(fm.irqfd[gsi] >= 0);
	if (read(fm.irqfd[gsi], &n, sizeof(n)) != sizeof(n))
		return 0;                                      /* EAGAIN: not signalled */
	return n;
}

/* MSI-X: one GSI and irqfd per vector; the route is installed when the vector first fires after
 * the guest programmed it; a masked vector stays pending until unmasked. */
static void test_msix_delivery(void **state)
{
	uint8_t cap = find_cap(PCI_CAP_ID_MSIX);
	unsigned gsi;

	(void)state;
	assert_int_not_equal(cap, 0);
	assert_int_equal(vpci.pci.msix_nr, 3);                 /* two queues + config */
	for (unsigned v = 0; v < 3; v++)
		assert_true(fm.irqfd[vpci.pci.msix[v].gsi] >= 0);
	gsi = vpci.pci.msix[0].gsi;
	assert_true(gsi >= FAKE_MSI_GSI_BASE);
	cfg_write(1, 0x04, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	cfg_write(1, cap + 2, 2, PCI_MSIX_FLAGS_ENABLE);
	w(VIRTIO_PCI_MSIX_OFF + 0, 4, 0xfee00000u);            /* vector 0: address, data, unmasked */
	w(VIRTIO_PCI_MSIX_OFF + 4, 4, 0);
	w(VIRTIO_PCI_MSIX_OFF + 8, 4, 0x41);
	w(VIRTIO_PCI_MSIX_OFF + 12, 4, 0);
	w(VIRTIO_PCI_COMMON_MSIX, 2, 0);
	assert_int_equal(fm.msi_updates, 0);                   /* lazily: nothing fired yet */
	pthread_mutex_lock(&vdev.lock);
	virtio_dev_config_changed(&vdev);
	pthread_mutex_unlock(&vdev.lock);
	assert_true(fm.msi[gsi].valid);
	assert_int_equal(fm.msi[gsi].addr, 0xfee00000u);
	assert_int_equal(fm.msi[gsi].data, 0x41);
	assert_int_equal(irqfd_count(gsi), 1);
	assert_int_equal(fm.irq_level[vpci.pci.intx_gsi], 0);  /* not INTx */
	/* masked: pending in the PBA, no interrupt; unmasking delivers it with the new data */
	w(VIRTIO_PCI_MSIX_OFF + 12, 4, PCI_MSIX_ENTRY_CTRL_MASKBIT);
	w(VIRTIO_PCI_MSIX_OFF + 8, 4, 0x42);
	pthread_mutex_lock(&vdev.lock);
	virtio_dev_config_changed(&vdev);
	pthread_mutex_unlock(&vdev.lock);
	assert_int_equal(irqfd_count(gsi), 0);
	assert_int_equal(r(VIRTIO_PCI_PBA_OFF, 4) & 1, 1);
	w(VIRTIO_PCI_MSIX_OFF + 12, 4, 0);
	assert_int_equal(irqfd_count(gsi), 1);
	assert_int_equal(fm.msi[gsi].data, 0x42);
	assert_int_equal(r(VIRTIO_PCI_PBA_OFF, 4) & 1, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_enumeration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_sizing_and_moves, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capabilities, setup, teardown),
		cmocka_unit_test_setup_teardown(test_negotiation_and_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pci_cfg_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_ring_needs_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_doorbells_follow_bar, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msix_delivery, setup, teardown),
	};

	kite_log_init("test-pci", KITE_LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
