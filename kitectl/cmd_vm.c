/* SPDX-License-Identifier: MIT */
/* kitectl vm ...: the VM commands (docs/kited.md, routes /vms). */
#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kitectl.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* "-", a size ("64M", own disk) or the volume's name, for the DISK column. */
static const char *disk_cell(const cJSON *vm, char *buf, size_t len)
{
	const cJSON *d;

	snprintf(buf, len, "-");
	cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(vm, "devices")) {
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(d, "type");
		char name[128];

		if (!cJSON_IsString(t) || strcmp(t->valuestring, "block"))
			continue;
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "owned")) && kc_jnum(d, "size_mib", 0) > 0)
			kc_fmt_mib((unsigned long long)kc_jnum(d, "size_mib", 0), buf, len);
		else
			snprintf(buf, len, "%s", kc_jstr(d, "volume", name, sizeof(name)));
		break;
	}
	return buf;
}

/* "-", "vlan=N" or "tap=NAME" (backend kite), for the NET column. */
static const char *net_cell(const cJSON *vm, char *buf, size_t len)
{
	const cJSON *d;

	snprintf(buf, len, "-");
	cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(vm, "devices")) {
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(d, "type");

		if (cJSON_IsString(t) && !strcmp(t->valuestring, "net")) {
			char tap[32];

			if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(d, "tap")))
				snprintf(buf, len, "tap=%s", kc_jstr(d, "tap", tap, sizeof(tap)));
			else
				snprintf(buf, len, "vlan=%.0f", kc_jnum(d, "vlan", 0));
			break;
		}
	}
	return buf;
}

static int vm_list(struct kc *kc, int argc, char **argv)
{
	static const char *const head[] = { "NAME", "STATE", "PID", "CPUS", "MEM", "DISK", "NET" };
	struct kc_table t;
	cJSON *list, *vm;
	int ret = kc_get_list(kc, "vm list", "/vms", argc, argv, &list);

	if (ret != KC_LIST_TABLE)
		goto out;
	ret = KC_OK;
	kc_table_init(&t, N(head), head);
	cJSON_ArrayForEach(vm, list) {
		char c[7][128];
		double pid = kc_jnum(vm, "pid", 0);

		kc_jstr(vm, "name", c[0], sizeof(c[0]));
		kc_jstr(vm, "state", c[1], sizeof(c[1]));
		if (pid > 0)
			snprintf(c[2], sizeof(c[2]), "%.0f", pid);
		else
			snprintf(c[2], sizeof(c[2]), "-");
		kc_jstr(vm, "cpus", c[3], sizeof(c[3]));
		kc_fmt_mib((unsigned long long)kc_jnum(vm, "memory_mib", 0), c[4], sizeof(c[4]));
		disk_cell(vm, c[5], sizeof(c[5]));
		net_cell(vm, c[6], sizeof(c[6]));
		kc_table_row(&t, (const char *const[]){ c[0], c[1], c[2], c[3], c[4], c[5], c[6] });
	}
	kc_table_print(&t);
out:
	cJSON_Delete(list);
	return ret;
}

static void print_device(const cJSON *d)
{
	char t[32], a[128], b[128], c[512], s[32];

	kc_jstr(d, "type", t, sizeof(t));
	kc_jstr(d, "socket", c, sizeof(c));
	if (!strcmp(t, "block") && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(d, "image"))) {   /* backend kite */
		kc_fmt_mib((unsigned long long)kc_jnum(d, "size_mib", 0), s, sizeof(s));
		printf("  block  image %s  %s%s  in kite\n", kc_jstr(d, "image", c, sizeof(c)), s,
		       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "ephemeral")) ? "  ephemeral" : "");
	} else if (!strcmp(t, "net") && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(d, "tap"))) {
		printf("  net    tap %s  mac %s  in kite\n", kc_jstr(d, "tap", a, sizeof(a)), kc_jstr(d, "mac", b, sizeof(b)));
	} else if (!strcmp(t, "block")) {
		kc_fmt_mib((unsigned long long)kc_jnum(d, "size_mib", 0), s, sizeof(s));
		printf("  block  volume %s  %s%s%s  socket %s\n", kc_jstr(d, "volume", a, sizeof(a)),
		       kc_jnum(d, "size_mib", 0) > 0 ? s : "-",
		       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "owned")) ? "  own" : "",
		       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "ephemeral")) ? "  ephemeral" : "", c);
	} else if (!strcmp(t, "net")) {
		printf("  net    port %s  mac %s  vlan %.0f  socket %s\n", kc_jstr(d, "port", a, sizeof(a)),
		       kc_jstr(d, "mac", b, sizeof(b)), kc_jnum(d, "vlan", 0), c);
	} else {
		char *txt = cJSON_PrintUnformatted(d);

		printf("  %s\n", txt ? txt : t);
		free(txt);
	}
}

/* "0,1" of a JSON array of host CPUs, "-" for none */
static const char *cpu_list(const cJSON *a, char *buf, size_t len)
{
	const cJSON *e;
	size_t pos = 0;

	snprintf(buf, len, "-");
	cJSON_ArrayForEach(e, a)
		if (cJSON_IsNumber(e) && pos < len)
			pos += (size_t)snprintf(buf + pos, len - pos, "%s%.0f", pos ? "," : "", e->valuedouble);
	return buf;
}

/* The VM's host tuning: "pin vcpus 0,1", "pin io -", "iothreads yes", "hugepages auto". */
static void print_tuning(const cJSON *vm)
{
	char buf[512];

	printf("%-12s %s\n", "pin vcpus", cpu_list(cJSON_GetObjectItemCaseSensitive(vm, "pin_vcpus"), buf, sizeof(buf)));
	printf("%-12s %s\n", "pin io", cpu_list(cJSON_GetObjectItemCaseSensitive(vm, "pin_io"), buf, sizeof(buf)));
	printf("%-12s %s\n", "iothreads", kc_jstr(vm, "iothreads", buf, sizeof(buf)));
	printf("%-12s %s\n", "hugepages", kc_jstr(vm, "hugepages", buf, sizeof(buf)));
}

static void print_vm(const cJSON *vm)
{
	static const struct { const char *key, *label; } rows[] = {
		{ "name", "name" }, { "state", "state" }, { "pid", "pid" }, { "cpus", "cpus" },
		{ "kernel", "kernel" }, { "initrd", "initrd" }, { "cmdline", "cmdline" }, { "jailed", "jailed" },
		{ "api_sock", "api socket" }, { "console_sock", "console" },
	};
	const cJSON *le = cJSON_GetObjectItemCaseSensitive(vm, "last_exit"), *d;
	char buf[4096];
	double started = kc_jnum(vm, "started_at", 0);

	for (size_t i = 0; i < N(rows); i++) {
		printf("%-12s %s\n", rows[i].label, kc_jstr(vm, rows[i].key, buf, sizeof(buf)));
		if (!strcmp(rows[i].key, "cpus"))
			printf("%-12s %s\n", "memory", kc_fmt_mib((unsigned long long)kc_jnum(vm, "memory_mib", 0), buf,
								 sizeof(buf)));
	}
	print_tuning(vm);
	if (started > 0) {
		time_t t = (time_t)started;
		struct tm tm;

		strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&t, &tm));
		printf("%-12s %s\n", "started", buf);
	}
	if (cJSON_IsObject(le) && cJSON_GetObjectItemCaseSensitive(le, "signal"))
		printf("%-12s signal %.0f\n", "last exit", kc_jnum(le, "signal", 0));
	else if (cJSON_IsObject(le))
		printf("%-12s status %.0f\n", "last exit", kc_jnum(le, "status", 0));
	if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(vm, "error")))
		printf("%-12s %s\n", "error", kc_jstr(vm, "error", buf, sizeof(buf)));
	printf("devices\n");
	cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(vm, "devices"))
		print_device(d);
}

static int vm_info(struct kc *kc, int argc, char **argv)
{
	const char *raw;
	char *name = kc_one_name(kc, "a VM name", "vm info", argc, argv, NULL, 0, &raw);
	cJSON *vm;
	int ret;

	if (!name)
		return KC_USAGE;
	ret = kc_call(kc, "GET", NULL, &vm, true, "/vms/%s", name);
	if (!ret && !kc->json)
		print_vm(vm);
	cJSON_Delete(vm);
	free(name);
	return ret;
}

/* POST /vms/NAME/ACTION (start, pause, resume, stop, restore): "NAME: STATE". */
static int vm_action(struct kc *kc, const char *action, int argc, char **argv)
{
	struct kc_opt opts[] = { { "force", KC_FLAG, NULL }, { "timeout", KC_VALUE, NULL } };
	bool is_stop = !strcmp(action, "stop");
	const char *raw;
	char cmd[32], *name, *body = NULL, buf[64], nbuf[128];
	cJSON *vm = NULL, *b = NULL;
	int ret = KC_USAGE;

	snprintf(cmd, sizeof(cmd), "vm %s", action);
	name = kc_one_name(kc, "a VM name", cmd, argc, argv, opts, is_stop ? N(opts) : 0, &raw);
	if (!name)
		return KC_USAGE;
	if (is_stop) {
		const char *t = kc_opt(opts, N(opts), "timeout")->value;
		unsigned long long secs;

		b = cJSON_CreateObject();
		cJSON_AddBoolToObject(b, "force", kc_opt(opts, N(opts), "force")->value != NULL);
		if (t) {
			if (kc_parse_uint(t, 3600, &secs) < 0) {
				kc_usage(cmd, "--timeout '%s' is not a number of seconds 0..3600", t);
				goto out;
			}
			cJSON_AddNumberToObject(b, "timeout_s", (double)secs);
		}
		body = cJSON_PrintUnformatted(b);
	}
	ret = kc_call(kc, "POST", body ? body : "{}", &vm, true, "/vms/%s/%s", name, action);
	if (!ret && !kc->json)
		printf("%s: %s\n", kc_jstr(vm, "name", nbuf, sizeof(nbuf)), kc_jstr(vm, "state", buf, sizeof(buf)));
out:
	cJSON_Delete(vm);
	cJSON_Delete(b);
	free(body);
	free(name);
	return ret;
}

static int vm_delete(struct kc *kc, int argc, char **argv)
{
	const char *raw;
	char *name = kc_one_name(kc, "a VM name", "vm delete", argc, argv, NULL, 0, &raw);
	int ret;

	if (!name)
		return KC_USAGE;
	ret = kc_call(kc, "DELETE", NULL, NULL, true, "/vms/%s", name);
	if (!ret && !kc->json)
		printf("%s: deleted\n", raw);
	free(name);
	return ret;
}

static int vm_snapshot(struct kc *kc, int argc, char **argv)
{
	const char *raw;
	char *name = kc_one_name(kc, "a VM name", "vm snapshot", argc, argv, NULL, 0, &raw), buf[1024];
	cJSON *snap;
	int ret;

	if (!name)
		return KC_USAGE;
	ret = kc_call(kc, "POST", "{}", &snap, true, "/vms/%s/snapshot", name);
	if (!ret && !kc->json) {
		printf("vmstate: %s\n", kc_jstr(snap, "vmstate", buf, sizeof(buf)));
		printf("mem: %s\n", kc_jstr(snap, "mem", buf, sizeof(buf)));
	}
	cJSON_Delete(snap);
	free(name);
	return ret;
}

/* An absolute form of a host path for the API (which wants absolute paths); as given if it does
 * not resolve (kited then names the problem). */
static void add_path(cJSON *o, const char *key, const char *path)
{
	char abs[PATH_MAX];

	cJSON_AddStringToObject(o, key, path[0] != '/' && realpath(path, abs) ? abs : path);
}

static int vm_create(struct kc *kc, int argc, char **argv)
{
	enum { KERNEL, INITRD, CMDLINE, CPUS, MEMORY, DISK, EPHEMERAL, VOLUME, NET, MAC, START, DISK_BACKEND, NET_BACKEND,
	       PIN_VCPUS, PIN_IO, IOTHREADS, HUGEPAGES };
	struct kc_opt opts[] = {
		[KERNEL] = { "kernel", KC_VALUE, NULL }, [INITRD] = { "initrd", KC_VALUE, NULL },
		[CMDLINE] = { "cmdline", KC_VALUE, NULL }, [CPUS] = { "cpus", KC_VALUE, NULL },
		[MEMORY] = { "memory", KC_VALUE, NULL }, [DISK] = { "disk", KC_VALUE, NULL },
		[EPHEMERAL] = { "ephemeral", KC_FLAG, NULL }, [VOLUME] = { "volume", KC_VALUE, NULL },
		[NET] = { "net", KC_OPTVALUE, NULL }, [MAC] = { "mac", KC_VALUE, NULL },
		[START] = { "start", KC_FLAG, NULL }, [DISK_BACKEND] = { "disk-backend", KC_VALUE, NULL },
		[NET_BACKEND] = { "net-backend", KC_VALUE, NULL }, [PIN_VCPUS] = { "pin-vcpus", KC_VALUE, NULL },
		[PIN_IO] = { "pin-io", KC_VALUE, NULL }, [IOTHREADS] = { "iothreads", KC_VALUE, NULL },
		[HUGEPAGES] = { "hugepages", KC_VALUE, NULL },
	};
	const char *pos[1], *cmd = "vm create";
	unsigned long long v;
	size_t npos;
	cJSON *b, *vm = NULL;
	char *body = NULL, buf[64], nbuf[128];
	int ret = KC_USAGE;

	if (kc_parse(kc, cmd, argc, argv, opts, N(opts), pos, 1, &npos) < 0)
		return KC_USAGE;
	if (npos != 1)
		return kc_usage(cmd, "a VM name is needed");
	if (!opts[KERNEL].value)
		return kc_usage(cmd, "--kernel PATH is needed");
	if (opts[DISK].value && opts[VOLUME].value)
		return kc_usage(cmd, "--disk and --volume exclude each other");
	if (opts[EPHEMERAL].value && !opts[DISK].value)
		return kc_usage(cmd, "--ephemeral goes with --disk SIZE");
	if (opts[MAC].value && !opts[NET].value)
		return kc_usage(cmd, "--mac goes with --net");
	if (opts[DISK_BACKEND].value && !opts[DISK].value)
		return kc_usage(cmd, "--disk-backend goes with --disk SIZE (a --volume is kite-dpu's)");
	if (opts[NET_BACKEND].value && !opts[NET].value)
		return kc_usage(cmd, "--net-backend goes with --net");
	for (int i = DISK_BACKEND; i <= NET_BACKEND; i++)
		if (opts[i].value && strcmp(opts[i].value, "kite") && strcmp(opts[i].value, "dpu"))
			return kc_usage(cmd, "--%s '%s': expected kite or dpu", opts[i].name, opts[i].value);
	if (opts[IOTHREADS].value && strcmp(opts[IOTHREADS].value, "on") && strcmp(opts[IOTHREADS].value, "off"))
		return kc_usage(cmd, "--iothreads '%s': expected on or off", opts[IOTHREADS].value);
	if (opts[HUGEPAGES].value && strcmp(opts[HUGEPAGES].value, "auto") && strcmp(opts[HUGEPAGES].value, "on") &&
	    strcmp(opts[HUGEPAGES].value, "off"))
		return kc_usage(cmd, "--hugepages '%s': expected auto, on or off", opts[HUGEPAGES].value);
	b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "name", pos[0]);
	for (int i = PIN_VCPUS; i <= PIN_IO; i++) {
		int cpus[KC_MAX_CPUS];
		size_t n;
		cJSON *a;

		if (!opts[i].value)
			continue;
		if (kc_parse_cpu_list(opts[i].value, cpus, &n) < 0) {
			kc_usage(cmd, "--%s '%s' is not a list of host CPUs (0,1; at most %d, each 0..1023)", opts[i].name,
				 opts[i].value, KC_MAX_CPUS);
			goto out;
		}
		a = cJSON_AddArrayToObject(b, i == PIN_VCPUS ? "pin_vcpus" : "pin_io");
		for (size_t k = 0; a && k < n; k++)
			cJSON_AddItemToArray(a, cJSON_CreateNumber(cpus[k]));
	}
	if (opts[IOTHREADS].value)
		cJSON_AddBoolToObject(b, "iothreads", !strcmp(opts[IOTHREADS].value, "on"));
	if (opts[HUGEPAGES].value)
		cJSON_AddStringToObject(b, "hugepages", opts[HUGEPAGES].value);
	add_path(b, "kernel", opts[KERNEL].value);
	if (opts[INITRD].value)
		add_path(b, "initrd", opts[INITRD].value);
	if (opts[CMDLINE].value)
		cJSON_AddStringToObject(b, "cmdline", opts[CMDLINE].value);
	if (opts[CPUS].value) {
		if (kc_parse_uint(opts[CPUS].value, 1024, &v) < 0 || !v) {
			kc_usage(cmd, "--cpus '%s' is not a number of vCPUs", opts[CPUS].value);
			goto out;
		}
		cJSON_AddNumberToObject(b, "cpus", (double)v);
	}
	if (opts[MEMORY].value) {
		if (kc_parse_size_mib(opts[MEMORY].value, &v) < 0) {
			kc_usage(cmd, "--memory '%s' is not a size (MiB, or 512M, 2G)", opts[MEMORY].value);
			goto out;
		}
		cJSON_AddNumberToObject(b, "memory_mib", (double)v);
	}
	if (opts[DISK].value) {
		cJSON *d = cJSON_AddObjectToObject(b, "disk");

		if (kc_parse_size_mib(opts[DISK].value, &v) < 0) {
			kc_usage(cmd, "--disk '%s' is not a size (64M, 1G)", opts[DISK].value);
			goto out;
		}
		cJSON_AddNumberToObject(d, "size_mib", (double)v);
		cJSON_AddBoolToObject(d, "ephemeral", opts[EPHEMERAL].value != NULL);
		if (opts[DISK_BACKEND].value)
			cJSON_AddStringToObject(d, "backend", opts[DISK_BACKEND].value);
	} else if (opts[VOLUME].value) {
		cJSON_AddStringToObject(cJSON_AddObjectToObject(b, "disk"), "volume", opts[VOLUME].value);
	}
	if (opts[NET].value) {
		cJSON *n = cJSON_AddObjectToObject(b, "net");

		if (*opts[NET].value) {
			if (kc_parse_uint(opts[NET].value, 4094, &v) < 0) {
				kc_usage(cmd, "--net VLAN '%s' is not 0..4094", opts[NET].value);
				goto out;
			}
			cJSON_AddNumberToObject(n, "vlan", (double)v);
		}
		if (opts[MAC].value)
			cJSON_AddStringToObject(n, "mac", opts[MAC].value);
		if (opts[NET_BACKEND].value)
			cJSON_AddStringToObject(n, "backend", opts[NET_BACKEND].value);
	}
	cJSON_AddBoolToObject(b, "start", opts[START].value != NULL);
	body = cJSON_PrintUnformatted(b);
	ret = kc_call(kc, "POST", body, &vm, true, "/vms");
	if (!ret && !kc->json)
		printf("%s: %s\n", kc_jstr(vm, "name", nbuf, sizeof(nbuf)), kc_jstr(vm, "state", buf, sizeof(buf)));
out:
	cJSON_Delete(b);
	cJSON_Delete(vm);
	free(body);
	return ret;
}

static int vm_console(struct kc *kc, int argc, char **argv)
{
	const char *raw;
	char *name = kc_one_name(kc, "a VM name", "vm console", argc, argv, NULL, 0, &raw), path[4096], state[32];
	cJSON *vm;
	int ret;

	if (!name)
		return KC_USAGE;
	ret = kc_call(kc, "GET", NULL, &vm, false, "/vms/%s", name);
	if (!ret) {
		kc_jstr(vm, "state", state, sizeof(state));
		kc_jstr(vm, "console_sock", path, sizeof(path));
		if (strcmp(state, "running") && strcmp(state, "paused"))
			ret = kc_fail("VM %s is %s: no console to attach to", raw, state);
		else if (!strcmp(path, "-"))
			ret = kc_fail("VM %s: kited names no console socket", raw);
		else
			ret = kc_console(raw, path);
	}
	cJSON_Delete(vm);
	free(name);
	return ret;
}

int kc_cmd_vm(struct kc *kc, int argc, char **argv)
{
	static const char *const actions[] = { "start", "pause", "resume", "stop", "restore" };
	const char *sub = argc ? argv[0] : "";

	if (!argc)
		return kc_usage("vm", "a subcommand is needed: create list info start pause resume stop delete "
				"snapshot restore console");
	argc--;
	argv++;
	if (!strcmp(sub, "create"))
		return vm_create(kc, argc, argv);
	if (!strcmp(sub, "list"))
		return vm_list(kc, argc, argv);
	if (!strcmp(sub, "info"))
		return vm_info(kc, argc, argv);
	if (!strcmp(sub, "delete"))
		return vm_delete(kc, argc, argv);
	if (!strcmp(sub, "snapshot"))
		return vm_snapshot(kc, argc, argv);
	if (!strcmp(sub, "console"))
		return vm_console(kc, argc, argv);
	for (size_t i = 0; i < N(actions); i++)
		if (!strcmp(sub, actions[i]))
			return vm_action(kc, actions[i], argc, argv);
	return kc_usage("vm", "unknown subcommand '%s'", sub);
}
