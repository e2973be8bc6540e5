/* SPDX-License-Identifier: MIT */
/*
 * Resource limits and privileges of the jailed process. Called in the child, as root, in this order:
 * jail_set_rlimits (before the namespaces), then jail_drop_privs (inside the jail, right before exec):
 * bounding set emptied and ambient capabilities cleared while CAP_SETPCAP is still held, then
 * supplementary groups, gid and uid, then capset() to nothing (a uid 0 jail keeps none either: the
 * bounding set is empty, so exec grants none), then no_new_privs.
 */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "jailer.h"
#include "kite/log.h"

int jail_set_rlimits(const struct jail_opts *o)
{
	bool nofile_set = false;

	for (unsigned i = 0; i <= o->nrlimits; i++) {
		const char *key = i < o->nrlimits ? o->rlimits[i].key : "no-file";
		const char *val = i < o->nrlimits ? o->rlimits[i].val : "2048";
		int res;
		char *end;

		if (i == o->nrlimits && nofile_set)
			break;
		if (strcmp(key, "no-file") == 0) {
			res = RLIMIT_NOFILE;
			nofile_set = true;
		} else if (strcmp(key, "fsize") == 0) {
			res = RLIMIT_FSIZE;
		} else if (strcmp(key, "memlock") == 0) {
			res = RLIMIT_MEMLOCK;   /* DPDK's hugepages, io_uring rings on kernels before 5.12 */
		} else {
			log_err("VM %s: --resource-limit %s: unknown (no-file, fsize, memlock)", o->id, key);
			return -1;
		}
		errno = 0;
		unsigned long long v = strtoull(val, &end, 10);
		struct rlimit rl = { v, v };
		if (errno || !*val || *end || setrlimit(res, &rl) < 0) {
			log_err("VM %s: --resource-limit %s=%s: %s", o->id, key, val, errno ? strerror(errno) : "not a number");
			return -1;
		}
	}
	return 0;
}

int jail_drop_privs(const struct jail_opts *o)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	for (int cap = 0; cap < 64; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) {
			log_err("VM %s: dropping capability %d from the bounding set: %m", o->id, cap);
			return -1;
		}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
		log_err("VM %s: clearing ambient capabilities: %m", o->id);
		return -1;
	}
	if (setgroups(0, NULL) < 0 || setresgid(o->gid, o->gid, o->gid) < 0 || setresuid(o->uid, o->uid, o->uid) < 0) {
		log_err("VM %s: switching to uid %u gid %u: %m", o->id, (unsigned)o->uid, (unsigned)o->gid);
		return -1;
	}
	memset(d, 0, sizeof(d));
	if (syscall(SYS_capset, &h, d) < 0) {
		log_err("VM %s: capset to no capabilities: %m", o->id);
		return -1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		log_err("VM %s: no_new_privs: %m", o->id);
		return -1;
	}
	return 0;
}
