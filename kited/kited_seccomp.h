/* SPDX-License-Identifier: MIT */
/* kited's own seccomp allowlists (seccomp.c, docs/security.md "kited"). */
#ifndef KITED_SECCOMP_H
#define KITED_SECCOMP_H

#include "kite/seccomp.h"

/* Registers kited's allowlists at `level` (main thread, before the HTTP server starts; the HTTP
 * threads then filter themselves). 0, or -1 after one log line. */
int kited_seccomp_install(int level);

#endif
