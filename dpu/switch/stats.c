/* SPDX-License-Identifier: MIT */
/* Switch statistics as JSON (control socket) and Prometheus text. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <stddef.h>

#include "switch_priv.h"

static cJSON *acl_json(const struct acl *acl)
{
	cJSON *o = cJSON_CreateObject(), *rules = cJSON_AddArrayToObject(o, "rules");
	char text[256];
	uint64_t packets, bytes;

	acl_counts(acl, ACL_CACHE_DEFAULT, &packets, &bytes);
	cJSON_AddStringToObject(o, "default", acl->def == ACL_ALLOW ? "allow" : "deny");
	cJSON_AddNumberToObject(o, "default_packets", (double)packets);
	cJSON_AddNumberToObject(o, "default_bytes", (double)bytes);
	for (unsigned i = 0; i < acl->n; i++) {
		cJSON *r = cJSON_CreateObject();

		acl_rule_format(&acl->rules[i], text, sizeof(text));
		cJSON_AddStringToObject(r, "rule", text);
		acl_counts(acl, i, &packets, &bytes);
		cJSON_AddNumberToObject(r, "packets", (double)packets);
		cJSON_AddNumberToObject(r, "bytes", (double)bytes);
		cJSON_AddItemToArray(rules, r);
	}
	return o;
}

static cJSON *port_json(const struct vswitch *sw, int id, const struct vsw_port *p)
{
	cJSON *o = cJSON_CreateObject(), *drops;
	char ip[INET_ADDRSTRLEN];

	cJSON_AddNumberToObject(o, "id", id);
	cJSON_AddStringToObject(o, "name", p->name);
	cJSON_AddNumberToObject(o, "mtu", p->mtu);
	if (p->vxlan) {
		inet_ntop(AF_INET, &p->vx.local_ip, ip, sizeof(ip));
		cJSON_AddStringToObject(o, "mode", "vxlan");
		cJSON_AddStringToObject(o, "local_ip", ip);
	} else if (p->mode == VSW_ACCESS) {
		cJSON_AddStringToObject(o, "mode", "access");
		cJSON_AddNumberToObject(o, "vlan", p->access_vid);
	} else {
		cJSON *vl = cJSON_AddArrayToObject(o, "vlans");

		cJSON_AddStringToObject(o, "mode", "trunk");
		cJSON_AddNumberToObject(o, "native_vlan", p->native_vid);
		for (unsigned v = 1; v < 4095; v++)
			if (p->trunk[v / 64] & (1ull << (v % 64)))
				cJSON_AddItemToArray(vl, cJSON_CreateNumber(v));
	}
	cJSON_AddBoolToObject(o, "link_up", !p->ops->link_up || p->ops->link_up(p->opaque));
	cJSON_AddNumberToObject(o, "rx_packets", (double)p->st.rx_packets);
	cJSON_AddNumberToObject(o, "rx_bytes", (double)p->st.rx_bytes);
	cJSON_AddNumberToObject(o, "tx_packets", (double)p->st.tx_packets);
	cJSON_AddNumberToObject(o, "tx_bytes", (double)p->st.tx_bytes);
	cJSON_AddNumberToObject(o, "arp_replies", (double)p->st.arp_replies);
	if (p->ops->queue_stats) {
		uint64_t to[16], from[16];
		unsigned n = p->ops->queue_stats(p->opaque, to, from, 16);
		cJSON *qs = cJSON_AddArrayToObject(o, "queues");

		for (unsigned i = 0; i < n; i++) {
			cJSON *q = cJSON_CreateObject();

			cJSON_AddNumberToObject(q, "tx_packets", (double)to[i]);     /* as the port's own: to it */
			cJSON_AddNumberToObject(q, "rx_packets", (double)from[i]);
			cJSON_AddItemToArray(qs, q);
		}
	}
	drops = cJSON_AddObjectToObject(o, "drops");
	for (unsigned d = 0; d < VSW_DROP__COUNT; d++)
		cJSON_AddNumberToObject(drops, vsw_drop_name(d), (double)p->st.drops[d]);
	cJSON_AddNumberToObject(o, "rate_pps", (double)p->rl.ops.rate);
	cJSON_AddNumberToObject(o, "rate_bps", (double)p->rl.bytes.rate);
	cJSON_AddItemToObject(o, "acl_in", acl_json(&p->acl[ACL_IN]));
	cJSON_AddItemToObject(o, "acl_out", acl_json(&p->acl[ACL_OUT]));
	(void)sw;
	return o;
}

char *vswitch_stats_json(const struct vswitch *sw)
{
	cJSON *root = cJSON_CreateObject(), *ports, *fdb;
	char *s;

	if (!root)
		return NULL;
	ports = cJSON_AddArrayToObject(root, "ports");
	for (int i = 0; i < VSW_MAX_PORTS; i++)
		if (sw->port[i])
			cJSON_AddItemToArray(ports, port_json(sw, i, sw->port[i]));
	fdb = cJSON_AddObjectToObject(root, "fdb");
	cJSON_AddNumberToObject(fdb, "entries", sw->fdb.count);
	cJSON_AddNumberToObject(fdb, "capacity", sw->fdb.cap);
	cJSON_AddNumberToObject(fdb, "learned", (double)sw->fdb.learned);
	cJSON_AddNumberToObject(fdb, "moved", (double)sw->fdb.moved);
	cJSON_AddNumberToObject(fdb, "aged", (double)sw->fdb.aged);
	cJSON_AddNumberToObject(fdb, "full", (double)sw->fdb.full);
	cJSON_AddNumberToObject(root, "pool_free", sw->pool.nfree);
	cJSON_AddNumberToObject(root, "pool_size", sw->pool.nr);
	s = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return s;
}

void vswitch_stats_prom(const struct vswitch *sw, FILE *out)
{
	static const struct { const char *name; size_t off; } ctr[] = {
		{ "rx_packets", offsetof(struct vsw_port_stats, rx_packets) },
		{ "rx_bytes", offsetof(struct vsw_port_stats, rx_bytes) },
		{ "tx_packets", offsetof(struct vsw_port_stats, tx_packets) },
		{ "tx_bytes", offsetof(struct vsw_port_stats, tx_bytes) },
	};

	for (unsigned c = 0; c < sizeof(ctr) / sizeof(ctr[0]); c++) {
		fprintf(out, "# TYPE kite_vswitch_%s counter\n", ctr[c].name);
		for (int i = 0; i < VSW_MAX_PORTS; i++) {
			const struct vsw_port *p = sw->port[i];

			if (p)
				fprintf(out, "kite_vswitch_%s{port=\"%s\"} %llu\n", ctr[c].name, p->name,
					(unsigned long long)*(const uint64_t *)((const char *)&p->st + ctr[c].off));
		}
	}
	fprintf(out, "# TYPE kite_vswitch_drops counter\n");
	for (int i = 0; i < VSW_MAX_PORTS; i++) {
		const struct vsw_port *p = sw->port[i];

		for (unsigned d = 0; p && d < VSW_DROP__COUNT; d++)
			fprintf(out, "kite_vswitch_drops{port=\"%s\",reason=\"%s\"} %llu\n", p->name,
				vsw_drop_name(d), (unsigned long long)p->st.drops[d]);
	}
	fprintf(out, "# TYPE kite_vswitch_fdb_entries gauge\nkite_vswitch_fdb_entries %u\n", sw->fdb.count);
}
