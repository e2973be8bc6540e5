/* SPDX-License-Identifier: MIT */
/*
 * Test driver of kited's DPU side (kited/dpu_*.c) without the rest of kited: it plays the VM side
 * (a table of VMs, a supervisor that watches kite-dpu's pidfd) and reads one command per line on
 * stdin, answering one JSON line on stdout. Used by tests/kited/dpu_test.py.
 *
 *   dpu_driver STATE_DIR KITE_DPU [JAIL_UID]
 *   start                       dpu_start          -> {"r"}
 *   status                      dpu_status_json    -> GET /dpu's object
 *   acquire NAME VLAN|- DISK    dpu_vm_acquire; VLAN "-" = no NIC; DISK: none | own:MIB[:eph] |
 *                               vol:NAME           -> {"status", "error", "res": {...}}
 *   release NAME | forget NAME  dpu_vm_release / dpu_vm_forget (then the VM is gone) -> {}
 *   tables                      kited's records    -> {"ports": [...], "volumes": [...]}
 *   stats                       dpu_stats_text     -> {"stats"}
 *   call PATH MS JSON           dpu_call           -> {"r", "error", "reply"}
 *   stop                        dpu_stop, exit 0
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "kite/log.h"
#include "../../kited/dpu.h"

/* ---- the supervisor's part: watch kite-dpu's pidfd ---- */

static pthread_mutex_t watch_lock = PTHREAD_MUTEX_INITIALIZER;
static int watch_fd = -1, watch_wake = -1;
static struct kited *watch_kd;

void supervise_watch_dpu(struct kited *kd, int pidfd)
{
	uint64_t one = 1;

	pthread_mutex_lock(&watch_lock);
	watch_kd = kd;
	watch_fd = pidfd;
	pthread_mutex_unlock(&watch_lock);
	if (write(watch_wake, &one, sizeof(one)) < 0)
		abort();
}

static void *watcher(void *arg)
{
	(void)arg;
	for (;;) {
		struct pollfd p[2] = { { .fd = watch_wake, .events = POLLIN }, { .events = POLLIN } };
		uint64_t v;

		pthread_mutex_lock(&watch_lock);
		p[1].fd = watch_fd;
		pthread_mutex_unlock(&watch_lock);
		if (poll(p, p[1].fd >= 0 ? 2 : 1, -1) <= 0)
			continue;
		if (p[0].revents && read(watch_wake, &v, sizeof(v)) < 0)
			continue;
		if (p[1].fd >= 0 && p[1].revents) {
			pthread_mutex_lock(&watch_lock);
			if (watch_fd == p[1].fd)
				watch_fd = -1;   /* watched again after the restart */
			pthread_mutex_unlock(&watch_lock);
			dpu_proc_ended(watch_kd);
		}
	}
	return NULL;
}

/* ---- the VM side's part: a table of VMs ---- */

static struct vm *find_vm(struct kited *kd, const char *name)
{
	for (struct vm *v = kd->vms; v; v = v->next)
		if (!strcmp(v->def.name, name))
			return v;
	return NULL;
}

static void put(cJSON *o)
{
	char *s = cJSON_PrintUnformatted(o);

	printf("%s\n", s);
	fflush(stdout);
	free(s);
	cJSON_Delete(o);
}

static cJSON *res_json(const struct vm_res *r)
{
	cJSON *o = cJSON_CreateObject();

	if (r->has_port) {
		cJSON_AddStringToObject(o, "port", r->port);
		cJSON_AddStringToObject(o, "port_sock", r->port_sock);
	}
	if (r->has_volume) {
		cJSON_AddStringToObject(o, "volume", r->volume);
		cJSON_AddStringToObject(o, "volume_sock", r->volume_sock);
		cJSON_AddBoolToObject(o, "served_for_vm", r->volume_served_for_vm);
	}
	return o;
}

static void acquire(struct kited *kd, const char *name, const char *vlan, const char *disk)
{
	struct vm *vm = find_vm(kd, name);
	cJSON *o = cJSON_CreateObject();
	char err[256] = "";
	int st;

	if (!vm) {
		vm = calloc(1, sizeof(*vm));
		snprintf(vm->def.name, sizeof(vm->def.name), "%s", name);
		vm->next = kd->vms;
		kd->vms = vm;
	}
	vm->def.net = strcmp(vlan, "-") != 0;
	vm->def.vlan = vm->def.net ? (unsigned)atoi(vlan) : 0;
	vm->def.disk = DISK_NONE;
	if (!strncmp(disk, "own:", 4)) {
		vm->def.disk = DISK_OWN;
		vm->def.disk_size_mib = (unsigned)atoi(disk + 4);
		vm->def.disk_ephemeral = strstr(disk, ":eph") != NULL;
	} else if (!strncmp(disk, "vol:", 4)) {
		vm->def.disk = DISK_VOLUME;
		snprintf(vm->def.disk_volume, sizeof(vm->def.disk_volume), "%s", disk + 4);
	}
	st = dpu_vm_acquire(kd, vm, err, sizeof(err));
	cJSON_AddNumberToObject(o, "status", st);
	cJSON_AddStringToObject(o, "error", err);
	cJSON_AddItemToObject(o, "res", res_json(&vm->res));
	put(o);
}

static void drop_vm(struct kited *kd, const char *name, bool forget)
{
	struct vm **p = &kd->vms;

	while (*p && strcmp((*p)->def.name, name))
		p = &(*p)->next;
	if (*p) {
		struct vm *v = *p;

		if (forget) {
			dpu_vm_forget(kd, v);
			*p = v->next;
			free(v);
		} else {
			dpu_vm_release(kd, v);
		}
	}
	put(cJSON_CreateObject());
}

static void call(const char *path, int ms, const char *json)
{
	cJSON *req = cJSON_Parse(json), *rep = NULL, *o = cJSON_CreateObject();
	char err[256] = "";
	int r = dpu_call(path, req, &rep, ms, err, sizeof(err));

	cJSON_AddNumberToObject(o, "r", r);
	cJSON_AddStringToObject(o, "error", err);
	cJSON_AddItemToObject(o, "reply", rep ? rep : cJSON_CreateNull());
	cJSON_Delete(req);
	put(o);
}

int main(int argc, char **argv)
{
	static struct kited kd = { .lock = PTHREAD_MUTEX_INITIALIZER };
	char line[65536];
	pthread_t t;

	if (argc < 3) {
		fprintf(stderr, "usage: dpu_driver STATE_DIR KITE_DPU [JAIL_UID]\n");
		return 2;
	}
	kite_log_init("kited", KITE_LOG_INFO);
	snprintf(kd.state_dir, sizeof(kd.state_dir), "%s", argv[1]);
	snprintf(kd.dpu_bin, sizeof(kd.dpu_bin), "%s", argv[2]);
	if (argc > 3) {
		kd.jail = true;
		kd.uid = kd.gid = (unsigned)atoi(argv[3]);
	}
	watch_wake = eventfd(0, EFD_CLOEXEC);
	pthread_create(&t, NULL, watcher, NULL);
	while (fgets(line, sizeof(line), stdin)) {
		char *cmd = strtok(line, " \n"), *a = strtok(NULL, " \n"), *b = strtok(NULL, " \n"),
		     *c = strtok(NULL, "\n");
		cJSON *o;

		if (!cmd)
			continue;
		if (!strcmp(cmd, "start")) {
			o = cJSON_CreateObject();
			cJSON_AddNumberToObject(o, "r", dpu_start(&kd));
			put(o);
		} else if (!strcmp(cmd, "status")) {
			put(dpu_status_json(&kd));
		} else if (!strcmp(cmd, "acquire") && a && b && c) {
			acquire(&kd, a, b, c);
		} else if ((!strcmp(cmd, "release") || !strcmp(cmd, "forget")) && a) {
			drop_vm(&kd, a, cmd[0] == 'f');
		} else if (!strcmp(cmd, "tables")) {
			o = cJSON_CreateObject();
			pthread_mutex_lock(&kd.dpu->op);
			cJSON_AddItemToObject(o, "ports", cJSON_Duplicate(kd.dpu->ports, true));
			cJSON_AddItemToObject(o, "volumes", cJSON_Duplicate(kd.dpu->vols, true));
			pthread_mutex_unlock(&kd.dpu->op);
			put(o);
		} else if (!strcmp(cmd, "stats")) {
			char *s = dpu_stats_text(&kd);
			o = cJSON_CreateObject();
			cJSON_AddItemToObject(o, "stats", s ? cJSON_CreateString(s) : cJSON_CreateNull());
			free(s);
			put(o);
		} else if (!strcmp(cmd, "call") && a && b && c) {
			call(a, atoi(b), c);
		} else if (!strcmp(cmd, "stop")) {
			dpu_stop(&kd);
			put(cJSON_CreateObject());
			return 0;
		} else {
			o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "error", "unknown command");
			put(o);
		}
	}
	return 0;
}
