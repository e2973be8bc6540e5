/* SPDX-License-Identifier: MIT */
/*
 * Security-group ACLs: ordered stateless rules, first match wins, else the list's default action.
 * One list per port and direction ("in" = traffic from the VM into the switch, "out" = traffic the
 * switch delivers to the VM). Rules match IPv4 or IPv6 source/destination prefixes, the IP protocol
 * and TCP/UDP port ranges (for ICMP the "sport" range is the type, "dport" the code). ARP always
 * passes (a security group filters IP); other non-IP frames get the default action. Every rule and
 * the default action count the packets and bytes they decided.
 *
 * Decisions come from bit sets first (one bit per rule, the first ACL_CLS_RULES rules), rebuilt at
 * every add, delete or clear: the rules a packet can match by IP version and protocol, by each
 * byte of each address (IPv4: all four; IPv6: the first; a rule's bit is set for the values of a
 * byte its prefix allows, so ANDed over the bytes this is the prefix match), by the interval of the
 * source and of the destination port (the rules' range ends cut 0..65535 into intervals, found by
 * binary search) and, for a packet without valid ports (a later fragment), the rules without port
 * ranges. Their AND is exactly the set of matching rules, except that an IPv6 rule with a prefix
 * longer than 8 bits is only a candidate there (tested in full). The lowest matching rule decides
 * (first match wins); bytes 1-3 and the ports are not looked up when the lowest candidate so far
 * cannot be removed by them. This runs inline per packet, costs about what a cache hit costs, and
 * does not depend on the number of flows.
 *
 * Decisions the sets cannot make alone are cached per list: a packet whose lowest candidate is
 * such an IPv6 rule, or that matches no set rule in a list longer than ACL_CLS_RULES. A small
 * direct-mapped table keyed on what a rule can look at (IP version, protocol, addresses, ports or
 * ICMP type/code when valid) remembers which rule (or the default) decided that key; the slot of
 * the previous decision is tried before hashing (a burst is mostly one flow); a miss classifies
 * (the candidates, then the rules after ACL_CLS_RULES). A cache entry counts its packets and bytes
 * itself and adds them to the rule's counters when it is replaced or emptied; decisions from the
 * sets count in the rule directly: read the counters with acl_counts(). Adding, deleting or
 * clearing rules empties the cache (the default action is read at each decision, so changing it
 * needs nothing). Not thread-safe: one list, one thread (the switch's poller; statistics are read
 * there too).
 *
 * Text form (for the control socket and tests), words in any order after the action:
 *   allow|deny [ip4|ip6] [proto tcp|udp|icmp|icmp6|N] [src CIDR] [dst CIDR] [sport A[-B]] [dport A[-B]]
 */
#ifndef KITE_DPU_SWITCH_ACL_H
#define KITE_DPU_SWITCH_ACL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "parse.h"

#define ACL_MAX_RULES 256

enum acl_action { ACL_ALLOW = 0, ACL_DENY = 1 };
enum acl_dir { ACL_IN = 0, ACL_OUT = 1 };

struct acl_rule {
	enum acl_action action;
	uint8_t ip_ver;              /* 0 = any (then no prefixes), 4 or 6 */
	uint8_t proto;               /* 0 = any */
	uint8_t src_plen, dst_plen;  /* prefix lengths (0 = any) */
	uint8_t src[16], dst[16];    /* IPv4 in the first 4 bytes, network order */
	uint16_t sport_lo, sport_hi, dport_lo, dport_hi;   /* 0-65535 = any */
	uint64_t packets, bytes;
};

/* Rules covered by the pre-classification (one bit each in a 64-bit set). */
#define ACL_CLS_RULES 64

struct acl_cls {
	uint64_t noport;              /* no port range: may match a packet without valid ports */
	uint64_t exact;               /* the sets decide the match (all but IPv6 prefixes > 8 bits) */
	uint64_t shallow;             /* no prefix longer than 8 bits (bytes 1-3 allow any value) */
	bool deep4;                   /* an IPv4 prefix longer than 8 bits: bytes 1-3 are looked at */
	uint16_t nsb, ndb;            /* interval starts after 0 (at most 2 per rule) */
	uint32_t sb[2 * ACL_CLS_RULES], db[2 * ACL_CLS_RULES];
	uint64_t siv[2 * ACL_CLS_RULES + 1], div[2 * ACL_CLS_RULES + 1];   /* by port interval */
	uint64_t proto[2][256];          /* by IP version (4, 6) and protocol */
	uint64_t src[4][256], dst[4][256];   /* by byte k of the address (k > 0: IPv4 only) */
};

#define ACL_CACHE_BITS 6           /* at most 8 (acl.last) */
#define ACL_CACHE_SIZE (1u << ACL_CACHE_BITS)
#define ACL_CACHE_DEFAULT 0xffffu  /* cached "no rule matched" */

/* One cache line: a hit reads and counts here only. */
struct acl_cache_ent {
	uint64_t key[5];           /* version | proto | l4_ok | sport | dport, source, destination;
				    * key[0] == 0: empty (the version of a key is 4 or 6) */
	uint64_t packets, bytes;   /* decided here and not yet added to the rule's counters */
	uint16_t rule;             /* index, or ACL_CACHE_DEFAULT */
	uint8_t action;            /* the rule's (a default decision reads acl->def) */
} __attribute__((aligned(64)));

struct acl {
	/* hot first: what every decision reads, then the cache, then the rules */
	unsigned n;
	enum acl_action def;
	uint64_t def_packets, def_bytes;   /* without the cache's pending counts: see acl_counts() */
	uint64_t cache_misses;       /* decisions that walked the rules (IP packets) */
	uint8_t last;                /* slot of the last decision */
	struct acl_cache_ent cache[ACL_CACHE_SIZE];
	struct acl_cls cls;          /* of rules[0 .. min(n, ACL_CLS_RULES)) */
	struct acl_rule rules[ACL_MAX_RULES];
};

void acl_init(struct acl *acl, enum acl_action def);
/* Append a rule (counters cleared). Returns its index or -1 if the list is full. */
int acl_add(struct acl *acl, const struct acl_rule *rule);
/* Remove rule idx (later rules move up). -1 if none. */
int acl_del(struct acl *acl, unsigned idx);
void acl_clear(struct acl *acl);
/* Decide a parsed frame of len bytes; counts it. Returns the action. (Inline: the cache hit; the
 * walk, non-IP frames and the cache fill are acl_eval_slow.) */
static inline enum acl_action acl_eval(struct acl *acl, const struct vsw_pkt *pkt, uint32_t len);

/* The rule that decides pkt (index), or ACL_CACHE_DEFAULT: what a cache miss runs (no counting,
 * no cache). pkt must be IP (ip_ver 4 or 6). */
uint16_t acl_classify(const struct acl *acl, const struct vsw_pkt *pkt);

/* Packets and bytes decided by rule idx (ACL_CACHE_DEFAULT: by the default), pending counts of the
 * cache included. */
void acl_counts(const struct acl *acl, unsigned idx, uint64_t *packets, uint64_t *bytes);

/* Internals of acl_eval. */
enum acl_action acl_eval_slow(struct acl *acl, const struct vsw_pkt *pkt, uint32_t len, const uint64_t key[5],
			      struct acl_cache_ent *c);

/* Index of the port interval holding port: how many of the n starts b[] are <= port. */
static inline unsigned acl_port_interval(const uint32_t *b, unsigned n, uint16_t port)
{
	unsigned lo = 0, hi = n;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;

		if (b[mid] <= port)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The pre-classified rules that can match the IP packet pkt (bit i: rules[i]). */
static inline __attribute__((always_inline)) uint64_t acl_cls_candidates(const struct acl_cls *c,
										 const struct vsw_pkt *pkt)
{
	const uint8_t *s = pkt->ip_ver == 4 ? (const uint8_t *)&pkt->src4 : pkt->src6;
	const uint8_t *d = pkt->ip_ver == 4 ? (const uint8_t *)&pkt->dst4 : pkt->dst6;
	uint64_t m = c->proto[pkt->ip_ver == 6][pkt->proto] & c->src[0][s[0]] & c->dst[0][d[0]];

	/* The lowest candidate so far stays the lowest if no set looked at later can remove it: the
	 * other bytes cannot when its prefixes are at most 8 bits, the ports cannot when it has no
	 * port range. Then they need not be looked up. */
	if (m & -m & c->shallow & c->noport)
		return m & -m;
	if (pkt->ip_ver == 4 && c->deep4)
		m &= c->src[1][s[1]] & c->src[2][s[2]] & c->src[3][s[3]] &
		     c->dst[1][d[1]] & c->dst[2][d[2]] & c->dst[3][d[3]];
	if (m & -m & c->exact & c->noport)
		return m & -m;
	if (pkt->l4_ok)
		return m & c->siv[acl_port_interval(c->sb, c->nsb, pkt->sport)] &
		       c->div[acl_port_interval(c->db, c->ndb, pkt->dport)];
	return m & c->noport;
}

static inline bool acl_key_eq(const struct acl_cache_ent *c, const uint64_t key[5])
{
	/* a version-4 key is zero beyond key[1], in the cache as here */
	return c->key[0] == key[0] && c->key[1] == key[1] &&
	       ((key[0] & 0xff) == 4 || (c->key[2] == key[2] && c->key[3] == key[3] && c->key[4] == key[4]));
}

static inline __attribute__((always_inline)) enum acl_action acl_eval(struct acl *acl, const struct vsw_pkt *pkt,
									uint32_t len)
{
	struct acl_cache_ent *c;
	uint64_t key[5] = { 0 }, h, m;

	if (pkt->ip_ver == 0)
		return acl_eval_slow(acl, pkt, len, NULL, NULL);
	/* decided by the sets alone: the lowest candidate needs no address test, or none can match */
	m = acl_cls_candidates(&acl->cls, pkt);
	if (m & -m & acl->cls.exact) {
		struct acl_rule *r = &acl->rules[__builtin_ctzll(m)];

		r->packets++;
		r->bytes += len;
		return r->action;
	}
	if (!m && acl->n <= ACL_CLS_RULES) {
		acl->def_packets++;
		acl->def_bytes += len;
		return acl->def;
	}
	/* the key: everything a rule can look at (ports only when valid) */
	key[0] = (uint64_t)pkt->ip_ver | (uint64_t)pkt->proto << 8 | (uint64_t)pkt->l4_ok << 16;
	if (pkt->l4_ok)
		key[0] |= (uint64_t)pkt->sport << 32 | (uint64_t)pkt->dport << 48;
	if (pkt->ip_ver == 4) {
		key[1] = (uint64_t)pkt->src4 | (uint64_t)pkt->dst4 << 32;
	} else {
		memcpy(&key[1], pkt->src6, 16);
		memcpy(&key[3], pkt->dst6, 16);
	}
	/* the flow of the previous packet first (a burst is mostly one flow), then its slot */
	c = &acl->cache[acl->last];
	if (!acl_key_eq(c, key)) {
		h = (key[0] ^ key[1] ^ key[2] ^ key[3] ^ key[4]) * 0x9e3779b97f4a7c15ull;
		acl->last = (uint8_t)(h >> (64 - ACL_CACHE_BITS));
		c = &acl->cache[acl->last];
		if (!acl_key_eq(c, key))
			return acl_eval_slow(acl, pkt, len, key, c);
	}
	c->packets++;
	c->bytes += len;
	return c->rule == ACL_CACHE_DEFAULT ? acl->def : (enum acl_action)c->action;
}

/* Parse the text form above. Returns 0 or -1 with a short reason in err (may be NULL). */
int acl_rule_parse(const char *text, struct acl_rule *rule, char *err, unsigned errlen);
/* Text form of a rule (without counters). */
void acl_rule_format(const struct acl_rule *rule, char *buf, unsigned len);
/* "a.b.c.d/n" or IPv6 "x::y/n" (no /n = full length). Returns 4, 6 or -1. */
int acl_parse_cidr(const char *s, uint8_t addr[16], uint8_t *plen);

#endif
