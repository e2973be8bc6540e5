/* SPDX-License-Identifier: MIT */
/*
 * The switch service of kite-dpu: the "switch" config section, control commands for ports, VLANs,
 * VNIs, ACLs and rate limits, and the switch's Prometheus statistics. Registered with dpu/ from a
 * constructor, so dpu/main.c needs no change.
 *
 * Config: {"switch": {"core": 0, "fdb_age": 300, "pool_frames": 4096,
 *   "ports": [{"name": "vm0", "type": "vhost", "socket": "/run/vm0.sock", "mac": "02:00:00:00:00:01",
 *              "queues": 1 (queue pairs, 1..8), "mtu": 1500, "vlan": 10, "rate_pps": 0, "rate_bps": 0,
 *              "acl_in": ["allow proto tcp dport 22"], "acl_in_default": "deny"},
 *             {"name": "up0", "type": "tap", "ifname": "kite-up0", "mtu": 1600, "mac": ".." (see tap.h),
 *              "vxlan": {"local_ip": "192.168.50.1", "local_mac": "..", "gw_mac": ".."}},
 *             {"name": "tr0", "type": "tap", "ifname": "kite-tr0", "trunk": [10, 20], "native_vlan": 0},
 *             {"name": "up1", "type": "dpdk", "device": "net_af_packet0" (or "port": ethdev id),
 *              "eal": ["--no-huge", "-m", "256", "--no-pci", "--no-shconf",
 *                      "--vdev=net_af_packet0,iface=eth1"]}],
 *   "vnis": [{"vni": 5000, "vlan": 10, "vteps": ["192.168.50.2"]}]}}
 * Commands (JSON lines on the control socket, "cmd" plus):
 *   port_add   {port object as above}            port_del {"name"}
 *   port_set   {"name", any of vlan / trunk+native_vlan / mtu / rate_* / acl_* / vxlan}
 *   acl_add    {"port", "dir": "in"|"out", "rule": "allow proto tcp dport 80"} -> {"index": n}
 *   acl_del    {"port", "dir", "index"}          acl_clear {"port", "dir"}
 *   vni_add    {"vni", "vlan", "vteps": [..]}    vni_del {"vni"}
 *   switch_stats {}                               -> {"switch": {ports, counters, fdb}}
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "kite/log.h"
#include "../dpu.h"

#include "runner.h"
#include "tap.h"
#include "uplink_dpdk.h"
#include "vnet.h"

#define MAX_SVC_PORTS VSW_MAX_PORTS

enum svc_port_type { SVC_VHOST, SVC_TAP, SVC_DPDK };

struct svc_port {
	char name[VSW_NAME_MAX];
	enum svc_port_type type;
	int id;
	struct vnet_port *vnet;
	struct tap_port *tap;
	struct dpdk_port *dpdk;
};

static struct vsw_runner *runner;
static struct svc_port ports[MAX_SVC_PORTS];
static unsigned nports;

static const cJSON *item(const cJSON *o, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(o, key);
}

static const char *str_item(const cJSON *o, const char *key)
{
	const cJSON *i = item(o, key);

	return cJSON_IsString(i) ? i->valuestring : NULL;
}

/* Number in [lo, hi] or the default when absent; -1 on a bad value. */
static int num_item(const cJSON *o, const char *key, double lo, double hi, double def, double *out)
{
	const cJSON *i = item(o, key);

	if (!i) {
		*out = def;
		return 0;
	}
	if (!cJSON_IsNumber(i) || i->valuedouble < lo || i->valuedouble > hi)
		return -1;
	*out = i->valuedouble;
	return 0;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6)
		return -1;
	for (int i = 0; i < 6; i++) {
		if (v[i] > 255)
			return -1;
		mac[i] = (uint8_t)v[i];
	}
	return 0;
}

static int ensure_host(const cJSON *sec, char *err, size_t errlen)
{
	struct vswitch_config cfg = { 0 };
	double core = -1, age = 300, pool = 4096;

	if (runner)
		return 0;
	if (sec && (num_item(sec, "core", -1, 4095, -1, &core) || num_item(sec, "fdb_age", 1, 86400, 300, &age) ||
		    num_item(sec, "pool_frames", 64, 1 << 20, 4096, &pool))) {
		snprintf(err, errlen, "switch: bad core / fdb_age / pool_frames");
		return -1;
	}
	cfg.pool_frames = (uint32_t)pool;
	cfg.fdb_age_ns = (uint64_t)age * 1000000000ull;
	runner = vsw_runner_new(&cfg, dpu_poller_pick((int)core), false);
	if (!runner) {
		snprintf(err, errlen, "switch: cannot create (see log)");
		return -1;
	}
	return 0;
}

static struct svc_port *find_port(const char *name)
{
	for (unsigned i = 0; i < nports; i++)
		if (!strcmp(ports[i].name, name))
			return &ports[i];
	return NULL;
}

/* ---- settings applied on the poller thread ---- */

struct apply_arg {
	int id;
	const cJSON *o;
	char *err;
	size_t errlen;
	int ret;
};

#define APPLY_FAIL(...) do { snprintf(a->err, a->errlen, __VA_ARGS__); a->ret = -1; return; } while (0)

static int acl_dir_of(const char *s)
{
	if (!s || !strcmp(s, "in"))
		return ACL_IN;
	if (!strcmp(s, "out"))
		return ACL_OUT;
	return -1;
}

static void apply_acl_list(struct vswitch *sw, struct apply_arg *a, const char *key, enum acl_dir dir)
{
	const cJSON *list = item(a->o, key), *r;
	char defkey[32];
	const char *def;

	if (list) {
		if (!cJSON_IsArray(list))
			APPLY_FAIL("%s must be a list of rule strings", key);
		vswitch_acl_clear(sw, a->id, dir);
		cJSON_ArrayForEach(r, list) {
			char why[96];

			if (!cJSON_IsString(r))
				APPLY_FAIL("%s must be a list of rule strings", key);
			if (vswitch_acl_add_text(sw, a->id, dir, r->valuestring, why, sizeof(why)) < 0)
				APPLY_FAIL("%s: rule '%.80s': %s", key, r->valuestring, why);
		}
	}
	snprintf(defkey, sizeof(defkey), "%s_default", key);
	def = str_item(a->o, defkey);
	if (def) {
		if (strcmp(def, "allow") && strcmp(def, "deny"))
			APPLY_FAIL("%s must be allow or deny", defkey);
		vswitch_acl_set_default(sw, a->id, dir, def[0] == 'a' ? ACL_ALLOW : ACL_DENY);
	}
}

static void do_apply(struct vsw_runner *h, void *arg)
{
	struct apply_arg *a = arg;
	struct vswitch *sw = h->sw;
	const cJSON *trunk = item(a->o, "trunk"), *vx = item(a->o, "vxlan");
	double v, nat, pps, ppsb, bps, bpsb;

	a->ret = 0;
	if (item(a->o, "vlan")) {
		if (num_item(a->o, "vlan", 1, 4094, 1, &v))
			APPLY_FAIL("vlan must be 1..4094");
		vswitch_port_set_access(sw, a->id, (uint16_t)v);
	}
	if (trunk) {
		uint16_t vids[4094];
		unsigned n = 0;
		const cJSON *t;

		if (!cJSON_IsArray(trunk))
			APPLY_FAIL("trunk must be a list of VLAN ids");
		cJSON_ArrayForEach(t, trunk) {
			if (!cJSON_IsNumber(t) || t->valuedouble < 1 || t->valuedouble > 4094 || n >= 4094)
				APPLY_FAIL("trunk must be a list of VLAN ids 1..4094");
			vids[n++] = (uint16_t)t->valuedouble;
		}
		if (num_item(a->o, "native_vlan", 0, 4094, 0, &nat))
			APPLY_FAIL("native_vlan must be 0..4094");
		vswitch_port_set_trunk(sw, a->id, vids, n, (uint16_t)nat);
	}
	if (item(a->o, "mtu")) {
		if (num_item(a->o, "mtu", 68, VSW_MAX_MTU, VSW_DEFAULT_MTU, &v))
			APPLY_FAIL("mtu must be 68..%d", VSW_MAX_MTU);
		vswitch_port_set_mtu(sw, a->id, (uint32_t)v);
	}
	if (item(a->o, "rate_pps") || item(a->o, "rate_bps")) {
		if (num_item(a->o, "rate_pps", 0, 1e12, 0, &pps) || num_item(a->o, "rate_pps_burst", 0, 1e12, 0, &ppsb) ||
		    num_item(a->o, "rate_bps", 0, 1e13, 0, &bps) || num_item(a->o, "rate_bps_burst", 0, 1e13, 0, &bpsb))
			APPLY_FAIL("rate_pps / rate_bps / *_burst must be numbers >= 0");
		/* rate_bps is in bits per second, the bucket counts bytes */
		vswitch_port_set_rate(sw, a->id, (uint64_t)pps, (uint64_t)ppsb, (uint64_t)bps / 8, (uint64_t)bpsb / 8);
	}
	if (vx) {
		struct vxlan_cfg c = { 0 };
		const char *ip = str_item(vx, "local_ip"), *lm = str_item(vx, "local_mac"), *gm = str_item(vx, "gw_mac");

		if (cJSON_IsFalse(vx) || cJSON_IsNull(vx)) {
			vswitch_port_set_vxlan(sw, a->id, NULL);
		} else {
			if (!ip || inet_pton(AF_INET, ip, &c.local_ip) != 1 || !lm || parse_mac(lm, c.local_mac) ||
			    !gm || parse_mac(gm, c.gw_mac))
				APPLY_FAIL("vxlan needs local_ip (IPv4), local_mac and gw_mac (xx:xx:xx:xx:xx:xx)");
			if (vswitch_port_set_vxlan(sw, a->id, &c))
				APPLY_FAIL("vxlan: cannot set");
		}
	}
	apply_acl_list(sw, a, "acl_in", ACL_IN);
	if (a->ret == 0)
		apply_acl_list(sw, a, "acl_out", ACL_OUT);
}

static int apply_settings(int id, const cJSON *o, char *err, size_t errlen)
{
	struct apply_arg a = { id, o, err, errlen, 0 };

	vsw_runner_call(runner, do_apply, &a);
	return a.ret;
}

/* ---- ports ---- */

static void port_free(struct svc_port *sp);

/* {"type": "dpdk", "eal": [EAL arguments], "device": "ethdev name" or "port": ethdev port id}. The
 * EAL starts with the first dpdk port's "eal" list; later ports use the running EAL. */
static int dpdk_add(struct svc_port *sp, const cJSON *o, uint32_t mtu, char *err, size_t errlen)
{
	const char *args[64];
	struct dpdk_port_cfg cfg = { .eal = args, .mtu = mtu, .device = str_item(o, "device") };
	const cJSON *eal = item(o, "eal"), *e;
	double port;

	if (eal) {
		if (!cJSON_IsArray(eal)) {
			snprintf(err, errlen, "port %s: eal must be a list of strings", sp->name);
			return -1;
		}
		cJSON_ArrayForEach(e, eal) {
			if (!cJSON_IsString(e) || cfg.neal >= 64) {
				snprintf(err, errlen, "port %s: eal must be a list of up to 64 strings", sp->name);
				return -1;
			}
			args[cfg.neal++] = e->valuestring;
		}
	}
	if (num_item(o, "port", 0, 65535, 0, &port)) {
		snprintf(err, errlen, "port %s: port must be an ethdev port id 0..65535", sp->name);
		return -1;
	}
	cfg.port_id = (uint16_t)port;
	sp->type = SVC_DPDK;
	sp->dpdk = dpdk_port_new(runner, sp->name, &cfg);
	if (!sp->dpdk) {
		snprintf(err, errlen, "port %s: cannot create dpdk uplink (see log)", sp->name);
		return -1;
	}
	sp->id = dpdk_port_id(sp->dpdk);
	return 0;
}

static int port_add(const cJSON *o, char *err, size_t errlen)
{
	const char *name = str_item(o, "name"), *type = str_item(o, "type"), *macs = str_item(o, "mac");
	struct svc_port *sp;
	uint8_t mac[6];
	double mtu;

	if (!name || !*name || strlen(name) >= VSW_NAME_MAX) {
		snprintf(err, errlen, "port needs a \"name\" of 1..%d bytes", VSW_NAME_MAX - 1);
		return -1;
	}
	if (find_port(name)) {
		snprintf(err, errlen, "port %s already exists", name);
		return -1;
	}
	if (nports >= MAX_SVC_PORTS) {
		snprintf(err, errlen, "port %s: too many ports", name);
		return -1;
	}
	if (num_item(o, "mtu", 68, VSW_MAX_MTU, VSW_DEFAULT_MTU, &mtu)) {
		snprintf(err, errlen, "port %s: mtu must be 68..%d", name, VSW_MAX_MTU);
		return -1;
	}
	sp = &ports[nports];
	memset(sp, 0, sizeof(*sp));
	strcpy(sp->name, name);
	if (!type || !strcmp(type, "vhost")) {
		const char *sock = str_item(o, "socket");
		double pairs;

		if (!sock) {
			snprintf(err, errlen, "port %s: vhost port needs \"socket\"", name);
			return -1;
		}
		if (dpu_confine_socket(sock, err, errlen) < 0)
			return -1;
		if (macs && parse_mac(macs, mac)) {
			snprintf(err, errlen, "port %s: bad mac '%.32s'", name, macs);
			return -1;
		}
		if (num_item(o, "queues", 1, VNET_MAX_PAIRS, 1, &pairs)) {
			snprintf(err, errlen, "port %s: queues (queue pairs) must be 1..%d", name, VNET_MAX_PAIRS);
			return -1;
		}
		sp->type = SVC_VHOST;
		sp->vnet = vnet_port_new(runner, name, sock, macs ? mac : NULL, (uint32_t)mtu, (unsigned)pairs,
					 dpu_loop());
		if (!sp->vnet) {
			snprintf(err, errlen, "port %s: cannot create (see log)", name);
			return -1;
		}
		sp->id = vnet_port_id(sp->vnet);
	} else if (!strcmp(type, "tap")) {
		const char *ifname = str_item(o, "ifname");
		const cJSON *up = item(o, "up");

		/* the interface's own address: unicast, not zero (the kernel refuses the others) */
		if (macs && (parse_mac(macs, mac) || (mac[0] & 1) || !(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]))) {
			snprintf(err, errlen, "port %s: bad mac '%.32s' (a unicast address, not zero)", name, macs);
			return -1;
		}
		sp->type = SVC_TAP;
		sp->tap = tap_port_new(runner, name, ifname ? ifname : name, (uint32_t)mtu, !cJSON_IsFalse(up),
				       macs ? mac : NULL);
		if (!sp->tap) {
			snprintf(err, errlen, "port %s: cannot create tap (see log)", name);
			return -1;
		}
		sp->id = tap_port_id(sp->tap);
	} else if (!strcmp(type, "dpdk")) {
		if (dpdk_add(sp, o, (uint32_t)mtu, err, errlen) < 0)
			return -1;
	} else {
		snprintf(err, errlen, "port %s: type must be vhost, tap or dpdk", name);
		return -1;
	}
	nports++;
	if (apply_settings(sp->id, o, err, errlen) < 0) {
		port_free(sp);   /* all or nothing */
		return -1;
	}
	log_info("switch: port %s (%s) added as %d", name,
		 sp->type == SVC_VHOST ? "vhost" : sp->type == SVC_TAP ? "tap" : "dpdk", sp->id);
	return 0;
}

static void port_free(struct svc_port *sp)
{
	if (sp->vnet)
		vnet_port_free(sp->vnet);
	if (sp->tap)
		tap_port_free(sp->tap);
	if (sp->dpdk)
		dpdk_port_free(sp->dpdk);
	*sp = ports[--nports];
}

static int vni_add(const cJSON *o, char *err, size_t errlen);

struct vni_arg {
	uint32_t vni;
	uint16_t vid;
	uint32_t vteps[VSW_MAX_VTEPS];
	unsigned nvtep;
	bool del;
	int ret;
};

static void do_vni(struct vsw_runner *h, void *arg)
{
	struct vni_arg *a = arg;

	if (a->del) {
		a->ret = vswitch_vni_del(h->sw, a->vni);
		return;
	}
	a->ret = vswitch_vni_add(h->sw, a->vni, a->vid);
	for (unsigned i = 0; a->ret == 0 && i < a->nvtep; i++)
		a->ret = vswitch_vni_add_vtep(h->sw, a->vni, a->vteps[i]);
}

static int vni_add(const cJSON *o, char *err, size_t errlen)
{
	struct vni_arg a = { 0 };
	const cJSON *vteps = item(o, "vteps"), *t;
	double vni, vid;

	if (!item(o, "vni") || num_item(o, "vni", 0, VXLAN_VNI_MAX, 0, &vni) || !item(o, "vlan") ||
	    num_item(o, "vlan", 1, 4094, 1, &vid)) {
		snprintf(err, errlen, "vni needs \"vni\" (0..16777215) and \"vlan\" (1..4094)");
		return -1;
	}
	a.vni = (uint32_t)vni;
	a.vid = (uint16_t)vid;
	if (vteps) {
		cJSON_ArrayForEach(t, vteps) {
			if (!cJSON_IsString(t) || a.nvtep >= VSW_MAX_VTEPS ||
			    inet_pton(AF_INET, t->valuestring, &a.vteps[a.nvtep]) != 1) {
				snprintf(err, errlen, "vni %u: vteps must be up to %d IPv4 addresses", a.vni, VSW_MAX_VTEPS);
				return -1;
			}
			a.nvtep++;
		}
	}
	vsw_runner_call(runner, do_vni, &a);
	if (a.ret < 0) {
		snprintf(err, errlen, "vni %u / vlan %u: %s", a.vni, a.vid, strerror(-a.ret));
		return -1;
	}
	return 0;
}

/* ---- control commands ---- */

static int cmd_port_add(const cJSON *req, cJSON *reply, char *err, size_t errlen)
{
	if (ensure_host(NULL, err, errlen) || port_add(req, err, errlen))
		return -1;
	cJSON_AddNumberToObject(reply, "id", find_port(str_item(req, "name"))->id);
	return 0;
}

static struct svc_port *req_port(const cJSON *req, const char *key, char *err, size_t errlen)
{
	const char *name = str_item(req, key);
	struct svc_port *sp = name && runner ? find_port(name) : NULL;

	if (!sp)
		snprintf(err, errlen, "no port '%.32s'", name ? name : "(none)");
	return sp;
}

static int cmd_port_del(const cJSON *req, cJSON *reply, char *err, size_t errlen)
{
	struct svc_port *sp = req_port(req, "name", err, errlen);

	(void)reply;
	if (!sp)
		return -1;
	log_info("switch: port %s removed", sp->name);
	port_free(sp);
	return 0;
}

static int cmd_port_set(const cJSON *req, cJSON *reply, char *err, size_t errlen)
{
	struct svc_port *sp = req_port(req, "name", err, errlen);

	(void)reply;
	return sp ? apply_settings(sp->id, req, err, errlen) : -1;
}

struct acl_arg {
	int id;
	int dir;
	const char *rule;
	int op;   /* 0 add, 1 del, 2 clear */
	unsigned index;
	char why[96];
	int ret;
};

static void do_acl(struct vsw_runner *h, void *arg)
{
	struct acl_arg *a = arg;

	if (a->op == 0)
		a->ret = vswitch_acl_add_text(h->sw, a->id, a->dir, a->rule, a->why, sizeof(a->why));
	else if (a->op == 1)
		a->ret = vswitch_acl_del(h->sw, a->id, a->dir, a->index);
	else
		a->ret = vswitch_acl_clear(h->sw, a->id, a->dir);
}

static int acl_cmd(const cJSON *req, cJSON *reply, char *err, size_t errlen, int op)
{
	struct svc_port *sp = req_port(req, "port", err, errlen);
	struct acl_arg a = { 0 };
	double idx = 0;

	if (!sp)
		return -1;
	a.id = sp->id;
	a.op = op;
	a.dir = acl_dir_of(str_item(req, "dir"));
	a.rule = str_item(req, "rule");
	if (a.dir < 0 || (op == 0 && !a.rule) || (op == 1 && (!item(req, "index") ||
							     num_item(req, "index", 0, ACL_MAX_RULES, 0, &idx)))) {
		snprintf(err, errlen, "acl needs \"port\", \"dir\" (in|out) and \"rule\" (add) or \"index\" (del)");
		return -1;
	}
	a.index = (unsigned)idx;
	vsw_runner_call(runner, do_acl, &a);
	if (a.ret < 0) {
		snprintf(err, errlen, "acl on %s: %s", sp->name, a.why[0] ? a.why : strerror(-a.ret));
		return -1;
	}
	if (op == 0)
		cJSON_AddNumberToObject(reply, "index", a.ret);
	return 0;
}

static int cmd_acl_add(const cJSON *req, cJSON *reply, char *err, size_t errlen)
{
	return acl_cmd(req, reply, err, errlen, 0);
}

static int cmd_acl_del(const cJSON *req, cJSON *reply, char *err, size_t errlen)
{
	return acl_cmd(req, reply, err, errlen, 1);
}

static int cmd_acl_clear(const cJSON *req, cJSON *reply, char *err, size_t errlen)
{
	return acl_cmd(req, reply, err, errlen, 2);
}

static int cmd_vni_add(const cJSON *req, cJSON *reply, char *err, size_t errlen)
{
	(void)reply;
	if (ensure_host(NULL, err, errlen))
		return -1;
	return vni_add(req, err, errlen);
}

static int cmd_vni_del(const cJSON *req, cJSON *reply, char *err, size_t errlen)
{
	struct vni_arg a = { .del = true };
	double vni;

	(void)reply;
	if (!runner || !item(req, "vni") || num_item(req, "vni", 0, VXLAN_VNI_MAX, 0, &vni)) {
		snprintf(err, errlen, "vni_del needs a known \"vni\"");
		return -1;
	}
	a.vni = (uint32_t)vni;
	vsw_runner_call(runner, do_vni, &a);
	if (a.ret < 0) {
		snprintf(err, errlen, "vni %u: %s", a.vni, strerror(-a.ret));
		return -1;
	}
	return 0;
}

struct stats_arg {
	char *json;
	FILE *prom;
};

static void do_stats(struct vsw_runner *h, void *arg)
{
	struct stats_arg *a = arg;

	if (a->prom)
		vswitch_stats_prom(h->sw, a->prom);
	else
		a->json = vswitch_stats_json(h->sw);
}

static int cmd_switch_stats(const cJSON *req, cJSON *reply, char *err, size_t errlen)
{
	struct stats_arg a = { 0 };
	cJSON *obj;

	(void)req;
	if (ensure_host(NULL, err, errlen))
		return -1;
	vsw_runner_call(runner, do_stats, &a);
	obj = a.json ? cJSON_Parse(a.json) : NULL;
	free(a.json);
	if (!obj) {
		snprintf(err, errlen, "switch stats: out of memory");
		return -1;
	}
	cJSON_AddItemToObject(reply, "switch", obj);
	return 0;
}

static void stats_prom(FILE *f)
{
	struct stats_arg a = { .prom = f };

	if (runner)
		vsw_runner_call(runner, do_stats, &a);
}

/* ---- config ---- */

#define PORT_COMMON_KEYS "name", "type", "mtu", "vlan", "trunk", "native_vlan", "rate_pps", "rate_pps_burst", \
	"rate_bps", "rate_bps_burst", "vxlan", "acl_in", "acl_in_default", "acl_out", "acl_out_default"

/* The keys port_add, dpdk_add and do_apply read: every port, then by type. */
static const char *const switch_keys[] = { "core", "fdb_age", "pool_frames", "ports", "vnis", NULL };
static const char *const vhost_port_keys[] = { PORT_COMMON_KEYS, "socket", "mac", "queues", NULL };
static const char *const tap_port_keys[] = { PORT_COMMON_KEYS, "ifname", "up", NULL };
static const char *const dpdk_port_keys[] = { PORT_COMMON_KEYS, "device", "port", "eal", NULL };
static const char *const vxlan_keys[] = { "local_ip", "local_mac", "gw_mac", NULL };
static const char *const vni_keys[] = { "vni", "vlan", "vteps", NULL };

/* A list of objects under `key` of the switch section, each with only `known` keys (NULL: by port type). */
static int check_list(const cJSON *sec, const char *key, const char *const *known, char *err, size_t errlen)
{
	const cJSON *list = item(sec, key), *o;
	unsigned i = 0;
	char what[96];

	if (!list)
		return 0;
	if (!cJSON_IsArray(list)) {
		snprintf(err, errlen, "switch: \"%s\" must be an array of objects", key);
		return -1;
	}
	cJSON_ArrayForEach(o, list) {
		const char *name = str_item(o, "name"), *type = str_item(o, "type");
		const char *const *keys = known;
		snprintf(what, sizeof(what), "switch: %s[%u]%s%.32s", key, i++, name ? " " : "", name ? name : "");
		if (!cJSON_IsObject(o)) {
			snprintf(err, errlen, "%s: not an object", what);
			return -1;
		}
		if (!keys) {
			keys = !type || !strcmp(type, "vhost") ? vhost_port_keys : !strcmp(type, "tap") ? tap_port_keys :
			       !strcmp(type, "dpdk") ? dpdk_port_keys : NULL;
			if (!keys) {
				snprintf(err, errlen, "%s: type must be vhost, tap or dpdk", what);
				return -1;
			}
			const cJSON *vx = item(o, "vxlan");
			if (cJSON_IsObject(vx) && dpu_config_check_keys(vx, what, vxlan_keys, err, errlen) < 0)
				return -1;
		}
		if (dpu_config_check_keys(o, what, keys, err, errlen) < 0)
			return -1;
	}
	return 0;
}

static int check_switch(const cJSON *sec, char *err, size_t errlen)
{
	if (!cJSON_IsObject(sec)) {
		snprintf(err, errlen, "\"switch\" must be an object");
		return -1;
	}
	if (dpu_config_check_keys(sec, "switch", switch_keys, err, errlen) < 0 ||
	    check_list(sec, "vnis", vni_keys, err, errlen) < 0 || check_list(sec, "ports", NULL, err, errlen) < 0)
		return -1;
	return 0;
}

static int apply_switch(const cJSON *sec, char *err, size_t errlen)
{
	const cJSON *list, *o;
	char why[256];

	if (ensure_host(sec, why, sizeof(why)))
		goto fail;
	list = item(sec, "vnis");
	cJSON_ArrayForEach(o, list) {
		if (vni_add(o, why, sizeof(why)))
			goto fail;
	}
	list = item(sec, "ports");
	cJSON_ArrayForEach(o, list) {
		if (port_add(o, why, sizeof(why)))
			goto fail;
	}
	return 0;
fail:
	snprintf(err, errlen, "switch: %s", why);
	return -1;
}

__attribute__((constructor)) static void switch_service_register(void)
{
	dpu_ctl_register("port_add", cmd_port_add);
	dpu_ctl_register("port_del", cmd_port_del);
	dpu_ctl_register("port_set", cmd_port_set);
	dpu_ctl_register("acl_add", cmd_acl_add);
	dpu_ctl_register("acl_del", cmd_acl_del);
	dpu_ctl_register("acl_clear", cmd_acl_clear);
	dpu_ctl_register("vni_add", cmd_vni_add);
	dpu_ctl_register("vni_del", cmd_vni_del);
	dpu_ctl_register("switch_stats", cmd_switch_stats);
	dpu_stats_register(stats_prom);
	dpu_config_register("switch", check_switch, apply_switch);
}
