/* SPDX-License-Identifier: MIT */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kite/log.h"

static const char *log_prog = "kite";
static enum kite_log_level log_max = KITE_LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static FILE *log_out;        /* NULL = stderr */
static __thread char last_err[1024];   /* this thread's latest error message */

static const char *const level_names[] = { "error", "warning", "info", "debug" };

void kite_log_init(const char *prog, enum kite_log_level max_level)
{
	log_prog = prog;
	log_max = max_level;
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
