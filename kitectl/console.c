/* SPDX-License-Identifier: MIT */
/*
 * kitectl vm console: a VM's serial console (kite --console socket:PATH) on this terminal.
 * Standard input goes to the guest and the guest's output to standard output. On a terminal, stdin
 * is put in raw mode (every key goes to the guest, Ctrl-C too) and restored at the end, also on
 * SIGTERM/SIGHUP. Ctrl-] (0x1d) detaches, also when stdin is not a terminal. At the end of stdin the
 * console keeps printing the guest's output until kite closes the socket (the VM ended) or
 * kitectl is signalled. kite refuses a second client with the one line "console busy": that is
 * an error here (exit 1), not output.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "kitectl.h"

#define DETACH_KEY 0x1d   /* Ctrl-] */
#define BUSY_LINE "console busy\n"

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Relay until detach, EOF of the socket, or a signal. held: bytes of the start of the output
 * that match BUSY_LINE so far (kept back until they stop matching). */
static int relay(const char *vm, int sock, bool tty)
{
	bool stdin_open = true, at_start = true;
	size_t held = 0;
	char buf[4096];

	for (;;) {
		struct pollfd p[2] = { { .fd = sock, .events = POLLIN }, { .fd = stdin_open ? 0 : -1, .events = POLLIN } };
		ssize_t n;

		if (stop_signal)
			return KC_OK;
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return kc_fail("VM %s: console: poll: %s", vm, strerror(errno));
		}
		if (p[1].revents) {
			n = read(0, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				stdin_open = false;
				shutdown(sock, SHUT_WR);   /* the guest keeps talking to us */
			} else {
				char *key = memchr(buf, DETACH_KEY, (size_t)n);
				size_t len = key ? (size_t)(key - buf) : (size_t)n;

				if (len && write_all(sock, buf, len) < 0)
					return kc_fail("VM %s: console: write: %s", vm, strerror(errno));
				if (key) {
					if (tty)
						fprintf(stderr, "\r\nkitectl: detached from VM %s\r\n", vm);
					return KC_OK;
				}
			}
		}
		if (p[0].revents) {
			size_t off = 0;

			n = read(sock, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return kc_fail("VM %s: console: read: %s", vm, strerror(errno));
			if (n == 0) {
				if (at_start && held == strlen(BUSY_LINE))
					return kc_fail("VM %s: console busy (another client is attached)", vm);
				if (held)
					write_all(1, BUSY_LINE, held);
				if (tty)
					fprintf(stderr, "\r\nkitectl: VM %s's console closed\r\n", vm);
				return KC_OK;
			}
			while (at_start && off < (size_t)n && held < strlen(BUSY_LINE) && buf[off] == BUSY_LINE[held]) {
				off++;
				held++;
			}
			if (at_start && off < (size_t)n) {   /* not the busy line: give back what was held */
				at_start = false;
				if (held && write_all(1, BUSY_LINE, held) < 0)
					return kc_fail("VM %s: console: standard output: %s", vm, strerror(errno));
			}
			if (off < (size_t)n && write_all(1, buf + off, (size_t)n - off) < 0)
				return kc_fail("VM %s: console: standard output: %s", vm, strerror(errno));
		}
	}
}

int kc_console(const char *vm, const char *path)
{
	struct termios saved, raw;
	struct sigaction sa = { .sa_handler = on_signal };
	bool tty = isatty(0) && tcgetattr(0, &saved) == 0;
	int sock, ret;

	sock = connect_to(path);
	if (sock < 0)
		return kc_fail("VM %s: cannot attach to its console %s: %s", vm, path, strerror(errno));
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (tty) {
		raw = saved;
		cfmakeraw(&raw);
		tcsetattr(0, TCSAFLUSH, &raw);
		fprintf(stderr, "kitectl: attached to VM %s's console, Ctrl-] detaches\r\n", vm);
	}
	ret = relay(vm, sock, tty);
	if (tty)
		tcsetattr(0, TCSAFLUSH, &saved);
	close(sock);
	return ret;
}
