/* SPDX-License-Identifier: MIT */
/* kite's per-thread seccomp allowlists (vmm/seccomp_filters.c). */
#ifndef KITE_VMM_SECCOMP_FILTERS_H
#define KITE_VMM_SECCOMP_FILTERS_H

/* Registers kite's allowlists at `level` (0, 1, 2); main thread, before any other thread starts. */
void kite_seccomp_register(int level);

#endif
