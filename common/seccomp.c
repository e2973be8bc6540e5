/* SPDX-License-Identifier: MIT */
/*
 * Per-thread seccomp filters: building one from a thread's rule tables plus the base every thread
 * needs, installing it, and the SIGSYS handler that names a forbidden syscall. See kite/seccomp.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "kite/log.h"
#include "kite/seccomp.h"

#define SC_NAMES 512   /* syscall numbers the SIGSYS handler can name */

/* a sanitizer build (GCC says so with __SANITIZE_ADDRESS__, clang with __has_feature) */
#if defined(__SANITIZE_ADDRESS__)
#define KITE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KITE_ASAN 1
#endif
#endif

/* What every thread needs: ending itself, locks, signal delivery and masks, memory allocation
 * (malloc maps and trims), its log lines, time and sleeping. rt_sigaction may not touch SIGSYS
 * (level 2), so a thread cannot undo the handler that reports it. */
static const struct seccomp_rule base_rules[] = {
	SC_ALLOW(exit), SC_ALLOW(exit_group), SC_ALLOW(restart_syscall), SC_ALLOW(rt_sigreturn),
	SC_ALLOW(rt_sigprocmask), SC_ALLOW_ARG(rt_sigaction, 0, SCMP_CMP_NE, SIGSYS),
	SC_ALLOW(futex), SC_ALLOW(sched_yield), SC_ALLOW(nanosleep), SC_ALLOW(clock_nanosleep),
	SC_ALLOW(clock_gettime), SC_ALLOW(gettimeofday), SC_ALLOW(getpid), SC_ALLOW(gettid),
	SC_ALLOW(brk), SC_ALLOW(munmap), SC_ALLOW(madvise), SC_ALLOW(mremap),
	/* anonymous or file mappings, never executable ones */
	SC_ALLOW_FLAGS(mmap, 2, PROT_READ | PROT_WRITE), SC_ALLOW_FLAGS(mprotect, 2, PROT_READ | PROT_WRITE),
	SC_ALLOW(write), SC_ALLOW(writev),
#ifdef KITE_ASAN
	/* sanitizer builds only (-Db_sanitize=address): ASan gives each thread an alternate signal stack
	 * before the thread's filter is in place and takes it down at the thread's exit (sigaltstack,
	 * then munmap); without this a stopping kite-dpu poller (kite's I/O threads alike) is killed */
	SC_ALLOW(sigaltstack),
#endif
};

static int reg_level;
static const struct seccomp_thread *reg_threads;
static unsigned reg_n;
static const char *sc_names[SC_NAMES];
static __thread const char *thread_kind;

int seccomp_parse_level(const char *s, int *level)
{
	if (!s || s[1] || s[0] < '0' || s[0] > '2')
		return -1;
	*level = s[0] - '0';
	return 0;
}

void seccomp_register(int level, const struct seccomp_thread *threads, unsigned n)
{
	reg_level = level;
	reg_threads = threads;
	reg_n = n;
}

int seccomp_level(void)
{
	return reg_threads ? reg_level : 0;
}

static size_t put(char *buf, size_t pos, size_t len, const char *s)
{
	while (*s && pos + 1 < len)
		buf[pos++] = *s++;
	return pos;
}

static size_t put_num(char *buf, size_t pos, size_t len, unsigned long v)
{
	char tmp[24];
	int i = 0;

	do
		tmp[i++] = (char)('0' + v % 10);
	while ((v /= 10) && i < (int)sizeof(tmp));
	while (i > 0 && pos + 1 < len)
		buf[pos++] = tmp[--i];
	return pos;
}

/* Async-signal-safe: fixed buffers, write(2), then the same call again (see kite/seccomp.h). */
static void on_sigsys(int sig, siginfo_t *si, void *uc_)
{
	ucontext_t *uc = uc_;
	greg_t *r = uc->uc_mcontext.gregs;
	char line[256];
	size_t pos = 0;
	int nr = si->si_syscall;

	(void)sig;
	pos = put(line, pos, sizeof(line), kite_log_prog());
	pos = put(line, pos, sizeof(line), ": seccomp: ");
	pos = put(line, pos, sizeof(line), thread_kind ? thread_kind : "?");
	pos = put(line, pos, sizeof(line), " thread made forbidden syscall ");
	pos = put_num(line, pos, sizeof(line), (unsigned long)nr);
	pos = put(line, pos, sizeof(line), " (");
	pos = put(line, pos, sizeof(line), nr >= 0 && nr < SC_NAMES && sc_names[nr] ? sc_names[nr] : "?");
	pos = put(line, pos, sizeof(line), "), killing the process\n");
	if (write(STDERR_FILENO, line, pos) < 0) {
		/* nothing else to tell */
	}
	/* SIGSYS is blocked in its handler: the kernel now takes the default action (kill). */
	syscall(nr, r[REG_RDI], r[REG_RSI], r[REG_RDX], r[REG_R10], r[REG_R8], r[REG_R9]);
	_exit(128 + SIGSYS);   /* not reached */
}

/* Once, before the first filter: the handler and the names it prints (malloc is not signal-safe). */
static int prepare_handler(void)
{
	static bool done;
	struct sigaction sa;

	if (done)
		return 0;
	for (int i = 0; i < SC_NAMES; i++)
		sc_names[i] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, i);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return -1;
	done = true;
	return 0;
}

static int add_rules(scmp_filter_ctx ctx, const struct seccomp_rule *rules, size_t n, int level,
		     const char *kind)
{
	for (size_t i = 0; i < n; i++) {
		int nr = seccomp_syscall_resolve_name(rules[i].name);
		unsigned nargs = level >= 2 ? rules[i].nargs : 0;
		int r;

		if (nr == __NR_SCMP_ERROR) {
			log_err("seccomp: %s thread: unknown syscall %s", kind, rules[i].name);
			return -1;
		}
		r = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, nargs, nargs ? rules[i].args : NULL);
		/* -EEXIST: an unconditional rule for it is already there */
		if (r < 0 && r != -EEXIST) {
			log_err("seccomp: %s thread: rule for %s refused: %s", kind, rules[i].name, strerror(-r));
			return -1;
		}
	}
	return 0;
}

static const struct seccomp_thread *find(const char *kind)
{
	for (unsigned i = 0; i < reg_n; i++)
		if (!strcmp(reg_threads[i].kind, kind))
			return &reg_threads[i];
	return NULL;
}

/*
 * Files glibc's malloc opens on its own, once per process, read before a filter can forbid it: a
 * thread's first allocation attaches it to an arena (with more than 8 arenas glibc reads
 * /sys/devices/system/cpu/online for their limit), and the first time a thread arena's heap
 * shrinks glibc reads /proc/sys/vm/overcommit_memory (kite's I/O threads were killed for that
 * openat at their first request). Two 100 KiB blocks (under the 128 KiB mmap threshold) freed
 * leave a top chunk over the 128 KiB trim threshold, so the heap shrinks here.
 */
static void malloc_warm_up(void)
{
	void *volatile small = malloc(1);   /* volatile: the compiler may not drop the pairs */
	void *volatile a = malloc(100 << 10), *volatile b = malloc(100 << 10);

	if (a)
		memset(a, 0, 1);
	free(b);
	free(a);
	free(small);
}

const char *seccomp_current_kind(void)
{
	return thread_kind;
}

int seccomp_exit_status(int status)
{
#ifdef KITE_ASAN
	if (thread_kind) {
		log_info("sanitizer build under a seccomp filter: LeakSanitizer's exit check skipped (it "
			 "needs ptrace; --seccomp-level 0 runs it)");
		fflush(NULL);
		syscall(SYS_exit_group, status);
	}
#endif
	return status;
}

int seccomp_enter(const char *kind)
{
	const struct seccomp_thread *t;
	scmp_filter_ctx ctx;
	int r = -1;

	if (!reg_threads || reg_level == 0)
		return 0;
	t = find(kind);
	if (!t) {
		log_err("seccomp: no allowlist for a %s thread", kind);
		return -1;
	}
	if (prepare_handler() < 0) {
		log_err("seccomp: %s thread: installing the SIGSYS handler failed: %m", kind);
		return -1;
	}
	malloc_warm_up();
	ctx = seccomp_init(SCMP_ACT_TRAP);
	if (!ctx) {
		log_err("seccomp: %s thread: libseccomp could not start a filter", kind);
		return -1;
	}
	/* clone3 passes its flags in memory, out of a filter's sight: ENOSYS makes glibc use clone */
	if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0) < 0)
		goto out;
	if (add_rules(ctx, base_rules, sizeof(base_rules) / sizeof(base_rules[0]), reg_level, kind) < 0)
		goto out;
	for (unsigned i = 0; i < t->ntables; i++)
		if (add_rules(ctx, t->tables[i], t->sizes[i], reg_level, kind) < 0)
			goto out;
	thread_kind = t->kind;
	r = seccomp_load(ctx);   /* sets no_new_privs first (SCMP_FLTATR_CTL_NNP is on by default) */
	if (r < 0) {
		log_err("seccomp: %s thread: loading the filter failed: %s", kind, strerror(-r));
		thread_kind = NULL;
	} else
		log_debug("seccomp: %s thread filtered (level %d)", kind, reg_level);
out:
	seccomp_release(ctx);
	return r < 0 ? -1 : 0;
}
