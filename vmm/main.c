/* SPDX-License-Identifier: MIT */
/* kite: parse the settings, check them, create the VM, run it, report its exit status. */
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kite/api.h"
#include "kite/config.h"
#include "kite/log.h"
#include "seccomp_filters.h"
#include "kite/vcpu.h"
#include "kite/version.h"
#include "kite/vm.h"
#include "kite/vmm_control.h"


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

/* --api-sock / --config-file / --no-api: the VM comes from the API or Firecracker's config file. */
static int api_main(struct kite_options *opts)
{
	const struct virtio_options *v = &opts->vm.virtio;
	struct vmm_control *ctl;
	sigset_t stop_sigs;
	int status;

	if (opts->fc_config && opts->restore_dir) {
		log_err("cli: --restore and --config-file exclude each other (a snapshot brings its configuration)");
		config_free(opts);
		return 1;
	}
	if (opts->no_api && (!(opts->fc_config || opts->restore_dir) || opts->api_sock)) {
		log_err("cli: --no-api needs --config-file or --restore and excludes --api-sock");
		config_free(opts);
		return 1;
	}
	if (v->nblk || v->nnet || v->nvu_blk || v->nvu_net || v->rng || v->balloon.enabled || v->console ||
	    opts->config_file ||
	    opts->vm.kernel) {
		log_err("cli: with --api-sock, --config-file or --restore the VM is defined through the API, that "
			"file or the snapshot, not by --kernel, --blk, --net, --rng, --balloon, --console-virtio or --config");
		config_free(opts);
		return 1;
	}
	/* Blocked before any thread exists (the API's, the vCPUs'): only the owner's signalfd sees them. */
	sigemptyset(&stop_sigs);
	sigaddset(&stop_sigs, SIGINT);
	sigaddset(&stop_sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &stop_sigs, NULL);
	ctl = vmm_control_new(opts);
	status = ctl ? api_run(ctl, opts->no_api ? NULL : opts->api_sock, opts->fc_config, opts->restore_dir) : 1;
	vmm_control_free(ctl);
	config_free(opts);
	fflush(stdout);
	return status;
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
	/* Every thread installs its allowlist before it handles guest or peer input (vmm/seccomp_filters.c).
	 * tzset() now: later log or HTTP date lines must not open /etc/localtime under a filter. */
	tzset();
	kite_seccomp_register(opts.seccomp_level);
	if (opts.api_sock || opts.fc_config || opts.no_api || opts.restore_dir)
		return api_main(&opts);
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
	if (opts.stats) {
		vm_print_vcpu_stats(&vm);
		vm_print_iothread_stats(&vm);
		vm_print_net_stats(&vm);
		vm_print_blk_stats(&vm);
	}
	vm_destroy(&vm);
	config_free(&opts);
	fflush(stdout);
	return status;
}
