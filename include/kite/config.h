/* SPDX-License-Identifier: MIT */
/*
 * kite's settings: command line (vmm/cli.c) and JSON file (vmm/config.c). The file takes the same
 * settings as the flags (keys kernel, initrd, cmdline, cpus, memory, console, hugepages, shared_memory,
 * pin_vcpus, kvm); flags override the file. Every error is one log line naming the flag, key or file.
 */
#ifndef KITE_CONFIG_H
#define KITE_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

#include "kite/vm.h"

#define KITE_DEFAULT_MEM_MIB 256
#define KITE_MIN_MEM_MIB     16
#define KITE_DEFAULT_KVM     "/dev/kvm"
#define KITE_BUNDLED_GUEST   "guest/kite-guest.bzImage"   /* relative to the binary's folder */
#define KITE_BUNDLED_CMDLINE "kite.test=hello"

struct kite_options {
	struct vm_config vm;
	bool stats;
	bool help;
	bool version;
	/* Firecracker-style control (api/): --api-sock PATH, --config-file FILE (Firecracker's JSON),
	 * --no-api (config file only) */
	char *api_sock, *fc_config;
	bool no_api;
	char *restore_dir;   /* --restore DIR: a snapshot (DIR/vm.state, DIR/vm.mem) instead of a boot */
	int seccomp_level;   /* --seccomp-level 0|1|2 (kite/seccomp.h) */
	/* owned copies of the strings vm points to */
	char *kernel, *initrd, *cmdline, *console_path, *kvm_path, *config_file;
};

void config_init(struct kite_options *o);
void config_free(struct kite_options *o);

/* Apply a JSON document; origin names it in errors. Returns 0 or -1 (logged). */
int config_parse_json(struct kite_options *o, const char *text, const char *origin);
int config_load_file(struct kite_options *o, const char *path);

/* Value parsers shared by the flags and the file; `what` names the flag or key in errors. */
int config_set_string(char **owned, const char **field, const char *value);
int config_parse_console(struct kite_options *o, const char *spec, const char *what);
int config_parse_pin_list(struct vm_config *vm, const char *list, const char *what);
/* "1" or "0,1": the host CPUs of the I/O threads (thread i on entry i % n). 0 or -1 (logged). */
int config_parse_pin_io(struct vm_config *vm, const char *list, const char *what);
int config_parse_uint(const char *s, unsigned long long min, unsigned long long max,
		      unsigned long long *out, const char *what);

/* Fill in the bundled test guest when no kernel was given (exe_dir: folder of the kite binary). */
int config_default_kernel(struct kite_options *o, const char *exe_dir);
/* Range and file checks done before the VM exists: memory 16 MiB..host RAM, cpus 1..64, readable
 * kernel/initrd, pinned CPUs that exist. */
int config_validate(const struct vm_config *vm);
/* The same without the kernel and initrd (a VM restored from a snapshot has none). */
int config_validate_machine(const struct vm_config *vm);

/* Parse argv (flags override an earlier --config file, whatever the order). 0 or -1 (logged). */
int cli_parse(struct kite_options *o, int argc, char **argv);
void cli_usage(FILE *out);

#endif
