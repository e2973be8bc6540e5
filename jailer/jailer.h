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

struct jail_kv {
	const char *key, *val;
};

struct jail_opts {
	const char *id;             /* [A-Za-z0-9-]{1,64} */
	const char *exec_file;      /* kite, copied into the jail */
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
	char *const *kite_argv;     /* arguments after "--" */
	int kite_argc;
	/* derived */
	char exec_name[64];         /* basename of exec_file */
	char jail_dir[4096];        /* <chroot_base>/<exec name>/<id> */
	char root[4096];            /* <jail_dir>/root */
};

/* jail_fs.c: the chroot. Host side (before the namespaces): create <root>, copy the exec file and
 * the shared libraries its loader lists into it, empty placeholders for the --file entries, empty
 * directories for the --dir entries. */
int jail_fs_prepare(struct jail_opts *o);
/* Inside the new mount namespace (the child, still root): bind the --file and --dir entries, make the device
 * nodes, pivot_root into <root>, chown / and the nodes to uid:gid. */
int jail_fs_enter(const struct jail_opts *o);

/* mkdir -p (mode for the new ones). */
int jail_mkdirs(const char *id, const char *path, mode_t mode);
/* Copy src to dst (created, must not exist; symlinks in src followed) with mode. */
int jail_copy_file(const char *id, const char *src, const char *dst, mode_t mode);

/* jail_libs.c: copy the ELF interpreter and the shared libraries `exe` needs (as `<interp> --list`
 * names them) under `root` at their host paths. */
int jail_copy_libs(const char *id, const char *exe, const char *root);

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
