/* SPDX-License-Identifier: MIT */
/*
 * The legacy PC devices of kite (devices/): 16550A UART, i8042 (reset line only), debug-exit port,
 * ACPI PM1a fixed hardware and PM timer, and the ports a guest pokes at boot that need only a harmless answer
 * (POST, port 0x61, CMOS/RTC, absent COM2-4). Each is an instance on machine->pio, created and freed
 * by vmm/board.c; none ends the VM on its own: reset and power-off are events the board handles.
 * Every *_new returns NULL and every *_init -1 after one log line (e.g. its ports are taken).
 */
#ifndef KITE_LEGACY_DEVICES_H
#define KITE_LEGACY_DEVICES_H

#include <stdbool.h>
#include <stdint.h>

#include "kite/machine.h"
#include "kite/snapshot.h"

struct serial8250;
struct i8042;
struct acpi_pm;
struct acpi_pmtimer;
struct legacy_ports;

/* UART at `base` raising `irq`; output to out_fd (-1 = discard), input from in_fd (-1 = none) through
 * m->loop. The fds are not owned. */
struct serial8250 *serial8250_new(struct machine *m, uint16_t base, unsigned irq, int out_fd, int in_fd);
void serial8250_free(struct serial8250 *uart);

/* i8042 at KITE_I8042_PORT; `reset` fires when the guest pulses the CPU reset line. */
struct i8042 *i8042_new(struct machine *m, struct machine_event reset);
void i8042_free(struct i8042 *kbc);
/* Queue scancodes as if the keyboard sent them (IRQ 1 when the guest enabled it). 0, or -1 when
 * the 16-byte queue has no room for all n (nothing queued then). Any thread. */
int i8042_send_keys(struct i8042 *kbc, const uint8_t *codes, unsigned n);
/* Has a guest driver written the command byte with keyboard interrupts on (someone sees keys)? */
bool i8042_kbd_irq_enabled(struct i8042 *kbc);

/* Debug-exit port KITE_DEBUG_EXIT_PORT: a write of v ends the VM with status v (machine_request_exit). */
int debug_exit_init(struct machine *m);
void debug_exit_exit(struct machine *m);
/* Test builds only (-Dtest_hooks=true): devices/test_hook.c, set up and removed with debug-exit. */
int test_hook_init(struct machine *m);
void test_hook_exit(struct machine *m);

/* ACPI PM1a event and control blocks; `poweroff` fires when the guest enters S5. */
struct acpi_pm *acpi_pm_new(struct machine *m, struct machine_event poweroff);
void acpi_pm_free(struct acpi_pm *pm);

/* ACPI PM timer at KITE_ACPI_PM_TMR (devices/acpi_pmtimer.c). */
struct acpi_pmtimer *acpi_pmtimer_new(struct machine *m);
void acpi_pmtimer_free(struct acpi_pmtimer *t);
/* Its counter `ns` nanoseconds after it started (wraps at 2^32). */
uint32_t acpi_pmtimer_ticks(uint64_t ns);

/* POST 0x80, port 0x61, CMOS/RTC 0x70-0x71, absent COM2-4. (0xCF8-0xCFF belong to the PCI bus.) */
struct legacy_ports *legacy_ports_new(struct machine *m);
void legacy_ports_free(struct legacy_ports *lp);

/*
 * Snapshots (kite/snapshot.h; the board opens and closes the sections). *_save writes the device's
 * state as the payload of its section (name and version below); *_restore reads it back, validates
 * every value like guest input (snap_cursor_fail with the reason: nothing is applied then) and
 * applies it to a device just created with the snapshot's configuration, before any vCPU runs.
 * Main thread, the VM paused. Host-side state (fds, output failures) is not part of a snapshot.
 */
#define SERIAL8250_SNAP "uart"          /* registers, receive FIFO, interrupt line */
#define SERIAL8250_SNAP_VERSION 1
void serial8250_save(struct serial8250 *uart, struct snap_writer *w);
void serial8250_restore(struct serial8250 *uart, struct snap_cursor *c);
#define I8042_SNAP "i8042"              /* status, command byte, output buffer, key queue, IRQ lines */
#define I8042_SNAP_VERSION 1
void i8042_save(struct i8042 *kbc, struct snap_writer *w);
void i8042_restore(struct i8042 *kbc, struct snap_cursor *c);
#define ACPI_PM_SNAP "acpi-pm1"         /* PM1 status, enable, control */
#define ACPI_PM_SNAP_VERSION 1
void acpi_pm_save(struct acpi_pm *pm, struct snap_writer *w);
void acpi_pm_restore(struct acpi_pm *pm, struct snap_cursor *c);
/* The counter continues from the value it had when the VM was paused for the snapshot: time the VM
 * spent saved does not pass for the guest (as kvmclock, whose KVM_GET_CLOCK value Firecracker and
 * QEMU restore unchanged). */
#define ACPI_PMTIMER_SNAP "acpi-pmtimer"
#define ACPI_PMTIMER_SNAP_VERSION 1
void acpi_pmtimer_save(struct acpi_pmtimer *t, struct snap_writer *w);
void acpi_pmtimer_restore(struct acpi_pmtimer *t, struct snap_cursor *c);
#define LEGACY_PORTS_SNAP "legacy-ports"  /* CMOS RAM and index, port 0x61 */
#define LEGACY_PORTS_SNAP_VERSION 1
void legacy_ports_save(struct legacy_ports *lp, struct snap_writer *w);
void legacy_ports_restore(struct legacy_ports *lp, struct snap_cursor *c);

#endif
