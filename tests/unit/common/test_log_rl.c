/* SPDX-License-Identifier: MIT */
/* Rate-limited log lines (common/log.c): a flood from one call site writes at most
 * KITE_LOG_RL_BURST lines per window, every line is accounted for (written, or counted in a later
 * line or in the flush), an object's budget is its own, and a suppressed error still becomes the
 * thread's last error. Bounds are computed from the measured duration, not assumed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "kite/log.h"

#define FLOOD 1000

static char path[64];

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Lines in the log file containing `what`; the sum of "[N similar lines suppressed]" on them and of
 * "N similar lines suppressed: ..." lines naming `fmt_part`. */
static void count(const char *what, const char *fmt_part, unsigned *lines, unsigned long long *suppressed)
{
	FILE *f = fopen(path, "r");
	char line[2048];

	assert_non_null(f);
	*lines = 0;
	*suppressed = 0;
	while (fgets(line, sizeof(line), f)) {
		const char *b;
		if (strstr(line, "similar lines suppressed: ")) {
			if (strstr(line, fmt_part))   /* "test: warning: N similar lines suppressed: ..." */
				*suppressed += strtoull(strstr(strstr(line, ": ") + 2, ": ") + 2, NULL, 10);
		} else if (strstr(line, what)) {
			(*lines)++;
			if ((b = strstr(line, "[")))
				*suppressed += strtoull(b + 1, NULL, 10);
		}
	}
	fclose(f);
}

static void flood_one_site(void **state)
{
	unsigned lines;
	unsigned long long suppressed;

	(void)state;
	double t0 = now_s();
	for (int i = 0; i < FLOOD; i++)
		log_warn_rl("dev0: flood line %d", i);
	double windows = (now_s() - t0) / KITE_LOG_RL_SECONDS + 1;
	kite_log_rl_flush();
	count("dev0: flood line", "flood line %d", &lines, &suppressed);
	assert_true(lines >= 1);
	assert_true(lines <= (unsigned)(KITE_LOG_RL_BURST * (windows + 1)));
	assert_int_equal(lines + suppressed, FLOOD);   /* nothing lost without a count */
}

static void budgets_per_object(void **state)
{
	struct kite_log_rl a = { 0 }, b = { 0 };
	unsigned la, lb;
	unsigned long long sa, sb;

	(void)state;
	for (int i = 0; i < FLOOD; i++)
		log_warn_rl_on(&a, "devA: busy %d", i);
	/* device B's lines are not eaten by A's flood */
	for (int i = 0; i < 3; i++)
		log_info_rl_on(&b, "devB: quiet %d", i);
	kite_log_rl_release(&a);
	kite_log_rl_release(&b);
	count("devA: busy", "devA: busy", &la, &sa);
	count("devB: quiet", "devB: quiet", &lb, &sb);
	assert_int_equal(lb, 3);
	assert_int_equal(sb, 0);
	assert_true(la < FLOOD);
	assert_int_equal(la + sa, FLOOD);
}

static void suppressed_error_is_last_error(void **state)
{
	(void)state;
	for (int i = 0; i < 2 * KITE_LOG_RL_BURST + 5; i++)
		log_err_rl("dev1: error number %d", i);
	/* the budget is spent (the burst went within one window or the later lines counted): whatever
	 * happened to the line, it is this thread's last error */
	assert_string_equal(kite_log_last_error(), "dev1: error number 24");
	kite_log_rl_flush();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(flood_one_site),
		cmocka_unit_test(budgets_per_object),
		cmocka_unit_test(suppressed_error_is_last_error),
	};
	strcpy(path, "/tmp/kite-logrl-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	kite_log_init("test", KITE_LOG_INFO);
	assert_int_equal(kite_log_open(path), 0);
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(path);
	return r;
}
