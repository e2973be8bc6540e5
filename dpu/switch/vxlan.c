/* SPDX-License-Identifier: MIT */
/* VXLAN encapsulation and decapsulation (see vxlan.h). */
#include <string.h>

#include "parse.h"
#include "vxlan.h"

/* UDP source port: one flow (inner MAC pair and ethertype) keeps one port, flows spread over
 * 49152-65535. Two overlapping 8-byte loads of the first 14 bytes, two multiplies. */
static uint16_t vxlan_src_port(const uint8_t *inner, uint32_t len)
{
	uint64_t x, y;

	if (len >= 14) {
		memcpy(&x, inner, 8);
		memcpy(&y, inner + 6, 8);
	} else {
		uint8_t b[14] = { 0 };

		memcpy(b, inner, len);
		memcpy(&x, b, 8);
		memcpy(&y, b + 6, 8);
	}
	x ^= (y << 17 | y >> 47) * 0xff51afd7ed558ccdull;
	x *= 0x9e3779b97f4a7c15ull;
	return (uint16_t)(49152 + (x >> 50));
}

void vxlan_tmpl_init(struct vxlan_tmpl *t, const struct vxlan_cfg *cfg)
{
	uint8_t *p = t->hdr, *ip = p + 14, *udp = ip + 20;

	memset(t, 0, sizeof(*t));
	memcpy(p, cfg->gw_mac, 6);
	memcpy(p + 6, cfg->local_mac, 6);
	vsw_put_be16(p + 12, ETH_P_IPV4_);
	ip[0] = 0x45;
	vsw_put_be16(ip + 6, 0x4000);    /* DF */
	ip[8] = 64;
	ip[9] = IPPROTO_UDP_;
	memcpy(ip + 12, &cfg->local_ip, 4);
	vsw_put_be16(udp + 2, VXLAN_PORT);
	/* UDP checksum 0: RFC 7348 allows it over IPv4 */
	udp[8] = 0x08;                   /* VXLAN flags: VNI valid */
	for (unsigned i = 0; i < 20; i += 2)
		t->ip_sum += vsw_get_be16(ip + i);
}

int vxlan_encap_tmpl(struct vsw_frame *f, const struct vxlan_tmpl *t, uint32_t vni, uint32_t remote_ip,
		     uint16_t ip_id)
{
	uint32_t inner_len = f->len, sum;
	uint16_t sport = vxlan_src_port(f->data, f->len), ip_len;
	uint8_t *p, *ip, *udp;

	if (vni > VXLAN_VNI_MAX || inner_len + VXLAN_OVERHEAD > 0xffff)
		return -1;
	p = vsw_frame_push(f, VXLAN_OVERHEAD);
	if (!p)
		return -1;
	memcpy(p, t->hdr, VXLAN_OVERHEAD);
	ip = p + 14;
	udp = ip + 20;
	ip_len = (uint16_t)(20 + 8 + VXLAN_HLEN + inner_len);
	vsw_put_be16(ip + 2, ip_len);
	vsw_put_be16(ip + 4, ip_id);
	memcpy(ip + 16, &remote_ip, 4);
	/* the template's sum plus the fields just written (RFC 1071: order and byte order of the
	 * additions do not matter, the folded result is the full header's) */
	sum = t->ip_sum + ip_len + ip_id + vsw_get_be16(ip + 16) + vsw_get_be16(ip + 18);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	vsw_put_be16(ip + 10, (uint16_t)~sum);
	vsw_put_be16(udp, sport);
	vsw_put_be16(udp + 4, (uint16_t)(8 + VXLAN_HLEN + inner_len));
	udp[12] = (uint8_t)(vni >> 16);
	udp[13] = (uint8_t)(vni >> 8);
	udp[14] = (uint8_t)vni;
	return 0;
}

int vxlan_encap(struct vsw_frame *f, const struct vxlan_cfg *cfg, uint32_t vni, uint32_t remote_ip,
		uint16_t ip_id)
{
	struct vxlan_tmpl t;

	vxlan_tmpl_init(&t, cfg);
	return vxlan_encap_tmpl(f, &t, vni, remote_ip, ip_id);
}

enum vxlan_err vxlan_decap(struct vsw_frame *f, const struct vxlan_cfg *cfg, uint32_t *vni,
			   uint32_t *remote_ip)
{
	const uint8_t *p = f->data, *ip, *udp, *vx;
	uint32_t len = f->len, off = 14, ihl, tot, ulen;
	uint16_t type;
	uint32_t dst;

	if (len < 14)
		return VXLAN_BAD;
	type = vsw_get_be16(p + 12);
	if (type == ETH_P_8021Q_) {   /* one outer tag is tolerated */
		if (len < 18)
			return VXLAN_BAD;
		type = vsw_get_be16(p + 16);
		off = 18;
	}
	if (type != ETH_P_IPV4_)
		return VXLAN_NOT_VXLAN;
	if (len < off + 20)
		return VXLAN_BAD;
	ip = p + off;
	if ((ip[0] >> 4) != 4)
		return VXLAN_BAD;
	ihl = (uint32_t)(ip[0] & 0xf) * 4;
	tot = vsw_get_be16(ip + 2);
	if (ihl < 20 || len < off + ihl || tot < ihl || tot > len - off)
		return VXLAN_BAD;
	if (ip[9] != IPPROTO_UDP_)
		return VXLAN_NOT_VXLAN;
	if (!vsw_ip_csum_ok(ip, ihl))
		return VXLAN_BAD;
	if (vsw_get_be16(ip + 6) & 0x3fff)   /* MF or fragment offset: not reassembled */
		return VXLAN_BAD;
	if (tot - ihl < 8)
		return VXLAN_BAD;
	udp = ip + ihl;
	if (vsw_get_be16(udp + 2) != VXLAN_PORT)
		return VXLAN_NOT_VXLAN;
	memcpy(&dst, ip + 16, 4);
	if (dst != cfg->local_ip)
		return VXLAN_NOT_LOCAL;
	ulen = vsw_get_be16(udp + 4);
	if (ulen < 8 + VXLAN_HLEN + 14 || ulen > tot - ihl)
		return VXLAN_BAD;
	vx = udp + 8;
	if (!(vx[0] & 0x08))
		return VXLAN_BAD;
	*vni = (uint32_t)vx[4] << 16 | (uint32_t)vx[5] << 8 | vx[6];
	memcpy(remote_ip, ip + 12, 4);
	/* Inner frame: what the UDP length covers (trailing Ethernet padding is dropped). */
	f->data += off + ihl + 8 + VXLAN_HLEN;
	f->len = ulen - 8 - VXLAN_HLEN;
	return VXLAN_OK;
}

bool vxlan_arp_reply(struct vsw_frame *f, const struct vxlan_cfg *cfg)
{
	uint8_t *p = f->data, *arp = p + 14;
	uint8_t sha[6], spa[4];

	/* Ethernet + ARP for IPv4 over Ethernet: htype 1, ptype 0x0800, hlen 6, plen 4, op 1 */
	if (f->len < 42 || vsw_get_be16(p + 12) != ETH_P_ARP_ || vsw_get_be16(arp) != 1 ||
	    vsw_get_be16(arp + 2) != ETH_P_IPV4_ || arp[4] != 6 || arp[5] != 4 || vsw_get_be16(arp + 6) != 1 ||
	    memcmp(arp + 24, &cfg->local_ip, 4) != 0)
		return false;
	memcpy(sha, arp + 8, 6);
	memcpy(spa, arp + 14, 4);
	memcpy(p, sha, 6);
	memcpy(p + 6, cfg->local_mac, 6);
	vsw_put_be16(arp + 6, 2);
	memcpy(arp + 8, cfg->local_mac, 6);
	memcpy(arp + 14, &cfg->local_ip, 4);
	memcpy(arp + 18, sha, 6);
	memcpy(arp + 24, spa, 4);
	f->len = 42;
	return true;
}
