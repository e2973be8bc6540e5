/* SPDX-License-Identifier: MIT */
/*
 * Kite's VM-state file: a versioned, self-describing container of named sections, written by
 * snapshot/create and read by snapshot/load (common/snapshot_file.c). Every part of the VM (a vCPU,
 * the irqchip, a device) saves itself as one section (name, instance, version) and restores from
 * it; guest memory is not in this file (it has its own).
 *
 * The format is a compatibility promise. All integers little-endian.
 *   header, 40 bytes:
 *     u8  magic[8] = "KITESNAP"
 *     u32 format_version   SNAP_FORMAT_VERSION; a reader refuses any other with one line
 *     u32 header_size      40
 *     u32 section_count
 *     u32 flags            0 (a reader refuses unknown flags)
 *     u64 body_len         bytes after the header, exactly the rest of the file
 *     u32 body_crc32       zlib crc32 of the body
 *     u32 header_crc32     crc32 of the 36 bytes before it
 *   body: section_count sections, each a 48-byte section header and its payload:
 *     u8  name[24]         ASCII [a-z0-9._-], NUL-padded, at least one NUL
 *     u32 instance         which one of several (vcpu 0..n-1, the i-th virtio-blk, ...)
 *     u32 version          the section's own layout version, chosen by its owner
 *     u64 len              payload bytes
 *     u32 crc32            crc32 of the payload
 *     u32 reserved         0
 * A section's owner changes its layout only by raising its version; a newer kite may read older
 * versions (max_version in snap_section_open) and refuses newer ones with one line.
 *
 * Errors: the writer's errors are sticky (out of memory, a put outside a section, a bad name) and
 * reported once by snap_writer_save/snap_writer_bytes. The reader validates everything before it
 * returns (magic, version, both CRCs, every section inside the body, no duplicate (name, instance),
 * section CRCs); a cursor never reads past its section: a short read zero-fills, marks the cursor
 * bad, and snap_cursor_finish reports it. Messages are one line naming the file or section.
 *
 * Threads: none of this is shared; one writer or reader per thread.
 */
#ifndef KITE_SNAPSHOT_H
#define KITE_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNAP_MAGIC "KITESNAP"
#define SNAP_FORMAT_VERSION 1u
#define SNAP_HEADER_SIZE 40u
#define SNAP_SECTION_HEADER_SIZE 48u
#define SNAP_NAME_MAX 23u           /* characters, without the NUL */
#define SNAP_MAX_SECTIONS 4096u
#define SNAP_MAX_FILE (256u << 20)  /* a state file larger than this is refused */

/* ---- writing ---- */
struct snap_writer;

struct snap_writer *snap_writer_new(void);
void snap_writer_free(struct snap_writer *w);

/* Start section (name, instance, version); puts go into it until snap_section_end. */
void snap_section_begin(struct snap_writer *w, const char *name, uint32_t instance, uint32_t version);
void snap_section_end(struct snap_writer *w);
void snap_put(struct snap_writer *w, const void *p, size_t n);
void snap_put_u8(struct snap_writer *w, uint8_t v);
void snap_put_u16(struct snap_writer *w, uint16_t v);
void snap_put_u32(struct snap_writer *w, uint32_t v);
void snap_put_u64(struct snap_writer *w, uint64_t v);
/* A length-prefixed (u32) byte string; NULL is written as length 0. */
void snap_put_str(struct snap_writer *w, const char *s);

/* The whole file in memory (valid until the next call on w). 0, or -1 with err. */
int snap_writer_bytes(struct snap_writer *w, const uint8_t **buf, size_t *len, char *err, size_t errlen);
/* Write the file with atomic_file_write (kite/atomic_file.h: path.tmp, fsync, rename, fsync of the
 * directory: kite's main thread may open a directory under its seccomp filter for that). 0, or -1
 * with err naming the file (what is on disk then: atomic_file.h). */
int snap_writer_save(struct snap_writer *w, const char *path, char *err, size_t errlen);

/* ---- reading ---- */
struct snap_reader;

/* Parse and validate a copy of buf / the file at path. NULL with err on any fault. */
struct snap_reader *snap_reader_parse(const void *buf, size_t len, char *err, size_t errlen);
struct snap_reader *snap_reader_open(const char *path, char *err, size_t errlen);
void snap_reader_free(struct snap_reader *r);

struct snap_cursor {
	const uint8_t *p;
	size_t len, off;
	uint32_t version;              /* the section's version as written */
	uint32_t instance;
	char name[SNAP_NAME_MAX + 1];
	bool bad;                      /* a read went past the end, or a value was refused */
	const char *why;               /* what was refused (snap_cursor_fail), or NULL */
};

bool snap_has_section(const struct snap_reader *r, const char *name, uint32_t instance);
/* Open section (name, instance) whose version must be 1..max_version; marks it consumed.
 * 0, or -1 with err ("section 'vcpu' 3 missing", "section 'pit' 0 has version 7, this kite reads <= 1"). */
int snap_section_open(struct snap_reader *r, const char *name, uint32_t instance, uint32_t max_version,
		      struct snap_cursor *c, char *err, size_t errlen);
void snap_get(struct snap_cursor *c, void *p, size_t n);
uint8_t snap_get_u8(struct snap_cursor *c);
uint16_t snap_get_u16(struct snap_cursor *c);
uint32_t snap_get_u32(struct snap_cursor *c);
uint64_t snap_get_u64(struct snap_cursor *c);
/* A string written by snap_put_str into buf (size bytes incl. NUL); too long or with a NUL inside
 * marks the cursor bad. Returns buf. */
char *snap_get_str(struct snap_cursor *c, char *buf, size_t size);
/* Bytes left in the section. */
size_t snap_remaining(const struct snap_cursor *c);
/* Mark the cursor bad with a reason (a value out of range, say); the first reason is kept. */
void snap_cursor_fail(struct snap_cursor *c, const char *why);
/* 0 if the section was read whole and nothing was bad; else -1 with err naming the section. */
int snap_cursor_finish(struct snap_cursor *c, char *err, size_t errlen);

/* The first section no snap_section_open consumed (name, *instance), or NULL: a restore refuses a
 * state file with parts this VM does not have. */
const char *snap_reader_unconsumed(const struct snap_reader *r, uint32_t *instance);
/* How many sections named `name` (any instance). */
unsigned snap_section_count(const struct snap_reader *r, const char *name);

#endif
