/* SPDX-License-Identifier: MIT */
/*
 * kite-dpu: a software DPU serving vhost-user block volumes (and switch ports) to VMs.
 *   kite-dpu --config FILE.json [--control SOCK] [--cores 0,1] [--verbose]
 * Config: {"cores": [1], "control": "/run/kite-dpu.sock", "volumes": [{"name": "vol0",
 *   "image": "vol0.img", "socket": "vol0.sock", "queues": 2, "readonly": false, "iops": 0, "bps": 0}]}
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kite/dpu_poller.h"
#include "kite/evloop.h"
#include "kite/log.h"
#include "dpu.h"

#define MAX_POLLERS 64

static struct evloop *loop;
static struct dpu_poller *pollers[MAX_POLLERS];
static unsigned assigned[MAX_POLLERS];
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
	}
}

static void on_signal(int sig)
{
	(void)sig;
	evloop_stop(loop);
}

static cJSON *load_config(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text = NULL;
	size_t len = 0;

	if (!f)
		kite_die("config %s: cannot open: %s", path, strerror(errno));
	FILE *m = open_memstream(&text, &len);
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, m);
	fclose(f);
	fclose(m);
	cJSON *root = cJSON_Parse(text);
	free(text);
	if (!cJSON_IsObject(root))
		kite_die("config %s: not a JSON object (near '%.20s')", path, cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : "");
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
	fprintf(stderr, "usage: kite-dpu [--config FILE.json] [--control SOCK] [--cores N,M] [--verbose]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "control", required_argument, NULL, 's' },
		{ "cores", required_argument, NULL, 'p' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *config = NULL, *control = NULL, *cores_arg = NULL;
	int cores[MAX_POLLERS], nr_cores = 0, o;
	cJSON *root = NULL;

	kite_log_init("kite-dpu", KITE_LOG_INFO);
	while ((o = getopt_long(argc, argv, "c:s:p:vh", opts, NULL)) != -1) {
		switch (o) {
		case 'c': config = optarg; break;
		case 's': control = optarg; break;
		case 'p': cores_arg = optarg; break;
		case 'v': kite_log_set_level(KITE_LOG_DEBUG); break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	if (config)
		root = load_config(config);
	if (cores_arg) {
		nr_cores = parse_cores(cores_arg, cores, MAX_POLLERS);
		if (nr_cores < 0)
			kite_die("--cores %s: expected a comma-separated list of CPU numbers", cores_arg);
	} else if (root && cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(root, "cores"))) {
		const cJSON *c;
		cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(root, "cores")) {
			if (!cJSON_IsNumber(c) || nr_cores >= MAX_POLLERS)
				kite_die("config %s: \"cores\" must be a list of CPU numbers", config);
			cores[nr_cores++] = c->valueint;
		}
	}
	if (nr_cores == 0)
		cores[nr_cores++] = -1;
	if (!control && root && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, "control")))
		control = cJSON_GetObjectItemCaseSensitive(root, "control")->valuestring;

	loop = evloop_new();
	if (!loop)
		kite_die("cannot create the event loop");
	for (int i = 0; i < nr_cores; i++) {
		pollers[i] = poller_new(cores[i], true);
		if (!pollers[i])
			kite_die("cannot start the poller for cpu %d", cores[i]);
		nr_pollers++;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	dpu_stats_register(stats_pollers);
	dpu_blk_init();
	if (control && dpu_ctl_listen(control) < 0)
		kite_die("control socket %s: cannot listen", control);
	if (root && dpu_config_apply(root) < 0)
		kite_die("config %s: cannot apply (see above)", config);
	/* `control` may point into `root`: log before freeing it. */
	log_info("running with %u poller(s)%s%s", nr_pollers, control ? ", control socket " : "", control ? control : "");
	cJSON_Delete(root);
	control = NULL;

	int r = evloop_run(loop);
	log_info("stopping");
	dpu_ctl_close();
	dpu_shutdown_run();
	dpu_blk_shutdown();
	for (unsigned i = 0; i < nr_pollers; i++)
		poller_free(pollers[i]);
	evloop_free(loop);
	return r < 0 ? 1 : 0;
}
