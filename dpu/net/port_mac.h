/* SPDX-License-Identifier: MIT */
/*
 * MAC addresses kite-dpu makes up for its switch ports: a locally administered unicast address
 * derived from a name only, so the same configuration gives the same address after a restart
 * (a guest's or the host's neighbour cache stays valid across it).
 */
#ifndef KITE_DPU_NET_PORT_MAC_H
#define KITE_DPU_NET_PORT_MAC_H

#include <stdint.h>

/* Kinds of ports, the second byte of their made-up addresses (two kinds named alike differ). */
#define PORT_MAC_VHOST 0x4b    /* a vhost port's guest MAC when the config gives none */
#define PORT_MAC_TAP 0x54      /* a TAP interface kite-dpu created */

/* mac := 02:kind:h0:h1:h2:h3, h = FNV-1a (32 bits, little-endian bytes) of name. */
void port_name_mac(const char *name, uint8_t kind, uint8_t mac[6]);

#endif
