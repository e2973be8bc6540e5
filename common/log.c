/* SPDX-License-Identifier: MIT */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kite/log.h"

static const char *log_prog = "kite";
static enum kite_log_level log_max = KITE_LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static FILE *log_out;        /* NULL = stderr */
static __thread char last_err[1024];   /* this thread's latest error message */

static const char *const level_names[] = { "error", "warning", "info", "debug" };


void kite_log_init(const char *prog, enum kite_log_level max_level)
{
	static bool flush_at_exit;

	log_prog = prog;
	log_max = max_level;
	if (!flush_at_exit && atexit(kite_log_rl_flush) == 0)   /* the counts still held, at exit */
		flush_at_exit = true;
}

void kite_log_set_level(enum kite_log_level max_level)
{
	log_max = max_level;
}

const char *kite_log_prog(void)
{
	return log_prog;
}

enum kite_log_level kite_log_level(void)
{
	return log_max;
}

void kite_vlog(enum kite_log_level level, const char *fmt, va_list ap)
{
	char line[1024];
	size_t n;

	if (level > log_max && level != KITE_LOG_ERR)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	/* One line per message, whatever the caller passed. */
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	if (level == KITE_LOG_ERR)
		memcpy(last_err, line, n + 1);
	if (level > log_max)
		return;
	pthread_mutex_lock(&log_lock);
	fprintf(log_out ? log_out : stderr, "%s: %s: %s\n", log_prog, level_names[level], line);
	if (log_out)
		fflush(log_out);
	pthread_mutex_unlock(&log_lock);
}

const char *kite_log_last_error(void)
{
	return last_err;
}

int errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

int kite_log_open(const char *path)
{
	FILE *f = fopen(path, "ae");

	if (!f)
		return -1;
	pthread_mutex_lock(&log_lock);
	if (log_out)
		fclose(log_out);
	log_out = f;
	pthread_mutex_unlock(&log_lock);
	return 0;
}

void kite_log(enum kite_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kite_vlog(level, fmt, ap);
	va_end(ap);
}

void kite_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kite_vlog(KITE_LOG_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}

static pthread_mutex_t rl_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kite_log_rl *rl_pending;   /* sites with a suppressed count (under rl_lock) */

void kite_log_rl(struct kite_log_rl *rl, enum kite_log_level level, const char *fmt, ...)
{
	struct timespec ts;
	unsigned long long reported = 0;
	char line[1024];
	bool write;
	va_list ap;

	if (level > log_max && level != KITE_LOG_ERR)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	pthread_mutex_lock(&rl_lock);
	if (!rl->start_ns || now - rl->start_ns >= KITE_LOG_RL_SECONDS * 1000000000ull) {
		rl->start_ns = now ? now : 1;
		rl->lines = 0;
	}
	write = rl->lines < KITE_LOG_RL_BURST;
	if (write) {
		rl->lines++;
		reported = rl->suppressed;
		rl->suppressed = 0;
	} else {
		rl->suppressed++;
		rl->fmt = fmt;
		rl->level = level;
		if (!rl->pending) {
			rl->pending = 1;
			rl->next = rl_pending;
			rl_pending = rl;
		}
	}
	pthread_mutex_unlock(&rl_lock);
	if (!write) {
		if (level == KITE_LOG_ERR)
			snprintf(last_err, sizeof(last_err), "%s", line);
		return;
	}
	if (reported)
		kite_log(level, "%s [%llu similar lines suppressed]", line, reported);
	else
		kite_log(level, "%s", line);
}

/* rl_lock held */
static void rl_report(struct kite_log_rl *rl)
{
	if (rl->suppressed)
		kite_log(rl->level, "%llu similar lines suppressed: \"%s\"", rl->suppressed, rl->fmt);
	rl->suppressed = 0;
	rl->pending = 0;
}

void kite_log_rl_flush(void)
{
	pthread_mutex_lock(&rl_lock);
	for (struct kite_log_rl *rl = rl_pending; rl; rl = rl->next)
		rl_report(rl);
	rl_pending = NULL;
	pthread_mutex_unlock(&rl_lock);
}

void kite_log_rl_release(struct kite_log_rl *rl)
{
	pthread_mutex_lock(&rl_lock);
	if (rl->pending) {
		for (struct kite_log_rl **p = &rl_pending; *p; p = &(*p)->next)
			if (*p == rl) {
				*p = rl->next;
				break;
			}
		rl_report(rl);
	}
	pthread_mutex_unlock(&rl_lock);
}
