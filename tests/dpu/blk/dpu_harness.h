/* SPDX-License-Identifier: MIT */
/* Start/stop a kite-dpu process for tests: temp dir, images, config, control socket client. */
#ifndef KITE_TESTS_DPU_HARNESS_H
#define KITE_TESTS_DPU_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct dpu_proc {
	pid_t pid;
	char dir[256];
	char ctl[300];
	char log[300];
};

/* mkdtemp under $TMPDIR (or /tmp); path of a file inside. */
int dpu_tmpdir(struct dpu_proc *p);
void dpu_path(const struct dpu_proc *p, const char *name, char *out, size_t len);
/* Create an image of `bytes` filled with `fill`. */
int dpu_make_image(const char *path, size_t bytes, int fill);
/* Write config text to dir/config.json and start $KITE_DPU (or `exe`) on it; waits for the control
 * socket. Output goes to dir/dpu.log. */
int dpu_start(struct dpu_proc *p, const char *config_json);
/* SIGTERM (or SIGKILL with hard) and reap. Returns the exit status (or -1). */
int dpu_stop(struct dpu_proc *p, bool hard);
/* One control request; the reply line (malloc'd) or NULL. */
char *dpu_ctl(const struct dpu_proc *p, const char *json_line);
/* Remove the temp dir. */
void dpu_cleanup(struct dpu_proc *p);

#endif
