/* SPDX-License-Identifier: MIT */
/*
 * Security-group ACLs: ordered stateless rules, first match wins, else the list's default action.
 * One list per port and direction ("in" = traffic from the VM into the switch, "out" = traffic the
 * switch delivers to the VM). Rules match IPv4 or IPv6 source/destination prefixes, the IP protocol
 * and TCP/UDP port ranges (for ICMP the "sport" range is the type, "dport" the code). ARP always
 * passes (a security group filters IP); other non-IP frames get the default action. Every rule and
 * the default action count the packets and bytes they decided.
 *
 * Decisions are cached per list: a small direct-mapped table keyed on what a rule can look at (IP
 * version, protocol, addresses, ports or ICMP type/code when valid) remembers which rule (or the
 * default) decided that key, so a flow walks the rules once; the slot of the previous decision is
 * tried before hashing (a burst is mostly one flow). A cache entry counts its packets and
 * bytes itself and adds them to the rule's counters when it is replaced or emptied: read the
 * counters with acl_counts(). Adding, deleting or clearing rules empties the cache (the default
 * action is read at each decision, so changing it needs nothing). Not thread-safe: one list, one
 * thread (the switch's poller; statistics are read there too).
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

/* Packets and bytes decided by rule idx (ACL_CACHE_DEFAULT: by the default), pending counts of the
 * cache included. */
void acl_counts(const struct acl *acl, unsigned idx, uint64_t *packets, uint64_t *bytes);

/* Internals of acl_eval. */
enum acl_action acl_eval_slow(struct acl *acl, const struct vsw_pkt *pkt, uint32_t len, const uint64_t key[5],
			      struct acl_cache_ent *c);

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
	uint64_t key[5] = { 0 }, h;

	if (pkt->ip_ver == 0)
		return acl_eval_slow(acl, pkt, len, NULL, NULL);
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
