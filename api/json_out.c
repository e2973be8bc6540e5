/* SPDX-License-Identifier: MIT */
/* GET replies in Firecracker's JSON: InstanceInfo, MachineConfiguration, FullVmConfiguration, Balloon. */
#include <cjson/cJSON.h>

#include "api_internal.h"
#include "kite/version.h"

static const char *const state_names[] = { "Not started", "Running", "Paused" };
static const char *const hugepages_names[] = { [VMM_HP_AUTO] = "auto", [VMM_HP_ON] = "on", [VMM_HP_OFF] = "off" };
static const char *const stat_names[] = {
	"swap_in", "swap_out", "major_faults", "minor_faults", "free_memory", "total_memory", "available_memory",
	"disk_caches", "hugetlb_allocations", "hugetlb_failures", "oom_kill", "alloc_stall", "async_scan",
	"direct_scan", "async_reclaim", "direct_reclaim",
};

static char *print(cJSON *o)
{
	char *s = o ? cJSON_PrintUnformatted(o) : NULL;

	cJSON_Delete(o);
	return s;
}

static void add_str_or_null(cJSON *o, const char *k, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, k, v);
	else
		cJSON_AddNullToObject(o, k);
}

char *api_json_instance(const struct vmm_control *ctl)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "id", vmm_ctl_id(ctl));
	cJSON_AddStringToObject(o, "state", state_names[vmm_ctl_state(ctl)]);
	cJSON_AddStringToObject(o, "vmm_version", KITE_VERSION);
	cJSON_AddStringToObject(o, "app_name", "kite");
	return print(o);
}

static void add_cpus(cJSON *o, const char *k, const int *cpus, unsigned n)
{
	cJSON *a = n ? cJSON_AddArrayToObject(o, k) : NULL;

	for (unsigned i = 0; a && i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateNumber(cpus[i]));
}

static cJSON *machine_obj(const struct vmm_control *ctl)
{
	struct vmm_machine m;
	cJSON *o = cJSON_CreateObject();

	vmm_ctl_get_machine(ctl, &m);
	cJSON_AddNumberToObject(o, "vcpu_count", m.vcpu_count);
	cJSON_AddNumberToObject(o, "mem_size_mib", (double)m.mem_size_mib);
	cJSON_AddBoolToObject(o, "smt", m.smt);
	cJSON_AddBoolToObject(o, "track_dirty_pages", m.track_dirty_pages);
	cJSON_AddStringToObject(o, "huge_pages", m.huge_pages == VMM_HUGE_2M ? "2M" : "None");
	/* kite extensions (host tuning): the lists only when set */
	add_cpus(o, "pin_vcpus", m.t.pin, m.t.npin);
	add_cpus(o, "pin_io", m.t.pin_io, m.t.npin_io);
	cJSON_AddBoolToObject(o, "iothreads", m.t.iothreads);
	cJSON_AddStringToObject(o, "hugepages", hugepages_names[m.t.hugepages]);
	return o;
}

char *api_json_machine(const struct vmm_control *ctl)
{
	return print(machine_obj(ctl));
}

static void add_limiter(cJSON *o, const char *k, const struct vmm_rate_limiter *rl)
{
	cJSON *l;

	if (!rl->set) {
		cJSON_AddNullToObject(o, k);
		return;
	}
	l = cJSON_AddObjectToObject(o, k);
	for (unsigned i = 0; l && i < 2; i++) {
		const struct vmm_token_bucket *b = i ? &rl->ops : &rl->bandwidth;
		cJSON *t;

		if (!b->set) {
			cJSON_AddNullToObject(l, i ? "ops" : "bandwidth");
			continue;
		}
		t = cJSON_AddObjectToObject(l, i ? "ops" : "bandwidth");
		cJSON_AddNumberToObject(t, "size", (double)b->size);
		cJSON_AddNumberToObject(t, "one_time_burst", (double)b->one_time_burst);
		cJSON_AddNumberToObject(t, "refill_time", (double)b->refill_time);
	}
}

static const char *transport_name(enum vmm_transport t)
{
	return t == VMM_TRANSPORT_PCI ? "pci" : "mmio";
}

static cJSON *balloon_obj(const struct vmm_balloon *b)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "amount_mib", b->amount_mib);
	cJSON_AddBoolToObject(o, "deflate_on_oom", b->deflate_on_oom);
	cJSON_AddNumberToObject(o, "stats_polling_interval_s", b->stats_polling_interval_s);
	return o;
}

char *api_json_vm_config(const struct vmm_control *ctl)
{
	cJSON *o = cJSON_CreateObject(), *a, *x;
	struct vmm_boot boot;
	struct vmm_balloon b;
	char ignore[8];

	if (vmm_ctl_get_balloon(ctl, &b, ignore, sizeof(ignore)) == 0)
		cJSON_AddItemToObject(o, "balloon", balloon_obj(&b));
	else
		cJSON_AddNullToObject(o, "balloon");
	a = cJSON_AddArrayToObject(o, "drives");
	for (unsigned i = 0; a && i < vmm_ctl_drive_count(ctl); i++) {
		struct vmm_drive d;

		vmm_ctl_get_drive(ctl, i, &d);
		x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "drive_id", d.drive_id);
		add_str_or_null(x, "partuuid", d.partuuid);
		cJSON_AddBoolToObject(x, "is_root_device", d.is_root_device);
		cJSON_AddStringToObject(x, "cache_type", d.cache_writeback ? "Writeback" : "Unsafe");
		/* a vhost-user drive has no read-only flag or I/O engine of kite's: null, so that the
		 * configuration reads back as a valid PUT /drives body (snapshots re-apply it) */
		if (d.socket)
			cJSON_AddNullToObject(x, "is_read_only");
		else
			cJSON_AddBoolToObject(x, "is_read_only", d.is_read_only);
		add_str_or_null(x, "path_on_host", d.path_on_host);
		add_limiter(x, "rate_limiter", &d.rate_limiter);
		if (d.socket)
			cJSON_AddNullToObject(x, "io_engine");
		else
			cJSON_AddStringToObject(x, "io_engine", d.io_async ? "Async" : "Sync");
		add_str_or_null(x, "socket", d.socket);
		cJSON_AddStringToObject(x, "transport", transport_name(d.transport));
		cJSON_AddItemToArray(a, x);
	}
	if (vmm_ctl_get_boot(ctl, &boot)) {
		x = cJSON_AddObjectToObject(o, "boot-source");
		cJSON_AddStringToObject(x, "kernel_image_path", boot.kernel_image_path);
		add_str_or_null(x, "initrd_path", boot.initrd_path);
		add_str_or_null(x, "boot_args", boot.boot_args);
	} else {
		cJSON_AddNullToObject(o, "boot-source");
	}
	cJSON_AddNullToObject(o, "cpu-config");
	cJSON_AddNullToObject(o, "logger");
	cJSON_AddItemToObject(o, "machine-config", machine_obj(ctl));
	cJSON_AddNullToObject(o, "metrics");
	cJSON_AddNullToObject(o, "mmds-config");
	a = cJSON_AddArrayToObject(o, "network-interfaces");
	for (unsigned i = 0; a && i < vmm_ctl_net_count(ctl); i++) {
		struct vmm_net n;

		vmm_ctl_get_net(ctl, i, &n);
		x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "iface_id", n.iface_id);
		add_str_or_null(x, "host_dev_name", n.host_dev_name);
		if (n.socket)
			cJSON_AddStringToObject(x, "socket", n.socket);   /* kite extension */
		add_str_or_null(x, "guest_mac", n.guest_mac);
		if (n.mtu)
			cJSON_AddNumberToObject(x, "mtu", n.mtu);
		if (n.queues > 1)
			cJSON_AddNumberToObject(x, "queues", n.queues);   /* kite extension */
		add_limiter(x, "rx_rate_limiter", &n.rx_rate_limiter);
		add_limiter(x, "tx_rate_limiter", &n.tx_rate_limiter);
		cJSON_AddStringToObject(x, "transport", transport_name(n.transport));
		cJSON_AddItemToArray(a, x);
	}
	cJSON_AddNullToObject(o, "vsock");
	if (vmm_ctl_has_entropy(ctl)) {
		x = cJSON_AddObjectToObject(o, "entropy");
		cJSON_AddNullToObject(x, "rate_limiter");
	} else {
		cJSON_AddNullToObject(o, "entropy");
	}
	if (vmm_ctl_get_vconsole(ctl))
		cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "virtio-console"), "output", vmm_ctl_get_vconsole(ctl));
	return print(o);
}

char *api_json_balloon(const struct vmm_balloon *b)
{
	return print(balloon_obj(b));
}

char *api_json_balloon_stats(const struct vmm_balloon_stats *s)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "target_pages", s->target_pages);
	cJSON_AddNumberToObject(o, "actual_pages", s->actual_pages);
	cJSON_AddNumberToObject(o, "target_mib", s->target_pages / 256);
	cJSON_AddNumberToObject(o, "actual_mib", s->actual_pages / 256);
	for (unsigned t = 0; t < VMM_BALLOON_NSTATS; t++)
		if (s->has[t])
			cJSON_AddNumberToObject(o, stat_names[t], (double)s->val[t]);
	return print(o);
}
