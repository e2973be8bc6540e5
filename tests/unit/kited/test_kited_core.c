/* SPDX-License-Identifier: MIT */
/*
 * kited's pure parts: route matching (404/405), VM definitions from create bodies (every refusal
 * names the field), vm.json written atomically and read back to the same VM, the vm="NAME" label
 * added to Prometheus lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "router.h"
#include "state.h"
#include "vm_internal.h"

/* ---- routes ---- */

static void h_a(struct kited *kd, struct kd_req *req, struct kd_reply *rep) { (void)kd; (void)req; rep->status = 1; }
static void h_b(struct kited *kd, struct kd_req *req, struct kd_reply *rep) { (void)kd; (void)req; rep->status = 2; }
static void h_c(struct kited *kd, struct kd_req *req, struct kd_reply *rep) { (void)kd; (void)req; rep->status = 3; }

static const struct kd_route t1[] = {
	{ "GET", "/vms", h_a }, { "POST", "/vms/{}/start", h_b }, { NULL, NULL, NULL },
};
static const struct kd_route t2[] = {
	{ "DELETE", "/dpu/ports/{}/acl/{}/{}", h_c }, { "GET", "/vms/{}/start", h_c }, { NULL, NULL, NULL },
};

static void test_route_match(void **state)
{
	struct kd_req req;

	(void)state;
	memset(&req, 0, sizeof(req));
	assert_true(kd_route_match("/vms/{}/start", "/vms/web-1/start", &req));
	assert_int_equal(req.nparams, 1);
	assert_string_equal(req.params[0], "web-1");
	assert_true(kd_route_match("/dpu/ports/{}/acl/{}/{}", "/dpu/ports/p/acl/in/3", &req));
	assert_int_equal(req.nparams, 3);
	assert_string_equal(req.params[1], "in");
	assert_string_equal(req.params[2], "3");
	assert_false(kd_route_match("/vms/{}/start", "/vms//start", NULL));
	assert_false(kd_route_match("/vms/{}/start", "/vms/a/b/start", NULL));
	assert_false(kd_route_match("/vms/{}/start", "/vms/a/start/", NULL));
	assert_false(kd_route_match("/vms/{}", "/vms", NULL));
	assert_false(kd_route_match("/vms", "/vmsx", NULL));
	{
		char longseg[200];

		memset(longseg, 'a', sizeof(longseg));
		memcpy(longseg, "/vms/", 5);
		longseg[sizeof(longseg) - 1] = '\0';
		assert_false(kd_route_match("/vms/{}", longseg, NULL));   /* a segment longer than a param */
	}
}

static void test_route_find(void **state)
{
	static const struct kd_route *const tables[] = { t1, t2 };
	struct kd_req req;
	struct kd_reply rep = { 0 };
	kd_handler h;
	int status = 0;

	(void)state;
	memset(&req, 0, sizeof(req));
	h = kd_route_find(tables, 2, "POST", "/vms/x/start", &req, &status);
	assert_non_null(h);
	h(NULL, &req, &rep);
	assert_int_equal(rep.status, 2);
	h = kd_route_find(tables, 2, "GET", "/vms/x/start", &req, &status);   /* the second table */
	h(NULL, &req, &rep);
	assert_int_equal(rep.status, 3);
	assert_null(kd_route_find(tables, 2, "PUT", "/vms/x/start", &req, &status));
	assert_int_equal(status, 405);
	assert_null(kd_route_find(tables, 2, "GET", "/nothing", &req, &status));
	assert_int_equal(status, 404);
	assert_null(kd_route_find(tables, 2, "DELETE", "/vms", &req, &status));
	assert_int_equal(status, 405);
}

/* ---- definitions ---- */

static char kernel[64];

static int make_kernel(void **state)
{
	int fd;

	(void)state;
	strcpy(kernel, "/tmp/kited-unit-kernel-XXXXXX");
	fd = mkstemp(kernel);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "k", 1), 1);
	close(fd);
	return 0;
}

static int drop_kernel(void **state)
{
	(void)state;
	unlink(kernel);
	return 0;
}

/* Parses body (with %K replaced by the kernel's path); returns the result, err in *errout. */
static int parse(const char *fmt, struct vm_def *d, char *err, size_t errlen)
{
	char body[1024], *k;
	cJSON *j;
	int r;

	snprintf(body, sizeof(body), "%s", fmt);
	while ((k = strstr(body, "%K"))) {
		char rest[1024];

		snprintf(rest, sizeof(rest), "%s", k + 2);
		snprintf(k, sizeof(body) - (size_t)(k - body), "%s%s", kernel, rest);
	}
	j = cJSON_Parse(body);
	assert_non_null(j);
	err[0] = '\0';
	r = vm_def_parse(j, d, true, false, 4096, err, errlen);
	cJSON_Delete(j);
	return r;
}

static void expect_refused(const char *body, const char *words)
{
	struct vm_def d;
	char err[512];

	if (parse(body, &d, err, sizeof(err)) == 0)
		fail_msg("accepted: %s", body);
	if (!strstr(err, words))
		fail_msg("%s: error \"%s\" does not say \"%s\"", body, err, words);
	vm_def_clear(&d);
}

static void test_def_valid(void **state)
{
	struct vm_def d, d2;
	char err[512];
	cJSON *j;

	(void)state;
	assert_int_equal(parse("{\"name\": \"web-1\", \"kernel\": \"%K\"}", &d, err, sizeof(err)), 0);
	assert_string_equal(d.name, "web-1");
	assert_int_equal(d.cpus, 1);
	assert_int_equal(d.memory_mib, 128);
	assert_int_equal(d.disk, DISK_NONE);
	assert_false(d.net);
	assert_null(d.cmdline);
	vm_def_clear(&d);

	assert_int_equal(parse("{\"name\": \"a\", \"kernel\": \"%K\", \"initrd\": \"%K\", \"cmdline\": \"kite.test=idle\","
			       " \"cpus\": 32, \"memory_mib\": 4096, \"disk\": {\"size_mib\": 64, \"ephemeral\": true},"
			       " \"net\": {\"vlan\": 7}, \"start\": true, \"jail\": true}", &d, err, sizeof(err)), 0);
	assert_int_equal(d.cpus, 32);
	assert_int_equal(d.disk, DISK_OWN);
	assert_int_equal(d.disk_size_mib, 64);
	assert_true(d.disk_ephemeral);
	assert_true(d.net);
	assert_int_equal(d.vlan, 7);
	assert_int_equal(strlen(d.mac), 17);
	assert_memory_equal(d.mac, "52:54:00:", 9);
	assert_true(d.jail);
	assert_string_equal(d.cmdline, "kite.test=idle");
	/* the definition's JSON reads back to the same definition (the MAC kept) */
	j = vm_def_json(&d);
	assert_int_equal(vm_def_parse(j, &d2, true, false, 0, err, sizeof(err)), 0);
	cJSON_Delete(j);
	assert_string_equal(d2.mac, d.mac);
	assert_int_equal(d2.disk_size_mib, 64);
	assert_true(d2.disk_ephemeral);
	assert_string_equal(d2.initrd, d.initrd);
	vm_def_clear(&d2);
	vm_def_clear(&d);

	/* a volume by name; the same name gives the same MAC, another name another one */
	assert_int_equal(parse("{\"name\": \"b\", \"kernel\": \"%K\", \"disk\": {\"volume\": \"shared\"}, \"net\": {}}", &d,
			       err, sizeof(err)), 0);
	assert_int_equal(d.disk, DISK_VOLUME);
	assert_string_equal(d.disk_volume, "shared");
	assert_int_equal(parse("{\"name\": \"b\", \"kernel\": \"%K\", \"net\": {}}", &d2, err, sizeof(err)), 0);
	assert_string_equal(d.mac, d2.mac);
	vm_def_clear(&d2);
	assert_int_equal(parse("{\"name\": \"c\", \"kernel\": \"%K\", \"net\": {\"mac\": \"52:54:00:12:34:56\"}}", &d2, err,
			       sizeof(err)), 0);
	assert_string_equal(d2.mac, "52:54:00:12:34:56");
	vm_def_clear(&d2);
	vm_def_clear(&d);

	/* backend "kite" (in-process) for both; the JSON reads back the same, without a VLAN */
	assert_int_equal(parse("{\"name\": \"k\", \"kernel\": \"%K\", \"disk\": {\"size_mib\": 8, \"backend\": \"kite\"},"
			       " \"net\": {\"backend\": \"kite\"}}", &d, err, sizeof(err)), 0);
	assert_true(d.disk_in_kite);
	assert_true(d.net_in_kite);
	j = vm_def_json(&d);
	assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "net"), "vlan"));
	assert_int_equal(vm_def_parse(j, &d2, true, false, 0, err, sizeof(err)), 0);
	cJSON_Delete(j);
	assert_true(d2.disk_in_kite && d2.net_in_kite && d2.disk == DISK_OWN && d2.disk_size_mib == 8);
	vm_def_clear(&d2);
	vm_def_clear(&d);
	assert_int_equal(parse("{\"name\": \"k\", \"kernel\": \"%K\", \"disk\": {\"volume\": \"v\", \"backend\": \"dpu\"},"
			       " \"net\": {\"vlan\": 3, \"backend\": \"dpu\"}}", &d, err, sizeof(err)), 0);
	assert_false(d.disk_in_kite || d.net_in_kite);
	vm_def_clear(&d);
}

static void test_def_refused(void **state)
{
	(void)state;
	expect_refused("{\"kernel\": \"%K\"}", "missing field \"name\"");
	expect_refused("{\"name\": \"a\"}", "missing field \"kernel\"");
	expect_refused("{\"name\": \"a\", \"kernel\": \"%K\", \"colour\": 1}", "unknown field \"colour\"");
	expect_refused("{\"name\": \"a b\", \"kernel\": \"%K\"}", "letters, digits and hyphens");
	expect_refused("{\"name\": \"\", \"kernel\": \"%K\"}", "letters, digits and hyphens");
	expect_refused("{\"name\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\", \"kernel\": \"%K\"}", "1 to 48");
	expect_refused("{\"name\": 5, \"kernel\": \"%K\"}", "name: expected a string");
	expect_refused("{\"name\": \"a\", \"kernel\": \"relative/k\"}", "not an absolute path");
	expect_refused("{\"name\": \"a\", \"kernel\": \"/nonexistent/k\"}", "/nonexistent/k");
	expect_refused("{\"name\": \"a\", \"kernel\": \"/tmp\"}", "not a regular file");
	expect_refused("{\"name\": \"a\", \"kernel\": \"%K\", \"initrd\": \"/nonexistent/i\"}", "initrd");
	expect_refused("{\"name\": \"a\", \"kernel\": \"%K\", \"cpus\": 0}", "cpus 0");
	expect_refused("{\"name\": \"a\", \"kernel\": \"%K\", \"cpus\": 33}", "cpus 33");
	expect_refused("{\"name\": \"a\", \"kernel\": \"%K\", \"cpus\": 1.5}", "cpus: expected an unsigned integer");
	expect_refused("{\"name\": \"a\", \"kernel\": \"%K\", \"cpus\": -1}", "cpus: expected an unsigned integer");
	expect_refused("{\"name\": \"a\", \"kernel\": \"%K\", \"memory_mib\": 15}", "memory_mib 15");
	expect_refused("{\"name\": \"a\", \"kernel\": \"%K\", \"memory_mib\": 4097}", "the host's RAM");
	expect_refused("{\"name\": \"a\", \"kernel\": \"%K\", \"disk\": {}}", "size_mib 0");
	expect_refused("{\"name\": \"a\", \"kernel\": \"%K\", \"disk\": {\"volume\": \"v\", \"size_mib\": 1}}", "excludes");
	expect_refused("{\"name\": \"a\", \"kernel\": \"%K\", \"disk\": {\"volume\": \"../x\"}}", "not a valid name");
	expect_refused("{\"name\": \"a\", \"kernel\": \"%K\", \"disk\": {\"size\": 1}}", "unknown field \"size\"");
	expect_refused("{\"name\": \"a\", \"kernel\": \"%K\", \"net\": {\"vlan\": 4096}}", "vlan 4096");
	expect_refused("{\"name\": \"a\", \"kernel\": \"%K\", \"net\": {\"mac\": \"01:00:00:00:00:01\"}}", "unicast");
	expect_refused("{\"name\": \"a\", \"kernel\": \"%K\", \"net\": {\"mac\": \"52:54:00:00:00\"}}", "mac");
	expect_refused("{\"name\": \"a\", \"kernel\": \"%K\", \"net\": 1}", "net: expected an object");
	expect_refused("{\"name\": \"a\", \"kernel\": \"%K\", \"disk\": {\"volume\": \"v\", \"backend\": \"kite\"}}",
		       "a \"volume\" is kite-dpu's");
	expect_refused("{\"name\": \"a\", \"kernel\": \"%K\", \"net\": {\"vlan\": 0, \"backend\": \"kite\"}}", "no VLAN");
	expect_refused("{\"name\": \"a\", \"kernel\": \"%K\", \"net\": {\"backend\": \"tap\"}}",
		       "backend tap: expected \"dpu\" or \"kite\"");
	expect_refused("{\"name\": \"a\", \"kernel\": \"%K\", \"disk\": {\"size_mib\": 1, \"backend\": true}}",
		       "backend: expected a string");
	expect_refused("{\"name\": \"a\", \"kernel\": \"%K\", \"start\": \"yes\"}", "start: expected true or false");
	expect_refused("{\"name\": \"a\", \"kernel\": \"%K\", \"cpus\": 1, \"cpus\": 2}", "duplicate field \"cpus\"");
}

/* host tuning: pin_vcpus, pin_io, iothreads, hugepages */
static void test_def_tuning(void **state)
{
	struct vm_def d, d2;
	char err[512], body[256];
	long ncpus = sysconf(_SC_NPROCESSORS_CONF);
	cJSON *j, *o;

	(void)state;
	/* absent (a definition of an older kited): no pinning, I/O threads, huge pages auto */
	assert_int_equal(parse("{\"name\": \"t\", \"kernel\": \"%K\"}", &d, err, sizeof(err)), 0);
	assert_int_equal(d.npin_vcpus + d.npin_io, 0);
	assert_true(d.iothreads);
	assert_int_equal(d.hugepages, KD_HP_AUTO);
	o = cJSON_CreateObject();
	vm_tuning_json(o, &d, true);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "pin_io")));
	assert_string_equal(cJSON_GetObjectItem(o, "hugepages")->valuestring, "auto");
	cJSON_Delete(o);
	vm_def_clear(&d);

	assert_int_equal(parse("{\"name\": \"t\", \"kernel\": \"%K\", \"pin_vcpus\": [0], \"pin_io\": [0, 0],"
			       " \"iothreads\": false, \"hugepages\": \"on\", \"memory_mib\": 64}", &d, err, sizeof(err)), 0);
	assert_int_equal(d.npin_vcpus, 1);
	assert_int_equal(d.npin_io, 2);
	assert_false(d.iothreads);
	assert_int_equal(d.hugepages, KD_HP_ON);
	/* the definition's JSON reads back the same */
	j = vm_def_json(&d);
	assert_int_equal(vm_def_parse(j, &d2, true, false, 0, err, sizeof(err)), 0);
	cJSON_Delete(j);
	assert_int_equal(d2.npin_vcpus, 1);
	assert_int_equal(d2.pin_io[1], 0);
	assert_int_equal(d2.npin_io, 2);
	assert_false(d2.iothreads);
	assert_int_equal(d2.hugepages, KD_HP_ON);
	vm_def_clear(&d2);
	vm_def_clear(&d);

	expect_refused("{\"name\": \"a\", \"kernel\": \"%K\", \"pin_io\": []}", "pin_io: an empty list");
	expect_refused("{\"name\": \"a\", \"kernel\": \"%K\", \"pin_io\": \"0\"}", "pin_io: expected an array");
	expect_refused("{\"name\": \"a\", \"kernel\": \"%K\", \"pin_vcpus\": [-1]}", "pin_vcpus: expected 1 to 64");
	expect_refused("{\"name\": \"a\", \"kernel\": \"%K\", \"pin_vcpus\": [1.5]}", "pin_vcpus: expected 1 to 64");
	expect_refused("{\"name\": \"a\", \"kernel\": \"%K\", \"pin_vcpus\": [\"0\"]}", "pin_vcpus: expected 1 to 64");
	expect_refused("{\"name\": \"a\", \"kernel\": \"%K\", \"pin_io\": [1024]}", "pin_io: expected 1 to 64");
	expect_refused("{\"name\": \"a\", \"kernel\": \"%K\", \"iothreads\": \"on\"}", "iothreads: expected true or false");
	expect_refused("{\"name\": \"a\", \"kernel\": \"%K\", \"hugepages\": \"2M\"}",
		       "hugepages 2M: expected \"auto\", \"on\" or \"off\"");
	expect_refused("{\"name\": \"a\", \"kernel\": \"%K\", \"hugepages\": true}", "hugepages: expected a string");
	expect_refused("{\"name\": \"a\", \"kernel\": \"%K\", \"hugepages\": \"on\", \"memory_mib\": 65}",
		       "memory_mib in 2 MiB pages");
	snprintf(body, sizeof(body), "{\"name\": \"a\", \"kernel\": \"%%K\", \"pin_io\": [0, %ld]}", ncpus);
	expect_refused(body, "does not exist");
	{   /* 65 CPUs */
		char many[512] = "{\"name\": \"a\", \"kernel\": \"%K\", \"pin_io\": [0";

		for (int i = 0; i < 64; i++)
			strcat(many, ",0");
		strcat(many, "]}");
		expect_refused(many, "pin_io: expected 1 to 64");
	}
}

/* ---- state files ---- */

static void test_state_round_trip(void **state)
{
	char dir[] = "/tmp/kited-unit-state-XXXXXX", path[256], err[512];
	struct vm_def d;
	struct vm *vm = calloc(1, sizeof(*vm)), *back;
	struct dirent *e;
	cJSON *j;
	DIR *dd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(parse("{\"name\": \"rt\", \"kernel\": \"%K\", \"cmdline\": \"a \\\"b\\\"\", \"memory_mib\": 256,"
			       " \"disk\": {\"volume\": \"vol1\"}, \"net\": {\"vlan\": 3}}", &d, err, sizeof(err)), 0);
	vm->def = d;
	vm->state = VM_PAUSED;
	vm->proc = (struct kd_proc){ .pid = 4242, .start = 123456789012345ULL, .pidfd = 7, .child = true };
	vm->jailer = (struct kd_proc){ .pid = 4241, .start = 123456789012000ULL, .pidfd = 8 };
	vm->jailed = true;
	vm->started_at = 1764650000;
	vm->last_exit_status = 1;
	vm->last_exit_signal = 0;
	snprintf(vm->error, sizeof(vm->error), "an \"old\" error");
	vm->res.has_port = true;
	strcpy(vm->res.port, "rt");
	strcpy(vm->res.port_sock, "/s/port-rt.sock");
	vm->res.has_volume = true;
	strcpy(vm->res.volume, "vol1");
	strcpy(vm->res.volume_sock, "/s/vol-vol1.sock");

	snprintf(path, sizeof(path), "%s/vm.json", dir);
	j = vm_state_json(vm);
	assert_non_null(j);
	assert_int_equal(state_write_json(path, j, err, sizeof(err)), 0);
	cJSON_Delete(j);
	/* written again over the first: still exactly one file, no temporary left */
	j = vm_state_json(vm);
	assert_int_equal(state_write_json(path, j, err, sizeof(err)), 0);
	cJSON_Delete(j);
	dd = opendir(dir);
	while ((e = readdir(dd)))
		if (e->d_name[0] != '.')
			assert_string_equal(e->d_name, "vm.json");
	closedir(dd);

	j = state_read_json(path, err, sizeof(err));
	assert_non_null(j);
	back = vm_from_state_json(j, err, sizeof(err));
	cJSON_Delete(j);
	assert_non_null(back);
	assert_string_equal(back->def.name, "rt");
	assert_string_equal(back->def.kernel, kernel);
	assert_string_equal(back->def.cmdline, "a \"b\"");
	assert_int_equal(back->def.memory_mib, 256);
	assert_int_equal(back->def.disk, DISK_VOLUME);
	assert_string_equal(back->def.disk_volume, "vol1");
	assert_int_equal(back->def.vlan, 3);
	assert_string_equal(back->def.mac, vm->def.mac);
	assert_int_equal(back->state, VM_PAUSED);
	assert_int_equal(back->proc.pid, 4242);
	assert_true(back->proc.start == 123456789012345ULL);   /* 64 bits survive (a string in JSON) */
	assert_int_equal(back->proc.pidfd, -1);                 /* fds are never read back */
	assert_false(back->proc.child);
	assert_int_equal(back->jailer.pid, 4241);
	assert_true(back->jailed);
	assert_int_equal(back->started_at, 1764650000);
	assert_int_equal(back->last_exit_status, 1);
	assert_string_equal(back->error, "an \"old\" error");
	assert_true(back->res.has_port);
	assert_string_equal(back->res.port_sock, "/s/port-rt.sock");
	assert_true(back->res.has_volume);
	assert_string_equal(back->res.volume, "vol1");
	vm_free(back);
	vm_free(vm);

	/* a damaged file is refused, not half read */
	{
		FILE *f = fopen(path, "w");

		fputs("{\"definition\": {\"name\": \"rt\"", f);
		fclose(f);
	}
	assert_null(state_read_json(path, err, sizeof(err)));
	assert_non_null(strstr(err, "not a JSON object"));
	unlink(path);
	assert_null(state_read_json(path, err, sizeof(err)));
	assert_int_equal(state_remove_tree(dir), 0);
	assert_int_equal(access(dir, F_OK), -1);
}

/* ---- Prometheus ---- */

static void test_prom(void **state)
{
	struct kd_buf b = { 0 };
	char v[64];
	const char *l;

	(void)state;
	l = "kite_vmm_state 1";
	prom_add_line(&b, l, strlen(l), "web1");
	l = "kite_exits{device=\"vcpu0\"} 12";
	prom_add_line(&b, l, strlen(l), "web1");
	l = "x{} 3";
	prom_add_line(&b, l, strlen(l), "w");
	l = "# TYPE kite_exits counter";
	prom_add_line(&b, l, strlen(l), "web1");
	l = "kite_dpu_blk_reads{volume=\"v\"} 5";
	prom_add_line(&b, l, strlen(l), NULL);
	assert_string_equal(b.p, "kite_vmm_state{vm=\"web1\"} 1\n"
				 "kite_exits{vm=\"web1\",device=\"vcpu0\"} 12\n"
				 "x{vm=\"w\"} 3\n"
				 "# TYPE kite_exits counter\n"
				 "kite_dpu_blk_reads{volume=\"v\"} 5\n");
	free(b.p);
	l = "kite_vswitch_drops{port=\"p1\",reason=\"acl\"} 3";
	assert_true(prom_label(l, strlen(l), "port", v, sizeof(v)));
	assert_string_equal(v, "p1");
	assert_true(prom_label(l, strlen(l), "reason", v, sizeof(v)));
	assert_string_equal(v, "acl");
	assert_false(prom_label(l, strlen(l), "volume", v, sizeof(v)));
	l = "m{export=\"p2\"} 1";   /* "port" inside another label's name is not the label */
	assert_false(prom_label(l, strlen(l), "port", v, sizeof(v)));
	l = "# HELP m port=\"x\"";
	assert_false(prom_label(l, strlen(l), "port", v, sizeof(v)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_route_match),
		cmocka_unit_test(test_route_find),
		cmocka_unit_test(test_def_valid),
		cmocka_unit_test(test_def_refused),
		cmocka_unit_test(test_def_tuning),
		cmocka_unit_test(test_state_round_trip),
		cmocka_unit_test(test_prom),
	};

	return cmocka_run_group_tests(tests, make_kernel, drop_kernel);
}
