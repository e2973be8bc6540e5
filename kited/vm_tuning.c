/* SPDX-License-Identifier: MIT */
/*
 * A VM's host tuning (docs/kited.md "Host tuning"): the create body's "pin_vcpus" and "pin_io"
 * (arrays of host CPUs), "iothreads" (bool) and "hugepages" ("auto" | "on" | "off"), their JSON in
 * the definition, the VM object and kite's machine-config (kite's extensions of the same names,
 * docs/api.md). Pure functions but for the host's CPU count; any thread.
 */
#include <cjson/cJSON.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include "kite/log.h"
#include "vm_internal.h"

static const char *const hugepages_names[] = { [KD_HP_AUTO] = "auto", [KD_HP_ON] = "on", [KD_HP_OFF] = "off" };

/* One list: 1..KD_MAX_PINS integers 0..CPU_SETSIZE-1; with check_host each a CPU of this host. */
static int parse_cpus(const cJSON *a, const char *what, const char *key, bool check_host, int *cpus, unsigned *n,
		      char *err, size_t errlen)
{
	long ncpus = check_host ? sysconf(_SC_NPROCESSORS_CONF) : 0;
	const cJSON *e;

	*n = 0;
	if (!a)
		return 0;
	cJSON_ArrayForEach(e, a) {
		double v = cJSON_IsNumber(e) ? e->valuedouble : -1;

		if (!(v >= 0 && v < CPU_SETSIZE) || v != (double)(int)v || *n == KD_MAX_PINS)
			return errf(err, errlen, "%s: %s: expected 1 to %d host CPU numbers 0..%d", what, key, KD_MAX_PINS,
				    CPU_SETSIZE - 1);
		if (ncpus > 0 && v >= ncpus)
			return errf(err, errlen, "%s: %s: host CPU %d does not exist (the host has CPUs 0..%ld)", what, key,
				    (int)v, ncpus - 1);
		cpus[(*n)++] = (int)v;
	}
	if (!*n)
		return errf(err, errlen, "%s: %s: an empty list (leave it out for no pinning)", what, key);
	return 0;
}

int vm_tuning_parse(const cJSON *body, struct vm_def *d, bool check_host, const char *what, char *err, size_t errlen)
{
	const cJSON *hp = cJSON_GetObjectItemCaseSensitive(body, "hugepages");
	const cJSON *io = cJSON_GetObjectItemCaseSensitive(body, "iothreads");
	int mode = -1;

	if (parse_cpus(cJSON_GetObjectItemCaseSensitive(body, "pin_vcpus"), what, "pin_vcpus", check_host, d->pin_vcpus,
		       &d->npin_vcpus, err, errlen) < 0 ||
	    parse_cpus(cJSON_GetObjectItemCaseSensitive(body, "pin_io"), what, "pin_io", check_host, d->pin_io,
		       &d->npin_io, err, errlen) < 0)
		return -1;
	d->iothreads = !cJSON_IsBool(io) || cJSON_IsTrue(io);
	for (int i = 0; hp && i < (int)(sizeof(hugepages_names) / sizeof(hugepages_names[0])); i++)
		if (!strcmp(hp->valuestring, hugepages_names[i]))
			mode = i;
	if (hp && mode < 0)
		return errf(err, errlen, "%s: hugepages %.32s: expected \"auto\", \"on\" or \"off\"", what, hp->valuestring);
	d->hugepages = hp ? (enum kd_hugepages)mode : KD_HP_AUTO;
	if (d->hugepages == KD_HP_ON && d->memory_mib % 2)
		return errf(err, errlen, "%s: hugepages \"on\" needs memory_mib in 2 MiB pages (got %u)", what,
			    d->memory_mib);
	return 0;
}

static void add_cpus(cJSON *j, const char *key, const int *cpus, unsigned n, bool null_if_none)
{
	cJSON *a;

	if (!n) {
		if (null_if_none)
			cJSON_AddNullToObject(j, key);
		return;
	}
	a = cJSON_AddArrayToObject(j, key);
	for (unsigned i = 0; a && i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateNumber(cpus[i]));
}

void vm_tuning_json(cJSON *j, const struct vm_def *d, bool null_if_none)
{
	add_cpus(j, "pin_vcpus", d->pin_vcpus, d->npin_vcpus, null_if_none);
	add_cpus(j, "pin_io", d->pin_io, d->npin_io, null_if_none);
	cJSON_AddBoolToObject(j, "iothreads", d->iothreads);
	cJSON_AddStringToObject(j, "hugepages", hugepages_names[d->hugepages]);
}
