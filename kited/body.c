/* SPDX-License-Identifier: MIT */
/* Request bodies: every member known and of its type (kd_body_check, kited.h). Pure, any thread. */
#include <cjson/cJSON.h>
#include <string.h>

#include "kite/log.h"
#include "kited.h"

static const char *type_name(enum kd_ftype t)
{
	switch (t) {
	case KD_F_STR:
		return "a string";
	case KD_F_STR_OR_NULL:
		return "a string or null";
	case KD_F_UINT:
		return "an unsigned integer";
	case KD_F_BOOL:
		return "true or false";
	case KD_F_ARRAY:
		return "an array";
	default:
		return "an object";
	}
}

static bool type_ok(const cJSON *v, enum kd_ftype t)
{
	switch (t) {
	case KD_F_STR:
		return cJSON_IsString(v);
	case KD_F_STR_OR_NULL:
		return cJSON_IsString(v) || cJSON_IsNull(v);
	case KD_F_UINT:
		return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 4294967295.0 &&
		       v->valuedouble == (double)(unsigned long long)v->valuedouble;
	case KD_F_BOOL:
		return cJSON_IsBool(v);
	case KD_F_ARRAY:
		return cJSON_IsArray(v);
	default:
		return cJSON_IsObject(v);
	}
}

int kd_body_check(const cJSON *o, const char *what, const struct kd_field *fields, unsigned n, char *err,
		  size_t errlen)
{
	const cJSON *v, *w;

	if (!o)
		return 0;
	if (!cJSON_IsObject(o))
		return errf(err, errlen, "%s: the body must be a JSON object", what);
	cJSON_ArrayForEach(v, o) {
		unsigned i;

		for (i = 0; i < n; i++)
			if (v->string && !strcmp(v->string, fields[i].name))
				break;
		if (i == n)
			return errf(err, errlen, "%s: unknown field \"%.64s\"", what, v->string ? v->string : "");
		if (!type_ok(v, fields[i].type))
			return errf(err, errlen, "%s: %s: expected %s", what, fields[i].name, type_name(fields[i].type));
		for (w = v->next; w; w = w->next)
			if (w->string && !strcmp(w->string, v->string))
				return errf(err, errlen, "%s: duplicate field \"%s\"", what, v->string);
	}
	return 0;
}
