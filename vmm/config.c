/* SPDX-License-Identifier: MIT */
/*
 * kite settings: defaults, value parsers shared by the flags and the JSON file, the JSON file itself
 * and the checks done before any VM exists.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kite/config.h"
#include "kite/seccomp.h"
#include "kite/log.h"
#include "kite/virtio_options.h"

/* A config file larger than this is certainly not one. */
#define CONFIG_MAX_FILE (1 << 20)

void config_init(struct kite_options *o)
{
	memset(o, 0, sizeof(*o));
	o->vm.kvm_path = KITE_DEFAULT_KVM;
	o->vm.ncpus = 1;
	o->vm.mem_mib = KITE_DEFAULT_MEM_MIB;
	o->vm.console = KITE_CONSOLE_STDIO;
	o->seccomp_level = KITE_SECCOMP_DEFAULT_LEVEL;
	for (unsigned i = 0; i < KITE_MAX_VCPUS; i++)
		o->vm.pin[i] = -1;
}

void vm_config_free(struct vm_config *cfg)
{
	virtio_opts_free(&cfg->virtio);
}

void config_free(struct kite_options *o)
{
	vm_config_free(&o->vm);
	free(o->kernel);
	free(o->initrd);
	free(o->cmdline);
	free(o->console_path);
	free(o->kvm_path);
	free(o->config_file);
	free(o->api_sock);
	free(o->fc_config);
	free(o->restore_dir);
	o->api_sock = o->fc_config = o->restore_dir = NULL;
	o->kernel = o->initrd = o->cmdline = o->console_path = o->kvm_path = o->config_file = NULL;
}

int config_set_string(char **owned, const char **field, const char *value)
{
	char *copy = NULL;

	if (value) {
		copy = strdup(value);
		if (!copy) {
			log_err("config: out of memory");
			return -1;
		}
	}
	free(*owned);
	*owned = copy;
	*field = copy;
	return 0;
}

int config_parse_uint(const char *s, unsigned long long min, unsigned long long max,
		      unsigned long long *out, const char *what)
{
	unsigned long long v;
	char *end;

	if (!s || !*s || *s == '-' || *s == '+') {
		log_err("%s: '%s' is not a number", what, s ? s : "");
		return -1;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end) {
		log_err("%s: '%s' is not a number", what, s);
		return -1;
	}
	if (v < min || v > max) {
		log_err("%s: %llu is out of range %llu..%llu", what, v, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

int config_parse_console(struct kite_options *o, const char *spec, const char *what)
{
	if (!strcmp(spec, "stdio")) {
		o->vm.console = KITE_CONSOLE_STDIO;
	} else if (!strcmp(spec, "none")) {
		o->vm.console = KITE_CONSOLE_NONE;
	} else if (!strncmp(spec, "file:", 5) && spec[5]) {
		if (config_set_string(&o->console_path, &o->vm.console_path, spec + 5) < 0)
			return -1;
		o->vm.console = KITE_CONSOLE_FILE;
	} else if (!strncmp(spec, "socket:", 7) && spec[7]) {
		if (config_set_string(&o->console_path, &o->vm.console_path, spec + 7) < 0)
			return -1;
		o->vm.console = KITE_CONSOLE_SOCKET;
	} else {
		log_err("%s: '%s' is not stdio, none, file:PATH or socket:PATH", what, spec);
		return -1;
	}
	return 0;
}

/* A comma-separated list of host CPU numbers into cpus (at most KITE_MAX_VCPUS), its length in
 * *np. 0 or -1 (logged). */
static int parse_cpu_list(const char *list, int cpus[KITE_MAX_VCPUS], unsigned *np, const char *what)
{
	unsigned n = 0;
	const char *p = list;

	if (!*p) {
		log_err("%s: empty CPU list", what);
		return -1;
	}
	while (*p) {
		char *end;
		long v;

		if (*p < '0' || *p > '9') {
			log_err("%s: '%s' is not a comma-separated list of host CPU numbers", what, list);
			return -1;
		}
		errno = 0;
		v = strtol(p, &end, 10);
		if (errno || v < 0 || v >= CPU_SETSIZE) {
			log_err("%s: host CPU number in '%s' out of range 0..%d", what, list, CPU_SETSIZE - 1);
			return -1;
		}
		if (n == KITE_MAX_VCPUS) {
			log_err("%s: more than %d CPUs in '%s'", what, KITE_MAX_VCPUS, list);
			return -1;
		}
		cpus[n++] = (int)v;
		if (*end == ',' && end[1])
			end++;
		else if (*end) {
			log_err("%s: '%s' is not a comma-separated list of host CPU numbers", what, list);
			return -1;
		}
		p = end;
	}
	*np = n;
	return 0;
}

/* "2,3" pins vCPU i to entry i % n of the list: "0" pins every vCPU to CPU 0. */
int config_parse_pin_list(struct vm_config *vm, const char *list, const char *what)
{
	int cpus[KITE_MAX_VCPUS];
	unsigned n;

	if (parse_cpu_list(list, cpus, &n, what) < 0)
		return -1;
	for (unsigned i = 0; i < KITE_MAX_VCPUS; i++)
		vm->pin[i] = cpus[i % n];
	return 0;
}

int config_parse_pin_io(struct vm_config *vm, const char *list, const char *what)
{
	return parse_cpu_list(list, vm->pin_io, &vm->npin_io, what);
}

static int json_uint(const cJSON *item, unsigned long long min, unsigned long long max,
		     unsigned long long *out, const char *origin)
{
	double d;

	if (!cJSON_IsNumber(item)) {
		log_err("%s: key '%s' must be a number", origin, item->string);
		return -1;
	}
	d = item->valuedouble;
	if (!(d >= (double)min && d <= (double)max) || (double)(unsigned long long)d != d) {
		log_err("%s: key '%s': %g is not an integer in %llu..%llu", origin, item->string, d, min, max);
		return -1;
	}
	*out = (unsigned long long)d;
	return 0;
}

static int json_string(const cJSON *item, const char **out, const char *origin)
{
	if (!cJSON_IsString(item) || !item->valuestring) {
		log_err("%s: key '%s' must be a string", origin, item->string);
		return -1;
	}
	*out = item->valuestring;
	return 0;
}

/* A JSON true/false into *out; 0, or -1 logged ("WHAT must be true or false"). */
static int json_bool(const cJSON *item, bool *out, const char *what)
{
	if (!cJSON_IsBool(item)) {
		log_err("%s must be true or false", what);
		return -1;
	}
	*out = cJSON_IsTrue(item);
	return 0;
}

static int json_pin_vcpus(struct kite_options *o, const cJSON *item, const char *origin)
{
	char list[KITE_MAX_VCPUS * 8] = "";
	char what[256];
	size_t len = 0;
	const cJSON *e;

	snprintf(what, sizeof(what), "%s: key 'pin_vcpus'", origin);
	if (cJSON_IsString(item))
		return config_parse_pin_list(&o->vm, item->valuestring, what);
	if (!cJSON_IsArray(item)) {
		log_err("%s must be a string \"0,1\" or an array of CPU numbers", what);
		return -1;
	}
	if (cJSON_GetArraySize(item) > KITE_MAX_VCPUS) {
		log_err("%s: more than %d CPUs", what, KITE_MAX_VCPUS);
		return -1;
	}
	cJSON_ArrayForEach(e, item) {
		double d;

		if (!cJSON_IsNumber(e) || !((d = e->valuedouble) >= 0 && d < CPU_SETSIZE) || (double)(int)d != d) {
			log_err("%s: every entry must be a host CPU number 0..%d", what, CPU_SETSIZE - 1);
			return -1;
		}
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%d", len ? "," : "", (int)d);
	}
	return config_parse_pin_list(&o->vm, list, what);
}

static int json_apply(struct kite_options *o, const cJSON *item, const char *origin)
{
	const char *key = item->string, *s;
	unsigned long long v;
	char what[256];

	snprintf(what, sizeof(what), "%s: key '%s'", origin, key);
	if (!strcmp(key, "kernel") || !strcmp(key, "initrd") || !strcmp(key, "cmdline") ||
	    !strcmp(key, "kvm")) {
		if (!strcmp(key, "initrd") && cJSON_IsNull(item))
			return config_set_string(&o->initrd, &o->vm.initrd, NULL);
		if (json_string(item, &s, origin) < 0)
			return -1;
		if (!strcmp(key, "kernel"))
			return config_set_string(&o->kernel, &o->vm.kernel, s);
		if (!strcmp(key, "initrd"))
			return config_set_string(&o->initrd, &o->vm.initrd, s);
		if (!strcmp(key, "cmdline"))
			return config_set_string(&o->cmdline, &o->vm.cmdline, s);
		return config_set_string(&o->kvm_path, &o->vm.kvm_path, s);
	}
	if (!strcmp(key, "cpus")) {
		if (json_uint(item, 1, KITE_MAX_VCPUS, &v, origin) < 0)
			return -1;
		o->vm.ncpus = (unsigned)v;
		return 0;
	}
	if (!strcmp(key, "memory")) {
		if (json_uint(item, KITE_MIN_MEM_MIB, 1ULL << 30, &v, origin) < 0)
			return -1;
		o->vm.mem_mib = v;
		return 0;
	}
	if (!strcmp(key, "console")) {
		if (json_string(item, &s, origin) < 0)
			return -1;
		return config_parse_console(o, s, what);
	}
	if (!strcmp(key, "hugepages")) {
		if (json_bool(item, &o->vm.hugepages, what) < 0)
			return -1;
		o->vm.no_hugepages = !o->vm.hugepages;   /* false: never (absent: when reserved) */
		return 0;
	}
	if (!strcmp(key, "shared_memory"))
		return json_bool(item, &o->vm.shared_memory, what);
	if (!strcmp(key, "pin_vcpus"))
		return json_pin_vcpus(o, item, origin);
	if (!strcmp(key, "pin_io")) {
		if (json_string(item, &s, origin) < 0)
			return -1;
		return config_parse_pin_io(&o->vm, s, what);
	}
	if (!strcmp(key, "iothreads")) {
		bool on;

		if (json_bool(item, &on, what) < 0)
			return -1;
		o->vm.no_iothreads = !on;
		return 0;
	}
	if (!strcmp(key, "blk") || !strcmp(key, "net") || !strcmp(key, "rng") || !strcmp(key, "console_virtio") ||
	    !strcmp(key, "balloon") || !strcmp(key, "vhost_user_blk") || !strcmp(key, "vhost_user_net"))
		return virtio_opts_json(&o->vm.virtio, key, item, origin);   /* virtio/virtio_config.c */
	log_err("%s: unknown key '%s' (known: kernel, initrd, cmdline, cpus, memory, console, hugepages, "
		"shared_memory, pin_vcpus, pin_io, iothreads, kvm, blk, net, rng, balloon, console_virtio, vhost_user_blk, "
		"vhost_user_net)", origin, key);
	return -1;
}

int config_parse_json(struct kite_options *o, const char *text, const char *origin)
{
	cJSON *root = cJSON_Parse(text);
	const cJSON *item;
	int ret = 0;

	if (!root) {
		const char *at = cJSON_GetErrorPtr();

		log_err("%s: invalid JSON near offset %ld", origin, at && at >= text ? (long)(at - text) : 0L);
		return -1;
	}
	if (!cJSON_IsObject(root)) {
		log_err("%s: the top level must be a JSON object", origin);
		cJSON_Delete(root);
		return -1;
	}
	cJSON_ArrayForEach(item, root) {
		/* Later duplicates would silently win: refuse them. */
		for (const cJSON *prev = root->child; prev != item; prev = prev->next) {
			if (!strcmp(prev->string, item->string)) {
				log_err("%s: key '%s' given twice", origin, item->string);
				ret = -1;
				goto out;
			}
		}
		if (json_apply(o, item, origin) < 0) {
			ret = -1;
			break;
		}
	}
out:
	cJSON_Delete(root);
	return ret;
}

int config_load_file(struct kite_options *o, const char *path)
{
	struct stat st;
	char *text;
	ssize_t n;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		log_err("%s: cannot open config file: %m", path);
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > CONFIG_MAX_FILE) {
		log_err("%s: config file is not a regular file of at most %d bytes", path, CONFIG_MAX_FILE);
		close(fd);
		return -1;
	}
	text = malloc((size_t)st.st_size + 1);
	if (!text) {
		log_err("%s: out of memory reading config file", path);
		close(fd);
		return -1;
	}
	n = read(fd, text, (size_t)st.st_size);
	close(fd);
	if (n != st.st_size) {
		log_err("%s: reading config file failed", path);
		free(text);
		return -1;
	}
	text[n] = '\0';
	if (strlen(text) != (size_t)n) {
		log_err("%s: config file contains a NUL byte", path);
		free(text);
		return -1;
	}
	ret = config_parse_json(o, text, path);
	free(text);
	return ret;
}

int config_default_kernel(struct kite_options *o, const char *exe_dir)
{
	char path[PATH_MAX];

	if (o->vm.kernel)
		return 0;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", exe_dir, KITE_BUNDLED_GUEST) >= sizeof(path) ||
	    access(path, R_OK) < 0) {
		log_err("no kernel given: pass --kernel PATH (or build the test guest, %s not found)", path);
		return -1;
	}
	if (config_set_string(&o->kernel, &o->vm.kernel, path) < 0)
		return -1;
	if (!o->vm.cmdline && config_set_string(&o->cmdline, &o->vm.cmdline, KITE_BUNDLED_CMDLINE) < 0)
		return -1;
	return 0;
}

static int check_readable_file(const char *path, const char *what)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		log_err("%s: cannot read %s: %m", path, what);
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
		log_err("%s: %s is not a non-empty regular file", path, what);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int config_validate_machine(const struct vm_config *vm)
{
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
	long ncpus = sysconf(_SC_NPROCESSORS_CONF);
	unsigned long long host_mib = (pages > 0 && page > 0) ? ((unsigned long long)pages * page) >> 20 : 0;

	if (vm->ncpus < 1 || vm->ncpus > KITE_MAX_VCPUS) {
		log_err("config: cpus %u out of range 1..%d", vm->ncpus, KITE_MAX_VCPUS);
		return -1;
	}
	if (vm->mem_mib < KITE_MIN_MEM_MIB || (host_mib && vm->mem_mib > host_mib)) {
		log_err("config: memory %llu MiB out of range %d..%llu MiB (host RAM)",
			(unsigned long long)vm->mem_mib, KITE_MIN_MEM_MIB, host_mib);
		return -1;
	}
	if ((vm->console == KITE_CONSOLE_FILE || vm->console == KITE_CONSOLE_SOCKET) &&
	    (!vm->console_path || !*vm->console_path)) {
		log_err("config: console %s: path missing", vm->console == KITE_CONSOLE_FILE ? "file" : "socket");
		return -1;
	}
	for (unsigned i = 0; i < vm->ncpus; i++) {
		if (vm->pin[i] >= 0 && ncpus > 0 && vm->pin[i] >= ncpus) {
			log_err("config: pin_vcpus: vCPU %u pinned to host CPU %d, the host has %ld", i,
				vm->pin[i], ncpus);
			return -1;
		}
	}
	for (unsigned i = 0; i < vm->npin_io && i < KITE_MAX_VCPUS; i++) {
		if (ncpus > 0 && vm->pin_io[i] >= ncpus) {
			log_err("config: pin_io: host CPU %d named, the host has %ld", vm->pin_io[i], ncpus);
			return -1;
		}
	}
	return 0;
}

int config_validate(const struct vm_config *vm)
{
	if (config_validate_machine(vm) < 0)
		return -1;
	if (!vm->kernel) {
		log_err("config: no kernel given (--kernel PATH)");
		return -1;
	}
	if (check_readable_file(vm->kernel, "kernel") < 0)
		return -1;
	if (vm->initrd && check_readable_file(vm->initrd, "initrd") < 0)
		return -1;
	return 0;
}
