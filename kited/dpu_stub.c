/* SPDX-License-Identifier: MIT */
/*
 * Stand-in for kited's DPU side (dpu_proc.c, dpu_client.c, dpu_res.c) until it lands: no kite-dpu,
 * no /dpu routes but GET /dpu ("down"), and a VM that asks for a disk or a NIC cannot start (503).
 * The DPU side's files replace this one.
 */
#include <cjson/cJSON.h>
#include <stdio.h>

#include "kite/log.h"
#include "kited.h"

static void h_dpu(struct kited *kd, struct kd_req *req, struct kd_reply *rep)
{
	(void)req;
	kd_reply_json(rep, 200, dpu_status_json(kd));
}

const struct kd_route kd_dpu_routes[] = {
	{ "GET", "/dpu", h_dpu },
	{ NULL, NULL, NULL },
};

int dpu_start(struct kited *kd)
{
	(void)kd;
	log_warn("kite-dpu: not managed by this build (DPU side not built in)");
	return -1;
}

int dpu_vm_acquire(struct kited *kd, struct vm *vm, char *err, size_t errlen)
{
	(void)kd;
	snprintf(err, errlen, "VM %s: kite-dpu unavailable (DPU side not built in): no disk or NIC", vm->def.name);
	return -1;
}

void dpu_vm_release(struct kited *kd, struct vm *vm)
{
	(void)kd;
	vm->res.has_port = vm->res.has_volume = false;
}

void dpu_vm_forget(struct kited *kd, struct vm *vm)
{
	dpu_vm_release(kd, vm);
}

char *dpu_stats_text(struct kited *kd)
{
	(void)kd;
	return NULL;
}

cJSON *dpu_status_json(struct kited *kd)
{
	cJSON *j = cJSON_CreateObject();

	(void)kd;
	cJSON_AddStringToObject(j, "state", "down");
	cJSON_AddNullToObject(j, "pid");
	cJSON_AddNumberToObject(j, "restarts", 0);
	cJSON_AddNullToObject(j, "control");
	return j;
}

void dpu_proc_ended(struct kited *kd)
{
	(void)kd;
}
