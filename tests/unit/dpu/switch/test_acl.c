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

/* 64 rules that never match the test's packets: the rules after them are beyond the
 * pre-classified ones, so their packets go through the decision cache. */
#define F ACL_CLS_RULES

static void fill(struct acl *a)
{
	for (int i = 0; i < F; i++)
		add(a, "deny proto 99");
}

/* The decision cache: repeated flows are decided by the rule that decided them first and counted
 * there; keys differ by every field a rule reads; adding, deleting and clearing rules and changing
 * the default are seen at once. (Rules at F and later: see fill().) */
static void test_cache(void **state)
{
	static struct acl a;
	struct vsw_pkt p;
	uint32_t len;

	(void)state;
	acl_init(&a, ACL_ALLOW);
	fill(&a);
	add(&a, "deny proto udp dport 100-199");
	add(&a, "deny ip6 src fd00::/16 proto tcp");
	/* 300 ports twice (more flows than cache slots, so slots are shared and replaced) */
	for (int round = 0; round < 2; round++)
		for (uint16_t d = 0; d < 300; d++) {
			pkt_of(&p, 4, "10.0.0.1", "10.0.0.2", IPPROTO_UDP_, 7, d, &len);
			assert_int_equal(acl_eval(&a, &p, len), d >= 100 && d < 200 ? ACL_DENY : ACL_ALLOW);
		}
	assert_int_equal(pk(&a, F + 0), 200);
	assert_int_equal(pk(&a, ACL_CACHE_DEFAULT), 400);
	assert_true(a.cache_misses >= 300 && a.cache_misses <= 600);
	/* two flows in turns (the last flow is looked at first, then the slot) */
	a.cache_misses = 0;
	for (int i = 0; i < 20; i++) {
		uint16_t d = i % 2 ? 150 : 250;

		pkt_of(&p, 4, "10.0.0.1", "10.0.0.2", IPPROTO_UDP_, 7, d, &len);
		assert_int_equal(acl_eval(&a, &p, len), d == 150 ? ACL_DENY : ACL_ALLOW);
	}
	assert_int_equal(pk(&a, F + 0), 210);
	assert_int_equal(pk(&a, ACL_CACHE_DEFAULT), 410);
	assert_true(a.cache_misses <= 2);
	/* one flow over and over: one walk, every packet counted */
	acl_clear(&a);
	fill(&a);
	add(&a, "deny proto udp dport 100-199");
	a.cache_misses = 0;
	pkt_of(&p, 4, "10.0.0.1", "10.0.0.2", IPPROTO_UDP_, 7, 150, &len);
	for (int i = 0; i < 50; i++)
		assert_int_equal(acl_eval(&a, &p, len), ACL_DENY);
	assert_int_equal(a.cache_misses, 1);
	assert_int_equal(pk(&a, F + 0), 50);
	assert_int_equal(by(&a, F + 0), 50ull * len);
	assert_int_equal(a.rules[F].packets, 0);                      /* all still in the cache entry */
	add(&a, "allow");                                             /* folds them into the rule */
	assert_int_equal(a.rules[F].packets, 50);
	assert_int_equal(pk(&a, F + 0), 50);
	acl_del(&a, F + 1);
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
	assert_int_equal(pk(&a, F + 1), 1);                               /* sport 8, dport 250 above */
	assert_int_equal(acl_del(&a, F + 0), 0);
	assert_int_equal(pk(&a, F + 0), 1);                               /* moved up with its count */
	assert_int_equal(acl_eval(&a, &p, len), ACL_DENY);            /* now rule 0 = sport 8 */
	assert_int_equal(pk(&a, F + 0), 2);
	assert_int_equal(acl_del(&a, F + 0), 0);
	assert_int_equal(acl_eval(&a, &p, len), ACL_ALLOW);
	acl_clear(&a);
	fill(&a);
	add(&a, "deny");
	pkt_of(&p, 4, "10.0.0.1", "10.0.0.2", IPPROTO_UDP_, 9, 250, &len);
	assert_int_equal(acl_eval(&a, &p, len), ACL_DENY);
}

/* ---- differential test: acl_eval against a plain first-match walk written here ---- */

static uint32_t rnd_state = 2463534242u;

static uint32_t rnd(uint32_t n)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 17;
	rnd_state ^= rnd_state << 5;
	return rnd_state % n;
}

/* Address bytes from a few values, so that random prefixes and packets meet. */
static void rnd_addr(uint8_t a[16], unsigned nbytes)
{
	static const uint8_t first[] = { 10, 11, 192, 0xfd, 0x20 }, other[] = { 0, 1, 2, 128, 255 };

	memset(a, 0, 16);
	a[0] = first[rnd(sizeof(first))];
	for (unsigned i = 1; i < nbytes; i++)
		a[i] = other[rnd(sizeof(other))];
}

static uint16_t rnd_port(void)
{
	static const uint16_t v[] = { 0, 1, 8, 53, 80, 100, 1023, 1024, 65534, 65535 };

	return v[rnd(sizeof(v) / sizeof(v[0]))];
}

static void rnd_rule(struct acl_rule *r)
{
	static const uint8_t protos[] = { 0, 0, IPPROTO_TCP_, IPPROTO_UDP_, IPPROTO_ICMP_, IPPROTO_ICMPV6_, 99 };
	static const uint8_t plen4[] = { 0, 0, 1, 7, 8, 9, 12, 16, 23, 24, 31, 32 };
	static const uint8_t plen6[] = { 0, 0, 3, 8, 9, 16, 33, 64, 127, 128 };

	memset(r, 0, sizeof(*r));
	r->action = rnd(2) ? ACL_DENY : ACL_ALLOW;
	r->ip_ver = (uint8_t)(rnd(3) == 0 ? 0 : rnd(2) ? 4 : 6);
	r->proto = protos[rnd(sizeof(protos))];
	if (r->ip_ver) {
		const uint8_t *pl = r->ip_ver == 4 ? plen4 : plen6;
		unsigned npl = r->ip_ver == 4 ? sizeof(plen4) : sizeof(plen6);

		r->src_plen = pl[rnd(npl)];
		r->dst_plen = pl[rnd(npl)];
		rnd_addr(r->src, r->ip_ver == 4 ? 4 : 16);
		rnd_addr(r->dst, r->ip_ver == 4 ? 4 : 16);
	}
	r->sport_hi = r->dport_hi = 0xffff;
	if (rnd(2)) {
		uint16_t a = rnd_port(), b = rnd_port();

		r->sport_lo = a < b ? a : b;
		r->sport_hi = a < b ? b : a;
	}
	if (rnd(2)) {
		uint16_t a = rnd_port(), b = rnd_port();

		r->dport_lo = a < b ? a : b;
		r->dport_hi = a < b ? b : a;
	}
}

static void rnd_pkt(struct vsw_pkt *p)
{
	static const uint8_t protos[] = { IPPROTO_TCP_, IPPROTO_UDP_, IPPROTO_ICMP_, IPPROTO_ICMPV6_, 99 };
	uint8_t a[16];

	memset(p, 0, sizeof(*p));
	p->ip_ver = (uint8_t)(rnd(2) ? 4 : 6);
	p->ethertype = p->ip_ver == 4 ? ETH_P_IPV4_ : ETH_P_IPV6_;
	p->proto = protos[rnd(sizeof(protos))];
	rnd_addr(a, 16);
	if (p->ip_ver == 4)
		memcpy(&p->src4, a, 4);
	else
		memcpy(p->src6, a, 16);
	rnd_addr(a, 16);
	if (p->ip_ver == 4)
		memcpy(&p->dst4, a, 4);
	else
		memcpy(p->dst6, a, 16);
	p->l4_ok = rnd(5) != 0;            /* else a later fragment: no ports */
	if (p->l4_ok) {
		p->sport = rnd_port();
		p->dport = rnd_port();
	}
}

/* The reference: bit by bit, field by field. */
static bool ref_prefix(const uint8_t *addr, const uint8_t *pfx, unsigned plen)
{
	for (unsigned i = 0; i < plen; i++)
		if (((addr[i / 8] >> (7 - i % 8)) & 1) != ((pfx[i / 8] >> (7 - i % 8)) & 1))
			return false;
	return true;
}

static bool ref_match(const struct acl_rule *r, const struct vsw_pkt *p)
{
	const uint8_t *s = p->ip_ver == 4 ? (const uint8_t *)&p->src4 : p->src6;
	const uint8_t *d = p->ip_ver == 4 ? (const uint8_t *)&p->dst4 : p->dst6;
	bool ports_any = r->sport_lo == 0 && r->sport_hi == 0xffff && r->dport_lo == 0 && r->dport_hi == 0xffff;

	if (r->ip_ver && r->ip_ver != p->ip_ver)
		return false;
	if (r->proto && r->proto != p->proto)
		return false;
	if (!ref_prefix(s, r->src, r->src_plen) || !ref_prefix(d, r->dst, r->dst_plen))
		return false;
	if (ports_any)
		return true;
	return p->l4_ok && p->sport >= r->sport_lo && p->sport <= r->sport_hi && p->dport >= r->dport_lo &&
	       p->dport <= r->dport_hi;
}

/* Random lists of 0-100 rules (across ACL_CLS_RULES) and random packets (both IP versions, five
 * protocols, fragments), each decided one to three times (cache hits), rules added and deleted
 * in between: every decision and every rule's packet count equal the reference walk's. */
static void test_differential(void **state)
{
	static struct acl a;
	static struct acl_rule rules[ACL_MAX_RULES];
	static uint64_t want[ACL_MAX_RULES + 1];     /* per rule; [n]: the default */
	struct vsw_pkt p;
	uint64_t decisions = 0, by_rule = 0;

	(void)state;
	for (int set = 0; set < 300; set++) {
		unsigned n = rnd(101);
		enum acl_action def = rnd(2) ? ACL_DENY : ACL_ALLOW;
		uint64_t def_want = 0;

		acl_init(&a, def);
		memset(want, 0, sizeof(want));
		for (unsigned i = 0; i < n; i++) {
			rnd_rule(&rules[i]);
			assert_int_equal(acl_add(&a, &rules[i]), (int)i);
		}
		for (int k = 0; k < 300; k++) {
			unsigned hit = ACL_CACHE_DEFAULT;

			if (k % 100 == 99 && n > 0) {       /* a rule goes, another comes: counts move */
				unsigned d = rnd(n);

				assert_int_equal(acl_del(&a, d), 0);
				memmove(&rules[d], &rules[d + 1], (n - d - 1) * sizeof(rules[0]));
				memmove(&want[d], &want[d + 1], (n - d - 1) * sizeof(want[0]));
				rnd_rule(&rules[n - 1]);
				want[n - 1] = 0;
				assert_int_equal(acl_add(&a, &rules[n - 1]), (int)n - 1);
			}
			rnd_pkt(&p);
			for (unsigned i = 0; i < n && hit == ACL_CACHE_DEFAULT; i++)
				if (ref_match(&rules[i], &p))
					hit = i;
			for (unsigned rep = 1 + rnd(3); rep > 0; rep--) {
				enum acl_action got = acl_eval(&a, &p, 100);

				assert_int_equal(got, hit == ACL_CACHE_DEFAULT ? def : rules[hit].action);
				if (hit == ACL_CACHE_DEFAULT)
					def_want++;
				else
					want[hit]++;
				decisions++;
				by_rule += hit != ACL_CACHE_DEFAULT;
			}
		}
		for (unsigned i = 0; i < n; i++)
			assert_int_equal(pk(&a, i), want[i]);
		assert_int_equal(pk(&a, ACL_CACHE_DEFAULT), def_want);
	}
	/* the random sets do decide by their rules, not mostly by default */
	assert_true(by_rule > decisions / 4);
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_text),
		cmocka_unit_test(test_match_and_counters),
		cmocka_unit_test(test_fragment_and_full),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_differential),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
