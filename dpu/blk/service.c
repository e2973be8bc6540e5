/* SPDX-License-Identifier: MIT */
/* The block service's control plane: volumes from the config file and the control socket, stats. */
#include <stdlib.h>
#include <string.h>

#include "kite/log.h"
#include "../dpu.h"
#include "blk.h"
#include "blk_crypt.h"

#define MAX_VOLUMES 64

static struct blk_volume *volumes[MAX_VOLUMES];

static struct blk_volume **find(const char *name)
{
	for (unsigned i = 0; i < MAX_VOLUMES; i++)
		if (volumes[i] && !strcmp(blk_volume_name(volumes[i]), name))
			return &volumes[i];
	return NULL;
}

static const char *get_str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int get_u64(const cJSON *o, const char *k, uint64_t *out, char *err, size_t errlen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	if (!v)
		return 0;
	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e18) {
		snprintf(err, errlen, "\"%s\" must be a non-negative number", k);
		return -1;
	}
	*out = (uint64_t)v->valuedouble;
	return 0;
}

static int hex_key(const char *hex, uint8_t *key)
{
	if (strlen(hex) != 2 * BLK_XTS_KEY_LEN)
		return -1;
	for (unsigned i = 0; i < BLK_XTS_KEY_LEN; i++) {
		unsigned b;
		if (sscanf(hex + 2 * i, "%2x", &b) != 1)
			return -1;
		key[i] = (uint8_t)b;
	}
	return 0;
}

static int volume_add(const cJSON *o, char *err, size_t errlen)
{
	struct blk_volume_params p = { 0 };
	uint64_t queues = 1, core = UINT64_MAX, cmax = 0;
	const cJSON *ro = cJSON_GetObjectItemCaseSensitive(o, "readonly");
	const cJSON *direct = cJSON_GetObjectItemCaseSensitive(o, "direct");
	const cJSON *packed = cJSON_GetObjectItemCaseSensitive(o, "packed");
	const cJSON *map = cJSON_GetObjectItemCaseSensitive(o, "map");
	const char *key;

	p.name = get_str(o, "name");
	p.image = get_str(o, "image");
	p.socket = get_str(o, "socket");
	if (!p.name || !p.image || !p.socket) {
		snprintf(err, errlen, "a volume needs string \"name\", \"image\" and \"socket\"");
		return -1;
	}
	static const char *const flags[] = { "readonly", "direct", "packed", "map" };
	for (unsigned i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, flags[i]);
		if (f && !cJSON_IsBool(f)) {
			snprintf(err, errlen, "\"%s\" must be true or false", flags[i]);
			return -1;
		}
	}
	if (get_u64(o, "coalesce_usecs", &p.coalesce_usecs, err, errlen) || get_u64(o, "coalesce_max", &cmax, err, errlen))
		return -1;
	if (p.coalesce_usecs > BLK_COALESCE_MAX_USECS || cmax > 65535) {
		snprintf(err, errlen, "\"coalesce_usecs\" must be 0..%d and \"coalesce_max\" 0..65535", BLK_COALESCE_MAX_USECS);
		return -1;
	}
	p.coalesce_max = (unsigned)cmax;
	if (find(p.name)) {
		snprintf(err, errlen, "volume %.64s already exists", p.name);
		return -1;
	}
	if (dpu_confine_image(p.image, err, errlen) < 0 || dpu_confine_socket(p.socket, err, errlen) < 0)
		return -1;
	if (get_u64(o, "queues", &queues, err, errlen) || get_u64(o, "iops", &p.iops_limit, err, errlen) ||
	    get_u64(o, "bps", &p.bps_limit, err, errlen) || get_u64(o, "core", &core, err, errlen))
		return -1;
	if (queues == 0 || queues > BLK_MAX_QUEUES) {
		snprintf(err, errlen, "\"queues\" must be 1..%d", BLK_MAX_QUEUES);
		return -1;
	}
	p.num_queues = (unsigned)queues;
	p.readonly = cJSON_IsTrue(ro);
	p.direct = !direct ? BLK_DIRECT_AUTO : cJSON_IsTrue(direct) ? BLK_DIRECT_ON : BLK_DIRECT_OFF;
	p.no_map = cJSON_IsFalse(map);
	p.packed = cJSON_IsTrue(packed);
	if ((key = get_str(o, "key"))) {
		if (hex_key(key, p.key) < 0) {
			snprintf(err, errlen, "\"key\" must be %d hex digits (AES-256-XTS)", 2 * BLK_XTS_KEY_LEN);
			return -1;
		}
		p.has_key = true;
	}
	unsigned slot = 0;
	while (slot < MAX_VOLUMES && volumes[slot])
		slot++;
	if (slot == MAX_VOLUMES) {
		snprintf(err, errlen, "too many volumes (%d)", MAX_VOLUMES);
		return -1;
	}
	volumes[slot] = blk_volume_new(&p, dpu_loop(), dpu_poller_pick(core == UINT64_MAX ? -1 : (int)core));
	memset(p.key, 0, sizeof(p.key));
	if (!volumes[slot]) {
		snprintf(err, errlen, "volume %.64s could not be created (see the log)", p.name);
		return -1;
	}
	return 0;
}

static int cmd_add_volume(const cJSON *req, cJSON *reply, char *err, size_t errlen)
{
	(void)reply;
	return volume_add(req, err, errlen);
}

static int cmd_remove_volume(const cJSON *req, cJSON *reply, char *err, size_t errlen)
{
	const char *name = get_str(req, "name");
	struct blk_volume **v = name ? find(name) : NULL;

	(void)reply;
	if (!v) {
		snprintf(err, errlen, "no volume named %.64s", name ? name : "(missing \"name\")");
		return -1;
	}
	blk_volume_free(*v);
	*v = NULL;
	log_info("%s: removed", name);
	return 0;
}

static int cmd_set_qos(const cJSON *req, cJSON *reply, char *err, size_t errlen)
{
	const char *name = get_str(req, "name");
	struct blk_volume **v = name ? find(name) : NULL;
	uint64_t iops = 0, bps = 0;

	(void)reply;
	if (!v) {
		snprintf(err, errlen, "no volume named %.64s", name ? name : "(missing \"name\")");
		return -1;
	}
	if (get_u64(req, "iops", &iops, err, errlen) || get_u64(req, "bps", &bps, err, errlen))
		return -1;
	blk_volume_set_qos(*v, iops, bps);
	return 0;
}

static int cmd_volume_resize(const cJSON *req, cJSON *reply, char *err, size_t errlen)
{
	const char *name = get_str(req, "name");
	struct blk_volume **v = name ? find(name) : NULL;
	uint64_t size = 0;

	(void)reply;
	if (!v) {
		snprintf(err, errlen, "no volume named %.64s", name ? name : "(missing \"name\")");
		return -1;
	}
	if (get_u64(req, "size", &size, err, errlen))
		return -1;
	return blk_volume_resize(*v, size, err, errlen);
}

static int cmd_list_volumes(const cJSON *req, cJSON *reply, char *err, size_t errlen)
{
	(void)req; (void)err; (void)errlen;
	cJSON *a = cJSON_AddArrayToObject(reply, "volumes");
	for (unsigned i = 0; i < MAX_VOLUMES; i++)
		if (volumes[i])
			cJSON_AddItemToArray(a, cJSON_CreateString(blk_volume_name(volumes[i])));
	return 0;
}

/* The keys of a volume object (volume_add reads them). */
static const char *const volume_keys[] = { "name", "image", "socket", "queues", "readonly", "direct", "iops",
					   "bps", "core", "key", "packed", "map", "coalesce_usecs", "coalesce_max", NULL };

static int check_volumes(const cJSON *sec, char *err, size_t errlen)
{
	const cJSON *o;
	unsigned i = 0;
	char what[96];

	if (!cJSON_IsArray(sec)) {
		snprintf(err, errlen, "\"volumes\" must be an array of volume objects");
		return -1;
	}
	cJSON_ArrayForEach(o, sec) {
		const char *name = get_str(o, "name");
		snprintf(what, sizeof(what), "volumes[%u]%s%.64s", i++, name ? " " : "", name ? name : "");
		if (!cJSON_IsObject(o)) {
			snprintf(err, errlen, "%s: not an object", what);
			return -1;
		}
		if (dpu_config_check_keys(o, what, volume_keys, err, errlen) < 0)
			return -1;
	}
	return 0;
}

static int apply_volumes(const cJSON *sec, char *err, size_t errlen)
{
	const cJSON *o;
	char why[256];

	cJSON_ArrayForEach(o, sec) {
		if (volume_add(o, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "volume: %s", why);
			return -1;
		}
	}
	return 0;
}

static void stats_volumes(FILE *f)
{
	for (unsigned i = 0; i < MAX_VOLUMES; i++)
		if (volumes[i])
			blk_volume_stats(volumes[i], f);
}

void dpu_blk_init(void)
{
	blk_crypt_global_init();
	dpu_ctl_register("add_volume", cmd_add_volume);
	dpu_ctl_register("remove_volume", cmd_remove_volume);
	dpu_ctl_register("set_qos", cmd_set_qos);
	dpu_ctl_register("volume_resize", cmd_volume_resize);
	dpu_ctl_register("list_volumes", cmd_list_volumes);
	dpu_config_register("volumes", check_volumes, apply_volumes);
	dpu_stats_register(stats_volumes);
}

void dpu_blk_shutdown(void)
{
	for (unsigned i = 0; i < MAX_VOLUMES; i++) {
		blk_volume_free(volumes[i]);
		volumes[i] = NULL;
	}
}
