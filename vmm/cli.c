/* SPDX-License-Identifier: MIT */
/*
 * Command line. Flags are collected first, then the --config file (if any) is applied, then the
 * flags in their order, so a flag always overrides the file.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "kite/config.h"
#include "kite/log.h"
#include "kite/seccomp.h"
#include "kite/virtio_options.h"

enum {
	OPT_KERNEL = 256, OPT_INITRD, OPT_CMDLINE, OPT_CPUS, OPT_MEMORY, OPT_CONSOLE, OPT_HUGEPAGES,
	OPT_PIN, OPT_KVM, OPT_CONFIG, OPT_STATS, OPT_HELP, OPT_VERSION, OPT_VERBOSE,
	OPT_SECCOMP, OPT_API_SOCK, OPT_NO_API, OPT_FC_CONFIG, OPT_RESTORE,      /* the Firecracker-compatible API (api/) */
	OPT_BLK, OPT_RNG, OPT_CONSOLE_VIRTIO, OPT_NET, OPT_BALLOON, OPT_VU_BLK, OPT_VU_NET,   /* virtio devices (virtio/virtio_config.c) */
	OPT_PIN_IO, OPT_IOTHREADS, OPT_SHARED_MEM,
};

static const struct option cli_options[] = {
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "initrd", required_argument, NULL, OPT_INITRD },
	{ "cmdline", required_argument, NULL, OPT_CMDLINE },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "memory", required_argument, NULL, OPT_MEMORY },
	{ "console", required_argument, NULL, OPT_CONSOLE },
	{ "hugepages", optional_argument, NULL, OPT_HUGEPAGES },
	{ "shared-memory", no_argument, NULL, OPT_SHARED_MEM },
	{ "pin-vcpus", required_argument, NULL, OPT_PIN },
	{ "pin-io", required_argument, NULL, OPT_PIN_IO },
	{ "iothreads", required_argument, NULL, OPT_IOTHREADS },
	{ "kvm", required_argument, NULL, OPT_KVM },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "stats", no_argument, NULL, OPT_STATS },
	{ "verbose", no_argument, NULL, OPT_VERBOSE },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "seccomp-level", required_argument, NULL, OPT_SECCOMP },
	{ "api-sock", required_argument, NULL, OPT_API_SOCK },
	{ "no-api", no_argument, NULL, OPT_NO_API },
	{ "restore", required_argument, NULL, OPT_RESTORE },
	{ "config-file", required_argument, NULL, OPT_FC_CONFIG },
	{ "blk", required_argument, NULL, OPT_BLK },
	{ "rng", no_argument, NULL, OPT_RNG },
	{ "net", required_argument, NULL, OPT_NET },
	{ "balloon", optional_argument, NULL, OPT_BALLOON },
	{ "console-virtio", required_argument, NULL, OPT_CONSOLE_VIRTIO },
	{ "vhost-user-blk", required_argument, NULL, OPT_VU_BLK },
	{ "vhost-user-net", required_argument, NULL, OPT_VU_NET },
	{ NULL, 0, NULL, 0 },
};

void cli_usage(FILE *out)
{
	fprintf(out,
		"usage: kite [--kernel PATH] [options]\n"
		"  --kernel PATH         Linux bzImage or ELF vmlinux (default: the bundled test guest\n"
		"                        guest/kite-guest.bzImage next to kite, cmdline \"kite.test=hello\")\n"
		"  --initrd PATH         initial ramdisk\n"
		"  --cmdline STR         kernel command line\n"
		"  --cpus N              vCPUs, 1..%d (default 1)\n"
		"  --memory MIB          guest RAM in MiB, %d..host RAM (default %d)\n"
		"  --console MODE        stdio | file:PATH | socket:PATH | none (default stdio)\n"
		"  --hugepages[=on|off]  back guest RAM with 2 MiB huge pages (reserve them first); default:\n"
		"                        huge pages when enough are reserved and free, else THP\n"
		"  --shared-memory       guest RAM in a shared memfd (as vhost-user devices need it) even\n"
		"                        without such a device; hugetlb pages as above, else 4 KiB shmem pages\n"
		"  --pin-vcpus LIST      host CPUs, e.g. 0,1: vCPU i runs on entry i %% length\n"
		"  --pin-io LIST         host CPUs of the I/O threads (one per virtio-blk/-net device, in\n"
		"                        device order): thread i runs on entry i %% length\n"
		"  --iothreads on|off    on (default): each virtio-blk/-net device is served by a thread of\n"
		"                        its own; off: every device on the main event loop\n"
		"  --kvm PATH            KVM device (default %s)\n"
		"  --config FILE.json    settings file; keys kernel, initrd, cmdline, cpus, memory, console,\n"
		"                        hugepages, pin_vcpus, pin_io, iothreads, kvm; flags override the file\n"
		"  --stats               print per-vCPU KVM statistics at exit\n"
		"  --seccomp-level N     0: no seccomp filters; 1: syscall numbers only; 2 (default):\n"
		"                        also their arguments (docs/security.md)\n"
		"  --api-sock PATH       serve the Firecracker-compatible HTTP API on this Unix socket\n"
		"                        (the VM is then configured and started through it, docs/api.md;\n"
		"                        --hugepages, --pin-vcpus, --pin-io, --iothreads give the defaults of\n"
		"                        machine-config's hugepages, pin_vcpus, pin_io, iothreads)\n"
		"  --config-file FILE    a VM definition in Firecracker's JSON format, started at once\n"
		"  --no-api              no API socket (with --config-file)\n"
		"  --restore DIR         resume the snapshot DIR/vm.state + DIR/vm.mem (PUT /snapshot/create\n"
		"                        with those paths makes one); with or without --api-sock\n"
		"  --blk path=IMG[,readonly=on][,cache=none|writeback][,id=NAME]\n"
		"                        virtio-blk PCI disk on a raw image (repeatable; JSON key \"blk\")\n"
		"                        more keys: iops=N, bps=N, transport=pci|mmio, aio=uring|sync,\n"
		"                        poll=adaptive (default: the I/O thread polls after work, the\n"
		"                        window adapts; poll_max=US, default 64), poll=0 (off),\n"
		"                        poll=US (a fixed window, 1..1000),\n"
		"                        poll_budget=PCT (cap on polling in vain, %% of a core; 1..100,\n"
		"                        default 50 adaptive, 100 fixed),\n"
		"                        queues=N (request queues, 1..8),\n"
		"                        map=off (cache=writeback reads and writes through io_uring,\n"
		"                        not copied from and into a mapping of the image)\n"
		"  --net tap=NAME[,mac=52:54:00:..][,mtu=N]  virtio-net on a TAP (repeatable; JSON \"net\")\n"
		"                        more keys: bps=N, pps=N, burst=N (token buckets, shared by all queue\n"
		"                        pairs), transport=pci|mmio, queues=N (queue pairs, 1..8: a multiqueue\n"
		"                        TAP, one fd per pair, the kernel steers by flow; MQ + control queue)\n"
		"  --balloon[=pages=N]   virtio-balloon, target N pages (JSON \"balloon\": true | N)\n"
		"                        ,stats=SECONDS: statistics period (default 1, 0 = off)\n"
		"  --rng                 virtio-rng entropy device (JSON \"rng\": true)\n"
		"  --console-virtio OUT  virtio-console hvc0, output to stdio or file:PATH (JSON \"console_virtio\")\n"
		"  --vhost-user-blk socket=PATH[,queues=N][,transport=pci|mmio][,reconnect=SECONDS]\n"
		"                   [,mem_timeout=SECONDS]\n"
		"                        virtio-blk served by a vhost-user backend (kite-dpu, qemu-storage-\n"
		"                        daemon); reconnect: give up after SECONDS without it (0 = never);\n"
		"                        mem_timeout: its longest wait for the backend to map guest RAM\n"
		"                        (SET_MEM_TABLE; default 30) (repeatable; JSON \"vhost_user_blk\")\n"
		"  --vhost-user-net socket=PATH[,mac=MAC][,queues=N][,mtu=N][,transport=pci|mmio]\n"
		"                        virtio-net served by a vhost-user backend (kite-dpu switch port,\n"
		"                        dpdk-testpmd); queues=N queue pairs (1..8; N > 1: MQ with kite's\n"
		"                        control queue); also reconnect=SECONDS, mem_timeout=SECONDS\n"
		"                        (repeatable; JSON \"vhost_user_net\")\n"
		"  --verbose             debug logging\n"
		"  --help, --version\n"
		"Exit status: the value the guest wrote to port 0x%x (unchanged, unlike QEMU's (v<<1)|1);\n"
		"0 on guest power-off or reset; 128+N when signal N (SIGINT, SIGTERM) stopped kite; 1 on error.\n",
		KITE_MAX_VCPUS, KITE_MIN_MEM_MIB, KITE_DEFAULT_MEM_MIB, KITE_DEFAULT_KVM, KITE_DEBUG_EXIT_PORT);
}

static int cli_apply(struct kite_options *o, int opt, const char *arg)
{
	unsigned long long v;

	switch (opt) {
	case OPT_KERNEL:
		return config_set_string(&o->kernel, &o->vm.kernel, arg);
	case OPT_INITRD:
		return config_set_string(&o->initrd, &o->vm.initrd, arg);
	case OPT_CMDLINE:
		return config_set_string(&o->cmdline, &o->vm.cmdline, arg);
	case OPT_KVM:
		return config_set_string(&o->kvm_path, &o->vm.kvm_path, arg);
	case OPT_CPUS:
		if (config_parse_uint(arg, 1, KITE_MAX_VCPUS, &v, "--cpus") < 0)
			return -1;
		o->vm.ncpus = (unsigned)v;
		return 0;
	case OPT_MEMORY:
		if (config_parse_uint(arg, KITE_MIN_MEM_MIB, 1ULL << 30, &v, "--memory") < 0)
			return -1;
		o->vm.mem_mib = v;
		return 0;
	case OPT_CONSOLE:
		return config_parse_console(o, arg, "--console");
	case OPT_HUGEPAGES:
		if (arg && strcmp(arg, "on") && strcmp(arg, "off")) {
			log_err("cli: --hugepages=%s: expected on or off", arg);
			return -1;
		}
		o->vm.hugepages = !arg || !strcmp(arg, "on");
		o->vm.no_hugepages = !o->vm.hugepages;
		return 0;
	case OPT_SHARED_MEM:
		o->vm.shared_memory = true;
		return 0;
	case OPT_PIN:
		return config_parse_pin_list(&o->vm, arg, "--pin-vcpus");
	case OPT_PIN_IO:
		return config_parse_pin_io(&o->vm, arg, "--pin-io");
	case OPT_IOTHREADS:
		if (strcmp(arg, "on") && strcmp(arg, "off")) {
			log_err("cli: --iothreads %s: expected on or off", arg);
			return -1;
		}
		o->vm.no_iothreads = !strcmp(arg, "off");
		return 0;
	case OPT_STATS:
		o->stats = true;
		return 0;
	case OPT_VERBOSE:
		kite_log_set_level(KITE_LOG_DEBUG);
		return 0;
	case OPT_SECCOMP:
		if (seccomp_parse_level(arg, &o->seccomp_level) < 0) {
			log_err("cli: --seccomp-level %s: expected 0, 1 or 2", arg);
			return -1;
		}
		return 0;
	case OPT_API_SOCK:
		return config_set_string(&o->api_sock, &(const char *){ NULL }, arg);
	case OPT_FC_CONFIG:
		return config_set_string(&o->fc_config, &(const char *){ NULL }, arg);
	case OPT_NO_API:
		o->no_api = true;
		return 0;
	case OPT_RESTORE:
		return config_set_string(&o->restore_dir, &(const char *){ NULL }, arg);
	case OPT_BLK:
		return virtio_opts_parse_blk(&o->vm.virtio, arg, "--blk");
	case OPT_RNG:
		o->vm.virtio.rng = true;
		return 0;
	case OPT_NET:
		return virtio_opts_parse_net(&o->vm.virtio, arg, "--net");
	case OPT_BALLOON:
		return virtio_opts_set_balloon(&o->vm.virtio, arg, "--balloon");
	case OPT_CONSOLE_VIRTIO:
		return virtio_opts_set_console(&o->vm.virtio, arg, "--console-virtio");
	case OPT_VU_BLK:
		return virtio_opts_parse_vhost_user(&o->vm.virtio, VHOST_USER_BLK, arg, "--vhost-user-blk");
	case OPT_VU_NET:
		return virtio_opts_parse_vhost_user(&o->vm.virtio, VHOST_USER_NET, arg, "--vhost-user-net");
	}
	return 0;
}

int cli_parse(struct kite_options *o, int argc, char **argv)
{
	struct { int opt; const char *arg; } *flags;
	unsigned nflags = 0;
	int opt, ret = 0;

	flags = calloc((size_t)argc + 1, sizeof(*flags));
	if (!flags) {
		log_err("cli: out of memory");
		return -1;
	}
	optind = 0;     /* full re-initialisation (glibc), so cli_parse can run more than once */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", cli_options, NULL)) != -1) {
		switch (opt) {
		case OPT_HELP:
			o->help = true;
			break;
		case OPT_VERSION:
			o->version = true;
			break;
		case OPT_CONFIG:
			free(o->config_file);
			o->config_file = strdup(optarg);
			if (!o->config_file) {
				log_err("cli: out of memory");
				ret = -1;
			}
			break;
		case '?':
			if (optopt)
				log_err("cli: option '%s' needs a value or takes none", argv[optind - 1]);
			else
				log_err("cli: unknown option '%s' (see --help)", argv[optind - 1]);
			ret = -1;
			goto out;
		default:
			flags[nflags].opt = opt;
			flags[nflags].arg = optarg;
			nflags++;
			break;
		}
	}
	if (optind < argc) {
		log_err("cli: unexpected argument '%s' (see --help)", argv[optind]);
		ret = -1;
		goto out;
	}
	if (ret || o->help || o->version)
		goto out;
	if (o->config_file && config_load_file(o, o->config_file) < 0) {
		ret = -1;
		goto out;
	}
	for (unsigned i = 0; i < nflags; i++) {
		if (cli_apply(o, flags[i].opt, flags[i].arg) < 0) {
			ret = -1;
			break;
		}
	}
out:
	free(flags);
	return ret;
}
