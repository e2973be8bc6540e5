/* SPDX-License-Identifier: MIT */
/*
 * TAP uplink port: a Linux TAP interface (/dev/net/tun, IFF_TAP | IFF_NO_PI, non-blocking) attached
 * to the switch. Frames the switch sends to it are written to the fd; frames the kernel sends are
 * read in bursts of up to VSW_BURST by a poll item of the switch runner. Typically the uplink carries
 * VXLAN (vswitch_port_set_vxlan) or is a trunk.
 */
#ifndef KITE_DPU_NET_TAP_H
#define KITE_DPU_NET_TAP_H

#include <stdint.h>

struct vsw_runner;
struct tap_port;

/* Create (or attach to) TAP interface ifname and add it to the switch as port `name`. The interface
 * gets MAC `mac` when given; without one, an interface kite-dpu created (not persistent) gets the
 * address derived from ifname (port_mac.h), so that a restarted kite-dpu's new interface has the
 * MAC the old one had (the guests' neighbour entries for the host stay valid), and a persistent
 * one keeps its own. Either is set only when it differs (no CAP_NET_ADMIN needed otherwise). The
 * interface is brought up when up != 0. Returns NULL after one log line. Control thread. */
struct tap_port *tap_port_new(struct vsw_runner *h, const char *name, const char *ifname, uint32_t mtu, int up,
			      const uint8_t *mac);
void tap_port_free(struct tap_port *t);
int tap_port_id(const struct tap_port *t);
const char *tap_port_ifname(const struct tap_port *t);

#endif
