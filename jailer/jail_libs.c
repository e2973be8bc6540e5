/* SPDX-License-Identifier: MIT */
/*
 * A dynamically linked kite needs its ELF interpreter and shared libraries inside the jail. The
 * interpreter is the exec file's PT_INTERP; the libraries are what that interpreter resolves for it
 * (`<interp> --list <exec file>`, what ldd shows). Each is bound read-only at its host path under the
 * jail's root (jail_add_ro; the loader finds them in its default directories). A statically linked
 * exec file (no PT_INTERP) needs nothing.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jailer.h"
#include "kite/log.h"

/* The exec file's PT_INTERP into buf; 0 = found, 1 = none (static), -1 = not a 64-bit ELF file. */
static int elf_interp(const char *exe, char *buf, size_t len)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	int fd = open(exe, O_RDONLY | O_CLOEXEC), r = 1;

	if (fd < 0 || pread(fd, &eh, sizeof(eh), 0) != sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(ph)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	for (unsigned i = 0; i < eh.e_phnum && r == 1; i++) {
		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + i * sizeof(ph))) != sizeof(ph))
			r = -1;
		else if (ph.p_type == PT_INTERP) {
			if (ph.p_filesz == 0 || ph.p_filesz > len ||
			    pread(fd, buf, ph.p_filesz, (off_t)ph.p_offset) != (ssize_t)ph.p_filesz || buf[ph.p_filesz - 1])
				r = -1;
			else
				r = 0;
		}
	}
	close(fd);
	return r;
}

/* host (an absolute path) bound read-only at the same path under the jail's root */
static int add_under_root(struct jail_opts *o, const char *host)
{
	char dst[PATH_MAX * 2];

	snprintf(dst, sizeof(dst), "%s%s", o->root, host);
	return jail_add_ro(o, host, dst);
}

int jail_add_libs(struct jail_opts *o)
{
	const char *id = o->id, *exe = o->exec_file;
	char interp[PATH_MAX], line[1024];
	int p[2], st, r;

	r = elf_interp(exe, interp, sizeof(interp));
	if (r < 0) {
		log_err("VM %s: %s: not a 64-bit ELF executable", id, exe);
		return -1;
	}
	if (r > 0)
		return 0;
	if (add_under_root(o, interp) < 0 || pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		execl(interp, interp, "--list", exe, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	FILE *f = pid > 0 ? fdopen(p[0], "r") : NULL;
	r = f ? 0 : -1;
	while (f && fgets(line, sizeof(line), f)) {
		/* "libx.so.1 => /lib/.../libx.so.1 (0x...)", "/lib64/ld-linux-x86-64.so.2 (0x...)",
		 * "linux-vdso.so.1 (0x...)" (in the kernel), "liby.so => not found" */
		char *arrow = strstr(line, "=> "), *path = arrow ? arrow + 3 : line + strspn(line, " \t");
		if (strstr(line, "not found")) {
			log_err("VM %s: %s needs %.*s, which its loader does not find", id, exe, (int)strcspn(line, "\n"),
				line + strspn(line, " \t"));
			r = -1;
			continue;
		}
		if (path[0] != '/')
			continue;
		path[strcspn(path, " \t\n")] = '\0';
		if (add_under_root(o, path) < 0)
			r = -1;
	}
	if (f)
		fclose(f);
	else
		close(p[0]);
	if (pid > 0 && (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)) {
		log_err("VM %s: %s --list %s failed: cannot tell the shared libraries", id, interp, exe);
		r = -1;
	}
	return r;
}
