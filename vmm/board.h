/* SPDX-License-Identifier: MIT */
/*
 * The board (vmm/board.c): the one place that creates kite's devices, in this fixed order, on
 * vm->machine, and destroys them in the reverse order:
 *   1. COM1 16550A UART (console: stdio|file|socket|none) 5. ACPI PM timer (0x608, FADT PM_TMR_BLK)
 *   2. i8042 (reset event)                                6. legacy ports (POST, 0x61, CMOS, COM2-4)
 *   3. debug-exit port                                    7. PCI bus 0 + host bridge (0xCF8-0xCFF,
 *   4. ACPI PM1a (power-off event)                           0xCF9 reset event) -- always present
 *   8. virtio devices of cfg->virtio: blk..., net..., vhost-user-blk..., vhost-user-net..., rng,
 *      balloon, console, each on the transport
 *      its options name (virtio/transport.c)
 * then it builds the guest's kernel command line: the user's line followed by one
 * virtio_mmio.device=<size>@<base>:<irq> word per virtio-mmio device. A guest reset or power-off
 * ends the VM with status 0.
 * Main thread only. board_create returns 0 or -1 (logged; board_destroy then cleans up).
 */
#ifndef KITE_VMM_BOARD_H
#define KITE_VMM_BOARD_H

#include <stddef.h>

struct vm;
struct virtio_dev;
struct i8042;

/* Create every device for vm->cfg; sets vm->board and vm->cmdline. */
int board_create(struct vm *vm);
/* The devices the VMM's control reaches at run time (vmm/control*.c); NULL when absent. */
struct virtio_dev *board_balloon(struct vm *vm);
struct i8042 *board_kbc(struct vm *vm);
/* virtio-blk / virtio-net number i (the index in cfg->virtio.blk / .net), NULL when absent. */
struct virtio_dev *board_blk(struct vm *vm, unsigned i);
struct virtio_dev *board_net(struct vm *vm, unsigned i);
/*
 * Snapshots (issue 13). The VM-level snapshot (vCPUs, irqchip, PIT, clock, memory) calls these for
 * the devices; each device saves one section of kite/snapshot.h, named after it, instance = its
 * index in the board's order. Main thread (the control's owner thread), the VM paused: no vCPU in
 * KVM_RUN, and board_save first quiesces device I/O (nothing in flight that is not in the state).
 * board_restore runs on a board that board_create just built for the snapshot's own config, before
 * any vCPU runs; it re-arms doorbells, irqfds and MSI routes and reconnects host sides. Both return
 * 0, or -1 with a one-line err naming the device; after a failed restore no guest code may run.
 * Order (vmm/board_snapshot.c): board_save first, then the vCPUs, irqchip and memory: quiescing
 * completes I/O into guest memory and may raise interrupts. The VM stays paused (its loop not
 * served) until memory is written: vhost-user rings stopped by board_save start again only when the
 * loop runs. board_restore after guest memory holds the snapshot's contents (it maps the rings
 * there); vhost-user devices need it in the shared memfd (SET_MEM_TABLE hands the backend that fd).
 * Sections of devices this board lacks stay unconsumed: the caller refuses them
 * (snap_reader_unconsumed).
 */
struct snap_writer;
struct snap_reader;
int board_save(struct vm *vm, struct snap_writer *w, char *err, size_t errlen);
int board_restore(struct vm *vm, struct snap_reader *r, char *err, size_t errlen);
/* Destroy them (reverse order), restore the host terminal; safe on a partly created board. */
void board_destroy(struct vm *vm);

#endif
