/* SPDX-License-Identifier: MIT */
/*
 * The jail's file system: <chroot base>/<exec name>/<id>/root holding the exec file, its loader and
 * shared libraries (read-only bind mounts of the host's files: the kites of a host share their text
 * pages, and a start writes nothing), the --file entries (bind mounts of the host files, so disks
 * and sockets are the host's own), the --dir entries (bind mounts of host directories at their host
 * path: kite-dpu's image and socket directories, /dev/hugepages), and /dev/kvm, /dev/net/tun,
 * /dev/urandom (nodes with the host's major/minor, mode 0600, owned by the VM's uid:gid). Nothing else.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "jailer.h"
#include "kite/log.h"

static const char *const dev_nodes[] = { "/dev/kvm", "/dev/net/tun", "/dev/urandom" };

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

int jail_mkdirs(const char *id, const char *path, mode_t mode)
{
	char buf[4096];
	size_t n = strlen(path);

	if (n >= sizeof(buf)) {
		log_err("VM %s: %s: path too long", id, path);
		return -1;
	}
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1;; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (mkdir(buf, mode) < 0 && errno != EEXIST) {
				log_err("VM %s: mkdir %s: %m", id, buf);
				return -1;
			}
			if (!c)
				return 0;
			*p = c;
		}
	}
}

int jail_add_ro(struct jail_opts *o, const char *src, const char *dst)
{
	struct stat st;

	for (unsigned i = 0; i < o->nro; i++)
		if (strcmp(o->ro[i].jail, dst) == 0)
			return 0;
	if (o->nro >= JAIL_MAX_RO) {
		log_err("VM %s: %s: more than %d files for the exec file and its libraries", o->id, src, JAIL_MAX_RO);
		return -1;
	}
	if (stat(src, &st) < 0 || !S_ISREG(st.st_mode)) {
		log_err("VM %s: %s: %s", o->id, src, S_ISREG(st.st_mode) ? strerror(errno) : "not a regular file");
		return -1;
	}
	char *slash = strrchr(dst, '/'), dir[PATH_MAX];
	if (!slash || (size_t)(slash - dst) >= sizeof(dir)) {
		log_err("VM %s: %s: bad path in the jail", o->id, dst);
		return -1;
	}
	memcpy(dir, dst, (size_t)(slash - dst));
	dir[slash - dst] = '\0';
	if (jail_mkdirs(o->id, dir, 0755) < 0)
		return -1;
	int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0755);
	if (fd < 0) {
		log_err("VM %s: %s: placeholder %s: %m", o->id, src, dst);
		return -1;
	}
	close(fd);
	o->ro[o->nro].host = strdup(src);
	o->ro[o->nro].jail = strdup(dst);
	if (!o->ro[o->nro].host || !o->ro[o->nro].jail) {
		log_err("VM %s: out of memory", o->id);
		return -1;
	}
	o->nro++;
	return 0;
}

int jail_fs_prepare(struct jail_opts *o)
{
	char path[PATH_MAX + 4200];
	struct stat st;

	if (jail_mkdirs(o->id, o->jail_dir, 0755) < 0)
		return -1;
	if (mkdir(o->root, 0755) < 0) {
		log_err("VM %s: %s: %s", o->id, o->root,
			errno == EEXIST ? "already exists (the id must be unique; remove the old jail)" : strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%s", o->root, o->exec_name);
	if (jail_add_ro(o, o->exec_file, path) < 0 || jail_add_libs(o) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/dev/net", o->root);
	if (jail_mkdirs(o->id, path, 0755) < 0)
		return -1;
	for (unsigned i = 0; i < o->nfiles; i++) {
		const char *name = base_name(o->files[i]);

		if (stat(o->files[i], &st) < 0 || S_ISDIR(st.st_mode)) {
			log_err("VM %s: --file %s: %s", o->id, o->files[i], S_ISDIR(st.st_mode) ? "a directory" : strerror(errno));
			return -1;
		}
		snprintf(path, sizeof(path), "%s/%s", o->root, name);
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0) {
			log_err("VM %s: --file %s: %s: %s", o->id, o->files[i], path,
				errno == EEXIST ? "name taken in the jail" : strerror(errno));
			return -1;
		}
		close(fd);
	}
	for (unsigned i = 0; i < o->ndirs; i++) {
		const char *d = o->dirs[i];

		if (d[0] != '/' || !d[1] || strstr(d, "/../") || strstr(d, "/./") || strstr(d, "//") ||
		    (strlen(d) >= 3 && strcmp(d + strlen(d) - 3, "/..") == 0)) {
			log_err("VM %s: --dir %s: expected an absolute path without '.', '..' or '//' components, not /",
				o->id, d);
			return -1;
		}
		if (stat(d, &st) < 0) {
			log_err("VM %s: --dir %s: %m", o->id, d);
			return -1;
		}
		if (!S_ISDIR(st.st_mode)) {
			log_err("VM %s: --dir %s: not a directory", o->id, d);
			return -1;
		}
		snprintf(path, sizeof(path), "%s%s", o->root, d);
		if (jail_mkdirs(o->id, path, 0755) < 0)
			return -1;
	}
	return 0;
}

static int make_node(const struct jail_opts *o, const char *host)
{
	char path[PATH_MAX];
	struct stat st;

	if (stat(host, &st) < 0 || !S_ISCHR(st.st_mode)) {
		log_warn("VM %s: %s: no such character device on the host, not in the jail", o->id, host);
		return 0;
	}
	snprintf(path, sizeof(path), "%s%s", o->root, host);
	if (mknod(path, S_IFCHR | S_IRUSR | S_IWUSR, st.st_rdev) < 0 || chown(path, o->uid, o->gid) < 0) {
		log_err("VM %s: mknod %s (%u:%u): %m", o->id, path, major(st.st_rdev), minor(st.st_rdev));
		return -1;
	}
	return 0;
}

int jail_fs_enter(const struct jail_opts *o)
{
	char path[PATH_MAX + 4200];

	if (mount(NULL, "/", NULL, MS_PRIVATE | MS_REC, NULL) < 0 ||
	    mount(o->root, o->root, NULL, MS_BIND, NULL) < 0) {
		log_err("VM %s: %s: bind mount in the new mount namespace: %m", o->id, o->root);
		return -1;
	}
	for (unsigned i = 0; i < o->nro; i++)
		if (mount(o->ro[i].host, o->ro[i].jail, NULL, MS_BIND, NULL) < 0 ||
		    mount(NULL, o->ro[i].jail, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0) {
			log_err("VM %s: %s: read-only bind mount into the jail: %m", o->id, o->ro[i].host);
			return -1;
		}
	for (unsigned i = 0; i < o->nfiles; i++) {
		snprintf(path, sizeof(path), "%s/%s", o->root, base_name(o->files[i]));
		if (mount(o->files[i], path, NULL, MS_BIND, NULL) < 0) {
			log_err("VM %s: --file %s: bind mount into the jail: %m", o->id, o->files[i]);
			return -1;
		}
	}
	for (unsigned i = 0; i < o->ndirs; i++) {
		snprintf(path, sizeof(path), "%s%s", o->root, o->dirs[i]);
		if (mount(o->dirs[i], path, NULL, MS_BIND, NULL) < 0) {
			log_err("VM %s: --dir %s: bind mount into the jail: %m", o->id, o->dirs[i]);
			return -1;
		}
	}
	for (unsigned i = 0; i < sizeof(dev_nodes) / sizeof(dev_nodes[0]); i++)
		if (make_node(o, dev_nodes[i]) < 0)
			return -1;
	if (chdir(o->root) < 0 || mkdir("old_root", 0700) < 0 || syscall(SYS_pivot_root, ".", "old_root") < 0 ||
	    chdir("/") < 0 || umount2("/old_root", MNT_DETACH) < 0 || rmdir("/old_root") < 0 || chroot(".") < 0) {
		log_err("VM %s: %s: pivot_root into the jail: %m", o->id, o->root);
		return -1;
	}
	if (chown("/", o->uid, o->gid) < 0) {
		log_err("VM %s: chown of the jail's root to %u:%u: %m", o->id, (unsigned)o->uid, (unsigned)o->gid);
		return -1;
	}
	return 0;
}
