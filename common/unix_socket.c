/* SPDX-License-Identifier: MIT */
/* Unix stream server sockets that appear at their path only once they listen. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "kite/unix_socket.h"

int unix_listen(const char *path, int backlog)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, n, saved;

	if (!path || !*path || strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	/* The temporary name must fit too; a path with no room for it is bound in place. */
	n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s.%d~", path, (int)getpid());
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	unlink(sa.sun_path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto fail_closed;
	/* owner only, before the file appears at `path` */
	if (chmod(sa.sun_path, 0600) < 0)
		goto fail_bound;
	if (listen(fd, backlog) < 0 || (strcmp(sa.sun_path, path) && rename(sa.sun_path, path) < 0))
		goto fail_bound;
	return fd;
fail_bound:
	saved = errno;
	unlink(sa.sun_path);
	errno = saved;
fail_closed:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

int unix_listen_check(const char *path, const char *prog, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: API socket path: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s: API socket path exists and is not a socket; %s does not replace it", path, prog);
		return -1;
	}
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: API socket path is too long", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "%s: socket: %s", path, strerror(errno));
		return -1;
	}
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (r == 0 || errno != ECONNREFUSED) {
		snprintf(err, errlen, "%s: API socket is in use (a server listens on it); %s never takes over a live socket",
			 path, prog);
		return -1;
	}
	return 0;   /* stale: nobody listens; unix_listen() replaces it */
}
