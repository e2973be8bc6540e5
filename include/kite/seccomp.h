/* SPDX-License-Identifier: MIT */
/*
 * Per-thread seccomp filters (libseccomp), shared by kite and kite-dpu.
 *
 * A program registers one allowlist per kind of thread (seccomp_register, once, from main before
 * any thread starts) and the level (--seccomp-level: 0 none, 1 syscall numbers only, 2 numbers and
 * argument filters; the default is 2). Every thread then calls seccomp_enter("its kind") before it
 * handles any guest or peer input. Nothing registered (unit tests, fuzzers, tools): seccomp_enter()
 * does nothing.
 *
 * A forbidden syscall kills the whole process by SIGSYS: the filter traps it (SCMP_ACT_TRAP), a
 * SIGSYS handler writes one line to stderr with the thread kind and the syscall number and name
 * (write(2) only, async-signal-safe), then issues the same call again; the kernel then delivers
 * SIGSYS with its default action because the handler blocks it, so the process dies with SIGSYS
 * (and the kernel audit log, if enabled, records the event too).
 */
#ifndef KITE_SECCOMP_H
#define KITE_SECCOMP_H

#include <seccomp.h>
#include <stddef.h>
#include <stdint.h>

#define KITE_SECCOMP_DEFAULT_LEVEL 2

/* One allowed syscall. At level 2 the call must also match every comparison in args (nargs of
 * them); several rules for the same syscall are alternatives. At level 1 args are ignored. */
struct seccomp_rule {
	const char *name;               /* syscall name as libseccomp knows it ("ioctl") */
	unsigned nargs;
	struct scmp_arg_cmp args[2];
};

#define SC_ALLOW(n) { .name = #n }
#define SC_ARG_CMP(i, o, v) { .arg = (i), .op = (o), .datum_a = (scmp_datum_t)(v) }
#define SC_ALLOW_ARG(n, i, o, v) { .name = #n, .nargs = 1, .args = { SC_ARG_CMP(i, o, v) } }
/* e.g. ioctl(fd, KVM_RUN, ...): argument 1 equal to v */
#define SC_ALLOW_EQ(n, i, v) SC_ALLOW_ARG(n, i, SCMP_CMP_EQ, v)
/* argument i with only bits of `allowed` set (flags filters): (arg & ~allowed) == 0 */
#define SC_ALLOW_FLAGS(n, i, allowed) \
	{ .name = #n, .nargs = 1, .args = { { .arg = (i), .op = SCMP_CMP_MASKED_EQ, \
					      .datum_a = ~(scmp_datum_t)(allowed), .datum_b = 0 } } }

/* argument i with every bit of `bits` set: (arg & bits) == bits (e.g. clone of a thread) */
#define SC_ALLOW_BITS(n, i, bits) \
	{ .name = #n, .nargs = 1, .args = { { .arg = (i), .op = SCMP_CMP_MASKED_EQ, \
					      .datum_a = (scmp_datum_t)(bits), .datum_b = (scmp_datum_t)(bits) } } }

/* The allowlist of one kind of thread: several rule tables (shared parts + its own). */
struct seccomp_thread {
	const char *kind;                    /* "vcpu", "vmm", "api", ... */
	const struct seccomp_rule *const *tables;
	const size_t *sizes;
	unsigned ntables;
};

/* "0", "1" or "2" into *level; -1 (nothing logged) for anything else. */
int seccomp_parse_level(const char *s, int *level);

/* The program's level and allowlists (main thread, before any other thread starts). */
void seccomp_register(int level, const struct seccomp_thread *threads, unsigned n);

/* The registered level, or 0 when nothing is registered. */
int seccomp_level(void);

/* Installs the allowlist of `kind` on the calling thread (and sets its no_new_privs). Returns 0
 * (also when nothing is registered or the level is 0), or -1 after one log line (unknown kind,
 * libseccomp refused a rule or the load): the caller must then not go on. */
int seccomp_enter(const char *kind);

/* The kind of the filter the calling thread runs under (seccomp_enter loaded one), or NULL. */
const char *seccomp_current_kind(void);

/* The end of main() after an orderly shutdown (main thread): returns status. In a sanitizer build
 * (-Db_sanitize=address) whose main thread runs under a filter it does not return: LeakSanitizer's
 * exit check stops the world from a cloned tracer that ptraces every thread, which no allowlist
 * holds, so the process flushes stdio and ends with exit_group(status) after one log line (leaks are
 * checked with --seccomp-level 0). */
int seccomp_exit_status(int status);

#endif
