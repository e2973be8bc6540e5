/* SPDX-License-Identifier: MIT */
#include <time.h>

#include "kite/ratelimit.h"

#define NS_PER_SEC 1000000000ull

uint64_t rl_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

void rl_init(struct ratelimit *rl, uint64_t rate, uint64_t burst, uint64_t now_ns)
{
	rl->rate = rate;
	rl->burst = burst ? burst : (rate ? rate : 1);
	rl->tokens = rl->burst;
	rl->last_ns = now_ns;
	rl->frac = 0;
	rl->passed = 0;
	rl->limited = 0;
}

bool rl_unlimited(const struct ratelimit *rl)
{
	return rl->rate == 0;
}

static void rl_refill(struct ratelimit *rl, uint64_t now_ns)
{
	if (now_ns <= rl->last_ns)
		return;
	uint64_t dt = now_ns - rl->last_ns;
	rl->last_ns = now_ns;
	if (rl->tokens >= rl->burst) {
		rl->frac = 0;
		return;
	}
	/* Cap dt so that dt * rate cannot overflow: a full bucket needs at most burst/rate seconds. */
	uint64_t cap = (rl->burst / rl->rate + 1) * NS_PER_SEC;
	if (dt > cap)
		dt = cap;
	unsigned __int128 acc = (unsigned __int128)dt * rl->rate + rl->frac;
	uint64_t add = (uint64_t)(acc / NS_PER_SEC);
	rl->frac = (uint64_t)(acc % NS_PER_SEC);
	if (add >= rl->burst - rl->tokens) {
		/* capped: what overflowed the bucket is lost; an exact fill keeps the remainder */
		if (add > rl->burst - rl->tokens)
			rl->frac = 0;
		rl->tokens = rl->burst;
	} else {
		rl->tokens += add;
	}
}

uint64_t rl_available(struct ratelimit *rl, uint64_t now_ns)
{
	if (rl_unlimited(rl))
		return UINT64_MAX;
	rl_refill(rl, now_ns);
	return rl->tokens;
}

bool rl_take(struct ratelimit *rl, uint64_t n, uint64_t now_ns)
{
	if (rl_unlimited(rl)) {
		rl->passed++;
		return true;
	}
	rl_refill(rl, now_ns);
	if (n > rl->burst && rl->tokens == rl->burst) {
		rl->tokens = 0;
		rl->passed++;
		return true;
	}
	if (rl->tokens < n) {
		rl->limited++;
		return false;
	}
	rl->tokens -= n;
	rl->passed++;
	return true;
}
