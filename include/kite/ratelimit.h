/* SPDX-License-Identifier: MIT */
/*
 * Rate limiting, once for both programs (common/ratelimit.c):
 *  - struct ratelimit: one token bucket. Tokens accumulate at `rate` per second up to `burst`.
 *  - struct rate_limiter: what every user needs: an operations bucket and a bytes bucket, and the
 *    timer that says when a refused operation may be tried again. kite's virtio-blk (iops=, bps=),
 *    kite's virtio-net (pps=, bps=, burst=; one limiter per direction), kite-dpu's volume QoS (one
 *    per queue, no timer: the poller tries again) and kite-dpu's switch ports (policing: refused
 *    frames are dropped, no timer).
 * Single-threaded: one owner (a device under its lock, a poller) uses a limiter; reconfiguration
 * from another thread is the owner's business (kite-dpu swaps in new limits on its poller).
 * Time is passed in explicitly (nanoseconds, CLOCK_MONOTONIC) so that tests are deterministic.
 */
#ifndef KITE_RATELIMIT_H
#define KITE_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct ratelimit {
	uint64_t rate;        /* tokens per second; 0 = unlimited */
	uint64_t burst;       /* bucket capacity in tokens (>= 1 when limited) */
	uint64_t tokens;      /* current tokens */
	uint64_t last_ns;     /* time of the last refill */
	uint64_t frac;        /* sub-token remainder, in token*ns units (keeps slow rates exact) */
	uint64_t one_time;    /* extra tokens spent before `tokens` and never refilled (0 = none) */
	uint64_t passed, limited;   /* counters: admitted / refused requests */
};

/* rate 0 = unlimited. burst 0 = one second's worth of rate. The bucket starts full at now_ns. */
void rl_init(struct ratelimit *rl, uint64_t rate, uint64_t burst, uint64_t now_ns);
/* Give the bucket a one-time budget of n extra tokens (Firecracker's one_time_burst): they are spent
 * before the refilling tokens and never come back. rl_init() clears it. */
void rl_set_one_time(struct ratelimit *rl, uint64_t n);
/* Take `n` tokens if available now (one-time budget first): true = admitted. An n larger than burst is admitted when the
 * bucket is full (and drains it), so oversized requests are slowed, never starved. */
bool rl_take(struct ratelimit *rl, uint64_t n, uint64_t now_ns);
/* Tokens available now (after refill, one-time budget included). */
uint64_t rl_available(struct ratelimit *rl, uint64_t now_ns);
static inline bool rl_unlimited(const struct ratelimit *rl)
{
	return rl->rate == 0;
}
/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t rl_now_ns(void);

struct rate_limiter {
	struct ratelimit ops, bytes;   /* rate 0 = that dimension unlimited */
	int timer_fd;                  /* timerfd, -1 = none (rate_limiter_timer_open) */
	bool waiting;                  /* refused, the timer is armed and has not fired yet */
	uint64_t refused;              /* admissions refused (shaping and policing) */
};

/* ops per second and bytes per second, 0 = unlimited; bursts as in rl_init(). No timer yet. */
void rate_limiter_init(struct rate_limiter *l, uint64_t ops, uint64_t ops_burst, uint64_t bytes,
		       uint64_t bytes_burst, uint64_t now_ns);
/* One bucket as configured: rate per second (0 = unlimited), capacity (0 = one second's worth) and
 * a one-time budget on top (Firecracker's TokenBucket: rate = size / refill_time, burst = size,
 * one_time = one_time_burst). A limiter is an ops bucket and a bytes bucket. */
struct bucket_cfg {
	uint64_t rate, burst, one_time;
};
struct limiter_cfg {
	struct bucket_cfg ops, bytes;
};
/* New limits from c, buckets full at now_ns; the timer and the counter stay. */
void rate_limiter_configure(struct rate_limiter *l, const struct limiter_cfg *c, uint64_t now_ns);
/* New limits, buckets full at now_ns; the timer and the counter stay. */
void rate_limiter_set(struct rate_limiter *l, uint64_t ops, uint64_t ops_burst, uint64_t bytes,
		      uint64_t bytes_burst, uint64_t now_ns);
/* Any limit set? Inline: per-frame and per-request paths test it before calling in. */
static inline bool rate_limiter_active(const struct rate_limiter *l)
{
	return !rl_unlimited(&l->ops) || !rl_unlimited(&l->bytes);
}
/*
 * Shaping: admit one operation of `bytes` bytes now (true: one ops token and the bytes taken), or
 * refuse it and take nothing (false: the caller keeps it and tries again later). On a refusal the
 * timer, if open, is armed for when the missing tokens are back (100 us .. 1 s; an earlier expiry
 * already armed is kept). An operation larger than the bytes burst passes once the bucket is full.
 * now_ns 0 = read the clock here (only when a limit is set: an unlimited limiter costs nothing).
 */
bool rate_limiter_admit(struct rate_limiter *l, uint64_t bytes, uint64_t now_ns);
/* Policing: take one ops token and the bytes, or refuse (the frame is dropped; an ops token taken
 * before the bytes ran short stays taken). No timer. */
bool rate_limiter_police(struct rate_limiter *l, uint64_t bytes, uint64_t now_ns);

/* The retry timer. open: create it (non-blocking timerfd); returns its fd for the owner's event
 * loop (EPOLLIN), or -1 (errno set). fired: call when the fd is readable; consumes the expiry and
 * returns true when the owner should try its refused work again. stop: disarm (device reset).
 * close: stop and close (the owner removes the fd from its loop first). */
int rate_limiter_timer_open(struct rate_limiter *l);
bool rate_limiter_timer_fired(struct rate_limiter *l);
void rate_limiter_timer_stop(struct rate_limiter *l);
void rate_limiter_timer_close(struct rate_limiter *l);
/* Refused and waiting for the timer (new work can wait for it too). */
bool rate_limiter_waiting(const struct rate_limiter *l);

/* Snapshots (kite/snapshot.h): both buckets (rate, capacity, tokens, sub-token remainder, one-time
 * budget) and the refusal counter. restore validates (a limited bucket holds at most its capacity,
 * capacity >= 1, remainder below one token) and refills from now_ns on: time spent saved does not
 * refill. A bad value marks the cursor bad and changes nothing. The timer is the owner's (open it
 * when the restored limiter is active); `waiting` starts clear (the owner retries its work). */
struct snap_writer;
struct snap_cursor;
void rate_limiter_save(const struct rate_limiter *l, struct snap_writer *w);
void rate_limiter_restore(struct rate_limiter *l, struct snap_cursor *c, uint64_t now_ns);

#endif
