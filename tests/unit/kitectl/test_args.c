/* SPDX-License-Identifier: MIT */
/* kitectl's argument handling (kitectl/args.c): sizes, numbers, option scanning, name escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kitectl.h"

static void test_size(void **state)
{
	static const struct { const char *in; unsigned long long mib; } good[] = {
		{ "64", 64 }, { "64M", 64 }, { "64MiB", 64 }, { "1G", 1024 }, { "1GiB", 1024 }, { "2g", 2048 },
		{ "1T", 1048576 }, { "2048K", 2 }, { "4294967295", 4294967295ULL }, { "4095T", 4095ULL << 20 },
	};
	static const char *const bad[] = {
		"", "0", "0G", "-1", "+5", "1.5G", "12Q", "1GB", "G", "1024 ", " 1", "1000K", "4294967296",
		"4096T", "99999999999999999999", "18014398509481984K", NULL,
	};
	unsigned long long v;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = 0;
		assert_int_equal(kc_parse_size_mib(good[i].in, &v), 0);
		assert_int_equal(v, good[i].mib);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(kc_parse_size_mib(bad[i], &v), -1);
}

static void test_fmt(void **state)
{
	char b[16];

	(void)state;
	assert_string_equal(kc_fmt_mib(128, b, sizeof(b)), "128M");
	assert_string_equal(kc_fmt_mib(1024, b, sizeof(b)), "1G");
	assert_string_equal(kc_fmt_mib(1536, b, sizeof(b)), "1.5G");
	assert_string_equal(kc_fmt_mib(3 << 20, b, sizeof(b)), "3T");
	assert_string_equal(kc_fmt_mib(0, b, sizeof(b)), "0M");
}

static void test_uint(void **state)
{
	unsigned long long v;

	(void)state;
	assert_int_equal(kc_parse_uint("4094", 4094, &v), 0);
	assert_int_equal(v, 4094);
	assert_int_equal(kc_parse_uint("4095", 4094, &v), -1);
	assert_int_equal(kc_parse_uint("-1", 10, &v), -1);
	assert_int_equal(kc_parse_uint("1x", 10, &v), -1);
	assert_int_equal(kc_parse_uint("", 10, &v), -1);
	assert_int_equal(kc_parse_uint(NULL, 10, &v), -1);
	assert_int_equal(kc_parse_uint("99999999999999999999999", ~0ULL, &v), -1);
}

static void test_cpu_list(void **state)
{
	static const char *const bad[] = { "", ",", "0,", ",0", "0,,1", "-1", "1024", "a", "0 ,1", "0;1", "+1", "1.0",
					   "99999999", NULL };
	char many[512] = "0";
	int cpus[KC_MAX_CPUS];
	size_t n;

	(void)state;
	assert_int_equal(kc_parse_cpu_list("3", cpus, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(cpus[0], 3);
	assert_int_equal(kc_parse_cpu_list("1,0,1023", cpus, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(cpus[0], 1);
	assert_int_equal(cpus[1], 0);
	assert_int_equal(cpus[2], 1023);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(kc_parse_cpu_list(bad[i], cpus, &n), -1);
	for (int i = 1; i < KC_MAX_CPUS; i++)
		strcat(many, ",7");
	assert_int_equal(kc_parse_cpu_list(many, cpus, &n), 0);    /* 64: the limit */
	assert_int_equal(n, KC_MAX_CPUS);
	assert_int_equal(cpus[63], 7);
	strcat(many, ",7");
	assert_int_equal(kc_parse_cpu_list(many, cpus, &n), -1);   /* 65 */
}

static void test_parse(void **state)
{
	struct kc kc = { .sock = "/default" };
	struct kc_opt o[] = { { "kernel", KC_VALUE, NULL }, { "net", KC_OPTVALUE, NULL }, { "start", KC_FLAG, NULL } };
	char *argv[] = { "web1", "--kernel=/k", "--net", "--json", "--sock", "/s", "--start", "--", "--x" };
	char *argv2[] = { "--net", "7", "a" };
	char *bad1[] = { "--kernel" }, *bad2[] = { "--start=1" }, *bad3[] = { "a", "b" }, *bad4[] = { "-k" },
	     *bad5[] = { "--nope" };
	const char *pos[2];
	size_t n;

	(void)state;
	assert_int_equal(kc_parse(&kc, "t", 9, argv, o, 3, pos, 2, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(pos[0], "web1");
	assert_string_equal(pos[1], "--x");          /* after "--": a word */
	assert_string_equal(o[0].value, "/k");
	assert_string_equal(o[1].value, "");         /* --net without a VLAN: the next word is no number */
	assert_string_equal(o[2].value, "");
	assert_true(kc.json);
	assert_string_equal(kc.sock, "/s");
	assert_int_equal(kc_parse(&kc, "t", 3, argv2, o, 3, pos, 2, &n), 0);
	assert_string_equal(o[1].value, "7");
	assert_null(o[0].value);                     /* reset between parses */
	assert_int_equal(n, 1);
	assert_int_equal(kc_parse(&kc, "t", 1, bad1, o, 3, pos, 2, &n), -1);
	assert_int_equal(kc_parse(&kc, "t", 1, bad2, o, 3, pos, 2, &n), -1);
	assert_int_equal(kc_parse(&kc, "t", 2, bad3, o, 3, pos, 1, &n), -1);
	assert_int_equal(kc_parse(&kc, "t", 1, bad4, o, 3, pos, 1, &n), -1);
	assert_int_equal(kc_parse(&kc, "t", 1, bad5, o, 3, pos, 1, &n), -1);
}

static void test_escape(void **state)
{
	char *e;

	(void)state;
	e = kc_escape("web-1_A");
	assert_string_equal(e, "web-1_A");
	free(e);
	e = kc_escape("../a/b?c=d e%");
	assert_string_equal(e, "%2E%2E%2Fa%2Fb%3Fc%3Dd%20e%25");
	free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size), cmocka_unit_test(test_fmt), cmocka_unit_test(test_uint),
		cmocka_unit_test(test_cpu_list),
		cmocka_unit_test(test_parse), cmocka_unit_test(test_escape),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
