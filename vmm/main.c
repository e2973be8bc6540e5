/* SPDX-License-Identifier: MIT */
/* kite: parse the settings, check them, create the VM, run it, report its exit status. */
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kite/config.h"
#include "kite/log.h"
#include "kite/vcpu.h"
#include "kite/vm.h"

#ifndef KITE_VERSION
#define KITE_VERSION "0.1.0"
#endif

static void exe_dir(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);
	const char *dir;

	if (n <= 0) {
		snprintf(buf, len, ".");
		return;
	}
	buf[n] = '\0';
	/* dirname() works in place and may return a static string ("." or "/"). */
	dir = dirname(buf);
	memmove(buf, dir, strlen(dir) + 1);
}

int main(int argc, char **argv)
{
	struct kite_options opts;
	char dir[PATH_MAX];
	sigset_t stop_sigs;
	struct vm vm;
	int status;

	kite_log_init("kite", KITE_LOG_INFO);
	signal(SIGPIPE, SIG_IGN);
	config_init(&opts);
	if (cli_parse(&opts, argc, argv) < 0) {
		config_free(&opts);
		return 1;
	}
	if (opts.help || opts.version) {
		if (opts.help)
			cli_usage(stdout);
		else
			printf("kite %s\n", KITE_VERSION);
		config_free(&opts);
		return 0;
	}
	exe_dir(dir, sizeof(dir));
	if (config_default_kernel(&opts, dir) < 0 || config_validate(&opts.vm) < 0) {
		config_free(&opts);
		return 1;
	}
	/* From here on SIGINT/SIGTERM stay pending until vm_run() reads them through a signalfd, so
	 * they always take the clean path (terminal restored, exit status 128 + signal). */
	sigemptyset(&stop_sigs);
	sigaddset(&stop_sigs, SIGINT);
	sigaddset(&stop_sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &stop_sigs, NULL);
	if (vm_create(&vm, &opts.vm) < 0) {
		config_free(&opts);
		return 1;
	}
	status = vm_run(&vm);
	if (opts.stats)
		vm_print_vcpu_stats(&vm);
	vm_destroy(&vm);
	config_free(&opts);
	fflush(stdout);
	return status;
}
