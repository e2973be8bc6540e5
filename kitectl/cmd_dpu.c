/* SPDX-License-Identifier: MIT */
/* kitectl dpu ...: kite-dpu's state, switch ports and volumes through kited (routes /dpu...). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kitectl.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Add the numeric option `o` (if given) to b as `key`; false after a usage line. */
static bool add_num(cJSON *b, const char *cmd, const struct kc_opt *o, const char *key, unsigned long long max)
{
	unsigned long long v;

	if (!o->value)
		return true;
	if (kc_parse_uint(o->value, max, &v) < 0) {
		kc_usage(cmd, "--%s '%s' is not a number 0..%llu", o->name, o->value, max);
		return false;
	}
	cJSON_AddNumberToObject(b, key, (double)v);
	return true;
}

/* Add the size option `o` (if given) to b as `key` in MiB; false after a usage line. */
static bool add_size(cJSON *b, const char *cmd, const struct kc_opt *o, const char *key)
{
	unsigned long long v;

	if (!o->value)
		return true;
	if (kc_parse_size_mib(o->value, &v) < 0) {
		kc_usage(cmd, "--%s '%s' is not a size (64M, 1G)", o->name, o->value);
		return false;
	}
	cJSON_AddNumberToObject(b, key, (double)v);
	return true;
}

/* Send body b (consumed) and print "<what> NAME: <done>" unless --json. */
static int send_body(struct kc *kc, const char *method, cJSON *b, const char *what, const char *raw, const char *done,
		     const char *pathfmt, const char *name)
{
	char *body = cJSON_PrintUnformatted(b);
	int ret;

	cJSON_Delete(b);
	if (!body)
		return kc_fail("out of memory");
	ret = kc_call(kc, method, body, NULL, true, pathfmt, name);
	if (!ret && !kc->json)
		printf("%s %s: %s\n", what, raw, done);
	free(body);
	return ret;
}

static int show_one(struct kc *kc, const char *cmd, const char *pathfmt, int argc, char **argv)
{
	const char *raw;
	char *name = kc_one_name(kc, "a name", cmd, argc, argv, NULL, 0, &raw);
	cJSON *o;
	int ret;

	if (!name)
		return KC_USAGE;
	ret = kc_call(kc, "GET", NULL, &o, true, pathfmt, name);
	if (!ret && !kc->json)
		kc_print_kv(o, NULL);
	cJSON_Delete(o);
	free(name);
	return ret;
}

/* DELETE of one port or volume; `query` is added when the flag opts[0] (if any) is given. */
static int del_one(struct kc *kc, const char *cmd, const char *what, const char *pathfmt, int argc, char **argv,
		   struct kc_opt *opts, size_t nopts, const char *query)
{
	const char *raw;
	char *name = kc_one_name(kc, "a name", cmd, argc, argv, opts, nopts, &raw), path[512];
	int ret;

	if (!name)
		return KC_USAGE;
	snprintf(path, sizeof(path), "%s%s", pathfmt, nopts && opts[0].value ? query : "");
	ret = kc_call(kc, "DELETE", NULL, NULL, true, path, name);
	if (!ret && !kc->json)
		printf("%s %s: deleted\n", what, raw);
	free(name);
	return ret;
}

static int port_list(struct kc *kc, int argc, char **argv)
{
	static const char *const head[] = { "NAME", "TYPE", "VLAN", "MTU", "RATE-PPS", "RATE-BPS", "VM" };
	struct kc_table t;
	cJSON *list, *p;
	int ret = kc_get_list(kc, "dpu port list", "/dpu/ports", argc, argv, &list);

	if (ret != KC_LIST_TABLE)
		goto out;
	ret = KC_OK;
	kc_table_init(&t, N(head), head);
	cJSON_ArrayForEach(p, list) {
		char c[7][64];

		kc_jstr(p, "name", c[0], sizeof(c[0]));
		kc_jstr(p, "type", c[1], sizeof(c[1]));
		if (!strcmp(c[1], "tap") && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(p, "tap")))
			snprintf(c[1], sizeof(c[1]), "tap:%.50s", cJSON_GetObjectItemCaseSensitive(p, "tap")->valuestring);
		kc_jstr(p, "vlan", c[2], sizeof(c[2]));
		kc_jstr(p, "mtu", c[3], sizeof(c[3]));
		kc_jstr(p, "rate_pps", c[4], sizeof(c[4]));
		kc_jstr(p, "rate_bps", c[5], sizeof(c[5]));
		kc_jstr(p, "vm", c[6], sizeof(c[6]));
		kc_table_row(&t, (const char *const[]){ c[0], c[1], c[2], c[3], c[4], c[5], c[6] });
	}
	kc_table_print(&t);
out:
	cJSON_Delete(list);
	return ret;
}

enum { P_TAP, P_VLAN, P_MTU, P_PPS, P_BPS };
#define PORT_OPTS { [P_TAP] = { "tap", KC_VALUE, NULL }, [P_VLAN] = { "vlan", KC_VALUE, NULL }, \
		    [P_MTU] = { "mtu", KC_VALUE, NULL }, [P_PPS] = { "rate-pps", KC_VALUE, NULL }, \
		    [P_BPS] = { "rate-bps", KC_VALUE, NULL } }

/* vlan, mtu, rate_pps, rate_bps of a port into b; false after a usage line. */
static bool port_fields(cJSON *b, const char *cmd, const struct kc_opt *opts)
{
	return add_num(b, cmd, &opts[P_VLAN], "vlan", 4094) && add_num(b, cmd, &opts[P_MTU], "mtu", 65535) &&
	       add_num(b, cmd, &opts[P_PPS], "rate_pps", ~0ULL >> 11) &&
	       add_num(b, cmd, &opts[P_BPS], "rate_bps", ~0ULL >> 11);
}

static int port_add(struct kc *kc, int argc, char **argv)
{
	struct kc_opt opts[] = PORT_OPTS;
	const char *raw, *cmd = "dpu port add";
	char *name = kc_one_name(kc, "a port name", cmd, argc, argv, opts, N(opts), &raw);
	cJSON *b;

	if (!name)
		return KC_USAGE;
	free(name);
	b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "name", raw);
	cJSON_AddStringToObject(b, "type", opts[P_TAP].value ? "tap" : "vhost");
	if (opts[P_TAP].value)
		cJSON_AddStringToObject(b, "tap", opts[P_TAP].value);
	if (!port_fields(b, cmd, opts)) {
		cJSON_Delete(b);
		return KC_USAGE;
	}
	return send_body(kc, "POST", b, "port", raw, "added", "/dpu/ports%s", "");
}

static int port_set(struct kc *kc, int argc, char **argv)
{
	struct kc_opt opts[] = PORT_OPTS;
	const char *raw, *cmd = "dpu port set";
	char *name = kc_one_name(kc, "a port name", cmd, argc, argv, opts + 1, N(opts) - 1, &raw);
	cJSON *b;
	int ret;

	if (!name)
		return KC_USAGE;
	b = cJSON_CreateObject();
	if (!port_fields(b, cmd, opts) ||
	    (!cJSON_GetArraySize(b) && kc_usage(cmd, "nothing to set (--vlan, --mtu, --rate-pps, --rate-bps)"))) {
		cJSON_Delete(b);
		free(name);
		return KC_USAGE;
	}
	ret = send_body(kc, "PATCH", b, "port", raw, "set", "/dpu/ports/%s", name);
	free(name);
	return ret;
}

/* dpu port acl NAME add in|out RULE | del in|out [INDEX] */
static int port_acl(struct kc *kc, int argc, char **argv)
{
	const char *pos[5], *cmd = "dpu port acl";
	size_t npos;
	char *name, *body;
	cJSON *b, *reply;
	unsigned long long idx;
	int ret;

	if (kc_parse(kc, cmd, argc, argv, NULL, 0, pos, 4, &npos) < 0)
		return KC_USAGE;
	if (npos < 3 || (strcmp(pos[1], "add") && strcmp(pos[1], "del")))
		return kc_usage(cmd, "NAME add in|out RULE, or NAME del in|out [INDEX]");
	if (strcmp(pos[2], "in") && strcmp(pos[2], "out"))
		return kc_usage(cmd, "the direction is in or out, not '%s'", pos[2]);
	if (!strcmp(pos[1], "add") && npos != 4)
		return kc_usage(cmd, "add needs one RULE (quote it: 'deny proto icmp')");
	if (!strcmp(pos[1], "del") && npos == 4 && kc_parse_uint(pos[3], 1 << 20, &idx) < 0)
		return kc_usage(cmd, "INDEX '%s' is not a number", pos[3]);
	if (!(name = kc_escape(pos[0])))
		return kc_fail("out of memory");
	if (!strcmp(pos[1], "del")) {
		if (npos == 4)
			ret = kc_call(kc, "DELETE", NULL, NULL, true, "/dpu/ports/%s/acl/%s/%llu", name, pos[2], idx);
		else
			ret = kc_call(kc, "DELETE", NULL, NULL, true, "/dpu/ports/%s/acl/%s", name, pos[2]);
		if (!ret && !kc->json)
			printf("port %s: %s rule%s deleted\n", pos[0], pos[2], npos == 4 ? "" : "s");
		free(name);
		return ret;
	}
	b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "dir", pos[2]);
	cJSON_AddStringToObject(b, "rule", pos[3]);
	body = cJSON_PrintUnformatted(b);
	cJSON_Delete(b);
	ret = kc_call(kc, "POST", body, &reply, true, "/dpu/ports/%s/acl", name);
	if (!ret && !kc->json) {
		char ib[32];

		printf("port %s: %s rule %s added\n", pos[0], pos[2], kc_jstr(reply, "index", ib, sizeof(ib)));
	}
	cJSON_Delete(reply);
	free(body);
	free(name);
	return ret;
}

static int volume_list(struct kc *kc, int argc, char **argv)
{
	static const char *const head[] = { "NAME", "SIZE", "RO", "IOPS", "BPS", "VM" };
	struct kc_table t;
	cJSON *list, *v;
	int ret = kc_get_list(kc, "dpu volume list", "/dpu/volumes", argc, argv, &list);

	if (ret != KC_LIST_TABLE)
		goto out;
	ret = KC_OK;
	kc_table_init(&t, N(head), head);
	cJSON_ArrayForEach(v, list) {
		char c[6][64];
		double mib = kc_jnum(v, "size_mib", -1);

		kc_jstr(v, "name", c[0], sizeof(c[0]));
		if (mib >= 0)
			kc_fmt_mib((unsigned long long)mib, c[1], sizeof(c[1]));
		else
			snprintf(c[1], sizeof(c[1]), "-");
		kc_jstr(v, "readonly", c[2], sizeof(c[2]));
		kc_jstr(v, "iops", c[3], sizeof(c[3]));
		kc_jstr(v, "bps", c[4], sizeof(c[4]));
		kc_jstr(v, "vm", c[5], sizeof(c[5]));
		kc_table_row(&t, (const char *const[]){ c[0], c[1], c[2], c[3], c[4], c[5] });
	}
	kc_table_print(&t);
out:
	cJSON_Delete(list);
	return ret;
}

static int volume_add(struct kc *kc, int argc, char **argv)
{
	enum { SIZE, IMAGE, RO, IOPS, BPS };
	struct kc_opt opts[] = { [SIZE] = { "size", KC_VALUE, NULL }, [IMAGE] = { "image", KC_VALUE, NULL },
				 [RO] = { "readonly", KC_FLAG, NULL }, [IOPS] = { "iops", KC_VALUE, NULL },
				 [BPS] = { "bps", KC_VALUE, NULL } };
	const char *raw, *cmd = "dpu volume add";
	char *name = kc_one_name(kc, "a volume name", cmd, argc, argv, opts, N(opts), &raw);
	cJSON *b;

	if (!name)
		return KC_USAGE;
	free(name);
	if (!opts[SIZE].value == !opts[IMAGE].value)
		return kc_usage(cmd, "one of --size SIZE or --image NAME is needed");
	b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "name", raw);
	if (opts[IMAGE].value)
		cJSON_AddStringToObject(b, "image", opts[IMAGE].value);
	if (opts[RO].value)
		cJSON_AddBoolToObject(b, "readonly", true);
	if (!add_size(b, cmd, &opts[SIZE], "size_mib") || !add_num(b, cmd, &opts[IOPS], "iops", ~0ULL >> 11) ||
	    !add_num(b, cmd, &opts[BPS], "bps", ~0ULL >> 11)) {
		cJSON_Delete(b);
		return KC_USAGE;
	}
	return send_body(kc, "POST", b, "volume", raw, "added", "/dpu/volumes%s", "");
}

static int volume_set(struct kc *kc, int argc, char **argv)
{
	enum { IOPS, BPS, SIZE };
	struct kc_opt opts[] = { [IOPS] = { "iops", KC_VALUE, NULL }, [BPS] = { "bps", KC_VALUE, NULL },
				 [SIZE] = { "size", KC_VALUE, NULL } };
	const char *raw, *cmd = "dpu volume set";
	char *name = kc_one_name(kc, "a volume name", cmd, argc, argv, opts, N(opts), &raw);
	cJSON *b;
	int ret;

	if (!name)
		return KC_USAGE;
	b = cJSON_CreateObject();
	if (!add_num(b, cmd, &opts[IOPS], "iops", ~0ULL >> 11) || !add_num(b, cmd, &opts[BPS], "bps", ~0ULL >> 11) ||
	    !add_size(b, cmd, &opts[SIZE], "size_mib") ||
	    (!cJSON_GetArraySize(b) && kc_usage(cmd, "nothing to set (--iops, --bps, --size)"))) {
		cJSON_Delete(b);
		free(name);
		return KC_USAGE;
	}
	ret = send_body(kc, "PATCH", b, "volume", raw, "set", "/dpu/volumes/%s", name);
	free(name);
	return ret;
}

static int port_cmd(struct kc *kc, const char *sub, int argc, char **argv)
{
	if (!strcmp(sub, "list"))
		return port_list(kc, argc, argv);
	if (!strcmp(sub, "info"))
		return show_one(kc, "dpu port info", "/dpu/ports/%s", argc, argv);
	if (!strcmp(sub, "add"))
		return port_add(kc, argc, argv);
	if (!strcmp(sub, "del"))
		return del_one(kc, "dpu port del", "port", "/dpu/ports/%s", argc, argv, NULL, 0, NULL);
	if (!strcmp(sub, "set"))
		return port_set(kc, argc, argv);
	if (!strcmp(sub, "acl"))
		return port_acl(kc, argc, argv);
	return kc_usage("dpu port", "unknown subcommand '%s' (list info add del set acl)", sub);
}

static int volume_cmd(struct kc *kc, const char *sub, int argc, char **argv)
{
	struct kc_opt keep[] = { { "keep-image", KC_FLAG, NULL } };

	if (!strcmp(sub, "list"))
		return volume_list(kc, argc, argv);
	if (!strcmp(sub, "info"))
		return show_one(kc, "dpu volume info", "/dpu/volumes/%s", argc, argv);
	if (!strcmp(sub, "add"))
		return volume_add(kc, argc, argv);
	if (!strcmp(sub, "del"))
		return del_one(kc, "dpu volume del", "volume", "/dpu/volumes/%s", argc, argv, keep, 1, "?keep_image=true");
	if (!strcmp(sub, "set"))
		return volume_set(kc, argc, argv);
	return kc_usage("dpu volume", "unknown subcommand '%s' (list info add del set)", sub);
}

int kc_cmd_dpu(struct kc *kc, int argc, char **argv)
{
	const char *what = argc ? argv[0] : "";

	if (!argc)
		return kc_usage("dpu", "a subcommand is needed: status port volume");
	if (!strcmp(what, "status"))
		return kc_get_kv(kc, "dpu status", "/dpu", argc - 1, argv + 1);
	if (strcmp(what, "port") && strcmp(what, "volume"))
		return kc_usage("dpu", "unknown subcommand '%s' (status port volume)", what);
	if (argc < 2)
		return kc_usage(!strcmp(what, "port") ? "dpu port" : "dpu volume", "a subcommand is needed");
	return !strcmp(what, "port") ? port_cmd(kc, argv[1], argc - 2, argv + 2) : volume_cmd(kc, argv[1], argc - 2, argv + 2);
}
