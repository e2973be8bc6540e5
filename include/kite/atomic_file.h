/* SPDX-License-Identifier: MIT */
/*
 * Replacing a file's whole content atomically (kite's VM-state file, kited's state files).
 * atomic_file_write() writes buf to `path`.tmp (created with mode 0600, or emptied if one is left
 * over), fsyncs it, renames it over `path`, then, with ATOMIC_FILE_SYNC_DIR in flags, fsyncs the
 * directory holding `path` (an openat of the directory, O_RDONLY | O_DIRECTORY: a seccomp filter
 * must allow that; kite's main thread's does, vmm/seccomp_filters.c).
 *
 * Returns 0 once all of that is done: `path` holds exactly buf (readers see all of it or the old
 * content, never a mix); with ATOMIC_FILE_SYNC_DIR it stays so across a crash, without it a crash
 * soon after may bring back the old content (the rename not yet on disk; the new data is).
 * Returns -1 with errno set and a one-line reason naming the file and the step in err (err may be
 * NULL):
 *   - a failure up to the rename (ENAMETOOLONG when `path`.tmp does not fit in PATH_MAX; EIO for a
 *     write that wrote nothing): `path` is as it was, `path`.tmp is removed;
 *   - the directory's fsync failed: `path` already holds buf (a reader sees it), but after a crash
 *     it may hold the old content.
 * A crash at any moment leaves `path` with the old content or the new, never a mix (and perhaps a
 * `path`.tmp, which the next write replaces). Writers of the same path must not run at the same
 * time (they share `path`.tmp): the caller serialises them. Any thread; no logging (callers name
 * the object).
 */
#ifndef KITE_ATOMIC_FILE_H
#define KITE_ATOMIC_FILE_H

#include <stddef.h>

#define ATOMIC_FILE_SYNC_DIR 1u   /* flags: fsync the directory after the rename */

int atomic_file_write(const char *path, const void *buf, size_t len, unsigned flags, char *err, size_t errlen);

#endif
