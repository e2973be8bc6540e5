/* SPDX-License-Identifier: MIT */
/*
 * The VM's cgroup: <hierarchy>/<exec name>/<id>, with the --cgroup KEY=VAL files written before the
 * child is moved in. On a cgroup v2 host (/sys/fs/cgroup/cgroup.controllers exists) one directory in
 * the unified tree, with cpu, memory and pids enabled in the parents' cgroup.subtree_control. On a v1
 * (or hybrid) host one directory per controller, found in /proc/mounts by the key's prefix; the v2
 * names translate: memory.max -> memory.limit_in_bytes, cpu.max "QUOTA PERIOD" ->
 * cpu.cfs_period_us + cpu.cfs_quota_us ("max" -> -1), pids.max stays. Without --cgroup nothing is
 * created. jail_cgroup_remove removes the VM's directory and, when it is empty, <exec name> above it.
 * Single-threaded (the jailer's parent process).
 */
#include <errno.h>
#include <limits.h>
#include <mntent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jailer.h"
#include "kite/log.h"

#define V2_ROOT "/sys/fs/cgroup"

static char made[JAIL_MAX_ITEMS][PATH_MAX];   /* the directories created, for jail_cgroup_remove */
static unsigned nmade;

static int write_file(const char *id, const char *dir, const char *name, const char *val)
{
	char path[PATH_MAX + 64];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "we");
	if (!f || fputs(val, f) < 0 || fclose(f) != 0) {
		log_err("VM %s: cgroup: write \"%s\" to %s: %m", id, val, path);
		return -1;
	}
	return 0;
}

/* The mount point of the v1 hierarchy holding `ctrl`, or NULL. */
static const char *v1_mount(const char *ctrl, char *buf, size_t len)
{
	FILE *f = setmntent("/proc/mounts", "re");
	struct mntent *m;
	const char *r = NULL;

	while (f && (m = getmntent(f)))
		if (strcmp(m->mnt_type, "cgroup") == 0 && hasmntopt(m, ctrl) && strlen(m->mnt_dir) < len) {
			strcpy(buf, m->mnt_dir);
			r = buf;
			break;
		}
	if (f)
		endmntent(f);
	return r;
}

/* <base>/<exec name>/<id>, created; remembered for removal. Another jailer may remove the (empty)
 * <base>/<exec name> between the two mkdirs as its VM ends: then both are made again. */
static const char *vm_dir(const struct jail_opts *o, const char *base)
{
	char parent[PATH_MAX];

	for (unsigned i = 0; i < nmade; i++)
		if (strncmp(made[i], base, strlen(base)) == 0 && made[i][strlen(base)] == '/')
			return made[i];
	if (nmade == JAIL_MAX_ITEMS)
		return NULL;
	if ((size_t)snprintf(parent, sizeof(parent), "%s/%s", base, o->exec_name) >= sizeof(parent) ||
	    (size_t)snprintf(made[nmade], sizeof(made[0]), "%s/%s/%s", base, o->exec_name, o->id) >= sizeof(made[0])) {
		log_err("VM %s: cgroup: %s: path too long", o->id, base);
		return NULL;
	}
	for (int tries = 0;; tries++) {
		if ((mkdir(parent, 0755) == 0 || errno == EEXIST) && (mkdir(made[nmade], 0755) == 0 || errno == EEXIST))
			return made[nmade++];
		if (errno != ENOENT || tries == 3) {
			log_err("VM %s: cgroup: mkdir %s: %m", o->id, made[nmade]);
			return NULL;
		}
	}
}

static const char *v1_value(const char *v)
{
	return strcmp(v, "max") == 0 ? "-1" : v;
}

static int apply_v1(const struct jail_opts *o, const struct jail_kv *kv)
{
	char ctrl[32], mnt[PATH_MAX];
	size_t n = strcspn(kv->key, ".");
	const char *dir;

	if (n == 0 || n >= sizeof(ctrl) || !kv->key[n]) {
		log_err("VM %s: --cgroup %s: expected CONTROLLER.FILE", o->id, kv->key);
		return -1;
	}
	memcpy(ctrl, kv->key, n);
	ctrl[n] = '\0';
	if (!v1_mount(ctrl, mnt, sizeof(mnt))) {
		log_err("VM %s: --cgroup %s: no cgroup v1 hierarchy with the %s controller is mounted", o->id, kv->key, ctrl);
		return -1;
	}
	if (!(dir = vm_dir(o, mnt)))
		return -1;
	if (strcmp(kv->key, "memory.max") == 0)
		return write_file(o->id, dir, "memory.limit_in_bytes", v1_value(kv->val));
	if (strcmp(kv->key, "cpu.max") == 0) {
		char quota[32], period[32] = "100000";
		if (sscanf(kv->val, "%31s %31s", quota, period) < 1) {
			log_err("VM %s: --cgroup cpu.max=%s: expected \"QUOTA [PERIOD]\"", o->id, kv->val);
			return -1;
		}
		return write_file(o->id, dir, "cpu.cfs_period_us", period) < 0 ? -1 :
		       write_file(o->id, dir, "cpu.cfs_quota_us", v1_value(quota));
	}
	return write_file(o->id, dir, kv->key, kv->val);
}

int jail_cgroup_apply(const struct jail_opts *o, pid_t pid)
{
	char spid[32];
	struct stat st;
	bool v2 = stat(V2_ROOT "/cgroup.controllers", &st) == 0;

	if (o->ncgroups == 0)
		return 0;
	snprintf(spid, sizeof(spid), "%d", (int)pid);
	if (v2) {
		char parent[PATH_MAX];
		const char *dir;

		snprintf(parent, sizeof(parent), V2_ROOT "/%s", o->exec_name);
		if (!(dir = vm_dir(o, V2_ROOT)))
			return -1;
		/* controllers for the VM's directory: enabled in the root's and the parent's subtree */
		for (int i = 0; i < 2; i++)
			for (const char *const *c = (const char *const[]){ "+cpu", "+memory", "+pids", NULL }; *c; c++)
				if (write_file(o->id, i ? parent : V2_ROOT, "cgroup.subtree_control", *c) < 0)
					return -1;
		for (unsigned i = 0; i < o->ncgroups; i++)
			if (write_file(o->id, dir, o->cgroups[i].key, o->cgroups[i].val) < 0)
				return -1;
		return write_file(o->id, dir, "cgroup.procs", spid);
	}
	for (unsigned i = 0; i < o->ncgroups; i++)
		if (apply_v1(o, &o->cgroups[i]) < 0)
			return -1;
	for (unsigned i = 0; i < nmade; i++)
		if (write_file(o->id, made[i], "cgroup.procs", spid) < 0)
			return -1;
	return 0;
}

void jail_cgroup_remove(const struct jail_opts *o)
{
	for (unsigned i = 0; i < nmade; i++) {
		if (rmdir(made[i]) < 0 && errno != ENOENT) {
			log_warn("VM %s: cgroup %s: cannot remove: %m", o->id, made[i]);
			continue;
		}
		/* <hierarchy>/<exec name> too, unless another VM's cgroup is still in it (EBUSY/ENOTEMPTY) */
		*strrchr(made[i], '/') = '\0';
		if (rmdir(made[i]) < 0 && errno != ENOENT && errno != EBUSY && errno != ENOTEMPTY && errno != EEXIST)
			log_warn("VM %s: cgroup %s: cannot remove: %m", o->id, made[i]);
	}
	nmade = 0;
}
