/* SPDX-License-Identifier: MIT */
/* A rate limiter in a snapshot (kite/ratelimit.h, kite/snapshot.h). */
#include <string.h>

#include "kite/ratelimit.h"
#include "kite/snapshot.h"

#define NS_PER_SEC 1000000000ull

static void bucket_save(const struct ratelimit *rl, struct snap_writer *w)
{
	snap_put_u64(w, rl->rate);
	snap_put_u64(w, rl->burst);
	snap_put_u64(w, rl->tokens);
	snap_put_u64(w, rl->frac);
	snap_put_u64(w, rl->one_time);
}

void rate_limiter_save(const struct rate_limiter *l, struct snap_writer *w)
{
	bucket_save(&l->ops, w);
	bucket_save(&l->bytes, w);
	snap_put_u64(w, l->refused);
}

static void bucket_get(struct ratelimit *rl, struct snap_cursor *c)
{
	memset(rl, 0, sizeof(*rl));
	rl->rate = snap_get_u64(c);
	rl->burst = snap_get_u64(c);
	rl->tokens = snap_get_u64(c);
	rl->frac = snap_get_u64(c);
	rl->one_time = snap_get_u64(c);
	if (rl->rate && (rl->burst == 0 || rl->tokens > rl->burst || rl->frac >= NS_PER_SEC))
		snap_cursor_fail(c, "rate limiter bucket with more tokens than its capacity (or none)");
}

void rate_limiter_restore(struct rate_limiter *l, struct snap_cursor *c, uint64_t now_ns)
{
	struct ratelimit ops, bytes;
	uint64_t refused;

	bucket_get(&ops, c);
	bucket_get(&bytes, c);
	refused = snap_get_u64(c);
	if (c->bad)
		return;
	ops.last_ns = bytes.last_ns = now_ns;
	l->ops = ops;
	l->bytes = bytes;
	l->refused = refused;
	l->waiting = false;
}
