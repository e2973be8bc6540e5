/* SPDX-License-Identifier: MIT */
/*
 * The VMM control (kite/vmm_control.h), part 3: snapshot create and load. The files and the VM
 * level are vmm/snapshot.c; this part checks the control's state, builds the restored VM from the
 * configuration the caller applied, and starts it. Owner thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control_internal.h"
#include "kite/log.h"
#include "kite/snapshot.h"

#define LOAD_ERR "Load snapshot error: "
#define FC_ERR_LOAD_AFTER_CONFIG "Loading a microVM snapshot not allowed after configuring boot-specific resources."

int vmm_ctl_snapshot_create(struct vmm_control *ctl, const struct vmm_snapshot_create *s, const char *config_json,
			    char *err, size_t errlen)
{
	struct vm_snapshot_params p = {
		.diff = s->type == VMM_SNAPSHOT_DIFF,
		.state_path = s->snapshot_path,
		.mem_path = s->mem_file_path,
		.config_json = config_json,
	};

	if (ctl->state == VMM_NOT_STARTED) {
		snprintf(err, errlen, "%s", VMM_ERR_PRE_BOOT);
		return -1;
	}
	if (ctl->state != VMM_PAUSED) {
		snprintf(err, errlen, "Create snapshot error: the microVM must be paused first (PATCH /vm Paused).");
		return -1;
	}
	if (!strcmp(s->snapshot_path, s->mem_file_path)) {
		snprintf(err, errlen, "Create snapshot error: snapshot_path and mem_file_path name the same file %s",
			 s->snapshot_path);
		return -1;
	}
	return vm_snapshot_create(&ctl->vm, &p, err, errlen);
}

/* Nothing configured yet: a snapshot brings its own configuration. */
static bool fresh(const struct vmm_control *ctl)
{
	return !ctl->kernel && !ctl->ndrives && !ctl->nnets && !ctl->has_balloon && !ctl->entropy && !ctl->vconsole &&
	       !ctl->snap && !ctl->snap_failed;
}

int vmm_ctl_snapshot_open(struct vmm_control *ctl, const char *snapshot_path, char **config_json, char *err,
			  size_t errlen)
{
	char why[512];

	*config_json = NULL;
	if (ctl->state != VMM_NOT_STARTED) {
		snprintf(err, errlen, "%s", VMM_ERR_POST_BOOT);
		return -1;
	}
	if (!fresh(ctl)) {
		snprintf(err, errlen, "%s", FC_ERR_LOAD_AFTER_CONFIG);
		return -1;
	}
	ctl->snap = vm_snapshot_open(snapshot_path, config_json, &ctl->snap_info, why, sizeof(why));
	if (!ctl->snap) {
		snprintf(err, errlen, LOAD_ERR "%s", why);
		ctl->snap_failed = true;
		return -1;
	}
	return 0;
}

void vmm_ctl_snapshot_abort(struct vmm_control *ctl)
{
	snap_reader_free(ctl->snap);
	ctl->snap = NULL;
	ctl->snap_failed = true;
}

static int load_failed(struct vmm_control *ctl, char *err, size_t errlen, const char *why)
{
	snprintf(err, errlen, LOAD_ERR "%s", why);
	log_err("vm: snapshot load failed, no guest code ran: %s", why);
	ctl_vm_teardown(ctl);
	vmm_ctl_snapshot_abort(ctl);
	return -1;
}

int vmm_ctl_snapshot_load(struct vmm_control *ctl, const struct vmm_snapshot_load *l, char *err, size_t errlen)
{
	struct vm_ram_file rf = { .path = l->mem_path, .fd = -1 };
	struct vm_config *cfg = &ctl->opts->vm;
	char why[512];

	if (!ctl->snap) {
		snprintf(err, errlen, LOAD_ERR "no state file opened");
		return -1;
	}
	if (!ctl->loop && !(ctl->loop = evloop_new()))
		return load_failed(ctl, err, errlen, "out of memory");
	ctl->machine.track_dirty_pages = l->enable_diff_snapshots;
	if (ctl_build_vm_config(ctl, true, why, sizeof(why)) < 0)
		return load_failed(ctl, err, errlen, why);
	if (config_validate_machine(cfg) < 0)
		return load_failed(ctl, err, errlen, kite_log_last_error());
	if (cfg->ncpus != ctl->snap_info.vcpus) {
		snprintf(why, sizeof(why), "the snapshot has %u vCPUs, its configuration %u", ctl->snap_info.vcpus,
			 cfg->ncpus);
		return load_failed(ctl, err, errlen, why);
	}
	if ((cfg->mem_mib << 20) != ctl->snap_info.ram_size) {
		snprintf(why, sizeof(why), "the snapshot has %llu bytes of RAM, its configuration %llu MiB",
			 (unsigned long long)ctl->snap_info.ram_size, (unsigned long long)cfg->mem_mib);
		return load_failed(ctl, err, errlen, why);
	}
	rf.fd = vm_snapshot_open_mem(l->mem_path, &ctl->snap_info, why, sizeof(why));
	if (rf.fd < 0)
		return load_failed(ctl, err, errlen, why);
	if (vm_create_restored(&ctl->vm, cfg, &rf) < 0) {
		close(rf.fd);
		return load_failed(ctl, err, errlen, kite_log_last_error());
	}
	close(rf.fd);   /* the mapping keeps the file */
	ctl->vm_live = true;
	if (ctl_apply_net_limits(ctl, why, sizeof(why)) < 0 ||
	    vm_snapshot_restore(&ctl->vm, ctl->snap, &ctl->snap_info, why, sizeof(why)) < 0)
		return load_failed(ctl, err, errlen, why);
	snap_reader_free(ctl->snap);
	ctl->snap = NULL;
	if (ctl_vm_go(ctl, !l->resume_vm, why, sizeof(why)) < 0) {
		ctl->snap_failed = true;
		snprintf(err, errlen, LOAD_ERR "%s", why);
		return -1;
	}
	log_info("vm: restored from %s (%u vCPUs, %llu MiB, memory %s), %s", l->snapshot_path, ctl->vm.ncpus,
		 (unsigned long long)cfg->mem_mib, l->mem_path, l->resume_vm ? "running" : "paused");
	return 0;
}
