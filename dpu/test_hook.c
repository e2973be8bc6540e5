/* SPDX-License-Identifier: MIT */
/*
 * TEST BUILDS ONLY (meson -Dtest_hooks=true, tests/security): the control command
 * {"cmd": "test_execve"} gives poller 0 an item that calls execve("/bin/echo"), the way an exploited
 * ring-parsing bug would. Under kite-dpu's seccomp filter the process dies by SIGSYS and the log
 * names execve; with --seccomp-level 0 /bin/echo replaces kite-dpu and prints
 * "kite-dpu-test-hook: execve ran". Never compiled into a normal build.
 */
#include <unistd.h>

#include "dpu.h"
#include "poller.h"

static unsigned exec_item(void *opaque)
{
	char *const argv[] = { "/bin/echo", "kite-dpu-test-hook: execve ran", NULL };
	char *const envp[] = { NULL };

	(void)opaque;
	execve(argv[0], argv, envp);
	return 0;
}

static int cmd_test_execve(const cJSON *req, cJSON *reply, char *err, size_t errlen)
{
	(void)req;
	(void)reply;
	if (poller_add(dpu_poller_pick(0), exec_item, NULL) < 0) {
		snprintf(err, errlen, "test_execve: poller 0 refused the item");
		return -1;
	}
	return 0;
}

__attribute__((constructor)) static void register_hook(void)
{
	dpu_ctl_register("test_execve", cmd_test_execve);
}
