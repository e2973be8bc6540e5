/* SPDX-License-Identifier: MIT */
/* VXLAN: encapsulation bytes exactly as RFC 7348 / RFC 791 say, decapsulation of crafted packets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "frames.h"
#include "parse.h"
#include "vxlan.h"

static const uint8_t GW_MAC[6] = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 };
static const uint8_t LOCAL_MAC[6] = { 0x52, 0x54, 0, 0xab, 0xcd, 0xef };

static void cfg_init(struct vxlan_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->local_ip = tf_ip4("192.168.1.1");
	memcpy(c->local_mac, LOCAL_MAC, 6);
	memcpy(c->gw_mac, GW_MAC, 6);
}

static uint32_t make_inner(struct vsw_frame *f)
{
	struct tf_spec s = { .dst = MAC_B, .src = MAC_A, .vid = -1, .ip_ver = 4, .sip = "10.0.0.1",
			     .dip = "10.0.0.2", .proto = IPPROTO_UDP_, .sport = 7, .dport = 9, .payload = 18 };

	f->data = f->buf + VSW_HEADROOM;
	f->len = tf_build(f->data, &s);
	return f->len;
}

static void test_encap_bytes(void **state)
{
	static struct vsw_frame f;
	struct vxlan_cfg c;
	uint8_t inner[128];
	uint32_t ilen;
	const uint8_t *p;
	uint16_t sport;
	static const uint8_t ip_hdr[20] = {
		0x45, 0x00, 0x00, 0x60, 0x00, 0x07, 0x40, 0x00, 0x40, 0x11, 0xb7, 0x32,
		0xc0, 0xa8, 0x01, 0x01, 0xc0, 0xa8, 0x01, 0x02 };
	static const uint8_t vx_hdr[8] = { 0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0x00 };

	(void)state;
	cfg_init(&c);
	ilen = make_inner(&f);
	assert_int_equal(ilen, 60);
	memcpy(inner, f.data, ilen);
	assert_int_equal(vxlan_encap(&f, &c, 0x123456, tf_ip4("192.168.1.2"), 7), 0);
	assert_int_equal(f.len, ilen + 50);
	p = f.data;
	assert_memory_equal(p, GW_MAC, 6);
	assert_memory_equal(p + 6, LOCAL_MAC, 6);
	assert_int_equal(p[12], 0x08);
	assert_int_equal(p[13], 0x00);
	assert_memory_equal(p + 14, ip_hdr, 20);
	sport = vsw_get_be16(p + 34);
	assert_true(sport >= 49152);
	assert_int_equal(vsw_get_be16(p + 36), 4789);
	assert_int_equal(vsw_get_be16(p + 38), 8 + 8 + 60);
	assert_int_equal(vsw_get_be16(p + 40), 0);
	assert_memory_equal(p + 42, vx_hdr, 8);
	assert_memory_equal(p + 50, inner, ilen);

	/* same inner addresses: same outer source port (one flow, one ECMP path) */
	make_inner(&f);
	assert_int_equal(vxlan_encap(&f, &c, 5, tf_ip4("192.168.1.2"), 8), 0);
	assert_int_equal(vsw_get_be16(f.data + 34), sport);
	/* no headroom: refused, frame untouched */
	f.data = f.buf + 10;
	f.len = 60;
	assert_int_equal(vxlan_encap(&f, &c, 5, 1, 0), -1);
	assert_ptr_equal(f.data, f.buf + 10);
	/* VNI out of range */
	make_inner(&f);
	assert_int_equal(vxlan_encap(&f, &c, 0x1000000, 1, 0), -1);
}

static void test_decap_roundtrip(void **state)
{
	static struct vsw_frame f;
	struct vxlan_cfg c, remote;
	uint8_t inner[128];
	uint32_t vni = 0, rip = 0;

	(void)state;
	cfg_init(&c);
	/* a packet from VTEP 192.168.1.2 to us */
	remote = c;
	remote.local_ip = tf_ip4("192.168.1.2");
	make_inner(&f);
	memcpy(inner, f.data, f.len);
	assert_int_equal(vxlan_encap(&f, &remote, 4242, c.local_ip, 1), 0);
	/* Ethernet padding after the UDP payload is ignored */
	f.data[f.len] = 0xee;
	f.len += 1;
	assert_int_equal(vxlan_decap(&f, &c, &vni, &rip), VXLAN_OK);
	assert_int_equal(vni, 4242);
	assert_int_equal(rip, tf_ip4("192.168.1.2"));
	assert_int_equal(f.len, 60);
	assert_memory_equal(f.data, inner, 60);
}

static void test_decap_crafted(void **state)
{
	/* hand-written outer headers: 10.1.1.1 -> 10.1.1.2, UDP 5555 -> 4789, VNI 0xabcdef */
	static uint8_t pkt[128];
	static const uint8_t hdr[50] = {
		0x52, 0x54, 0, 0xab, 0xcd, 0xef, 0x52, 0x54, 0, 0x12, 0x34, 0x56, 0x08, 0x00,
		0x45, 0x00, 0x00, 0x40, 0x12, 0x34, 0x00, 0x00, 0x40, 0x11, 0x00, 0x00,
		10, 1, 1, 1, 10, 1, 1, 2,
		0x15, 0xb3, 0x12, 0xb5, 0x00, 0x2c, 0x00, 0x00,
		0x08, 0, 0, 0, 0xab, 0xcd, 0xef, 0 };
	static struct vsw_frame f;
	struct vxlan_cfg c;
	uint32_t vni, rip, len = 50 + 14 + 14;

	(void)state;
	cfg_init(&c);
	c.local_ip = tf_ip4("10.1.1.2");
	memcpy(pkt, hdr, 50);
	/* inner: an Ethernet header + 14 bytes */
	memcpy(pkt + 50, MAC_B, 6);
	memcpy(pkt + 56, MAC_A, 6);
	pkt[62] = 0x88;
	pkt[63] = 0xb5;
	vsw_put_be16(pkt + 24, vsw_ip_csum(pkt + 14, 20));

#define LOAD() do { f.data = f.buf + VSW_HEADROOM; memcpy(f.data, pkt, len); f.len = len; } while (0)
	LOAD();
	assert_int_equal(vxlan_decap(&f, &c, &vni, &rip), VXLAN_OK);
	assert_int_equal(vni, 0xabcdef);
	assert_int_equal(rip, tf_ip4("10.1.1.1"));
	assert_int_equal(f.len, 28);
	assert_memory_equal(f.data, MAC_B, 6);

	/* every truncation is refused without reading past the end */
	for (uint32_t l = 0; l < len; l++) {
		f.data = f.buf + VSW_HEADROOM;
		memcpy(f.data, pkt, l);
		f.len = l;
		assert_int_not_equal(vxlan_decap(&f, &c, &vni, &rip), VXLAN_OK);
		assert_int_equal(f.len, l);
	}
	/* bad IP checksum */
	pkt[25] ^= 1;
	LOAD();
	assert_int_equal(vxlan_decap(&f, &c, &vni, &rip), VXLAN_BAD);
	pkt[25] ^= 1;
	/* I flag missing */
	pkt[42] = 0;
	LOAD();
	assert_int_equal(vxlan_decap(&f, &c, &vni, &rip), VXLAN_BAD);
	pkt[42] = 0x08;
	/* other UDP port: not VXLAN */
	pkt[37] = 0xb6;
	LOAD();
	assert_int_equal(vxlan_decap(&f, &c, &vni, &rip), VXLAN_NOT_VXLAN);
	pkt[37] = 0xb5;
	/* UDP length beyond the IP packet */
	pkt[39] = 0x60;
	LOAD();
	assert_int_equal(vxlan_decap(&f, &c, &vni, &rip), VXLAN_BAD);
	pkt[39] = 0x2c;
	/* fragment */
	pkt[20] = 0x20;
	vsw_put_be16(pkt + 24, 0);
	vsw_put_be16(pkt + 24, vsw_ip_csum(pkt + 14, 20));
	LOAD();
	assert_int_equal(vxlan_decap(&f, &c, &vni, &rip), VXLAN_BAD);
	pkt[20] = 0;
	vsw_put_be16(pkt + 24, 0);
	vsw_put_be16(pkt + 24, vsw_ip_csum(pkt + 14, 20));
	/* not our address */
	c.local_ip = tf_ip4("10.1.1.3");
	LOAD();
	assert_int_equal(vxlan_decap(&f, &c, &vni, &rip), VXLAN_NOT_LOCAL);
	c.local_ip = tf_ip4("10.1.1.2");
	LOAD();
	assert_int_equal(vxlan_decap(&f, &c, &vni, &rip), VXLAN_OK);
	/* ARP on the uplink: not VXLAN */
	pkt[12] = 0x08;
	pkt[13] = 0x06;
	LOAD();
	assert_int_equal(vxlan_decap(&f, &c, &vni, &rip), VXLAN_NOT_VXLAN);
#undef LOAD
}

static uint32_t make_arp(uint8_t *p, const char *target)
{
	uint32_t tip = tf_ip4(target), sip = tf_ip4("192.168.1.7");

	memcpy(p, MAC_BCAST, 6);
	memcpy(p + 6, MAC_A, 6);
	vsw_put_be16(p + 12, ETH_P_ARP_);
	vsw_put_be16(p + 14, 1);
	vsw_put_be16(p + 16, ETH_P_IPV4_);
	p[18] = 6;
	p[19] = 4;
	vsw_put_be16(p + 20, 1);
	memcpy(p + 22, MAC_A, 6);
	memcpy(p + 28, &sip, 4);
	memset(p + 32, 0, 6);
	memcpy(p + 38, &tip, 4);
	memset(p + 42, 0, 18);   /* Ethernet padding */
	return 60;
}

static void test_arp_responder(void **state)
{
	static struct vsw_frame f;
	struct vxlan_cfg c;
	uint32_t sip = tf_ip4("192.168.1.7");
	const uint8_t *p;

	(void)state;
	cfg_init(&c);
	f.data = f.buf + VSW_HEADROOM;
	f.len = make_arp(f.data, "192.168.1.1");
	assert_true(vxlan_arp_reply(&f, &c));
	p = f.data;
	assert_int_equal(f.len, 42);
	assert_memory_equal(p, MAC_A, 6);              /* to the asker */
	assert_memory_equal(p + 6, LOCAL_MAC, 6);
	assert_int_equal(vsw_get_be16(p + 20), 2);      /* reply */
	assert_memory_equal(p + 22, LOCAL_MAC, 6);     /* sender: us */
	assert_memory_equal(p + 28, &c.local_ip, 4);
	assert_memory_equal(p + 32, MAC_A, 6);         /* target: the asker */
	assert_memory_equal(p + 38, &sip, 4);
	/* other targets, replies, truncated requests: untouched */
	f.len = make_arp(f.data, "192.168.1.2");
	assert_false(vxlan_arp_reply(&f, &c));
	assert_int_equal(f.len, 60);
	f.len = make_arp(f.data, "192.168.1.1");
	vsw_put_be16(f.data + 20, 2);
	assert_false(vxlan_arp_reply(&f, &c));
	f.len = make_arp(f.data, "192.168.1.1");
	f.len = 41;
	assert_false(vxlan_arp_reply(&f, &c));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encap_bytes),
		cmocka_unit_test(test_decap_roundtrip),
		cmocka_unit_test(test_decap_crafted),
		cmocka_unit_test(test_arp_responder),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
