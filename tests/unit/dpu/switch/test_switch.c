/* SPDX-License-Identifier: MIT */
/* The switch pipeline with fake ports: learning/flooding, aging, VLAN isolation, trunks, VXLAN uplink,
 * ACLs, rate limits, malformed frames, output back-pressure, statistics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <cjson/cJSON.h>

#include "fdb.h"
#include "frames.h"
#include "switch.h"

#define SEC 1000000000ull
#define NPORTS 5
#define MAXREC 256

struct fake_port {
	int id;
	unsigned n;
	uint32_t len[MAXREC];
	uint8_t data[MAXREC][256];
	unsigned accept;      /* most frames taken per tx call */
	bool down;
};

static struct fake_port fp[NPORTS];
static uint64_t now_ns;
static struct vswitch *sw;
static uint8_t buf[9300];

static uint64_t fake_clock(void)
{
	return now_ns;
}

static unsigned fake_tx(void *opaque, struct vsw_frame **frames, unsigned n)
{
	struct fake_port *p = opaque;
	unsigned take = n < p->accept ? n : p->accept;

	for (unsigned i = 0; i < take && p->n < MAXREC; i++) {
		p->len[p->n] = frames[i]->len;
		memcpy(p->data[p->n], frames[i]->data, frames[i]->len < 256 ? frames[i]->len : 256);
		p->n++;
	}
	return take;
}

static bool fake_up(void *opaque)
{
	return !((struct fake_port *)opaque)->down;
}

static const struct vsw_port_ops fake_ops = { .tx = fake_tx, .link_up = fake_up };

static int setup(void **state)
{
	struct vswitch_config cfg = { .pool_frames = 256, .fdb_size = 64, .fdb_age_ns = 60 * SEC,
				      .clock_ns = fake_clock };
	char name[16];

	(void)state;
	now_ns = 1000 * SEC;
	memset(fp, 0, sizeof(fp));
	sw = vswitch_new(&cfg);
	assert_non_null(sw);
	for (int i = 0; i < NPORTS; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		fp[i].accept = 1000;
		fp[i].id = vswitch_port_add(sw, name, &fake_ops, &fp[i]);
		assert_int_equal(fp[i].id, i);
	}
	return 0;
}

static int teardown(void **state)
{
	char *js;
	cJSON *root, *pf;

	(void)state;
	/* no frame leaked whatever the test did */
	js = vswitch_stats_json(sw);
	assert_non_null(js);
	root = cJSON_Parse(js);
	assert_non_null(root);
	pf = cJSON_GetObjectItem(root, "pool_free");
	assert_int_equal((int)pf->valuedouble, 256);
	cJSON_Delete(root);
	free(js);
	vswitch_free(sw);
	sw = NULL;
	return 0;
}

static void reset_rx(void)
{
	for (int i = 0; i < NPORTS; i++)
		fp[i].n = 0;
}

/* Send one frame built from spec into port. */
static void send_spec(int port, const struct tf_spec *s)
{
	struct vsw_frame *f = vswitch_frame_alloc(sw);
	uint32_t len = tf_build(buf, s);

	assert_non_null(f);
	memcpy(f->data, buf, len);
	f->len = len;
	vswitch_input(sw, port, &f, 1);
}

static void send_raw(int port, const uint8_t *data, uint32_t len)
{
	struct vsw_frame *f = vswitch_frame_alloc(sw);

	assert_non_null(f);
	memcpy(f->data, data, len);
	f->len = len;
	vswitch_input(sw, port, &f, 1);
}

static void send_l2(int port, const uint8_t *dst, const uint8_t *src, int vid)
{
	struct tf_spec s = { .dst = dst, .src = src, .vid = vid, .ethertype = 0x88b5, .payload = 46 };

	send_spec(port, &s);
}

static uint64_t drops(int port, enum vsw_drop d)
{
	return vswitch_port_stats(sw, port)->drops[d];
}

static void test_learn_flood(void **state)
{
	(void)state;
	/* p0..p2 in VLAN 1 (default), p3 and p4 in VLAN 2 */
	assert_int_equal(vswitch_port_set_access(sw, 3, 2), 0);
	assert_int_equal(vswitch_port_set_access(sw, 4, 2), 0);

	send_l2(0, MAC_BCAST, MAC_A, -1);
	assert_int_equal(fp[0].n, 0);
	assert_int_equal(fp[1].n, 1);
	assert_int_equal(fp[2].n, 1);
	assert_int_equal(fp[3].n, 0);
	assert_int_equal(fp[4].n, 0);
	assert_memory_equal(fp[1].data[0], MAC_BCAST, 6);
	assert_memory_equal(fp[1].data[0] + 6, MAC_A, 6);
	assert_int_equal(fp[1].len[0], 14 + 46);

	/* B answers A: unicast to p0 only, B learned on p1 */
	reset_rx();
	send_l2(1, MAC_A, MAC_B, -1);
	assert_int_equal(fp[0].n, 1);
	assert_int_equal(fp[2].n, 0);
	reset_rx();
	send_l2(0, MAC_B, MAC_A, -1);
	assert_int_equal(fp[1].n, 1);
	assert_int_equal(fp[2].n, 0);
	/* unknown unicast floods in the VLAN */
	reset_rx();
	send_l2(0, MAC_C, MAC_A, -1);
	assert_int_equal(fp[1].n + fp[2].n, 2);
	/* frames for a MAC behind the input port go nowhere */
	reset_rx();
	send_l2(1, MAC_B, MAC_D, -1);
	assert_int_equal(fp[0].n + fp[1].n + fp[2].n + fp[3].n + fp[4].n, 0);
	assert_int_equal(drops(1, VSW_DROP_HAIRPIN), 1);

	assert_int_equal(vswitch_port_stats(sw, 0)->rx_packets, 3);
	assert_int_equal(vswitch_port_stats(sw, 1)->tx_packets, 3);
	assert_int_equal(vswitch_port_stats(sw, 1)->tx_bytes, 3 * 60);

	/* A moves to p2 */
	send_l2(2, MAC_BCAST, MAC_A, -1);
	reset_rx();
	send_l2(1, MAC_A, MAC_B, -1);
	assert_int_equal(fp[0].n, 0);
	assert_int_equal(fp[2].n, 1);

	/* aging: after 60 s of silence A is forgotten, frames to it flood again */
	now_ns += 61 * SEC;
	reset_rx();
	send_l2(1, MAC_A, MAC_B, -1);
	assert_int_equal(fp[0].n, 1);
	assert_int_equal(fp[2].n, 1);
	assert_true(vswitch_fdb(sw)->aged >= 1);
	assert_int_equal(vswitch_age(sw), 1);          /* D, silent since the start */
	assert_int_equal(vswitch_fdb(sw)->count, 1);   /* B, refreshed just now */
	now_ns += 61 * SEC;
	assert_int_equal(vswitch_age(sw), 1);
	assert_int_equal(vswitch_fdb(sw)->count, 0);
	/* removing a port forgets its addresses */
	send_l2(3, MAC_BCAST, MAC_C, -1);
	assert_int_equal(vswitch_fdb(sw)->count, 1);
	assert_int_equal(vswitch_port_remove(sw, 3), 0);
	assert_int_equal(vswitch_fdb(sw)->count, 0);
	assert_int_equal(vswitch_port_find(sw, "p3"), -2);
}

static void test_vlan_isolation(void **state)
{
	uint16_t vids[] = { 10, 20 };
	uint8_t *d;

	(void)state;
	assert_int_equal(vswitch_port_set_access(sw, 0, 10), 0);
	assert_int_equal(vswitch_port_set_access(sw, 1, 20), 0);
	assert_int_equal(vswitch_port_set_trunk(sw, 2, vids, 2, 0), 0);
	assert_int_equal(vswitch_port_set_trunk(sw, 3, vids, 1, 20), 0);   /* 10 tagged, 20 native */
	assert_int_equal(vswitch_port_set_access(sw, 4, 30), 0);
	assert_int_equal(vswitch_port_set_access(sw, 4, 4095), -22);

	/* access 10 -> trunk p2 tagged 10, trunk p3 tagged 10, nothing to VLAN 20/30 */
	send_l2(0, MAC_BCAST, MAC_A, -1);
	assert_int_equal(fp[1].n + fp[4].n, 0);
	assert_int_equal(fp[2].n, 1);
	assert_int_equal(fp[3].n, 1);
	d = fp[2].data[0];
	assert_int_equal(fp[2].len[0], 64);
	assert_memory_equal(d, MAC_BCAST, 6);
	assert_memory_equal(d + 6, MAC_A, 6);
	assert_int_equal(vsw_get_be16(d + 12), 0x8100);
	assert_int_equal(vsw_get_be16(d + 14), 10);
	assert_int_equal(vsw_get_be16(d + 16), 0x88b5);

	/* tagged 20 from trunk p2 -> access p1 untagged, trunk p3 untagged (native) */
	reset_rx();
	send_l2(2, MAC_BCAST, MAC_B, 20);
	assert_int_equal(fp[0].n + fp[4].n, 0);
	assert_int_equal(fp[1].n, 1);
	assert_int_equal(fp[1].len[0], 60);
	assert_int_equal(vsw_get_be16(fp[1].data[0] + 12), 0x88b5);
	assert_int_equal(fp[3].n, 1);
	assert_int_equal(vsw_get_be16(fp[3].data[0] + 12), 0x88b5);

	/* untagged into p3 = native 20 */
	reset_rx();
	send_l2(3, MAC_BCAST, MAC_C, -1);
	assert_int_equal(fp[1].n, 1);
	assert_int_equal(fp[2].n, 1);
	assert_int_equal(vsw_get_be16(fp[2].data[0] + 14), 20);
	assert_int_equal(fp[0].n, 0);

	/* filtering: VLAN 30 on a trunk without it, untagged on a trunk without native, tagged on access */
	reset_rx();
	send_l2(2, MAC_BCAST, MAC_A, 30);
	send_l2(2, MAC_BCAST, MAC_A, -1);
	send_l2(0, MAC_BCAST, MAC_A, 10);
	send_l2(0, MAC_BCAST, MAC_A, 20);
	assert_int_equal(drops(2, VSW_DROP_VLAN_FILTER), 2);
	assert_int_equal(drops(0, VSW_DROP_VLAN_FILTER), 2);
	/* priority-tagged (VID 0) on an access port is its VLAN */
	send_l2(0, MAC_BCAST, MAC_A, 0);
	assert_int_equal(fp[2].n, 1);
	assert_int_equal(vsw_get_be16(fp[2].data[0] + 14), 10);
	/* same MAC in two VLANs: two entries */
	send_l2(3, MAC_BCAST, MAC_A, -1);
	assert_int_equal(fp[1].n, 1);
	reset_rx();
	send_l2(2, MAC_A, MAC_D, 10);
	assert_int_equal(fp[0].n, 1);
	assert_int_equal(fp[3].n, 0);
	send_l2(2, MAC_A, MAC_D, 20);
	assert_int_equal(fp[3].n, 1);
	assert_int_equal(fp[1].n, 0);
}

static void test_vxlan_uplink(void **state)
{
	struct vxlan_cfg vx = { 0 };
	uint32_t vtep1 = tf_ip4("192.168.50.2"), vtep2 = tf_ip4("192.168.50.3");
	const uint8_t *d;
	static uint8_t outer[512];
	uint32_t olen;

	(void)state;
	vx.local_ip = tf_ip4("192.168.50.1");
	memcpy(vx.local_mac, MAC_C, 6);
	memcpy(vx.gw_mac, MAC_D, 6);
	assert_int_equal(vswitch_port_set_vxlan(sw, 4, &vx), 0);
	assert_int_equal(vswitch_port_set_access(sw, 0, 10), 0);
	assert_int_equal(vswitch_port_set_access(sw, 1, 10), 0);
	assert_int_equal(vswitch_port_set_access(sw, 2, 20), 0);
	assert_int_equal(vswitch_port_set_access(sw, 3, 30), 0);
	assert_int_equal(vswitch_vni_add(sw, 5000, 10), 0);
	assert_int_equal(vswitch_vni_add(sw, 5001, 10), -17);
	assert_int_equal(vswitch_vni_add_vtep(sw, 5000, vtep1), 0);
	assert_int_equal(vswitch_vni_add_vtep(sw, 5000, vtep2), 0);
	assert_int_equal(vswitch_vni_add(sw, 6000, 20), 0);    /* no VTEP: nothing leaves */

	/* broadcast in VLAN 10: p1 plus one encapsulated copy per VTEP */
	send_l2(0, MAC_BCAST, MAC_A, -1);
	assert_int_equal(fp[1].n, 1);
	assert_int_equal(fp[4].n, 2);
	for (unsigned i = 0; i < 2; i++) {
		d = fp[4].data[i];
		assert_int_equal(fp[4].len[i], 60 + 50);
		assert_memory_equal(d, MAC_D, 6);
		assert_memory_equal(d + 6, MAC_C, 6);
		assert_memory_equal(d + 26, &vx.local_ip, 4);
		assert_memory_equal(d + 30, i == 0 ? &vtep1 : &vtep2, 4);
		assert_int_equal(vsw_get_be16(d + 36), 4789);
		assert_int_equal(d[42], 0x08);
		assert_int_equal(d[46] << 16 | d[47] << 8 | d[48], 5000);
		assert_memory_equal(d + 50, MAC_BCAST, 6);
		assert_memory_equal(d + 56, MAC_A, 6);
	}
	/* a reply from B behind VTEP 2 (crafted with the encapsulator of "the other side") */
	{
		struct vsw_frame tmp;
		struct vxlan_cfg rvx = vx;
		struct tf_spec s = { .dst = MAC_A, .src = MAC_B, .vid = -1, .ethertype = 0x88b5, .payload = 46 };

		rvx.local_ip = vtep2;
		tmp.data = tmp.buf + VSW_HEADROOM;
		tmp.len = tf_build(tmp.data, &s);
		assert_int_equal(vxlan_encap(&tmp, &rvx, 5000, vx.local_ip, 1), 0);
		olen = tmp.len;
		memcpy(outer, tmp.data, olen);
	}
	reset_rx();
	send_raw(4, outer, olen);
	assert_int_equal(fp[0].n, 1);        /* unicast to A, decapsulated */
	assert_int_equal(fp[0].len[0], 60);
	assert_memory_equal(fp[0].data[0], MAC_A, 6);
	assert_memory_equal(fp[0].data[0] + 6, MAC_B, 6);
	assert_int_equal(fp[1].n, 0);
	/* A -> B now goes to VTEP 2 only */
	reset_rx();
	send_l2(0, MAC_B, MAC_A, -1);
	assert_int_equal(fp[4].n, 1);
	assert_memory_equal(fp[4].data[0] + 30, &vtep2, 4);
	assert_int_equal(fp[1].n, 0);
	/* broadcast from the uplink is not sent back to the uplink (split horizon) */
	reset_rx();
	outer[50] = 0xff;    /* inner destination -> broadcast (inner bytes are not checksummed) */
	memcpy(outer + 50, MAC_BCAST, 6);
	send_raw(4, outer, olen);
	assert_int_equal(fp[4].n, 0);
	assert_int_equal(fp[0].n, 1);
	assert_int_equal(fp[1].n, 1);
	/* ARP for the VTEP address on the uplink is answered there, not switched */
	{
		uint8_t arp[60] = { 0 };
		struct tf_spec s = { .dst = MAC_BCAST, .src = MAC_D, .vid = -1, .ethertype = 0x0806, .payload = 28 };

		tf_build(arp, &s);
		vsw_put_be16(arp + 14, 1);
		vsw_put_be16(arp + 16, 0x0800);
		arp[18] = 6;
		arp[19] = 4;
		vsw_put_be16(arp + 20, 1);
		memcpy(arp + 22, MAC_D, 6);
		memcpy(arp + 38, &vx.local_ip, 4);
		reset_rx();
		send_raw(4, arp, 60);
		assert_int_equal(fp[4].n, 1);
		assert_int_equal(fp[0].n + fp[1].n, 0);
		assert_memory_equal(fp[4].data[0], MAC_D, 6);
		assert_int_equal(vsw_get_be16(fp[4].data[0] + 20), 2);
		assert_int_equal(vswitch_port_stats(sw, 4)->arp_replies, 1);
	}
	/* VLAN 20 has a VNI but no VTEP: counted, not sent */
	reset_rx();
	send_l2(2, MAC_BCAST, MAC_A, -1);
	assert_int_equal(fp[4].n, 0);
	/* unknown VNI, non-VXLAN traffic and garbage on the uplink are counted */
	outer[46] = 0x77;
	send_raw(4, outer, olen);
	assert_int_equal(drops(4, VSW_DROP_UNKNOWN_VNI), 1);
	send_l2(4, MAC_BCAST, MAC_A, -1);
	assert_int_equal(drops(4, VSW_DROP_NOT_VXLAN), 1);
	outer[46] = 0x13;
	outer[24] ^= 0xff;  /* IP checksum */
	send_raw(4, outer, olen);
	assert_int_equal(drops(4, VSW_DROP_BAD_VXLAN), 1);
	send_raw(4, outer, 30);
	assert_int_equal(drops(4, VSW_DROP_BAD_VXLAN), 2);
	assert_int_equal(fp[0].n + fp[1].n + fp[2].n + fp[3].n, 0);
	/* inner frame too large for the underlay MTU after encapsulation */
	assert_int_equal(vswitch_port_set_mtu(sw, 0, 9000), 0);
	{
		struct tf_spec s = { .dst = MAC_BCAST, .src = MAC_A, .vid = -1, .ethertype = 0x88b5,
				     .payload = 1480 };

		send_spec(0, &s);
	}
	assert_int_equal(drops(4, VSW_DROP_OVERSIZE), 2);   /* one per VTEP copy */
	assert_int_equal(fp[1].n, 1);
}

static void test_acl(void **state)
{
	struct tf_spec s = { .dst = MAC_B, .src = MAC_A, .vid = -1, .ip_ver = 4, .sip = "10.0.0.1",
			     .dip = "10.0.0.2", .proto = IPPROTO_TCP_, .sport = 40000, .dport = 22 };
	char err[64];
	const struct acl *in;

	(void)state;
	/* learn B on p1 */
	send_l2(1, MAC_BCAST, MAC_B, -1);
	reset_rx();
	assert_int_equal(vswitch_acl_add_text(sw, 0, ACL_IN, "deny proto tcp dport 22", err, sizeof(err)), 0);
	assert_int_equal(vswitch_acl_add_text(sw, 0, ACL_IN, "allow src 10.0.0.0/24", err, sizeof(err)), 1);
	assert_int_equal(vswitch_acl_add_text(sw, 0, ACL_IN, "allow frobnicate", err, sizeof(err)), -22);
	assert_int_equal(vswitch_acl_set_default(sw, 0, ACL_IN, ACL_DENY), 0);
	send_spec(0, &s);                      /* ssh: denied */
	s.dport = 80;
	send_spec(0, &s);                      /* allowed by rule 1 */
	s.sip = "10.0.9.1";
	send_spec(0, &s);                      /* default deny */
	assert_int_equal(fp[1].n, 1);
	assert_int_equal(drops(0, VSW_DROP_ACL), 2);
	in = vswitch_acl(sw, 0, ACL_IN);
	for (unsigned idx = 0; idx < 3; idx++) {   /* rule 0, rule 1, the default: one each */
		uint64_t packets, bytes;

		acl_counts(in, idx < 2 ? idx : ACL_CACHE_DEFAULT, &packets, &bytes);
		assert_int_equal(packets, 1);
	}
	/* egress ACL on p1: UDP to it is denied */
	assert_int_equal(vswitch_acl_add_text(sw, 1, ACL_OUT, "deny proto udp", err, sizeof(err)), 0);
	s.sip = "10.0.0.1";
	s.proto = IPPROTO_UDP_;
	reset_rx();
	send_spec(0, &s);
	assert_int_equal(fp[1].n, 0);
	assert_int_equal(drops(1, VSW_DROP_ACL), 1);
	/* ARP passes the deny-all default */
	{
		struct tf_spec arp = { .dst = MAC_BCAST, .src = MAC_A, .vid = -1, .ethertype = 0x0806,
				       .payload = 28 };

		send_spec(0, &arp);
		assert_int_equal(fp[1].n, 1);
	}
	/* stats JSON carries the rule counters */
	{
		char *js = vswitch_stats_json(sw);
		cJSON *root = cJSON_Parse(js), *ports, *p0, *acl, *rules, *r0;

		assert_non_null(root);
		ports = cJSON_GetObjectItem(root, "ports");
		p0 = cJSON_GetArrayItem(ports, 0);
		assert_string_equal(cJSON_GetObjectItem(p0, "name")->valuestring, "p0");
		assert_int_equal((int)cJSON_GetObjectItem(cJSON_GetObjectItem(p0, "drops"), "acl")->valuedouble, 2);
		acl = cJSON_GetObjectItem(p0, "acl_in");
		assert_string_equal(cJSON_GetObjectItem(acl, "default")->valuestring, "deny");
		rules = cJSON_GetObjectItem(acl, "rules");
		assert_int_equal(cJSON_GetArraySize(rules), 2);
		r0 = cJSON_GetArrayItem(rules, 0);
		assert_string_equal(cJSON_GetObjectItem(r0, "rule")->valuestring, "deny proto 6 dport 22-22");
		assert_int_equal((int)cJSON_GetObjectItem(r0, "packets")->valuedouble, 1);
		cJSON_Delete(root);
		free(js);
	}
	assert_int_equal(vswitch_acl_clear(sw, 0, ACL_IN), 0);
	assert_int_equal(vswitch_acl_set_default(sw, 0, ACL_IN, ACL_ALLOW), 0);
	s.sip = "99.0.0.1";
	s.proto = IPPROTO_TCP_;
	reset_rx();
	send_spec(0, &s);
	assert_int_equal(fp[1].n, 1);
}

static void test_ratelimit(void **state)
{
	struct vsw_frame *f[VSW_BURST];
	uint64_t start = now_ns, passed;

	(void)state;
	/* 100 packets/s, burst 10 */
	assert_int_equal(vswitch_port_set_rate(sw, 0, 100, 10, 0, 0), 0);
	for (unsigned i = 0; i < VSW_BURST; i++) {
		uint32_t len;
		struct tf_spec s = { .dst = MAC_BCAST, .src = MAC_A, .vid = -1, .ethertype = 0x88b5, .payload = 46 };

		f[i] = vswitch_frame_alloc(sw);
		len = tf_build(f[i]->data, &s);
		f[i]->len = len;
	}
	vswitch_input(sw, 0, f, VSW_BURST);
	assert_int_equal(fp[1].n, 10);
	assert_int_equal(drops(0, VSW_DROP_RATELIMIT), VSW_BURST - 10);
	/* over 2.5 s of simulated time, sending far more than the rate: passed <= burst + rate * t */
	for (int step = 0; step < 250; step++) {
		now_ns += 10 * 1000000ull;
		for (int k = 0; k < 3; k++)
			send_l2(0, MAC_BCAST, MAC_A, -1);
	}
	passed = fp[1].n;
	assert_true(passed <= 10 + 100 * (now_ns - start) / SEC);
	assert_true(passed >= 100 * (now_ns - start) / SEC);     /* and it does pass that much */
	/* byte limit: 1000 bytes/s, burst 600: ten 60-byte frames, then nothing */
	assert_int_equal(vswitch_port_set_rate(sw, 0, 0, 0, 1000, 600), 0);
	reset_rx();
	for (int k = 0; k < 20; k++)
		send_l2(0, MAC_BCAST, MAC_A, -1);
	assert_int_equal(fp[1].n, 10);
	/* unlimited again */
	assert_int_equal(vswitch_port_set_rate(sw, 0, 0, 0, 0, 0), 0);
	reset_rx();
	for (int k = 0; k < 20; k++)
		send_l2(0, MAC_BCAST, MAC_A, -1);
	assert_int_equal(fp[1].n, 20);
}

static void test_malformed(void **state)
{
	struct vsw_frame *f[8];
	uint32_t len;
	struct tf_spec good = { .dst = MAC_BCAST, .src = MAC_A, .vid = -1, .ethertype = 0x88b5, .payload = 46 };
	struct tf_spec ip = { .dst = MAC_B, .src = MAC_A, .vid = -1, .ip_ver = 4, .sip = "1.1.1.1",
			      .dip = "2.2.2.2", .proto = IPPROTO_UDP_, .payload = 20 };

	(void)state;
	for (int i = 0; i < 8; i++) {
		f[i] = vswitch_frame_alloc(sw);
		f[i]->len = tf_build(f[i]->data, &good);
	}
	f[1]->len = 13;                               /* runt */
	f[2]->len = 1500 + 14 + 4 + 1;                /* over MTU */
	len = tf_build(f[3]->data, &ip);
	vsw_put_be16(f[3]->data + 16, 400);           /* IP total length past the frame */
	f[3]->len = len;
	good.vid = 4095;
	f[4]->len = tf_build(f[4]->data, &good);      /* VLAN 4095 */
	good.vid = 0;
	f[5]->len = tf_build(f[5]->data, &good);
	vsw_put_be16(f[5]->data + 16, 0x8100);        /* stacked tags */
	f[6]->len = 0;                                /* empty */
	vswitch_input(sw, 0, f, 8);
	/* the two good frames (0 and 7) still pass */
	assert_int_equal(fp[1].n, 2);
	assert_int_equal(drops(0, VSW_DROP_RUNT), 2);
	assert_int_equal(drops(0, VSW_DROP_OVERSIZE), 1);
	assert_int_equal(drops(0, VSW_DROP_BAD_L3), 1);
	assert_int_equal(drops(0, VSW_DROP_BAD_VLAN), 2);
	assert_int_equal(vswitch_port_stats(sw, 0)->rx_packets, 8);
	/* bad arguments are refused */
	assert_int_equal(vswitch_port_set_mtu(sw, 0, 9001), -22);
	assert_int_equal(vswitch_port_set_mtu(sw, 77, 1500), -2);
	assert_int_equal(vswitch_port_add(sw, "p1", &fake_ops, NULL), -17);
	assert_int_equal(vswitch_port_add(sw, "", &fake_ops, NULL), -22);
	/* input on a port that does not exist: frames freed (teardown checks the pool) */
	f[0] = vswitch_frame_alloc(sw);
	vswitch_input(sw, 42, f, 1);
	/* jumbo frames with MTU 9000 on both ends */
	assert_int_equal(vswitch_port_set_mtu(sw, 0, 9000), 0);
	assert_int_equal(vswitch_port_set_mtu(sw, 1, 9000), 0);
	reset_rx();
	good.vid = -1;
	good.payload = 9000;
	send_spec(0, &good);
	assert_int_equal(fp[1].n, 1);
	assert_int_equal(fp[1].len[0], 9014);
	assert_int_equal(drops(2, VSW_DROP_OVERSIZE), 1);    /* p2 kept MTU 1500 */
}

static void test_backpressure(void **state)
{
	struct vsw_frame *f[VSW_BURST];

	(void)state;
	fp[1].accept = 5;
	fp[2].down = true;
	for (unsigned i = 0; i < VSW_BURST; i++) {
		struct tf_spec s = { .dst = MAC_BCAST, .src = MAC_A, .vid = -1, .ethertype = 0x88b5, .payload = 46 };

		f[i] = vswitch_frame_alloc(sw);
		f[i]->len = tf_build(f[i]->data, &s);
	}
	vswitch_input(sw, 0, f, VSW_BURST);
	assert_int_equal(fp[1].n, 5);
	assert_int_equal(drops(1, VSW_DROP_TX_FULL), VSW_BURST - 5);
	assert_int_equal(vswitch_port_stats(sw, 1)->tx_packets, 5);
	assert_int_equal(fp[2].n, 0);
	assert_int_equal(drops(2, VSW_DROP_PORT_DOWN), VSW_BURST);
	assert_int_equal(fp[3].n, VSW_BURST);
	/* a port device reports its own drops */
	vswitch_count_drop(sw, 3, VSW_DROP_BAD_DESC);
	assert_int_equal(drops(3, VSW_DROP_BAD_DESC), 1);
}

static void test_pool_exhaustion(void **state)
{
	struct vsw_frame *held[257];
	unsigned n = 0;

	(void)state;
	/* leave one frame: a broadcast to 4 ports needs 3 clones, which fail and are counted */
	while ((held[n] = vswitch_frame_alloc(sw)) != NULL)
		n++;
	assert_int_equal(n, 256);
	for (unsigned i = 1; i < n; i++)
		vswitch_frame_free(sw, held[i]);
	{
		struct vsw_frame *keep[255];

		for (unsigned i = 0; i < 255; i++)
			keep[i] = vswitch_frame_alloc(sw);
		held[0]->len = 60;
		memset(held[0]->data, 0xff, 6);
		memcpy(held[0]->data + 6, MAC_A, 6);
		vsw_put_be16(held[0]->data + 12, 0x88b5);
		vswitch_input(sw, 0, &held[0], 1);
		for (unsigned i = 0; i < 255; i++)
			vswitch_frame_free(sw, keep[i]);
	}
	assert_int_equal(fp[1].n + fp[2].n + fp[3].n + fp[4].n, 1);
	assert_int_equal(drops(1, VSW_DROP_NO_BUFFER) + drops(2, VSW_DROP_NO_BUFFER) +
			 drops(3, VSW_DROP_NO_BUFFER), 3);
}

/* Random garbage (biased towards the headers the switch parses) from an access port, a trunk and a
 * VXLAN uplink: nothing crashes (ASan/UBSan build), no frame buffer leaks (teardown checks the pool),
 * malformed ones are counted. */
static void test_garbage(void **state)
{
	struct vxlan_cfg vx = { 0 };
	uint16_t vids[] = { 1, 10 };
	uint32_t seed = 12345;
	static const uint16_t types[] = { 0x0800, 0x86dd, 0x8100, 0x88a8, 0x0806, 0x1234 };

	(void)state;
	vx.local_ip = tf_ip4("192.168.50.1");
	assert_int_equal(vswitch_port_set_vxlan(sw, 4, &vx), 0);
	assert_int_equal(vswitch_vni_add(sw, 77, 1), 0);
	assert_int_equal(vswitch_vni_add_vtep(sw, 77, tf_ip4("192.168.50.9")), 0);
	assert_int_equal(vswitch_port_set_trunk(sw, 1, vids, 2, 1), 0);
	assert_int_equal(vswitch_acl_add_text(sw, 2, ACL_OUT, "deny ip6 proto udp sport 1-100", NULL, 0), 0);
	for (int i = 0; i < 20000; i++) {
		struct vsw_frame *f = vswitch_frame_alloc(sw);
		int port = (int)(seed % 3 == 0 ? 4 : seed % 2);
		uint32_t len;

		assert_non_null(f);
		seed = seed * 1103515245u + 12345u;
		len = (seed >> 8) % 220;
		for (uint32_t k = 0; k < len; k++) {
			seed = seed * 1103515245u + 12345u;
			f->data[k] = (uint8_t)(seed >> 16);
		}
		if (len >= 14) {
			vsw_put_be16(f->data + 12, types[(seed >> 4) % 6]);
			if (len >= 34 && (seed & 1)) {   /* often a plausible IPv4 / UDP 4789 header */
				f->data[14] = 0x45;
				vsw_put_be16(f->data + 16, (uint16_t)(len - 14 - (seed & 2)));
				f->data[23] = 17;
				memcpy(f->data + 30, &vx.local_ip, 4);
				vsw_put_be16(f->data + 24, 0);
				vsw_put_be16(f->data + 24, vsw_ip_csum(f->data + 14, 20));
				vsw_put_be16(f->data + 36, 4789);
				f->data[42] = 0x08;
			}
		}
		f->len = len;
		vswitch_input(sw, port, &f, 1);
	}
	assert_true(vswitch_port_stats(sw, 0)->rx_packets > 0 && vswitch_port_stats(sw, 1)->rx_packets > 0);
	assert_true(drops(0, VSW_DROP_RUNT) > 0 && drops(0, VSW_DROP_BAD_L3) > 0);
	assert_true(drops(4, VSW_DROP_BAD_VXLAN) + drops(4, VSW_DROP_NOT_VXLAN) + drops(4, VSW_DROP_RUNT) > 0);
}

/* Flooding visits the VLAN's member ports only, kept up to date while ports come and go, change
 * VLAN, become a VXLAN uplink and back, and go down: a model of who is in which VLAN predicts every
 * broadcast's receivers, and a removed port never gets a frame. */
static void test_flood_members(void **state)
{
	bool present[NPORTS], vx[NPORTS];
	uint16_t vid[NPORTS];
	bool vni_bound = false;
	uint32_t x = 12345;
	struct vxlan_cfg vc = { 0 };
	char name[16];

	(void)state;
	vc.local_ip = tf_ip4("192.0.2.1");
	memcpy(vc.local_mac, MAC_D, 6);
	memcpy(vc.gw_mac, MAC_C, 6);
	for (int i = 0; i < NPORTS; i++) {
		present[i] = true;
		vx[i] = false;
		vid[i] = 1;
	}
	for (int step = 0; step < 3000; step++) {
		unsigned op, i;
		uint8_t src[6] = { 2, 0, 0, 0, 0, 0 };

		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		op = x % 8;
		i = 1 + (x >> 8) % (NPORTS - 1);        /* port 0 stays: the one that always sends */
		snprintf(name, sizeof(name), "p%u", i);
		if (op == 0 && present[i]) {                   /* remove, after it taught the switch MAC_A */
			send_l2(fp[i].id, MAC_BCAST, MAC_A, -1);
			assert_int_equal(vswitch_port_remove(sw, fp[i].id), 0);
			present[i] = false;
			reset_rx();
			send_l2(fp[0].id, MAC_A, MAC_B, -1);
			assert_int_equal(fp[i].n, 0);
		} else if (op == 0) {                          /* come back, in VLAN 1 */
			fp[i].id = vswitch_port_add(sw, name, &fake_ops, &fp[i]);
			assert_true(fp[i].id > 0);
			present[i] = true;
			vx[i] = false;
			vid[i] = 1;
			fp[i].down = false;
		} else if (!present[i]) {
			/* nothing to change on a removed port */
		} else if (op == 1) {
			vid[i] = (uint16_t)(1 + (x >> 16) % 3);
			assert_int_equal(vswitch_port_set_access(sw, fp[i].id, vid[i]), 0);
			vx[i] = false;
			assert_int_equal(vswitch_port_set_vxlan(sw, fp[i].id, NULL), 0);
		} else if (op == 2) {
			uint16_t vids[] = { 2, 3 };

			vx[i] = false;
			assert_int_equal(vswitch_port_set_vxlan(sw, fp[i].id, NULL), 0);
			assert_int_equal(vswitch_port_set_trunk(sw, fp[i].id, vids, 2, (x >> 16) % 2 ? 1 : 0), 0);
			vid[i] = (x >> 16) % 2 ? 1 : 0;        /* native VLAN (0: none) */
		} else if (op == 3) {
			vx[i] = !vx[i];
			assert_int_equal(vswitch_port_set_vxlan(sw, fp[i].id, vx[i] ? &vc : NULL), 0);
		} else if (op == 4) {
			if (vni_bound) {
				assert_int_equal(vswitch_vni_del(sw, 100), 0);
			} else {
				assert_int_equal(vswitch_vni_add(sw, 100, 1), 0);
				assert_int_equal(vswitch_vni_add_vtep(sw, 100, tf_ip4("192.0.2.9")), 0);
				assert_int_equal(vswitch_vni_add_vtep(sw, 100, tf_ip4("192.0.2.10")), 0);
			}
			vni_bound = !vni_bound;
		} else if (op == 5) {
			fp[i].down = !fp[i].down;
		}
		/* a broadcast in VLAN 1 from port 0 (access, VLAN 1) */
		reset_rx();
		src[5] = (uint8_t)step;
		src[4] = (uint8_t)(step >> 8);
		send_l2(fp[0].id, MAC_BCAST, src, -1);
		for (unsigned k = 1; k < NPORTS; k++) {
			unsigned want = 0;

			if (!present[k]) {
				assert_int_equal(fp[k].n, 0);
				continue;
			}
			if (vx[k])
				want = vni_bound ? 2 : 0;      /* one copy per VTEP */
			else if (vid[k] == 1)                  /* access VLAN, or a trunk's native VLAN */
				want = 1;
			if (fp[k].down)
				want = 0;
			assert_int_equal(fp[k].n, want);
		}
		assert_int_equal(fp[0].n, 0);
	}
}

static uint64_t count_tx[VSW_MAX_PORTS];

static unsigned count_tx_fn(void *opaque, struct vsw_frame **frames, unsigned n)
{
	(void)frames;
	*(uint64_t *)opaque += n;
	return n;
}

static const struct vsw_port_ops count_ops = { .tx = count_tx_fn };

/* Every slot taken (ids 0..63, the last bit of the member sets): a broadcast reaches the 63 others;
 * after removing every other port, only the remaining ones. */
static void test_flood_all_slots(void **state)
{
	char name[16];

	(void)state;
	memset(count_tx, 0, sizeof(count_tx));
	for (int i = 0; i < NPORTS; i++)
		assert_int_equal(vswitch_port_remove(sw, i), 0);
	for (int i = 0; i < VSW_MAX_PORTS; i++) {
		snprintf(name, sizeof(name), "c%d", i);
		assert_int_equal(vswitch_port_add(sw, name, &count_ops, &count_tx[i]), i);
	}
	send_l2(63, MAC_BCAST, MAC_A, -1);
	for (int i = 0; i < VSW_MAX_PORTS; i++)
		assert_int_equal(count_tx[i], i == 63 ? 0 : 1);
	for (int i = 1; i < VSW_MAX_PORTS; i += 2)
		assert_int_equal(vswitch_port_remove(sw, i), 0);
	send_l2(0, MAC_BCAST, MAC_B, -1);
	for (int i = 0; i < VSW_MAX_PORTS; i++)
		assert_int_equal(count_tx[i], i == 63 ? 0 : i % 2 ? 1 : i == 0 ? 1 : 2);
	/* unicast to a learned station on a removed port floods to the live ones */
	send_l2(0, MAC_A, MAC_B, -1);
	for (int i = 0; i < VSW_MAX_PORTS; i++)
		assert_int_equal(count_tx[i], i == 63 ? 0 : i % 2 ? 1 : i == 0 ? 1 : 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_learn_flood, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vlan_isolation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vxlan_uplink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_acl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ratelimit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backpressure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_exhaustion, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flood_members, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flood_all_slots, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
