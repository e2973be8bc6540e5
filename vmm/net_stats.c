/* SPDX-License-Identifier: MIT */
/* kite --stats: one line per queue pair of each virtio-net on a TAP (virtio/net.c's pair counters). */
#include <stdio.h>

#include "board.h"
#include "kite/virtio_dev.h"
#include "kite/virtio_net.h"
#include "kite/vm.h"

void vm_print_net_stats(struct vm *vm)
{
	for (unsigned i = 0; i < KITE_MAX_NET; i++) {
		struct virtio_dev *dev = board_net(vm, i);
		struct net_counters c;
		unsigned pairs = dev ? net_get_pair_counters(dev, 0, &c) : 0;

		for (unsigned k = 0; k < pairs && net_get_pair_counters(dev, k, &c) > k; k++)
			fprintf(stderr, "kite: stats: net:%s: pair=%u rx_packets_count=%llu rx_bytes_count=%llu "
				"tx_packets_count=%llu tx_bytes_count=%llu tx_fails=%llu rx_fails=%llu\n", dev->name, k,
				(unsigned long long)c.rx_frames, (unsigned long long)c.rx_bytes,
				(unsigned long long)c.tx_frames, (unsigned long long)c.tx_bytes,
				(unsigned long long)c.tx_errors, (unsigned long long)c.rx_dropped);
	}
}
