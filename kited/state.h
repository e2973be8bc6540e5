/* SPDX-License-Identifier: MIT */
/* kited's state directory: lock, atomic JSON files, directories (state.c). Any thread. */
#ifndef KITED_STATE_H
#define KITED_STATE_H

#include <stddef.h>
#include <sys/types.h>

#include "kited.h"

/* Takes DIR/kited.lock (flock, held while the returned fd is open). fd, or -1 with err. */
int state_lock(const char *dir, char *err, size_t errlen);
/* mkdir -p; the last component gets `mode` (parents 0755). 0 or -1 (errno). */
int state_mkdir(const char *path, mode_t mode);
/* Writes j (and a newline) to path with atomic_file_write (include/kite/atomic_file.h: path.tmp,
 * fsync, rename, fsync of the directory). 0, or -1 with err naming the file and the step (what is on
 * disk then: atomic_file.h). */
int state_write_json(const char *path, const struct cJSON *j, char *err, size_t errlen);
/* Reads a JSON object (at most 1 MiB). NULL with err when missing, unreadable or not an object. */
struct cJSON *state_read_json(const char *path, char *err, size_t errlen);
/* rm -r that stays on path's file system and follows no symlink. 0 when path is gone. */
int state_remove_tree(const char *path);

#endif
