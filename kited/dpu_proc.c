/* SPDX-License-Identifier: MIT */
/*
 * kite-dpu's process for kited (docs/kited.md "kite-dpu"): adopt the one recorded in DIR/dpu/dpu.json
 * (same pid and start time, and its control socket answers) or start one, record it atomically,
 * and restart it when it dies: the supervisor thread sees its pidfd (supervise_watch_dpu) and calls
 * dpu_proc_ended(), which only wakes this file's thread; that thread waits out the backoff (0.1 s
 * doubling to 5 s, back to 0.1 s once a kite-dpu lived 30 s), starts a new kite-dpu and re-applies
 * every port and volume (dpu_res_apply), so the VMs' kites reconnect. The same thread checks a
 * running kite-dpu's health (switch_stats every 5 s); one that misses 3 in a row is killed, and so
 * restarted.
 *
 * kited's kite-dpu: kite-dpu --control DIR/dpu/ctl.sock --image-dir DIR/volumes --socket-dir
 * DIR/dpu/sockets [--cores LIST], in a session of its own (it outlives kited), stderr appended to
 * DIR/dpu/kite-dpu.log. It is ready when `switch_stats` answers, which also makes its switch
 * (kite-dpu creates the switch at the first switch command or port).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kite/log.h"
#include "dpu.h"
#include "state.h"
#include "vm_internal.h"

#define READY_TIMEOUT_MS 10000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define STABLE_MS 30000
#define WATCH_MS 5000           /* health check of a running kite-dpu: switch_stats every 5 s ... */
#define WATCH_MISSES 3          /* ... and 3 without an answer in a row (5 s each) kill it */

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- process identity (vm_spawn.c's helpers) ---- */

/* The process has ended (its pidfd is readable) or was never there. */
static bool proc_gone(const struct kd_proc *p)
{
	struct pollfd pf = { .fd = p->pidfd, .events = POLLIN };

	if (p->pidfd < 0)
		return true;
	return poll(&pf, 1, 0) != 0;
}

/* ---- the state file ---- */

static void path_in(const struct dpu *d, const char *name, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", d->dir, name);
}

static void record(struct dpu *d)
{
	char path[KD_PATH_MAX + 16], err[KD_PATH_MAX + 64];
	cJSON *j = cJSON_CreateObject();

	path_in(d, "dpu.json", path, sizeof(path));
	cJSON_AddNumberToObject(j, "pid", d->proc.pid);
	cJSON_AddNumberToObject(j, "start", (double)d->proc.start);
	cJSON_AddNumberToObject(j, "restarts", d->restarts);
	cJSON_AddStringToObject(j, "control", d->ctl);
	if (state_write_json(path, j, err, sizeof(err)) < 0)
		log_err("kite-dpu: cannot record it: %s", err);
	cJSON_Delete(j);
}

/* Sets the process fields with kd->lock held (readers take kd->lock alone). */
static void set_proc(struct dpu *d, enum dpu_state st, const struct kd_proc *p)
{
	pthread_mutex_lock(&d->kd->lock);
	d->state = st;
	if (p)
		d->proc = *p;
	pthread_mutex_unlock(&d->kd->lock);
}

/* ---- requests ---- */

int dpu_req(struct dpu *d, const cJSON *req, cJSON **reply, char *err, size_t errlen)
{
	if (reply)
		*reply = NULL;
	if (d->proc.pid <= 0) {
		snprintf(err, errlen, "kite-dpu is %s", d->state == DPU_DOWN ? "down" : "restarting");
		return DPU_UNAVAILABLE;
	}
	return dpu_call(d->ctl, req, reply, DPU_TIMEOUT_MS, err, errlen);
}

/* switch_stats answers with a "switch" object: kite-dpu is up, and has its switch. */
static int probe(const struct dpu *d, int timeout_ms, char *err, size_t errlen)
{
	cJSON *req = cJSON_CreateObject(), *rep = NULL;
	int r;

	cJSON_AddStringToObject(req, "cmd", "switch_stats");
	r = dpu_call(d->ctl, req, &rep, timeout_ms, err, errlen);
	if (r == DPU_OK && !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(rep, "switch"))) {
		snprintf(err, errlen, "kite-dpu: switch_stats gave no \"switch\" object");
		r = DPU_UNAVAILABLE;
	}
	cJSON_Delete(rep);
	cJSON_Delete(req);
	return r;
}

/* ---- start, adopt, stop ---- */

static void reap(struct kd_proc *p)
{
	if (p->child && p->pid > 0)
		while (waitpid(p->pid, NULL, WNOHANG) < 0 && errno == EINTR)
			;
}

static void kill_proc(struct kd_proc *p)
{
	if (p->pidfd >= 0 && !proc_gone(p)) {
		struct pollfd pf = { .fd = p->pidfd, .events = POLLIN };

		proc_signal(p, SIGKILL);
		while (poll(&pf, 1, 2000) < 0 && errno == EINTR)
			;
	}
	if (p->child && p->pid > 0)
		while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
			;
}

static void close_proc(struct kd_proc *p)
{
	if (p->pidfd >= 0)
		close(p->pidfd);
	*p = (struct kd_proc){ .pidfd = -1 };
}

/* Starts a kite-dpu and waits until it answers. 0 (p filled), or -1 with err. */
static int spawn(struct dpu *d, struct kd_proc *p, char *err, size_t errlen)
{
	const struct kited *kd = d->kd;
	char logpath[KD_PATH_MAX + 16];
	const char *argv[12];
	long long deadline;
	int n = 0, logfd;
	pid_t pid;

	argv[n++] = kd->dpu_bin;
	argv[n++] = "--control";
	argv[n++] = d->ctl;
	argv[n++] = "--image-dir";
	argv[n++] = d->img_dir;
	argv[n++] = "--socket-dir";
	argv[n++] = d->sock_dir;
	if (kd->dpu_cores[0]) {
		argv[n++] = "--cores";
		argv[n++] = kd->dpu_cores;
	}
	argv[n] = NULL;
	path_in(d, "kite-dpu.log", logpath, sizeof(logpath));
	logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (logfd < 0) {
		snprintf(err, errlen, "kite-dpu: cannot open its log %s: %s", logpath, strerror(errno));
		return -1;
	}
	unlink(d->ctl);   /* so that "answers" below means the new one */
	*p = (struct kd_proc){ .pidfd = -1, .child = true };
	pid = kd_spawn((char *const *)argv, logfd, &p->pidfd);
	close(logfd);
	if (pid < 0) {
		snprintf(err, errlen, "kite-dpu %.128s: cannot start: %s", kd->dpu_bin, strerror(errno));
		*p = (struct kd_proc){ .pidfd = -1 };
		return -1;
	}
	p->pid = pid;
	p->start = proc_start_time(pid);
	if (p->pidfd < 0) {
		snprintf(err, errlen, "kite-dpu pid %d: no pidfd", (int)pid);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		*p = (struct kd_proc){ .pidfd = -1 };
		return -1;
	}
	deadline = mono_ms() + READY_TIMEOUT_MS;
	for (;;) {
		char why[256];
		int status;

		if (proc_gone(p)) {
			status = 0;
			waitpid(pid, &status, 0);
			snprintf(err, errlen, "kite-dpu %.128s exited at start (%s %d), see %.200s", kd->dpu_bin,
				 WIFSIGNALED(status) ? "signal" : "status",
				 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), logpath);
			close_proc(p);
			return -1;
		}
		if (access(d->ctl, F_OK) == 0 && probe(d, 1000, why, sizeof(why)) == DPU_OK)
			break;
		if (mono_ms() >= deadline) {
			snprintf(err, errlen, "kite-dpu pid %d: control socket %s not answering after %d s", (int)pid,
				 d->ctl, READY_TIMEOUT_MS / 1000);
			kill_proc(p);
			close_proc(p);
			return -1;
		}
		usleep(20000);
	}
	chmod(d->ctl, 0600);
	log_info("kite-dpu: started, pid %d, control socket %s", (int)pid, d->ctl);
	return 0;
}

/* The kite-dpu of dpu.json if it still runs and answers: 0 (p filled), else -1 (a hung one is
 * killed first). */
static int adopt(struct dpu *d, struct kd_proc *p)
{
	char path[KD_PATH_MAX + 16], why[256];
	cJSON *j, *pid, *start, *restarts;

	path_in(d, "dpu.json", path, sizeof(path));
	j = state_read_json(path, why, sizeof(why));
	if (!j)
		return -1;
	pid = cJSON_GetObjectItemCaseSensitive(j, "pid");
	start = cJSON_GetObjectItemCaseSensitive(j, "start");
	restarts = cJSON_GetObjectItemCaseSensitive(j, "restarts");
	if (cJSON_IsNumber(restarts) && restarts->valuedouble >= 0 && restarts->valuedouble < 1e9)
		d->restarts = (unsigned)restarts->valuedouble;
	if (!cJSON_IsNumber(pid) || !cJSON_IsNumber(start) || pid->valuedouble < 1 || pid->valuedouble > INT_MAX ||
	    start->valuedouble < 1) {
		cJSON_Delete(j);
		return -1;
	}
	*p = (struct kd_proc){ .pid = (pid_t)pid->valuedouble, .start = (unsigned long long)start->valuedouble };
	cJSON_Delete(j);
	p->pidfd = proc_open_checked(p->pid, p->start);
	if (p->pidfd < 0) {
		close_proc(p);
		return -1;
	}
	if (probe(d, DPU_TIMEOUT_MS, why, sizeof(why)) != DPU_OK) {
		log_warn("kite-dpu: pid %d of %s does not answer (%s): killing it", (int)p->pid, path, why);
		kill_proc(p);
		close_proc(p);
		return -1;
	}
	log_info("kite-dpu: adopted pid %d, control socket %s", (int)p->pid, d->ctl);
	return 0;
}

/* Starts (or adopts) kite-dpu, then applies the tables with d->op held (the wait for a new one
 * to answer holds nothing: requests meanwhile get 503 at once). Only the DPU thread, or dpu_start
 * before it, calls it. A start (restart true) that replaces one that ran counts as a restart. 0 or
 * -1 with err. */
static int bring_up(struct dpu *d, bool may_adopt, bool restart, char *err, size_t errlen)
{
	struct kd_proc p = { .pidfd = -1 };
	bool adopted = may_adopt && adopt(d, &p) == 0;
	int r = 0;

	if (!adopted && spawn(d, &p, err, errlen) < 0)
		return -1;
	pthread_mutex_lock(&d->op);
	/* requests go to it from now on (dpu_req), but it is "running" only once it holds everything */
	set_proc(d, d->state, &p);
	if (dpu_res_apply(d) < 0) {
		snprintf(err, errlen, "kite-dpu pid %d stopped answering while its ports and volumes were applied",
			 (int)p.pid);
		kill_proc(&p);
		close_proc(&p);
		set_proc(d, DPU_RESTARTING, &p);
		r = -1;
	} else {
		pthread_mutex_lock(&d->kd->lock);
		d->restarts += restart && d->ran;
		d->ran = true;
		d->state = DPU_RUNNING;
		pthread_mutex_unlock(&d->kd->lock);
		record(d);
		supervise_watch_dpu(d->kd, d->proc.pidfd);
	}
	pthread_mutex_unlock(&d->op);
	return r;
}

/* ---- the DPU thread: restarts ---- */

/* Sleeps up to ms (-1: no bound), or until dpu_proc_ended wakes the thread. */
static void nap(struct dpu *d, int ms)
{
	struct pollfd pf = { .fd = d->wake_fd, .events = POLLIN };
	uint64_t v;

	if (poll(&pf, 1, ms) > 0 && read(d->wake_fd, &v, sizeof(v)) < 0)
		log_debug("kite-dpu: DPU thread wake-up: %s", strerror(errno));
}

/* A health check of the running kite-dpu (DPU thread): WATCH_MISSES checks in a row without an
 * answer and it is killed, so that it is restarted: a hung kite-dpu is not left hanging every
 * request and every VM start. */
static void watch(struct dpu *d, int *misses)
{
	char why[256];

	if (probe(d, DPU_TIMEOUT_MS, why, sizeof(why)) == DPU_OK) {
		*misses = 0;
		return;
	}
	if (++*misses < WATCH_MISSES) {
		log_warn("kite-dpu: pid %d: health check %d of %d failed: %s", (int)d->proc.pid, *misses, WATCH_MISSES,
			 why);
		return;
	}
	log_err("kite-dpu: pid %d: %d health checks failed in a row (%s): killing it to restart it", (int)d->proc.pid,
		WATCH_MISSES, why);
	proc_signal(&d->proc, SIGKILL);
	*misses = 0;
}

/* The DPU thread: checks the running kite-dpu's health, waits for it to end (dpu_proc_ended),
 * then starts a new one with backoff until one runs. Lives as long as kited. */
static void *dpu_thread(void *arg)
{
	struct dpu *d = arg;
	int backoff = BACKOFF_MIN_MS;
	long long born = mono_ms();
	int misses = 0;

	for (;;) {
		char err[512];

		if (d->state == DPU_RUNNING && !proc_gone(&d->proc)) {
			nap(d, WATCH_MS);
			if (d->state == DPU_RUNNING && !proc_gone(&d->proc))
				watch(d, &misses);
			continue;
		}
		misses = 0;
		pthread_mutex_lock(&d->op);
		if (d->state == DPU_RUNNING) {
			/* it ended: stop watching it, reap it */
			struct kd_proc gone = d->proc, none = { .pidfd = -1 };

			supervise_watch_dpu(d->kd, -1);
			log_warn("kite-dpu: pid %d ended; restarting it", (int)gone.pid);
			set_proc(d, DPU_RESTARTING, &none);
			reap(&gone);
			close_proc(&gone);
			if (mono_ms() - born >= STABLE_MS)
				backoff = BACKOFF_MIN_MS;
		}
		pthread_mutex_unlock(&d->op);
		nap(d, backoff);
		if (bring_up(d, false, true, err, sizeof(err)) == 0)
			born = mono_ms();
		else
			log_err("%s; next try in %d ms", err, backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2);
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
	return NULL;
}

void dpu_proc_ended(struct kited *kd)
{
	uint64_t one = 1;

	if (kd->dpu && write(kd->dpu->wake_fd, &one, sizeof(one)) < 0)
		log_err("kite-dpu: cannot wake the DPU thread: %s", strerror(errno));
}

static int mkdir_p(const char *path, mode_t mode)
{
	if (mkdir(path, mode) == 0 || errno == EEXIST)
		return 0;
	log_err("kite-dpu: cannot create %s: %s", path, strerror(errno));
	return -1;
}

int dpu_start(struct kited *kd)
{
	struct dpu *d = calloc(1, sizeof(*d));
	char err[512];
	int r;

	if (!d)
		return -1;
	d->kd = kd;
	pthread_mutex_init(&d->op, NULL);
	d->proc = (struct kd_proc){ .pidfd = -1 };
	d->state = DPU_DOWN;
	/* the longest name in the state dir must fit a Unix socket address anyway */
	if (strlen(kd->state_dir) > DPU_DIR_MAX) {
		log_err("kite-dpu: state dir %.64s...: longer than %d bytes", kd->state_dir, DPU_DIR_MAX);
		free(d);
		return -1;
	}
	snprintf(d->dir, sizeof(d->dir), "%.*s/dpu", DPU_DIR_MAX, kd->state_dir);
	snprintf(d->ctl, sizeof(d->ctl), "%.*s/dpu/ctl.sock", DPU_DIR_MAX, kd->state_dir);
	snprintf(d->sock_dir, sizeof(d->sock_dir), "%.*s/dpu/sockets", DPU_DIR_MAX, kd->state_dir);
	snprintf(d->img_dir, sizeof(d->img_dir), "%.*s/volumes", DPU_DIR_MAX, kd->state_dir);
	d->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	kd->dpu = d;
	if (d->wake_fd < 0 || mkdir_p(d->dir, 0755) || mkdir_p(d->sock_dir, 0755) || mkdir_p(d->img_dir, 0755)) {
		kd->dpu = NULL;
		if (d->wake_fd >= 0)
			close(d->wake_fd);
		free(d);
		return -1;
	}
	pthread_mutex_lock(&d->op);
	dpu_res_load(d);
	pthread_mutex_unlock(&d->op);
	r = bring_up(d, true, false, err, sizeof(err));
	if (r < 0) {
		log_err("%s; retrying in the background", err);
		pthread_mutex_lock(&d->op);
		set_proc(d, DPU_RESTARTING, NULL);
		pthread_mutex_unlock(&d->op);
	}
	if (pthread_create(&d->thread, NULL, dpu_thread, d) == 0)
		pthread_detach(d->thread);
	else
		log_err("kite-dpu: cannot start the DPU thread: it will not be restarted");
	return r;
}

cJSON *dpu_status_json(struct kited *kd)
{
	static const char *const names[] = { "down", "running", "restarting" };
	struct dpu *d;
	cJSON *j = cJSON_CreateObject();

	if (!j)
		return NULL;
	pthread_mutex_lock(&kd->lock);
	d = kd->dpu;
	cJSON_AddStringToObject(j, "state", d ? names[d->state] : "down");
	if (d && d->state == DPU_RUNNING)
		cJSON_AddNumberToObject(j, "pid", d->proc.pid);
	else
		cJSON_AddNullToObject(j, "pid");
	cJSON_AddNumberToObject(j, "restarts", d ? d->restarts : 0);
	if (d)
		cJSON_AddStringToObject(j, "control", d->ctl);
	else
		cJSON_AddNullToObject(j, "control");
	pthread_mutex_unlock(&kd->lock);
	return j;
}
