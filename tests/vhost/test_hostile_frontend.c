/* SPDX-License-Identifier: MIT */
/*
 * The shared vhost-user frontend client (vhost-user/frontend.c, which kite's devices build on) against
 * every case of tests/vhost/hostile_backend: the set-up that a VMM runs at start and at DRIVER_OK
 * (negotiate, GET_CONFIG, SET_MEM_TABLE, inflight, one vring) must end in an error with a reason for
 * each case, never a crash and never a wait without end (vuf_set_deadlines: 1 s for a reply, 4 s for
 * SET_MEM_TABLE's, standing in for the VMM's 5 s and 30 s). Two cases are about those deadlines:
 * mem-late (SET_MEM_TABLE answered after 2 s) must get through the whole set-up, which it cannot
 * with the short deadline; stall-mem (never answered) must end at SET_MEM_TABLE after the long one.
 * The backend must have logged that its misbehaviour happened, so no case passes without being
 * exercised. Usage: test_hostile_frontend HOSTILE_BACKEND (suite 'vhost', no KVM needed).
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
	"extra-fds", "missing-fd", "ack-fail", "features", "stall", "stall-mid", "hangup", "mem-late",
	"stall-mem",
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
	if (vuf_set_deadlines(&f, 1000, 4000) < 0) {
		printf("FAIL %s: %s\n", kase, f.err);
		fails++;
	}
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
	if (strcmp(kase, "mem-late") == 0) {
		/* 2 s for SET_MEM_TABLE is within its own deadline, not within the others' */
		if (step) {
			printf("FAIL %s: a SET_MEM_TABLE reply 2 s late failed the set-up at %s: %s\n", kase, step, f.err);
			fails++;
		} else {
			printf("ok %s: the set-up went through\n", kase);
		}
	} else if (!step) {
		printf("FAIL %s: the whole set-up succeeded against the hostile backend\n", kase);
		fails++;
	} else {
		printf("ok %s: refused at %s: %s\n", kase, step, f.err);
	}
	/* a reply that never comes is reported as what it is, not as the socket's EAGAIN, with the
	 * deadline of its request */
	const char *late = strcmp(kase, "stall") == 0 ? "no reply within 1 s" :
			   strcmp(kase, "stall-mem") == 0 ? "SET_MEM_TABLE: reply: no reply within 4 s" : NULL;
	if (late && (!step || !strstr(f.err, late))) {
		printf("FAIL %s: the timeout is not reported as \"%s\": %s\n", kase, late, f.err);
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
