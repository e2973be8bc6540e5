/* SPDX-License-Identifier: MIT */
/* kite --stats: one line per virtio-blk image device with its request counters (blk_get_counters). */
#include <stdio.h>

#include "board.h"
#include "kite/config.h"
#include "kite/virtio_blk_dev.h"
#include "kite/virtio_dev.h"
#include "kite/vm.h"

void vm_print_blk_stats(struct vm *vm)
{
	for (unsigned i = 0; i < KITE_MAX_BLK; i++) {
		struct virtio_dev *dev = board_blk(vm, i);
		struct blk_counters c;

		if (!dev || !blk_get_counters(dev, &c))
			continue;
		fprintf(stderr, "kite: stats: blk:%s: requests=%llu reads=%llu writes=%llu flushes=%llu errors=%llu "
			"throttled=%llu inline_writes=%llu inline_reads=%llu inline_slow=%llu\n", dev->name,
			(unsigned long long)c.requests, (unsigned long long)c.read_ops, (unsigned long long)c.write_ops,
			(unsigned long long)c.flush_ops, (unsigned long long)c.errors, (unsigned long long)c.throttled,
			(unsigned long long)c.inline_writes, (unsigned long long)c.inline_reads,
			(unsigned long long)(c.inline_slow + c.inline_read_slow));
	}
}
