/* SPDX-License-Identifier: MIT */
/*
 * PUT /boot-source and GET/PUT/PATCH /machine-config. kite extensions on machine-config (host
 * tuning, docs/api.md): "pin_vcpus": [host CPU, ...] (vCPU i runs on entry i % length), "pin_io":
 * [host CPU, ...] (I/O thread i on entry i % length), "iothreads": bool, "hugepages": "auto" | "on" |
 * "off".
 */
#include <cjson/cJSON.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "api_internal.h"

static const char *const huge_variants[] = { "None", "2M", "Transparent", NULL };
static const char *const hugepages_modes[] = { "auto", "on", "off", NULL };   /* enum vmm_hugepages_mode */
static const char *const cpu_templates[] = { "C3", "T2", "T2S", "T2CL", "T2A", "V1N1", "None", NULL };

int res_parse_boot(const char *body, size_t len, struct api_cmd *cmd, char *err, size_t errlen)
{
	static const struct api_field f[] = {
		{ "kernel_image_path", F_STR, true, 0, NULL, NULL },
		{ "boot_args", F_STR, false, 0, NULL, NULL },
		{ "initrd_path", F_STR, false, 0, NULL, NULL },
	};

	cmd->json = api_body_object(body, len, "BootSourceConfig", f, 3, err, errlen);
	if (!cmd->json)
		return -1;
	cmd->op = API_PUT_BOOT;
	cmd->u.boot.kernel_image_path = api_str(cmd->json, "kernel_image_path");
	cmd->u.boot.boot_args = api_str(cmd->json, "boot_args");
	cmd->u.boot.initrd_path = api_str(cmd->json, "initrd_path");
	return 0;
}

/* A kite extension list of host CPUs (pin_vcpus, pin_io): 1..64 integers 0..CPU_SETSIZE-1. Whether
 * they exist on this host is the control's check (vmm_ctl_set_machine). */
static int parse_cpus(const cJSON *a, const char *name, int cpus[VMM_MAX_PINS], unsigned *n, char *err, size_t errlen)
{
	const cJSON *e;

	*n = 0;
	cJSON_ArrayForEach(e, a) {
		if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble >= CPU_SETSIZE ||
		    e->valuedouble != (double)(int)e->valuedouble || *n == VMM_MAX_PINS) {
			snprintf(err, errlen, "Machine config error: %s must be at most %d host CPU numbers 0..%d", name,
				 VMM_MAX_PINS, CPU_SETSIZE - 1);
			return -1;
		}
		cpus[(*n)++] = (int)e->valuedouble;
	}
	if (!*n) {
		snprintf(err, errlen, "Machine config error: %s is empty", name);
		return -1;
	}
	return 0;
}

/* pin_vcpus / pin_io when given (null counts as absent): *has set, the list parsed. */
static int opt_cpus(const cJSON *o, const char *name, bool *has, int cpus[VMM_MAX_PINS], unsigned *n, char *err,
		    size_t errlen)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, name);

	*has = a && !cJSON_IsNull(a);
	return *has ? parse_cpus(a, name, cpus, n, err, errlen) : 0;
}

int res_parse_machine(const char *body, size_t len, bool patch, struct api_cmd *cmd, char *err, size_t errlen)
{
	const struct api_field f[] = {
		{ "vcpu_count", F_UINT, !patch, 255, NULL, "u8" },
		{ "mem_size_mib", F_UINT, !patch, UINT64_MAX, NULL, "usize" },
		{ "smt", F_BOOL, false, 0, NULL, NULL },
		{ "cpu_template", F_ENUM, false, 0, cpu_templates, NULL },
		{ "track_dirty_pages", F_BOOL, false, 0, NULL, NULL },
		{ "huge_pages", F_ENUM, false, 0, huge_variants, NULL },
		{ "pin_vcpus", F_ARRAY, false, 0, NULL, NULL },      /* kite extensions from here */
		{ "pin_io", F_ARRAY, false, 0, NULL, NULL },
		{ "iothreads", F_BOOL, false, 0, NULL, NULL },
		{ "hugepages", F_ENUM, false, 0, hugepages_modes, NULL },
	};
	struct vmm_machine_update *u = &cmd->u.machine;
	int hp, tmpl, mode;

	cmd->json = api_body_object(body, len, "MachineConfig", f, sizeof(f) / sizeof(f[0]), err, errlen);
	if (!cmd->json)
		return -1;
	cmd->op = patch ? API_PATCH_MACHINE : API_PUT_MACHINE;
	memset(u, 0, sizeof(*u));
	if (patch && !cmd->json->child) {
		snprintf(err, errlen, "Empty PATCH request.");
		return -1;
	}
	tmpl = api_enum(cmd->json, "cpu_template", cpu_templates);
	if (tmpl >= 0 && strcmp(cpu_templates[tmpl], "None")) {
		snprintf(err, errlen, "Machine config error: kite has no CPU templates (cpu_template %s)",
			 cpu_templates[tmpl]);
		return -1;
	}
	hp = api_enum(cmd->json, "huge_pages", huge_variants);
	if (hp == 2) {
		snprintf(err, errlen, "Machine config error: huge_pages \"Transparent\" is not supported by kite "
			 "(\"None\" or \"2M\")");
		return -1;
	}
	/* PUT: every field, Firecracker's defaults for those left out; PATCH: only those given. */
	u->has_vcpu_count = !patch || api_has(cmd->json, "vcpu_count");
	u->has_mem = !patch || api_has(cmd->json, "mem_size_mib");
	u->has_smt = !patch || api_has(cmd->json, "smt");
	u->has_dirty = !patch || api_has(cmd->json, "track_dirty_pages");
	u->has_huge = !patch || hp >= 0;
	u->m.vcpu_count = (unsigned)api_uint(cmd->json, "vcpu_count", 0);
	u->m.mem_size_mib = api_uint(cmd->json, "mem_size_mib", 0);
	u->m.smt = api_bool(cmd->json, "smt", false);
	u->m.track_dirty_pages = api_bool(cmd->json, "track_dirty_pages", false);
	u->m.huge_pages = hp == 1 ? VMM_HUGE_2M : VMM_HUGE_NONE;
	/* the tuning fields: a PUT sets those it does not name to their defaults (vmm_ctl_set_machine) */
	u->replace = !patch;
	if (opt_cpus(cmd->json, "pin_vcpus", &u->has_pin, u->m.t.pin, &u->m.t.npin, err, errlen) < 0 ||
	    opt_cpus(cmd->json, "pin_io", &u->has_pin_io, u->m.t.pin_io, &u->m.t.npin_io, err, errlen) < 0)
		return -1;
	u->has_iothreads = api_has(cmd->json, "iothreads");
	u->m.t.iothreads = api_bool(cmd->json, "iothreads", true);
	mode = api_enum(cmd->json, "hugepages", hugepages_modes);
	u->has_hugepages = mode >= 0;
	u->m.t.hugepages = mode == 1 ? VMM_HP_ON : mode == 2 ? VMM_HP_OFF : VMM_HP_AUTO;
	return 0;
}
