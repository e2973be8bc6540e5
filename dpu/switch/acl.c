/* SPDX-License-Identifier: MIT */
/* Stateless security-group ACLs with per-rule counters (see acl.h). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"

/* Add an entry's pending counts to its rule (or the default). */
static void acl_cache_fold(struct acl *acl, struct acl_cache_ent *c)
{
	if (!c->key[0])
		return;
	if (c->rule == ACL_CACHE_DEFAULT) {
		acl->def_packets += c->packets;
		acl->def_bytes += c->bytes;
	} else {
		acl->rules[c->rule].packets += c->packets;
		acl->rules[c->rule].bytes += c->bytes;
	}
	c->packets = c->bytes = 0;
}

/* Fold every entry, then forget them (rules are about to change). */
static void acl_cache_clear(struct acl *acl)
{
	for (unsigned i = 0; i < ACL_CACHE_SIZE; i++) {
		acl_cache_fold(acl, &acl->cache[i]);
		acl->cache[i].key[0] = 0;
	}
}

void acl_counts(const struct acl *acl, unsigned idx, uint64_t *packets, uint64_t *bytes)
{
	bool def = idx == ACL_CACHE_DEFAULT;

	*packets = def ? acl->def_packets : idx < acl->n ? acl->rules[idx].packets : 0;
	*bytes = def ? acl->def_bytes : idx < acl->n ? acl->rules[idx].bytes : 0;
	for (unsigned i = 0; i < ACL_CACHE_SIZE; i++) {
		const struct acl_cache_ent *c = &acl->cache[i];

		if (c->key[0] && c->rule == idx) {
			*packets += c->packets;
			*bytes += c->bytes;
		}
	}
}

static void acl_cls_build(struct acl *acl);

void acl_init(struct acl *acl, enum acl_action def)
{
	memset(acl, 0, sizeof(*acl));
	acl->def = def;
	acl_cls_build(acl);
}

int acl_add(struct acl *acl, const struct acl_rule *rule)
{
	if (acl->n >= ACL_MAX_RULES)
		return -1;
	acl_cache_clear(acl);
	acl->rules[acl->n] = *rule;
	acl->rules[acl->n].packets = 0;
	acl->rules[acl->n].bytes = 0;
	acl->n++;
	acl_cls_build(acl);
	return (int)acl->n - 1;
}

int acl_del(struct acl *acl, unsigned idx)
{
	if (idx >= acl->n)
		return -1;
	acl_cache_clear(acl);
	memmove(&acl->rules[idx], &acl->rules[idx + 1], (acl->n - idx - 1) * sizeof(acl->rules[0]));
	acl->n--;
	acl_cls_build(acl);
	return 0;
}

void acl_clear(struct acl *acl)
{
	acl_cache_clear(acl);
	acl->n = 0;
	acl_cls_build(acl);
}

static bool prefix_match(const uint8_t *addr, const uint8_t *pfx, unsigned plen)
{
	unsigned full = plen / 8, rem = plen % 8;

	if (memcmp(addr, pfx, full))
		return false;
	if (rem) {
		uint8_t mask = (uint8_t)(0xff << (8 - rem));

		return (addr[full] & mask) == (pfx[full] & mask);
	}
	return true;
}

static bool rule_match(const struct acl_rule *r, const struct vsw_pkt *pkt)
{
	const uint8_t *src, *dst;

	if (r->ip_ver && r->ip_ver != pkt->ip_ver)
		return false;
	if (r->proto && r->proto != pkt->proto)
		return false;
	if (pkt->ip_ver == 4) {
		src = (const uint8_t *)&pkt->src4;
		dst = (const uint8_t *)&pkt->dst4;
	} else {
		src = pkt->src6;
		dst = pkt->dst6;
	}
	if (r->src_plen && !prefix_match(src, r->src, r->src_plen))
		return false;
	if (r->dst_plen && !prefix_match(dst, r->dst, r->dst_plen))
		return false;
	if (r->sport_lo != 0 || r->sport_hi != 0xffff || r->dport_lo != 0 || r->dport_hi != 0xffff) {
		if (!pkt->l4_ok)
			return false;
		if (pkt->sport < r->sport_lo || pkt->sport > r->sport_hi)
			return false;
		if (pkt->dport < r->dport_lo || pkt->dport > r->dport_hi)
			return false;
	}
	return true;
}

static bool has_ports(const struct acl_rule *r)
{
	return r->sport_lo != 0 || r->sport_hi != 0xffff || r->dport_lo != 0 || r->dport_hi != 0xffff;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Sorted, unique interval starts in 1..65535 of the n rules' source (dst: destination) port
 * ranges; returns how many. */
static uint16_t port_bounds(const struct acl_rule *r, unsigned n, bool dst, uint32_t *b)
{
	unsigned k = 0, u = 0;

	for (unsigned i = 0; i < n; i++) {
		uint16_t lo = dst ? r[i].dport_lo : r[i].sport_lo, hi = dst ? r[i].dport_hi : r[i].sport_hi;

		if (lo > 0)
			b[k++] = lo;
		if (hi < 0xffff)
			b[k++] = (uint32_t)hi + 1;
	}
	qsort(b, k, sizeof(*b), cmp_u32);
	for (unsigned i = 0; i < k; i++)
		if (u == 0 || b[u - 1] != b[i])
			b[u++] = b[i];
	return (uint16_t)u;
}

/* Set bit in t[k][b] for every value b of address byte k that the prefix (plen bits of pfx)
 * allows, k < nbytes. */
static void prefix_bytes_set(uint64_t (*t)[256], unsigned nbytes, const uint8_t *pfx, uint8_t plen,
			     uint64_t bit)
{
	for (unsigned k = 0; k < nbytes; k++) {
		unsigned bits = plen > 8 * k ? plen - 8 * k : 0;
		uint8_t mask = bits >= 8 ? 0xff : (uint8_t)(0xff << (8 - bits));

		for (unsigned b = 0; b < 256; b++)
			if (((uint8_t)b & mask) == (pfx[k] & mask))
				t[k][b] |= bit;
	}
}

/* The pre-classification of rules[0 .. min(n, ACL_CLS_RULES)) (see acl.h). */
static void acl_cls_build(struct acl *acl)
{
	struct acl_cls *c = &acl->cls;
	unsigned n = acl->n < ACL_CLS_RULES ? acl->n : ACL_CLS_RULES;

	memset(c, 0, sizeof(*c));
	c->nsb = port_bounds(acl->rules, n, false, c->sb);
	c->ndb = port_bounds(acl->rules, n, true, c->db);
	for (unsigned i = 0; i < n; i++) {
		const struct acl_rule *r = &acl->rules[i];
		uint64_t bit = 1ull << i;

		if (!has_ports(r))
			c->noport |= bit;
		if (r->src_plen <= 8 && r->dst_plen <= 8)
			c->shallow |= bit;
		if (r->ip_ver != 6 || (r->src_plen <= 8 && r->dst_plen <= 8))
			c->exact |= bit;
		if (r->ip_ver == 4 && (r->src_plen > 8 || r->dst_plen > 8))
			c->deep4 = true;
		for (unsigned p = 0; p < 256; p++) {
			if (r->proto && r->proto != p)
				continue;
			if (r->ip_ver != 6)
				c->proto[0][p] |= bit;
			if (r->ip_ver != 4)
				c->proto[1][p] |= bit;
		}
		/* IPv4 rules in bytes 0-3; others in byte 0 and every value of bytes 1-3 (which IPv6
		 * packets skip, and IPv4 packets skip IPv6 rules by the protocol set) */
		prefix_bytes_set(c->src, 4, r->src, r->ip_ver == 4 ? r->src_plen : (r->src_plen > 8 ? 8 : r->src_plen), bit);
		prefix_bytes_set(c->dst, 4, r->dst, r->ip_ver == 4 ? r->dst_plen : (r->dst_plen > 8 ? 8 : r->dst_plen), bit);
		/* an interval lies wholly inside or wholly outside each range: test its first port */
		for (unsigned k = 0; k <= c->nsb; k++) {
			uint32_t start = k ? c->sb[k - 1] : 0;

			if (start >= r->sport_lo && start <= r->sport_hi)
				c->siv[k] |= bit;
		}
		for (unsigned k = 0; k <= c->ndb; k++) {
			uint32_t start = k ? c->db[k - 1] : 0;

			if (start >= r->dport_lo && start <= r->dport_hi)
				c->div[k] |= bit;
		}
	}
}

uint16_t acl_classify(const struct acl *acl, const struct vsw_pkt *pkt)
{
	const struct acl_cls *c = &acl->cls;
	uint64_t m = acl_cls_candidates(c, pkt);

	for (; m; m &= m - 1) {
		unsigned i = (unsigned)__builtin_ctzll(m);

		if ((c->exact & (1ull << i)) || rule_match(&acl->rules[i], pkt))
			return (uint16_t)i;
	}
	for (unsigned i = ACL_CLS_RULES; i < acl->n; i++)
		if (rule_match(&acl->rules[i], pkt))
			return (uint16_t)i;
	return ACL_CACHE_DEFAULT;
}

enum acl_action acl_eval_slow(struct acl *acl, const struct vsw_pkt *pkt, uint32_t len, const uint64_t key[5],
			      struct acl_cache_ent *c)
{
	uint16_t idx;

	if (pkt->ip_ver == 0) {
		if (pkt->ethertype == ETH_P_ARP_)
			return ACL_ALLOW;
		acl->def_packets++;
		acl->def_bytes += len;
		return acl->def;
	}
	acl->cache_misses++;
	idx = acl_classify(acl, pkt);
	acl_cache_fold(acl, c);
	memcpy(c->key, key, sizeof(c->key));
	c->rule = idx;
	c->action = idx == ACL_CACHE_DEFAULT ? 0 : (uint8_t)acl->rules[idx].action;
	c->packets = 1;
	c->bytes = len;
	return idx == ACL_CACHE_DEFAULT ? acl->def : acl->rules[idx].action;
}

int acl_parse_cidr(const char *s, uint8_t addr[16], uint8_t *plen)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	int ver;
	long n;

	if (alen == 0 || alen >= sizeof(buf))
		return -1;
	memcpy(buf, s, alen);
	buf[alen] = 0;
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, buf, addr) == 1)
		ver = 4;
	else if (inet_pton(AF_INET6, buf, addr) == 1)
		ver = 6;
	else
		return -1;
	n = ver == 4 ? 32 : 128;
	if (slash) {
		char *end;

		n = strtol(slash + 1, &end, 10);
		if (end == slash + 1 || *end || n < 0 || n > (ver == 4 ? 32 : 128))
			return -1;
	}
	*plen = (uint8_t)n;
	return ver;
}

static int parse_range(const char *s, uint16_t *lo, uint16_t *hi)
{
	char *end;
	long a, b;

	a = strtol(s, &end, 10);
	if (end == s || a < 0 || a > 65535)
		return -1;
	b = a;
	if (*end == '-') {
		const char *t = end + 1;

		b = strtol(t, &end, 10);
		if (end == t || b < a || b > 65535)
			return -1;
	}
	if (*end)
		return -1;
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
	return 0;
}

static int parse_proto(const char *s, uint8_t *proto)
{
	static const struct { const char *name; uint8_t num; } names[] = {
		{ "tcp", IPPROTO_TCP_ }, { "udp", IPPROTO_UDP_ }, { "icmp", IPPROTO_ICMP_ },
		{ "icmp6", IPPROTO_ICMPV6_ }, { "any", 0 },
	};
	char *end;
	long n;

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(s, names[i].name)) {
			*proto = names[i].num;
			return 0;
		}
	}
	n = strtol(s, &end, 10);
	if (end == s || *end || n < 0 || n > 255)
		return -1;
	*proto = (uint8_t)n;
	return 0;
}

#define PARSE_FAIL(...) do { if (err) snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)

int acl_rule_parse(const char *text, struct acl_rule *rule, char *err, unsigned errlen)
{
	char buf[512], *save = NULL, *w;
	bool have_action = false;

	memset(rule, 0, sizeof(*rule));
	rule->sport_hi = rule->dport_hi = 0xffff;
	if (strlen(text) >= sizeof(buf))
		PARSE_FAIL("rule text too long");
	strcpy(buf, text);
	for (w = strtok_r(buf, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		char *arg = NULL;

		if (!have_action) {
			if (!strcmp(w, "allow"))
				rule->action = ACL_ALLOW;
			else if (!strcmp(w, "deny"))
				rule->action = ACL_DENY;
			else
				PARSE_FAIL("rule must start with allow or deny, not '%s'", w);
			have_action = true;
			continue;
		}
		if (!strcmp(w, "ip4") || !strcmp(w, "ip6")) {
			uint8_t v = w[2] == '4' ? 4 : 6;

			if (rule->ip_ver && rule->ip_ver != v)
				PARSE_FAIL("rule mixes ip4 and ip6");
			rule->ip_ver = v;
			continue;
		}
		if (strcmp(w, "proto") && strcmp(w, "src") && strcmp(w, "dst") && strcmp(w, "sport") &&
		    strcmp(w, "dport"))
			PARSE_FAIL("unknown word '%s'", w);
		arg = strtok_r(NULL, " \t", &save);
		if (!arg)
			PARSE_FAIL("'%s' needs a value", w);
		if (!strcmp(w, "proto")) {
			if (parse_proto(arg, &rule->proto))
				PARSE_FAIL("bad protocol '%s'", arg);
		} else if (!strcmp(w, "src") || !strcmp(w, "dst")) {
			bool is_src = w[0] == 's';
			int v = acl_parse_cidr(arg, is_src ? rule->src : rule->dst,
					       is_src ? &rule->src_plen : &rule->dst_plen);

			if (v < 0)
				PARSE_FAIL("bad address/prefix '%s'", arg);
			if (rule->ip_ver && rule->ip_ver != v)
				PARSE_FAIL("address '%s' does not match the rule's IP version", arg);
			rule->ip_ver = (uint8_t)v;
		} else if (!strcmp(w, "sport")) {
			if (parse_range(arg, &rule->sport_lo, &rule->sport_hi))
				PARSE_FAIL("bad port range '%s'", arg);
		} else {
			if (parse_range(arg, &rule->dport_lo, &rule->dport_hi))
				PARSE_FAIL("bad port range '%s'", arg);
		}
	}
	if (!have_action)
		PARSE_FAIL("empty rule");
	return 0;
}

static void format_cidr(const struct acl_rule *r, const uint8_t *a, uint8_t plen, char *out, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	inet_ntop(r->ip_ver == 6 ? AF_INET6 : AF_INET, a, ip, sizeof(ip));
	snprintf(out, len, "%s/%u", ip, plen);
}

void acl_rule_format(const struct acl_rule *r, char *buf, unsigned len)
{
	char tmp[96];
	int n = snprintf(buf, len, "%s", r->action == ACL_ALLOW ? "allow" : "deny");

#define APPEND(...) do { if (n >= 0 && (unsigned)n < len) n += snprintf(buf + n, len - (unsigned)n, __VA_ARGS__); } while (0)
	if (r->ip_ver)
		APPEND(" ip%u", r->ip_ver);
	if (r->proto)
		APPEND(" proto %u", r->proto);
	if (r->src_plen) {
		format_cidr(r, r->src, r->src_plen, tmp, sizeof(tmp));
		APPEND(" src %s", tmp);
	}
	if (r->dst_plen) {
		format_cidr(r, r->dst, r->dst_plen, tmp, sizeof(tmp));
		APPEND(" dst %s", tmp);
	}
	if (r->sport_lo != 0 || r->sport_hi != 0xffff)
		APPEND(" sport %u-%u", r->sport_lo, r->sport_hi);
	if (r->dport_lo != 0 || r->dport_hi != 0xffff)
		APPEND(" dport %u-%u", r->dport_lo, r->dport_hi);
#undef APPEND
}
