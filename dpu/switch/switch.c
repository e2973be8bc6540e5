/* SPDX-License-Identifier: MIT */
/* The virtual switch: ports, VLAN rules, forwarding pipeline (see switch.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kite/log.h"
#include "kite/ratelimit.h"

#include "fdb.h"
#include "parse.h"
#include "switch.h"
#include "switch_priv.h"
#include "vxlan.h"

static const char *const drop_names[VSW_DROP__COUNT] = {
	[VSW_DROP_RUNT] = "runt",
	[VSW_DROP_OVERSIZE] = "oversize",
	[VSW_DROP_BAD_VLAN] = "bad_vlan",
	[VSW_DROP_VLAN_FILTER] = "vlan_filter",
	[VSW_DROP_BAD_L3] = "bad_l3",
	[VSW_DROP_BAD_VXLAN] = "bad_vxlan",
	[VSW_DROP_NOT_VXLAN] = "not_vxlan",
	[VSW_DROP_UNKNOWN_VNI] = "unknown_vni",
	[VSW_DROP_ACL] = "acl",
	[VSW_DROP_RATELIMIT] = "ratelimit",
	[VSW_DROP_NO_BUFFER] = "no_buffer",
	[VSW_DROP_TX_FULL] = "tx_full",
	[VSW_DROP_HAIRPIN] = "hairpin",
	[VSW_DROP_NO_ROUTE] = "no_route",
	[VSW_DROP_BAD_DESC] = "bad_desc",
	[VSW_DROP_PORT_DOWN] = "port_down",
};

const char *vsw_drop_name(enum vsw_drop d)
{
	return (unsigned)d < VSW_DROP__COUNT ? drop_names[d] : "?";
}

static uint64_t default_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct vswitch *vswitch_new(const struct vswitch_config *cfg)
{
	struct vswitch_config def = { 0 };
	struct vswitch *sw;

	if (!cfg)
		cfg = &def;
	sw = calloc(1, sizeof(*sw));
	if (!sw)
		return NULL;
	if (vsw_pool_init(&sw->pool, cfg->pool_frames ? cfg->pool_frames : 2048)) {
		log_err("vswitch: frame pool: cannot allocate %u frames", cfg->pool_frames);
		free(sw);
		return NULL;
	}
	if (fdb_init(&sw->fdb, cfg->fdb_size ? cfg->fdb_size : 4096,
		     cfg->fdb_age_ns ? cfg->fdb_age_ns : 300ull * 1000000000ull)) {
		log_err("vswitch: FDB: cannot allocate %u entries", cfg->fdb_size);
		vsw_pool_destroy(&sw->pool);
		free(sw);
		return NULL;
	}
	sw->clock_ns = cfg->clock_ns ? cfg->clock_ns : default_clock_ns;
	sw->now = sw->clock_ns();
	for (unsigned i = 0; i < 4096; i++)
		sw->vid2vni[i] = VNI_NONE;
	return sw;
}

void vswitch_free(struct vswitch *sw)
{
	if (!sw)
		return;
	for (int i = 0; i < VSW_MAX_PORTS; i++)
		if (sw->port[i])
			vswitch_port_remove(sw, i);
	fdb_destroy(&sw->fdb);
	vsw_pool_destroy(&sw->pool);
	free(sw);
}

static struct vsw_port *get_port(const struct vswitch *sw, int port)
{
	if (port < 0 || port >= VSW_MAX_PORTS)
		return NULL;
	return sw->port[port];
}

static bool port_in_vlan(const struct vswitch *sw, const struct vsw_port *p, uint16_t vid)
{
	if (p->vxlan)
		return sw->vid2vni[vid] != VNI_NONE;
	if (p->mode == VSW_ACCESS)
		return p->access_vid == vid;
	return p->trunk[vid / 64] & (1ull << (vid % 64));
}

/* Port id's bit in every VLAN's member set, after any change of its VLANs (or its removal). */
static void vlan_members_update(struct vswitch *sw, unsigned id)
{
	const struct vsw_port *p = sw->port[id];
	uint64_t bit = 1ull << id;

	for (unsigned vid = 0; vid < 4096; vid++) {
		if (p && port_in_vlan(sw, p, (uint16_t)vid))
			sw->vlan_ports[vid] |= bit;
		else
			sw->vlan_ports[vid] &= ~bit;
	}
}

/* The VNIs changed: VXLAN ports are members of the VLANs bound to one. */
static void vlan_members_vxlan_update(struct vswitch *sw)
{
	for (unsigned i = 0; i < VSW_MAX_PORTS; i++)
		if (sw->port[i] && sw->port[i]->vxlan)
			vlan_members_update(sw, i);
}

int vswitch_port_add(struct vswitch *sw, const char *name, const struct vsw_port_ops *ops, void *opaque)
{
	struct vsw_port *p;
	int id = -1;

	if (!name || !*name || strlen(name) >= VSW_NAME_MAX || !ops || !ops->tx)
		return -EINVAL;
	if (vswitch_port_find(sw, name) >= 0)
		return -EEXIST;
	for (int i = 0; i < VSW_MAX_PORTS; i++) {
		if (!sw->port[i]) {
			id = i;
			break;
		}
	}
	if (id < 0)
		return -ENOSPC;
	/* aligned as its ACL cache lines ask (struct acl_cache_ent) */
	p = aligned_alloc(_Alignof(struct vsw_port), sizeof(*p));
	if (!p)
		return -ENOMEM;
	memset(p, 0, sizeof(*p));
	strcpy(p->name, name);
	p->ops = ops;
	p->opaque = opaque;
	p->id = (unsigned)id;
	p->mode = VSW_ACCESS;
	p->access_vid = 1;
	p->mtu = VSW_DEFAULT_MTU;
	acl_init(&p->acl[ACL_IN], ACL_ALLOW);
	acl_init(&p->acl[ACL_OUT], ACL_ALLOW);
	rate_limiter_init(&p->rl, 0, 0, 0, 0, sw->now);
	sw->port[id] = p;
	vlan_members_update(sw, (unsigned)id);
	return id;
}

int vswitch_port_remove(struct vswitch *sw, int port)
{
	struct vsw_port *p = get_port(sw, port);

	if (!p)
		return -ENOENT;
	for (unsigned i = 0; i < p->nout; i++)
		vsw_frame_free(&sw->pool, p->out[i]);
	fdb_flush_port(&sw->fdb, (uint16_t)port);
	sw->port[port] = NULL;
	sw->pending &= ~(1ull << port);
	vlan_members_update(sw, (unsigned)port);
	free(p);
	return 0;
}

int vswitch_port_find(const struct vswitch *sw, const char *name)
{
	for (int i = 0; i < VSW_MAX_PORTS; i++)
		if (sw->port[i] && !strcmp(sw->port[i]->name, name))
			return i;
	return -ENOENT;
}

const char *vswitch_port_name(const struct vswitch *sw, int port)
{
	struct vsw_port *p = get_port(sw, port);

	return p ? p->name : NULL;
}

static bool vid_valid(uint16_t vid)
{
	return vid >= 1 && vid <= 4094;
}

int vswitch_port_set_access(struct vswitch *sw, int port, uint16_t vid)
{
	struct vsw_port *p = get_port(sw, port);

	if (!p)
		return -ENOENT;
	if (!vid_valid(vid))
		return -EINVAL;
	p->mode = VSW_ACCESS;
	p->access_vid = vid;
	vlan_members_update(sw, (unsigned)port);
	fdb_flush_port(&sw->fdb, (uint16_t)port);
	return 0;
}

int vswitch_port_set_trunk(struct vswitch *sw, int port, const uint16_t *vids, unsigned n, uint16_t native_vid)
{
	struct vsw_port *p = get_port(sw, port);

	if (!p)
		return -ENOENT;
	if (native_vid && !vid_valid(native_vid))
		return -EINVAL;
	for (unsigned i = 0; i < n; i++)
		if (!vid_valid(vids[i]))
			return -EINVAL;
	memset(p->trunk, 0, sizeof(p->trunk));
	for (unsigned i = 0; i < n; i++)
		p->trunk[vids[i] / 64] |= 1ull << (vids[i] % 64);
	if (native_vid)
		p->trunk[native_vid / 64] |= 1ull << (native_vid % 64);
	p->native_vid = native_vid;
	p->mode = VSW_TRUNK;
	vlan_members_update(sw, (unsigned)port);
	fdb_flush_port(&sw->fdb, (uint16_t)port);
	return 0;
}

int vswitch_port_set_mtu(struct vswitch *sw, int port, uint32_t mtu)
{
	struct vsw_port *p = get_port(sw, port);

	if (!p)
		return -ENOENT;
	if (mtu < 68 || mtu > VSW_MAX_MTU)
		return -EINVAL;
	p->mtu = mtu;
	return 0;
}

uint32_t vswitch_port_mtu(const struct vswitch *sw, int port)
{
	struct vsw_port *p = get_port(sw, port);

	return p ? p->mtu : 0;
}

int vswitch_port_set_vxlan(struct vswitch *sw, int port, const struct vxlan_cfg *cfg)
{
	struct vsw_port *p = get_port(sw, port);

	if (!p)
		return -ENOENT;
	if (cfg) {
		if (cfg->local_ip == 0)
			return -EINVAL;
		p->vx = *cfg;
		vxlan_tmpl_init(&p->vx_tmpl, cfg);
	}
	p->vxlan = cfg != NULL;
	vlan_members_update(sw, (unsigned)port);
	fdb_flush_port(&sw->fdb, (uint16_t)port);
	return 0;
}

int vswitch_port_set_rate(struct vswitch *sw, int port, uint64_t pps, uint64_t pps_burst,
			  uint64_t bps, uint64_t bps_burst)
{
	struct vsw_port *p = get_port(sw, port);

	if (!p)
		return -ENOENT;
	sw->now = sw->clock_ns();
	rate_limiter_set(&p->rl, pps, pps_burst, bps, bps_burst, sw->now);
	return 0;
}

static struct vsw_vni *find_vni(struct vswitch *sw, uint32_t vni)
{
	for (unsigned i = 0; i < sw->nvnis; i++)
		if (sw->vnis[i].vni == vni)
			return &sw->vnis[i];
	return NULL;
}

int vswitch_vni_add(struct vswitch *sw, uint32_t vni, uint16_t vid)
{
	struct vsw_vni *v;

	if (vni > VXLAN_VNI_MAX || !vid_valid(vid))
		return -EINVAL;
	if (find_vni(sw, vni) || sw->vid2vni[vid] != VNI_NONE)
		return -EEXIST;
	if (sw->nvnis >= VSW_MAX_VNIS)
		return -ENOSPC;
	v = &sw->vnis[sw->nvnis++];
	memset(v, 0, sizeof(*v));
	v->vni = vni;
	v->vid = vid;
	sw->vid2vni[vid] = vni;
	vlan_members_vxlan_update(sw);
	return 0;
}

int vswitch_vni_add_vtep(struct vswitch *sw, uint32_t vni, uint32_t remote_ip)
{
	struct vsw_vni *v = find_vni(sw, vni);

	if (!v)
		return -ENOENT;
	if (remote_ip == 0)
		return -EINVAL;
	for (unsigned i = 0; i < v->nvtep; i++)
		if (v->vtep[i] == remote_ip)
			return -EEXIST;
	if (v->nvtep >= VSW_MAX_VTEPS)
		return -ENOSPC;
	v->vtep[v->nvtep++] = remote_ip;
	return 0;
}

int vswitch_vni_del(struct vswitch *sw, uint32_t vni)
{
	struct vsw_vni *v = find_vni(sw, vni);

	if (!v)
		return -ENOENT;
	sw->vid2vni[v->vid] = VNI_NONE;
	*v = sw->vnis[--sw->nvnis];
	vlan_members_vxlan_update(sw);
	return 0;
}

static void acl_update_active(struct vsw_port *p, enum acl_dir dir)
{
	p->acl_active[dir] = p->acl[dir].n > 0 || p->acl[dir].def != ACL_ALLOW;
}

int vswitch_acl_add(struct vswitch *sw, int port, enum acl_dir dir, const struct acl_rule *rule)
{
	struct vsw_port *p = get_port(sw, port);
	int idx;

	if (!p)
		return -ENOENT;
	if (dir != ACL_IN && dir != ACL_OUT)
		return -EINVAL;
	idx = acl_add(&p->acl[dir], rule);
	if (idx < 0)
		return -ENOSPC;
	acl_update_active(p, dir);
	return idx;
}

int vswitch_acl_add_text(struct vswitch *sw, int port, enum acl_dir dir, const char *text,
			 char *err, unsigned errlen)
{
	struct acl_rule r;

	if (acl_rule_parse(text, &r, err, errlen))
		return -EINVAL;
	return vswitch_acl_add(sw, port, dir, &r);
}

int vswitch_acl_del(struct vswitch *sw, int port, enum acl_dir dir, unsigned idx)
{
	struct vsw_port *p = get_port(sw, port);

	if (!p || (dir != ACL_IN && dir != ACL_OUT))
		return -ENOENT;
	if (acl_del(&p->acl[dir], idx))
		return -ENOENT;
	acl_update_active(p, dir);
	return 0;
}

int vswitch_acl_clear(struct vswitch *sw, int port, enum acl_dir dir)
{
	struct vsw_port *p = get_port(sw, port);

	if (!p || (dir != ACL_IN && dir != ACL_OUT))
		return -ENOENT;
	acl_clear(&p->acl[dir]);
	acl_update_active(p, dir);
	return 0;
}

int vswitch_acl_set_default(struct vswitch *sw, int port, enum acl_dir dir, enum acl_action act)
{
	struct vsw_port *p = get_port(sw, port);

	if (!p || (dir != ACL_IN && dir != ACL_OUT))
		return -ENOENT;
	if (act != ACL_ALLOW && act != ACL_DENY)
		return -EINVAL;
	p->acl[dir].def = act;
	acl_update_active(p, dir);
	return 0;
}

const struct acl *vswitch_acl(const struct vswitch *sw, int port, enum acl_dir dir)
{
	struct vsw_port *p = get_port(sw, port);

	if (!p || (dir != ACL_IN && dir != ACL_OUT))
		return NULL;
	return &p->acl[dir];
}

struct vsw_frame *vswitch_frame_alloc(struct vswitch *sw)
{
	return vsw_frame_alloc(&sw->pool);
}

void vswitch_frame_free(struct vswitch *sw, struct vsw_frame *f)
{
	vsw_frame_free(&sw->pool, f);
}

void vswitch_count_drop(struct vswitch *sw, int port, enum vsw_drop why)
{
	struct vsw_port *p = get_port(sw, port);

	if (p && (unsigned)why < VSW_DROP__COUNT)
		p->st.drops[why]++;
}

void vswitch_new_round(struct vswitch *sw)
{
	sw->per_round = true;
	sw->now_fresh = false;
}

unsigned vswitch_age(struct vswitch *sw)
{
	sw->now = sw->clock_ns();
	return fdb_age(&sw->fdb, sw->now);
}

const struct vsw_port_stats *vswitch_port_stats(const struct vswitch *sw, int port)
{
	struct vsw_port *p = get_port(sw, port);

	return p ? &p->st : NULL;
}

struct fdb *vswitch_fdb(struct vswitch *sw)
{
	return &sw->fdb;
}

/* ---- fast path ---- */

static void drop(struct vswitch *sw, struct vsw_port *p, struct vsw_frame *f, enum vsw_drop why)
{
	p->st.drops[why]++;
	vsw_frame_free(&sw->pool, f);
}

static void port_flush(struct vswitch *sw, struct vsw_port *p)
{
	unsigned n = p->nout, sent = 0;

	if (!n)
		return;
	p->nout = 0;
	if (!p->ops->link_up || p->ops->link_up(p->opaque)) {
		sent = p->ops->tx(p->opaque, p->out, n);
		if (sent > n)
			sent = n;
	} else {
		p->st.drops[VSW_DROP_PORT_DOWN] += n;
		for (unsigned i = 0; i < n; i++)
			vsw_frame_free(&sw->pool, p->out[i]);
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		if (i < sent) {
			p->st.tx_packets++;
			p->st.tx_bytes += p->out[i]->len;
		} else {
			p->st.drops[VSW_DROP_TX_FULL]++;
		}
		vsw_frame_free(&sw->pool, p->out[i]);
	}
}

static void port_queue(struct vswitch *sw, struct vsw_port *p, struct vsw_frame *f)
{
	if (p->nout == VSW_BURST)
		port_flush(sw, p);
	p->out[p->nout++] = f;
	sw->pending |= 1ull << p->id;
}

/* Put a VLAN tag after the MAC addresses. */
static int push_tag(struct vsw_frame *f, uint16_t vid)
{
	uint8_t *d = vsw_frame_push(f, 4);

	if (!d)
		return -1;
	memmove(d, d + 4, 12);
	vsw_put_be16(d + 12, ETH_P_8021Q_);
	vsw_put_be16(d + 14, vid & 0xfff);
	return 0;
}

/*
 * Egress of one frame (f is ours to modify or free) to port out. remote_ip: VXLAN destination VTEP
 * (0 = none known).
 */
static void egress(struct vswitch *sw, struct vsw_port *out, struct vsw_frame *f, const struct vsw_pkt *pkt,
		   uint32_t remote_ip)
{
	if (out->acl_active[ACL_OUT] && acl_eval(&out->acl[ACL_OUT], pkt, f->len) == ACL_DENY) {
		drop(sw, out, f, VSW_DROP_ACL);
		return;
	}
	if (out->vxlan) {
		uint32_t vni = sw->vid2vni[f->vid];

		if (vni == VNI_NONE || remote_ip == 0) {
			drop(sw, out, f, VSW_DROP_NO_ROUTE);
			return;
		}
		if (f->len + VXLAN_OVERHEAD - VSW_ETH_HLEN > out->mtu) {
			/* inner frame + outer IPv4/UDP/VXLAN must fit the underlay MTU */
			drop(sw, out, f, VSW_DROP_OVERSIZE);
			return;
		}
		if (vxlan_encap_tmpl(f, &out->vx_tmpl, vni, remote_ip, sw->ip_id++)) {
			drop(sw, out, f, VSW_DROP_NO_BUFFER);
			return;
		}
	} else {
		if (f->len > out->mtu + VSW_ETH_HLEN) {
			drop(sw, out, f, VSW_DROP_OVERSIZE);
			return;
		}
		if (out->mode == VSW_TRUNK && f->vid != out->native_vid && push_tag(f, f->vid)) {
			drop(sw, out, f, VSW_DROP_NO_BUFFER);
			return;
		}
	}
	port_queue(sw, out, f);
}

/* Flood f (owned) to every port of its VLAN except the input port. VXLAN ports get one copy per
 * VTEP of the VNI; frames that came from a VXLAN port are not sent back to VXLAN ports. */
static void flood(struct vswitch *sw, struct vsw_port *in, struct vsw_frame *f, const struct vsw_pkt *pkt)
{
	struct vsw_port *targets[VSW_MAX_PORTS * VSW_MAX_VTEPS];
	uint32_t vteps[VSW_MAX_PORTS * VSW_MAX_VTEPS];
	unsigned nt = 0;
	uint64_t members = sw->vlan_ports[f->vid] & ~(1ull << in->id);

	for (; members; members &= members - 1) {
		struct vsw_port *p = sw->port[__builtin_ctzll(members)];

		if (!p)
			continue;
		if (p->vxlan) {
			const struct vsw_vni *v;
			uint32_t vni = sw->vid2vni[f->vid];

			if (in->vxlan)
				continue;
			v = find_vni(sw, vni);
			for (unsigned k = 0; v && k < v->nvtep; k++) {
				targets[nt] = p;
				vteps[nt++] = v->vtep[k];
			}
			continue;
		}
		targets[nt] = p;
		vteps[nt++] = 0;
	}
	if (nt == 0) {
		vsw_frame_free(&sw->pool, f);
		return;
	}
	/* Clones first (the original's bytes are what pkt points into), the original last. */
	for (unsigned i = 0; i + 1 < nt; i++) {
		struct vsw_frame *c = vsw_frame_clone(&sw->pool, f);

		if (!c) {
			targets[i]->st.drops[VSW_DROP_NO_BUFFER]++;
			continue;
		}
		egress(sw, targets[i], c, pkt, vteps[i]);
	}
	egress(sw, targets[nt - 1], f, pkt, vteps[nt - 1]);
}

/* Does the entry learned last say (vid, mac) is behind (port, remote_ip)? */
static bool fdb_same(const struct fdb_entry *e, uint16_t vid, const uint8_t *mac, uint16_t port, uint32_t remote_ip)
{
	return e && e->used && e->vid == vid && e->port == port && e->remote_ip == remote_ip && !memcmp(e->mac, mac, 6);
}

/* Ingress of one frame from port in (id). */
static void switch_one(struct vswitch *sw, int id, struct vsw_port *in, struct vsw_frame *f)
{
	const struct fdb_entry *e;
	struct vsw_pkt pkt;
	enum vsw_parse_err perr;
	uint32_t remote_ip = 0;
	uint16_t type;

	f->in_port = (uint16_t)id;
	f->remote_ip = 0;
	in->st.rx_packets++;
	in->st.rx_bytes += f->len;
	if (f->len < VSW_ETH_HLEN) {
		drop(sw, in, f, VSW_DROP_RUNT);
		return;
	}
	if (f->len > in->mtu + VSW_ETH_HLEN + VSW_VLAN_HLEN) {
		drop(sw, in, f, VSW_DROP_OVERSIZE);
		return;
	}
	if (in->vxlan) {
		uint32_t vni;

		switch (vxlan_decap(f, &in->vx, &vni, &remote_ip)) {
		case VXLAN_OK:
			break;
		case VXLAN_BAD:
			drop(sw, in, f, VSW_DROP_BAD_VXLAN);
			return;
		default:
			/* not VXLAN for us (decap left the frame as it was): who-has our VTEP address is
			 * answered on the uplink itself, the rest dropped */
			if (vxlan_arp_reply(f, &in->vx)) {
				in->st.arp_replies++;
				port_queue(sw, in, f);
				return;
			}
			drop(sw, in, f, VSW_DROP_NOT_VXLAN);
			return;
		}
		struct vsw_vni *v = find_vni(sw, vni);

		if (!v) {
			drop(sw, in, f, VSW_DROP_UNKNOWN_VNI);
			return;
		}
		type = vsw_get_be16(f->data + 12);
		if (type == ETH_P_8021Q_ || type == ETH_P_8021AD_) {
			drop(sw, in, f, VSW_DROP_BAD_VLAN);
			return;
		}
		f->vid = v->vid;
		f->remote_ip = remote_ip;
	} else {
		type = vsw_get_be16(f->data + 12);
		if (type == ETH_P_8021Q_ || type == ETH_P_8021AD_) {
			uint16_t vid;

			if (f->len < VSW_ETH_HLEN + VSW_VLAN_HLEN) {
				drop(sw, in, f, VSW_DROP_RUNT);
				return;
			}
			vid = vsw_get_be16(f->data + 14) & 0xfff;
			if (vid == 0xfff || type == ETH_P_8021AD_) {
				drop(sw, in, f, VSW_DROP_BAD_VLAN);
				return;
			}
			if (vid == 0) {   /* priority tag: the port's untagged VLAN */
				vid = in->mode == VSW_ACCESS ? in->access_vid : in->native_vid;
			} else if (in->mode == VSW_ACCESS ||
				   !(in->trunk[vid / 64] & (1ull << (vid % 64)))) {
				drop(sw, in, f, VSW_DROP_VLAN_FILTER);
				return;
			}
			if (vid == 0) {
				drop(sw, in, f, VSW_DROP_VLAN_FILTER);
				return;
			}
			/* strip the tag: move the MAC addresses over it */
			memmove(f->data + 4, f->data, 12);
			vsw_frame_pull(f, 4);
			f->vid = vid;
		} else if (in->mode == VSW_ACCESS) {
			f->vid = in->access_vid;
		} else if (in->native_vid) {
			f->vid = in->native_vid;
		} else {
			drop(sw, in, f, VSW_DROP_VLAN_FILTER);
			return;
		}
	}
	perr = vsw_parse(f->data, f->len, &pkt);
	if (perr == VSW_PARSE_OK && pkt.tagged)
		perr = VSW_PARSE_BAD_VLAN;   /* stacked tags */
	if (perr != VSW_PARSE_OK) {
		drop(sw, in, f, perr == VSW_PARSE_RUNT ? VSW_DROP_RUNT :
				perr == VSW_PARSE_BAD_VLAN ? VSW_DROP_BAD_VLAN : VSW_DROP_BAD_L3);
		return;
	}
	if (rate_limiter_active(&in->rl) && !rate_limiter_police(&in->rl, f->len, sw->now)) {
		drop(sw, in, f, VSW_DROP_RATELIMIT);
		return;
	}
	if (in->acl_active[ACL_IN] && acl_eval(&in->acl[ACL_IN], &pkt, f->len) == ACL_DENY) {
		drop(sw, in, f, VSW_DROP_ACL);
		return;
	}
	if (!vsw_mac_is_multicast(pkt.src) && !fdb_same(sw->last_src, f->vid, pkt.src, (uint16_t)id, remote_ip)) {
		fdb_learn(&sw->fdb, f->vid, pkt.src, (uint16_t)id, remote_ip, sw->now);
		sw->last_src = fdb_lookup(&sw->fdb, f->vid, pkt.src, sw->now);
		sw->last_dst = NULL;    /* learning may have moved or replaced it */
	}
	if (vsw_mac_is_multicast(pkt.dst)) {
		flood(sw, in, f, &pkt);
		return;
	}
	if (sw->last_dst && sw->last_dst->vid == f->vid && !memcmp(sw->last_dst->mac, pkt.dst, 6))
		e = sw->last_dst;
	else if ((e = fdb_lookup(&sw->fdb, f->vid, pkt.dst, sw->now)))
		sw->last_dst = e;
	else {
		flood(sw, in, f, &pkt);
		return;
	}
	if (e->port == id) {
		drop(sw, in, f, VSW_DROP_HAIRPIN);
		return;
	}
	struct vsw_port *out = get_port(sw, e->port);

	if (!out || !(sw->vlan_ports[f->vid] & (1ull << e->port))) {
		flood(sw, in, f, &pkt);
		return;
	}
	egress(sw, out, f, &pkt, e->remote_ip);
}

void vswitch_input(struct vswitch *sw, int port, struct vsw_frame **frames, unsigned n)
{
	struct vsw_port *in = get_port(sw, port);

	if (!in) {
		for (unsigned i = 0; i < n; i++)
			vsw_frame_free(&sw->pool, frames[i]);
		return;
	}
	if (!sw->per_round || !sw->now_fresh) {
		sw->now = sw->clock_ns();
		sw->now_fresh = true;
	}
	sw->last_src = sw->last_dst = NULL;
	for (unsigned i = 0; i < n; i++)
		switch_one(sw, port, in, frames[i]);
	for (uint64_t m = sw->pending; m; m &= m - 1) {
		struct vsw_port *p = sw->port[__builtin_ctzll(m)];

		if (p && p->nout)
			port_flush(sw, p);
	}
	sw->pending = 0;
}
