/* SPDX-License-Identifier: MIT */
/* Ethernet / VLAN / IPv4 / IPv6 / L4 parsing with full length checks. */
#include <string.h>

#include "parse.h"

static void parse_l4(const uint8_t *l4, uint32_t avail, uint8_t proto, struct vsw_pkt *pkt)
{
	switch (proto) {
	case IPPROTO_TCP_:
	case IPPROTO_UDP_:
		if (avail < 4)
			return;
		pkt->sport = vsw_get_be16(l4);
		pkt->dport = vsw_get_be16(l4 + 2);
		pkt->l4_ok = true;
		break;
	case IPPROTO_ICMP_:
	case IPPROTO_ICMPV6_:
		if (avail < 2)
			return;
		pkt->sport = l4[0];
		pkt->dport = l4[1];
		pkt->l4_ok = true;
		break;
	default:
		break;
	}
}

static enum vsw_parse_err parse_ipv4(const uint8_t *ip, uint32_t avail, struct vsw_pkt *pkt)
{
	uint32_t ihl, tot;
	uint16_t frag;

	if (avail < 20 || (ip[0] >> 4) != 4)
		return VSW_PARSE_BAD_L3;
	ihl = (uint32_t)(ip[0] & 0xf) * 4;
	tot = vsw_get_be16(ip + 2);
	if (ihl < 20 || tot < ihl || tot > avail)
		return VSW_PARSE_BAD_L3;
	pkt->ip_ver = 4;
	pkt->l3_len = tot;
	pkt->proto = ip[9];
	memcpy(&pkt->src4, ip + 12, 4);
	memcpy(&pkt->dst4, ip + 16, 4);
	frag = vsw_get_be16(ip + 6);
	pkt->l4_off = (uint16_t)(pkt->l3_off + ihl);
	if ((frag & 0x1fff) == 0)   /* first (or only) fragment carries the L4 header */
		parse_l4(ip + ihl, tot - ihl, pkt->proto, pkt);
	return VSW_PARSE_OK;
}

static enum vsw_parse_err parse_ipv6(const uint8_t *ip, uint32_t avail, struct vsw_pkt *pkt)
{
	uint32_t plen;

	if (avail < 40 || (ip[0] >> 4) != 6)
		return VSW_PARSE_BAD_L3;
	plen = vsw_get_be16(ip + 4);
	if (plen > avail - 40)
		return VSW_PARSE_BAD_L3;
	pkt->ip_ver = 6;
	pkt->l3_len = 40 + plen;
	pkt->proto = ip[6];
	memcpy(pkt->src6, ip + 8, 16);
	memcpy(pkt->dst6, ip + 24, 16);
	pkt->l4_off = (uint16_t)(pkt->l3_off + 40);
	/* Extension headers are not walked: ports are only read when the L4 header comes first. */
	parse_l4(ip + 40, plen, pkt->proto, pkt);
	return VSW_PARSE_OK;
}

enum vsw_parse_err vsw_parse(const uint8_t *frame, uint32_t len, struct vsw_pkt *pkt)
{
	uint32_t off = 12;
	uint16_t type;

	memset(pkt, 0, sizeof(*pkt));
	if (len < VSW_PARSE_ETH_HLEN)
		return VSW_PARSE_RUNT;
	pkt->dst = frame;
	pkt->src = frame + 6;
	type = vsw_get_be16(frame + off);
	if (type == ETH_P_8021Q_ || type == ETH_P_8021AD_) {
		uint16_t tci;

		if (len < VSW_PARSE_ETH_HLEN + 4)
			return VSW_PARSE_RUNT;
		tci = vsw_get_be16(frame + 14);
		pkt->tagged = true;
		pkt->vid = tci & 0xfff;
		pkt->pcp = (uint8_t)(tci >> 13);
		if (pkt->vid == 0xfff)
			return VSW_PARSE_BAD_VLAN;
		off += 4;
		type = vsw_get_be16(frame + off);
		if (type == ETH_P_8021Q_ || type == ETH_P_8021AD_)
			return VSW_PARSE_BAD_VLAN;
	}
	pkt->ethertype = type;
	pkt->l3_off = (uint16_t)(off + 2);
	switch (type) {
	case ETH_P_IPV4_:
		return parse_ipv4(frame + pkt->l3_off, len - pkt->l3_off, pkt);
	case ETH_P_IPV6_:
		return parse_ipv6(frame + pkt->l3_off, len - pkt->l3_off, pkt);
	default:
		return VSW_PARSE_OK;
	}
}
