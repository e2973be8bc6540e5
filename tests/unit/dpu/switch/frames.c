/* SPDX-License-Identifier: MIT */
/* Frame builders for the vswitch unit tests. */
#include <arpa/inet.h>
#include <string.h>

#include "frames.h"
#include "parse.h"

const uint8_t MAC_A[6] = { 0x02, 0, 0, 0, 0, 0xa };
const uint8_t MAC_B[6] = { 0x02, 0, 0, 0, 0, 0xb };
const uint8_t MAC_C[6] = { 0x02, 0, 0, 0, 0, 0xc };
const uint8_t MAC_D[6] = { 0x02, 0, 0, 0, 0, 0xd };
const uint8_t MAC_BCAST[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

uint32_t tf_ip4(const char *s)
{
	uint32_t a = 0;

	inet_pton(AF_INET, s, &a);
	return a;
}

uint32_t tf_build(uint8_t *buf, const struct tf_spec *s)
{
	uint32_t off = 12, l4len, iplen;
	uint8_t *ip, *l4;

	memcpy(buf, s->dst, 6);
	memcpy(buf + 6, s->src, 6);
	if (s->vid >= 0) {
		vsw_put_be16(buf + 12, ETH_P_8021Q_);
		vsw_put_be16(buf + 14, (uint16_t)s->vid);
		off = 16;
	}
	if (s->ip_ver == 0) {
		vsw_put_be16(buf + off, s->ethertype);
		memset(buf + off + 2, 0x5a, s->payload);
		return off + 2 + s->payload;
	}
	vsw_put_be16(buf + off, s->ip_ver == 4 ? ETH_P_IPV4_ : ETH_P_IPV6_);
	ip = buf + off + 2;
	l4len = (s->proto == IPPROTO_TCP_ ? 20 : 8) + s->payload;
	if (s->ip_ver == 4) {
		iplen = 20 + l4len;
		memset(ip, 0, 20);
		ip[0] = 0x45;
		vsw_put_be16(ip + 2, (uint16_t)iplen);
		ip[8] = 64;
		ip[9] = s->proto;
		inet_pton(AF_INET, s->sip, ip + 12);
		inet_pton(AF_INET, s->dip, ip + 16);
		vsw_put_be16(ip + 10, vsw_ip_csum(ip, 20));
		l4 = ip + 20;
	} else {
		iplen = 40 + l4len;
		memset(ip, 0, 40);
		ip[0] = 0x60;
		vsw_put_be16(ip + 4, (uint16_t)l4len);
		ip[6] = s->proto;
		ip[7] = 64;
		inet_pton(AF_INET6, s->sip, ip + 8);
		inet_pton(AF_INET6, s->dip, ip + 24);
		l4 = ip + 40;
	}
	memset(l4, 0, l4len);
	if (s->proto == IPPROTO_ICMP_ || s->proto == IPPROTO_ICMPV6_) {
		l4[0] = (uint8_t)s->sport;
		l4[1] = (uint8_t)s->dport;
	} else {
		vsw_put_be16(l4, s->sport);
		vsw_put_be16(l4 + 2, s->dport);
	}
	memset(l4 + (s->proto == IPPROTO_TCP_ ? 20 : 8), 0xa5, s->payload);
	return off + 2 + iplen;
}
