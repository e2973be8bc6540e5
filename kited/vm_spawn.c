/* SPDX-License-Identifier: MIT */
/*
 * Starting one kite: directly (`kite --api-sock ...`), or under kite-jailer as the VM's own uid:gid
 * (chroot, namespaces, cgroup v2 limits from the definition, no privileges) with the VM's run/ and
 * snapshot/ directories and kite-dpu's socket directory bound at their host paths, so every path
 * kited gives kite is the same inside and outside the jail. The process is identified by pid and
 * start time and watched through a pidfd (which also signals it: never a recycled pid). No lock
 * held; the VM is busy.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kite/log.h"
#include "state.h"
#include "vm_internal.h"

#define SPAWN_READY_S 60      /* kite's API socket must answer within this (a hang guard) */
#define SPAWN_ARGS 48


unsigned long long proc_start_time(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long start = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');   /* the command may hold spaces and parentheses */
	if (!p)
		return 0;
	/* after ") ": field 3 (state) ... field 22 (starttime) */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu", &start) != 1)
		return 0;
	return start;
}

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

int proc_open_checked(pid_t pid, unsigned long long start)
{
	int fd;

	if (pid <= 0 || !start)
		return -1;
	fd = pidfd_open_(pid);
	if (fd < 0)
		return -1;
	/* checked after the pidfd exists: the pidfd now pins that very process */
	if (proc_start_time(pid) != start) {
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	return fd;
}

int proc_signal(const struct kd_proc *p, int sig)
{
	if (p->pidfd < 0)
		return -1;
	return (int)syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL, 0);
}

void spawn_probe_kite(struct kited *kd)
{
	char buf[16384];
	size_t off = 0;
	int p[2], st;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return;
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(p[1], 1);
		dup2(null, 2);
		execl(kd->kite_bin, kd->kite_bin, "--help", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	while (pid > 0 && off < sizeof(buf) - 1) {
		ssize_t n = read(p[0], buf + off, sizeof(buf) - 1 - off);

		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(p[0]);
	buf[off] = '\0';
	if (pid > 0)
		waitpid(pid, &st, 0);
	vm_console_socket = strstr(buf, "socket:PATH") != NULL;
	log_info("%s: serial console %s", kd->kite_bin, vm_console_socket ? "on a socket (--console socket:PATH)"
									  : "to a file (this kite has no --console socket:PATH)");
}

/*
 * The jail's id, NAME-XXXXXXXX (a hash of the state directory): it names the jail directory and the
 * cgroup (<hierarchy>/kite/ID), which is host-wide, so two kiteds with other state directories
 * never share one.
 */
void jail_id(const struct kited *kd, const char *name, char *out, size_t len)
{
	unsigned h = 2166136261u;

	for (const char *p = kd->state_dir; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	snprintf(out, len, "%s-%08x", name, h);
}

/* The last line kite wrote to its log (why it ended), for an error message. */
static void last_log_line(struct kited *kd, const char *name, char *out, size_t len)
{
	char path[KD_PATH_MAX * 2], buf[1024];
	ssize_t n;
	off_t size;
	int fd;

	out[0] = '\0';
	if (!vm_path(kd, name, "kite.log", path, sizeof(path)) || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return;
	size = lseek(fd, 0, SEEK_END);
	n = pread(fd, buf, sizeof(buf) - 1, size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	snprintf(out, len, "%.*s", (int)len - 1, strrchr(buf, '\n') ? strrchr(buf, '\n') + 1 : buf);
}

static void exit_words(const siginfo_t *si, char *out, size_t len)
{
	if (si->si_code == CLD_EXITED)
		snprintf(out, len, "exited with status %d", si->si_status);
	else
		snprintf(out, len, "was killed by signal %d", si->si_status);
}

/* Gives the entries of directory `path` (not below: kite makes no subdirectories) to uid:gid,
 * symlinks themselves and not what they point at: a snapshot an earlier run made as another uid
 * (before per-VM uids, or unjailed) stays readable by this run's kite. */
static void chown_entries(const char *path, unsigned uid)
{
	DIR *d = opendir(path);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		    fchownat(dirfd(d), e->d_name, uid, uid, AT_SYMLINK_NOFOLLOW) < 0)
			log_warn("%s/%s: cannot give it to uid %u: %s", path, e->d_name, uid, strerror(errno));
	closedir(d);
}

/* The directories kite writes (run/, snapshot/), 0700 and owned (with what they hold) by the VM's
 * own uid:gid when jailed, by root when not. */
static int prepare_dirs(struct kited *kd, struct vm *vm, char *err, size_t errlen)
{
	static const char *const dirs[] = { "run", "snapshot" };
	char path[KD_PATH_MAX * 2];

	for (unsigned i = 0; i < 2; i++) {
		if (!vm_path(kd, vm->def.name, dirs[i], path, sizeof(path)) || state_mkdir(path, 0700) < 0)
			return errf(err, errlen, "VM %s: %s: cannot create: %m", vm->def.name, path);
		if (geteuid() == 0 && chown(path, vm->jailed ? vm->uid : 0, vm->jailed ? vm->uid : 0) < 0)
			return errf(err, errlen, "VM %s: %s: cannot chown: %m", vm->def.name, path);
		if (geteuid() == 0)
			chown_entries(path, vm->jailed ? vm->uid : 0);
	}
	/* what an earlier run left (a kite killed with its sockets in place, a host reboot) */
	if (vm_path(kd, vm->def.name, "run/console.log", path, sizeof(path)))
		unlink(path);
	if (vm_path(kd, vm->def.name, "run/console.sock", path, sizeof(path)))
		unlink(path);
	return 0;
}

struct argv {
	char *a[SPAWN_ARGS + 1];
	char store[SPAWN_ARGS][KD_PATH_MAX * 2 + 32];
	unsigned n;
};

static void arg(struct argv *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void arg(struct argv *v, const char *fmt, ...)
{
	va_list ap;

	if (v->n >= SPAWN_ARGS)
		return;
	va_start(ap, fmt);
	vsnprintf(v->store[v->n], sizeof(v->store[0]), fmt, ap);
	va_end(ap);
	v->a[v->n] = v->store[v->n];
	v->a[++v->n] = NULL;
}

static void build_argv(struct kited *kd, struct vm *vm, struct argv *v)
{
	char run[KD_PATH_MAX * 2], path[KD_PATH_MAX * 2], id[KD_NAME_MAX + 16];
	bool is_sock;

	v->n = 0;
	vm_path(kd, vm->def.name, "run", run, sizeof(run));
	if (vm->jailed) {
		arg(v, "%s", kd->jailer_bin);
		arg(v, "--id");
		jail_id(kd, vm->def.name, id, sizeof(id));
		arg(v, "%s", id);
		arg(v, "--exec-file");
		arg(v, "%s", kd->kite_bin);
		arg(v, "--uid");
		arg(v, "%u", vm->uid);
		arg(v, "--gid");
		arg(v, "%u", vm->uid);
		arg(v, "--chroot-base");
		arg(v, "%s/jail", kd->state_dir);
		arg(v, "--cgroup");
		arg(v, "cpu.max=%u 100000", vm->def.cpus * 100000);
		arg(v, "--cgroup");
		/* guest RAM plus kite's own (threads, rings, buffers, the API) */
		arg(v, "memory.max=%llu", ((unsigned long long)vm->def.memory_mib + 96) << 20);
		arg(v, "--cgroup");
		arg(v, "pids.max=%u", 64 + 2 * vm->def.cpus);
		arg(v, "--file");
		arg(v, "%s", vm->def.kernel);
		if (vm->def.initrd[0]) {
			arg(v, "--file");
			arg(v, "%s", vm->def.initrd);
		}
		arg(v, "--dir");
		arg(v, "%s", run);
		arg(v, "--dir");
		vm_path(kd, vm->def.name, "snapshot", path, sizeof(path));
		arg(v, "%s", path);
		if (vm->def.disk == DISK_OWN && vm->def.disk_in_kite && local_disk_image(kd, vm->def.name, path, sizeof(path))) {
			arg(v, "--file");   /* read-write: kite opens it itself */
			arg(v, "%s", path);
		}
		if (vm->res.has_port || vm->res.has_volume) {
			arg(v, "--dir");
			arg(v, "%s/dpu/sockets", kd->state_dir);
		}
		arg(v, "--");
	} else {
		arg(v, "%s", kd->kite_bin);
	}
	arg(v, "--api-sock");
	vm_api_sock(kd, vm->def.name, path, sizeof(path));
	arg(v, "%s", path);
	arg(v, "--console");
	vm_console_path(kd, vm->def.name, &is_sock, path, sizeof(path));
	arg(v, "%s:%s", is_sock ? "socket" : "file", path);
}

/* Child side, between fork and exec: only async-signal-safe calls. */
static void child_exec(char *const *argv, int logfd)
{
	sigset_t none;
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);   /* kited ignores it; an ignored signal stays ignored across exec */
	setsid();   /* kited's terminal or process group never signals its VMs */
	if (null < 0 || dup2(null, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
		_exit(126);
	execv(argv[0], argv);
	_exit(127);
}

/*
 * The spawner thread: the one thread of kited that forks and execs (the HTTP threads' seccomp
 * filter forbids both, and a child inherits the filter of the thread that forked it: kite and the
 * jailer must start unfiltered). Requests come one at a time through `sp`.
 */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char *const *argv;
	int logfd;
	bool pending, done, want_pidfd;
	pid_t pid;
	int pidfd, err;
} sp = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
static pthread_mutex_t sp_one = PTHREAD_MUTEX_INITIALIZER;

static void *spawner(void *arg)
{
	(void)arg;
	prctl(PR_SET_NAME, "kd-spawn");
	pthread_mutex_lock(&sp.lock);
	for (;;) {
		while (!sp.pending)
			pthread_cond_wait(&sp.cond, &sp.lock);
		sp.pidfd = -1;
		sp.pid = fork();
		if (sp.pid == 0)
			child_exec(sp.argv, sp.logfd);
		sp.err = errno;
		if (sp.pid > 0 && sp.want_pidfd && (sp.pidfd = pidfd_open_(sp.pid)) < 0) {
			sp.err = errno;
			kill(sp.pid, SIGKILL);   /* our unreaped child: the pid cannot be another's yet */
			waitpid(sp.pid, NULL, 0);
			sp.pid = -1;
		}
		if (sp.pidfd >= 0)
			fcntl(sp.pidfd, F_SETFD, FD_CLOEXEC);
		sp.pending = false;
		sp.done = true;
		pthread_cond_broadcast(&sp.cond);
	}
	return NULL;
}

int spawn_init(void)
{
	pthread_t t;

	if (pthread_create(&t, NULL, spawner, NULL) != 0)
		return -1;
	pthread_detach(t);
	return 0;
}

pid_t kd_spawn(char *const *argv, int logfd, int *pidfd)
{
	pid_t pid;

	pthread_mutex_lock(&sp_one);
	pthread_mutex_lock(&sp.lock);
	sp.argv = argv;
	sp.logfd = logfd;
	sp.want_pidfd = pidfd != NULL;
	sp.done = false;
	sp.pending = true;
	pthread_cond_broadcast(&sp.cond);
	while (!sp.done)
		pthread_cond_wait(&sp.cond, &sp.lock);
	pid = sp.pid;
	if (pidfd)
		*pidfd = sp.pidfd;
	errno = sp.err;
	pthread_mutex_unlock(&sp.lock);
	pthread_mutex_unlock(&sp_one);
	return pid;
}

/* Waits for the jailer's pid file (kite's host pid). */
static pid_t jailed_kite_pid(struct kited *kd, struct vm *vm)
{
	char path[KD_PATH_MAX * 2], buf[32];
	struct pollfd pfd = { .fd = vm->jailer.pidfd, .events = POLLIN };

	char id[KD_NAME_MAX + 16];

	jail_id(kd, vm->def.name, id, sizeof(id));
	snprintf(path, sizeof(path), "%s/jail/kite/%s/kite.pid", kd->state_dir, id);
	for (int i = 0; i < SPAWN_READY_S * 20; i++) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);

		if (fd >= 0) {
			ssize_t n = read(fd, buf, sizeof(buf) - 1);

			close(fd);
			if (n > 0) {
				buf[n] = '\0';
				if (atoi(buf) > 0)
					return atoi(buf);
			}
		}
		if (poll(&pfd, 1, 50) > 0)
			return -1;   /* the jailer ended */
	}
	return -1;
}

static int wait_ready(struct kited *kd, struct vm *vm, const char *sock, char *err, size_t errlen)
{
	const struct kd_proc *top = vm->jailed ? &vm->jailer : &vm->proc;
	struct pollfd pfd = { .fd = top->pidfd, .events = POLLIN };
	char state[32];

	for (int i = 0; i < SPAWN_READY_S * 20; i++) {
		if (access(sock, F_OK) == 0 && kite_get_state(sock, state, sizeof(state)) == 0)
			return 0;
		if (poll(&pfd, 1, 50) > 0) {
			siginfo_t si = { 0 };
			char how[64], line[256];

			waitid(P_PIDFD, (id_t)top->pidfd, &si, WEXITED);
			exit_words(&si, how, sizeof(how));
			last_log_line(kd, vm->def.name, line, sizeof(line));
			return errf(err, errlen, "VM %s: %s %s before its API answered: %s", vm->def.name,
				    vm->jailed ? "kite-jailer" : "kite", how, line[0] ? line : "(no log line)");
		}
	}
	return errf(err, errlen, "VM %s: kite's API socket %s did not answer within %d s", vm->def.name, sock,
		    SPAWN_READY_S);
}

void spawn_jail_cleanup(struct kited *kd, const char *name)
{
	char path[KD_PATH_MAX * 2];

	char id[KD_NAME_MAX + 16];

	jail_id(kd, name, id, sizeof(id));
	snprintf(path, sizeof(path), "%s/jail/kite/%s", kd->state_dir, id);
	if (state_remove_tree(path) < 0)
		log_warn("VM %s: %s: cannot remove the jail directory", name, path);
}

int spawn_kite(struct kited *kd, struct vm *vm, char *err, size_t errlen)
{
	struct argv *v = calloc(1, sizeof(*v));
	char path[KD_PATH_MAX * 2], sock[KD_PATH_MAX * 2];
	struct kd_proc *top;
	int logfd, pidfd;
	pid_t pid;

	if (!v)
		return errf(err, errlen, "VM %s: out of memory", vm->def.name);
	memset(&vm->proc, 0, sizeof(vm->proc));
	memset(&vm->jailer, 0, sizeof(vm->jailer));
	vm->proc.pidfd = vm->jailer.pidfd = -1;
	if (prepare_dirs(kd, vm, err, errlen) < 0)
		goto fail_free;
	if (vm->jailed)
		spawn_jail_cleanup(kd, vm->def.name);   /* a leftover of a crash: the jailer refuses an existing jail */
	if (!vm_path(kd, vm->def.name, "kite.log", path, sizeof(path)) ||
	    (logfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) < 0) {
		errf(err, errlen, "VM %s: %s: cannot open: %m", vm->def.name, path);
		goto fail_free;
	}
	build_argv(kd, vm, v);
	vm_api_sock(kd, vm->def.name, sock, sizeof(sock));
	unlink(sock);
	pid = kd_spawn(v->a, logfd, &pidfd);
	close(logfd);
	if (pid < 0) {
		errf(err, errlen, "VM %s: starting %s: %m", vm->def.name, v->a[0]);
		goto fail_free;
	}
	top = vm->jailed ? &vm->jailer : &vm->proc;
	*top = (struct kd_proc){ .pid = pid, .start = proc_start_time(pid), .pidfd = pidfd, .child = true };
	if (vm->jailed) {
		pid_t kpid = jailed_kite_pid(kd, vm);

		vm->proc.pid = kpid > 0 ? kpid : 0;
		vm->proc.start = kpid > 0 ? proc_start_time(kpid) : 0;
		vm->proc.pidfd = kpid > 0 ? proc_open_checked(kpid, vm->proc.start) : -1;
	}
	if (wait_ready(kd, vm, sock, err, errlen) < 0)
		goto fail_kill;
	if (vm->proc.pidfd < 0) {
		errf(err, errlen, "VM %s: kite-jailer gave no pid of kite", vm->def.name);
		goto fail_kill;
	}
	free(v);
	log_info("VM %s: kite %d started%s", vm->def.name, (int)vm->proc.pid, vm->jailed ? " in its jail" : "");
	return 0;
fail_kill:
	spawn_kill(kd, vm);
fail_free:
	free(v);
	return -1;
}

void spawn_kill(struct kited *kd, struct vm *vm)
{
	struct kd_proc *top = vm->jailed ? &vm->jailer : &vm->proc;

	proc_signal(&vm->proc, SIGKILL);
	if (top->pidfd >= 0) {
		if (top != &vm->proc)
			proc_signal(top, SIGTERM);   /* passes it on to kite, if kite is not killed yet */
		if (top->child) {
			siginfo_t si;

			if (!vm->jailed)
				proc_signal(top, SIGKILL);
			waitid(P_PIDFD, (id_t)top->pidfd, &si, WEXITED);
		}
	}
	if (vm->proc.pidfd >= 0)
		close(vm->proc.pidfd);
	if (vm->jailer.pidfd >= 0)
		close(vm->jailer.pidfd);
	memset(&vm->proc, 0, sizeof(vm->proc));
	memset(&vm->jailer, 0, sizeof(vm->jailer));
	vm->proc.pidfd = vm->jailer.pidfd = -1;
	if (vm->jailed)
		spawn_jail_cleanup(kd, vm->def.name);
}
