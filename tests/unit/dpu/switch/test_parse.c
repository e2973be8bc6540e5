/* SPDX-License-Identifier: MIT */
/* vswitch parser: Ethernet/VLAN/IPv4/IPv6/L4 fields and every malformed case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "frames.h"
#include "parse.h"

static uint8_t buf[9200];

static void test_ipv4_udp(void **state)
{
	struct tf_spec s = { .dst = MAC_B, .src = MAC_A, .vid = -1, .ip_ver = 4, .sip = "10.0.0.1",
			     .dip = "10.0.1.2", .proto = IPPROTO_UDP_, .sport = 1234, .dport = 53, .payload = 10 };
	uint32_t len = tf_build(buf, &s);
	struct vsw_pkt p;

	(void)state;
	assert_int_equal(len, 14 + 20 + 8 + 10);
	assert_int_equal(vsw_parse(buf, len, &p), VSW_PARSE_OK);
	assert_memory_equal(p.dst, MAC_B, 6);
	assert_memory_equal(p.src, MAC_A, 6);
	assert_false(p.tagged);
	assert_int_equal(p.ethertype, ETH_P_IPV4_);
	assert_int_equal(p.ip_ver, 4);
	assert_int_equal(p.proto, IPPROTO_UDP_);
	assert_int_equal(p.src4, tf_ip4("10.0.0.1"));
	assert_int_equal(p.dst4, tf_ip4("10.0.1.2"));
	assert_true(p.l4_ok);
	assert_int_equal(p.sport, 1234);
	assert_int_equal(p.dport, 53);
	assert_int_equal(p.l3_len, 38);
}

static void test_vlan_tcp(void **state)
{
	struct tf_spec s = { .dst = MAC_B, .src = MAC_A, .vid = 100 | (5 << 13), .ip_ver = 4, .sip = "1.2.3.4",
			     .dip = "5.6.7.8", .proto = IPPROTO_TCP_, .sport = 40000, .dport = 443 };
	uint32_t len = tf_build(buf, &s);
	struct vsw_pkt p;

	(void)state;
	assert_int_equal(vsw_parse(buf, len, &p), VSW_PARSE_OK);
	assert_true(p.tagged);
	assert_int_equal(p.vid, 100);
	assert_int_equal(p.pcp, 5);
	assert_int_equal(p.l3_off, 18);
	assert_int_equal(p.dport, 443);
}

static void test_ipv6_icmp(void **state)
{
	struct tf_spec s = { .dst = MAC_B, .src = MAC_A, .vid = -1, .ip_ver = 6, .sip = "fd00::1",
			     .dip = "fd00::2", .proto = IPPROTO_ICMPV6_, .sport = 128, .dport = 0, .payload = 4 };
	uint32_t len = tf_build(buf, &s);
	struct vsw_pkt p;

	(void)state;
	assert_int_equal(vsw_parse(buf, len, &p), VSW_PARSE_OK);
	assert_int_equal(p.ip_ver, 6);
	assert_int_equal(p.proto, IPPROTO_ICMPV6_);
	assert_int_equal(p.sport, 128);
	assert_int_equal(p.src6[15], 1);
	assert_int_equal(p.dst6[15], 2);
}

static void test_arp(void **state)
{
	struct tf_spec s = { .dst = MAC_BCAST, .src = MAC_A, .vid = -1, .ethertype = ETH_P_ARP_, .payload = 28 };
	uint32_t len = tf_build(buf, &s);
	struct vsw_pkt p;

	(void)state;
	assert_int_equal(vsw_parse(buf, len, &p), VSW_PARSE_OK);
	assert_int_equal(p.ip_ver, 0);
	assert_int_equal(p.ethertype, ETH_P_ARP_);
}

static void test_malformed(void **state)
{
	struct tf_spec s = { .dst = MAC_B, .src = MAC_A, .vid = -1, .ip_ver = 4, .sip = "10.0.0.1",
			     .dip = "10.0.1.2", .proto = IPPROTO_UDP_, .sport = 1, .dport = 2, .payload = 0 };
	uint32_t len = tf_build(buf, &s);
	struct vsw_pkt p;

	(void)state;
	/* every truncation of a valid frame is either a runt or a bad L3 header, never out of bounds */
	for (uint32_t l = 0; l < 14; l++)
		assert_int_equal(vsw_parse(buf, l, &p), VSW_PARSE_RUNT);
	for (uint32_t l = 14; l < len; l++)
		assert_int_equal(vsw_parse(buf, l, &p), VSW_PARSE_BAD_L3);
	/* IHL below 5 */
	buf[14] = 0x44;
	assert_int_equal(vsw_parse(buf, len, &p), VSW_PARSE_BAD_L3);
	/* total length larger than the frame */
	buf[14] = 0x45;
	vsw_put_be16(buf + 16, 200);
	assert_int_equal(vsw_parse(buf, len, &p), VSW_PARSE_BAD_L3);
	/* wrong version */
	vsw_put_be16(buf + 16, 28);
	buf[14] = 0x65;
	assert_int_equal(vsw_parse(buf, len, &p), VSW_PARSE_BAD_L3);
	buf[14] = 0x45;
	assert_int_equal(vsw_parse(buf, len, &p), VSW_PARSE_OK);
	/* a non-first fragment has no ports */
	vsw_put_be16(buf + 20, 10);
	assert_int_equal(vsw_parse(buf, len, &p), VSW_PARSE_OK);
	assert_false(p.l4_ok);
	/* tag truncated, stacked tags, VLAN 4095 */
	s.vid = 7;
	len = tf_build(buf, &s);
	assert_int_equal(vsw_parse(buf, 16, &p), VSW_PARSE_RUNT);
	vsw_put_be16(buf + 14, 4095);
	assert_int_equal(vsw_parse(buf, len, &p), VSW_PARSE_BAD_VLAN);
	vsw_put_be16(buf + 14, 7);
	vsw_put_be16(buf + 16, ETH_P_8021Q_);
	assert_int_equal(vsw_parse(buf, len, &p), VSW_PARSE_BAD_VLAN);
	/* IPv6 payload length past the frame */
	s.vid = -1;
	s.ip_ver = 6;
	s.sip = "::1";
	s.dip = "::2";
	len = tf_build(buf, &s);
	assert_int_equal(vsw_parse(buf, len, &p), VSW_PARSE_OK);
	assert_int_equal(vsw_parse(buf, len - 1, &p), VSW_PARSE_BAD_L3);
}

static void test_csum(void **state)
{
	/* RFC 1071 example-style check: a header with its checksum filled in sums to zero */
	static const uint8_t hdr[20] = { 0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
					 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7 };
	uint8_t h[20];

	(void)state;
	assert_int_equal(vsw_ip_csum(hdr, 20), 0);
	memcpy(h, hdr, 20);
	h[10] = h[11] = 0;
	assert_int_equal(vsw_ip_csum(h, 20), 0xb861);
}

/* The checksum byte by byte, as RFC 1071 writes it: the reference for the word-wise one. */
static uint16_t csum_ref(const uint8_t *p, uint32_t len)
{
	uint32_t sum = 0;

	for (uint32_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void test_csum_lengths(void **state)
{
	uint8_t data[80], ones[64];
	uint32_t x = 12345;

	(void)state;
	for (unsigned i = 0; i < sizeof(data); i++) {
		x = x * 1103515245u + 12345u;
		data[i] = (uint8_t)(x >> 16);
	}
	/* every length, odd and even, and every start alignment of the word loads */
	for (uint32_t off = 0; off < 4; off++)
		for (uint32_t len = 0; len <= 64; len++) {
			assert_int_equal(vsw_ip_csum(data + off, len), csum_ref(data + off, len));
			assert_int_equal(vsw_ip_csum_ok(data + off, len), csum_ref(data + off, len) == 0);
		}
	/* many carries: all-ones words sum to 0xffff, whose complement is 0 */
	memset(ones, 0xff, sizeof(ones));
	assert_int_equal(vsw_ip_csum(ones, 64), 0);
	assert_true(vsw_ip_csum_ok(ones, 64));
	assert_int_equal(csum_ref(ones, 64), 0);
	assert_int_equal(vsw_ip_csum(ones, 3), csum_ref(ones, 3));
}

/* The 20-byte path of vsw_ip_csum and vsw_ip_csum_ok (the VXLAN uplink's check of nearly every
 * header) agrees with the reference on random headers, on the same headers with their checksum
 * filled in, with one bit flipped, and at the carry extremes; vsw_ip_csum_ok also at other lengths. */
static void test_csum_hdr20(void **state)
{
	uint8_t h[20];
	uint32_t x = 777;

	(void)state;
	for (unsigned n = 0; n < 2000; n++) {
		uint16_t c;

		for (unsigned i = 0; i < sizeof(h); i++) {
			x = x * 1103515245u + 12345u;
			h[i] = (uint8_t)(x >> 16);
		}
		assert_int_equal(vsw_ip_csum(h, 20), csum_ref(h, 20));
		assert_int_equal(vsw_ip_csum_ok(h, 20), csum_ref(h, 20) == 0);
		h[10] = h[11] = 0;
		c = csum_ref(h, 20);
		h[10] = (uint8_t)(c >> 8);
		h[11] = (uint8_t)c;
		assert_int_equal(vsw_ip_csum(h, 20), 0);
		assert_true(vsw_ip_csum_ok(h, 20));
		h[x % 20] ^= (uint8_t)(1u << (x >> 8) % 8);
		assert_int_equal(vsw_ip_csum(h, 20), csum_ref(h, 20));
		assert_int_equal(vsw_ip_csum_ok(h, 20), csum_ref(h, 20) == 0);
	}
	memset(h, 0xff, sizeof(h));
	assert_int_equal(vsw_ip_csum(h, 20), 0);
	assert_true(vsw_ip_csum_ok(h, 20));
	assert_int_equal(csum_ref(h, 20), 0);
	memset(h, 0, sizeof(h));
	assert_int_equal(vsw_ip_csum(h, 20), 0xffff);
	assert_false(vsw_ip_csum_ok(h, 20));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4_udp),
		cmocka_unit_test(test_csum_hdr20),
		cmocka_unit_test(test_vlan_tcp),
		cmocka_unit_test(test_ipv6_icmp),
		cmocka_unit_test(test_arp),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_csum),
		cmocka_unit_test(test_csum_lengths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
