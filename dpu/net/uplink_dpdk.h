/* SPDX-License-Identifier: MIT */
/*
 * DPDK uplink port: any DPDK ethdev (a real NIC through its PMD, net_af_xdp, net_af_packet,
 * net_tap, ...) attached to the switch like the TAP uplink. The EAL is started once, by the first
 * dpdk port, with that port's "eal" arguments; the ethdev gets one RX and one TX queue and is polled
 * by the switch runner's poller thread (registered with the EAL as a non-EAL thread). RX copies each
 * mbuf into a switch frame, TX copies each frame into an mbuf; frames the PMD refuses are counted.
 *
 * Built only when meson finds libdpdk (KITE_HAVE_DPDK); otherwise dpdk_port_new() logs why and fails.
 */
#ifndef KITE_DPU_NET_UPLINK_DPDK_H
#define KITE_DPU_NET_UPLINK_DPDK_H

#include <stdint.h>

struct vsw_runner;
struct dpdk_port;

struct dpdk_port_cfg {
	const char *const *eal;   /* EAL arguments (without argv[0]); used by the first dpdk port only */
	unsigned neal;
	const char *device;       /* ethdev name (e.g. "net_af_packet0"), or NULL to use port_id */
	uint16_t port_id;
	uint32_t mtu;
};

/* Start the EAL if needed, configure and start the ethdev, add it to the switch as port `name`.
 * Returns NULL after one log line. Control thread. */
struct dpdk_port *dpdk_port_new(struct vsw_runner *h, const char *name, const struct dpdk_port_cfg *cfg);
void dpdk_port_free(struct dpdk_port *d);
int dpdk_port_id(const struct dpdk_port *d);

#endif
