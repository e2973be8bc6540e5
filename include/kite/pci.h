/* SPDX-License-Identifier: MIT */
/*
 * kite's PCI bus (pci/): one host bridge at 00:00.0 reached through configuration mechanism #1
 * (ports 0xCF8 address, 0xCFC-0xCFF data; 0xCF9 stays the reset register), up to 31 functions on
 * bus 0, 32-bit memory BARs allocated in the MMIO hole below KITE_IOAPIC_ADDR, capability lists,
 * MSI-X (table and PBA in a BAR; each vector a GSI of its own with an MSI route and an irqfd, all
 * through the machine, kite/machine.h) and INTx through IOAPIC pins 16-23 as the fallback. The bus
 * is an instance (pci_bus_new) owned by vmm/board.c; a 0xCF9 reset fires the bus's reset event.
 *
 * Locking: the bus lock serialises configuration space and BAR moves, the bus's interrupt lock the
 * MSI-X tables and INTx (lock order: bus lock, then interrupt lock); interrupt delivery
 * (pci_msix_notify, pci_intx_set) may be called from any thread.
 */
#ifndef KITE_PCI_H
#define KITE_PCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kite/iobus.h"
#include "kite/machine.h"
#include "kite/platform.h"

#define PCI_CFG_SIZE        256
#define PCI_MAX_DEVICES     32
#define PCI_NR_BARS         6
#define PCI_MSIX_MAX        64

/* Configuration space offsets and bits used by kite and its test guest. */
#define PCI_VENDOR_ID       0x00
#define PCI_DEVICE_ID       0x02
#define PCI_COMMAND         0x04
#define  PCI_COMMAND_IO     0x1
#define  PCI_COMMAND_MEMORY 0x2
#define  PCI_COMMAND_MASTER 0x4
#define  PCI_COMMAND_INTX_DISABLE 0x400
#define PCI_STATUS          0x06
#define  PCI_STATUS_INTERRUPT 0x08
#define  PCI_STATUS_CAP_LIST  0x10
#define PCI_REVISION_ID     0x08
#define PCI_CLASS_PROG      0x09
#define PCI_CLASS_DEVICE    0x0a
#define PCI_HEADER_TYPE     0x0e
#define PCI_BASE_ADDRESS_0  0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID    0x2e
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE  0x3c
#define PCI_INTERRUPT_PIN   0x3d

#define PCI_CAP_ID_VNDR     0x09
#define PCI_CAP_ID_MSIX     0x11
#define  PCI_MSIX_FLAGS_ENABLE  0x8000
#define  PCI_MSIX_FLAGS_MASKALL 0x4000
#define PCI_MSIX_ENTRY_SIZE 16
#define PCI_MSIX_ENTRY_CTRL_MASKBIT 1

/* Where BARs live: [KITE_PCI_MMIO_BASE, KITE_PCI_MMIO_END). */
#define KITE_PCI_MMIO_BASE  0xE0000000ULL
#define KITE_PCI_MMIO_END   0xFEC00000ULL
#define KITE_PCI_INTX_GSI_BASE 16   /* device in slot s raises IOAPIC pin 16 + (s - 1) % 8 */

struct pci_bus;
struct pci_dev;

struct pci_bar {
	uint32_t size;                 /* power of two >= 4096; 0 = BAR not implemented */
	uint64_t addr;                 /* current guest address (what the BAR register holds) */
	bool mapped;                   /* registered on the machine's MMIO bus at addr */
	iobus_fn fn;                   /* accesses to the BAR (offset from its start) */
	void *opaque;
};

/* Called (bus lock held) after BAR `bar` moved or was turned on/off; the device re-homes what it
 * registered in KVM (ioeventfds). on=false: unmapped from old_addr. */
typedef void (*pci_bar_moved_fn)(struct pci_dev *dev, int bar, uint64_t addr, bool on);

struct pci_msix_vector {
	uint32_t addr_lo, addr_hi, data, ctrl;
	unsigned gsi;                  /* GSI of this vector (machine_gsi_alloc) */
	int irqfd;                     /* eventfd bound to gsi */
	bool routed;                   /* current addr/data installed as the GSI's MSI route */
	bool bound;                    /* irqfd registered with the machine */
	bool pending;
};

/* An eventfd of someone else (a vhost-user backend's call fd) that interrupts through vector v. */
struct pci_msix_notifier {
	struct pci_dev *dev;
	int fd;                        /* -1 = slot free */
	unsigned v;
	bool irqfd;                    /* bound to the vector's GSI in KVM (delivery without kite) */
	bool watched;                  /* on the machine's loop (vector masked or MSI-X off) */
};
#define PCI_MSIX_NOTIFIERS 16

struct pci_dev {
	struct machine *m;
	struct pci_bus *bus;           /* set by pci_register */
	char name[32];                 /* for log lines, e.g. "virtio-blk0" */
	unsigned slot;                 /* device number on bus 0, set by pci_register */
	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE];   /* bits the guest may write */
	uint8_t next_cap;              /* where the next capability goes */
	uint8_t *last_cap_next;        /* link to patch when adding one */
	struct pci_bar bar[PCI_NR_BARS];
	pci_bar_moved_fn bar_moved;
	void *owner;                   /* the device model behind this function */
	/* MSI-X, if pci_add_msix() was called */
	unsigned msix_nr;
	uint8_t msix_cap;              /* offset of the capability, 0 = none */
	int msix_bar;
	uint32_t msix_table_off, msix_pba_off;
	struct pci_msix_vector msix[PCI_MSIX_MAX];
	struct pci_msix_notifier msix_notifier[PCI_MSIX_NOTIFIERS];
	/* Optional 4-byte window in configuration space served by the device (pci_lock held; the
	 * device may take its own lock, never pci_lock). */
	uint8_t cfg_window_off;
	void (*cfg_window)(struct pci_dev *dev, unsigned off, uint8_t *data, uint32_t len, bool is_write);
	/* INTx */
	unsigned intx_gsi;
	bool intx_level;
};

/* Create bus 0 with its host bridge at 00:00.0 on ports 0xCF8-0xCFF of m->pio; `reset` fires when the
 * guest writes the reset bit of 0xCF9. NULL on error (logged). */
struct pci_bus *pci_bus_new(struct machine *m, struct machine_event reset);
/* Take the ports back; every function must be unregistered first. NULL is ignored. */
void pci_bus_free(struct pci_bus *bus);

/* Fill in a function's identity. class_code = 0xCCSSPP (class, subclass, prog-if). */
void pci_dev_init(struct pci_dev *dev, struct machine *m, const char *name, uint16_t vendor, uint16_t device,
		  uint32_t class_code, uint8_t revision, uint16_t sub_vendor, uint16_t sub_id);
/* Declare 32-bit memory BAR `bar` of `size` bytes (power of two, >= 4 KiB). */
int pci_set_bar(struct pci_dev *dev, int bar, uint32_t size, iobus_fn fn, void *opaque);
/* Append a capability of `len` bytes (first two bytes: id and next, filled in here). Returns its
 * offset in configuration space, 0 if it does not fit. wmask is all zero for it. */
uint8_t pci_add_cap(struct pci_dev *dev, const void *cap, uint8_t len);
/* MSI-X with nr vectors: table at table_off and PBA at pba_off inside BAR `bar`. */
int pci_add_msix(struct pci_dev *dev, unsigned nr, int bar, uint32_t table_off, uint32_t pba_off);
/* Put the function on bus 0, allocate its BARs (programmed, decoding off until the guest enables
 * memory space) and its interrupt resources. Returns 0 or -1 (logged). */
int pci_register(struct pci_bus *bus, struct pci_dev *dev);
void pci_unregister(struct pci_dev *dev);

/* MSI-X table and PBA accesses (the device's BAR handler forwards offsets inside them). */
void pci_msix_table_access(struct pci_dev *dev, uint64_t off, uint8_t *data, uint32_t len, bool is_write);
void pci_msix_pba_access(struct pci_dev *dev, uint64_t off, uint8_t *data, uint32_t len, bool is_write);
/* Is MSI-X enabled by the guest? */
bool pci_msix_enabled(struct pci_dev *dev);
/* Signal vector v: through its irqfd, or latched in the PBA while masked. false if v is invalid or
 * MSI-X is off. */
bool pci_msix_notify(struct pci_dev *dev, unsigned v);
/*
 * Let eventfd `fd` (not owned) interrupt through vector v without passing through kite: while MSI-X
 * is enabled, the vector unmasked and its address programmed, fd is a KVM irqfd of the vector's GSI
 * (its MSI route installed first and kept current when the guest rewrites the entry); while the
 * vector is masked (or MSI-X off), fd is watched on the machine's event loop instead and a signal
 * sets the vector's pending bit, delivered on unmask. Any thread. Returns 0, or -1 (v invalid,
 * no free slot, or the machine refused: logged) -- the caller then delivers by itself.
 */
int pci_msix_notifier_add(struct pci_dev *dev, unsigned v, int fd);
/* Stop using fd (removed from KVM and the loop). Unknown fds are ignored. */
void pci_msix_notifier_del(struct pci_dev *dev, int fd);

/* Drive the INTx line (ignored while the guest set INTX_DISABLE in the command register). */
void pci_intx_set(struct pci_dev *dev, bool level);

/*
 * Snapshots (pci/pci_snapshot.c, kite/snapshot.h). pci_bus_save writes section "pci-bus" (the
 * configuration address latch) and one "pci-fn" per function, instance = its slot (the host bridge
 * is slot 0): the whole configuration space (BARs as programmed, command register, capabilities with
 * MSI-X control), the INTx level and the MSI-X table with its pending bits. pci_bus_restore runs on
 * a bus with the same functions in the same slots (the board built from the snapshot's config): a
 * read-only byte that differs (another device, another layout), a vector count that differs, a
 * table entry with reserved control bits, or a BAR that cannot be mapped where the guest put it is
 * refused with one line in err (-1). Then it maps the BARs (the functions re-arm their doorbells
 * through bar_moved), installs the MSI route of every programmed vector, re-binds notifiers and
 * drives INTx. Main thread, the VM paused (no vCPU in KVM_RUN).
 */
#define PCI_SNAP_VERSION 1
struct snap_writer;
struct snap_reader;
void pci_bus_save(struct pci_bus *bus, struct snap_writer *w);
int pci_bus_restore(struct pci_bus *bus, struct snap_reader *r, char *err, size_t errlen);

/* Helpers for device models. */
static inline void pci_cfg_w16(struct pci_dev *dev, unsigned off, uint16_t v)
{
	dev->cfg[off] = (uint8_t)v;
	dev->cfg[off + 1] = (uint8_t)(v >> 8);
}
static inline void pci_cfg_w32(struct pci_dev *dev, unsigned off, uint32_t v)
{
	pci_cfg_w16(dev, off, (uint16_t)v);
	pci_cfg_w16(dev, off + 2, (uint16_t)(v >> 16));
}
static inline uint16_t pci_cfg_r16(const struct pci_dev *dev, unsigned off)
{
	return (uint16_t)(dev->cfg[off] | dev->cfg[off + 1] << 8);
}
static inline uint32_t pci_cfg_r32(const struct pci_dev *dev, unsigned off)
{
	return pci_cfg_r16(dev, off) | (uint32_t)pci_cfg_r16(dev, off + 2) << 16;
}

#endif
