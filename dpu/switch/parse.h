/* SPDX-License-Identifier: MIT */
/*
 * Frame parsing for the virtual switch: Ethernet, one optional 802.1Q tag, IPv4 / IPv6 and the
 * TCP/UDP ports or ICMP type. Nothing is trusted: every length is checked against the bytes present.
 * All multi-byte fields are returned in host order except IP addresses, which stay in network order.
 */
#ifndef KITE_DPU_SWITCH_PARSE_H
#define KITE_DPU_SWITCH_PARSE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define VSW_PARSE_ETH_HLEN 14
#define ETH_P_IPV4_  0x0800
#define ETH_P_ARP_   0x0806
#define ETH_P_8021Q_ 0x8100
#define ETH_P_8021AD_ 0x88A8
#define ETH_P_IPV6_  0x86DD

#define IPPROTO_ICMP_   1
#define IPPROTO_TCP_    6
#define IPPROTO_UDP_    17
#define IPPROTO_ICMPV6_ 58

/* Why a frame could not be parsed (also the switch's drop reasons for them). */
enum vsw_parse_err {
	VSW_PARSE_OK = 0,
	VSW_PARSE_RUNT,       /* shorter than an Ethernet header (or than its VLAN tag) */
	VSW_PARSE_BAD_VLAN,   /* stacked tags, or VLAN id 4095 */
	VSW_PARSE_BAD_L3,     /* IP header truncated or inconsistent (version, IHL, total length) */
};

struct vsw_pkt {
	const uint8_t *dst, *src;   /* MAC addresses (point into the frame) */
	bool tagged;
	uint16_t vid;               /* when tagged */
	uint8_t pcp;
	uint16_t ethertype;         /* after the tag */
	uint16_t l3_off;            /* offset of the L3 header */
	uint8_t ip_ver;             /* 0 (not IP), 4 or 6 */
	uint8_t proto;              /* IP protocol / IPv6 next header (first one) */
	uint32_t l3_len;            /* IP total length as validated (<= bytes present) */
	uint32_t src4, dst4;        /* IPv4, network order */
	uint8_t src6[16], dst6[16];
	bool l4_ok;                 /* ports / ICMP type are valid (first fragment, header present) */
	uint16_t sport, dport;      /* TCP/UDP; for ICMP: sport = type, dport = code */
	uint16_t l4_off;
};

static inline bool vsw_mac_is_multicast(const uint8_t *mac)
{
	return mac[0] & 1;
}

static inline uint16_t vsw_get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void vsw_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Parse len bytes at frame. Returns VSW_PARSE_OK or the reason. */
enum vsw_parse_err vsw_parse(const uint8_t *frame, uint32_t len, struct vsw_pkt *pkt);

/* Fold a sum of 32-bit words to 16 bits, one's complement (fixed folds, any 64-bit sum). */
static inline uint16_t vsw_csum_fold(uint64_t sum)
{
	sum = (sum & 0xffffffffu) + (sum >> 32);     /* < 2^33 */
	sum = (sum & 0xffff) + (sum >> 16);           /* < 2^18 */
	sum = (sum & 0xffff) + (sum >> 16);           /* < 2^16 + 4 */
	sum = (sum & 0xffff) + (sum >> 16);           /* <= 0xffff */
	return (uint16_t)sum;
}

/* One's complement sum of len bytes as 32-bit words in host order, unfolded: the one's complement
 * sum is byte-order independent up to a swap of the folded result (RFC 1071, section 2 (B)). A
 * 20-byte IPv4 header, nearly every one, takes five loads and no loop. */
static inline uint64_t vsw_csum_sum(const void *data, uint32_t len)
{
	const uint8_t *p = data;
	uint64_t sum = 0;
	uint32_t w[5];
	uint16_t h;

	if (len == 20) {
		memcpy(w, p, sizeof(w));
		return (uint64_t)w[0] + w[1] + w[2] + w[3] + w[4];
	}
	for (; len >= 4; p += 4, len -= 4) {
		memcpy(&w[0], p, 4);
		sum += w[0];
	}
	if (len >= 2) {
		memcpy(&h, p, 2);
		sum += h;
		p += 2;
		len -= 2;
	}
	if (len) {
		uint8_t last[2] = { p[0], 0 };

		memcpy(&h, last, 2);
		sum += h;
	}
	return sum;
}

/* Internet checksum (RFC 1071) of len bytes, folded and complemented, as the big-endian value the
 * callers store with vsw_put_be16 (inline: VXLAN encapsulation computes one per frame). */
static inline uint16_t vsw_ip_csum(const void *data, uint32_t len)
{
	uint16_t h = (uint16_t)~vsw_csum_fold(vsw_csum_sum(data, len));

	return vsw_get_be16((const uint8_t *)&h);
}

/* Do len bytes that hold their own checksum (an IPv4 header) verify, i.e. vsw_ip_csum() == 0?
 * Without the complement and the swap: the VXLAN uplink checks one per frame. */
static inline bool vsw_ip_csum_ok(const void *data, uint32_t len)
{
	return vsw_csum_fold(vsw_csum_sum(data, len)) == 0xffff;
}

#endif
