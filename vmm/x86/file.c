/* SPDX-License-Identifier: MIT */
/* Reading kernel and initrd files whole, with one clear error line per failure. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kite/log.h"
#include "kite/x86/loader.h"

int x86_read_file(const char *what, const char *path, uint64_t max, uint8_t **buf, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		log_err("%s %s: cannot open: %s", what, path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		log_err("%s %s: not a regular file", what, path);
		close(fd);
		return -1;
	}
	if ((uint64_t)st.st_size > max) {
		log_err("%s %s: too large (%lld bytes, at most %llu fit in guest RAM)", what, path,
			(long long)st.st_size, (unsigned long long)max);
		close(fd);
		return -1;
	}
	size_t size = (size_t)st.st_size;
	uint8_t *p = malloc(size ? size : 1);
	if (!p) {
		log_err("%s %s: out of memory for %zu bytes", what, path, size);
		close(fd);
		return -1;
	}
	size_t done = 0;
	while (done < size) {
		ssize_t n = read(fd, p + done, size - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_err("%s %s: read failed at byte %zu: %s", what, path, done,
				n < 0 ? strerror(errno) : "file shrank");
			free(p);
			close(fd);
			return -1;
		}
		done += (size_t)n;
	}
	close(fd);
	*buf = p;
	*len = size;
	return 0;
}
