/* SPDX-License-Identifier: MIT */
/* atomic_file_write (common/atomic_file.c): the file holds exactly what was written (new, replaced
 * by a shorter content, without the directory's fsync, empty, over a left-over temporary), mode
 * 0600; every failure (no directory, a name with no room for ".tmp", a write refused by
 * RLIMIT_FSIZE, a rename onto a directory) says -1 with errno and the file in err, leaves the old
 * content and no temporary behind. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "kite/atomic_file.h"

struct dir {
	char path[64], file[96], tmp[128];
};

static int setup(void **state)
{
	struct dir *d = calloc(1, sizeof(*d));

	if (!d)
		return -1;
	snprintf(d->path, sizeof(d->path), "/tmp/kite-atomicXXXXXX");
	if (!mkdtemp(d->path))
		return -1;
	snprintf(d->file, sizeof(d->file), "%s/state.json", d->path);
	snprintf(d->tmp, sizeof(d->tmp), "%s.tmp", d->file);
	*state = d;
	return 0;
}

static int teardown(void **state)
{
	struct dir *d = *state;
	char cmd[96];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->path);
	if (system(cmd) != 0)
		return -1;
	free(d);
	return 0;
}

/* The file's whole content (NUL-terminated; *len its size), or NULL if it cannot be read. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = calloc(1, 4096);
	size_t n;

	if (!f || !buf) {
		if (f)
			fclose(f);
		free(buf);
		return NULL;
	}
	n = fread(buf, 1, 4095, f);
	fclose(f);
	*len = n;
	return buf;
}

static void assert_content(const char *path, const char *want)
{
	size_t len = 0;
	char *got = slurp(path, &len);

	assert_non_null(got);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(got, want, len);
	free(got);
}

/* The directory holds exactly `name` (no temporary or anything else), or nothing (name NULL). */
static void assert_only(const char *dir, const char *name)
{
	DIR *dd = opendir(dir);
	struct dirent *e;
	unsigned n = 0;

	assert_non_null(dd);
	while ((e = readdir(dd))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		assert_non_null(name);
		assert_string_equal(e->d_name, name);
		n++;
	}
	closedir(dd);
	assert_int_equal(n, name ? 1 : 0);
}

static void test_written_replaced_and_emptied(void **state)
{
	struct dir *d = *state;
	char err[512] = "";
	struct stat st;

	assert_int_equal(atomic_file_write(d->file, "first content, the long one\n", 28, ATOMIC_FILE_SYNC_DIR, err, sizeof(err)), 0);
	assert_content(d->file, "first content, the long one\n");
	assert_int_equal(stat(d->file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_only(d->path, "state.json");

	/* a shorter content replaces all of the longer one */
	assert_int_equal(atomic_file_write(d->file, "second", 6, ATOMIC_FILE_SYNC_DIR, err, sizeof(err)), 0);
	assert_content(d->file, "second");
	assert_only(d->path, "state.json");

	/* without the directory's fsync (kite's snapshot): the same content on the file */
	assert_int_equal(atomic_file_write(d->file, "third", 5, 0, err, sizeof(err)), 0);
	assert_content(d->file, "third");
	assert_only(d->path, "state.json");

	assert_int_equal(atomic_file_write(d->file, "", 0, ATOMIC_FILE_SYNC_DIR, err, sizeof(err)), 0);
	assert_content(d->file, "");
	assert_only(d->path, "state.json");
}

static void test_leftover_temporary_replaced(void **state)
{
	struct dir *d = *state;
	FILE *f = fopen(d->tmp, "w");
	char err[512] = "";

	assert_non_null(f);
	fputs("a crash left this half-written temporary behind, longer than the new content", f);
	fclose(f);
	assert_int_equal(atomic_file_write(d->file, "{}\n", 3, ATOMIC_FILE_SYNC_DIR, err, sizeof(err)), 0);
	assert_content(d->file, "{}\n");
	assert_only(d->path, "state.json");
}

static void test_no_directory(void **state)
{
	struct dir *d = *state;
	char path[128], err[512] = "";

	snprintf(path, sizeof(path), "%s/missing/state.json", d->path);
	errno = 0;
	assert_int_equal(atomic_file_write(path, "x", 1, ATOMIC_FILE_SYNC_DIR, err, sizeof(err)), -1);
	assert_int_equal(errno, ENOENT);
	assert_non_null(strstr(err, path));
	assert_only(d->path, NULL);
	/* err may be NULL */
	assert_int_equal(atomic_file_write(path, "x", 1, ATOMIC_FILE_SYNC_DIR, NULL, 0), -1);
	assert_int_equal(errno, ENOENT);
}

static void test_name_too_long(void **state)
{
	struct dir *d = *state;
	char *path = malloc(PATH_MAX), err[PATH_MAX + 128] = "";
	size_t n = strlen(d->path);

	assert_non_null(path);
	memcpy(path, d->path, n);
	memset(path + n, 'a', PATH_MAX - 3 - n);   /* fits in PATH_MAX, ".tmp" after it does not */
	path[n] = '/';
	path[PATH_MAX - 3] = '\0';
	errno = 0;
	assert_int_equal(atomic_file_write(path, "x", 1, ATOMIC_FILE_SYNC_DIR, err, sizeof(err)), -1);
	assert_int_equal(errno, ENAMETOOLONG);
	assert_non_null(strstr(err, "temporary"));
	free(path);
	assert_only(d->path, NULL);
}

static void test_failed_write_keeps_old_content(void **state)
{
	struct dir *d = *state;
	char big[8192], err[512] = "";
	struct rlimit old, lim;

	assert_int_equal(atomic_file_write(d->file, "old", 3, ATOMIC_FILE_SYNC_DIR, err, sizeof(err)), 0);
	memset(big, 'n', sizeof(big));
	/* files of this process may not grow past 100 bytes: the write fails with EFBIG */
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 100;
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	errno = 0;
	int r = atomic_file_write(d->file, big, sizeof(big), ATOMIC_FILE_SYNC_DIR, err, sizeof(err));
	int e = errno;

	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(r, -1);
	assert_int_equal(e, EFBIG);
	assert_non_null(strstr(err, d->tmp));
	assert_non_null(strstr(err, "write"));
	assert_content(d->file, "old");
	assert_only(d->path, "state.json");
}

static void test_failed_rename_keeps_old_content(void **state)
{
	struct dir *d = *state;
	char inner[160], err[512] = "";
	FILE *f;

	/* the path is a directory that is not empty: the rename fails (EISDIR) after the temporary was
	 * written and synced */
	assert_int_equal(mkdir(d->file, 0700), 0);
	snprintf(inner, sizeof(inner), "%s/keep", d->file);
	f = fopen(inner, "w");
	assert_non_null(f);
	fputs("kept", f);
	fclose(f);
	errno = 0;
	assert_int_equal(atomic_file_write(d->file, "new", 3, ATOMIC_FILE_SYNC_DIR, err, sizeof(err)), -1);
	assert_int_equal(errno, EISDIR);
	assert_non_null(strstr(err, "rename"));
	assert_content(inner, "kept");
	assert_only(d->path, "state.json");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_written_replaced_and_emptied, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leftover_temporary_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_name_too_long, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_write_keeps_old_content, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_rename_keeps_old_content, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
