/* SPDX-License-Identifier: MIT */
/*
 * TEST BUILDS ONLY (meson -Dtest_hooks=true, tests/security): a guest write to port
 * KITE_TEST_HOOK_PORT makes the device thread (the machine's event loop) call execve("/bin/echo"),
 * the way an exploited device bug would. Under kite's seccomp filter the process dies by SIGSYS and
 * the log names execve; with --seccomp-level 0 /bin/echo replaces kite and prints
 * "kite-test-hook: execve ran". Never compiled into a normal build.
 */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "kite/evloop.h"
#include "kite/iobus.h"
#include "kite/legacy_devices.h"
#include "kite/log.h"

#define KITE_TEST_HOOK_PORT 0x5ec

static int hook_fd = -1;

static void on_hook(void *opaque, int fd, uint32_t events)
{
	char *const argv[] = { "/bin/echo", "kite-test-hook: execve ran", NULL };
	char *const envp[] = { NULL };

	(void)opaque;
	(void)fd;
	(void)events;
	log_info("test-hook: device thread calls execve(/bin/echo)");
	execve(argv[0], argv, envp);
	log_err("test-hook: execve failed: %m");
}

static void hook_io(void *opaque, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	uint64_t one = 1;

	(void)opaque;
	(void)addr;
	if (!is_write) {
		for (uint32_t i = 0; i < len; i++)
			data[i] = 0xff;
		return;
	}
	if (write(hook_fd, &one, sizeof(one)) != sizeof(one))
		log_warn("test-hook: eventfd write failed: %m");
}

int test_hook_init(struct machine *m)
{
	hook_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (hook_fd < 0 || evloop_add(m->loop, hook_fd, EPOLLIN, on_hook, NULL) < 0 ||
	    iobus_register(m->pio, KITE_TEST_HOOK_PORT, 1, hook_io, NULL) < 0) {
		log_err("test-hook: cannot set up port 0x%x", KITE_TEST_HOOK_PORT);
		return -1;
	}
	return 0;
}

void test_hook_exit(struct machine *m)
{
	iobus_unregister(m->pio, KITE_TEST_HOOK_PORT);
	if (hook_fd >= 0) {
		evloop_del(m->loop, hook_fd);
		close(hook_fd);
	}
	hook_fd = -1;
}
