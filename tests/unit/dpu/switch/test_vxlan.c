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

/* The outer headers as the builder before the template wrote them, field by field (RFC 7348 /
 * RFC 791), with the checksum summed over the finished header: the reference for the template. The
 * UDP source port is an input (a hash; its properties are tested apart). */
static void ref_outer(uint8_t *p, const struct vxlan_cfg *c, uint32_t vni, uint32_t rip, uint16_t id,
		      uint16_t sport, uint32_t inner_len)
{
	uint8_t *ip = p + 14, *udp = ip + 20, *vx = udp + 8;
	uint32_t sum = 0;

	memcpy(p, c->gw_mac, 6);
	memcpy(p + 6, c->local_mac, 6);
	p[12] = 0x08;
	p[13] = 0x00;
	ip[0] = 0x45;
	ip[1] = 0;
	ip[2] = (uint8_t)((36 + inner_len) >> 8);
	ip[3] = (uint8_t)(36 + inner_len);
	ip[4] = (uint8_t)(id >> 8);
	ip[5] = (uint8_t)id;
	ip[6] = 0x40;
	ip[7] = 0;
	ip[8] = 64;
	ip[9] = 17;
	ip[10] = ip[11] = 0;
	memcpy(ip + 12, &c->local_ip, 4);
	memcpy(ip + 16, &rip, 4);
	for (int i = 0; i < 20; i += 2)
		sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	ip[10] = (uint8_t)(~sum >> 8);
	ip[11] = (uint8_t)~sum;
	udp[0] = (uint8_t)(sport >> 8);
	udp[1] = (uint8_t)sport;
	udp[2] = 0x12;
	udp[3] = 0xb5;
	udp[4] = (uint8_t)((16 + inner_len) >> 8);
	udp[5] = (uint8_t)(16 + inner_len);
	udp[6] = udp[7] = 0;
	memset(vx, 0, 8);
	vx[0] = 0x08;
	vx[4] = (uint8_t)(vni >> 16);
	vx[5] = (uint8_t)(vni >> 8);
	vx[6] = (uint8_t)vni;
}

/* The template: inner lengths from 14 to 9000 bytes, VNIs, remote VTEPs and ids (checksums with
 * and without carries) give exactly the reference bytes, the inner frame
 * untouched behind them; the header checksum verifies on its own. */
static void test_encap_template(void **state)
{
	static struct vsw_frame f;
	static uint8_t inner[9100];
	static const uint32_t lens[] = { 14, 15, 60, 64, 65, 1500, 1514, 8000, 9000 };
	static const uint32_t vnis[] = { 0, 1, 0x123456, 0xffffff };
	static const char *const rips[] = { "192.168.1.2", "255.255.255.254", "0.0.0.1", "10.200.3.4" };
	static const uint16_t ids[] = { 0, 1, 0x7fff, 0xffff };
	struct vxlan_cfg c;
	struct vxlan_tmpl t;
	uint8_t want[VXLAN_OVERHEAD];
	unsigned n = 0;

	(void)state;
	cfg_init(&c);
	vxlan_tmpl_init(&t, &c);
	for (unsigned i = 0; i < sizeof(inner); i++)
		inner[i] = (uint8_t)(i * 7 + 3);
	for (unsigned a = 0; a < sizeof(lens) / sizeof(lens[0]); a++)
		for (unsigned b = 0; b < 4; b++)
			for (unsigned d = 0; d < 4; d++) {
				uint32_t rip = tf_ip4(rips[d]);
				uint16_t id = ids[(a + b + d) % 4];

				f.data = f.buf + VSW_HEADROOM;
				f.len = lens[a];
				memcpy(f.data, inner, lens[a]);
				assert_int_equal(vxlan_encap_tmpl(&f, &t, vnis[b], rip, id), 0);
				assert_int_equal(f.len, lens[a] + VXLAN_OVERHEAD);
				assert_ptr_equal(f.data, f.buf + VSW_HEADROOM - VXLAN_OVERHEAD);
				ref_outer(want, &c, vnis[b], rip, id, vsw_get_be16(f.data + 34), lens[a]);
				assert_memory_equal(f.data, want, VXLAN_OVERHEAD);
				assert_int_equal(vsw_ip_csum(f.data + 14, 20), 0);
				assert_memory_equal(f.data + VXLAN_OVERHEAD, inner, lens[a]);
				n++;
			}
	assert_int_equal(n, 9 * 16);
	/* vxlan_encap (a template on the spot) writes the same bytes */
	f.data = f.buf + VSW_HEADROOM;
	f.len = 64;
	memcpy(f.data, inner, 64);
	assert_int_equal(vxlan_encap(&f, &c, 77, tf_ip4("10.0.0.9"), 5), 0);
	ref_outer(want, &c, 77, tf_ip4("10.0.0.9"), 5, vsw_get_be16(f.data + 34), 64);
	assert_memory_equal(f.data, want, VXLAN_OVERHEAD);
	/* the largest inner frame whose outer IPv4 length fits 16 bits, and one byte more (lengths
	 * only: the encapsulation reads the first 14 inner bytes) */
	f.data = f.buf + VSW_HEADROOM;
	f.len = 0xffff - VXLAN_OVERHEAD;
	assert_int_equal(vxlan_encap_tmpl(&f, &t, 1, 1, 0), 0);
	assert_int_equal(vsw_get_be16(f.data + 16), 0xffff - 14);
	assert_int_equal(vsw_ip_csum(f.data + 14, 20), 0);
	f.data = f.buf + VSW_HEADROOM;
	f.len = 0xffff - VXLAN_OVERHEAD + 1;
	assert_int_equal(vxlan_encap_tmpl(&f, &t, 1, 1, 0), -1);
	assert_ptr_equal(f.data, f.buf + VSW_HEADROOM);
}

/* The outer UDP source port vxlan_encap gives the len-byte frame fr. */
static uint16_t src_port_of(const struct vxlan_cfg *c, const uint8_t *fr, uint32_t len)
{
	static struct vsw_frame f;

	f.data = f.buf + VSW_HEADROOM;
	f.len = len;
	memcpy(f.data, fr, len);
	assert_int_equal(vxlan_encap(&f, c, 1, 1, 0), 0);
	return vsw_get_be16(f.data + 34);
}

/* UDP source port: in 49152-65535, one value per inner MAC pair + ethertype (the rest of the frame
 * does not matter), spread over flows; a frame shorter than 14 bytes hashes as if zero-padded. */
static void test_encap_src_port(void **state)
{
	struct vxlan_cfg c;
	uint8_t fr[64], seen[16384 / 8] = { 0 };
	unsigned distinct = 0;
	uint16_t first;

	(void)state;
	cfg_init(&c);
	memset(fr, 0x5a, sizeof(fr));
	for (unsigned i = 0; i < 1024; i++) {
		uint16_t sp;

		fr[5] = (uint8_t)i;         /* destination MAC low bytes */
		fr[4] = (uint8_t)(i >> 8);
		sp = src_port_of(&c, fr, 64);
		assert_true(sp >= 49152);
		if (!(seen[(sp - 49152) / 8] & (1u << (sp % 8)))) {
			seen[(sp - 49152) / 8] |= (uint8_t)(1u << (sp % 8));
			distinct++;
		}
	}
	/* 1024 flows into 16384 ports: a hash this good leaves few collisions */
	assert_true(distinct > 950);
	/* bytes after the ethertype do not move the port, the ethertype does */
	first = src_port_of(&c, fr, 64);
	fr[20] ^= 0xff;
	assert_int_equal(src_port_of(&c, fr, 64), first);
	fr[13] ^= 0x01;
	assert_int_not_equal(src_port_of(&c, fr, 64), first);
	/* 10 bytes == those 10 bytes and four zeros */
	memset(fr + 10, 0, 4);
	assert_int_equal(src_port_of(&c, fr, 10), src_port_of(&c, fr, 14));
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
		cmocka_unit_test(test_encap_template),
		cmocka_unit_test(test_encap_src_port),
		cmocka_unit_test(test_decap_roundtrip),
		cmocka_unit_test(test_decap_crafted),
		cmocka_unit_test(test_arp_responder),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
