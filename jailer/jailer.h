/* SPDX-License-Identifier: MIT */
/*
 * kite-jailer: runs one kite in a jail (Firecracker's jailer is the model): new mount, PID, IPC and
 * UTS namespaces (and a given network namespace), a chroot holding only what the VM needs, cgroup
 * limits, rlimits, no capabilities, no_new_privs, a given uid/gid; then exec kite.
 * Single-threaded. Every function logs its one error line ("kite-jailer: error: VM ID: ...") itself
 * and returns 0 or -1.
 */
#ifndef KITE_JAILER_H
#define KITE_JAILER_H

#include <stdbool.h>
#include <sys/types.h>

#define JAIL_MAX_ITEMS 32
#define JAIL_MAX_RO 64          /* the exec file, its loader and its shared libraries */

struct jail_kv {
	const char *key, *val;
};

struct jail_opts {
	const char *id;             /* [A-Za-z0-9-]{1,64} */
	const char *exec_file;      /* kite, bound read-only into the jail */
	const char *chroot_base;    /* jail = <chroot_base>/<exec name>/<id>/root */
	const char *netns;          /* optional: a network namespace handle to join */
	uid_t uid;
	gid_t gid;
	struct jail_kv cgroups[JAIL_MAX_ITEMS];
	unsigned ncgroups;
	struct jail_kv rlimits[JAIL_MAX_ITEMS];
	unsigned nrlimits;
	const char *files[JAIL_MAX_ITEMS];   /* host files bind-mounted at /<basename> in the jail */
	unsigned nfiles;
	const char *dirs[JAIL_MAX_ITEMS];    /* host directories bind-mounted at the same path in the jail */
	unsigned ndirs;
	struct jail_ro {             /* host files bound read-only into the jail (jail_add_ro) */
		char *host, *jail;   /* malloc'd; jail = the placeholder's path under root */
	} ro[JAIL_MAX_RO];
	unsigned nro;
	char *const *kite_argv;     /* arguments after "--" */
	int kite_argc;
	/* derived */
	char exec_name[64];         /* basename of exec_file */
	char jail_dir[4096];        /* <chroot_base>/<exec name>/<id> */
	char root[4096];            /* <jail_dir>/root */
};

/* jail_fs.c: the chroot. Host side (before the namespaces): create <root>, empty placeholders for the
 * exec file and the shared libraries its loader lists (jail_add_ro) and for the --file entries,
 * empty directories for the --dir entries. */
int jail_fs_prepare(struct jail_opts *o);
/* Inside the new mount namespace (the child, still root): bind the exec file and its libraries
 * read-only (nosuid, nodev: every kite shares the host's page cache of one file, and none can write
 * it), bind the --file and --dir entries, make the device nodes, pivot_root into <root>, chown /
 * and the nodes to uid:gid. */
int jail_fs_enter(const struct jail_opts *o);

/* mkdir -p (mode for the new ones). */
int jail_mkdirs(const char *id, const char *path, mode_t mode);
/* Host file src (a regular file; symlinks followed) to be bound read-only at dst, a path under the
 * jail's root: creates the empty placeholder dst (and its directories) and records the pair. A dst
 * already recorded is skipped (a library listed twice). */
int jail_add_ro(struct jail_opts *o, const char *src, const char *dst);

/* jail_libs.c: the ELF interpreter and the shared libraries o->exec_file needs (as `<interp>
 * --list` names them), each bound read-only under the jail's root at its host path (jail_add_ro). */
int jail_add_libs(struct jail_opts *o);

/* cgroup.c: create the VM's cgroup (<hierarchy>/<exec name>/<id>), write the KEY=VAL limits,
 * move `pid` into it. cgroup v2 names (cpu.max, memory.max, pids.max) also work on a v1 host. */
int jail_cgroup_apply(const struct jail_opts *o, pid_t pid);
/* Remove the VM's cgroup directories (after the process ended). */
void jail_cgroup_remove(const struct jail_opts *o);

/* privs.c: rlimits (no-file, fsize, memlock; no-file defaults to 2048). */
int jail_set_rlimits(const struct jail_opts *o);
/* Drop the bounding set and ambient capabilities, set groups/gid/uid, capset to empty, no_new_privs. */
int jail_drop_privs(const struct jail_opts *o);

#endif
