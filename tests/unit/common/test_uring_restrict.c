/* SPDX-License-Identifier: MIT */
/* common/uring_restrict.c: a confined ring runs its opcodes on its one file and refuses everything
 * else with EACCES: another opcode (IORING_OP_OPENAT), the file by its plain fd, another SQE flag,
 * and any io_uring_register opcode after it was enabled; with URING_FILE_UPDATE only the file
 * update is allowed, and the ring then reaches the new file. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "kite/uring_restrict.h"

static const uint8_t ops[] = { IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC };

struct ctx {
	struct io_uring ring;
	int fd, efd;
	char path[64];
};

static int setup_flags(void **state, unsigned flags)
{
	struct ctx *c = calloc(1, sizeof(*c));
	int r;

	strcpy(c->path, "/tmp/kite-uring-XXXXXX");
	c->fd = mkstemp(c->path);
	assert_true(c->fd >= 0);
	unlink(c->path);
	assert_int_equal(ftruncate(c->fd, 4096), 0);
	c->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(c->efd >= 0);
	r = uring_init_restricted(&c->ring, 8, c->fd, ops, sizeof(ops), c->efd, flags);
	if (r == -EINVAL || r == -ENOSYS || r == -EPERM) {
		print_message("io_uring restrictions unavailable here (%s)\n", strerror(-r));
		close(c->fd);
		close(c->efd);
		free(c);
		return -1;
	}
	assert_int_equal(r, 0);
	*state = c;
	return 0;
}

static int setup(void **state)
{
	return setup_flags(state, 0);
}

static int setup_update(void **state)
{
	return setup_flags(state, URING_FILE_UPDATE);
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	io_uring_queue_exit(&c->ring);
	close(c->fd);
	close(c->efd);
	free(c);
	return 0;
}

/* Submit the one prepared SQE and return its completion's result. */
static int run_one(struct ctx *c)
{
	struct io_uring_cqe *cqe;
	int res;

	assert_int_equal(io_uring_submit(&c->ring), 1);
	assert_int_equal(io_uring_wait_cqe(&c->ring, &cqe), 0);
	res = cqe->res;
	io_uring_cqe_seen(&c->ring, cqe);
	return res;
}

static void allowed_ops_reach_the_file(void **state)
{
	struct ctx *c = *state;
	char out[512], in[512];
	struct iovec wv = { out, sizeof(out) }, rv = { in, sizeof(in) };
	uint64_t n;

	struct io_uring_sqe *sqe = io_uring_get_sqe(&c->ring);

	memset(out, 0x5a, sizeof(out));
	io_uring_prep_writev(sqe, URING_FILE, &wv, 1, 1024);
	uring_fixed(sqe);
	assert_int_equal(run_one(c), (int)sizeof(out));
	assert_int_equal(pread(c->fd, in, sizeof(in), 1024), (ssize_t)sizeof(in));
	assert_memory_equal(in, out, sizeof(in));
	memset(in, 0, sizeof(in));
	sqe = io_uring_get_sqe(&c->ring);
	io_uring_prep_readv(sqe, URING_FILE, &rv, 1, 1024);
	uring_fixed(sqe);
	assert_int_equal(run_one(c), (int)sizeof(in));
	assert_memory_equal(in, out, sizeof(in));
	sqe = io_uring_get_sqe(&c->ring);
	io_uring_prep_fsync(sqe, URING_FILE, IORING_FSYNC_DATASYNC);
	uring_fixed(sqe);
	assert_int_equal(run_one(c), 0);
	/* the eventfd registered before the ring was enabled counts the completions */
	assert_int_equal(read(c->efd, &n, sizeof(n)), (ssize_t)sizeof(n));
	assert_true(n >= 1);
}

static void openat_is_refused(void **state)
{
	struct ctx *c = *state;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&c->ring);

	io_uring_prep_openat(sqe, AT_FDCWD, "/etc/passwd", O_RDONLY, 0);
	assert_int_equal(run_one(c), -EACCES);
	/* with the fixed-file flag too (the only flag allowed): still not an allowed opcode */
	sqe = io_uring_get_sqe(&c->ring);
	io_uring_prep_openat(sqe, AT_FDCWD, "/etc/passwd", O_RDONLY, 0);
	uring_fixed(sqe);
	assert_int_equal(run_one(c), -EACCES);
}

static void plain_fds_and_other_flags_are_refused(void **state)
{
	struct ctx *c = *state;
	char buf[512];
	struct iovec v = { buf, sizeof(buf) };
	struct io_uring_sqe *sqe = io_uring_get_sqe(&c->ring);

	/* an allowed opcode on a plain fd (here the file itself, by number): not the fixed file */
	io_uring_prep_readv(sqe, c->fd, &v, 1, 0);
	assert_int_equal(run_one(c), -EACCES);
	sqe = io_uring_get_sqe(&c->ring);
	io_uring_prep_readv(sqe, URING_FILE, &v, 1, 0);
	uring_fixed(sqe);
	sqe->flags |= IOSQE_IO_DRAIN;
	assert_int_equal(run_one(c), -EACCES);
	/* IOSQE_ASYNC is the one other flag allowed (kite's large transfers go to io-wq workers) */
	sqe = io_uring_get_sqe(&c->ring);
	io_uring_prep_readv(sqe, URING_FILE, &v, 1, 0);
	uring_fixed(sqe);
	sqe->flags |= IOSQE_ASYNC;
	assert_int_equal(run_one(c), (int)sizeof(buf));
}

static void register_after_enable_is_refused(void **state)
{
	struct ctx *c = *state;
	int other = dup(c->fd);

	assert_true(other >= 0);
	assert_int_equal(io_uring_register_files_update(&c->ring, 0, &other, 1), -EACCES);
	assert_int_equal(io_uring_unregister_eventfd(&c->ring), -EACCES);
	close(other);
}

static void file_update_only(void **state)
{
	struct ctx *c = *state;
	char path[] = "/tmp/kite-uring2-XXXXXX", buf[512], got[512];
	struct iovec v = { buf, sizeof(buf) };
	int other = mkstemp(path);

	assert_true(other >= 0);
	unlink(path);
	memset(got, 0x33, sizeof(got));
	assert_int_equal(pwrite(other, got, sizeof(got), 0), (ssize_t)sizeof(got));
	assert_int_equal(io_uring_register_files_update(&c->ring, URING_FILE, &other, 1), 1);
	struct io_uring_sqe *sqe = io_uring_get_sqe(&c->ring);
	io_uring_prep_readv(sqe, URING_FILE, &v, 1, 0);
	uring_fixed(sqe);
	assert_int_equal(run_one(c), (int)sizeof(buf));
	assert_memory_equal(buf, got, sizeof(buf));   /* the new file's bytes (the first is all zero) */
	assert_int_equal(io_uring_unregister_eventfd(&c->ring), -EACCES);
	assert_int_equal(io_uring_unregister_files(&c->ring), -EACCES);
	close(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(allowed_ops_reach_the_file, setup, teardown),
		cmocka_unit_test_setup_teardown(openat_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(plain_fds_and_other_flags_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(register_after_enable_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(file_update_only, setup_update, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
