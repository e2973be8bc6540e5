/* SPDX-License-Identifier: MIT */
/* Security-group ACLs: text parsing, matching (CIDR, protocol, port ranges, IPv6), counters, default. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "acl.h"
#include "frames.h"

static uint8_t buf[256];

static void pkt_of(struct vsw_pkt *p, int ver, const char *sip, const char *dip, uint8_t proto,
		   uint16_t sport, uint16_t dport, uint32_t *len)
{
	struct tf_spec s = { .dst = MAC_B, .src = MAC_A, .vid = -1, .ip_ver = ver, .sip = sip, .dip = dip,
			     .proto = proto, .sport = sport, .dport = dport, .payload = 10 };

	*len = tf_build(buf, &s);
	assert_int_equal(vsw_parse(buf, *len, p), VSW_PARSE_OK);
}

static void test_parse_text(void **state)
{
	struct acl_rule r;
	char err[128], txt[256];

	(void)state;
	assert_int_equal(acl_rule_parse("allow proto tcp src 10.0.0.0/8 dst 192.168.1.7 dport 80-443", &r,
					err, sizeof(err)), 0);
	assert_int_equal(r.action, ACL_ALLOW);
	assert_int_equal(r.ip_ver, 4);
	assert_int_equal(r.proto, 6);
	assert_int_equal(r.src_plen, 8);
	assert_int_equal(r.src[0], 10);
	assert_int_equal(r.dst_plen, 32);
	assert_int_equal(r.dport_lo, 80);
	assert_int_equal(r.dport_hi, 443);
	assert_int_equal(r.sport_lo, 0);
	assert_int_equal(r.sport_hi, 65535);
	acl_rule_format(&r, txt, sizeof(txt));
	assert_string_equal(txt, "allow ip4 proto 6 src 10.0.0.0/8 dst 192.168.1.7/32 dport 80-443");

	assert_int_equal(acl_rule_parse("deny ip6 src fd00::/64 proto udp sport 53", &r, err, sizeof(err)), 0);
	assert_int_equal(r.ip_ver, 6);
	assert_int_equal(r.src_plen, 64);
	assert_int_equal(r.sport_lo, 53);
	assert_int_equal(r.sport_hi, 53);
	assert_int_equal(acl_rule_parse("deny", &r, err, sizeof(err)), 0);

	assert_int_equal(acl_rule_parse("", &r, err, sizeof(err)), -1);
	assert_int_equal(acl_rule_parse("permit", &r, err, sizeof(err)), -1);
	assert_int_equal(acl_rule_parse("allow src 10.0.0.0/33", &r, err, sizeof(err)), -1);
	assert_int_equal(acl_rule_parse("allow src 10.0.0.300", &r, err, sizeof(err)), -1);
	assert_int_equal(acl_rule_parse("allow dport 90-80", &r, err, sizeof(err)), -1);
	assert_int_equal(acl_rule_parse("allow dport 70000", &r, err, sizeof(err)), -1);
	assert_int_equal(acl_rule_parse("allow proto", &r, err, sizeof(err)), -1);
	assert_int_equal(acl_rule_parse("allow ip6 src 10.0.0.1", &r, err, sizeof(err)), -1);
	assert_int_equal(acl_rule_parse("allow bogus 1", &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "bogus"));
}

/* Packets / bytes decided by rule idx (ACL_CACHE_DEFAULT: the default), the cache's pending ones
 * included. */
static uint64_t pk(const struct acl *a, unsigned idx)
{
	uint64_t p, b;

	acl_counts(a, idx, &p, &b);
	return p;
}

static uint64_t by(const struct acl *a, unsigned idx)
{
	uint64_t p, b;

	acl_counts(a, idx, &p, &b);
	return b;
}

static void add(struct acl *a, const char *text)
{
	struct acl_rule r;

	assert_int_equal(acl_rule_parse(text, &r, NULL, 0), 0);
	assert_true(acl_add(a, &r) >= 0);
}

static void test_match_and_counters(void **state)
{
	struct acl a;
	struct vsw_pkt p;
	uint32_t len;

	(void)state;
	acl_init(&a, ACL_DENY);
	add(&a, "deny proto tcp dst 10.0.1.5 dport 22");
	add(&a, "allow proto tcp src 10.0.0.0/23 dport 1-1024");
	add(&a, "allow proto icmp");
	add(&a, "allow ip6 src fd00:1::/32");

	pkt_of(&p, 4, "10.0.1.9", "10.0.1.5", IPPROTO_TCP_, 5000, 22, &len);
	assert_int_equal(acl_eval(&a, &p, len), ACL_DENY);          /* rule 0 */
	pkt_of(&p, 4, "10.0.1.9", "10.0.1.5", IPPROTO_TCP_, 5000, 80, &len);
	assert_int_equal(acl_eval(&a, &p, len), ACL_ALLOW);         /* rule 1 */
	pkt_of(&p, 4, "10.0.2.9", "10.0.1.5", IPPROTO_TCP_, 5000, 80, &len);
	assert_int_equal(acl_eval(&a, &p, len), ACL_DENY);          /* outside /23: default */
	pkt_of(&p, 4, "10.0.0.1", "10.0.1.5", IPPROTO_TCP_, 5000, 1025, &len);
	assert_int_equal(acl_eval(&a, &p, len), ACL_DENY);          /* port above range: default */
	pkt_of(&p, 4, "10.0.0.1", "10.0.1.5", IPPROTO_UDP_, 5000, 80, &len);
	assert_int_equal(acl_eval(&a, &p, len), ACL_DENY);          /* wrong protocol: default */
	pkt_of(&p, 4, "8.8.8.8", "10.0.1.5", IPPROTO_ICMP_, 8, 0, &len);
	assert_int_equal(acl_eval(&a, &p, len), ACL_ALLOW);         /* rule 2 */
	pkt_of(&p, 6, "fd00:1:2::3", "fd00::9", IPPROTO_UDP_, 1, 2, &len);
	assert_int_equal(acl_eval(&a, &p, len), ACL_ALLOW);         /* rule 3 */
	pkt_of(&p, 6, "fd00:2::3", "fd00::9", IPPROTO_UDP_, 1, 2, &len);
	assert_int_equal(acl_eval(&a, &p, len), ACL_DENY);          /* default */

	assert_int_equal(pk(&a, 0), 1);
	assert_int_equal(pk(&a, 1), 1);
	assert_int_equal(by(&a, 1), 14 + 20 + 20 + 10);
	assert_int_equal(pk(&a, 2), 1);
	assert_int_equal(pk(&a, 3), 1);
	assert_int_equal(pk(&a, ACL_CACHE_DEFAULT), 4);

	/* ARP always passes a deny-all list; other non-IP frames get the default */
	{
		struct tf_spec s = { .dst = MAC_BCAST, .src = MAC_A, .vid = -1, .ethertype = ETH_P_ARP_,
				     .payload = 28 };

		len = tf_build(buf, &s);
		assert_int_equal(vsw_parse(buf, len, &p), VSW_PARSE_OK);
		assert_int_equal(acl_eval(&a, &p, len), ACL_ALLOW);
		s.ethertype = 0x88b5;
		len = tf_build(buf, &s);
		assert_int_equal(vsw_parse(buf, len, &p), VSW_PARSE_OK);
		assert_int_equal(acl_eval(&a, &p, len), ACL_DENY);
	}
	/* delete rule 0: ssh is now allowed by rule 1 */
	assert_int_equal(acl_del(&a, 0), 0);
	assert_int_equal(acl_del(&a, 10), -1);
	pkt_of(&p, 4, "10.0.1.9", "10.0.1.5", IPPROTO_TCP_, 5000, 22, &len);
	assert_int_equal(acl_eval(&a, &p, len), ACL_ALLOW);
	assert_int_equal(pk(&a, 0), 2);
}

static void test_fragment_and_full(void **state)
{
	struct acl a;
	struct acl_rule r;
	struct vsw_pkt p;
	uint32_t len;

	(void)state;
	acl_init(&a, ACL_ALLOW);
	add(&a, "deny proto udp dport 53");
	pkt_of(&p, 4, "1.1.1.1", "2.2.2.2", IPPROTO_UDP_, 1, 53, &len);
	buf[14 + 6] = 0x00;
	buf[14 + 7] = 0x10;   /* fragment offset: no ports, port rule cannot match */
	assert_int_equal(vsw_parse(buf, len, &p), VSW_PARSE_OK);
	assert_int_equal(acl_eval(&a, &p, len), ACL_ALLOW);
	acl_clear(&a);
	assert_int_equal(acl_rule_parse("allow", &r, NULL, 0), 0);
	for (int i = 0; i < ACL_MAX_RULES; i++)
		assert_int_equal(acl_add(&a, &r), i);
	assert_int_equal(acl_add(&a, &r), -1);
}

/* The decision cache: repeated flows are decided by the rule that decided them first and counted
 * there; keys differ by every field a rule reads; adding, deleting and clearing rules and changing
 * the default are seen at once. */
static void test_cache(void **state)
{
	static struct acl a;
	struct vsw_pkt p;
	uint32_t len;

	(void)state;
	acl_init(&a, ACL_ALLOW);
	add(&a, "deny proto udp dport 100-199");
	add(&a, "deny ip6 src fd00::/16 proto tcp");
	/* 300 ports twice (more flows than cache slots, so slots are shared and replaced) */
	for (int round = 0; round < 2; round++)
		for (uint16_t d = 0; d < 300; d++) {
			pkt_of(&p, 4, "10.0.0.1", "10.0.0.2", IPPROTO_UDP_, 7, d, &len);
			assert_int_equal(acl_eval(&a, &p, len), d >= 100 && d < 200 ? ACL_DENY : ACL_ALLOW);
		}
	assert_int_equal(pk(&a, 0), 200);
	assert_int_equal(pk(&a, ACL_CACHE_DEFAULT), 400);
	assert_true(a.cache_misses >= 300 && a.cache_misses <= 600);
	/* two flows in turns (the last flow is looked at first, then the slot) */
	a.cache_misses = 0;
	for (int i = 0; i < 20; i++) {
		uint16_t d = i % 2 ? 150 : 250;

		pkt_of(&p, 4, "10.0.0.1", "10.0.0.2", IPPROTO_UDP_, 7, d, &len);
		assert_int_equal(acl_eval(&a, &p, len), d == 150 ? ACL_DENY : ACL_ALLOW);
	}
	assert_int_equal(pk(&a, 0), 210);
	assert_int_equal(pk(&a, ACL_CACHE_DEFAULT), 410);
	assert_true(a.cache_misses <= 2);
	/* one flow over and over: one walk, every packet counted */
	acl_clear(&a);
	add(&a, "deny proto udp dport 100-199");
	a.cache_misses = 0;
	pkt_of(&p, 4, "10.0.0.1", "10.0.0.2", IPPROTO_UDP_, 7, 150, &len);
	for (int i = 0; i < 50; i++)
		assert_int_equal(acl_eval(&a, &p, len), ACL_DENY);
	assert_int_equal(a.cache_misses, 1);
	assert_int_equal(pk(&a, 0), 50);
	assert_int_equal(by(&a, 0), 50ull * len);
	assert_int_equal(a.rules[0].packets, 0);                      /* all still in the cache entry */
	add(&a, "allow");                                             /* folds them into the rule */
	assert_int_equal(a.rules[0].packets, 50);
	assert_int_equal(pk(&a, 0), 50);
	acl_del(&a, 1);
	/* same ports, other protocol / source port / address / IP version: their own decisions */
	pkt_of(&p, 4, "10.0.0.1", "10.0.0.2", IPPROTO_TCP_, 7, 150, &len);
	assert_int_equal(acl_eval(&a, &p, len), ACL_ALLOW);
	add(&a, "deny proto udp sport 8");
	pkt_of(&p, 4, "10.0.0.1", "10.0.0.2", IPPROTO_UDP_, 8, 250, &len);
	assert_int_equal(acl_eval(&a, &p, len), ACL_DENY);
	pkt_of(&p, 4, "10.0.0.1", "10.0.0.2", IPPROTO_UDP_, 9, 250, &len);
	assert_int_equal(acl_eval(&a, &p, len), ACL_ALLOW);
	add(&a, "deny ip6 src fd00::/16 proto tcp");
	pkt_of(&p, 6, "fd00::1", "fd01::2", IPPROTO_TCP_, 7, 250, &len);
	assert_int_equal(acl_eval(&a, &p, len), ACL_DENY);
	pkt_of(&p, 6, "fe00::1", "fd01::2", IPPROTO_TCP_, 7, 250, &len);
	assert_int_equal(acl_eval(&a, &p, len), ACL_ALLOW);
	pkt_of(&p, 6, "fd00::1", "fd01::2", IPPROTO_TCP_, 7, 250, &len);
	assert_int_equal(acl_eval(&a, &p, len), ACL_DENY);
	add(&a, "deny src 10.9.0.0/16");
	pkt_of(&p, 4, "10.9.0.1", "10.0.0.2", IPPROTO_TCP_, 7, 250, &len);
	assert_int_equal(acl_eval(&a, &p, len), ACL_DENY);
	pkt_of(&p, 4, "10.0.0.2", "10.9.0.1", IPPROTO_TCP_, 7, 250, &len);   /* swapped: not the source */
	assert_int_equal(acl_eval(&a, &p, len), ACL_ALLOW);
	/* a non-first fragment: no ports, whatever bytes sit where they would be */
	pkt_of(&p, 4, "10.0.0.1", "10.0.0.2", IPPROTO_UDP_, 7, 150, &len);
	assert_int_equal(acl_eval(&a, &p, len), ACL_DENY);
	buf[14 + 7] = 0x10;
	assert_int_equal(vsw_parse(buf, len, &p), VSW_PARSE_OK);
	assert_false(p.l4_ok);
	assert_int_equal(acl_eval(&a, &p, len), ACL_ALLOW);
	/* a cached default decision follows a new default, and a rule added after it */
	pkt_of(&p, 4, "10.0.0.1", "10.0.0.2", IPPROTO_UDP_, 7, 300, &len);
	assert_int_equal(acl_eval(&a, &p, len), ACL_ALLOW);
	a.def = ACL_DENY;
	assert_int_equal(acl_eval(&a, &p, len), ACL_DENY);
	a.def = ACL_ALLOW;
	add(&a, "deny dport 300");
	assert_int_equal(acl_eval(&a, &p, len), ACL_DENY);
	/* deleting the deciding rule: the next one decides, and indexes moved up are followed */
	pkt_of(&p, 4, "10.0.0.1", "10.0.0.2", IPPROTO_UDP_, 8, 150, &len);
	assert_int_equal(acl_eval(&a, &p, len), ACL_DENY);            /* rule 0 (dport 100-199) */
	assert_int_equal(pk(&a, 1), 1);                               /* sport 8, dport 250 above */
	assert_int_equal(acl_del(&a, 0), 0);
	assert_int_equal(pk(&a, 0), 1);                               /* moved up with its count */
	assert_int_equal(acl_eval(&a, &p, len), ACL_DENY);            /* now rule 0 = sport 8 */
	assert_int_equal(pk(&a, 0), 2);
	assert_int_equal(acl_del(&a, 0), 0);
	assert_int_equal(acl_eval(&a, &p, len), ACL_ALLOW);
	acl_clear(&a);
	add(&a, "deny");
	pkt_of(&p, 4, "10.0.0.1", "10.0.0.2", IPPROTO_UDP_, 9, 250, &len);
	assert_int_equal(acl_eval(&a, &p, len), ACL_DENY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_text),
		cmocka_unit_test(test_match_and_counters),
		cmocka_unit_test(test_fragment_and_full),
		cmocka_unit_test(test_cache),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
