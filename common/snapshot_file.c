/* SPDX-License-Identifier: MIT */
/* The VM-state file: writer, validating reader and section cursors (see include/kite/snapshot.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "kite/atomic_file.h"
#include "kite/snapshot.h"

struct snap_writer {
	uint8_t *buf;
	size_t len, cap;
	size_t sect_off;               /* offset of the open section's header, or SIZE_MAX */
	uint32_t nsect;
	const char *fault;             /* first error, sticky */
};

struct snap_section {
	char name[SNAP_NAME_MAX + 1];
	uint32_t instance, version;
	const uint8_t *payload;
	size_t len;
	bool consumed;
};

struct snap_reader {
	uint8_t *buf;
	size_t len;
	struct snap_section *sect;
	uint32_t nsect;
};

static void fmt(char *err, size_t errlen, const char *f, ...) __attribute__((format(printf, 3, 4)));
static void fmt(char *err, size_t errlen, const char *f, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, f);
	vsnprintf(err, errlen, f, ap);
	va_end(ap);
}

static void le_store(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t le_load(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static uint32_t crc(const uint8_t *p, size_t n)
{
	uLong c = crc32(0L, Z_NULL, 0);

	while (n) {   /* zlib takes uInt lengths */
		uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;

		c = crc32(c, p, chunk);
		p += chunk;
		n -= chunk;
	}
	return (uint32_t)c;
}

static bool name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > SNAP_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

/* ---- writer ---- */

struct snap_writer *snap_writer_new(void)
{
	struct snap_writer *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->sect_off = SIZE_MAX;
	w->cap = 4096;
	w->buf = calloc(1, w->cap);
	if (!w->buf) {
		free(w);
		return NULL;
	}
	w->len = SNAP_HEADER_SIZE;     /* the header is filled in at the end */
	return w;
}

void snap_writer_free(struct snap_writer *w)
{
	if (!w)
		return;
	free(w->buf);
	free(w);
}

static bool reserve(struct snap_writer *w, size_t n)
{
	if (w->fault)
		return false;
	if (n > SNAP_MAX_FILE || w->len > SNAP_MAX_FILE - n) {
		w->fault = "state larger than the format allows";
		return false;
	}
	if (w->len + n > w->cap) {
		size_t cap = w->cap;
		uint8_t *nb;

		while (cap < w->len + n)
			cap *= 2;
		nb = realloc(w->buf, cap);
		if (!nb) {
			w->fault = "out of memory";
			return false;
		}
		w->buf = nb;
		w->cap = cap;
	}
	return true;
}

void snap_section_begin(struct snap_writer *w, const char *name, uint32_t instance, uint32_t version)
{
	if (!w || w->fault)
		return;
	if (w->sect_off != SIZE_MAX) {
		w->fault = "section begun inside another";
		return;
	}
	if (!name || !name_ok(name) || version == 0) {
		w->fault = "bad section name or version";
		return;
	}
	if (w->nsect >= SNAP_MAX_SECTIONS) {
		w->fault = "too many sections";
		return;
	}
	if (!reserve(w, SNAP_SECTION_HEADER_SIZE))
		return;
	w->sect_off = w->len;
	memset(w->buf + w->len, 0, SNAP_SECTION_HEADER_SIZE);
	memcpy(w->buf + w->len, name, strlen(name));
	le_store(w->buf + w->len + 24, instance, 4);
	le_store(w->buf + w->len + 28, version, 4);
	w->len += SNAP_SECTION_HEADER_SIZE;
}

void snap_section_end(struct snap_writer *w)
{
	uint8_t *h;
	size_t plen;

	if (!w || w->fault)
		return;
	if (w->sect_off == SIZE_MAX) {
		w->fault = "section ended without one begun";
		return;
	}
	h = w->buf + w->sect_off;
	plen = w->len - w->sect_off - SNAP_SECTION_HEADER_SIZE;
	le_store(h + 32, plen, 8);
	le_store(h + 40, crc(h + SNAP_SECTION_HEADER_SIZE, plen), 4);
	w->sect_off = SIZE_MAX;
	w->nsect++;
}

void snap_put(struct snap_writer *w, const void *p, size_t n)
{
	if (!w || w->fault || n == 0)
		return;
	if (w->sect_off == SIZE_MAX) {
		w->fault = "data written outside a section";
		return;
	}
	if (!reserve(w, n))
		return;
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void put_le(struct snap_writer *w, uint64_t v, unsigned n)
{
	uint8_t b[8];

	le_store(b, v, n);
	snap_put(w, b, n);
}

void snap_put_u8(struct snap_writer *w, uint8_t v) { put_le(w, v, 1); }
void snap_put_u16(struct snap_writer *w, uint16_t v) { put_le(w, v, 2); }
void snap_put_u32(struct snap_writer *w, uint32_t v) { put_le(w, v, 4); }
void snap_put_u64(struct snap_writer *w, uint64_t v) { put_le(w, v, 8); }

void snap_put_str(struct snap_writer *w, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n > UINT32_MAX) {
		if (w && !w->fault)
			w->fault = "string too long";
		return;
	}
	snap_put_u32(w, (uint32_t)n);
	snap_put(w, s, n);
}

int snap_writer_bytes(struct snap_writer *w, const uint8_t **buf, size_t *len, char *err, size_t errlen)
{
	uint8_t *h;

	if (!w->fault && w->sect_off != SIZE_MAX)
		w->fault = "a section was not ended";
	if (w->fault) {
		fmt(err, errlen, "cannot build the VM state: %s", w->fault);
		return -1;
	}
	h = w->buf;
	memcpy(h, SNAP_MAGIC, 8);
	le_store(h + 8, SNAP_FORMAT_VERSION, 4);
	le_store(h + 12, SNAP_HEADER_SIZE, 4);
	le_store(h + 16, w->nsect, 4);
	le_store(h + 20, 0, 4);
	le_store(h + 24, w->len - SNAP_HEADER_SIZE, 8);
	le_store(h + 32, crc(h + SNAP_HEADER_SIZE, w->len - SNAP_HEADER_SIZE), 4);
	le_store(h + 36, crc(h, 36), 4);
	*buf = w->buf;
	*len = w->len;
	return 0;
}

int snap_writer_save(struct snap_writer *w, const char *path, char *err, size_t errlen)
{
	const uint8_t *buf;
	size_t len;

	if (snap_writer_bytes(w, &buf, &len, err, errlen))
		return -1;
	return atomic_file_write(path, buf, len, ATOMIC_FILE_SYNC_DIR, err, errlen);
}

void snap_reader_free(struct snap_reader *r)
{
	if (!r)
		return;
	free(r->sect);
	free(r->buf);
	free(r);
}

static struct snap_section *find(const struct snap_reader *r, const char *name, uint32_t instance)
{
	for (uint32_t i = 0; i < r->nsect; i++)
		if (r->sect[i].instance == instance && !strcmp(r->sect[i].name, name))
			return &r->sect[i];
	return NULL;
}

/* Validate r->buf[0..len) and index its sections. */
static int index_sections(struct snap_reader *r, const char *what, char *err, size_t errlen)
{
	const uint8_t *h = r->buf;
	uint64_t body_len, off = SNAP_HEADER_SIZE;
	uint32_t version, nsect;

	if (r->len < SNAP_HEADER_SIZE || memcmp(h, SNAP_MAGIC, 8)) {
		fmt(err, errlen, "%s: not a kite VM-state file (bad magic or shorter than its header)", what);
		return -1;
	}
	version = (uint32_t)le_load(h + 8, 4);
	if (version != SNAP_FORMAT_VERSION) {
		fmt(err, errlen, "%s: VM-state format version %u, this kite reads version %u only", what, version,
		    SNAP_FORMAT_VERSION);
		return -1;
	}
	if (le_load(h + 36, 4) != crc(h, 36)) {
		fmt(err, errlen, "%s: header checksum mismatch (corrupted file)", what);
		return -1;
	}
	if (le_load(h + 12, 4) != SNAP_HEADER_SIZE || le_load(h + 20, 4) != 0) {
		fmt(err, errlen, "%s: unknown header size or flags", what);
		return -1;
	}
	body_len = le_load(h + 24, 8);
	if (body_len != r->len - SNAP_HEADER_SIZE) {
		fmt(err, errlen, "%s: body is %zu bytes, header says %llu (truncated or extended file)", what,
		    r->len - SNAP_HEADER_SIZE, (unsigned long long)body_len);
		return -1;
	}
	if (le_load(h + 32, 4) != crc(h + SNAP_HEADER_SIZE, body_len)) {
		fmt(err, errlen, "%s: body checksum mismatch (corrupted file)", what);
		return -1;
	}
	nsect = (uint32_t)le_load(h + 16, 4);
	if (nsect > SNAP_MAX_SECTIONS || (uint64_t)nsect * SNAP_SECTION_HEADER_SIZE > body_len) {
		fmt(err, errlen, "%s: impossible section count %u", what, nsect);
		return -1;
	}
	r->sect = calloc(nsect ? nsect : 1, sizeof(*r->sect));
	if (!r->sect) {
		fmt(err, errlen, "%s: out of memory", what);
		return -1;
	}
	for (uint32_t i = 0; i < nsect; i++) {
		struct snap_section *s = &r->sect[i];
		const uint8_t *sh = r->buf + off;
		uint64_t plen;

		if (r->len - off < SNAP_SECTION_HEADER_SIZE) {
			fmt(err, errlen, "%s: section %u runs past the end", what, i);
			return -1;
		}
		if (!memchr(sh, 0, 24)) {
			fmt(err, errlen, "%s: section %u has an unterminated name", what, i);
			return -1;
		}
		memcpy(s->name, sh, SNAP_NAME_MAX + 1);
		s->instance = (uint32_t)le_load(sh + 24, 4);
		s->version = (uint32_t)le_load(sh + 28, 4);
		plen = le_load(sh + 32, 8);
		if (!name_ok(s->name) || s->version == 0 || le_load(sh + 44, 4) != 0) {
			fmt(err, errlen, "%s: section %u has a bad name, version or reserved field", what, i);
			return -1;
		}
		off += SNAP_SECTION_HEADER_SIZE;
		if (plen > r->len - off) {
			fmt(err, errlen, "%s: section '%s' %u runs past the end", what, s->name, s->instance);
			return -1;
		}
		s->payload = r->buf + off;
		s->len = (size_t)plen;
		if (le_load(sh + 40, 4) != crc(s->payload, s->len)) {
			fmt(err, errlen, "%s: section '%s' %u checksum mismatch", what, s->name, s->instance);
			return -1;
		}
		if (find(r, s->name, s->instance)) {   /* among the i sections before it */
			fmt(err, errlen, "%s: section '%s' %u appears twice", what, s->name, s->instance);
			return -1;
		}
		r->nsect = i + 1;
		off += plen;
	}
	if (off != r->len) {
		fmt(err, errlen, "%s: %zu bytes after the last section", what, (size_t)(r->len - off));
		return -1;
	}
	return 0;
}

static struct snap_reader *reader_take(uint8_t *buf, size_t len, const char *what, char *err, size_t errlen)
{
	struct snap_reader *r = calloc(1, sizeof(*r));

	if (!r) {
		free(buf);
		fmt(err, errlen, "%s: out of memory", what);
		return NULL;
	}
	r->buf = buf;
	r->len = len;
	if (index_sections(r, what, err, errlen)) {
		snap_reader_free(r);
		return NULL;
	}
	return r;
}

struct snap_reader *snap_reader_parse(const void *buf, size_t len, char *err, size_t errlen)
{
	uint8_t *copy;

	if (len > SNAP_MAX_FILE) {
		fmt(err, errlen, "VM state: %zu bytes, larger than the format allows", len);
		return NULL;
	}
	copy = malloc(len ? len : 1);
	if (!copy) {
		fmt(err, errlen, "VM state: out of memory");
		return NULL;
	}
	if (len)
		memcpy(copy, buf, len);
	return reader_take(copy, len, "VM state", err, errlen);
}

struct snap_reader *snap_reader_open(const char *path, char *err, size_t errlen)
{
	struct stat st;
	uint8_t *buf;
	size_t off = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		fmt(err, errlen, "cannot open VM-state file %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > (off_t)SNAP_MAX_FILE) {
		fmt(err, errlen, "VM-state file %s: not a regular file of at most %u bytes", path, SNAP_MAX_FILE);
		close(fd);
		return NULL;
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		fmt(err, errlen, "VM-state file %s: out of memory", path);
		close(fd);
		return NULL;
	}
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fmt(err, errlen, "cannot read VM-state file %s: %s", path, n < 0 ? strerror(errno) : "file shrank");
			free(buf);
			close(fd);
			return NULL;
		}
		off += (size_t)n;
	}
	close(fd);
	return reader_take(buf, off, path, err, errlen);
}

bool snap_has_section(const struct snap_reader *r, const char *name, uint32_t instance)
{
	return find(r, name, instance) != NULL;
}

unsigned snap_section_count(const struct snap_reader *r, const char *name)
{
	unsigned n = 0;

	for (uint32_t i = 0; i < r->nsect; i++)
		n += !strcmp(r->sect[i].name, name);
	return n;
}

int snap_section_open(struct snap_reader *r, const char *name, uint32_t instance, uint32_t max_version,
		      struct snap_cursor *c, char *err, size_t errlen)
{
	struct snap_section *s = find(r, name, instance);

	memset(c, 0, sizeof(*c));
	if (!s) {
		fmt(err, errlen, "VM state: section '%s' %u missing", name, instance);
		return -1;
	}
	if (s->version > max_version) {
		fmt(err, errlen, "VM state: section '%s' %u has version %u, this kite reads <= %u", name, instance,
		    s->version, max_version);
		return -1;
	}
	s->consumed = true;
	c->p = s->payload;
	c->len = s->len;
	c->version = s->version;
	c->instance = instance;
	snprintf(c->name, sizeof(c->name), "%s", s->name);
	return 0;
}

void snap_get(struct snap_cursor *c, void *p, size_t n)
{
	if (c->bad || n > c->len - c->off) {
		c->bad = true;
		memset(p, 0, n);
		return;
	}
	memcpy(p, c->p + c->off, n);
	c->off += n;
}

static uint64_t get_le(struct snap_cursor *c, unsigned n)
{
	uint8_t b[8];

	snap_get(c, b, n);
	return le_load(b, n);
}

uint8_t snap_get_u8(struct snap_cursor *c) { return (uint8_t)get_le(c, 1); }
uint16_t snap_get_u16(struct snap_cursor *c) { return (uint16_t)get_le(c, 2); }
uint32_t snap_get_u32(struct snap_cursor *c) { return (uint32_t)get_le(c, 4); }
uint64_t snap_get_u64(struct snap_cursor *c) { return get_le(c, 8); }

char *snap_get_str(struct snap_cursor *c, char *buf, size_t size)
{
	uint32_t n = snap_get_u32(c);

	if (size)
		buf[0] = 0;
	if (c->bad)
		return buf;
	if ((size_t)n >= size || n > c->len - c->off || memchr(c->p + c->off, 0, n)) {
		snap_cursor_fail(c, "string too long or with a NUL inside");
		return buf;
	}
	memcpy(buf, c->p + c->off, n);
	buf[n] = 0;
	c->off += n;
	return buf;
}

size_t snap_remaining(const struct snap_cursor *c)
{
	return c->len - c->off;
}

void snap_cursor_fail(struct snap_cursor *c, const char *why)
{
	if (!c->why)
		c->why = why;
	c->bad = true;
}

int snap_cursor_finish(struct snap_cursor *c, char *err, size_t errlen)
{
	if (c->bad) {
		fmt(err, errlen, "VM state: section '%s' %u: %s", c->name, c->instance,
		    c->why ? c->why : "shorter than its contents");
		return -1;
	}
	if (c->off != c->len) {
		fmt(err, errlen, "VM state: section '%s' %u: %zu unread bytes (written by another kite?)", c->name,
		    c->instance, c->len - c->off);
		return -1;
	}
	return 0;
}

const char *snap_reader_unconsumed(const struct snap_reader *r, uint32_t *instance)
{
	for (uint32_t i = 0; i < r->nsect; i++)
		if (!r->sect[i].consumed) {
			if (instance)
				*instance = r->sect[i].instance;
			return r->sect[i].name;
		}
	return NULL;
}
