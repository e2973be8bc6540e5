/* SPDX-License-Identifier: MIT */
/* Commands -> the VMM control, on the owner thread; replies as Firecracker gives them. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "kite/log.h"
#include "kite/version.h"

static void reply_json(struct api_reply *reply, char *json)
{
	if (!json) {
		api_reply_fault(reply, "Internal VMM error: out of memory");
		return;
	}
	reply->status = 200;
	reply->body = json;
}

static int set_logger(const struct api_logger *l, char *err, size_t errlen)
{
	static const char *const names[] = { "Error", "Warning", "Info", "Debug", "Trace", "Off" };
	static const int levels[] = { KITE_LOG_ERR, KITE_LOG_WARN, KITE_LOG_INFO, KITE_LOG_DEBUG, KITE_LOG_DEBUG,
				      KITE_LOG_ERR };

	if (l->log_path && kite_log_open(l->log_path) < 0) {
		snprintf(err, errlen, "Logger error: Failed to open target file: %m");
		return -1;
	}
	for (unsigned i = 0; l->level && i < 6; i++)
		if (!strcmp(l->level, names[i]))
			kite_log_set_level((enum kite_log_level)levels[i]);
	return 0;
}

static int run(struct vmm_control *ctl, const struct api_cmd *cmd, struct api_reply *reply, char *err, size_t n)
{
	struct vmm_balloon b;
	struct vmm_balloon_stats st;

	switch (cmd->op) {
	case API_GET_INFO:
		reply_json(reply, api_json_instance(ctl));
		return 0;
	case API_GET_VERSION: {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "firecracker_version", KITE_VERSION);
		reply_json(reply, o ? cJSON_PrintUnformatted(o) : NULL);
		cJSON_Delete(o);
		return 0;
	}
	case API_GET_VM_CONFIG:
		reply_json(reply, api_json_vm_config(ctl));
		return 0;
	case API_GET_MACHINE:
		reply_json(reply, api_json_machine(ctl));
		return 0;
	case API_GET_METRICS:
		reply_json(reply, api_metrics_prometheus(ctl));
		reply->text = true;
		return 0;
	case API_GET_BALLOON:
		if (vmm_ctl_get_balloon(ctl, &b, err, n) < 0)
			return -1;
		reply_json(reply, api_json_balloon(&b));
		return 0;
	case API_GET_BALLOON_STATS:
		if (vmm_ctl_get_balloon_stats(ctl, &st, err, n) < 0)
			return -1;
		reply_json(reply, api_json_balloon_stats(&st));
		return 0;
	case API_PUT_BOOT:
		return vmm_ctl_set_boot(ctl, &cmd->u.boot, err, n);
	case API_PUT_MACHINE:
	case API_PATCH_MACHINE:
		return vmm_ctl_set_machine(ctl, &cmd->u.machine, err, n);
	case API_PUT_DRIVE:
		return vmm_ctl_put_drive(ctl, &cmd->u.drive, err, n);
	case API_PATCH_DRIVE:
		return vmm_ctl_patch_drive(ctl, &cmd->u.drive, err, n);
	case API_PUT_NET:
		return vmm_ctl_put_net(ctl, &cmd->u.net, err, n);
	case API_PATCH_NET:
		return vmm_ctl_patch_net(ctl, &cmd->u.net, err, n);
	case API_PUT_BALLOON:
		return vmm_ctl_put_balloon(ctl, &cmd->u.balloon, err, n);
	case API_PATCH_BALLOON:
		return vmm_ctl_patch_balloon(ctl, cmd->u.amount_mib, err, n);
	case API_PATCH_BALLOON_STATS:
		return vmm_ctl_patch_balloon_stats(ctl, cmd->u.interval_s, err, n);
	case API_PUT_ENTROPY:
		return vmm_ctl_put_entropy(ctl, err, n);
	case API_PUT_VCONSOLE:
		return vmm_ctl_put_vconsole(ctl, cmd->u.path, err, n);
	case API_PUT_LOGGER:
	case API_PUT_METRICS:
		if (vmm_ctl_state(ctl) != VMM_NOT_STARTED) {
			snprintf(err, n, "%s", VMM_ERR_POST_BOOT);
			return -1;
		}
		return cmd->op == API_PUT_LOGGER ? set_logger(&cmd->u.logger, err, n) :
		       api_metrics_set_path(cmd->u.path, err, n);
	case API_START:
		return vmm_ctl_start(ctl, err, n);
	case API_CTRL_ALT_DEL:
		return vmm_ctl_ctrl_alt_del(ctl, err, n);
	case API_FLUSH_METRICS:
		if (vmm_ctl_state(ctl) == VMM_NOT_STARTED) {
			snprintf(err, n, "%s", VMM_ERR_PRE_BOOT);
			return -1;
		}
		return api_metrics_flush(ctl, err, n);
	case API_PAUSE:
		return vmm_ctl_pause(ctl, err, n);
	case API_RESUME:
		return vmm_ctl_resume(ctl, err, n);
	case API_SNAPSHOT_CREATE: {
		char *config = api_json_vm_config(ctl);
		int r;

		if (!config) {
			snprintf(err, n, "Internal VMM error: out of memory");
			return -1;
		}
		r = vmm_ctl_snapshot_create(ctl, &cmd->u.snap_create, config, err, n);
		free(config);
		return r;
	}
	case API_SNAPSHOT_LOAD:
		return api_snapshot_load(ctl, &cmd->u.snap_load, err, n);
	}
	snprintf(err, n, "Internal VMM error: unknown command");
	return -1;
}

void api_exec(struct vmm_control *ctl, const struct api_cmd *cmd, struct api_reply *reply)
{
	char err[API_ERR_LEN];

	memset(reply, 0, sizeof(*reply));
	reply->status = 204;
	err[0] = '\0';
	if (run(ctl, cmd, reply, err, sizeof(err)) < 0) {
		free(reply->body);
		reply->body = NULL;
		api_reply_fault(reply, err);
	}
	api_metrics_count_request(reply->status != 400);
}
