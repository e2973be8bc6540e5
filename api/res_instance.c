/* SPDX-License-Identifier: MIT */
/* PUT /actions (InstanceStart, SendCtrlAltDel, FlushMetrics) and PATCH /vm (Paused, Resumed). */
#include <cjson/cJSON.h>

#include "api_internal.h"

static const char *const actions[] = { "FlushMetrics", "InstanceStart", "SendCtrlAltDel", NULL };
static const char *const states[] = { "Paused", "Resumed", NULL };

int res_parse_actions(const char *body, size_t len, struct api_cmd *cmd, char *err, size_t errlen)
{
	static const struct api_field f[] = { { "action_type", F_ENUM, true, 0, actions, NULL } };
	static const enum api_op ops[] = { API_FLUSH_METRICS, API_START, API_CTRL_ALT_DEL };

	cmd->json = api_body_object(body, len, "ActionBody", f, 1, err, errlen);
	if (!cmd->json)
		return -1;
	cmd->op = ops[api_enum(cmd->json, "action_type", actions)];
	return 0;
}

int res_parse_vm_state(const char *body, size_t len, struct api_cmd *cmd, char *err, size_t errlen)
{
	static const struct api_field f[] = { { "state", F_ENUM, true, 0, states, NULL } };

	cmd->json = api_body_object(body, len, "Vm", f, 1, err, errlen);
	if (!cmd->json)
		return -1;
	cmd->op = api_enum(cmd->json, "state", states) == 0 ? API_PAUSE : API_RESUME;
	return 0;
}
