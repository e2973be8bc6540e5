/* SPDX-License-Identifier: MIT */
/*
 * kited's start: every VM of the state directory is read back (vm_load_all), then each VM that was
 * running is adopted when its kite still lives, identified by pid and start time, and answers on
 * its API socket (its state, Running or Paused, is kite's); a VM whose kite is gone becomes
 * crashed (or stopped, if a stop was under way) and its resources are released; a kite the previous
 * kited was still starting is killed (it never ran the VM). Main thread,
 * before the API serves; the supervisor thread may already run.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kite/log.h"
#include "state.h"
#include "vm_internal.h"

/* A VM read back without a uid (a vm.json older than per-VM uids), or with the uid of a VM before
 * it in the table (a hand-edited vm.json), gets a free one; a running VM keeps what it runs as. */
static void give_uids(struct kited *kd)
{
	for (struct vm *vm = kd->vms; vm; vm = vm->next) {
		bool dup = false;

		for (const struct vm *o = kd->vms; o != vm; o = o->next)
			dup = dup || o->uid == vm->uid;
		if (vm->uid && (!dup || vm->proc.pid > 0)) {
			if (dup)
				log_warn("VM %s: runs as uid %u, which another VM has too", vm->def.name, vm->uid);
			continue;
		}
		vm->uid = 0;
		vm->uid = vm_uid_alloc(kd);
		if (!vm->uid)
			log_err("VM %s: no free uid in --uid-base %u --uid-count %u: it cannot start jailed", vm->def.name,
				kd->uid_base, kd->uid_count);
		else if (vm_save(kd, vm) == 0)
			log_info("VM %s: given uid %u", vm->def.name, vm->uid);
	}
}

int vm_load_all(struct kited *kd)
{
	char path[KD_PATH_MAX * 2], err[512];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/vms", kd->state_dir);
	if (state_mkdir(path, 0700) < 0 || !(d = opendir(path))) {
		log_err("%s: cannot open: %m", path);
		return -1;
	}
	while ((e = readdir(d))) {
		struct vm *vm;
		cJSON *j;

		if (e->d_name[0] == '.' || !vm_name_ok(e->d_name))
			continue;
		if (!vm_path(kd, e->d_name, "vm.json", path, sizeof(path)))
			continue;
		j = state_read_json(path, err, sizeof(err));
		vm = j ? vm_from_state_json(j, err, sizeof(err)) : NULL;
		cJSON_Delete(j);
		if (!vm) {
			log_err("VM %s: state file not loaded (left as it is): %s", e->d_name, err);
			continue;
		}
		if (strcmp(vm->def.name, e->d_name)) {
			log_err("VM %s: state file names VM %s: not loaded", e->d_name, vm->def.name);
			vm_free(vm);
			continue;
		}
		vm_insert(kd, vm);
		n++;
	}
	closedir(d);
	give_uids(kd);
	log_info("%d VM definition(s) loaded from %s", n, kd->state_dir);
	return 0;
}

static bool adopt(struct kited *kd, struct vm *vm)
{
	char sock[KD_PATH_MAX * 2], state[32];

	vm->proc.pidfd = proc_open_checked(vm->proc.pid, vm->proc.start);
	if (vm->proc.pidfd < 0)
		return false;
	vm->proc.child = false;
	vm->jailer.pidfd = vm->jailer.pid ? proc_open_checked(vm->jailer.pid, vm->jailer.start) : -1;
	vm->jailer.child = false;
	if (!vm_api_sock(kd, vm->def.name, sock, sizeof(sock)) || kite_get_state(sock, state, sizeof(state)) < 0) {
		log_warn("VM %s: kite %d lives but its API does not answer: adopted as %s", vm->def.name,
			 (int)vm->proc.pid, vm_state_name(vm->state));
		if (vm->state != VM_PAUSED)
			vm->state = VM_RUNNING;
	} else {
		vm->state = !strcmp(state, "Paused") ? VM_PAUSED : VM_RUNNING;
	}
	vm->busy = false;
	vm->stop_requested = false;
	supervise_watch_vm(kd, vm);
	log_info("VM %s: kite %d adopted (%s)", vm->def.name, (int)vm->proc.pid, vm_state_name(vm->state));
	return true;
}

void vm_adopt_all(struct kited *kd)
{
	for (struct vm *vm = kd->vms; vm; vm = vm->next) {
		enum vm_state was = vm->state;

		pthread_mutex_lock(&kd->lock);
		if (vm->proc.pid && was == VM_STARTING) {
			/* kited ended while it configured this kite: it never ran the VM, end it */
			struct kd_proc p = { .pid = vm->proc.pid, .start = vm->proc.start };

			p.pidfd = proc_open_checked(p.pid, p.start);
			if (p.pidfd >= 0) {
				log_warn("VM %s: kite %d was still being started by the previous kited: killed", vm->def.name,
					 (int)p.pid);
				proc_signal(&p, SIGKILL);
				close(p.pidfd);
			}
		} else if (vm->proc.pid && adopt(kd, vm)) {
			vm_save(kd, vm);
			pthread_mutex_unlock(&kd->lock);
			continue;
		}
		pthread_mutex_unlock(&kd->lock);
		if (vm->proc.pid || vm->res.has_port || vm->res.has_volume || was == VM_STARTING || was == VM_RUNNING ||
		    was == VM_PAUSED || was == VM_STOPPING) {
			/* it ended while no kited watched: release what it held */
			if (vm->res.has_port || vm->res.has_volume)
				dpu_vm_release(kd, vm);
			local_vm_release(kd, vm);
			if (vm->jailed)
				spawn_jail_cleanup(kd, vm->def.name);
			memset(&vm->proc, 0, sizeof(vm->proc));
			memset(&vm->jailer, 0, sizeof(vm->jailer));
			vm->proc.pidfd = vm->jailer.pidfd = -1;
			if (was == VM_RUNNING || was == VM_PAUSED) {
				vm->state = VM_CRASHED;
				vm->last_exit_status = -1;
				vm->last_exit_signal = 0;
				snprintf(vm->error, sizeof(vm->error), "kite ended while kited was not running");
				log_warn("VM %s: its kite is gone: crashed; its resources are released", vm->def.name);
			} else if (was != VM_CRASHED) {
				vm->state = VM_STOPPED;
			}
		} else if (was != VM_CRASHED) {
			vm->state = VM_STOPPED;
		}
		vm->proc.pidfd = vm->jailer.pidfd = -1;
		pthread_mutex_lock(&kd->lock);
		vm_save(kd, vm);
		pthread_mutex_unlock(&kd->lock);
	}
}
