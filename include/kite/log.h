/* SPDX-License-Identifier: MIT */
/* One-line logging shared by kite and kite-dpu: "<prog>: <level>: <object>: what failed: why". */
#ifndef KITE_LOG_H
#define KITE_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

enum kite_log_level { KITE_LOG_ERR = 0, KITE_LOG_WARN, KITE_LOG_INFO, KITE_LOG_DEBUG };

/* Program name printed in front of every line ("kite", "kite-dpu"); registers kite_log_rl_flush
 * to run at exit. */
void kite_log_init(const char *prog, enum kite_log_level max_level);
void kite_log_set_level(enum kite_log_level max_level);
enum kite_log_level kite_log_level(void);
/* The name given to kite_log_init (safe in a signal handler: a plain read). */
const char *kite_log_prog(void);

/* The calling thread's latest error message (without the "prog: error: " prefix; "" if none),
 * e.g. to tell an API client why an operation failed. Valid until this thread logs another. */
const char *kite_log_last_error(void);
/* Format a one-line error into err (errlen bytes) and return -1: `return errf(err, n, "...", ...)`. */
int errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* From now on write the lines to `path` (appended; a FIFO works) instead of stderr. 0, or -1 with
 * errno set (the output stays as it was). */
int kite_log_open(const char *path);

/* Writes exactly one line to stderr (a trailing '\n' in fmt is not needed). Thread safe. */
void kite_log(enum kite_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kite_vlog(enum kite_log_level level, const char *fmt, va_list ap);

#define log_err(...)   kite_log(KITE_LOG_ERR, __VA_ARGS__)
#define log_warn(...)  kite_log(KITE_LOG_WARN, __VA_ARGS__)
#define log_info(...)  kite_log(KITE_LOG_INFO, __VA_ARGS__)
#define log_debug(...) do { if (kite_log_level() >= KITE_LOG_DEBUG) kite_log(KITE_LOG_DEBUG, __VA_ARGS__); } while (0)

/*
 * Rate-limited lines, for everything a guest or a peer can make happen again and again (a broken
 * queue after each reset, a failing host write per request, a bad register value per access): at
 * most KITE_LOG_RL_BURST lines in a window of KITE_LOG_RL_SECONDS per budget; the lines beyond are
 * counted, not written. The first line of the next window carries the count ("[N similar lines
 * suppressed]"); kite_log_rl_flush() writes what is still counted (at exit). The budget is the call
 * site's own (log_*_rl: a static struct kite_log_rl) or an object's (log_*_rl_on: one per device,
 * shared by its lines, so a guest flooding one device does not silence another). Thread safe. An
 * error line updates kite_log_last_error() even when it is suppressed.
 */
#define KITE_LOG_RL_BURST 10
#define KITE_LOG_RL_SECONDS 5

struct kite_log_rl {
	uint64_t start_ns;                 /* CLOCK_MONOTONIC start of the current window */
	unsigned lines;                    /* written in this window */
	unsigned long long suppressed;     /* counted since the last line written */
	const char *fmt;                   /* the latest suppressed line's format, for kite_log_rl_flush */
	enum kite_log_level level;
	struct kite_log_rl *next;          /* the sites with a count pending */
	int pending;
};

void kite_log_rl(struct kite_log_rl *rl, enum kite_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* One line per budget with lines still counted: "N similar lines suppressed: <format>". Runs at
 * exit (registered by kite_log_init). */
void kite_log_rl_flush(void);
/* An object's budget goes away (the device is freed): its count is written, it leaves the list. */
void kite_log_rl_release(struct kite_log_rl *rl);

#define KITE_LOG_RL_(level, ...) \
	do { static struct kite_log_rl kite_rl_; kite_log_rl(&kite_rl_, level, __VA_ARGS__); } while (0)
#define log_err_rl(...)   KITE_LOG_RL_(KITE_LOG_ERR, __VA_ARGS__)
#define log_warn_rl(...)  KITE_LOG_RL_(KITE_LOG_WARN, __VA_ARGS__)
#define log_info_rl(...)  KITE_LOG_RL_(KITE_LOG_INFO, __VA_ARGS__)
#define log_err_rl_on(rl, ...)   kite_log_rl(rl, KITE_LOG_ERR, __VA_ARGS__)
#define log_warn_rl_on(rl, ...)  kite_log_rl(rl, KITE_LOG_WARN, __VA_ARGS__)
#define log_info_rl_on(rl, ...)  kite_log_rl(rl, KITE_LOG_INFO, __VA_ARGS__)

/* log_err() then exit(1). For start-up errors only; never on a guest-controlled path. */
void kite_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
