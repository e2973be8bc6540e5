/* SPDX-License-Identifier: MIT */
/*
 * The VM model: a definition from a create body (every field validated, unknown ones refused) and
 * back, the API's VM object, vm.json (definition + runtime) and back, the table of VMs sorted by
 * name. Pure functions but for vm_def_parse's file checks; the caller holds kd->lock for the table.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "kite/log.h"
#include "vm_internal.h"

static const char *const state_names[] = {
	[VM_STOPPED] = "stopped", [VM_CREATING] = "creating", [VM_STARTING] = "starting", [VM_RUNNING] = "running",
	[VM_PAUSED] = "paused", [VM_STOPPING] = "stopping", [VM_CRASHED] = "crashed",
};

const char *vm_state_name(enum vm_state s)
{
	return (unsigned)s < sizeof(state_names) / sizeof(state_names[0]) ? state_names[s] : "?";
}

static int state_from_name(const char *s)
{
	for (unsigned i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++)
		if (s && !strcmp(s, state_names[i]))
			return (int)i;
	return -1;
}

bool vm_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > KD_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
		      (name[i] >= '0' && name[i] <= '9') || name[i] == '-'))
			return false;
	return true;
}

static int check_file(const char *name, const char *field, const char *path, bool check, char *err, size_t errlen)
{
	struct stat st;

	if (path[0] != '/')
		return errf(err, errlen, "VM %s: %s %s: not an absolute path", name, field, path);
	if (strlen(path) >= KD_PATH_MAX)
		return errf(err, errlen, "VM %s: %s: path longer than %d bytes", name, field, KD_PATH_MAX - 1);
	if (!check)
		return 0;
	if (stat(path, &st) < 0)
		return errf(err, errlen, "VM %s: %s %s: %m", name, field, path);
	if (!S_ISREG(st.st_mode))
		return errf(err, errlen, "VM %s: %s %s: not a regular file", name, field, path);
	if (access(path, R_OK) < 0)
		return errf(err, errlen, "VM %s: %s %s: not readable: %m", name, field, path);
	return 0;
}

static bool mac_ok(const char *s)
{
	unsigned b[6];
	int n = 0;

	if (strlen(s) != 17 || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%n", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &n) != 6 ||
	    n != 17)
		return false;
	for (int i = 2; i < 17; i += 3)
		if (s[i] != ':')
			return false;
	return !(b[0] & 1);   /* unicast */
}

/* 52:54:00 + three bytes of the name's FNV-1a hash: the same name always gets the same MAC. */
static void mac_of_name(const char *name, char *mac)
{
	unsigned h = 2166136261u;

	for (const char *p = name; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	snprintf(mac, 18, "52:54:00:%02x:%02x:%02x", (h >> 16) & 0xff, (h >> 8) & 0xff, h & 0xff);
}

static unsigned uint_or(const cJSON *o, const char *k, unsigned dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsNumber(v) ? (unsigned)v->valuedouble : dflt;
}

static const char *str_or_null(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool bool_or(const cJSON *o, const char *k, bool dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

/* "backend": "dpu" (the default) or "kite" (in-process virtio, vm_local.c) into *in_kite. */
static int backend_parse(const cJSON *o, const char *what, const char *dev, bool *in_kite, char *err, size_t errlen)
{
	const char *s = str_or_null(o, "backend");

	*in_kite = s && !strcmp(s, "kite");
	if (s && !*in_kite && strcmp(s, "dpu"))
		return errf(err, errlen, "%s: %s: backend %.32s: expected \"dpu\" or \"kite\"", what, dev, s);
	return 0;
}

int vm_def_parse(const cJSON *body, struct vm_def *d, bool check_files, bool default_jail, unsigned long host_mem_mib,
		 char *err, size_t errlen)
{
	static const struct kd_field fields[] = {
		{ "name", KD_F_STR }, { "kernel", KD_F_STR }, { "initrd", KD_F_STR_OR_NULL },
		{ "cmdline", KD_F_STR_OR_NULL }, { "cpus", KD_F_UINT }, { "memory_mib", KD_F_UINT },
		{ "disk", KD_F_OBJECT }, { "net", KD_F_OBJECT }, { "start", KD_F_BOOL }, { "jail", KD_F_BOOL },
		{ "pin_vcpus", KD_F_ARRAY }, { "pin_io", KD_F_ARRAY }, { "iothreads", KD_F_BOOL }, { "hugepages", KD_F_STR },
	};
	static const struct kd_field disk_fields[] = {
		{ "size_mib", KD_F_UINT }, { "ephemeral", KD_F_BOOL }, { "volume", KD_F_STR }, { "backend", KD_F_STR },
	};
	static const struct kd_field net_fields[] = {
		{ "vlan", KD_F_UINT }, { "mac", KD_F_STR }, { "backend", KD_F_STR },
	};
	const char *name = str_or_null(body, "name"), *s;
	const cJSON *disk, *net;
	char what[KD_NAME_MAX + 16];

	memset(d, 0, sizeof(*d));
	if (!body)
		return errf(err, errlen, "create: a body is required");
	snprintf(what, sizeof(what), "VM %.48s", name && vm_name_ok(name) ? name : "?");
	if (kd_body_check(body, "create", fields, sizeof(fields) / sizeof(fields[0]), err, errlen) < 0)
		return -1;
	if (!name)
		return errf(err, errlen, "create: missing field \"name\"");
	if (!vm_name_ok(name))
		return errf(err, errlen, "VM %.64s: a name is 1 to %d letters, digits and hyphens", name, KD_NAME_MAX);
	strcpy(d->name, name);
	s = str_or_null(body, "kernel");
	if (!s)
		return errf(err, errlen, "%s: missing field \"kernel\"", what);
	if (check_file(name, "kernel", s, check_files, err, errlen) < 0)
		return -1;
	strcpy(d->kernel, s);
	s = str_or_null(body, "initrd");
	if (s) {
		if (check_file(name, "initrd", s, check_files, err, errlen) < 0)
			return -1;
		strcpy(d->initrd, s);
	}
	s = str_or_null(body, "cmdline");
	if (s && strlen(s) >= 4096)
		return errf(err, errlen, "%s: cmdline longer than 4095 bytes", what);
	d->cpus = uint_or(body, "cpus", 1);
	if (d->cpus < 1 || d->cpus > 32)
		return errf(err, errlen, "%s: cpus %u: must be 1 to 32", what, d->cpus);
	d->memory_mib = uint_or(body, "memory_mib", 128);
	if (d->memory_mib < 16 || (host_mem_mib && d->memory_mib > host_mem_mib))
		return errf(err, errlen, "%s: memory_mib %u: must be 16 to %lu (the host's RAM)", what, d->memory_mib,
			    host_mem_mib);
	if (vm_tuning_parse(body, d, check_files, what, err, errlen) < 0)
		return -1;
	disk = cJSON_GetObjectItemCaseSensitive(body, "disk");
	if (disk) {
		if (kd_body_check(disk, "disk", disk_fields, 4, err, errlen) < 0 ||
		    backend_parse(disk, what, "disk", &d->disk_in_kite, err, errlen) < 0)
			return -1;
		s = str_or_null(disk, "volume");
		if (s && d->disk_in_kite)
			return errf(err, errlen, "%s: disk: a \"volume\" is kite-dpu's: backend \"kite\" takes \"size_mib\"",
				    what);
		if (s) {
			if (cJSON_GetObjectItemCaseSensitive(disk, "size_mib") ||
			    cJSON_GetObjectItemCaseSensitive(disk, "ephemeral"))
				return errf(err, errlen, "%s: disk: \"volume\" excludes \"size_mib\" and \"ephemeral\"", what);
			if (!vm_name_ok(s))
				return errf(err, errlen, "%s: disk: volume %.64s: not a valid name", what, s);
			d->disk = DISK_VOLUME;
			strcpy(d->disk_volume, s);
		} else {
			d->disk_size_mib = uint_or(disk, "size_mib", 0);
			if (d->disk_size_mib < 1 || d->disk_size_mib > 16u << 20)
				return errf(err, errlen, "%s: disk: size_mib %u: must be 1 to %u (or give \"volume\")", what,
					    d->disk_size_mib, 16u << 20);
			d->disk = DISK_OWN;
			d->disk_ephemeral = bool_or(disk, "ephemeral", false);
		}
	}
	net = cJSON_GetObjectItemCaseSensitive(body, "net");
	if (net) {
		if (kd_body_check(net, "net", net_fields, 3, err, errlen) < 0 ||
		    backend_parse(net, what, "net", &d->net_in_kite, err, errlen) < 0)
			return -1;
		if (d->net_in_kite && cJSON_GetObjectItemCaseSensitive(net, "vlan"))
			return errf(err, errlen, "%s: net: \"vlan\" is kite-dpu's switch: backend \"kite\" has a TAP, no VLAN",
				    what);
		d->net = true;
		d->vlan = uint_or(net, "vlan", 0);
		if (d->vlan > 4095)
			return errf(err, errlen, "%s: net: vlan %u: must be 0 to 4095", what, d->vlan);
		s = str_or_null(net, "mac");
		if (s && !mac_ok(s))
			return errf(err, errlen, "%s: net: mac %.32s: expected a unicast xx:xx:xx:xx:xx:xx", what, s);
		if (s)
			strcpy(d->mac, s);
		else
			mac_of_name(name, d->mac);
	}
	d->jail = bool_or(body, "jail", default_jail);
	s = str_or_null(body, "cmdline");
	if (s && !(d->cmdline = strdup(s)))
		return errf(err, errlen, "%s: out of memory", what);
	return 0;
}

void vm_def_clear(struct vm_def *d)
{
	free(d->cmdline);
	d->cmdline = NULL;
}

cJSON *vm_def_json(const struct vm_def *d)
{
	cJSON *j = cJSON_CreateObject(), *o;

	if (!j)
		return NULL;
	cJSON_AddStringToObject(j, "name", d->name);
	cJSON_AddStringToObject(j, "kernel", d->kernel);
	if (d->initrd[0])
		cJSON_AddStringToObject(j, "initrd", d->initrd);
	if (d->cmdline)
		cJSON_AddStringToObject(j, "cmdline", d->cmdline);
	cJSON_AddNumberToObject(j, "cpus", d->cpus);
	cJSON_AddNumberToObject(j, "memory_mib", d->memory_mib);
	if (d->disk != DISK_NONE && (o = cJSON_AddObjectToObject(j, "disk"))) {
		if (d->disk == DISK_VOLUME) {
			cJSON_AddStringToObject(o, "volume", d->disk_volume);
		} else {
			cJSON_AddNumberToObject(o, "size_mib", d->disk_size_mib);
			cJSON_AddBoolToObject(o, "ephemeral", d->disk_ephemeral);
		}
		cJSON_AddStringToObject(o, "backend", d->disk_in_kite ? "kite" : "dpu");
	}
	if (d->net && (o = cJSON_AddObjectToObject(j, "net"))) {
		if (!d->net_in_kite)
			cJSON_AddNumberToObject(o, "vlan", d->vlan);
		cJSON_AddStringToObject(o, "mac", d->mac);
		cJSON_AddStringToObject(o, "backend", d->net_in_kite ? "kite" : "dpu");
	}
	cJSON_AddBoolToObject(j, "jail", d->jail);
	vm_tuning_json(j, d, false);
	return j;
}

bool vm_path(const struct kited *kd, const char *name, const char *what, char *buf, size_t len)
{
	int n = what ? snprintf(buf, len, "%s/vms/%s/%s", kd->state_dir, name, what)
		     : snprintf(buf, len, "%s/vms/%s", kd->state_dir, name);

	return n > 0 && (size_t)n < len;
}

void local_tap_name(const struct kited *kd, const char *name, char *out, size_t len)
{
	unsigned h = 2166136261u;

	for (const char *p = kd->state_dir; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	h = (h ^ '/') * 16777619u;
	for (const char *p = name; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	snprintf(out, len, "kt-%08x", h);   /* 11 characters: fits IFNAMSIZ */
}

bool local_disk_image(const struct kited *kd, const char *name, char *out, size_t len)
{
	int n = snprintf(out, len, "%s/volumes/%s-disk.img", kd->state_dir, name);

	return n > 0 && (size_t)n < len;
}

bool vm_console_socket;

bool vm_api_sock(const struct kited *kd, const char *name, char *buf, size_t len)
{
	return vm_path(kd, name, "run/api.sock", buf, len) && strlen(buf) < sizeof(((struct sockaddr_un *)0)->sun_path);
}

bool vm_console_path(const struct kited *kd, const char *name, bool *is_socket, char *buf, size_t len)
{
	*is_socket = vm_console_socket;
	return vm_path(kd, name, vm_console_socket ? "run/console.sock" : "run/console.log", buf, len) &&
	       strlen(buf) < sizeof(((struct sockaddr_un *)0)->sun_path);
}

static void add_str_or_null(cJSON *j, const char *k, const char *v)
{
	if (v && *v)
		cJSON_AddStringToObject(j, k, v);
	else
		cJSON_AddNullToObject(j, k);
}

static void add_devices(const struct kited *kd, cJSON *j, const struct vm *vm)
{
	const struct vm_def *d = &vm->def;
	cJSON *arr = cJSON_AddArrayToObject(j, "devices"), *o;

	if (!arr)
		return;
	if (d->disk != DISK_NONE && (o = cJSON_CreateObject())) {
		char vol[KD_NAME_MAX + 8], img[KD_PATH_MAX * 2];

		if (vm->res.has_volume)
			snprintf(vol, sizeof(vol), "%s", vm->res.volume);
		else if (d->disk == DISK_VOLUME)
			snprintf(vol, sizeof(vol), "%s", d->disk_volume);
		else
			snprintf(vol, sizeof(vol), "%s-disk", d->name);
		cJSON_AddStringToObject(o, "type", "block");
		cJSON_AddStringToObject(o, "backend", d->disk_in_kite ? "kite" : "dpu");
		if (d->disk_in_kite && local_disk_image(kd, d->name, img, sizeof(img)))
			cJSON_AddStringToObject(o, "image", img);
		else
			cJSON_AddStringToObject(o, "volume", vol);
		add_str_or_null(o, "socket", vm->res.has_volume ? vm->res.volume_sock : NULL);
		if (d->disk == DISK_OWN)
			cJSON_AddNumberToObject(o, "size_mib", d->disk_size_mib);
		cJSON_AddBoolToObject(o, "ephemeral", d->disk == DISK_OWN && d->disk_ephemeral);
		cJSON_AddBoolToObject(o, "owned", d->disk == DISK_OWN);
		cJSON_AddItemToArray(arr, o);
	}
	if (d->net && (o = cJSON_CreateObject())) {
		char tap[16];

		cJSON_AddStringToObject(o, "type", "net");
		cJSON_AddStringToObject(o, "backend", d->net_in_kite ? "kite" : "dpu");
		if (d->net_in_kite) {
			local_tap_name(kd, d->name, tap, sizeof(tap));
			cJSON_AddStringToObject(o, "tap", tap);
		} else {
			cJSON_AddStringToObject(o, "port", vm->res.has_port ? vm->res.port : d->name);
			cJSON_AddNumberToObject(o, "vlan", d->vlan);
		}
		cJSON_AddStringToObject(o, "mac", d->mac);
		add_str_or_null(o, "socket", vm->res.has_port ? vm->res.port_sock : NULL);
		cJSON_AddItemToArray(arr, o);
	}
}

cJSON *vm_api_json(const struct kited *kd, const struct vm *vm)
{
	const struct vm_def *d = &vm->def;
	cJSON *j = cJSON_CreateObject(), *o;
	char path[KD_PATH_MAX * 2];
	bool running = vm->proc.pid > 0;
	bool is_sock;

	if (!j)
		return NULL;
	cJSON_AddStringToObject(j, "name", d->name);
	cJSON_AddStringToObject(j, "state", vm_state_name(vm->state));
	if (running)
		cJSON_AddNumberToObject(j, "pid", vm->proc.pid);
	else
		cJSON_AddNullToObject(j, "pid");
	if (running && vm->started_at)
		cJSON_AddNumberToObject(j, "started_at", (double)vm->started_at);
	else
		cJSON_AddNullToObject(j, "started_at");
	cJSON_AddNumberToObject(j, "cpus", d->cpus);
	cJSON_AddNumberToObject(j, "memory_mib", d->memory_mib);
	cJSON_AddStringToObject(j, "kernel", d->kernel);
	add_str_or_null(j, "initrd", d->initrd);
	add_str_or_null(j, "cmdline", d->cmdline);
	cJSON_AddBoolToObject(j, "jailed", running ? vm->jailed : d->jail);
	cJSON_AddNumberToObject(j, "uid", vm->uid);
	vm_tuning_json(j, d, true);
	add_str_or_null(j, "api_sock", running && vm_api_sock(kd, d->name, path, sizeof(path)) ? path : NULL);
	add_str_or_null(j, "console_sock",
			running && vm_console_path(kd, d->name, &is_sock, path, sizeof(path)) && is_sock ? path : NULL);
	if (running && vm_console_path(kd, d->name, &is_sock, path, sizeof(path)) && !is_sock)
		cJSON_AddStringToObject(j, "console_log", path);
	add_devices(kd, j, vm);
	if (vm->last_exit_signal && (o = cJSON_AddObjectToObject(j, "last_exit")))
		cJSON_AddNumberToObject(o, "signal", vm->last_exit_signal);
	else if (vm->last_exit_status >= 0 && (o = cJSON_AddObjectToObject(j, "last_exit")))
		cJSON_AddNumberToObject(o, "status", vm->last_exit_status);
	else
		cJSON_AddNullToObject(j, "last_exit");
	add_str_or_null(j, "error", vm->error);
	return j;
}

static void add_proc(cJSON *j, const char *k, const struct kd_proc *p)
{
	cJSON *o = cJSON_AddObjectToObject(j, k);
	char start[24];

	if (!o)
		return;
	snprintf(start, sizeof(start), "%llu", p->start);
	cJSON_AddNumberToObject(o, "pid", p->pid);
	cJSON_AddStringToObject(o, "start", start);   /* a string: 64 bits do not fit a double */
}

static void read_proc(const cJSON *o, struct kd_proc *p)
{
	const char *s = str_or_null(o, "start");

	p->pid = (pid_t)uint_or(o, "pid", 0);
	p->start = s ? strtoull(s, NULL, 10) : 0;
	p->pidfd = -1;
	p->child = false;
	if (!p->start)
		p->pid = 0;
}

cJSON *vm_state_json(const struct vm *vm)
{
	cJSON *j = cJSON_CreateObject(), *rt, *res;

	if (!j)
		return NULL;
	cJSON_AddItemToObject(j, "definition", vm_def_json(&vm->def));
	rt = cJSON_AddObjectToObject(j, "runtime");
	if (!rt)
		goto fail;
	cJSON_AddStringToObject(rt, "state", vm_state_name(vm->state));
	add_proc(rt, "kite", &vm->proc);
	add_proc(rt, "jailer", &vm->jailer);
	cJSON_AddBoolToObject(rt, "jailed", vm->jailed);
	cJSON_AddNumberToObject(rt, "uid", vm->uid);
	cJSON_AddNumberToObject(rt, "started_at", (double)vm->started_at);
	cJSON_AddNumberToObject(rt, "last_exit_status", vm->last_exit_status);
	cJSON_AddNumberToObject(rt, "last_exit_signal", vm->last_exit_signal);
	cJSON_AddStringToObject(rt, "error", vm->error);
	res = cJSON_AddObjectToObject(rt, "resources");
	if (!res)
		goto fail;
	if (vm->res.has_port) {
		cJSON_AddStringToObject(res, "port", vm->res.port);
		cJSON_AddStringToObject(res, "port_sock", vm->res.port_sock);
	}
	if (vm->res.has_volume) {
		cJSON_AddStringToObject(res, "volume", vm->res.volume);
		cJSON_AddStringToObject(res, "volume_sock", vm->res.volume_sock);
		cJSON_AddBoolToObject(res, "volume_served_for_vm", vm->res.volume_served_for_vm);
	}
	if (!cJSON_GetObjectItem(j, "definition"))
		goto fail;
	return j;
fail:
	cJSON_Delete(j);
	return NULL;
}

static bool copy_str(char *dst, size_t len, const cJSON *o, const char *k)
{
	const char *s = str_or_null(o, k);

	if (!s || strlen(s) >= len)
		return false;
	strcpy(dst, s);
	return true;
}

struct vm *vm_from_state_json(const cJSON *j, char *err, size_t errlen)
{
	const cJSON *def = cJSON_GetObjectItemCaseSensitive(j, "definition");
	const cJSON *rt = cJSON_GetObjectItemCaseSensitive(j, "runtime"), *res;
	struct vm *vm = calloc(1, sizeof(*vm));
	int st;

	if (!vm) {
		errf(err, errlen, "out of memory");
		return NULL;
	}
	if (!cJSON_IsObject(def) || !cJSON_IsObject(rt)) {
		errf(err, errlen, "no \"definition\" and \"runtime\" objects");
		goto fail;
	}
	if (vm_def_parse(def, &vm->def, false, false, 0, err, errlen) < 0)
		goto fail;
	st = state_from_name(str_or_null(rt, "state"));
	if (st < 0) {
		errf(err, errlen, "VM %s: runtime: unknown state", vm->def.name);
		goto fail;
	}
	vm->state = (enum vm_state)st;
	read_proc(cJSON_GetObjectItemCaseSensitive(rt, "kite"), &vm->proc);
	read_proc(cJSON_GetObjectItemCaseSensitive(rt, "jailer"), &vm->jailer);
	vm->jailed = bool_or(rt, "jailed", false);
	vm->uid = (unsigned)uint_or(rt, "uid", 0);   /* 0 (an older vm.json): vm_load_all gives one */
	vm->started_at = (long long)uint_or(rt, "started_at", 0);
	vm->last_exit_status = cJSON_IsNumber(cJSON_GetObjectItem(rt, "last_exit_status"))
				       ? cJSON_GetObjectItem(rt, "last_exit_status")->valueint : -1;
	vm->last_exit_signal = (int)uint_or(rt, "last_exit_signal", 0);
	copy_str(vm->error, sizeof(vm->error), rt, "error");
	res = cJSON_GetObjectItemCaseSensitive(rt, "resources");
	vm->res.has_port = copy_str(vm->res.port, sizeof(vm->res.port), res, "port") &&
			   copy_str(vm->res.port_sock, sizeof(vm->res.port_sock), res, "port_sock");
	vm->res.has_volume = copy_str(vm->res.volume, sizeof(vm->res.volume), res, "volume") &&
			     copy_str(vm->res.volume_sock, sizeof(vm->res.volume_sock), res, "volume_sock");
	vm->res.volume_served_for_vm = vm->res.has_volume && bool_or(res, "volume_served_for_vm", false);
	return vm;
fail:
	vm_free(vm);
	return NULL;
}

unsigned vm_uid_alloc(const struct kited *kd)
{
	for (unsigned long long u = kd->uid_base; u < (unsigned long long)kd->uid_base + kd->uid_count; u++) {
		const struct vm *v = kd->vms;

		while (v && v->uid != u)
			v = v->next;
		if (!v)
			return (unsigned)u;
	}
	return 0;
}

void vm_free(struct vm *vm)
{
	if (!vm)
		return;
	vm_def_clear(&vm->def);
	free(vm);
}

struct vm *vm_find(struct kited *kd, const char *name)
{
	for (struct vm *v = kd->vms; v; v = v->next)
		if (!strcmp(v->def.name, name))
			return v;
	return NULL;
}

void vm_insert(struct kited *kd, struct vm *vm)
{
	struct vm **pp = &kd->vms;

	while (*pp && strcmp((*pp)->def.name, vm->def.name) < 0)
		pp = &(*pp)->next;
	vm->next = *pp;
	*pp = vm;
}

void vm_unlink(struct kited *kd, struct vm *vm)
{
	for (struct vm **pp = &kd->vms; *pp; pp = &(*pp)->next)
		if (*pp == vm) {
			*pp = vm->next;
			vm->next = NULL;
			return;
		}
}
