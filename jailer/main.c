/* SPDX-License-Identifier: MIT */
/*
 * kite-jailer --id ID --exec-file PATH --uid N --gid N --chroot-base DIR [--netns PATH]
 *             [--cgroup KEY=VAL]... [--resource-limit KEY=VAL]... [--file PATH]... [--dir PATH]...
 *             -- KITE_ARGS
 *
 * The order follows Firecracker's jailer: validate, close inherited fds, clear the environment,
 * build the chroot, rlimits, then a child in new PID/mount/IPC/UTS namespaces (the jailer stays
 * outside as its parent) is put into the VM's cgroup, joins --netns, enters the chroot, drops every
 * privilege and execs kite. The parent writes <jail dir>/<exec name>.pid (the child's host PID),
 * passes SIGTERM/SIGINT/SIGHUP on, waits, removes the cgroup and exits with kite's status
 * (128 + signal when kite died by one).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jailer.h"
#include "kite/log.h"

static volatile pid_t child_pid;

static void forward(int sig)
{
	if (child_pid > 0)
		kill(child_pid, sig);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: kite-jailer --id ID --exec-file PATH --uid N --gid N --chroot-base DIR [--netns PATH]\n"
		"                   [--cgroup KEY=VAL]... [--resource-limit KEY=VAL]... [--file PATH]... [--dir PATH]...\n"
		"                   -- KITE_ARGS\n"
		"  --cgroup          cpu.max=\"QUOTA PERIOD\", memory.max=BYTES, pids.max=N (cgroup v2 names; a v1\n"
		"                    host gets cpu.cfs_quota_us/cfs_period_us, memory.limit_in_bytes) or any file\n"
		"  --resource-limit  no-file=N (default 2048), fsize=BYTES, memlock=BYTES\n"
		"  --file            a disk, kernel, initrd or socket, visible in the jail as /<basename>\n"
		"  --dir             a host directory (kite-dpu's images or sockets, /dev/hugepages), bound at the\n"
		"                    same path in the jail\n");
}

static int parse_kv(const char *arg, const char *flag, struct jail_kv *kv, unsigned *n)
{
	const char *eq = strchr(arg, '=');

	if (!eq || eq == arg || *n >= JAIL_MAX_ITEMS || memchr(arg, '/', (size_t)(eq - arg))) {
		log_err("%s %s: expected KEY=VALUE (at most %d)", flag, arg, JAIL_MAX_ITEMS);
		return -1;
	}
	kv[*n].key = strndup(arg, (size_t)(eq - arg));
	kv[*n].val = eq + 1;
	(*n)++;
	return 0;
}

static int add_path(const char *arg, const char *flag, const char **list, unsigned *n)
{
	if (*n >= JAIL_MAX_ITEMS) {
		log_err("%s: at most %d", flag, JAIL_MAX_ITEMS);
		return -1;
	}
	list[(*n)++] = arg;
	return 0;
}

static int parse_id(const char *s, const char *flag, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	if (errno || !*s || *end || *out > 0xfffffffeul) {
		log_err("%s %s: not a number", flag, s);
		return -1;
	}
	return 0;
}

static int parse(int argc, char **argv, struct jail_opts *o)
{
	static const struct option lo[] = {
		{ "id", required_argument, NULL, 'i' }, { "exec-file", required_argument, NULL, 'e' },
		{ "uid", required_argument, NULL, 'u' }, { "gid", required_argument, NULL, 'g' },
		{ "chroot-base", required_argument, NULL, 'c' }, { "netns", required_argument, NULL, 'n' },
		{ "cgroup", required_argument, NULL, 'C' }, { "resource-limit", required_argument, NULL, 'r' },
		{ "file", required_argument, NULL, 'f' }, { "dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' }, { 0 },
	};
	unsigned long uid = ~0ul, gid = ~0ul;
	int c;

	while ((c = getopt_long(argc, argv, "+", lo, NULL)) != -1) {
		switch (c) {
		case 'i': o->id = optarg; break;
		case 'e': o->exec_file = optarg; break;
		case 'c': o->chroot_base = optarg; break;
		case 'n': o->netns = optarg; break;
		case 'u': if (parse_id(optarg, "--uid", &uid) < 0) return -1; break;
		case 'g': if (parse_id(optarg, "--gid", &gid) < 0) return -1; break;
		case 'C': if (parse_kv(optarg, "--cgroup", o->cgroups, &o->ncgroups) < 0) return -1; break;
		case 'r': if (parse_kv(optarg, "--resource-limit", o->rlimits, &o->nrlimits) < 0) return -1; break;
		case 'f': if (add_path(optarg, "--file", o->files, &o->nfiles) < 0) return -1; break;
		case 'd': if (add_path(optarg, "--dir", o->dirs, &o->ndirs) < 0) return -1; break;
		default: usage(); return -1;
		}
	}
	if (!o->id || !o->exec_file || !o->chroot_base || uid == ~0ul || gid == ~0ul) {
		log_err("--id, --exec-file, --uid, --gid and --chroot-base are required");
		usage();
		return -1;
	}
	size_t idlen = strlen(o->id);
	if (idlen == 0 || idlen > 64 || strspn(o->id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != idlen) {
		log_err("--id %s: 1 to 64 letters, digits and hyphens", o->id);
		return -1;
	}
	if (o->chroot_base[0] != '/' || o->exec_file[0] != '/') {
		log_err("VM %s: --chroot-base and --exec-file must be absolute paths", o->id);
		return -1;
	}
	o->uid = (uid_t)uid;
	o->gid = (gid_t)gid;
	o->kite_argv = argv + optind;
	o->kite_argc = argc - optind;
	const char *base = strrchr(o->exec_file, '/') + 1;
	if (!*base || strlen(base) >= sizeof(o->exec_name)) {
		log_err("VM %s: --exec-file %s: no file name", o->id, o->exec_file);
		return -1;
	}
	strcpy(o->exec_name, base);
	if ((size_t)snprintf(o->jail_dir, sizeof(o->jail_dir), "%s/%s/%s", o->chroot_base, o->exec_name, o->id) >=
		    sizeof(o->jail_dir) ||
	    (size_t)snprintf(o->root, sizeof(o->root), "%s/root", o->jail_dir) >= sizeof(o->root)) {
		log_err("VM %s: --chroot-base %s: path too long", o->id, o->chroot_base);
		return -1;
	}
	return 0;
}

/* Firecracker's jailer closes every inherited fd but stdin, stdout and stderr. */
static void close_inherited_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		int fd = atoi(e->d_name);
		if (fd > 2 && fd != dirfd(d))
			close(fd);
	}
	closedir(d);
}

/* The child: new namespaces (PID came from the parent's unshare), cgroup (by the parent, then the
 * go byte), netns, chroot, privileges, exec. Never returns. */
static void child(const struct jail_opts *o, int go_fd)
{
	char b;
	char path[4200];

	if (read(go_fd, &b, 1) != 1)
		_exit(1);   /* the parent failed and said why */
	close(go_fd);
	if (o->netns) {
		int ns = open(o->netns, O_RDONLY | O_CLOEXEC);
		if (ns < 0 || setns(ns, CLONE_NEWNET) < 0) {
			log_err("VM %s: --netns %s: cannot join: %m", o->id, o->netns);
			_exit(1);
		}
		close(ns);
	}
	if (unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS) < 0) {
		log_err("VM %s: unshare(mount, IPC, UTS namespaces): %m", o->id);
		_exit(1);
	}
	if (sethostname(o->id, strlen(o->id)) < 0)
		log_warn("VM %s: sethostname in the new UTS namespace: %m", o->id);
	if (jail_fs_enter(o) < 0 || jail_drop_privs(o) < 0)
		_exit(1);
	char **argv = calloc((size_t)o->kite_argc + 2, sizeof(char *));
	if (!argv)
		_exit(1);
	snprintf(path, sizeof(path), "/%s", o->exec_name);
	argv[0] = path;
	for (int i = 0; i < o->kite_argc; i++)
		argv[i + 1] = o->kite_argv[i];
	char *envp[] = { "PATH=/", NULL };
	execve(path, argv, envp);
	log_err("VM %s: exec %s in the jail: %m", o->id, path);
	_exit(1);
}

static int write_pid_file(const struct jail_opts *o, pid_t pid)
{
	char path[4200];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.pid", o->jail_dir, o->exec_name);
	f = fopen(path, "we");
	if (!f || fprintf(f, "%d\n", (int)pid) < 0 || fclose(f) != 0) {
		log_err("VM %s: %s: cannot write the PID file: %m", o->id, path);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct jail_opts o = { 0 };
	int go[2], st;

	kite_log_init("kite-jailer", KITE_LOG_INFO);
	if (parse(argc, argv, &o) < 0)
		return 1;
	close_inherited_fds();
	clearenv();
	if (jail_fs_prepare(&o) < 0 || jail_set_rlimits(&o) < 0)
		return 1;
	if (pipe2(go, O_CLOEXEC) < 0 || unshare(CLONE_NEWPID) < 0) {
		log_err("VM %s: new PID namespace: %m", o.id);
		return 1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		log_err("VM %s: fork: %m", o.id);
		return 1;
	}
	if (pid == 0) {
		close(go[1]);
		child(&o, go[0]);
	}
	close(go[0]);
	child_pid = pid;
	struct sigaction sa = { .sa_handler = forward };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if (jail_cgroup_apply(&o, pid) < 0 || write_pid_file(&o, pid) < 0 || write(go[1], "g", 1) != 1) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		jail_cgroup_remove(&o);
		return 1;
	}
	close(go[1]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	jail_cgroup_remove(&o);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);
}
