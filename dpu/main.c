/* SPDX-License-Identifier: MIT */
/*
 * kite-dpu: a software DPU serving vhost-user block volumes (and switch ports) to VMs.
 *   kite-dpu --config FILE.json [--control SOCK] [--cores 0,1] [--verbose] [--seccomp-level 0|1|2]
 * Config: {"cores": [1], "control": "/run/kite-dpu.sock", "volumes": [{"name": "vol0",
 *   "image": "vol0.img", "socket": "vol0.sock", "queues": 2, "readonly": false, "iops": 0, "bps": 0}]}
 * The config is checked whole before anything starts (dpu/config.c). Every start-up failure is one
 * log line, tears down what was started and exits 1; SIGINT/SIGTERM arrive through a signalfd on the
 * control loop and end in a clean shutdown (exit 0).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "poller.h"
#include "kite/evloop.h"
#include "kite/log.h"
#include "kite/seccomp.h"
#include "dpu.h"

static struct evloop *loop;
static struct dpu_poller *pollers[DPU_MAX_POLLERS];
static unsigned assigned[DPU_MAX_POLLERS];
static unsigned nr_pollers;

struct evloop *dpu_loop(void)
{
	return loop;
}

struct dpu_poller *dpu_poller_pick(int index)
{
	unsigned best = 0;

	if (index >= 0 && (unsigned)index < nr_pollers)
		best = (unsigned)index;
	else
		for (unsigned i = 1; i < nr_pollers; i++)
			if (assigned[i] < assigned[best])
				best = i;
	assigned[best]++;
	return pollers[best];
}

static void stats_pollers(FILE *f)
{
	for (unsigned i = 0; i < nr_pollers; i++) {
		uint64_t rounds, busy, sleeps;
		poller_counters(pollers[i], &rounds, &busy, &sleeps);
		fprintf(f, "kite_dpu_poller_rounds_total{poller=\"%u\",cpu=\"%d\"} %llu\n", i, poller_cpu(pollers[i]),
			(unsigned long long)rounds);
		fprintf(f, "kite_dpu_poller_busy_rounds_total{poller=\"%u\",cpu=\"%d\"} %llu\n", i,
			poller_cpu(pollers[i]), (unsigned long long)busy);
		fprintf(f, "kite_dpu_poller_sleeps_total{poller=\"%u\",cpu=\"%d\"} %llu\n", i, poller_cpu(pollers[i]),
			(unsigned long long)sleeps);
		fprintf(f, "kite_dpu_poller_items{poller=\"%u\",cpu=\"%d\"} %u\n", i, poller_cpu(pollers[i]),
			poller_nr_items(pollers[i]));
		fprintf(f, "kite_dpu_poller_spin_ns{poller=\"%u\",cpu=\"%d\"} %llu\n", i, poller_cpu(pollers[i]),
			(unsigned long long)poller_spin_ns(pollers[i]));
	}
}

/* SIGINT/SIGTERM through the signalfd: a clean shutdown (exit status 0). */
static void on_signal(void *opaque, int fd, uint32_t events)
{
	struct signalfd_siginfo si;

	(void)opaque;
	(void)events;
	if (read(fd, &si, sizeof(si)) != sizeof(si))
		return;
	log_info("stopping on signal %u (%s)", si.ssi_signo, strsignal((int)si.ssi_signo));
	evloop_stop(loop);
}

/* The config file as a JSON object, or NULL after one log line. */
static cJSON *load_config(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text = NULL;
	size_t len = 0;

	if (!f) {
		log_err("config %s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	FILE *m = open_memstream(&text, &len);
	if (!m) {
		log_err("config %s: out of memory", path);
		fclose(f);
		return NULL;
	}
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, m);
	fclose(f);
	fclose(m);
	cJSON *root = cJSON_Parse(text);
	free(text);
	if (!cJSON_IsObject(root)) {
		log_err("config %s: not a JSON object (near '%.20s')", path,
			cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : "");
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

static int parse_cores(const char *s, int *cores, unsigned max)
{
	unsigned n = 0;
	char *end;

	while (*s && n < max) {
		long c = strtol(s, &end, 10);
		if (end == s || c < -1 || c > 4095)
			return -1;
		cores[n++] = (int)c;
		s = *end == ',' ? end + 1 : end;
		if (*end && *end != ',')
			return -1;
	}
	return (int)n;
}

static void usage(void)
{
	fprintf(stderr, "usage: kite-dpu [--config FILE.json] [--control SOCK] [--cores N,M] [--verbose]\n"
		"                [--seccomp-level 0|1|2] [--image-dir DIR] [--socket-dir DIR]\n"
		"  --image-dir DIR   volume images only from DIR, --socket-dir DIR: vhost-user sockets only in DIR\n"
		"                    (\"..\" and symlinks out refused)\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "control", required_argument, NULL, 's' },
		{ "cores", required_argument, NULL, 'p' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "seccomp-level", required_argument, NULL, 'S' },
		{ "image-dir", required_argument, NULL, 'I' },
		{ "socket-dir", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *config = NULL, *control = NULL, *cores_arg = NULL, *image_dir = NULL, *socket_dir = NULL;
	int cores[DPU_MAX_POLLERS], nr_cores = 0, o, sfd = -1, status = 1, level = KITE_SECCOMP_DEFAULT_LEVEL;
	cJSON *root = NULL;
	sigset_t stop_sigs;
	char err[512];

	kite_log_init("kite-dpu", KITE_LOG_INFO);
	while ((o = getopt_long(argc, argv, "c:s:p:vh", opts, NULL)) != -1) {
		switch (o) {
		case 'c': config = optarg; break;
		case 's': control = optarg; break;
		case 'p': cores_arg = optarg; break;
		case 'I': image_dir = optarg; break;
		case 'D': socket_dir = optarg; break;
		case 'v': kite_log_set_level(KITE_LOG_DEBUG); break;
		case 'S':
			if (seccomp_parse_level(optarg, &level) < 0) {
				log_err("--seccomp-level %s: expected 0, 1 or 2", optarg);
				return 1;
			}
			break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	if (dpu_confine_set(image_dir, socket_dir, err, sizeof(err)) < 0) {
		log_err("%s", err);
		return 1;
	}
	/* Each poller filters itself first thing, the control thread before its loop (dpu/seccomp.c);
	 * tzset() now so that no later line opens /etc/localtime. */
	tzset();
	dpu_seccomp_register(level);
	/* Services register their config sections and commands before the file is checked. */
	dpu_stats_register(stats_pollers);
	dpu_blk_init();
	if (config) {
		if (!(root = load_config(config)))
			return 1;
		if (dpu_config_check(root, err, sizeof(err)) < 0) {
			log_err("config %s: %s", config, err);
			goto out;
		}
	}
	if (cores_arg) {
		nr_cores = parse_cores(cores_arg, cores, DPU_MAX_POLLERS);
		if (nr_cores < 0) {
			log_err("--cores %s: expected a comma-separated list of CPU numbers", cores_arg);
			goto out;
		}
	} else if (root) {
		nr_cores = dpu_config_cores(root, cores, DPU_MAX_POLLERS);
	}
	if (nr_cores == 0)
		cores[nr_cores++] = -1;
	if (!control && root && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, "control")))
		control = cJSON_GetObjectItemCaseSensitive(root, "control")->valuestring;

	/* SIGINT/SIGTERM are blocked before any thread starts (pollers, DPDK's), so every thread inherits
	 * the mask and they only arrive through the signalfd on the control loop. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&stop_sigs);
	sigaddset(&stop_sigs, SIGINT);
	sigaddset(&stop_sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &stop_sigs, NULL);
	loop = evloop_new();
	if (!loop) {
		log_err("cannot create the event loop");
		goto out;
	}
	sfd = signalfd(-1, &stop_sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0 || evloop_add(loop, sfd, EPOLLIN, on_signal, NULL) < 0) {
		log_err("signalfd for SIGINT/SIGTERM: %s", strerror(errno));
		goto out;
	}
	for (int i = 0; i < nr_cores; i++) {
		pollers[i] = poller_new(cores[i], true);
		if (!pollers[i]) {
			log_err("cannot start the poller for cpu %d", cores[i]);
			goto out;
		}
		poller_set_spin_max_ns(pollers[i], dpu_config_spin_ns(root));
		nr_pollers++;
	}
	if (control && dpu_ctl_listen(control) < 0) {
		log_err("control socket %s: cannot listen", control);
		goto out;
	}
	if (root && dpu_config_apply(root, err, sizeof(err)) < 0) {
		log_err("config %s: %s", config, err);
		goto out;
	}
	/* `control` may point into `root`: log before freeing it. */
	log_info("running with %u poller(s)%s%s", nr_pollers, control ? ", control socket " : "", control ? control : "");
	cJSON_Delete(root);
	root = NULL;
	control = NULL;

	if (seccomp_enter("control") < 0)
		goto out;
	int r = evloop_run(loop);
	log_info("stopping");
	status = r < 0 ? 1 : 0;
out:
	cJSON_Delete(root);
	dpu_ctl_close();
	if (loop) {
		dpu_shutdown_run();
		dpu_blk_shutdown();
	}
	for (unsigned i = 0; i < nr_pollers; i++)
		poller_free(pollers[i]);
	if (sfd >= 0) {
		evloop_del(loop, sfd);
		close(sfd);
	}
	evloop_free(loop);
	return seccomp_exit_status(status);
}
