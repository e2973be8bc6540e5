/* SPDX-License-Identifier: MIT */
/* A file's content replaced atomically: temporary file, fsync, rename, and (a flag) fsync of the
 * directory (see include/kite/atomic_file.h). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kite/atomic_file.h"

/* err = "FILE: STEP: strerror(e)"; errno = e; -1 */
static int fail(char *err, size_t errlen, const char *file, const char *step, int e)
{
	if (err && errlen)
		snprintf(err, errlen, "%s: %s: %s", file, step, strerror(e));
	errno = e;
	return -1;
}

static int write_all(int fd, const void *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = write(fd, (const char *)buf + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		off += (size_t)n;
	}
	return 0;
}

static int fsync_dir_of(const char *path)
{
	char copy[PATH_MAX];
	int fd, r, e;

	snprintf(copy, sizeof(copy), "%s", path);   /* fits: the caller checked path.tmp */
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	r = fsync(fd);
	e = errno;
	close(fd);
	errno = e;
	return r;
}

int atomic_file_write(const char *path, const void *buf, size_t len, unsigned flags, char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	const char *step;
	int fd, e;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return fail(err, errlen, path, "no room for its temporary file's name", ENAMETOOLONG);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail(err, errlen, tmp, "cannot create", errno);
	if (write_all(fd, buf, len) < 0)
		step = "cannot write";
	else if (fsync(fd) < 0)
		step = "cannot sync";
	else
		step = NULL;
	e = errno;
	if (close(fd) < 0 && !step) {
		step = "cannot close";
		e = errno;
	}
	if (!step && rename(tmp, path) < 0) {
		step = "cannot rename it into place";
		e = errno;
	}
	if (step) {
		unlink(tmp);
		return fail(err, errlen, tmp, step, e);
	}
	if ((flags & ATOMIC_FILE_SYNC_DIR) && fsync_dir_of(path) < 0)
		return fail(err, errlen, path, "renamed into place, but the fsync of its directory failed", errno);
	return 0;
}
