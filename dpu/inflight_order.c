/* SPDX-License-Identifier: MIT */
/* The resubmission order of an inflight region's requests (inflight_order.h). */
#include "inflight_order.h"

static void swap(struct inflight_order *a, struct inflight_order *b)
{
	struct inflight_order t = *a;

	*a = *b;
	*b = t;
}

/* Moves o[i] down the max-heap o[0..n) to its place. */
static void sift(struct inflight_order *o, unsigned i, unsigned n)
{
	for (;;) {
		unsigned l = 2 * i + 1, m = i;

		if (l < n && o[l].counter > o[m].counter)
			m = l;
		if (l + 1 < n && o[l + 1].counter > o[m].counter)
			m = l + 1;
		if (m == i)
			return;
		swap(&o[i], &o[m]);
		i = m;
	}
}

void inflight_order_sort(struct inflight_order *o, unsigned n)
{
	for (unsigned i = n / 2; i-- > 0;)
		sift(o, i, n);
	for (unsigned i = n; i-- > 1;) {
		swap(&o[0], &o[i]);
		sift(o, 0, i);
	}
}
