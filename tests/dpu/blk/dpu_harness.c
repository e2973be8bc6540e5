/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dpu_harness.h"

/*
 * Leftovers of a failed check: a cmocka assertion leaves the test function by longjmp, past its
 * dpu_stop()/dpu_cleanup(). Every kite-dpu is started with PR_SET_PDEATHSIG, so it dies with the test
 * process whatever ends it; every temp dir is registered here and one still present at exit has its
 * log's tail printed (the failure's evidence) and is removed. Single-threaded tests only.
 */
#define DPU_MAX_DIRS 64
static char dpu_dirs[DPU_MAX_DIRS][256];
static bool dpu_atexit_set;

static void dpu_dirs_at_exit(void)
{
	char cmd[700];

	for (int i = 0; i < DPU_MAX_DIRS; i++) {
		if (!dpu_dirs[i][0])
			continue;
		fprintf(stderr, "dpu_harness: %s left by a failed check; its dpu.log ends:\n", dpu_dirs[i]);
		snprintf(cmd, sizeof(cmd), "tail -n 20 '%.255s/dpu.log' >&2; %s rm -rf '%.255s'", dpu_dirs[i],
			 getenv("KITE_KEEP_TMP") ? "true ||" : "", dpu_dirs[i]);
		if (system(cmd) != 0)
			fprintf(stderr, "dpu_harness: cannot clean %s\n", dpu_dirs[i]);
	}
}

static void dpu_dir_track(const char *dir, bool add)
{
	for (int i = 0; i < DPU_MAX_DIRS; i++) {
		if (add ? !dpu_dirs[i][0] : strcmp(dpu_dirs[i], dir) == 0) {
			if (add)
				snprintf(dpu_dirs[i], sizeof(dpu_dirs[i]), "%s", dir);
			else
				dpu_dirs[i][0] = '\0';
			break;
		}
	}
	if (add && !dpu_atexit_set)
		dpu_atexit_set = atexit(dpu_dirs_at_exit) == 0;
}

int dpu_tmpdir(struct dpu_proc *p)
{
	const char *t = getenv("TMPDIR");

	memset(p, 0, sizeof(*p));
	p->pid = -1;
	snprintf(p->dir, sizeof(p->dir), "%s/kite-dpu-test-XXXXXX", t ? t : "/tmp");
	if (!mkdtemp(p->dir))
		return -1;
	snprintf(p->ctl, sizeof(p->ctl), "%s/ctl.sock", p->dir);
	snprintf(p->log, sizeof(p->log), "%s/dpu.log", p->dir);
	dpu_dir_track(p->dir, true);
	return 0;
}

void dpu_path(const struct dpu_proc *p, const char *name, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", p->dir, name);
}

int dpu_make_image(const char *path, size_t bytes, int fill)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	char buf[65536];

	if (fd < 0)
		return -1;
	memset(buf, fill, sizeof(buf));
	for (size_t off = 0; off < bytes; off += sizeof(buf)) {
		size_t n = bytes - off < sizeof(buf) ? bytes - off : sizeof(buf);
		if (write(fd, buf, n) != (ssize_t)n) {
			close(fd);
			return -1;
		}
	}
	close(fd);
	return 0;
}

static int try_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (s >= 0 && (size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path) >= sizeof(sa.sun_path)) {
		close(s);
		errno = ENAMETOOLONG;
		return -1;
	}
	if (s >= 0 && connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return s;
	if (s >= 0)
		close(s);
	return -1;
}

int dpu_start(struct dpu_proc *p, const char *config_json)
{
	char cfg[300];
	const char *exe = getenv("KITE_DPU");

	if (!exe) {
		fprintf(stderr, "KITE_DPU is not set\n");
		return -1;
	}
	dpu_path(p, "config.json", cfg, sizeof(cfg));
	FILE *f = fopen(cfg, "w");
	if (!f)
		return -1;
	fputs(config_json, f);
	fclose(f);
	pid_t parent = getpid();
	p->pid = fork();
	if (p->pid < 0)
		return -1;
	if (p->pid == 0) {
		/* dies with the test process (a failed check must not leave a backend running) */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(127);
		int fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(exe, exe, "--config", cfg, "--control", p->ctl, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 1000; i++) {
		int s = try_connect(p->ctl);
		if (s >= 0) {
			close(s);
			return 0;
		}
		int st;
		if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
			p->pid = -1;
			fprintf(stderr, "kite-dpu exited early, log %s\n", p->log);
			return -1;
		}
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	return -1;
}

int dpu_stop(struct dpu_proc *p, bool hard)
{
	int st;

	if (p->pid <= 0)
		return -1;
	kill(p->pid, hard ? SIGKILL : SIGTERM);
	for (int i = 0; i < 500; i++) {
		if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
			p->pid = -1;
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		}
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	kill(p->pid, SIGKILL);
	waitpid(p->pid, &st, 0);
	p->pid = -1;
	return -1;
}

char *dpu_ctl(const struct dpu_proc *p, const char *json_line)
{
	int s = try_connect(p->ctl);
	struct timeval tv = { .tv_sec = 10 };
	size_t cap = 1 << 20, len = 0;
	char *buf;

	if (s < 0)
		return NULL;
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (send(s, json_line, strlen(json_line), MSG_NOSIGNAL) < 0 || send(s, "\n", 1, MSG_NOSIGNAL) < 0) {
		close(s);
		return NULL;
	}
	buf = malloc(cap);
	while (buf && len < cap - 1) {
		ssize_t r = recv(s, buf + len, cap - 1 - len, 0);
		if (r <= 0)
			break;
		len += (size_t)r;
		if (memchr(buf, '\n', len))
			break;
	}
	close(s);
	if (!buf || len == 0) {
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	return buf;
}

void dpu_cleanup(struct dpu_proc *p)
{
	char cmd[400];

	if (p->pid > 0)
		dpu_stop(p, true);
	dpu_dir_track(p->dir, false);
	if (getenv("KITE_KEEP_TMP"))
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", p->dir);
}
