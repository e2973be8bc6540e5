/* SPDX-License-Identifier: MIT */
/*
 * VXLAN (RFC 7348) on the uplink: outer Ethernet / IPv4 (no options, DF set, TTL 64, header
 * checksum) / UDP (destination 4789, source port 49152-65535 from a hash of the inner MAC addresses
 * and ethertype for ECMP, checksum 0) / VXLAN (flags 0x08 = valid VNI, 24-bit VNI). The inner frame
 * is carried untagged.
 *
 * Encapsulation copies a template of the outer headers built once per uplink (vxlan_tmpl_init) and
 * patches what changes per frame: the IPv4 total length, id and destination (the remote VTEP), the
 * header checksum (the template's partial sum plus those fields, no pass over the header), the UDP
 * source port and length, and the VNI.
 */
#ifndef KITE_DPU_SWITCH_VXLAN_H
#define KITE_DPU_SWITCH_VXLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "frame.h"

#define VXLAN_PORT      4789
#define VXLAN_HLEN      8
/* Outer Ethernet + IPv4 + UDP + VXLAN. */
#define VXLAN_OVERHEAD  (14 + 20 + 8 + VXLAN_HLEN)
#define VXLAN_VNI_MAX   0xffffffu

struct vxlan_cfg {
	uint32_t local_ip;      /* network order */
	uint8_t local_mac[6];   /* outer source MAC */
	uint8_t gw_mac[6];      /* outer destination MAC (next hop towards every VTEP) */
};

enum vxlan_err {
	VXLAN_OK = 0,
	VXLAN_NOT_VXLAN,    /* not IPv4/UDP to port 4789: not ours */
	VXLAN_BAD,          /* malformed: truncated, bad checksum, lengths, flags, fragment */
	VXLAN_NOT_LOCAL,    /* outer destination is not our local IP */
};

/* The outer headers of one uplink with the per-frame fields zero, and the one's complement sum of
 * the IPv4 header's constant 16-bit words (not folded). */
struct vxlan_tmpl {
	uint8_t hdr[VXLAN_OVERHEAD];
	uint32_t ip_sum;
};

void vxlan_tmpl_init(struct vxlan_tmpl *t, const struct vxlan_cfg *cfg);
/* Prepend the outer headers from template t to f (inner frame at f->data, f->len >= 14 for the
 * source port hash; shorter frames hash as if zero-padded). -1 if there is no headroom, the VNI
 * does not fit 24 bits or the outer IPv4 length would exceed 65535. */
int vxlan_encap_tmpl(struct vsw_frame *f, const struct vxlan_tmpl *t, uint32_t vni, uint32_t remote_ip,
		     uint16_t ip_id);
/* The same with a template built from cfg on the spot (tests, tools; the switch keeps one per port). */
int vxlan_encap(struct vsw_frame *f, const struct vxlan_cfg *cfg, uint32_t vni, uint32_t remote_ip,
		uint16_t ip_id);
/* Validate the outer headers of f and strip them. On VXLAN_OK f holds the inner frame, *vni and
 * *remote_ip (outer source, network order) are set. f is unchanged on error. */
enum vxlan_err vxlan_decap(struct vsw_frame *f, const struct vxlan_cfg *cfg, uint32_t *vni,
			   uint32_t *remote_ip);

/* If f is an ARP request for cfg->local_ip, turn it into the reply (from cfg->local_mac) in place
 * and return true; otherwise leave it untouched and return false. */
bool vxlan_arp_reply(struct vsw_frame *f, const struct vxlan_cfg *cfg);

#endif
