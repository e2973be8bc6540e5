/* SPDX-License-Identifier: MIT */
/*
 * The serial console on a Unix socket (kite --console socket:PATH; vmm/console_sock.c).
 *
 * The UART (devices/serial8250.c) keeps its two plain fds: it writes guest output to a pipe and
 * reads guest input from another. This module relays between those pipes and at most one client of
 * a listening socket at PATH, on the VM's event loop (the main thread):
 *   - output goes into a ring of CONSOLE_SOCK_RING bytes, sent to the client as fast as it reads;
 *     with no client attached (or one that does not read) the ring keeps the newest bytes and drops
 *     the oldest, so the next client first gets what was said meanwhile (the boot lines). The pipe
 *     is always drained: a client never blocks the guest.
 *   - the client's bytes go to the UART's input pipe; while that pipe is full (the guest does not
 *     read) the client is not read (its own socket buffer then fills).
 *   - a second client gets the line "console busy" and is closed;
 *   - a client's end of input (shutdown of its write side) stops its input only; a client that
 *     closes (or whose socket fails) is detached, and the next one may attach.
 * The listening socket is made by console_sock_new (before the seccomp filters); accept4 after that
 * is allowed by the main thread's filter (vmm/seccomp_filters.c).
 */
#ifndef KITE_VMM_CONSOLE_SOCK_H
#define KITE_VMM_CONSOLE_SOCK_H

#include <stddef.h>
#include <stdint.h>

#define CONSOLE_SOCK_RING (64 * 1024)

struct evloop;
struct console_sock;

/* Listen at `path` (replacing a stale file; mode 0600) and watch it on `loop`. *out_fd is where the
 * UART writes output (non-blocking), *in_fd where it reads input; both stay owned by the console.
 * NULL after one log line naming the path. Main thread. */
struct console_sock *console_sock_new(struct evloop *loop, const char *path, int *out_fd, int *in_fd);
/* Stop watching, close the client, the pipes and the socket, remove the socket file. NULL is fine.
 * Main thread (the loop's), after the UART stopped reading in_fd. */
void console_sock_free(struct console_sock *cs);
/* Output bytes dropped so far because the ring was full (the client did not read them). */
uint64_t console_sock_dropped(const struct console_sock *cs);

#endif
