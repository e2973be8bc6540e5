/* SPDX-License-Identifier: MIT */
/* Internals of the virtual switch shared by its files (switch.c, stats.c). */
#ifndef KITE_DPU_SWITCH_PRIV_H
#define KITE_DPU_SWITCH_PRIV_H

#include "kite/ratelimit.h"

#include "fdb.h"
#include "switch.h"

#define VNI_NONE UINT32_MAX

struct vsw_port {
	const struct vsw_port_ops *ops;
	void *opaque;
	unsigned id;                      /* index in vswitch.port */
	enum vsw_vlan_mode mode;
	uint16_t access_vid;
	uint16_t native_vid;              /* trunk: untagged VLAN, 0 = none */
	uint64_t trunk[4096 / 64];        /* trunk: allowed VLANs */
	uint32_t mtu;
	bool vxlan;
	struct vxlan_cfg vx;
	struct vxlan_tmpl vx_tmpl;        /* outer headers built from vx */
	bool acl_active[2];               /* rules present or default deny */
	struct acl acl[2];
	struct rate_limiter rl;        /* pps and bps policing of frames in (no timer: refused = dropped) */
	struct vsw_port_stats st;
	struct vsw_frame *out[VSW_BURST];
	unsigned nout;
	char name[VSW_NAME_MAX];          /* last: off the fast path's cache lines */
};

struct vsw_vni {
	uint32_t vni;
	uint16_t vid;
	unsigned nvtep;
	uint32_t vtep[VSW_MAX_VTEPS];
};

struct vswitch {
	struct vsw_pool pool;
	struct fdb fdb;
	uint64_t (*clock_ns)(void);
	uint64_t now;
	bool per_round;          /* vswitch_new_round() drives the clock reads */
	bool now_fresh;          /* `now` was read in this round */
	/* Within one input burst (same `now`): the last source learned and the last destination found,
	 * so a burst of one flow hashes once (entries cannot age out within the burst). */
	const struct fdb_entry *last_src, *last_dst;
	struct vsw_port *port[VSW_MAX_PORTS];
	/* Ports by bit (1 << id): members of each VLAN (what port_in_vlan() says, kept up to date by
	 * every change of a port's VLANs, its VXLAN role or the VNIs; a removed port is in none), so a
	 * flood visits only the ports of its VLAN; and the ports with frames queued in this burst. */
	uint64_t vlan_ports[4096];
	uint64_t pending;
	uint32_t vid2vni[4096];
	struct vsw_vni vnis[VSW_MAX_VNIS];
	unsigned nvnis;
	uint16_t ip_id;
};

#endif
