/* SPDX-License-Identifier: MIT */
/* Token buckets and the rate limiter built from them: see include/kite/ratelimit.h. */
#include <errno.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

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
	rl->one_time = 0;
	rl->passed = 0;
	rl->limited = 0;
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

void rl_set_one_time(struct ratelimit *rl, uint64_t n)
{
	rl->one_time = n;
}

uint64_t rl_available(struct ratelimit *rl, uint64_t now_ns)
{
	if (rl_unlimited(rl))
		return UINT64_MAX;
	rl_refill(rl, now_ns);
	return rl->tokens + rl->one_time < rl->tokens ? UINT64_MAX : rl->tokens + rl->one_time;
}

bool rl_take(struct ratelimit *rl, uint64_t n, uint64_t now_ns)
{
	if (rl_unlimited(rl)) {
		rl->passed++;
		return true;
	}
	rl_refill(rl, now_ns);
	if (rl->one_time) {   /* the one-time budget goes first */
		uint64_t from_budget = n < rl->one_time ? n : rl->one_time;

		if (n - from_budget <= rl->tokens) {
			rl->one_time -= from_budget;
			rl->tokens -= n - from_budget;
			rl->passed++;
			return true;
		}
	}
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

/* ---- rate_limiter: an ops bucket, a bytes bucket, the retry timer ---- */

#define WAIT_MIN_NS 100000ull
#define WAIT_MAX_NS NS_PER_SEC

void rate_limiter_set(struct rate_limiter *l, uint64_t ops, uint64_t ops_burst, uint64_t bytes,
		      uint64_t bytes_burst, uint64_t now_ns)
{
	rl_init(&l->ops, ops, ops_burst, now_ns);
	rl_init(&l->bytes, bytes, bytes_burst, now_ns);
}

void rate_limiter_configure(struct rate_limiter *l, const struct limiter_cfg *c, uint64_t now_ns)
{
	rate_limiter_set(l, c->ops.rate, c->ops.burst, c->bytes.rate, c->bytes.burst, now_ns);
	rl_set_one_time(&l->ops, c->ops.rate ? c->ops.one_time : 0);
	rl_set_one_time(&l->bytes, c->bytes.rate ? c->bytes.one_time : 0);
}

void rate_limiter_init(struct rate_limiter *l, uint64_t ops, uint64_t ops_burst, uint64_t bytes,
		       uint64_t bytes_burst, uint64_t now_ns)
{
	memset(l, 0, sizeof(*l));
	l->timer_fd = -1;
	rate_limiter_set(l, ops, ops_burst, bytes, bytes_burst, now_ns);
}

/* 0 if one operation of `bytes` may pass now, else how long until the missing tokens are back. */
static uint64_t wait_ns(struct rate_limiter *l, uint64_t bytes, uint64_t now_ns)
{
	if (!rl_unlimited(&l->ops) && rl_available(&l->ops, now_ns) < 1)
		return NS_PER_SEC / l->ops.rate;
	if (!rl_unlimited(&l->bytes) && bytes) {
		uint64_t need = bytes < l->bytes.burst ? bytes : l->bytes.burst, have = rl_available(&l->bytes, now_ns);

		if (have < need)
			return (uint64_t)((unsigned __int128)(need - have) * NS_PER_SEC / l->bytes.rate) + 1;
	}
	return 0;
}

static void timer_arm(struct rate_limiter *l, uint64_t ns)
{
	struct itimerspec cur, its = { 0 };

	if (l->timer_fd < 0)
		return;
	ns = ns < WAIT_MIN_NS ? WAIT_MIN_NS : ns > WAIT_MAX_NS ? WAIT_MAX_NS : ns;
	/* keep an earlier expiry that is already armed */
	if (l->waiting && timerfd_gettime(l->timer_fd, &cur) == 0 && (cur.it_value.tv_sec || cur.it_value.tv_nsec) &&
	    (uint64_t)cur.it_value.tv_sec * NS_PER_SEC + (uint64_t)cur.it_value.tv_nsec <= ns)
		return;
	its.it_value.tv_sec = (time_t)(ns / NS_PER_SEC);
	its.it_value.tv_nsec = (long)(ns % NS_PER_SEC);
	if (timerfd_settime(l->timer_fd, 0, &its, NULL) == 0)
		l->waiting = true;
}

bool rate_limiter_admit(struct rate_limiter *l, uint64_t bytes, uint64_t now_ns)
{
	uint64_t wait;

	if (!rate_limiter_active(l))
		return true;
	if (!now_ns)
		now_ns = rl_now_ns();
	wait = wait_ns(l, bytes, now_ns);
	if (wait) {
		l->refused++;
		timer_arm(l, wait);
		return false;
	}
	rl_take(&l->ops, 1, now_ns);
	rl_take(&l->bytes, bytes, now_ns);
	return true;
}

bool rate_limiter_police(struct rate_limiter *l, uint64_t bytes, uint64_t now_ns)
{
	if (!rate_limiter_active(l))
		return true;
	if (!rl_take(&l->ops, 1, now_ns) || !rl_take(&l->bytes, bytes, now_ns)) {
		l->refused++;
		return false;
	}
	return true;
}

int rate_limiter_timer_open(struct rate_limiter *l)
{
	if (l->timer_fd < 0)
		l->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	return l->timer_fd;
}

bool rate_limiter_timer_fired(struct rate_limiter *l)
{
	uint64_t ticks;

	if (read(l->timer_fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		return false;
	l->waiting = false;
	return true;
}

void rate_limiter_timer_stop(struct rate_limiter *l)
{
	struct itimerspec off = { 0 };

	if (l->timer_fd >= 0)
		timerfd_settime(l->timer_fd, 0, &off, NULL);
	l->waiting = false;
}

void rate_limiter_timer_close(struct rate_limiter *l)
{
	if (l->timer_fd >= 0)
		close(l->timer_fd);
	l->timer_fd = -1;
	l->waiting = false;
}

bool rate_limiter_waiting(const struct rate_limiter *l)
{
	return l->waiting;
}
