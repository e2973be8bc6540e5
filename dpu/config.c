/* SPDX-License-Identifier: MIT */
/*
 * kite-dpu's config file: the top-level keys main reads itself ("cores", "control", "spin_usecs"),
 * the sections services register, and the strict key check both use. Control thread only.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "dpu.h"
#include "poller.h"

struct cfg_section {
	const char *key;
	dpu_config_fn check, apply;
};

static struct cfg_section sections[16];
static unsigned nr_sections;

int dpu_config_register(const char *key, dpu_config_fn check, dpu_config_fn apply)
{
	if (nr_sections >= sizeof(sections) / sizeof(sections[0]))
		return -1;
	sections[nr_sections++] = (struct cfg_section){ key, check, apply };
	return 0;
}

int dpu_config_check_keys(const cJSON *o, const char *what, const char *const *known, char *err, size_t errlen)
{
	const cJSON *item;

	cJSON_ArrayForEach(item, o) {
		unsigned i = 0;
		while (known[i] && strcmp(known[i], item->string))
			i++;
		if (known[i])
			continue;
		int n = snprintf(err, errlen, "%s: unknown key '%.64s' (known:", what, item->string);
		for (i = 0; known[i] && n > 0 && (size_t)n < errlen; i++)
			n += snprintf(err + n, errlen - (size_t)n, "%s %s", i ? "," : "", known[i]);
		if (n > 0 && (size_t)n < errlen)
			snprintf(err + n, errlen - (size_t)n, ")");
		return -1;
	}
	return 0;
}

/* The keys main.c reads before any section is applied. */
static const char *const main_keys[] = { "cores", "control", "spin_usecs" };
#define NR_MAIN_KEYS (sizeof(main_keys) / sizeof(main_keys[0]))

/* A JSON number that is a whole number in lo..hi. */
static bool whole_in(const cJSON *v, double lo, double hi)
{
	return cJSON_IsNumber(v) && v->valuedouble >= lo && v->valuedouble <= hi &&
	       v->valuedouble == (double)v->valueint;
}

static int check_main_keys(const cJSON *root, char *err, size_t errlen)
{
	const cJSON *cores = cJSON_GetObjectItemCaseSensitive(root, "cores");
	const cJSON *control = cJSON_GetObjectItemCaseSensitive(root, "control");
	const cJSON *spin = cJSON_GetObjectItemCaseSensitive(root, "spin_usecs");
	const cJSON *c;

	if (control && !cJSON_IsString(control)) {
		snprintf(err, errlen, "\"control\" must be a socket path string");
		return -1;
	}
	if (spin && !whole_in(spin, 0, DPU_SPIN_USECS_MAX)) {
		snprintf(err, errlen, "\"spin_usecs\" must be a whole number of microseconds, 0..%d", DPU_SPIN_USECS_MAX);
		return -1;
	}
	if (!cores)
		return 0;
	if (!cJSON_IsArray(cores) || cJSON_GetArraySize(cores) > DPU_MAX_POLLERS) {
		snprintf(err, errlen, "\"cores\" must be a list of up to %d CPU numbers", DPU_MAX_POLLERS);
		return -1;
	}
	cJSON_ArrayForEach(c, cores) {
		if (!whole_in(c, -1, 4095)) {
			snprintf(err, errlen, "\"cores\" must be a list of CPU numbers (-1 = not pinned)");
			return -1;
		}
	}
	return 0;
}

int dpu_config_check(const cJSON *root, char *err, size_t errlen)
{
	const char *known[NR_MAIN_KEYS + sizeof(sections) / sizeof(sections[0]) + 1];
	unsigned n = 0;

	if (!cJSON_IsObject(root)) {
		snprintf(err, errlen, "not a JSON object");
		return -1;
	}
	for (unsigned i = 0; i < NR_MAIN_KEYS; i++)
		known[n++] = main_keys[i];
	for (unsigned i = 0; i < nr_sections; i++)
		known[n++] = sections[i].key;
	known[n] = NULL;
	if (dpu_config_check_keys(root, "top level", known, err, errlen) < 0 ||
	    check_main_keys(root, err, errlen) < 0)
		return -1;
	for (unsigned i = 0; i < nr_sections; i++) {
		const cJSON *sec = cJSON_GetObjectItemCaseSensitive(root, sections[i].key);
		if (sec && sections[i].check && sections[i].check(sec, err, errlen) < 0)
			return -1;
	}
	return 0;
}

int dpu_config_apply(const cJSON *root, char *err, size_t errlen)
{
	for (unsigned i = 0; i < nr_sections; i++) {
		const cJSON *sec = cJSON_GetObjectItemCaseSensitive(root, sections[i].key);
		if (sec && sections[i].apply(sec, err, errlen) < 0)
			return -1;
	}
	return 0;
}

int dpu_config_cores(const cJSON *root, int *cores, unsigned max)
{
	const cJSON *c;
	unsigned n = 0;

	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(root, "cores")) {
		if (n < max)
			cores[n++] = c->valueint;
	}
	return (int)n;
}

uint64_t dpu_config_spin_ns(const cJSON *root)
{
	const cJSON *spin = cJSON_GetObjectItemCaseSensitive(root, "spin_usecs");

	return spin ? (uint64_t)spin->valueint * 1000 : POLLER_SPIN_DEFAULT_NS;
}
