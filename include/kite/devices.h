/* SPDX-License-Identifier: MIT */
/*
 * The legacy PC devices of kite (devices/): 16550A UART on COM1, i8042 reset line, debug-exit port,
 * ACPI PM1a fixed hardware, and stubs the guest expects (POST port, CMOS/RTC, PCI config "no device",
 * absent COM2-4). They all sit on vm->pio; the UART also reads its input through vm->loop.
 */
#ifndef KITE_DEVICES_H
#define KITE_DEVICES_H

#include <stdint.h>

struct vm;
struct serial8250;

/* Create and register every device (needs vm->pio, vm->loop, vm->cfg). Returns 0 or -1 (logged). */
int devices_init(struct vm *vm);
/* Unregister and free them; restores the terminal if the console put it in raw mode. */
void devices_exit(struct vm *vm);

/* UART at `base` raising `irq`; output to out_fd (-1 = discard), input from in_fd (-1 = none). The
 * fds are not owned. */
struct serial8250 *serial8250_new(struct vm *vm, uint16_t base, unsigned irq, int out_fd, int in_fd);
void serial8250_free(struct serial8250 *uart);

int i8042_init(struct vm *vm);
int debug_exit_init(struct vm *vm);
int acpi_pm_init(struct vm *vm);
/* POST 0x80, CMOS/RTC 0x70-0x71, PCI config 0xCF8-0xCFF (with the 0xCF9 reset register), COM2-4. */
int legacy_ports_init(struct vm *vm);

/* Console: put stdin in raw mode if it is a terminal (restored by console_restore(), also at exit). */
void console_raw_stdin(void);
void console_restore(void);

#endif
