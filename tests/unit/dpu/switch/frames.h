/* SPDX-License-Identifier: MIT */
/* Frame builders for the vswitch unit tests. */
#ifndef KITE_TEST_VSWITCH_FRAMES_H
#define KITE_TEST_VSWITCH_FRAMES_H

#include <stdint.h>

struct tf_spec {
	const uint8_t *dst, *src;     /* MACs */
	int vid;                      /* -1 = untagged */
	uint16_t ethertype;           /* used when ip_ver == 0 */
	int ip_ver;                   /* 0, 4 or 6 */
	const char *sip, *dip;        /* addresses (text) */
	uint8_t proto;
	uint16_t sport, dport;
	uint32_t payload;             /* bytes after the L4 header */
};

/* Build the frame into buf (>= 9100 bytes); returns its length. IPv4 header checksum is correct. */
uint32_t tf_build(uint8_t *buf, const struct tf_spec *s);
uint32_t tf_ip4(const char *s);   /* network order */

extern const uint8_t MAC_A[6], MAC_B[6], MAC_C[6], MAC_D[6], MAC_BCAST[6];

#endif
