/* SPDX-License-Identifier: MIT */
/*
 * --image-dir / --socket-dir: the only directories kite-dpu takes volume images from and creates
 * vhost-user sockets in (control thread). A path is refused when it has a ".." component, or when
 * its real path (realpath(3): every symlink resolved; for a socket, of the directory it goes in)
 * is not inside the configured directory's real path. Without the option nothing is confined.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dpu.h"

static char image_dir[PATH_MAX], socket_dir[PATH_MAX];

static int set_dir(char *dst, const char *dir, const char *flag, char *err, size_t errlen)
{
	struct stat st;

	if (!dir)
		return 0;
	if (!realpath(dir, dst) || stat(dst, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s %s: %s", flag, dir, errno ? strerror(errno) : "not a directory");
		dst[0] = '\0';
		return -1;
	}
	return 0;
}

int dpu_confine_set(const char *images, const char *sockets, char *err, size_t errlen)
{
	errno = 0;
	return set_dir(image_dir, images, "--image-dir", err, errlen) < 0 ||
	       set_dir(socket_dir, sockets, "--socket-dir", err, errlen) < 0 ? -1 : 0;
}

static bool has_dotdot(const char *p)
{
	for (const char *s = p; (s = strstr(s, "..")); s += 2)
		if ((s == p || s[-1] == '/') && (s[2] == '/' || s[2] == '\0'))
			return true;
	return false;
}

static bool inside(const char *real, const char *dir)
{
	size_t n = strlen(dir);
	return strncmp(real, dir, n) == 0 && (real[n] == '/' || (n == 1 && dir[0] == '/'));
}

int dpu_confine_image(const char *path, char *err, size_t errlen)
{
	char real[PATH_MAX];

	if (!image_dir[0])
		return 0;
	if (has_dotdot(path)) {
		snprintf(err, errlen, "image %.256s: \"..\" is not allowed with --image-dir", path);
		return -1;
	}
	if (!realpath(path, real)) {
		snprintf(err, errlen, "image %.256s: %s", path, strerror(errno));
		return -1;
	}
	if (!inside(real, image_dir)) {
		snprintf(err, errlen, "image %.256s: resolves to %.256s, outside --image-dir %.256s", path, real, image_dir);
		return -1;
	}
	return 0;
}

int dpu_confine_socket(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX], real[PATH_MAX];
	const char *slash = strrchr(path, '/');

	if (!socket_dir[0])
		return 0;
	if (has_dotdot(path) || !slash || !slash[1] || (size_t)(slash - path) >= sizeof(dir)) {
		snprintf(err, errlen, "socket %.256s: needs a file name in a directory, without \"..\", with --socket-dir", path);
		return -1;
	}
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	if (!realpath(dir[0] ? dir : "/", real)) {
		snprintf(err, errlen, "socket %.256s: directory: %s", path, strerror(errno));
		return -1;
	}
	if (strcmp(real, socket_dir) != 0 && !inside(real, socket_dir)) {
		snprintf(err, errlen, "socket %.256s: its directory resolves to %.256s, outside --socket-dir %.256s", path,
			 real, socket_dir);
		return -1;
	}
	return 0;
}
