/* SPDX-License-Identifier: MIT */
/*
 * kite-dpu's virtual switch ("vswitch"): L2 learning switch with VLANs (access/trunk ports), VXLAN
 * on an uplink port, per-port security-group ACLs, rate limits and counters.
 *
 * Threading: a switch and all its ports live on ONE poller thread. vswitch_input() and every port's
 * tx callback run there; the configuration calls below must also run on that thread (the control
 * code hands them over, e.g. through the poller's queue) or while no port is being polled.
 *
 * Frame life cycle: a port device takes frames from vswitch_frame_alloc(), fills them and passes a
 * burst to vswitch_input(), which takes ownership. The switch hands frames to output ports through
 * ops->tx() (which copies them out: guest RX ring, TAP fd) and frees them afterwards.
 *
 * Pipeline per frame: size checks -> (VXLAN uplink: answer ARP for the VTEP address, decapsulate,
 * VNI -> VLAN) -> ingress VLAN rule
 * (access: untagged or priority-tagged only; trunk: allowed tagged VLANs, native VLAN for untagged)
 * -> rate limit -> ACL "in" -> learn source MAC -> FDB lookup (else flood in the VLAN) -> per output:
 * ACL "out", MTU, egress VLAN rule (push tag on trunks) or VXLAN encapsulation -> port tx.
 */
#ifndef KITE_DPU_SWITCH_H
#define KITE_DPU_SWITCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "acl.h"
#include "frame.h"
#include "vxlan.h"

#define VSW_MAX_PORTS   64
#define VSW_NAME_MAX    64
#define VSW_MAX_VTEPS   8      /* flood list per VNI */
#define VSW_MAX_VNIS    256
#define VSW_DEFAULT_MTU 1500

/* Drop reasons, counted per port (the port where the frame was dropped). */
enum vsw_drop {
	VSW_DROP_RUNT = 0,      /* shorter than an Ethernet header */
	VSW_DROP_OVERSIZE,      /* longer than the port's MTU + headers */
	VSW_DROP_BAD_VLAN,      /* stacked tags, VLAN 4095, tagged inner VXLAN frame */
	VSW_DROP_VLAN_FILTER,   /* VLAN not allowed on the port */
	VSW_DROP_BAD_L3,        /* truncated / inconsistent IP header */
	VSW_DROP_BAD_VXLAN,     /* malformed outer headers on the VXLAN uplink */
	VSW_DROP_NOT_VXLAN,     /* non-VXLAN (or not for our IP) traffic on a VXLAN uplink */
	VSW_DROP_UNKNOWN_VNI,
	VSW_DROP_ACL,           /* denied by the port's security group (in or out) */
	VSW_DROP_RATELIMIT,
	VSW_DROP_NO_BUFFER,     /* frame pool empty (flood copies, port RX) */
	VSW_DROP_TX_FULL,       /* the output port could not take it (guest RX ring full, TAP busy) */
	VSW_DROP_HAIRPIN,       /* destination is the input port */
	VSW_DROP_NO_ROUTE,      /* VXLAN: no VTEP known for the destination */
	VSW_DROP_BAD_DESC,      /* port device: malformed descriptor chain / virtio-net header */
	VSW_DROP_PORT_DOWN,     /* output port not connected */
	VSW_DROP__COUNT
};

const char *vsw_drop_name(enum vsw_drop d);

struct vsw_port_stats {
	uint64_t rx_packets, rx_bytes;     /* received from the port (into the switch) */
	uint64_t tx_packets, tx_bytes;     /* delivered to the port */
	uint64_t drops[VSW_DROP__COUNT];
	uint64_t arp_replies;              /* VXLAN uplink: ARP requests for the VTEP address answered */
};

/* A port device (vhost-user-net, TAP). */
struct vsw_port_ops {
	/* Deliver n frames (at most VSW_BURST). Copy them out; do not keep the pointers. Return how
	 * many were taken (in order); the rest are counted as tx_full drops. */
	unsigned (*tx)(void *opaque, struct vsw_frame **frames, unsigned n);
	/* Is the port able to take frames (frontend connected, queues started)? Optional. */
	bool (*link_up)(void *opaque);
	/* A port with queue pairs: frames per pair delivered to the port's device (to_port) and taken
	 * from it (from_port), at most max pairs; returns how many. Optional ("queues" in the JSON). */
	unsigned (*queue_stats)(void *opaque, uint64_t *to_port, uint64_t *from_port, unsigned max);
};

enum vsw_vlan_mode { VSW_ACCESS = 0, VSW_TRUNK };

struct vswitch_config {
	uint32_t pool_frames;    /* frame buffers (default 2048) */
	uint32_t fdb_size;       /* FDB entries (default 4096) */
	uint64_t fdb_age_ns;     /* default 300 s; 0 = never */
	uint64_t (*clock_ns)(void);  /* default CLOCK_MONOTONIC; tests inject their own */
};

struct vswitch;

struct vswitch *vswitch_new(const struct vswitch_config *cfg);
void vswitch_free(struct vswitch *sw);

/* Ports. A new port is an access port of VLAN 1 with MTU 1500, no ACL (allow), no rate limit.
 * Returns the port id (>= 0) or -errno (-EEXIST name taken, -ENOSPC, -EINVAL). */
int vswitch_port_add(struct vswitch *sw, const char *name, const struct vsw_port_ops *ops, void *opaque);
int vswitch_port_remove(struct vswitch *sw, int port);
int vswitch_port_find(const struct vswitch *sw, const char *name);
const char *vswitch_port_name(const struct vswitch *sw, int port);
int vswitch_port_set_access(struct vswitch *sw, int port, uint16_t vid);
/* Trunk carrying vids[0..n) tagged; native_vid (0 = none) is carried untagged. */
int vswitch_port_set_trunk(struct vswitch *sw, int port, const uint16_t *vids, unsigned n, uint16_t native_vid);
/* MTU of the port's frames (payload after the Ethernet header), 68..VSW_MAX_MTU. */
int vswitch_port_set_mtu(struct vswitch *sw, int port, uint32_t mtu);
uint32_t vswitch_port_mtu(const struct vswitch *sw, int port);
/* Make the port a VXLAN uplink (cfg NULL: plain port again). */
int vswitch_port_set_vxlan(struct vswitch *sw, int port, const struct vxlan_cfg *cfg);
/* Rate limit of traffic received from the port: packets/s and bytes/s (0 = unlimited), bursts
 * (0 = one second's worth). */
int vswitch_port_set_rate(struct vswitch *sw, int port, uint64_t pps, uint64_t pps_burst,
			  uint64_t bps, uint64_t bps_burst);

/* VXLAN: bind VLAN vid to VNI vni (each at most once); frames of the VLAN that must leave through
 * the VXLAN uplink are encapsulated with vni; unknown/broadcast ones go to every VTEP of the VNI. */
int vswitch_vni_add(struct vswitch *sw, uint32_t vni, uint16_t vid);
int vswitch_vni_add_vtep(struct vswitch *sw, uint32_t vni, uint32_t remote_ip);
int vswitch_vni_del(struct vswitch *sw, uint32_t vni);

/* Security groups. dir ACL_IN = from the port into the switch, ACL_OUT = to the port.
 * vswitch_acl_add returns the rule index or -errno. */
int vswitch_acl_add(struct vswitch *sw, int port, enum acl_dir dir, const struct acl_rule *rule);
int vswitch_acl_add_text(struct vswitch *sw, int port, enum acl_dir dir, const char *text,
			 char *err, unsigned errlen);
int vswitch_acl_del(struct vswitch *sw, int port, enum acl_dir dir, unsigned idx);
int vswitch_acl_clear(struct vswitch *sw, int port, enum acl_dir dir);
int vswitch_acl_set_default(struct vswitch *sw, int port, enum acl_dir dir, enum acl_action act);
const struct acl *vswitch_acl(const struct vswitch *sw, int port, enum acl_dir dir);

/* Fast path. */
struct vsw_frame *vswitch_frame_alloc(struct vswitch *sw);
void vswitch_frame_free(struct vswitch *sw, struct vsw_frame *f);
/* Switch n frames received from port (the switch owns them afterwards, whatever happens). */
void vswitch_input(struct vswitch *sw, int port, struct vsw_frame **frames, unsigned n);
/* A port device dropped something before it became a frame (descriptor garbage, no buffer). */
void vswitch_count_drop(struct vswitch *sw, int port, enum vsw_drop why);
/* Age the FDB (call now and then, e.g. once a second from the poller). */
unsigned vswitch_age(struct vswitch *sw);
/* Poller thread, at the start of each poll round: the first vswitch_input of the round reads the clock,
 * the later ones reuse that time (without this call every burst reads it). */
void vswitch_new_round(struct vswitch *sw);

/* Statistics. */
const struct vsw_port_stats *vswitch_port_stats(const struct vswitch *sw, int port);
struct fdb *vswitch_fdb(struct vswitch *sw);
/* JSON object {"ports":[{name, vlan, mtu, rx_packets, ..., drops:{reason:n}, acl:{in:[...],...}}],
 * "fdb":{...}} as a malloc'd string (free()), or NULL. */
char *vswitch_stats_json(const struct vswitch *sw);
/* Prometheus text format: kite_vswitch_*{port="..."} lines. */
void vswitch_stats_prom(const struct vswitch *sw, FILE *out);

#endif
