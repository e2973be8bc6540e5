/* SPDX-License-Identifier: MIT */
/*
 * kitectl, kited's command-line client (docs/kited.md "kitectl"): what its files share.
 *   main.c     global options, the command table, usage
 *   args.c     option scanning of one command, numbers and sizes (pure: unit-tested)
 *   http.c     one request to kited over its Unix socket (libcurl)
 *   out.c      replies: JSON as is (--json), tables and key/value lines, the error line
 *   cmd_vm.c   vm create|list|info|start|pause|resume|stop|delete|snapshot|restore
 *   cmd_dpu.c  dpu status, dpu port ..., dpu volume ...
 *   cmd_host.c host, raw
 *   console.c  vm console: the VM's serial console socket, raw terminal, Ctrl-] detaches
 * Exit status: 0 success, 1 any error (one line on stderr: "kitectl: ..."), 2 usage error.
 * Single-threaded.
 */
#ifndef KITECTL_H
#define KITECTL_H

#include <stdbool.h>
#include <stddef.h>

#define KC_DEFAULT_SOCK "/run/kite/kited.sock"

enum { KC_OK = 0, KC_ERR = 1, KC_USAGE = 2, KC_LIST_TABLE = 100 /* not an exit status */ };

struct kc {
	const char *sock;   /* kited's API socket */
	bool json;          /* print the API's JSON instead of tables */
};

/* ---- args.c ---- */

/* One option of a command: "--name" with or without a value. */
struct kc_opt {
	const char *name;         /* without the dashes */
	enum { KC_FLAG, KC_VALUE, KC_OPTVALUE } kind;   /* OPTVALUE: value only if the next word is a number */
	const char *value;        /* filled: the value, "" for a flag or an absent OPTVALUE, NULL if not given */
};

/*
 * Split argv[0..argc) into options (matched against opts[0..nopts), plus the global --json and
 * --sock PATH, which set kc) and positional words (pointers stored in pos, at most maxpos; their
 * count in *npos). "--name=value" is accepted for KC_VALUE. 0, or -1 after one line on stderr
 * (unknown option, missing value, too many words): a usage error.
 */
int kc_parse(struct kc *kc, const char *cmd, int argc, char **argv, struct kc_opt *opts, size_t nopts,
	     const char **pos, size_t maxpos, size_t *npos);
/* The option named `name` in opts (it must be there). */
struct kc_opt *kc_opt(struct kc_opt *opts, size_t nopts, const char *name);
/* Decimal unsigned number, no sign, no garbage, <= max. 0 or -1. */
int kc_parse_uint(const char *s, unsigned long long max, unsigned long long *out);
/* A size in MiB: "64", "64M", "64MiB", "1G", "1GiB", "2T", "1048576K" (a whole number of MiB);
 * a bare number is MiB. 0 or -1 (malformed, zero, not whole MiB, above 2^32-1 MiB). */
int kc_parse_size_mib(const char *s, unsigned long long *mib);
/* A host CPU list "0,1" (as kite's --pin-vcpus / --pin-io): 1..KC_MAX_CPUS numbers 0..1023 into
 * cpus, their count in *n. 0 or -1 (empty, malformed, out of range, too many). */
#define KC_MAX_CPUS 64
int kc_parse_cpu_list(const char *s, int cpus[KC_MAX_CPUS], size_t *n);
/* "128M", "1G", "1.5G" style for tables (buf of at least 16 bytes). */
const char *kc_fmt_mib(unsigned long long mib, char *buf, size_t len);
/* A path segment with every byte but letters, digits, '-', '_' percent-encoded, so that no name
 * can add a segment or a query or be squashed as "." / ".." (malloc'd; NULL: out of memory). */
char *kc_escape(const char *s);
/* The one word a command takes (a name; `what` says which, for the usage line), with the options
 * of opts; *raw: the word as given; returns it escaped for a path (malloc'd), or NULL after one
 * line on stderr (a usage error, or out of memory). */
char *kc_one_name(struct kc *kc, const char *what, const char *cmd, int argc, char **argv, struct kc_opt *opts,
		  size_t nopts, const char **raw);
/* A usage error: "kitectl: <cmd>: <why>" on stderr, returns KC_USAGE. */
int kc_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- http.c ---- */

struct kc_reply {
	long status;     /* HTTP status, 0 if no reply */
	char *body;      /* malloc'd, NUL-terminated ("" if none) */
	size_t len;
};

/* METHOD path (body: JSON text or NULL) on kc->sock. 0 with a reply of any status, or -1 after
 * one line on stderr (kited unreachable, transfer failed). */
int kc_request(const struct kc *kc, const char *method, const char *path, const char *body, struct kc_reply *r);
void kc_reply_free(struct kc_reply *r);
/* ---- out.c ---- */

struct cJSON;
/*
 * The common ending of a request: on a status >= 400 print "kitectl: <error of the body>" and return
 * KC_ERR; else parse the body (NULL for an empty one) into *json and return KC_OK (a body that is not
 * JSON is an error). With kc->json and print_json, print the body as JSON first.
 */
int kc_finish(const struct kc *kc, struct kc_reply *r, bool print_json, struct cJSON **json);
/* request + kc_finish; path built printf-style. */
int kc_call(const struct kc *kc, const char *method, const char *body, struct cJSON **json, bool print_json,
	    const char *pathfmt, ...) __attribute__((format(printf, 6, 7)));
/* `cmd` [--names]: GET path, a list of objects. With --names print their "name" members one a line
 * (for shell completion) and return KC_OK; with --json print the list and return KC_OK; else return
 * KC_LIST_TABLE with *list for the caller's table. Errors: KC_ERR / KC_USAGE. *list: cJSON_Delete it always. */
int kc_get_list(struct kc *kc, const char *cmd, const char *path, int argc, char **argv, struct cJSON **list);
/* `cmd` with no words: GET path, an object, printed as key: value lines (or --json). */
int kc_get_kv(struct kc *kc, const char *cmd, const char *path, int argc, char **argv);
/* A one-line error of kitectl itself: "kitectl: ..." on stderr, returns KC_ERR. */
int kc_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A text table: columns given once, rows added, printed with aligned columns. */
#define KC_TABLE_MAXCOL 10
struct kc_table {
	size_t ncol, nrow, cap;
	const char *head[KC_TABLE_MAXCOL];
	char **cells;   /* nrow * ncol, malloc'd strings */
};
void kc_table_init(struct kc_table *t, size_t ncol, const char *const *head);
void kc_table_row(struct kc_table *t, const char *const *cells);
void kc_table_print(struct kc_table *t);   /* and free */
/* Field helpers: a member as text ("-" when absent or null), into buf. */
const char *kc_jstr(const struct cJSON *o, const char *key, char *buf, size_t len);
/* Member as a number, or `dflt` when absent / not a number. */
double kc_jnum(const struct cJSON *o, const char *key, double dflt);
/* Print "key: value" lines for every scalar member of o (nested objects as "key.sub"). */
void kc_print_kv(const struct cJSON *o, const char *prefix);

/* ---- commands: argv after the command word(s); return an exit status ---- */
int kc_cmd_vm(struct kc *kc, int argc, char **argv);
int kc_cmd_dpu(struct kc *kc, int argc, char **argv);
int kc_cmd_host(struct kc *kc, int argc, char **argv);
int kc_cmd_raw(struct kc *kc, int argc, char **argv);
/* vm console NAME: attach to the socket at `path` (the VM's console_sock). */
int kc_console(const char *vm, const char *path);

#endif
