/* SPDX-License-Identifier: MIT */
/* The VM side's routes (docs/kited.md "API"); the DPU side's are kd_dpu_routes (dpu_res.c). */
#include <stddef.h>

#include "vm_internal.h"

const struct kd_route kd_vm_routes[] = {
	{ "GET", "/host", h_host },
	{ "GET", "/metrics", h_metrics },
	{ "GET", "/vms", h_vm_list },
	{ "POST", "/vms", h_vm_create },
	{ "GET", "/vms/{}", h_vm_info },
	{ "DELETE", "/vms/{}", h_vm_delete },
	{ "POST", "/vms/{}/start", h_vm_start },
	{ "POST", "/vms/{}/pause", h_vm_pause },
	{ "POST", "/vms/{}/resume", h_vm_resume },
	{ "POST", "/vms/{}/stop", h_vm_stop },
	{ "POST", "/vms/{}/snapshot", h_vm_snapshot },
	{ "POST", "/vms/{}/restore", h_vm_restore },
	{ NULL, NULL, NULL },
};
