/* SPDX-License-Identifier: MIT */
/*
 * The shared vhost-user frontend client (vhost-user/frontend.c, which kite's devices build on) against
 * every case of tests/vhost/hostile_backend: the set-up that a VMM runs at start and at DRIVER_OK
 * (negotiate, GET_CONFIG, SET_MEM_TABLE, inflight, one vring) must end in an error with a reason for
 * each case, never a crash and never a wait without end (a 3 s receive timeout stands in for the
 * VMM's own). The backend must have logged that its misbehaviour happened, so no case passes without
 * being exercised. Usage: test_hostile_frontend HOSTILE_BACKEND (suite 'vhost', no KVM needed).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kite/guest_mem.h"
#include "kite/vhost_frontend.h"
#include "kite/virtio_blk.h"

static const char *const cases[] = {
	"wrong-code", "short-reply", "long-reply", "huge-reply", "big-config", "huge-config",
	"extra-fds", "missing-fd", "ack-fail", "features", "stall", "stall-mid", "hangup",
};

/* The set-up a VMM does; returns the step that failed, or NULL if all of it succeeded. */
static const char *setup(struct vu_frontend *f, int memfd)
{
	uint8_t cfg[60];
	uint64_t isize;

	if (vuf_negotiate(f, (1ull << 32) | (1ull << 9), (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) |
			  (1ull << VHOST_USER_PROTOCOL_F_CONFIG) | (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD)) < 0)
		return "negotiate";
	if (!(f->features & (1ull << 32))) {
		snprintf(f->err, sizeof(f->err), "backend offers no VIRTIO_F_VERSION_1");
		return "features";
	}
	if (vuf_get_config(f, 0, cfg, sizeof(cfg)) < 0)
		return "GET_CONFIG";
	struct guest_mem gm = { .nr = 1 };
	gm.r[0].gpa = 0;
	gm.r[0].size = 1 << 20;
	gm.r[0].uva = 0x10000000;
	gm.r[0].fd = memfd;
	if (vuf_set_mem_table(f, &gm) < 0)
		return "SET_MEM_TABLE";
	int ifd = vuf_get_inflight(f, 1, 128, &isize);
	if (ifd < 0)
		return "GET_INFLIGHT_FD";
	int r = vuf_set_inflight(f, ifd, isize, 1, 128);
	close(ifd);
	if (r < 0)
		return "SET_INFLIGHT_FD";
	if (vuf_start_vring(f, 0, 128, 0x1000, 0x2000, 0x3000, 0, -1, -1) < 0)
		return "vring";
	return NULL;
}

static int run_case(const char *exe, const char *kase, const char *dir)
{
	char sock[300], log[300];
	struct vu_frontend f;
	int fails = 0;

	snprintf(sock, sizeof(sock), "%s/%s.sock", dir, kase);
	snprintf(log, sizeof(log), "%s/%s.log", dir, kase);
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 2);
		execl(exe, exe, "--socket", sock, "--case", kase, (char *)NULL);
		_exit(127);
	}
	if (vuf_connect(&f, sock, 5000) < 0) {
		printf("FAIL %s: %s\n", kase, f.err);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return 1;
	}
	struct timeval tv = { 3, 0 };
	setsockopt(f.sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	int memfd = memfd_create("guest", MFD_CLOEXEC);
	if (ftruncate(memfd, 1 << 20) < 0)
		return 1;
	const char *step = setup(&f, memfd);
	close(memfd);
	vuf_close(&f);
	kill(pid, SIGTERM);
	int status;
	waitpid(pid, &status, 0);

	char text[65536] = "";
	FILE *lf = fopen(log, "r");
	size_t n = lf ? fread(text, 1, sizeof(text) - 1, lf) : 0;
	text[n] = 0;
	if (lf)
		fclose(lf);
	char want[80];
	snprintf(want, sizeof(want), "hostile-backend: %s done at ", kase);
	if (!step) {
		printf("FAIL %s: the whole set-up succeeded against the hostile backend\n", kase);
		fails++;
	} else {
		printf("ok %s: refused at %s: %s\n", kase, step, f.err);
	}
	/* a reply that never comes is reported as what it is, not as the socket's EAGAIN */
	if (step && strcmp(kase, "stall") == 0 && !strstr(f.err, "no reply within 3 s")) {
		printf("FAIL %s: the timeout is not reported as \"no reply within 3 s\": %s\n", kase, f.err);
		fails++;
	}
	if (!strstr(text, want)) {
		printf("FAIL %s: the backend never misbehaved (no \"%s\")\n%s\n", kase, want, text);
		fails++;
	}
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGTERM) {
		printf("FAIL %s: the backend ended by itself (status 0x%x)\n%s\n", kase, status, text);
		fails++;
	}
	return fails;
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/kite-hostile-XXXXXX";
	int fails = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s HOSTILE_BACKEND\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		fails += run_case(argv[1], cases[i], dir);
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fails++;
	printf("%s\n", fails ? "FAIL" : "PASS");
	return fails ? 1 : 0;
}
