/* SPDX-License-Identifier: MIT */
/*
 * PUT/PATCH /balloon, PATCH /balloon/statistics, PUT /logger, PUT /metrics, PUT /entropy, and the
 * kite extension PUT /virtio-console {"output": "stdio" | "file:PATH"}.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "api_internal.h"

static const char *const levels[] = { "Error", "Warning", "Info", "Debug", "Trace", "Off", NULL };

int res_parse_balloon(const char *body, size_t len, bool patch, struct api_cmd *cmd, char *err, size_t errlen)
{
	static const struct api_field put_f[] = {
		{ "amount_mib", F_UINT, true, UINT32_MAX, NULL, "u32" },
		{ "deflate_on_oom", F_BOOL, true, 0, NULL, NULL },
		{ "stats_polling_interval_s", F_UINT, false, 65535, NULL, "u16" },
		{ "free_page_hinting", F_BOOL, false, 0, NULL, NULL },
		{ "free_page_reporting", F_BOOL, false, 0, NULL, NULL },
	};
	static const struct api_field patch_f[] = { { "amount_mib", F_UINT, true, UINT32_MAX, NULL, "u32" } };

	cmd->json = patch ? api_body_object(body, len, "BalloonUpdateConfig", patch_f, 1, err, errlen)
			  : api_body_object(body, len, "BalloonDeviceConfig", put_f, 5, err, errlen);
	if (!cmd->json)
		return -1;
	if (patch) {
		cmd->op = API_PATCH_BALLOON;
		cmd->u.amount_mib = (uint32_t)api_uint(cmd->json, "amount_mib", 0);
		return 0;
	}
	if (api_bool(cmd->json, "free_page_hinting", false) || api_bool(cmd->json, "free_page_reporting", false)) {
		snprintf(err, errlen, "Balloon config error: kite's balloon has no free page hinting or reporting");
		return -1;
	}
	cmd->op = API_PUT_BALLOON;
	cmd->u.balloon.amount_mib = (uint32_t)api_uint(cmd->json, "amount_mib", 0);
	cmd->u.balloon.deflate_on_oom = api_bool(cmd->json, "deflate_on_oom", false);
	cmd->u.balloon.stats_polling_interval_s = (unsigned)api_uint(cmd->json, "stats_polling_interval_s", 0);
	return 0;
}

int res_parse_balloon_stats(const char *body, size_t len, struct api_cmd *cmd, char *err, size_t errlen)
{
	static const struct api_field f[] = { { "stats_polling_interval_s", F_UINT, true, 65535, NULL, "u16" } };

	cmd->json = api_body_object(body, len, "BalloonUpdateStatsConfig", f, 1, err, errlen);
	if (!cmd->json)
		return -1;
	cmd->op = API_PATCH_BALLOON_STATS;
	cmd->u.interval_s = (unsigned)api_uint(cmd->json, "stats_polling_interval_s", 0);
	return 0;
}

int res_parse_logger(const char *body, size_t len, struct api_cmd *cmd, char *err, size_t errlen)
{
	static const struct api_field f[] = {
		{ "log_path", F_STR, false, 0, NULL, NULL },
		{ "level", F_ENUM, false, 0, levels, NULL },
		{ "show_level", F_BOOL, false, 0, NULL, NULL },
		{ "show_log_origin", F_BOOL, false, 0, NULL, NULL },
		{ "module", F_STR, false, 0, NULL, NULL },
	};

	cmd->json = api_body_object(body, len, "LoggerConfig", f, 5, err, errlen);
	if (!cmd->json)
		return -1;
	cmd->op = API_PUT_LOGGER;
	cmd->u.logger.log_path = api_str(cmd->json, "log_path");
	cmd->u.logger.level = api_str(cmd->json, "level");
	return 0;
}

int res_parse_metrics(const char *body, size_t len, struct api_cmd *cmd, char *err, size_t errlen)
{
	static const struct api_field f[] = {
		{ "metrics_path", F_STR, true, 0, NULL, NULL },
		{ "emit_id", F_BOOL, false, 0, NULL, NULL },
		{ "properties", F_OBJECT, false, 0, NULL, NULL },
	};

	cmd->json = api_body_object(body, len, "MetricsConfig", f, 3, err, errlen);
	if (!cmd->json)
		return -1;
	cmd->op = API_PUT_METRICS;
	cmd->u.path = api_str(cmd->json, "metrics_path");
	return 0;
}

int res_parse_entropy(const char *body, size_t len, struct api_cmd *cmd, char *err, size_t errlen)
{
	static const struct api_field f[] = { { "rate_limiter", F_LIMITER, false, 0, NULL, NULL } };

	struct vmm_rate_limiter rl;

	cmd->json = api_body_object(body, len, "EntropyDeviceConfig", f, 1, err, errlen);
	if (!cmd->json)
		return -1;
	api_limiter(cmd->json, "rate_limiter", &rl);
	if (rl.set) {
		snprintf(err, errlen, "Entropy device error: kite's virtio-rng has no rate limiter");
		return -1;
	}
	cmd->op = API_PUT_ENTROPY;
	return 0;
}

int res_parse_vconsole(const char *body, size_t len, struct api_cmd *cmd, char *err, size_t errlen)
{
	static const struct api_field f[] = { { "output", F_STR, true, 0, NULL, NULL } };

	cmd->json = api_body_object(body, len, "VirtioConsoleConfig", f, 1, err, errlen);
	if (!cmd->json)
		return -1;
	cmd->op = API_PUT_VCONSOLE;
	cmd->u.path = api_str(cmd->json, "output");
	return 0;
}
