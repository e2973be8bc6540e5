/* SPDX-License-Identifier: MIT */
/*
 * kite-dpu's config is strict, like kite's: an unknown top-level key, or an unknown key in a volume,
 * the switch section, a port (by its type), a port's vxlan or a VNI is refused with one line naming
 * it; every config the tests, the benchmarks and the docs use is accepted. Only the check runs
 * (dpu_config_check), so nothing is created.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../../../dpu/dpu.h"
#include "../../../../dpu/poller.h"

/* main.c's, never reached by a check */
struct evloop *dpu_loop(void)
{
	return NULL;
}

struct dpu_poller *dpu_poller_pick(int index)
{
	(void)index;
	return NULL;
}

static int check(const char *json, char *err, size_t errlen)
{
	cJSON *root = cJSON_Parse(json);
	assert_non_null(root);
	err[0] = '\0';
	int r = dpu_config_check(root, err, errlen);
	cJSON_Delete(root);
	return r;
}

/* The configs of docs/dpu.md, dpu/README.md, dpu/net/service.c's header, tests/dpu and bench/dpu. */
static const char *const good[] = {
	"{\"cores\": [-1], \"control\": \"/tmp/dpudoc/ctl.sock\", \"volumes\": [{\"name\": \"vol0\", "
	"\"image\": \"/tmp/dpudoc/vol0.img\", \"socket\": \"/tmp/dpudoc/vol0.sock\", \"queues\": 2}]}",
	"{\"cores\": [1], \"control\": \"/run/kite-dpu.sock\", \"volumes\": [{\"name\": \"vol0\", "
	"\"image\": \"/var/lib/kite/vol0.img\", \"socket\": \"/run/vol0.sock\", \"queues\": 2, \"readonly\": false, "
	"\"iops\": 0, \"bps\": 0, \"core\": 0, \"direct\": true}]}",
	"{\"cores\": [-1], \"volumes\": [{\"name\": \"rw\", \"image\": \"a\", \"socket\": \"b\", \"queues\": 2},"
	"{\"name\": \"ro\", \"image\": \"c\", \"socket\": \"d\", \"readonly\": true},"
	"{\"name\": \"mal\", \"image\": \"e\", \"socket\": \"f\"}]}",
	"{\"volumes\": [{\"name\": \"r\", \"image\": \"i\", \"socket\": \"s\", \"queues\": 4}]}",
	"{\"cores\": [0], \"volumes\": [{\"name\": \"b\", \"image\": \"img\", \"socket\": \"sock\", "
	"\"key\": \"00\"}]}",
	"{\"switch\": {\"core\": 0, \"fdb_age\": 300, \"pool_frames\": 4096, \"ports\": ["
	"{\"name\": \"vm0\", \"type\": \"vhost\", \"socket\": \"/run/vm0.sock\", \"mac\": \"02:00:00:00:00:01\", "
	"\"mtu\": 1500, \"vlan\": 10, \"rate_pps\": 0, \"rate_bps\": 0, \"rate_pps_burst\": 0, \"rate_bps_burst\": 0, "
	"\"acl_in\": [\"allow proto tcp dport 22\"], \"acl_in_default\": \"deny\", \"acl_out\": [], "
	"\"acl_out_default\": \"allow\"},"
	"{\"name\": \"up0\", \"type\": \"tap\", \"ifname\": \"kite-up0\", \"mtu\": 1600, \"up\": true, "
	"\"vxlan\": {\"local_ip\": \"192.168.50.1\", \"local_mac\": \"02:00:00:00:00:02\", \"gw_mac\": \"02:00:00:00:00:03\"}},"
	"{\"name\": \"tr0\", \"type\": \"tap\", \"ifname\": \"kite-tr0\", \"trunk\": [10, 20], \"native_vlan\": 0},"
	"{\"name\": \"up1\", \"type\": \"dpdk\", \"device\": \"net_af_packet0\", \"port\": 0, \"mtu\": 1600, "
	"\"eal\": [\"--no-huge\", \"-m\", \"256\", \"--no-pci\", \"--no-shconf\", \"--vdev=net_af_packet0,iface=eth1\"], "
	"\"vxlan\": {\"local_ip\": \"192.0.2.1\", \"local_mac\": \"02:00:00:00:00:04\", \"gw_mac\": \"02:00:00:00:00:05\"}}],"
	"\"vnis\": [{\"vni\": 5000, \"vlan\": 10, \"vteps\": [\"192.168.50.2\"]}]}}",
	"{\"cores\": [1], \"switch\": {\"ports\": [{\"name\": \"vm0\", \"type\": \"vhost\", \"socket\": \"s0\", "
	"\"vlan\": 10}, {\"name\": \"tr0\", \"type\": \"vhost\", \"socket\": \"s1\", \"trunk\": [10, 20]}, "
	"{\"name\": \"vm1\", \"socket\": \"s2\", \"mtu\": 9000}]}}",
	"{\"switch\": {\"ports\": [{\"name\": \"up0\", \"type\": \"dpdk\", \"device\": \"net_nope0\", "
	"\"eal\": [\"--no-huge\", \"-m\", \"64\", \"--no-pci\", \"--no-shconf\"]}]}}",
	"{\"switch\": {}}",
	"{\"cores\": [0], \"spin_usecs\": 0, \"volumes\": []}",
	"{\"spin_usecs\": 1000}",
	"{}",
};

static void test_good_configs(void **state)
{
	char err[512];

	(void)state;
	for (unsigned i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (check(good[i], err, sizeof(err)) != 0)
			fail_msg("config %u refused: %s", i, err);
	}
}

/* Each refused config and a piece of the one line that must name what is wrong. */
static const struct { const char *json, *says; } bad[] = {
	{ "{\"volume\": []}", "top level: unknown key 'volume' (known: cores, control," },
	{ "{\"swtich\": {}}", "unknown key 'swtich'" },
	{ "{\"volumes\": [{\"name\": \"vol0\", \"image\": \"i\", \"socket\": \"s\", \"iosp\": 5}]}",
	  "volumes[0] vol0: unknown key 'iosp'" },
	{ "{\"volumes\": [{\"name\": \"a\", \"image\": \"i\", \"socket\": \"s\"}, {\"name\": \"b\", \"imgae\": \"i\"}]}",
	  "volumes[1] b: unknown key 'imgae'" },
	{ "{\"volumes\": {\"name\": \"a\"}}", "\"volumes\" must be an array" },
	{ "{\"volumes\": [3]}", "volumes[0]: not an object" },
	{ "{\"switch\": {\"fdb_aeg\": 30}}", "switch: unknown key 'fdb_aeg'" },
	{ "{\"switch\": {\"ports\": [{\"name\": \"vm0\", \"type\": \"vhost\", \"socket\": \"s\", \"vlna\": 10}]}}",
	  "switch: ports[0] vm0: unknown key 'vlna'" },
	{ "{\"switch\": {\"ports\": [{\"name\": \"up0\", \"type\": \"tap\", \"mac\": \"02:00:00:00:00:01\"}]}}",
	  "switch: ports[0] up0: unknown key 'mac'" },
	{ "{\"switch\": {\"ports\": [{\"name\": \"vm0\", \"socket\": \"s\", \"eal\": []}]}}",
	  "switch: ports[0] vm0: unknown key 'eal'" },
	{ "{\"switch\": {\"ports\": [{\"name\": \"up0\", \"type\": \"tap\", \"vxlan\": {\"local_ip\": \"1.2.3.4\", "
	  "\"gw_mca\": \"x\"}}]}}", "switch: ports[0] up0: unknown key 'gw_mca'" },
	{ "{\"switch\": {\"ports\": [{\"name\": \"x\", \"type\": \"vhots\"}]}}", "type must be vhost, tap or dpdk" },
	{ "{\"switch\": {\"vnis\": [{\"vni\": 1, \"vlan\": 2, \"vtep\": []}]}}", "switch: vnis[0]: unknown key 'vtep'" },
	{ "{\"switch\": {\"ports\": {}}}", "switch: \"ports\" must be an array" },
	{ "{\"switch\": []}", "\"switch\" must be an object" },
	{ "{\"cores\": \"1\"}", "\"cores\" must be a list" },
	{ "{\"cores\": [1, 5000]}", "\"cores\" must be a list of CPU numbers" },
	{ "{\"control\": 7}", "\"control\" must be a socket path string" },
	{ "{\"spin_usecs\": 1001}", "\"spin_usecs\" must be a whole number of microseconds, 0..1000" },
	{ "{\"spin_usecs\": -1}", "\"spin_usecs\" must be a whole number" },
	{ "{\"spin_usecs\": 2.5}", "\"spin_usecs\" must be a whole number" },
	{ "{\"spin_usecs\": \"10\"}", "\"spin_usecs\" must be a whole number" },
};

static void test_bad_configs(void **state)
{
	char err[512];

	(void)state;
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(check(bad[i].json, err, sizeof(err)), -1);
		if (!strstr(err, bad[i].says))
			fail_msg("config %u: error '%s' does not say '%s'", i, err, bad[i].says);
		assert_null(strchr(err, '\n'));
	}
}

/* "spin_usecs" -> every poller's spin bound in ns; absent (or no file): the poller's default */
static void test_spin_usecs(void **state)
{
	static const struct { const char *json; uint64_t ns; } cases[] = {
		{ "{}", POLLER_SPIN_DEFAULT_NS }, { "{\"spin_usecs\": 0}", 0 }, { "{\"spin_usecs\": 25}", 25000 },
		{ "{\"spin_usecs\": 1000}", 1000000 },
	};

	(void)state;
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *root = cJSON_Parse(cases[i].json);
		char err[256];

		assert_int_equal(dpu_config_check(root, err, sizeof(err)), 0);
		assert_int_equal(dpu_config_spin_ns(root), cases[i].ns);
		cJSON_Delete(root);
	}
	assert_int_equal(dpu_config_spin_ns(NULL), POLLER_SPIN_DEFAULT_NS);
}

static void test_check_keys(void **state)
{
	static const char *const known[] = { "a", "bb", NULL };
	cJSON *o = cJSON_Parse("{\"a\": 1, \"bb\": 2}");
	char err[64];

	(void)state;
	assert_int_equal(dpu_config_check_keys(o, "obj", known, err, sizeof(err)), 0);
	cJSON_AddNumberToObject(o, "c", 3);
	assert_int_equal(dpu_config_check_keys(o, "obj", known, err, sizeof(err)), -1);
	assert_string_equal(err, "obj: unknown key 'c' (known: a, bb)");
	/* a short buffer holds a truncated line, never more */
	assert_int_equal(dpu_config_check_keys(o, "obj", known, err, 12), -1);
	assert_int_equal(strlen(err), 11);
	cJSON_Delete(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_configs),
		cmocka_unit_test(test_bad_configs),
		cmocka_unit_test(test_check_keys),
		cmocka_unit_test(test_spin_usecs),
	};
	dpu_blk_init();     /* registers "volumes"; the switch registers "switch" from a constructor */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
