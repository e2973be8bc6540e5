/* SPDX-License-Identifier: MIT */
/*
 * The /vms routes: create, list, info, start, pause, resume, stop, delete, snapshot, restore.
 * Each long operation marks its VM busy under kd->lock, works without the lock (kite-dpu, kite's
 * API, signals), then takes the lock again to record the result (docs/kited.md "VM states"). A start
 * undoes every step already done, in reverse order, when one fails. The end of a kite is always
 * handled by vm_ended() (supervise.c), also when a stop asked for it: a stop waits for that.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kite/log.h"
#include "state.h"
#include "vm_internal.h"

#define KITE_CALL_S 30        /* a configuration request to kite (a hang guard) */
#define KITE_BOOT_S 120       /* InstanceStart, snapshot create/load */
#define STOP_TERM_WAIT_S 2    /* after SIGTERM, before SIGKILL */
#define STOP_KILL_WAIT_S 30   /* after SIGKILL (a hang guard) */

static pthread_cond_t changed;        /* a VM's state changed (with kd->lock) */
static pthread_once_t changed_once = PTHREAD_ONCE_INIT;

static void changed_init(void)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&changed, &a);
	pthread_condattr_destroy(&a);
}

void vm_changed(void)
{
	pthread_once(&changed_once, changed_init);
	pthread_cond_broadcast(&changed);
}

int vm_save(struct kited *kd, struct vm *vm)
{
	char path[KD_PATH_MAX * 2], err[512];
	cJSON *j = vm_state_json(vm);
	int r;

	if (!j || !vm_path(kd, vm->def.name, "vm.json", path, sizeof(path))) {
		cJSON_Delete(j);
		log_err("VM %s: cannot build its state file", vm->def.name);
		return -1;
	}
	r = state_write_json(path, j, err, sizeof(err));
	cJSON_Delete(j);
	if (r < 0)
		log_err("VM %s: %s", vm->def.name, err);
	return r;
}

static bool ended(const struct vm *vm)
{
	return vm->state == VM_STOPPED || vm->state == VM_CRASHED;
}

/* kd->lock held: waits until the VM's process ended and vm_ended() ran, at most `s` seconds. */
static bool wait_ended(struct kited *kd, struct vm *vm, unsigned s)
{
	struct timespec until;

	pthread_once(&changed_once, changed_init);
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += s;
	while (!ended(vm))
		if (pthread_cond_timedwait(&changed, &kd->lock, &until) == ETIMEDOUT)
			return ended(vm);
	return true;
}

static void reply_vm(struct kited *kd, struct vm *vm, struct kd_reply *rep, int status)
{
	cJSON *j;

	pthread_mutex_lock(&kd->lock);
	j = vm_api_json(kd, vm);
	pthread_mutex_unlock(&kd->lock);
	kd_reply_json(rep, status, j);
}

/*
 * The VM named by the path, made busy, if its state is one of `ok` (a bit mask of 1 << state).
 * NULL with the reply filled: 404 unknown, 409 busy or in another state. kd->lock NOT held after.
 */
static struct vm *claim(struct kited *kd, struct kd_req *req, struct kd_reply *rep, unsigned ok, const char *what)
{
	struct vm *vm;

	pthread_mutex_lock(&kd->lock);
	vm = vm_find(kd, req->params[0]);
	if (!vm)
		kd_reply_error(rep, 404, "VM %s: no such VM", req->params[0]);
	else if (vm->busy)
		kd_reply_error(rep, 409, "VM %s: another request on it is under way (%s)", vm->def.name,
			       vm_state_name(vm->state));
	else if (!(ok & (1u << vm->state)))
		kd_reply_error(rep, 409, "VM %s: cannot %s a %s VM", vm->def.name, what, vm_state_name(vm->state));
	else
		vm->busy = true;
	if (rep->status)
		vm = NULL;
	pthread_mutex_unlock(&kd->lock);
	return vm;
}

/* Ends a claimed VM's busy time (kd->lock NOT held): writes vm.json and wakes the waiters. */
static void unclaim(struct kited *kd, struct vm *vm)
{
	pthread_mutex_lock(&kd->lock);
	vm->busy = false;
	vm_save(kd, vm);
	vm_changed();
	pthread_mutex_unlock(&kd->lock);
}

static int no_body(struct kd_req *req, struct kd_reply *rep)
{
	char err[256];

	if (kd_body_check(req->body, req->path, NULL, 0, err, sizeof(err)) < 0) {
		kd_reply_error(rep, 400, "%s", err);
		return -1;
	}
	return 0;
}

#define BIT(s) (1u << (s))

/* ---- start ---- */

static int configure(struct kited *kd, struct vm *vm, const char *sock, char *err, size_t errlen)
{
	cJSON *j;
	char kernel[KD_PATH_MAX + 2], initrd[KD_PATH_MAX + 2], tmp[KD_PATH_MAX];

	/* jailed: --file puts them at /<basename> */
	snprintf(tmp, sizeof(tmp), "%s", vm->def.kernel);
	snprintf(kernel, sizeof(kernel), vm->jailed ? "/%s" : "%s", vm->jailed ? basename(tmp) : vm->def.kernel);
	snprintf(tmp, sizeof(tmp), "%s", vm->def.initrd);
	snprintf(initrd, sizeof(initrd), vm->jailed ? "/%s" : "%s", vm->jailed ? basename(tmp) : vm->def.initrd);

	j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "kernel_image_path", kernel);
	if (vm->def.cmdline)
		cJSON_AddStringToObject(j, "boot_args", vm->def.cmdline);
	if (vm->def.initrd[0])
		cJSON_AddStringToObject(j, "initrd_path", initrd);
	if (kite_do_json(sock, "PUT", "/boot-source", j, KITE_CALL_S, err, errlen) < 0)
		return -1;

	j = cJSON_CreateObject();
	cJSON_AddNumberToObject(j, "vcpu_count", vm->def.cpus);
	cJSON_AddNumberToObject(j, "mem_size_mib", vm->def.memory_mib);
	vm_tuning_json(j, &vm->def, false);   /* kite's extensions of the same names */
	if (kite_do_json(sock, "PUT", "/machine-config", j, KITE_CALL_S, err, errlen) < 0)
		return -1;

	if (vm->res.has_volume || (vm->def.disk == DISK_OWN && vm->def.disk_in_kite)) {
		char img[KD_PATH_MAX * 2];

		local_disk_image(kd, vm->def.name, img, sizeof(img));
		j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "drive_id", "disk0");
		cJSON_AddBoolToObject(j, "is_root_device", false);
		if (vm->res.has_volume) {
			cJSON_AddStringToObject(j, "socket", vm->res.volume_sock);
		} else {   /* jailed: --file puts it at /<basename> */
			cJSON_AddStringToObject(j, "path_on_host", vm->jailed ? strrchr(img, '/') : img);
			cJSON_AddBoolToObject(j, "is_read_only", false);
		}
		if (kite_do_json(sock, "PUT", "/drives/disk0", j, KITE_CALL_S, err, errlen) < 0)
			return -1;
	}
	if (vm->res.has_port || (vm->def.net && vm->def.net_in_kite)) {
		char tap[16];

		local_tap_name(kd, vm->def.name, tap, sizeof(tap));
		j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "iface_id", "net0");
		if (vm->res.has_port)
			cJSON_AddStringToObject(j, "socket", vm->res.port_sock);
		else
			cJSON_AddStringToObject(j, "host_dev_name", tap);
		cJSON_AddStringToObject(j, "guest_mac", vm->def.mac);
		if (kite_do_json(sock, "PUT", "/network-interfaces/net0", j, KITE_CALL_S, err, errlen) < 0)
			return -1;
	}
	return 0;
}

static int snapshot_paths(struct kited *kd, const char *name, char *state, char *mem, size_t len)
{
	return vm_path(kd, name, "snapshot/vm.state", state, len) && vm_path(kd, name, "snapshot/vm.mem", mem, len) ? 0
														       : -1;
}

/* The VM is busy and has no process. Acquire, spawn, configure (or load the snapshot), start.
 * 0 with the VM running; -1 with everything undone, err and *status (500, 503). */
static int do_start(struct kited *kd, struct vm *vm, bool from_snapshot, char *err, size_t errlen, int *status)
{
	char sock[KD_PATH_MAX * 2];
	bool dpu = (vm->def.disk != DISK_NONE && !vm->def.disk_in_kite) || (vm->def.net && !vm->def.net_in_kite);

	*status = 500;
	if (vm->def.jail && !kd->jail) {
		/* never a silent downgrade: the definition asks for a jail this kited cannot give */
		*status = 409;
		return errf(err, errlen, "VM %s: defined with a jail, but this kited runs with --jail off", vm->def.name);
	}
	vm->jailed = vm->def.jail;
	if (vm->jailed && !vm->uid) {
		*status = 503;
		return errf(err, errlen, "VM %s: has no uid of its own (none was free at kited's start)", vm->def.name);
	}
	if (dpu) {
		int r = dpu_vm_acquire(kd, vm, err, errlen);

		if (r < 0) {
			*status = r <= -400 ? -r : 503;
			return -1;
		}
	}
	if (local_vm_acquire(kd, vm, err, errlen) < 0)
		goto undo_local;
	pthread_mutex_lock(&kd->lock);
	vm->state = VM_STARTING;
	vm_save(kd, vm);   /* the resources are recorded before anything can crash */
	pthread_mutex_unlock(&kd->lock);
	if (spawn_kite(kd, vm, err, errlen) < 0)
		goto undo_local;
	pthread_mutex_lock(&kd->lock);
	vm_save(kd, vm);   /* the process too: a kited killed now ends this half-made kite at its next start */
	pthread_mutex_unlock(&kd->lock);
	vm_api_sock(kd, vm->def.name, sock, sizeof(sock));
	if (from_snapshot) {
		char st[KD_PATH_MAX * 2], mem[KD_PATH_MAX * 2];
		cJSON *j = cJSON_CreateObject(), *mb;

		snapshot_paths(kd, vm->def.name, st, mem, sizeof(st));
		cJSON_AddStringToObject(j, "snapshot_path", st);
		mb = cJSON_AddObjectToObject(j, "mem_backend");
		cJSON_AddStringToObject(mb, "backend_type", "File");
		cJSON_AddStringToObject(mb, "backend_path", mem);
		cJSON_AddBoolToObject(j, "resume_vm", true);
		if (kite_do_json(sock, "PUT", "/snapshot/load", j, KITE_BOOT_S, err, errlen) < 0)
			goto undo_spawn;
	} else if (configure(kd, vm, sock, err, errlen) < 0 ||
		   kite_do(sock, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}", KITE_BOOT_S, err, errlen) < 0) {
		goto undo_spawn;
	}
	vm->started_at = time(NULL);
	return 0;
undo_spawn:
	spawn_kill(kd, vm);
undo_local:
	local_vm_release(kd, vm);
	if (dpu)
		dpu_vm_release(kd, vm);
	return -1;
}

/* do_start for a claimed VM, with the result recorded. */
static int start_claimed(struct kited *kd, struct vm *vm, bool from_snapshot, char *err, size_t errlen, int *status)
{
	enum vm_state before;
	int r;

	pthread_mutex_lock(&kd->lock);
	before = vm->state == VM_CRASHED ? VM_CRASHED : VM_STOPPED;
	vm->state = VM_STARTING;
	vm->stop_requested = false;
	vm->error[0] = '\0';
	pthread_mutex_unlock(&kd->lock);
	r = do_start(kd, vm, from_snapshot, err, errlen, status);
	pthread_mutex_lock(&kd->lock);
	if (r < 0) {
		vm->state = before == VM_CRASHED ? VM_CRASHED : VM_STOPPED;
		snprintf(vm->error, sizeof(vm->error), "%s", err);
		log_warn("VM %s: start failed, undone: %s", vm->def.name, err);
	} else {
		vm->state = VM_RUNNING;
		vm->last_exit_status = -1;
		vm->last_exit_signal = 0;
		supervise_watch_vm(kd, vm);
		log_info("VM %s: running (kite %d)", vm->def.name, (int)vm->proc.pid);
	}
	pthread_mutex_unlock(&kd->lock);
	unclaim(kd, vm);
	return r;
}

void h_vm_start(struct kited *kd, struct kd_req *req, struct kd_reply *rep)
{
	char err[512];
	int status;
	struct vm *vm;

	if (no_body(req, rep) < 0 || !(vm = claim(kd, req, rep, BIT(VM_STOPPED) | BIT(VM_CRASHED), "start")))
		return;
	if (start_claimed(kd, vm, false, err, sizeof(err), &status) < 0)
		kd_reply_error(rep, status, "%s", err);
	else
		reply_vm(kd, vm, rep, 200);
}

/* ---- create, list, info ---- */

void h_vm_create(struct kited *kd, struct kd_req *req, struct kd_reply *rep)
{
	char err[512], path[KD_PATH_MAX * 2];
	struct vm *vm = calloc(1, sizeof(*vm));
	cJSON *start = cJSON_GetObjectItemCaseSensitive(req->body, "start");
	int status;

	if (!vm) {
		kd_reply_error(rep, 500, "create: out of memory");
		return;
	}
	if (vm_def_parse(req->body, &vm->def, true, kd->jail, host_mem_mib(), err, sizeof(err)) < 0) {
		kd_reply_error(rep, 400, "%s", err);
		goto fail;
	}
	if (vm->def.jail && !kd->jail) {
		kd_reply_error(rep, 400, "VM %s: jail: this kited runs with --jail off", vm->def.name);
		goto fail;
	}
	if (!vm_api_sock(kd, vm->def.name, path, sizeof(path))) {
		kd_reply_error(rep, 400, "VM %s: the name is too long for a socket path in %s", vm->def.name, kd->state_dir);
		goto fail;
	}
	vm->state = VM_CREATING;
	vm->busy = true;
	vm->last_exit_status = -1;
	vm->proc.pidfd = vm->jailer.pidfd = -1;
	pthread_mutex_lock(&kd->lock);
	if (vm_find(kd, vm->def.name)) {
		pthread_mutex_unlock(&kd->lock);
		kd_reply_error(rep, 409, "VM %s: already exists", vm->def.name);
		goto fail;
	}
	vm->uid = vm_uid_alloc(kd);
	if (!vm->uid) {
		pthread_mutex_unlock(&kd->lock);
		kd_reply_error(rep, 503, "VM %s: no free uid: all %u of --uid-base %u --uid-count %u are other VMs'",
			       vm->def.name, kd->uid_count, kd->uid_base, kd->uid_count);
		goto fail;
	}
	vm_insert(kd, vm);
	pthread_mutex_unlock(&kd->lock);

	vm_path(kd, vm->def.name, NULL, path, sizeof(path));
	if (state_mkdir(path, 0700) < 0) {
		kd_reply_error(rep, 500, "VM %s: %s: cannot create: %s", vm->def.name, path, strerror(errno));
		goto fail_unlink;
	}
	pthread_mutex_lock(&kd->lock);
	vm->state = VM_STOPPED;
	status = vm_save(kd, vm);
	pthread_mutex_unlock(&kd->lock);
	if (status < 0) {
		kd_reply_error(rep, 500, "VM %s: cannot write its state file", vm->def.name);
		state_remove_tree(path);
		goto fail_unlink;
	}
	log_info("VM %s: created", vm->def.name);
	if (cJSON_IsTrue(start)) {
		if (start_claimed(kd, vm, false, err, sizeof(err), &status) < 0) {
			kd_reply_error(rep, status, "%s (the VM is created, stopped)", err);
			return;
		}
	} else {
		unclaim(kd, vm);
	}
	reply_vm(kd, vm, rep, 201);
	return;
fail_unlink:
	pthread_mutex_lock(&kd->lock);
	vm_unlink(kd, vm);
	pthread_mutex_unlock(&kd->lock);
fail:
	vm_free(vm);
}

void h_vm_list(struct kited *kd, struct kd_req *req, struct kd_reply *rep)
{
	cJSON *arr;

	if (no_body(req, rep) < 0)
		return;
	arr = cJSON_CreateArray();
	pthread_mutex_lock(&kd->lock);
	for (struct vm *v = kd->vms; arr && v; v = v->next)
		cJSON_AddItemToArray(arr, vm_api_json(kd, v));
	pthread_mutex_unlock(&kd->lock);
	kd_reply_json(rep, 200, arr);
}

void h_vm_info(struct kited *kd, struct kd_req *req, struct kd_reply *rep)
{
	struct vm *vm;
	cJSON *j = NULL;

	if (no_body(req, rep) < 0)
		return;
	pthread_mutex_lock(&kd->lock);
	vm = vm_find(kd, req->params[0]);
	if (vm)
		j = vm_api_json(kd, vm);
	pthread_mutex_unlock(&kd->lock);
	if (!vm)
		kd_reply_error(rep, 404, "VM %s: no such VM", req->params[0]);
	else
		kd_reply_json(rep, 200, j);
}

/* ---- pause, resume ---- */

static void pause_resume(struct kited *kd, struct kd_req *req, struct kd_reply *rep, bool pause)
{
	char sock[KD_PATH_MAX * 2], err[512];
	struct vm *vm;
	pid_t pid;
	int r;

	if (no_body(req, rep) < 0 ||
	    !(vm = claim(kd, req, rep, BIT(VM_RUNNING) | BIT(VM_PAUSED), pause ? "pause" : "resume")))
		return;
	pthread_mutex_lock(&kd->lock);
	pid = vm->proc.pid;
	pthread_mutex_unlock(&kd->lock);
	vm_api_sock(kd, vm->def.name, sock, sizeof(sock));
	r = kite_do(sock, "PATCH", "/vm", pause ? "{\"state\": \"Paused\"}" : "{\"state\": \"Resumed\"}", KITE_CALL_S, err,
		    sizeof(err));
	pthread_mutex_lock(&kd->lock);
	/* the kite may have ended meanwhile: vm_ended's state stands */
	if (r == 0 && vm->proc.pid == pid && (vm->state == VM_RUNNING || vm->state == VM_PAUSED))
		vm->state = pause ? VM_PAUSED : VM_RUNNING;
	pthread_mutex_unlock(&kd->lock);
	unclaim(kd, vm);
	if (r < 0)
		kd_reply_error(rep, 500, "VM %s: %s", vm->def.name, err);
	else
		reply_vm(kd, vm, rep, 200);
}

void h_vm_pause(struct kited *kd, struct kd_req *req, struct kd_reply *rep)
{
	pause_resume(kd, req, rep, true);
}

void h_vm_resume(struct kited *kd, struct kd_req *req, struct kd_reply *rep)
{
	pause_resume(kd, req, rep, false);
}

/* ---- stop, delete ---- */

/*
 * Ends a claimed VM's process: Ctrl-Alt-Del (graceful, running VMs only) and up to timeout_s for
 * kite to exit, then SIGTERM, then SIGKILL after STOP_TERM_WAIT_S. Returns once vm_ended() ran
 * (0), or -1 if even SIGKILL did not end it in time.
 */
static int end_process(struct kited *kd, struct vm *vm, bool graceful, unsigned timeout_s)
{
	char sock[KD_PATH_MAX * 2], err[512];
	struct kd_proc p;
	bool was_running, ok;

	pthread_mutex_lock(&kd->lock);
	if (ended(vm)) {
		pthread_mutex_unlock(&kd->lock);
		return 0;
	}
	was_running = vm->state == VM_RUNNING;
	vm->stop_requested = true;
	vm->state = VM_STOPPING;
	p = vm->proc;
	p.pidfd = vm->proc.pidfd >= 0 ? fcntl(vm->proc.pidfd, F_DUPFD_CLOEXEC, 0) : -1;  /* vm_ended closes its own */
	pthread_mutex_unlock(&kd->lock);
	vm_api_sock(kd, vm->def.name, sock, sizeof(sock));
	if (graceful && was_running && kite_do(sock, "PUT", "/actions", "{\"action_type\": \"SendCtrlAltDel\"}",
					       KITE_CALL_S, err, sizeof(err)) < 0)
		log_warn("VM %s: graceful stop: %s", vm->def.name, err);
	pthread_mutex_lock(&kd->lock);
	ok = graceful && was_running && wait_ended(kd, vm, timeout_s);
	if (!ok) {
		proc_signal(&p, SIGTERM);
		ok = wait_ended(kd, vm, STOP_TERM_WAIT_S);
	}
	if (!ok) {
		log_warn("VM %s: kite %d did not end after SIGTERM: SIGKILL", vm->def.name, (int)p.pid);
		proc_signal(&p, SIGKILL);
		ok = wait_ended(kd, vm, STOP_KILL_WAIT_S);
	}
	pthread_mutex_unlock(&kd->lock);
	if (p.pidfd >= 0)
		close(p.pidfd);
	return ok ? 0 : -1;
}

void h_vm_stop(struct kited *kd, struct kd_req *req, struct kd_reply *rep)
{
	static const struct kd_field fields[] = { { "force", KD_F_BOOL }, { "timeout_s", KD_F_UINT } };
	char err[256];
	cJSON *t = cJSON_GetObjectItemCaseSensitive(req->body, "timeout_s");
	unsigned timeout = cJSON_IsNumber(t) ? (unsigned)t->valuedouble : 10;
	struct vm *vm;

	if (kd_body_check(req->body, "stop", fields, 2, err, sizeof(err)) < 0) {
		kd_reply_error(rep, 400, "VM %s: %s", req->params[0], err);
		return;
	}
	if (timeout > 3600) {
		kd_reply_error(rep, 400, "VM %s: stop: timeout_s %u: at most 3600", req->params[0], timeout);
		return;
	}
	vm = claim(kd, req, rep, ~0u, "stop");
	if (!vm)
		return;
	if (end_process(kd, vm, !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req->body, "force")), timeout) < 0) {
		unclaim(kd, vm);
		kd_reply_error(rep, 500, "VM %s: its kite did not end, even after SIGKILL", vm->def.name);
		return;
	}
	unclaim(kd, vm);
	reply_vm(kd, vm, rep, 200);
}

void h_vm_delete(struct kited *kd, struct kd_req *req, struct kd_reply *rep)
{
	char path[KD_PATH_MAX * 2];
	struct vm *vm;

	if (no_body(req, rep) < 0 || !(vm = claim(kd, req, rep, ~0u, "delete")))
		return;
	if (end_process(kd, vm, false, 0) < 0) {
		unclaim(kd, vm);
		kd_reply_error(rep, 500, "VM %s: its kite did not end, even after SIGKILL", vm->def.name);
		return;
	}
	dpu_vm_forget(kd, vm);
	local_vm_forget(kd, vm);
	vm_path(kd, vm->def.name, NULL, path, sizeof(path));
	if (state_remove_tree(path) < 0)
		log_warn("VM %s: %s: not all removed", vm->def.name, path);
	pthread_mutex_lock(&kd->lock);
	vm_unlink(kd, vm);
	vm_changed();
	pthread_mutex_unlock(&kd->lock);
	log_info("VM %s: deleted", vm->def.name);
	vm_free(vm);
	kd_reply_empty(rep, 204);
}

/* ---- snapshot, restore ---- */

void h_vm_snapshot(struct kited *kd, struct kd_req *req, struct kd_reply *rep)
{
	char sock[KD_PATH_MAX * 2], st[KD_PATH_MAX * 2], mem[KD_PATH_MAX * 2], err[512], *body = NULL;
	char st_new[KD_PATH_MAX * 2 + 8], mem_new[KD_PATH_MAX * 2 + 8];
	struct vm *vm;
	bool was_running;
	cJSON *j;
	int r;

	if (no_body(req, rep) < 0 || !(vm = claim(kd, req, rep, BIT(VM_RUNNING) | BIT(VM_PAUSED), "snapshot")))
		return;
	pthread_mutex_lock(&kd->lock);
	was_running = vm->state == VM_RUNNING;
	pthread_mutex_unlock(&kd->lock);
	vm_api_sock(kd, vm->def.name, sock, sizeof(sock));
	snapshot_paths(kd, vm->def.name, st, mem, sizeof(st));
	/* written under new names, then renamed over the old pair: a kite restored from the old pair
	 * maps its memory file and keeps that inode; kite refuses a snapshot onto the file it runs from */
	snprintf(st_new, sizeof(st_new), "%s.new", st);
	snprintf(mem_new, sizeof(mem_new), "%s.new", mem);
	j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "snapshot_type", "Full");
	cJSON_AddStringToObject(j, "snapshot_path", st_new);
	cJSON_AddStringToObject(j, "mem_file_path", mem_new);
	body = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	r = was_running ? kite_do(sock, "PATCH", "/vm", "{\"state\": \"Paused\"}", KITE_CALL_S, err, sizeof(err)) : 0;
	if (r == 0)
		r = body ? kite_do(sock, "PUT", "/snapshot/create", body, KITE_BOOT_S, err, sizeof(err)) : -1;
	if (r == 0 && (rename(mem_new, mem) < 0 || rename(st_new, st) < 0))
		r = errf(err, sizeof(err), "renaming the new snapshot into place: %s", strerror(errno));
	if (was_running && kite_do(sock, "PATCH", "/vm", "{\"state\": \"Resumed\"}", KITE_CALL_S, err + (r < 0 ? 256 : 0),
				   r < 0 ? 256 : sizeof(err)) < 0 && r == 0)
		r = -1;
	free(body);
	unclaim(kd, vm);
	if (r < 0) {
		kd_reply_error(rep, 500, "VM %s: snapshot: %s", vm->def.name, err);
		return;
	}
	log_info("VM %s: snapshot in %s", vm->def.name, st);
	j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "vmstate", st);
	cJSON_AddStringToObject(j, "mem", mem);
	kd_reply_json(rep, 200, j);
}

void h_vm_restore(struct kited *kd, struct kd_req *req, struct kd_reply *rep)
{
	char st[KD_PATH_MAX * 2], mem[KD_PATH_MAX * 2], err[512];
	struct vm *vm;
	int status;

	if (no_body(req, rep) < 0)
		return;
	if (snapshot_paths(kd, req->params[0], st, mem, sizeof(st)) < 0) {
		kd_reply_error(rep, 404, "VM %s: no such VM", req->params[0]);
		return;
	}
	if (!(vm = claim(kd, req, rep, ~0u, "restore")))
		return;
	if (access(st, R_OK) < 0 || access(mem, R_OK) < 0) {
		unclaim(kd, vm);
		kd_reply_error(rep, 409, "VM %s: no snapshot to restore (%s)", vm->def.name, st);
		return;
	}
	if (end_process(kd, vm, false, 0) < 0) {
		unclaim(kd, vm);
		kd_reply_error(rep, 500, "VM %s: its kite did not end, even after SIGKILL", vm->def.name);
		return;
	}
	pthread_mutex_lock(&kd->lock);
	vm->state = VM_STOPPED;
	pthread_mutex_unlock(&kd->lock);
	if (start_claimed(kd, vm, true, err, sizeof(err), &status) < 0)
		kd_reply_error(rep, status, "VM %s: restore: %s", vm->def.name, err);
	else
		reply_vm(kd, vm, rep, 200);
}
