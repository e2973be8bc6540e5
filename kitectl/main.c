/* SPDX-License-Identifier: MIT */
/* kitectl: kited's command-line client (docs/kited.md "kitectl"). Global options, then a command. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kite/version.h"
#include "kitectl.h"

static const char usage_text[] =
	"usage: kitectl [--sock PATH] [--json] COMMAND ...\n"
	"  --sock PATH   kited's API socket (default $KITED_SOCK, else " KC_DEFAULT_SOCK ")\n"
	"  --json        print the API's JSON instead of tables (--json and --sock may also follow the command)\n"
	"commands:\n"
	"  vm create NAME --kernel PATH [--initrd PATH] [--cmdline STR] [--cpus N] [--memory SIZE]\n"
	"            [--disk SIZE [--ephemeral] | --volume NAME] [--net [VLAN]] [--mac MAC] [--start]\n"
	"            [--disk-backend dpu|kite] [--net-backend dpu|kite]   (kite: in-process virtio, no kite-dpu)\n"
	"            [--pin-vcpus LIST] [--pin-io LIST] [--iothreads on|off] [--hugepages auto|on|off]\n"
	"  vm list [--names] | vm info NAME\n"
	"  vm start|pause|resume|delete|snapshot|restore NAME | vm stop NAME [--force] [--timeout S]\n"
	"  vm console NAME            the serial console; Ctrl-] detaches\n"
	"  dpu status\n"
	"  dpu port list | info NAME | add NAME [--tap DEV] [--vlan N] [--mtu N] [--rate-pps N] [--rate-bps N]\n"
	"           | del NAME | set NAME [--vlan N] [--mtu N] [--rate-pps N] [--rate-bps N]\n"
	"  dpu port acl NAME add in|out RULE | acl NAME del in|out [INDEX]\n"
	"  dpu volume list | info NAME | add NAME --size SIZE|--image FILE [--readonly] [--iops N] [--bps N]\n"
	"             | del NAME [--keep-image] | set NAME [--iops N] [--bps N] [--size SIZE]\n"
	"  host\n"
	"  raw METHOD PATH [BODY]     any request; prints the reply body ('-' as BODY: standard input)\n"
	"SIZE: MiB, or with a unit: 512M, 1G, 2T. Exit status: 0 ok, 1 error (one line on stderr), 2 usage.\n";

int main(int argc, char **argv)
{
	struct kc kc = { .sock = getenv("KITED_SOCK") && *getenv("KITED_SOCK") ? getenv("KITED_SOCK") : KC_DEFAULT_SOCK };
	int i, ret;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(usage_text, stdout);
			return KC_OK;
		}
		if (!strcmp(argv[i], "--version")) {
			printf("kitectl %s\n", KITE_VERSION);
			return KC_OK;
		}
		if (!strcmp(argv[i], "--json")) {
			kc.json = true;
		} else if (!strcmp(argv[i], "--sock") && i + 1 < argc) {
			kc.sock = argv[++i];
		} else if (!strncmp(argv[i], "--sock=", 7)) {
			kc.sock = argv[i] + 7;
		} else {
			return kc_usage(NULL, "unknown option '%s'", argv[i]);
		}
	}
	if (i >= argc)
		return kc_usage(NULL, "a command is needed (vm, dpu, host, raw)");
	if (!*kc.sock)
		return kc_usage(NULL, "--sock needs a path");
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		fprintf(stderr, "kitectl: cannot initialise libcurl\n");
		return KC_ERR;
	}
	if (!strcmp(argv[i], "vm"))
		ret = kc_cmd_vm(&kc, argc - i - 1, argv + i + 1);
	else if (!strcmp(argv[i], "dpu"))
		ret = kc_cmd_dpu(&kc, argc - i - 1, argv + i + 1);
	else if (!strcmp(argv[i], "host"))
		ret = kc_cmd_host(&kc, argc - i - 1, argv + i + 1);
	else if (!strcmp(argv[i], "raw"))
		ret = kc_cmd_raw(&kc, argc - i - 1, argv + i + 1);
	else
		ret = kc_usage(NULL, "unknown command '%s' (vm, dpu, host, raw)", argv[i]);
	curl_global_cleanup();
	fflush(stdout);
	if (ferror(stdout) && ret == KC_OK)
		ret = kc_fail("standard output: write error");
	return ret;
}
