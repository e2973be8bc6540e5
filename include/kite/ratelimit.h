/* SPDX-License-Identifier: MIT */
/*
 * Token bucket rate limiter (kite-dpu per-volume IOPS/bandwidth QoS, per-port rate limits).
 * Tokens accumulate at `rate` per second up to `burst`. Single-threaded: one owner (a poller) uses a
 * bucket; reconfiguration from another thread goes through rl_init() on a fresh bucket + a swap.
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
	uint64_t passed, limited;   /* counters: admitted / refused requests */
};

/* rate 0 = unlimited. burst 0 = one second's worth of rate. The bucket starts full at now_ns. */
void rl_init(struct ratelimit *rl, uint64_t rate, uint64_t burst, uint64_t now_ns);
/* Take `n` tokens if available now: true = admitted. An n larger than burst is admitted when the
 * bucket is full (and drains it), so oversized requests are slowed, never starved. */
bool rl_take(struct ratelimit *rl, uint64_t n, uint64_t now_ns);
/* Tokens available now (after refill). */
uint64_t rl_available(struct ratelimit *rl, uint64_t now_ns);
bool rl_unlimited(const struct ratelimit *rl);
/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t rl_now_ns(void);

#endif
