/* SPDX-License-Identifier: MIT */
/* One-line logging shared by kite and kite-dpu: "<prog>: <level>: <object>: what failed: why". */
#ifndef KITE_LOG_H
#define KITE_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum kite_log_level { KITE_LOG_ERR = 0, KITE_LOG_WARN, KITE_LOG_INFO, KITE_LOG_DEBUG };

/* Program name printed in front of every line ("kite", "kite-dpu"). */
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

/* log_err() then exit(1). For start-up errors only; never on a guest-controlled path. */
void kite_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
