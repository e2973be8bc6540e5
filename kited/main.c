/* SPDX-License-Identifier: MIT */
/*
 * kited [--sock PATH] [--state-dir DIR] [--kite PATH] [--kite-dpu PATH] [--jailer PATH]
 *       [--jail on|off] [--uid-base N] [--uid-count N] [--dpu-cores LIST] [--verbose]
 *
 * Start-up (docs/kited.md): options, the state directory and its lock, the VM definitions
 * (vm_load_all), kite-dpu (dpu_start: adopted or started), the supervisor, the VMs whose kites still
 * run (vm_adopt_all), kited's seccomp filter, then the API. SIGINT/SIGTERM end kited with 0 and
 * leave every VM and kite-dpu running for the next kited to adopt.
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http.h"
#include "kite/log.h"
#include "kited_seccomp.h"
#include "state.h"
#include "vm_internal.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kited [--sock PATH] [--state-dir DIR] [--kite PATH] [--kite-dpu PATH] [--jailer PATH]\n"
		"             [--jail on|off] [--uid-base N] [--uid-count N] [--dpu-cores LIST] [--seccomp-level 0|1|2]\n"
		"             [--verbose]\n"
		"  --sock PATH        the API socket (default /run/kite/kited.sock)\n"
		"  --state-dir DIR    definitions, runtime state, volumes, kite-dpu's sockets (default /var/lib/kite)\n"
		"  --kite, --kite-dpu, --jailer PATH   the programs kited starts (default: beside kited)\n"
		"  --jail on|off      run each kite under kite-jailer (default: on when root)\n"
		"  --uid-base N       each jailed VM runs as its own uid (= gid) from N (default 100000) ...\n"
		"  --uid-count N      ... to N + COUNT - 1 (default 65536): at most COUNT VMs\n"
		"  --dpu-cores LIST   kite-dpu's --cores\n"
		"  --seccomp-level N  kited's own filter: 0 none, 1 syscall numbers, 2 (default) with arguments\n");
}

static int parse_uint(const char *s, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > 0x7fffffff)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int set_path(char *dst, const char *src, const char *what)
{
	if (src[0] != '/' || strlen(src) >= KD_PATH_MAX) {
		log_err("%s %s: expected an absolute path shorter than %d bytes", what, src, KD_PATH_MAX);
		return -1;
	}
	strcpy(dst, src);
	return 0;
}

/* Default programs: beside kited's own binary; in the build tree (kited/kited) one level up, the
 * jailer in jailer/. */
static void beside_self(char *dst, const char *name, const char *build_subdir)
{
	char self[KD_PATH_MAX], *dir;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0) {
		snprintf(dst, KD_PATH_MAX, "/usr/bin/%s", name);
		return;
	}
	self[n] = '\0';
	dir = dirname(self);
	snprintf(dst, KD_PATH_MAX, "%.*s/%s", (int)(KD_PATH_MAX - strlen(name) - 2), dir, name);
	if (access(dst, X_OK) == 0)
		return;
	snprintf(dst, KD_PATH_MAX, "%.*s/../%s%s", (int)(KD_PATH_MAX - strlen(name) - 16), dir, build_subdir, name);
	if (access(dst, X_OK) < 0)
		snprintf(dst, KD_PATH_MAX, "%.*s/%s", (int)(KD_PATH_MAX - strlen(name) - 2), dir, name);
}

static int parse_args(int argc, char **argv, struct kited *kd, int *seccomp_level)
{
	enum { O_SOCK = 256, O_STATE, O_KITE, O_DPU, O_JAILER, O_JAIL, O_UID_BASE, O_UID_COUNT, O_CORES, O_VERBOSE, O_SECCOMP, O_HELP };
	static const struct option opts[] = {
		{ "sock", required_argument, NULL, O_SOCK }, { "state-dir", required_argument, NULL, O_STATE },
		{ "kite", required_argument, NULL, O_KITE }, { "kite-dpu", required_argument, NULL, O_DPU },
		{ "jailer", required_argument, NULL, O_JAILER }, { "jail", required_argument, NULL, O_JAIL },
		{ "uid-base", required_argument, NULL, O_UID_BASE }, { "uid-count", required_argument, NULL, O_UID_COUNT },
		{ "dpu-cores", required_argument, NULL, O_CORES }, { "verbose", no_argument, NULL, O_VERBOSE },
		{ "seccomp-level", required_argument, NULL, O_SECCOMP }, { "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	strcpy(kd->sock, "/run/kite/kited.sock");
	strcpy(kd->state_dir, "/var/lib/kite");
	beside_self(kd->kite_bin, "kite", "");
	beside_self(kd->dpu_bin, "kite-dpu", "");
	beside_self(kd->jailer_bin, "kite-jailer", "jailer/");
	kd->jail = geteuid() == 0;
	kd->uid_base = 100000;
	kd->uid_count = 65536;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case O_SOCK:
			if (set_path(kd->sock, optarg, "--sock") < 0)
				return -1;
			break;
		case O_STATE:
			if (set_path(kd->state_dir, optarg, "--state-dir") < 0)
				return -1;
			break;
		case O_KITE:
			if (set_path(kd->kite_bin, optarg, "--kite") < 0)
				return -1;
			break;
		case O_DPU:
			if (set_path(kd->dpu_bin, optarg, "--kite-dpu") < 0)
				return -1;
			break;
		case O_JAILER:
			if (set_path(kd->jailer_bin, optarg, "--jailer") < 0)
				return -1;
			break;
		case O_JAIL:
			if (strcmp(optarg, "on") && strcmp(optarg, "off")) {
				log_err("--jail %s: expected on or off", optarg);
				return -1;
			}
			kd->jail = !strcmp(optarg, "on");
			break;
		case O_UID_BASE:
		case O_UID_COUNT:
			if (parse_uint(optarg, c == O_UID_BASE ? &kd->uid_base : &kd->uid_count) < 0) {
				log_err("--%s %s: expected a number", c == O_UID_BASE ? "uid-base" : "uid-count", optarg);
				return -1;
			}
			break;
		case O_CORES:
			if (strlen(optarg) >= sizeof(kd->dpu_cores)) {
				log_err("--dpu-cores %s: too long", optarg);
				return -1;
			}
			strcpy(kd->dpu_cores, optarg);
			break;
		case O_VERBOSE:
			kite_log_set_level(KITE_LOG_DEBUG);
			break;
		case O_SECCOMP:
			if (seccomp_parse_level(optarg, seccomp_level) < 0) {
				log_err("--seccomp-level %s: expected 0, 1 or 2", optarg);
				return -1;
			}
			break;
		case O_HELP:
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		log_err("unexpected argument %s", argv[optind]);
		return -1;
	}
	/* uid 0 is root's; the range must not wrap past the 32-bit ids (and (uid_t)-1 means "unchanged") */
	if (kd->uid_base == 0 || kd->uid_count == 0 || (unsigned long long)kd->uid_base + kd->uid_count > 0xfffffffeull) {
		log_err("--uid-base %u --uid-count %u: expected a base of 1 or more and a count of 1 or more within 32-bit ids",
			kd->uid_base, kd->uid_count);
		return -1;
	}
	if (kd->jail && geteuid() != 0) {
		log_err("--jail on needs root (kite-jailer makes namespaces, a chroot and cgroups)");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct kited kd = { .lock = PTHREAD_MUTEX_INITIALIZER };
	int seccomp_level = KITE_SECCOMP_DEFAULT_LEVEL, lockfd, sig;
	char err[512], sockdir[KD_PATH_MAX];
	struct kd_http *http;
	sigset_t set;

	kite_log_init("kited", KITE_LOG_INFO);
	if (parse_args(argc, argv, &kd, &seccomp_level) < 0)
		return 2;
	/* SIGINT/SIGTERM are taken by sigwait below; every thread inherits the mask (kites get it reset) */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (state_mkdir(kd.state_dir, 0700) < 0) {
		log_err("%s: cannot create the state directory: %m", kd.state_dir);
		return 1;
	}
	lockfd = state_lock(kd.state_dir, err, sizeof(err));
	if (lockfd < 0) {
		log_err("%s", err);
		return 1;
	}
	snprintf(sockdir, sizeof(sockdir), "%s", kd.sock);
	if (state_mkdir(dirname(sockdir), 0755) < 0) {
		log_err("%s: cannot create the socket's directory: %m", kd.sock);
		return 1;
	}
	if (curl_global_init(CURL_GLOBAL_NOTHING) != CURLE_OK || supervise_init() < 0 || spawn_init() < 0) {
		log_err("start-up: libcurl, epoll or the spawner thread could not start");
		return 1;
	}
	spawn_probe_kite(&kd);
	if (vm_load_all(&kd) < 0)
		return 1;
	if (supervise_start(&kd) < 0) {
		log_err("start-up: the supervisor thread could not start");
		return 1;
	}
	dpu_start(&kd);
	vm_adopt_all(&kd);
	if (kited_seccomp_install(seccomp_level) < 0)
		return 1;
	http = kd_http_start(&kd);
	if (!http)
		return 1;
	log_info("serving %s (state %s, jail %s)", kd.sock, kd.state_dir, kd.jail ? "on" : "off");
	do
		sig = sigwaitinfo(&set, NULL);
	while (sig == SIGHUP || (sig < 0 && errno == EINTR));
	log_info("signal %d: exiting; VMs and kite-dpu keep running for the next kited", sig);
	kd_http_stop(http);
	close(lockfd);
	return 0;
}
