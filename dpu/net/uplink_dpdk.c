/* SPDX-License-Identifier: MIT */
/* DPDK uplink port (see uplink_dpdk.h). */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../poller.h"
#include "kite/log.h"
#include "kite/seccomp.h"

#include "runner.h"
#include "uplink_dpdk.h"

#ifndef KITE_HAVE_DPDK

struct dpdk_port *dpdk_port_new(struct vsw_runner *h, const char *name, const struct dpdk_port_cfg *cfg)
{
	(void)h;
	(void)cfg;
	log_err("dpdk port %s: kite-dpu was built without DPDK (libdpdk-dev not found at build time)", name);
	return NULL;
}

void dpdk_port_free(struct dpdk_port *d)
{
	(void)d;
}

int dpdk_port_id(const struct dpdk_port *d)
{
	(void)d;
	return -1;
}

#else

/* rte_intr_instance_alloc and the handle setters (filter_intr_thread) are still "experimental" in
 * DPDK 22.11 */
#define ALLOW_EXPERIMENTAL_API

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/eventfd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_interrupts.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#define DPDK_RING      512
#define DPDK_MBUFS     4095
#define DPDK_CACHE     64
#define DPDK_MAX_ARGS  64

struct dpdk_port {
	char name[VSW_NAME_MAX];
	struct vsw_runner *runner;
	struct rte_mempool *pool;
	uint16_t port_id;
	int id;
	bool started;
	uint64_t tx_refused;       /* frames the PMD did not take (counted as tx_full by the switch) */
	uint64_t tx_too_long;
};

static int eal_state;   /* 0 not started, 1 running, -1 failed (rte_eal_init cannot be retried) */
/* the strings, and the array handed to the EAL (which permutes it and overwrites one slot) */
static char *eal_args[DPDK_MAX_ARGS + 5];
static char *eal_argv[DPDK_MAX_ARGS + 5];

static bool has_arg(const char *const *args, unsigned n, const char *prefix)
{
	for (unsigned i = 0; i < n; i++)
		if (!strncmp(args[i], prefix, strlen(prefix)))
			return true;
	return false;
}

/*
 * rte_eal_init starts DPDK's interrupt thread ("eal-intr-thread": interrupts and alarms of the
 * PMDs), which kite-dpu does not create. It gets its own seccomp filter ("dpdk-intr", dpu/seccomp.c)
 * the only way DPDK lets code run on it: an interrupt callback on an eventfd, which installs the
 * filter from inside the thread. Called on the control thread right after rte_eal_init; 0, or -1
 * (logged) when the thread did not confirm within 10 s or could not load its filter.
 */
static atomic_int intr_filtered;   /* 1 filtered, -1 failed */

static void filter_intr_thread_cb(void *arg)
{
	int *fds = arg;
	uint64_t v;

	if (read(fds[0], &v, sizeof(v)) < 0) {
		/* nothing to clear: the callback runs once per write */
	}
	if (atomic_load(&intr_filtered) == 0)
		atomic_store(&intr_filtered, seccomp_enter("dpdk-intr") == 0 ? 1 : -1);
	v = 1;
	if (write(fds[1], &v, sizeof(v)) < 0) {
		/* the control thread then gives up after its timeout */
	}
}

static int filter_intr_thread(const char *name)
{
	static int fds[2] = { -1, -1 };   /* trigger, done; kept open: the callback stays registered */
	struct rte_intr_handle *h;
	struct pollfd pfd;
	uint64_t v = 1;

	if (seccomp_level() == 0)
		return 0;
	fds[0] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	fds[1] = eventfd(0, EFD_CLOEXEC);
	h = rte_intr_instance_alloc(RTE_INTR_INSTANCE_F_PRIVATE);
	if (fds[0] < 0 || fds[1] < 0 || !h || rte_intr_fd_set(h, fds[0]) || rte_intr_type_set(h, RTE_INTR_HANDLE_EXT) ||
	    rte_intr_callback_register(h, filter_intr_thread_cb, fds) < 0) {
		log_err("dpdk port %s: cannot reach DPDK's interrupt thread to install its seccomp filter", name);
		return -1;
	}
	pfd = (struct pollfd){ .fd = fds[1], .events = POLLIN };
	if (write(fds[0], &v, sizeof(v)) != sizeof(v) || poll(&pfd, 1, 10000) != 1 || atomic_load(&intr_filtered) != 1) {
		log_err("dpdk port %s: DPDK's interrupt thread did not install its seccomp filter", name);
		return -1;
	}
	return read(fds[1], &v, sizeof(v)) == sizeof(v) ? 0 : -1;
}

/* The EAL pins the calling thread to the main lcore's CPUs: the control thread keeps its own mask. */
static int eal_start(const char *name, const struct dpdk_port_cfg *cfg, int cpu)
{
	char lcores[32];
	cpu_set_t saved;
	int argc = 0, r;

	if (eal_state)
		return eal_state > 0 ? 0 : -1;
	eal_state = -1;
	if (cfg->neal > DPDK_MAX_ARGS) {
		log_err("dpdk port %s: more than %d EAL arguments", name, DPDK_MAX_ARGS);
		return -1;
	}
	if (cpu < 0) {
		CPU_ZERO(&saved);
		if (sched_getaffinity(0, sizeof(saved), &saved) == 0)
			for (cpu = 0; cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &saved); cpu++)
				;
		if (cpu < 0 || cpu >= CPU_SETSIZE)
			cpu = 0;
	}
	eal_argv[argc++] = strdup("kite-dpu");
	for (unsigned i = 0; i < cfg->neal; i++)
		eal_argv[argc++] = strdup(cfg->eal[i]);
	/* one lcore (the main one) on the poller's CPU unless the config says otherwise */
	if (!has_arg(cfg->eal, cfg->neal, "-l") && !has_arg(cfg->eal, cfg->neal, "--lcores") &&
	    !has_arg(cfg->eal, cfg->neal, "-c")) {
		snprintf(lcores, sizeof(lcores), "--lcores=0@%d", cpu);
		eal_argv[argc++] = strdup(lcores);
	}
	if (!has_arg(cfg->eal, cfg->neal, "--no-telemetry") && !has_arg(cfg->eal, cfg->neal, "--telemetry"))
		eal_argv[argc++] = strdup("--no-telemetry");
	/* a runtime directory of our own: never share (or fight over) another DPDK process's */
	if (!has_arg(cfg->eal, cfg->neal, "--file-prefix")) {
		snprintf(lcores, sizeof(lcores), "--file-prefix=kite-dpu-%d", (int)getpid());
		eal_argv[argc++] = strdup(lcores);
	}
	for (int i = 0; i < argc; i++) {
		if (!eal_argv[i])
			return -1;
		eal_args[i] = eal_argv[i];
	}
	if (pthread_getaffinity_np(pthread_self(), sizeof(saved), &saved))
		CPU_ZERO(&saved);
	r = rte_eal_init(argc, eal_argv);
	if (CPU_COUNT(&saved))
		pthread_setaffinity_np(pthread_self(), sizeof(saved), &saved);
	if (r < 0) {
		log_err("dpdk port %s: rte_eal_init failed: %s", name, rte_strerror(rte_errno));
		return -1;
	}
	/* with --no-shconf the runtime directory stays empty: do not leave one per run behind */
	rmdir(rte_eal_get_runtime_dir());
	if (filter_intr_thread(name) < 0)
		return -1;
	eal_state = 1;
	log_info("dpdk: EAL started (%d arguments), %u ethdev port(s)", argc - 1, rte_eth_dev_count_avail());
	return 0;
}

/* The poller is a non-EAL thread: give it an lcore id so that mempool caches and per-lcore data work. */
static void register_thread(const char *name)
{
	if (rte_lcore_id() != LCORE_ID_ANY)
		return;
	if (rte_thread_register() < 0)
		log_warn("dpdk port %s: rte_thread_register failed (%s): running without an lcore id", name,
			 rte_strerror(rte_errno));
}

/* Switch -> PMD. */
static unsigned dpdk_tx(void *opaque, struct vsw_frame **frames, unsigned n)
{
	struct dpdk_port *d = opaque;
	struct rte_mbuf *m[VSW_BURST];
	unsigned k = 0, sent;

	for (unsigned i = 0; i < n && i < VSW_BURST; i++) {
		struct rte_mbuf *mb;
		char *p;

		if (frames[i]->len > (uint32_t)rte_pktmbuf_data_room_size(d->pool) - RTE_PKTMBUF_HEADROOM) {
			/* cannot happen with the pool sized for VSW_MAX_FRAME; never write past an mbuf */
			d->tx_too_long++;
			break;
		}
		mb = rte_pktmbuf_alloc(d->pool);
		if (!mb)
			break;
		p = rte_pktmbuf_append(mb, (uint16_t)frames[i]->len);
		if (!p) {
			rte_pktmbuf_free(mb);
			break;
		}
		memcpy(p, frames[i]->data, frames[i]->len);
		m[k++] = mb;
	}
	sent = k ? rte_eth_tx_burst(d->port_id, 0, m, (uint16_t)k) : 0;
	for (unsigned i = sent; i < k; i++)
		rte_pktmbuf_free(m[i]);
	d->tx_refused += n - sent;
	return sent;
}

/* PMD -> switch: one burst. */
static unsigned dpdk_poll(void *opaque)
{
	struct dpdk_port *d = opaque;
	struct vswitch *sw = d->runner->sw;
	struct rte_mbuf *m[VSW_BURST];
	struct vsw_frame *frames[VSW_BURST];
	unsigned n = 0;
	uint16_t got;

	got = rte_eth_rx_burst(d->port_id, 0, m, VSW_BURST);
	for (uint16_t i = 0; i < got; i++) {
		uint32_t len = rte_pktmbuf_pkt_len(m[i]);
		struct vsw_frame *f;
		const void *src;

		if (len > VSW_MAX_FRAME) {
			vswitch_count_drop(sw, d->id, VSW_DROP_OVERSIZE);
			rte_pktmbuf_free(m[i]);
			continue;
		}
		f = vswitch_frame_alloc(sw);
		if (!f) {
			vswitch_count_drop(sw, d->id, VSW_DROP_NO_BUFFER);
			rte_pktmbuf_free(m[i]);
			continue;
		}
		/* copies a segment chain into f->data; returns the mbuf's own bytes when contiguous */
		src = rte_pktmbuf_read(m[i], 0, len, f->data);
		if (src && src != f->data)
			memcpy(f->data, src, len);
		rte_pktmbuf_free(m[i]);
		if (!src) {
			vswitch_count_drop(sw, d->id, VSW_DROP_RUNT);
			vswitch_frame_free(sw, f);
			continue;
		}
		f->len = len;
		frames[n++] = f;
	}
	if (n)
		vswitch_input(sw, d->id, frames, n);
	return got;
}

static const struct vsw_port_ops dpdk_ops = { .tx = dpdk_tx };

struct dpdk_arg {
	struct dpdk_port *d;
	uint32_t mtu;
	int ret;
};

static void do_add(struct vsw_runner *h, void *arg)
{
	struct dpdk_arg *a = arg;

	register_thread(a->d->name);
	a->ret = vswitch_port_add(h->sw, a->d->name, &dpdk_ops, a->d);
	if (a->ret >= 0)
		vswitch_port_set_mtu(h->sw, a->ret, a->mtu);
}

static void do_remove(struct vsw_runner *h, void *arg)
{
	struct dpdk_arg *a = arg;

	vswitch_port_remove(h->sw, a->d->id);
}

static int dev_start(struct dpdk_port *d, uint32_t mtu)
{
	struct rte_eth_conf conf;
	struct rte_eth_dev_info info;
	int socket = rte_eth_dev_socket_id(d->port_id), r;
	char pool_name[RTE_MEMPOOL_NAMESIZE];

	if (socket < 0)
		socket = (int)SOCKET_ID_ANY;
	r = rte_eth_dev_info_get(d->port_id, &info);
	if (r) {
		log_err("dpdk port %s: ethdev %u: cannot get device info: %s", d->name, d->port_id, strerror(-r));
		return -1;
	}
	snprintf(pool_name, sizeof(pool_name), "kite_up%u", d->port_id);
	d->pool = rte_pktmbuf_pool_create(pool_name, DPDK_MBUFS, DPDK_CACHE, 0,
					  RTE_PKTMBUF_HEADROOM + VSW_MAX_FRAME, socket);
	if (!d->pool) {
		log_err("dpdk port %s: cannot create the mbuf pool: %s", d->name, rte_strerror(rte_errno));
		return -1;
	}
	memset(&conf, 0, sizeof(conf));
	r = rte_eth_dev_configure(d->port_id, 1, 1, &conf);
	if (r) {
		log_err("dpdk port %s: ethdev %u (%s): configure 1 rx / 1 tx queue failed: %s", d->name, d->port_id,
			info.driver_name, strerror(-r));
		return -1;
	}
	r = rte_eth_dev_set_mtu(d->port_id, (uint16_t)mtu);
	if (r)
		log_warn("dpdk port %s: ethdev %u (%s): cannot set MTU %u (%s), keeping the device's", d->name,
			 d->port_id, info.driver_name, mtu, strerror(-r));
	r = rte_eth_rx_queue_setup(d->port_id, 0, DPDK_RING, (unsigned)socket, NULL, d->pool);
	if (!r)
		r = rte_eth_tx_queue_setup(d->port_id, 0, DPDK_RING, (unsigned)socket, NULL);
	if (r) {
		log_err("dpdk port %s: ethdev %u (%s): queue setup failed: %s", d->name, d->port_id,
			info.driver_name, strerror(-r));
		return -1;
	}
	r = rte_eth_dev_start(d->port_id);
	if (r) {
		log_err("dpdk port %s: ethdev %u (%s): start failed: %s", d->name, d->port_id, info.driver_name,
			strerror(-r));
		return -1;
	}
	d->started = true;
	r = rte_eth_promiscuous_enable(d->port_id);
	if (r)
		log_warn("dpdk port %s: ethdev %u (%s): cannot enable promiscuous mode: %s", d->name, d->port_id,
			 info.driver_name, strerror(-r));
	log_info("dpdk port %s: ethdev %u (%s) started", d->name, d->port_id, info.driver_name);
	return 0;
}

static void dev_stop(struct dpdk_port *d)
{
	if (d->started) {
		rte_eth_dev_stop(d->port_id);
		rte_eth_dev_close(d->port_id);
	}
	rte_mempool_free(d->pool);
}

struct dpdk_port *dpdk_port_new(struct vsw_runner *h, const char *name, const struct dpdk_port_cfg *cfg)
{
	struct dpdk_port *d;
	struct dpdk_arg a;

	if (strlen(name) >= VSW_NAME_MAX) {
		log_err("dpdk port %s: name too long", name);
		return NULL;
	}
	if (cfg->mtu < 68 || cfg->mtu > VSW_MAX_MTU) {
		log_err("dpdk port %s: MTU %u outside 68..%d", name, cfg->mtu, VSW_MAX_MTU);
		return NULL;
	}
	/* EAL start-up and a PMD's port start (AF_PACKET sockets, mappings, threads) go far beyond the
	 * control thread's allowlist: only before the filters, i.e. from the config file */
	if (seccomp_current_kind()) {
		log_err("dpdk port %s: DPDK ports can only be set up before kite-dpu's seccomp filters: put the port "
			"in the config file (or run with --seccomp-level 0)", name);
		return NULL;
	}
	if (eal_start(name, cfg, h->poller ? poller_cpu(h->poller) : -1) < 0)
		return NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	strcpy(d->name, name);
	d->runner = h;
	if (cfg->device) {
		if (rte_eth_dev_get_port_by_name(cfg->device, &d->port_id)) {
			log_err("dpdk port %s: no ethdev named '%s' (check the --vdev / PCI arguments in \"eal\")",
				name, cfg->device);
			free(d);
			return NULL;
		}
	} else {
		d->port_id = cfg->port_id;
		if (!rte_eth_dev_is_valid_port(d->port_id)) {
			log_err("dpdk port %s: no ethdev port %u (%u available)", name, d->port_id,
				rte_eth_dev_count_avail());
			free(d);
			return NULL;
		}
	}
	if (dev_start(d, cfg->mtu) < 0)
		goto fail;
	a.d = d;
	a.mtu = cfg->mtu;
	vsw_runner_call(h, do_add, &a);
	if (a.ret < 0) {
		log_err("dpdk port %s: cannot add to the switch: %s", name, strerror(-a.ret));
		goto fail;
	}
	d->id = a.ret;
	if (vsw_runner_add_item(h, dpdk_poll, d) < 0) {
		log_err("dpdk port %s: too many polled uplinks", name);
		vsw_runner_call(h, do_remove, &a);
		goto fail;
	}
	return d;
fail:
	dev_stop(d);
	free(d);
	return NULL;
}

void dpdk_port_free(struct dpdk_port *d)
{
	struct dpdk_arg a = { d, 0, 0 };

	if (!d)
		return;
	vsw_runner_del_item(d->runner, dpdk_poll, d);
	vsw_runner_call(d->runner, do_remove, &a);
	if (d->tx_refused || d->tx_too_long)
		log_info("dpdk port %s: %lu frames refused by the PMD, %lu too long", d->name,
			 (unsigned long)d->tx_refused, (unsigned long)d->tx_too_long);
	dev_stop(d);
	free(d);
}

int dpdk_port_id(const struct dpdk_port *d)
{
	return d->id;
}

#endif
