/* SPDX-License-Identifier: MIT */
/*
 * The state directory's files (docs/kited.md "State directory"): the lock that keeps one kited per
 * directory, and JSON files written atomically (include/kite/atomic_file.h: a temporary file in the
 * same directory, fsync, rename, fsync of the directory: a crash leaves the old or the new version,
 * never a mix). Any thread; no shared state.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kite/atomic_file.h"
#include "kite/log.h"
#include "state.h"

#define STATE_MAX_FILE (1 << 20)

int state_lock(const char *dir, char *err, size_t errlen)
{
	char path[KD_PATH_MAX + 16];
	int fd;

	snprintf(path, sizeof(path), "%s/kited.lock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return errf(err, errlen, "%s: cannot open the lock file: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;

		close(fd);
		if (e == EWOULDBLOCK)
			return errf(err, errlen, "%s: another kited uses this state directory", dir);
		return errf(err, errlen, "%s: cannot lock: %s", path, strerror(e));
	}
	return fd;
}

int state_mkdir(const char *path, mode_t mode)
{
	char tmp[KD_PATH_MAX * 2];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(tmp, path, n + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

int state_write_json(const char *path, const cJSON *j, char *err, size_t errlen)
{
	char *text = cJSON_Print(j);
	size_t len;
	int r;

	if (!text)
		return errf(err, errlen, "%s: out of memory", path);
	len = strlen(text);
	text[len++] = '\n';   /* replaces the terminator: written by length */
	r = atomic_file_write(path, text, len, ATOMIC_FILE_SYNC_DIR, err, errlen);
	free(text);
	return r;
}

cJSON *state_read_json(const char *path, char *err, size_t errlen)
{
	struct stat st;
	cJSON *j = NULL;
	char *buf;
	size_t off = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		errf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > STATE_MAX_FILE) {
		close(fd);
		errf(err, errlen, "%s: not a regular file of at most %d bytes", path, STATE_MAX_FILE);
		return NULL;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		errf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	while (off < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + off, (size_t)st.st_size - off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		off += (size_t)r;
	}
	close(fd);
	buf[off] = '\0';
	j = cJSON_ParseWithLength(buf, off);
	free(buf);
	if (!j || !cJSON_IsObject(j)) {
		cJSON_Delete(j);
		errf(err, errlen, "%s: not a JSON object", path);
		return NULL;
	}
	return j;
}

/* Depth first, never crossing into another file system (a jail's leftover mount stays alone). */
static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

int state_remove_tree(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	return lstat(path, &st) < 0 && errno == ENOENT ? 0 : -1;
}
