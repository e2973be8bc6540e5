/* SPDX-License-Identifier: MIT */
/*
 * The order in which requests marked in an inflight region are served again after a backend
 * restart: oldest fetch first, by the region's counters. Split and packed rings both sort with this.
 * The caller copies each counter once into private memory (the frontend can rewrite the region
 * while we sort). No allocation and no syscall: it runs on kite-dpu's control and poller threads,
 * under their seccomp filters (glibc's qsort may call sysinfo() for large arrays).
 */
#ifndef KITE_DPU_INFLIGHT_ORDER_H
#define KITE_DPU_INFLIGHT_ORDER_H

#include <stdint.h>

struct inflight_order {
	uint64_t counter;   /* fetch order, copied from the region */
	uint16_t head;      /* descriptor (split) or entry (packed) index */
};

/* Sorts o[0..n) by counter, ascending (heap sort: O(n log n), in place). Any thread. */
void inflight_order_sort(struct inflight_order *o, unsigned n);

#endif
