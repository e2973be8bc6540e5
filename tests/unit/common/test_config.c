/* SPDX-License-Identifier: MIT */
/* Settings: JSON file (good, malformed, unknown keys, wrong types, ranges), flags, validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "kite/config.h"
#include "kite/virtio_options.h"
#include "kite/log.h"

static char tmpdir[] = "/tmp/kite-config-test.XXXXXX";
static char kernel_path[256], config_path[256];

static int setup(void **state)
{
	FILE *f;

	(void)state;
	kite_log_init("test_config", KITE_LOG_ERR);
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(kernel_path, sizeof(kernel_path), "%s/bzImage", tmpdir);
	snprintf(config_path, sizeof(config_path), "%s/vm.json", tmpdir);
	f = fopen(kernel_path, "w");
	if (!f)
		return -1;
	fputs("not really a kernel", f);
	fclose(f);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(kernel_path);
	unlink(config_path);
	rmdir(tmpdir);
	return 0;
}

static void write_config(const char *text)
{
	FILE *f = fopen(config_path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int parse(struct kite_options *o, const char *json)
{
	config_init(o);
	return config_parse_json(o, json, "test.json");
}

static void test_json_good(void **state)
{
	struct kite_options o;

	(void)state;
	assert_int_equal(parse(&o, "{\"kernel\": \"/k\", \"initrd\": \"/i\", \"cmdline\": \"console=ttyS0\","
			 " \"cpus\": 4, \"memory\": 512, \"console\": \"file:/tmp/out\", \"hugepages\": true,"
			 " \"pin_vcpus\": [1, 0], \"kvm\": \"/dev/kvm2\"}"), 0);
	assert_string_equal(o.vm.kernel, "/k");
	assert_string_equal(o.vm.initrd, "/i");
	assert_string_equal(o.vm.cmdline, "console=ttyS0");
	assert_int_equal(o.vm.ncpus, 4);
	assert_int_equal(o.vm.mem_mib, 512);
	assert_int_equal(o.vm.console, KITE_CONSOLE_FILE);
	assert_string_equal(o.vm.console_path, "/tmp/out");
	assert_true(o.vm.hugepages);
	assert_int_equal(o.vm.pin[0], 1);
	assert_int_equal(o.vm.pin[1], 0);
	assert_int_equal(o.vm.pin[2], 1);   /* the list repeats */
	assert_string_equal(o.vm.kvm_path, "/dev/kvm2");
	config_free(&o);

	/* The console on a Unix socket (kited's `kitectl vm console`); an empty path is refused. */
	assert_int_equal(parse(&o, "{\"console\": \"socket:/run/c.sock\"}"), 0);
	assert_int_equal(o.vm.console, KITE_CONSOLE_SOCKET);
	assert_string_equal(o.vm.console_path, "/run/c.sock");
	config_free(&o);
	assert_int_equal(parse(&o, "{\"console\": \"socket:\"}"), -1);
	config_free(&o);

	/* Empty object: defaults stay. */
	assert_int_equal(parse(&o, "{}"), 0);
	assert_null(o.vm.kernel);
	assert_int_equal(o.vm.ncpus, 1);
	assert_int_equal(o.vm.mem_mib, KITE_DEFAULT_MEM_MIB);
	assert_int_equal(o.vm.console, KITE_CONSOLE_STDIO);
	assert_string_equal(o.vm.kvm_path, KITE_DEFAULT_KVM);
	assert_int_equal(o.vm.pin[0], -1);
	config_free(&o);

	assert_int_equal(parse(&o, "{\"pin_vcpus\": \"3,2\", \"console\": \"none\", \"initrd\": null}"), 0);
	assert_int_equal(o.vm.pin[0], 3);
	assert_int_equal(o.vm.pin[1], 2);
	assert_int_equal(o.vm.console, KITE_CONSOLE_NONE);
	assert_null(o.vm.initrd);
	assert_int_equal(o.vm.npin_io, 0);       /* I/O threads: not pinned, on, huge pages by default */
	assert_false(o.vm.no_iothreads);
	assert_false(o.vm.no_hugepages);
	assert_false(o.vm.shared_memory);        /* shared guest RAM only when asked for or needed */
	config_free(&o);

	assert_int_equal(parse(&o, "{\"shared_memory\": true}"), 0);
	assert_true(o.vm.shared_memory);
	config_free(&o);

	assert_int_equal(parse(&o, "{\"pin_io\": \"1,0\", \"iothreads\": false, \"hugepages\": false}"), 0);
	assert_int_equal(o.vm.npin_io, 2);
	assert_int_equal(o.vm.pin_io[0], 1);
	assert_int_equal(o.vm.pin_io[1], 0);
	assert_true(o.vm.no_iothreads);
	assert_false(o.vm.hugepages);
	assert_true(o.vm.no_hugepages);
	config_free(&o);
}

static void test_json_bad(void **state)
{
	static const char *const bad[] = {
		"",                                   /* not JSON */
		"{\"cpus\": 2",                       /* truncated */
		"[1, 2]",                             /* not an object */
		"{\"cpu\": 2}",                       /* unknown key */
		"{\"kernel\": 5}",                    /* wrong type */
		"{\"cpus\": \"2\"}",
		"{\"hugepages\": 1}",
		"{\"iothreads\": \"on\"}",
		"{\"shared_memory\": 1}",
		"{\"pin_io\": \"0,,1\"}",
		"{\"cpus\": 0}",                      /* out of range */
		"{\"cpus\": 65}",
		"{\"cpus\": 1.5}",                    /* not an integer */
		"{\"cpus\": -1}",
		"{\"memory\": 15}",
		"{\"memory\": 1e300}",
		"{\"console\": \"serial\"}",
		"{\"console\": \"file:\"}",
		"{\"pin_vcpus\": \"0,,1\"}",
		"{\"pin_vcpus\": \"a\"}",
		"{\"pin_vcpus\": [0, -1]}",
		"{\"pin_vcpus\": {}}",
		"{\"cpus\": 2, \"cpus\": 3}",         /* duplicate */
	};
	struct kite_options o;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ret = parse(&o, bad[i]);

		if (ret != -1)
			fail_msg("accepted bad config: %s", bad[i]);
		config_free(&o);
	}
}

static int cli(struct kite_options *o, int argc, const char *const *argv)
{
	config_init(o);
	return cli_parse(o, argc, (char **)argv);
}

static void test_cli(void **state)
{
	struct kite_options o;
	char config_arg[300];

	(void)state;
	{
		const char *argv[] = { "kite", "--kernel", "/k", "--cpus", "2", "--memory", "64", "--console",
				       "none", "--pin-vcpus", "0", "--stats", "--hugepages", NULL };

		assert_int_equal(cli(&o, 13, argv), 0);
		assert_string_equal(o.vm.kernel, "/k");
		assert_int_equal(o.vm.ncpus, 2);
		assert_int_equal(o.vm.mem_mib, 64);
		assert_int_equal(o.vm.console, KITE_CONSOLE_NONE);
		assert_int_equal(o.vm.pin[1], 0);
		assert_true(o.stats);
		assert_true(o.vm.hugepages);
		config_free(&o);
	}
	/* Flags override the file, whatever their position. */
	write_config("{\"cpus\": 3, \"memory\": 128, \"cmdline\": \"from-file\"}");
	snprintf(config_arg, sizeof(config_arg), "--config=%s", config_path);
	{
		const char *argv[] = { "kite", "--cpus", "2", config_arg, NULL };

		assert_int_equal(cli(&o, 4, argv), 0);
		assert_int_equal(o.vm.ncpus, 2);
		assert_int_equal(o.vm.mem_mib, 128);
		assert_string_equal(o.vm.cmdline, "from-file");
		config_free(&o);
	}
	{
		const char *argv[] = { "kite", "--pin-io", "1", "--iothreads", "off", "--hugepages=off", "--shared-memory",
				       NULL };

		assert_int_equal(cli(&o, 7, argv), 0);
		assert_true(o.vm.shared_memory);
		assert_int_equal(o.vm.npin_io, 1);
		assert_int_equal(o.vm.pin_io[0], 1);
		assert_true(o.vm.no_iothreads);
		assert_true(o.vm.no_hugepages);
		assert_false(o.vm.hugepages);
		config_free(&o);
	}
	{
		const char *argv[] = { "kite", "--help", NULL };

		assert_int_equal(cli(&o, 2, argv), 0);
		assert_true(o.help);
		config_free(&o);
	}
	{
		static const char *const bad[][3] = {
			{ "kite", "--cpus", "0" }, { "kite", "--cpus", "x" }, { "kite", "--memory", "-5" },
			{ "kite", "--memory", "1G" }, { "kite", "--console", "tty" },
			{ "kite", "--pin-vcpus", "1,x" }, { "kite", "--bogus", "1" }, { "kite", "stray", "arg" },
			{ "kite", "--config", "/nonexistent/kite.json" }, { "kite", "--iothreads", "maybe" },
			{ "kite", "--pin-io", "x" }, { "kite", "--hugepages=sometimes", "--stats" },
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			if (cli(&o, 3, bad[i]) != -1)
				fail_msg("accepted bad flags: %s %s", bad[i][1], bad[i][2]);
			config_free(&o);
		}
	}
	{
		const char *argv[] = { "kite", "--kernel", NULL };

		assert_int_equal(cli(&o, 2, argv), -1);
		config_free(&o);
	}
	write_config("{\"cpus\": 3, \"colour\": \"blue\"}");
	{
		const char *argv[] = { "kite", config_arg, NULL };

		assert_int_equal(cli(&o, 2, argv), -1);
		config_free(&o);
	}
}

static void test_validate(void **state)
{
	struct kite_options o;

	(void)state;
	config_init(&o);
	assert_int_equal(config_validate(&o.vm), -1);                 /* no kernel */
	assert_int_equal(config_set_string(&o.kernel, &o.vm.kernel, kernel_path), 0);
	assert_int_equal(config_validate(&o.vm), 0);
	o.vm.mem_mib = 1ULL << 30;                                    /* 1 PiB: more than the host */
	assert_int_equal(config_validate(&o.vm), -1);
	o.vm.mem_mib = 8;
	assert_int_equal(config_validate(&o.vm), -1);
	o.vm.mem_mib = 64;
	o.vm.ncpus = 65;
	assert_int_equal(config_validate(&o.vm), -1);
	o.vm.ncpus = 1;
	o.vm.pin[0] = 100000;
	assert_int_equal(config_validate(&o.vm), -1);
	o.vm.pin[0] = 0;
	assert_int_equal(config_validate(&o.vm), 0);
	assert_int_equal(config_set_string(&o.initrd, &o.vm.initrd, "/nonexistent/initrd"), 0);
	assert_int_equal(config_validate(&o.vm), -1);
	assert_int_equal(config_set_string(&o.initrd, &o.vm.initrd, tmpdir), 0);  /* a directory */
	assert_int_equal(config_validate(&o.vm), -1);
	assert_int_equal(config_set_string(&o.initrd, &o.vm.initrd, NULL), 0);
	assert_int_equal(config_set_string(&o.kernel, &o.vm.kernel, "/nonexistent/bzImage"), 0);
	assert_int_equal(config_validate(&o.vm), -1);
	config_free(&o);

	/* Bundled guest fallback: found next to the binary, or one error. */
	config_init(&o);
	assert_int_equal(config_default_kernel(&o, "/nonexistent"), -1);
	assert_null(o.vm.kernel);
	{
		char guest_dir[300], guest[400];
		FILE *f;

		snprintf(guest_dir, sizeof(guest_dir), "%s/guest", tmpdir);
		snprintf(guest, sizeof(guest), "%s/%s", tmpdir, KITE_BUNDLED_GUEST);
		assert_int_equal(mkdir(guest_dir, 0755), 0);
		f = fopen(guest, "w");
		assert_non_null(f);
		fputs("x", f);
		fclose(f);
		assert_int_equal(config_default_kernel(&o, tmpdir), 0);
		assert_string_equal(o.vm.kernel, guest);
		assert_string_equal(o.vm.cmdline, KITE_BUNDLED_CMDLINE);
		unlink(guest);
		rmdir(guest_dir);
	}
	config_free(&o);
}

/* Device options land in the config (not in globals): flags and JSON add up, config_free releases them. */
static void test_virtio_options(void **state)
{
	struct kite_options o;
	const struct virtio_options *v = &o.vm.virtio;

	(void)state;
	write_config("{\"blk\": [{\"path\": \"/a.img\", \"readonly\": true}, \"/b.img,transport=mmio\"],"
		     " \"rng\": true, \"balloon\": \"pages=7,stats=0\"}");
	{
		char config_arg[300];
		const char *argv[] = { "kite", config_arg, "--blk", "path=/c.img,cache=none,id=disk,poll=40", "--console-virtio",
				       "file:/tmp/hvc", NULL };

		snprintf(config_arg, sizeof(config_arg), "--config=%s", config_path);
		assert_int_equal(cli(&o, 6, argv), 0);
	}
	assert_int_equal(v->nblk, 3);
	assert_string_equal(v->blk[0].path, "/a.img");
	assert_true(v->blk[0].readonly);
	assert_int_equal(v->blk[1].transport, VIRTIO_TRANSPORT_MMIO);
	assert_string_equal(v->blk[2].id, "disk");
	assert_int_equal(v->blk[2].cache, BLK_CACHE_NONE);
	assert_int_equal(v->blk[2].poll_us, 40);
	assert_true(v->blk[2].poll_set);
	assert_false(v->blk[0].poll_set);         /* the default ceiling applies */
	assert_true(v->rng);
	assert_true(v->balloon.enabled);
	assert_int_equal(v->balloon.pages, 7);
	assert_int_equal(v->balloon.stats, 0);
	assert_string_equal(v->console, "file:/tmp/hvc");
	assert_int_equal(v->nnet, 0);
	config_free(&o);
	assert_int_equal(v->nblk, 0);
	assert_null(v->console);
	/* a second parse starts from nothing */
	assert_int_equal(parse(&o, "{\"blk\": [\"/d.img\"]}"), 0);
	assert_int_equal(v->nblk, 1);
	assert_string_equal(v->blk[0].path, "/d.img");
	assert_false(v->rng);
	config_free(&o);
	assert_int_equal(parse(&o, "{\"blk\": [\"/d.img,poll=1001\"]}"), -1);   /* at most 1000 us */
	config_free(&o);
	assert_int_equal(parse(&o, "{\"blk\": [\"/d.img,poll=x\"]}"), -1);
	config_free(&o);
	/* adaptive polling: the JSON object form and the string form */
	assert_int_equal(parse(&o, "{\"blk\": [{\"path\": \"/e.img\", \"poll\": \"adaptive\", \"poll_max\": 200,"
			     " \"poll_budget\": 25}, \"/f.img,poll=adaptive\"]}"), 0);
	assert_true(v->blk[0].poll_adaptive && v->blk[0].poll_set && v->blk[0].poll_max_set);
	assert_int_equal(v->blk[0].poll_us, 200);
	assert_int_equal(v->blk[0].poll_budget, 25);
	assert_true(v->blk[1].poll_adaptive);
	assert_false(v->blk[1].poll_max_set);     /* BLK_POLL_MAX_DEFAULT_US applies */
	assert_int_equal(v->blk[1].poll_budget, 0);
	config_free(&o);
	assert_int_equal(parse(&o, "{\"blk\": [\"/d.img,poll=20,poll_max=40\"]}"), -1);     /* max: adaptive only */
	config_free(&o);
	/* without poll= the disk polls adaptively (BLK_POLL_DEFAULT_ADAPTIVE): poll_max= and poll_budget= apply */
	assert_int_equal(parse(&o, "{\"blk\": [\"/d.img,poll_max=40,poll_budget=10\"]}"), 0);
	assert_false(v->blk[0].poll_set);
	assert_true(v->blk[0].poll_max_set);
	assert_int_equal(v->blk[0].poll_us, 40);
	assert_int_equal(v->blk[0].poll_budget, 10);
	config_free(&o);
	assert_int_equal(parse(&o, "{\"blk\": [\"/d.img,poll=0,poll_max=40\"]}"), -1);      /* off has no window */
	config_free(&o);
	assert_int_equal(parse(&o, "{\"blk\": [\"/d.img,poll=0\"]}"), 0);
	assert_true(v->blk[0].poll_set);
	assert_false(v->blk[0].poll_adaptive);
	assert_int_equal(v->blk[0].poll_us, 0);
	config_free(&o);
	assert_int_equal(parse(&o, "{\"blk\": [\"/d.img,poll=adaptive,poll_max=1001\"]}"), -1);
	config_free(&o);
	assert_int_equal(parse(&o, "{\"blk\": [\"/d.img,poll=adaptive,poll_budget=0\"]}"), -1);
	config_free(&o);
	assert_int_equal(parse(&o, "{\"blk\": [\"/d.img,poll=adaptive,poll_budget=101\"]}"), -1);
	config_free(&o);
	/* mapped reads: on unless map=off (string or object form) */
	assert_int_equal(parse(&o, "{\"blk\": [\"/d.img\", \"/e.img,map=off\", {\"path\": \"/f.img\", \"map\": false},"
			     " \"/g.img,map=on\"]}"), 0);
	assert_false(v->blk[0].no_map);
	assert_true(v->blk[1].no_map);
	assert_true(v->blk[2].no_map);
	assert_false(v->blk[3].no_map);
	config_free(&o);
	assert_int_equal(parse(&o, "{\"blk\": [\"/d.img,map=maybe\"]}"), -1);
	config_free(&o);
}

/* --vhost-user-blk / --vhost-user-net and their JSON arrays: every key, several of each, refusals. */
static void test_vhost_user_options(void **state)
{
	struct kite_options o;
	const struct virtio_options *v = &o.vm.virtio;
	static const char *const bad[] = {
		"{\"vhost_user_blk\": [{\"queues\": 2}]}",                          /* no socket */
		"{\"vhost_user_blk\": [\"socket=/s,mac=52:54:00:00:00:01\"]}",      /* mac is net's */
		"{\"vhost_user_blk\": [\"socket=/s,queues=9\"]}",                   /* 1..8 */
		"{\"vhost_user_blk\": [\"socket=/s,queues=0\"]}",
		"{\"vhost_user_blk\": [\"socket=/s,transport=isa\"]}",
		"{\"vhost_user_blk\": [\"socket=/s,reconnect=-1\"]}",
		"{\"vhost_user_blk\": [\"socket=/s,mem_timeout=0\"]}",                /* 1..600 s */
		"{\"vhost_user_net\": [\"socket=/s,mem_timeout=601\"]}",
		"{\"vhost_user_net\": [\"socket=/s,mac=01:00:00:00:00:01\"]}",      /* multicast */
		"{\"vhost_user_net\": [\"socket=/s,mtu=67\"]}",
		"{\"vhost_user_net\": [{\"socket\": \"/s\", \"bogus\": 1}]}",
		"{\"vhost_user_net\": {\"socket\": \"/s\"}}",                     /* not an array */
		"{\"vhost_user_net\": [\"/s\"]}",                                  /* not key=value */
	};

	(void)state;
	write_config("{\"vhost_user_blk\": [{\"socket\": \"/run/a.sock\", \"queues\": 2, \"reconnect\": 30, \"mem_timeout\": 45},"
		     " \"socket=/run/b.sock,transport=mmio\"],"
		     " \"vhost_user_net\": [{\"socket\": \"/run/n.sock\", \"mac\": \"52:54:00:aa:bb:cc\", \"mtu\": 9000}]}");
	{
		char config_arg[300];
		const char *argv[] = { "kite", config_arg, "--vhost-user-blk", "socket=/run/c.sock", "--vhost-user-net",
				       "socket=/run/m.sock,queues=1,transport=mmio,reconnect=0,mem_timeout=600", NULL };

		snprintf(config_arg, sizeof(config_arg), "--config=%s", config_path);
		assert_int_equal(cli(&o, 6, argv), 0);
	}
	assert_int_equal(v->nvu_blk, 3);
	assert_string_equal(v->vu_blk[0].socket, "/run/a.sock");
	assert_int_equal(v->vu_blk[0].queues, 2);
	assert_int_equal(v->vu_blk[0].reconnect, 30);
	assert_int_equal(v->vu_blk[0].mem_timeout, 45);
	assert_int_equal(v->vu_blk[2].mem_timeout, 0);     /* default: KITE_VHOST_USER_MEM_REPLY_MS */
	assert_int_equal(v->vu_blk[0].transport, VIRTIO_TRANSPORT_PCI);
	assert_int_equal(v->vu_blk[1].transport, VIRTIO_TRANSPORT_MMIO);
	assert_string_equal(v->vu_blk[2].socket, "/run/c.sock");
	assert_int_equal(v->vu_blk[2].queues, 0);
	assert_int_equal(v->nvu_net, 2);
	assert_true(v->vu_net[0].has_mac);
	assert_memory_equal(v->vu_net[0].mac, ((uint8_t[6]){ 0x52, 0x54, 0, 0xaa, 0xbb, 0xcc }), 6);
	assert_int_equal(v->vu_net[0].mtu, 9000);
	assert_false(v->vu_net[1].has_mac);
	assert_int_equal(v->vu_net[1].transport, VIRTIO_TRANSPORT_MMIO);
	assert_int_equal(v->vu_net[1].mem_timeout, 600);
	config_free(&o);
	assert_int_equal(v->nvu_blk, 0);
	assert_int_equal(v->nvu_net, 0);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_not_equal(parse(&o, bad[i]), 0);
		assert_int_equal(v->nvu_blk + v->nvu_net, 0);
		config_free(&o);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_good),
		cmocka_unit_test(test_json_bad),
		cmocka_unit_test(test_cli),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_virtio_options),
		cmocka_unit_test(test_vhost_user_options),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
