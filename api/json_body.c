/* SPDX-License-Identifier: MIT */
/*
 * Request bodies: one JSON object checked against a field table, with Firecracker's (serde's)
 * wording for what is wrong: "unknown field `x`, expected one of `a`, `b`", "missing field `x`",
 * "duplicate field `x`", "invalid type: string \"s\", expected a boolean", "unknown variant `v`,
 * expected one of ...", "invalid value: integer `-1`, expected u32". Pure functions, any thread.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api_internal.h"

#define DESER "An error occurred when deserializing the json body of a request: "

static const struct api_field bucket_fields[] = {
	{ "size", F_UINT, true, UINT64_MAX, NULL, "u64" },
	{ "one_time_burst", F_UINT, false, UINT64_MAX, NULL, "u64" },
	{ "refill_time", F_UINT, true, UINT64_MAX, NULL, "u64" },
};

static const struct api_field limiter_fields[] = {
	{ "bandwidth", F_OBJECT, false, 0, NULL, NULL },
	{ "ops", F_OBJECT, false, 0, NULL, NULL },
};

static void fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(err, errlen, DESER);

	va_start(ap, fmt);
	if (n > 0 && (size_t)n < errlen)
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
	n = (int)strlen(err);
	if ((size_t)n + 1 < errlen)
		snprintf(err + n, errlen - (size_t)n, ".");
}

/* serde's description of a JSON value ("string \"x\"", "integer `5`", "map", ...). */
static void describe(const cJSON *v, char *out, size_t len)
{
	if (cJSON_IsString(v))
		snprintf(out, len, "string \"%.64s\"", v->valuestring);
	else if (cJSON_IsBool(v))
		snprintf(out, len, "boolean `%s`", cJSON_IsTrue(v) ? "true" : "false");
	else if (cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) && fabs(v->valuedouble) < 1e18)
		snprintf(out, len, "integer `%.0f`", v->valuedouble);
	else if (cJSON_IsNumber(v))
		snprintf(out, len, "floating point `%g`", v->valuedouble);
	else if (cJSON_IsArray(v))
		snprintf(out, len, "sequence");
	else if (cJSON_IsObject(v))
		snprintf(out, len, "map");
	else
		snprintf(out, len, "null");
}

static const char *expected(const struct api_field *f)
{
	switch (f->type) {
	case F_STR:
	case F_ENUM:
		return "a string";
	case F_BOOL:
		return "a boolean";
	case F_UINT:
		return f->rust_type;
	case F_ARRAY:
		return "a sequence";
	default:
		return "a map";
	}
}

static int check_object(const cJSON *o, const char *what, const struct api_field *fields, unsigned n, char *err,
			size_t errlen);

static int check_value(const cJSON *v, const struct api_field *f, char *err, size_t errlen)
{
	char got[96];
	bool ok = false;

	switch (f->type) {
	case F_STR:
		ok = cJSON_IsString(v);
		break;
	case F_ENUM:
		if (!cJSON_IsString(v))
			break;
		for (unsigned i = 0; f->variants[i]; i++)
			if (!strcmp(f->variants[i], v->valuestring))
				return 0;
		{
			char list[256] = "";
			size_t pos = 0;

			for (unsigned i = 0; f->variants[i] && pos < sizeof(list); i++)
				pos += (size_t)snprintf(list + pos, sizeof(list) - pos, "%s`%s`", i ? ", " : "",
							f->variants[i]);
			fail(err, errlen, "unknown variant `%.64s`, expected one of %s", v->valuestring, list);
		}
		return -1;
	case F_BOOL:
		ok = cJSON_IsBool(v);
		break;
	case F_UINT:
		if (cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) &&
		    (v->valuedouble < 0 || v->valuedouble > (double)f->max)) {
			describe(v, got, sizeof(got));
			fail(err, errlen, "invalid value: %s, expected %s", got, f->rust_type);
			return -1;
		}
		ok = cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble);
		break;
	case F_LIMITER:
		if (!cJSON_IsObject(v))
			break;
		if (check_object(v, "RateLimiterConfig", limiter_fields, 2, err, errlen) < 0)
			return -1;
		for (const cJSON *b = v->child; b; b = b->next)
			if (!cJSON_IsNull(b) && check_object(b, "TokenBucketConfig", bucket_fields, 3, err, errlen) < 0)
				return -1;
		return 0;
	case F_OBJECT:
		ok = cJSON_IsObject(v);
		break;
	case F_ARRAY:
		ok = cJSON_IsArray(v);
		break;
	default:
		ok = false;
	}
	if (ok)
		return 0;
	describe(v, got, sizeof(got));
	fail(err, errlen, "invalid type: %s, expected %s", got, expected(f));
	return -1;
}

static int check_object(const cJSON *o, const char *what, const struct api_field *fields, unsigned n, char *err,
			size_t errlen)
{
	char got[96];

	if (!cJSON_IsObject(o)) {
		describe(o, got, sizeof(got));
		fail(err, errlen, "invalid type: %s, expected struct %s", got, what);
		return -1;
	}
	for (const cJSON *c = o->child; c; c = c->next) {
		const struct api_field *f = NULL;

		for (unsigned i = 0; i < n; i++)
			if (!strcmp(fields[i].name, c->string))
				f = &fields[i];
		if (!f) {
			char list[512] = "";
			size_t pos = 0;

			for (unsigned i = 0; i < n && pos < sizeof(list); i++)
				pos += (size_t)snprintf(list + pos, sizeof(list) - pos, "%s`%s`", i ? ", " : "", fields[i].name);
			fail(err, errlen, "unknown field `%.64s`, expected %s%s", c->string, n == 1 ? "" : "one of ", list);
			return -1;
		}
		for (const cJSON *p = o->child; p != c; p = p->next) {
			if (!strcmp(p->string, c->string)) {
				fail(err, errlen, "duplicate field `%s`", c->string);
				return -1;
			}
		}
		if (cJSON_IsNull(c) && !f->required)
			continue;
		if (check_value(c, f, err, errlen) < 0)
			return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, fields[i].name);

		if (fields[i].required && (!v || cJSON_IsNull(v))) {
			fail(err, errlen, "missing field `%s`", fields[i].name);
			return -1;
		}
	}
	return 0;
}

cJSON *api_body_object(const char *body, size_t len, const char *what, const struct api_field *fields, unsigned n,
		       char *err, size_t errlen)
{
	const char *end = NULL;
	cJSON *o;

	if (memchr(body, '\0', len)) {
		fail(err, errlen, "invalid JSON: NUL byte in the body");
		return NULL;
	}
	o = cJSON_ParseWithLengthOpts(body, len, &end, false);
	if (!o) {
		const char *at = cJSON_GetErrorPtr();

		fail(err, errlen, "invalid JSON at byte %ld", at && at >= body && at <= body + len ? (long)(at - body) : 0L);
		return NULL;
	}
	while (end && end < body + len && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
		end++;
	if (end && end < body + len) {
		fail(err, errlen, "trailing characters at byte %ld", (long)(end - body));
		cJSON_Delete(o);
		return NULL;
	}
	if (check_object(o, what, fields, n, err, errlen) < 0) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static const cJSON *item(const cJSON *o, const char *name)
{
	const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, name) : NULL;

	return v && !cJSON_IsNull(v) ? v : NULL;
}

bool api_has(const cJSON *o, const char *name)
{
	return item(o, name) != NULL;
}

const char *api_str(const cJSON *o, const char *name)
{
	const cJSON *v = item(o, name);

	return v && cJSON_IsString(v) ? v->valuestring : NULL;
}

bool api_bool(const cJSON *o, const char *name, bool dflt)
{
	const cJSON *v = item(o, name);

	return v && cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

uint64_t api_uint(const cJSON *o, const char *name, uint64_t dflt)
{
	const cJSON *v = item(o, name);

	if (!v || !cJSON_IsNumber(v) || v->valuedouble < 0)
		return dflt;
	return v->valuedouble >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)v->valuedouble;
}

int api_enum(const cJSON *o, const char *name, const char *const *variants)
{
	const char *s = api_str(o, name);

	for (int i = 0; s && variants[i]; i++)
		if (!strcmp(variants[i], s))
			return i;
	return -1;
}

static void bucket(const cJSON *o, struct vmm_token_bucket *b)
{
	memset(b, 0, sizeof(*b));
	if (!o)
		return;
	b->set = true;
	b->size = api_uint(o, "size", 0);
	b->one_time_burst = api_uint(o, "one_time_burst", 0);
	b->refill_time = api_uint(o, "refill_time", 0);
}

void api_limiter(const cJSON *o, const char *name, struct vmm_rate_limiter *rl)
{
	const cJSON *v = item(o, name);

	memset(rl, 0, sizeof(*rl));
	if (!v)
		return;
	rl->set = true;
	bucket(item(v, "bandwidth"), &rl->bandwidth);
	bucket(item(v, "ops"), &rl->ops);
}
