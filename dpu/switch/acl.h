/* SPDX-License-Identifier: MIT */
/*
 * Security-group ACLs: ordered stateless rules, first match wins, else the list's default action.
 * One list per port and direction ("in" = traffic from the VM into the switch, "out" = traffic the
 * switch delivers to the VM). Rules match IPv4 or IPv6 source/destination prefixes, the IP protocol
 * and TCP/UDP port ranges (for ICMP the "sport" range is the type, "dport" the code). ARP always
 * passes (a security group filters IP); other non-IP frames get the default action. Every rule and
 * the default action count the packets and bytes they decided.
 *
 * Text form (for the control socket and tests), words in any order after the action:
 *   allow|deny [ip4|ip6] [proto tcp|udp|icmp|icmp6|N] [src CIDR] [dst CIDR] [sport A[-B]] [dport A[-B]]
 */
#ifndef KITE_DPU_SWITCH_ACL_H
#define KITE_DPU_SWITCH_ACL_H

#include <stdbool.h>
#include <stdint.h>

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

struct acl {
	struct acl_rule rules[ACL_MAX_RULES];
	unsigned n;
	enum acl_action def;
	uint64_t def_packets, def_bytes;
};

void acl_init(struct acl *acl, enum acl_action def);
/* Append a rule (counters cleared). Returns its index or -1 if the list is full. */
int acl_add(struct acl *acl, const struct acl_rule *rule);
/* Remove rule idx (later rules move up). -1 if none. */
int acl_del(struct acl *acl, unsigned idx);
void acl_clear(struct acl *acl);
/* Decide a parsed frame of len bytes; counts it. Returns the action. */
enum acl_action acl_eval(struct acl *acl, const struct vsw_pkt *pkt, uint32_t len);

/* Parse the text form above. Returns 0 or -1 with a short reason in err (may be NULL). */
int acl_rule_parse(const char *text, struct acl_rule *rule, char *err, unsigned errlen);
/* Text form of a rule (without counters). */
void acl_rule_format(const struct acl_rule *rule, char *buf, unsigned len);
/* "a.b.c.d/n" or IPv6 "x::y/n" (no /n = full length). Returns 4, 6 or -1. */
int acl_parse_cidr(const char *s, uint8_t addr[16], uint8_t *plen);

#endif
