/* SPDX-License-Identifier: MIT */
/* Parsing of the virtio device flags and JSON keys into struct virtio_options (kite/virtio_options.h). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kite/log.h"
#include "kite/virtio_dev.h"
#include "kite/virtio_options.h"
#include "kite/virtio_transport.h"

static int parse_u64(const char *v, uint64_t *out, const char *what, const char *key);

int virtio_opts_set_balloon(struct virtio_options *v, const char *spec, const char *what)
{
	struct balloon_options o;

	if (balloon_parse_spec(spec, &o, what) < 0)   /* pages=N,stats=S (virtio/balloon.c) */
		return -1;
	v->balloon = o;
	return 0;
}

int virtio_opts_set_console(struct virtio_options *v, const char *out, const char *what)
{
	char *copy;

	if (!out || (strcmp(out, "stdio") && (strncmp(out, "file:", 5) || !out[5]))) {
		log_err("%s: '%s' is neither stdio nor file:PATH", what, out ? out : "");
		return -1;
	}
	copy = strdup(out);
	if (!copy) {
		log_err("%s: out of memory", what);
		return -1;
	}
	free(v->console);
	v->console = copy;
	return 0;
}

static void blk_options_free(struct blk_options *o)
{
	free(o->path);
	free(o->id);
	memset(o, 0, sizeof(*o));
}

void virtio_opts_free(struct virtio_options *v)
{
	for (unsigned i = 0; i < v->nblk; i++)
		blk_options_free(&v->blk[i]);
	for (unsigned i = 0; i < v->nnet; i++)
		free(v->net[i].tap);
	for (unsigned i = 0; i < v->nvu_blk; i++)
		vhost_user_options_free(&v->vu_blk[i]);
	for (unsigned i = 0; i < v->nvu_net; i++)
		vhost_user_options_free(&v->vu_net[i]);
	free(v->console);
	memset(v, 0, sizeof(*v));
}

static int parse_bool(const char *v, bool *out, const char *what, const char *key)
{
	if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "1")) {
		*out = true;
		return 0;
	}
	if (!strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "0")) {
		*out = false;
		return 0;
	}
	log_err("%s: %s=%s: expected on or off", what, key, v);
	return -1;
}

static int parse_u64(const char *v, uint64_t *out, const char *what, const char *key)
{
	char *end;

	errno = 0;
	*out = strtoull(v, &end, 10);
	if (!*v || *v == '-' || *end || errno) {
		log_err("%s: %s=%s is not a number", what, key, v);
		return -1;
	}
	return 0;
}

static int parse_mac(const char *val, uint8_t mac[6], const char *what)
{
	unsigned b[6];
	char end;

	if (sscanf(val, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &end) != 6 ||
	    (b[0] & 1)) {
		log_err("%s: mac=%s is not a unicast MAC address (xx:xx:xx:xx:xx:xx)", what, val);
		return -1;
	}
	for (unsigned i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return 0;
}

static int parse_range(const char *val, uint64_t lo, uint64_t hi, unsigned *out, const char *what, const char *key)
{
	uint64_t v;

	if (parse_u64(val, &v, what, key) < 0)
		return -1;
	if (v < lo || v > hi) {
		log_err("%s: %s=%s out of range %llu..%llu", what, key, val, (unsigned long long)lo,
			(unsigned long long)hi);
		return -1;
	}
	*out = (unsigned)v;
	return 0;
}

int vhost_user_option_set(struct vhost_user_options *o, enum vhost_user_kind kind, const char *key,
			  const char *val, const char *what)
{
	bool net = kind == VHOST_USER_NET;

	if (!strcmp(key, "socket")) {
		if (!*val || strlen(val) >= 108) {
			log_err("%s: socket=%s: a path of 1..107 characters is needed", what, val);
			return -1;
		}
		free(o->socket);
		o->socket = strdup(val);
		if (!o->socket)
			log_err("%s: out of memory", what);
		return o->socket ? 0 : -1;
	}
	if (!strcmp(key, "queues"))
		return parse_range(val, 1, KITE_VHOST_USER_MAX_QUEUES, &o->queues, what, key);
	if (!strcmp(key, "reconnect"))
		return parse_range(val, 0, 86400, &o->reconnect, what, key);
	if (!strcmp(key, "mem_timeout"))
		return parse_range(val, 1, 600, &o->mem_timeout, what, key);
	if (!strcmp(key, "transport"))
		return virtio_transport_parse(what, val, &o->transport);
	if (net && !strcmp(key, "mac")) {
		if (parse_mac(val, o->mac, what) < 0)
			return -1;
		o->has_mac = true;
		return 0;
	}
	if (net && !strcmp(key, "mtu"))
		return parse_range(val, 68, 65535, &o->mtu, what, key);
	log_err("%s: unknown key '%s' (known: socket, %squeues, transport, reconnect, mem_timeout)", what, key,
		net ? "mac, mtu, " : "");
	return -1;
}

int vhost_user_option_check(const struct vhost_user_options *o, const char *what)
{
	if (!o->socket) {
		log_err("%s: socket=PATH is required", what);
		return -1;
	}
	return 0;
}

void vhost_user_options_free(struct vhost_user_options *o)
{
	free(o->socket);
	memset(o, 0, sizeof(*o));
}

/* Split "k=v,k=v" and hand each pair to set(). 0 or -1 (logged). */
static int parse_kv_list(const char *spec, const char *what,
			 int (*set)(void *o, const char *key, const char *val, const char *what), void *o)
{
	char *copy = strdup(spec ? spec : ""), *save = NULL, *tok;
	int ret = 0;

	if (!copy) {
		log_err("%s: out of memory", what);
		return -1;
	}
	for (tok = strtok_r(copy, ",", &save); tok && ret == 0; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');

		if (!eq) {
			log_err("%s: '%s' is not key=value", what, tok);
			ret = -1;
			break;
		}
		*eq = '\0';
		ret = set(o, tok, eq + 1, what);
	}
	free(copy);
	return ret;
}

static int vu_blk_set(void *o, const char *key, const char *val, const char *what)
{
	return vhost_user_option_set(o, VHOST_USER_BLK, key, val, what);
}

static int vu_net_set(void *o, const char *key, const char *val, const char *what)
{
	return vhost_user_option_set(o, VHOST_USER_NET, key, val, what);
}

int virtio_opts_parse_vhost_user(struct virtio_options *v, enum vhost_user_kind kind, const char *spec,
				 const char *what)
{
	bool net = kind == VHOST_USER_NET;
	unsigned *n = net ? &v->nvu_net : &v->nvu_blk;
	struct vhost_user_options *o = net ? &v->vu_net[*n] : &v->vu_blk[*n];

	if (*n == KITE_MAX_VHOST_USER) {
		log_err("%s: at most %d vhost-user %s devices", what, KITE_MAX_VHOST_USER, net ? "net" : "blk");
		return -1;
	}
	memset(o, 0, sizeof(*o));
	if (parse_kv_list(spec, what, net ? vu_net_set : vu_blk_set, o) < 0 || vhost_user_option_check(o, what) < 0) {
		vhost_user_options_free(o);
		return -1;
	}
	(*n)++;
	return 0;
}

/* One key=value of a block device. */
static int blk_set(struct blk_options *o, const char *key, const char *val, const char *what)
{
	char **str = NULL;

	if (!strcmp(key, "path"))
		str = &o->path;
	else if (!strcmp(key, "id"))
		str = &o->id;
	if (str) {
		if (!*val) {
			log_err("%s: %s is empty", what, key);
			return -1;
		}
		free(*str);
		*str = strdup(val);
		if (!*str) {
			log_err("%s: out of memory", what);
			return -1;
		}
		return 0;
	}
	if (!strcmp(key, "readonly"))
		return parse_bool(val, &o->readonly, what, key);
	if (!strcmp(key, "cache")) {
		if (!strcmp(val, "none"))
			o->cache = BLK_CACHE_NONE;
		else if (!strcmp(val, "writeback"))
			o->cache = BLK_CACHE_WRITEBACK;
		else {
			log_err("%s: cache=%s: expected none or writeback", what, val);
			return -1;
		}
		return 0;
	}
	if (!strcmp(key, "transport"))
		return virtio_transport_parse(what, val, &o->transport);
	if (!strcmp(key, "aio")) {
		if (!strcmp(val, "uring") || !strcmp(val, "io_uring"))
			o->sync_io = false;
		else if (!strcmp(val, "sync"))
			o->sync_io = true;
		else {
			log_err("%s: aio=%s: expected uring or sync", what, val);
			return -1;
		}
		return 0;
	}
	if (!strcmp(key, "map")) {
		bool on;

		if (parse_bool(val, &on, what, key) < 0)
			return -1;
		o->no_map = !on;
		return 0;
	}
	if (!strcmp(key, "iops"))
		return parse_u64(val, &o->iops, what, key);
	if (!strcmp(key, "bps"))
		return parse_u64(val, &o->bps, what, key);
	if (!strcmp(key, "queues")) {
		if (parse_u64(val, &o->queues, what, key) < 0)
			return -1;
		if (o->queues < 1 || o->queues > VIRTIO_MAX_QUEUES) {
			log_err("%s: queues=%s: 1..%d", what, val, VIRTIO_MAX_QUEUES);
			return -1;
		}
		return 0;
	}
	if (!strcmp(key, "poll")) {
		o->poll_set = true;
		if (!strcmp(val, "adaptive")) {
			o->poll_adaptive = true;
			return 0;
		}
		o->poll_adaptive = false;
		if (parse_u64(val, &o->poll_us, what, key) < 0)
			return -1;
		if (o->poll_us > 1000) {
			log_err("%s: poll=%s: at most 1000 microseconds, or adaptive", what, val);
			return -1;
		}
		return 0;
	}
	if (!strcmp(key, "poll_max")) {
		if (parse_u64(val, &o->poll_us, what, key) < 0)
			return -1;
		if (o->poll_us < 1 || o->poll_us > 1000) {
			log_err("%s: poll_max=%s: 1..1000 microseconds", what, val);
			return -1;
		}
		o->poll_max_set = true;
		return 0;
	}
	if (!strcmp(key, "poll_budget")) {
		if (parse_u64(val, &o->poll_budget, what, key) < 0)
			return -1;
		if (o->poll_budget < 1 || o->poll_budget > 100) {
			log_err("%s: poll_budget=%s: 1..100 percent of one core", what, val);
			return -1;
		}
		return 0;
	}
	log_err("%s: unknown key '%s' (known: path, readonly, cache, id, iops, bps, transport, aio, map, poll, "
		"poll_max, poll_budget, queues)", what, key);
	return -1;
}

static struct blk_options *blk_new(struct virtio_options *v, const char *what)
{
	if (v->nblk == KITE_MAX_BLK) {
		log_err("%s: at most %d block devices", what, KITE_MAX_BLK);
		return NULL;
	}
	memset(&v->blk[v->nblk], 0, sizeof(v->blk[0]));
	return &v->blk[v->nblk];
}

static int blk_commit(struct virtio_options *v, struct blk_options *o, const char *what)
{
	if (!o->path) {
		log_err("%s: path=IMAGE is required", what);
		blk_options_free(o);
		return -1;
	}
	if (o->poll_max_set && o->poll_set && !o->poll_adaptive) {
		/* without poll= the disk polls adaptively (BLK_POLL_DEFAULT_ADAPTIVE): poll_max= applies */
		log_err("%s: poll_max= goes with poll=adaptive, the default (poll=US is a fixed window, poll=0 off)", what);
		blk_options_free(o);
		return -1;
	}
	v->nblk++;
	return 0;
}

int virtio_opts_parse_blk(struct virtio_options *v, const char *spec, const char *what)
{
	struct blk_options *o = blk_new(v, what);
	char *copy, *save = NULL, *tok;

	if (!o)
		return -1;
	copy = strdup(spec ? spec : "");
	if (!copy) {
		log_err("%s: out of memory", what);
		return -1;
	}
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');

		if (!eq) {
			/* a bare first word is the path, as in --blk disk.img */
			if (tok == copy && blk_set(o, "path", tok, what) == 0)
				continue;
			log_err("%s: '%s' is not key=value", what, tok);
			goto fail;
		}
		*eq = '\0';
		if (blk_set(o, tok, eq + 1, what) < 0)
			goto fail;
	}
	free(copy);
	return blk_commit(v, o, what);
fail:
	free(copy);
	blk_options_free(o);
	return -1;
}

static int net_set(struct net_options *o, const char *key, const char *val, const char *what)
{
	if (!strcmp(key, "tap")) {
		if (!*val || strlen(val) >= 16) {
			log_err("%s: tap=%s: a TAP name of 1..15 characters is needed", what, val);
			return -1;
		}
		free(o->tap);
		o->tap = strdup(val);
		return o->tap ? 0 : -1;
	}
	if (!strcmp(key, "mac")) {
		if (parse_mac(val, o->mac, what) < 0)
			return -1;
		o->has_mac = 1;
		return 0;
	}
	if (!strcmp(key, "mtu"))
		return parse_range(val, 68, 65535, &o->mtu, what, key);
	if (!strcmp(key, "queues"))
		return parse_range(val, 1, KITE_NET_MAX_QUEUES, &o->queues, what, key);
	{
		int r = net_option_limit(o, key, val, what);   /* bps, pps, burst (virtio/net_limit.c) */

		if (r)
			return r < 0 ? -1 : 0;
	}
	log_err("%s: unknown key '%s' (known: tap, mac, mtu, queues, bps, pps, burst, transport)", what, key);
	return -1;
}

/* One network device from "tap=NAME,mac=..,mtu=.." or, in JSON, an object with those keys. */
int virtio_opts_parse_net(struct virtio_options *v, const char *spec, const char *what)
{
	struct net_options *o;
	char *copy, *save = NULL, *tok;

	if (v->nnet == KITE_MAX_NET) {
		log_err("%s: at most %d network devices", what, KITE_MAX_NET);
		return -1;
	}
	o = &v->net[v->nnet];
	memset(o, 0, sizeof(*o));
	copy = strdup(spec ? spec : "");
	if (!copy)
		return -1;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');

		if (!eq) {
			log_err("%s: '%s' is not key=value", what, tok);
			goto fail;
		}
		*eq = '\0';
		if (net_set(o, tok, eq + 1, what) < 0)
			goto fail;
	}
	free(copy);
	if (!o->tap) {
		log_err("%s: tap=NAME is required", what);
		return -1;
	}
	v->nnet++;
	return 0;
fail:
	free(copy);
	free(o->tap);
	o->tap = NULL;
	return -1;
}

/* A JSON object of flag keys turned into the flag's "k=v,k=v" form (strings, numbers, booleans). */
static int spec_from_json(const cJSON *obj, char *spec, size_t cap, const char *what)
{
	const cJSON *it;

	spec[0] = '\0';
	if (!cJSON_IsObject(obj)) {
		log_err("%s: each element must be an object or a string", what);
		return -1;
	}
	cJSON_ArrayForEach(it, obj) {
		char val[128];
		size_t used = strlen(spec);

		if (cJSON_IsString(it))
			snprintf(val, sizeof(val), "%s", it->valuestring);
		else if (cJSON_IsBool(it))
			snprintf(val, sizeof(val), "%s", cJSON_IsTrue(it) ? "on" : "off");
		else if (cJSON_IsNumber(it) && it->valuedouble >= 0 && it->valuedouble < 1e9)
			snprintf(val, sizeof(val), "%.0f", it->valuedouble);
		else {
			log_err("%s: key '%s' has a value of the wrong type", what, it->string);
			return -1;
		}
		if (strchr(val, ',') || strchr(it->string, ',')) {
			log_err("%s: key '%s': commas are not allowed", what, it->string);
			return -1;
		}
		if ((size_t)snprintf(spec + used, cap - used, "%s%s=%s", used ? "," : "", it->string, val) >= cap - used) {
			log_err("%s: element too long", what);
			return -1;
		}
	}
	return 0;
}

static int net_from_json(struct virtio_options *v, const cJSON *obj, const char *what)
{
	char spec[512];

	if (cJSON_IsString(obj))
		return virtio_opts_parse_net(v, obj->valuestring, what);
	if (spec_from_json(obj, spec, sizeof(spec), what) < 0)
		return -1;
	return virtio_opts_parse_net(v, spec, what);
}

static int vhost_user_from_json(struct virtio_options *v, enum vhost_user_kind kind, const cJSON *obj,
				const char *what)
{
	char spec[512];

	if (cJSON_IsString(obj))
		return virtio_opts_parse_vhost_user(v, kind, obj->valuestring, what);
	if (spec_from_json(obj, spec, sizeof(spec), what) < 0)
		return -1;
	return virtio_opts_parse_vhost_user(v, kind, spec, what);
}

static int blk_from_json(struct virtio_options *v, const cJSON *obj, const char *what)
{
	struct blk_options *o;
	const cJSON *it;

	if (cJSON_IsString(obj))
		return virtio_opts_parse_blk(v, obj->valuestring, what);
	if (!cJSON_IsObject(obj)) {
		log_err("%s: each element must be an object or a string", what);
		return -1;
	}
	o = blk_new(v, what);
	if (!o)
		return -1;
	cJSON_ArrayForEach(it, obj) {
		char num[32];
		const char *val;

		if (cJSON_IsString(it))
			val = it->valuestring;
		else if (cJSON_IsBool(it))
			val = cJSON_IsTrue(it) ? "on" : "off";
		else if (cJSON_IsNumber(it) && it->valuedouble >= 0 && it->valuedouble < 1e19) {
			snprintf(num, sizeof(num), "%.0f", it->valuedouble);
			val = num;
		} else {
			log_err("%s: key '%s' has a value of the wrong type", what, it->string);
			blk_options_free(o);
			return -1;
		}
		if (blk_set(o, it->string, val, what) < 0) {
			blk_options_free(o);
			return -1;
		}
	}
	return blk_commit(v, o, what);
}

int virtio_opts_json(struct virtio_options *v, const char *key, const void *item, const char *origin)
{
	const cJSON *arr = item, *el;
	char what[256];

	snprintf(what, sizeof(what), "%s: key '%s'", origin, key);
	if (!strcmp(key, "rng")) {
		if (!cJSON_IsBool(arr)) {
			log_err("%s must be true or false", what);
			return -1;
		}
		v->rng = cJSON_IsTrue(arr);
		return 0;
	}
	if (!strcmp(key, "balloon")) {
		char spec[32];

		if (cJSON_IsBool(arr)) {
			if (cJSON_IsTrue(arr))
				return virtio_opts_set_balloon(v, NULL, what);
			v->balloon.enabled = false;
			return 0;
		}
		if (cJSON_IsString(arr))
			return virtio_opts_set_balloon(v, arr->valuestring, what);   /* "pages=N,stats=S" */
		if (!cJSON_IsNumber(arr) || arr->valuedouble < 0 || arr->valuedouble > 4294967295.0) {
			log_err("%s must be true, false, a number of pages or \"pages=N,stats=S\"", what);
			return -1;
		}
		snprintf(spec, sizeof(spec), "pages=%.0f", arr->valuedouble);
		return virtio_opts_set_balloon(v, spec, what);
	}
	if (!strcmp(key, "console_virtio")) {
		if (!cJSON_IsString(arr)) {
			log_err("%s must be a string (stdio or file:PATH)", what);
			return -1;
		}
		return virtio_opts_set_console(v, arr->valuestring, what);
	}
	if (!strcmp(key, "net") || !strcmp(key, "vhost_user_blk") || !strcmp(key, "vhost_user_net")) {
		if (!cJSON_IsArray(arr)) {
			log_err("%s must be an array", what);
			return -1;
		}
		cJSON_ArrayForEach(el, arr) {
			int r = !strcmp(key, "net") ? net_from_json(v, el, what) :
				vhost_user_from_json(v, strcmp(key, "vhost_user_net") ? VHOST_USER_BLK : VHOST_USER_NET,
						     el, what);

			if (r < 0)
				return -1;
		}
		return 0;
	}
	if (strcmp(key, "blk") != 0) {
		log_err("%s: not a virtio device key", what);
		return -1;
	}
	if (!cJSON_IsArray(arr)) {
		log_err("%s must be an array", what);
		return -1;
	}
	cJSON_ArrayForEach(el, arr) {
		if (blk_from_json(v, el, what) < 0)
			return -1;
	}
	return 0;
}
