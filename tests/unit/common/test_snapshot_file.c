/* SPDX-License-Identifier: MIT */
/* The VM-state file: a round trip of every put/get, and refusal of every corruption: each single
 * byte flipped, each truncation, a newer format or section version, short and long section reads,
 * duplicate sections, sections nobody consumed, writer misuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "kite/snapshot.h"

static uint8_t *build(size_t *len)
{
	struct snap_writer *w = snap_writer_new();
	const uint8_t *buf;
	uint8_t *copy;
	char err[256];

	assert_non_null(w);
	snap_section_begin(w, "vcpu", 0, 1);
	snap_put_u8(w, 0xab);
	snap_put_u16(w, 0xbeef);
	snap_put_u32(w, 0xdeadbeef);
	snap_put_u64(w, 0x0123456789abcdefull);
	snap_put_str(w, "virtio-blk");
	snap_put(w, "raw", 3);
	snap_section_end(w);
	snap_section_begin(w, "vcpu", 1, 2);
	snap_put_u32(w, 7);
	snap_section_end(w);
	snap_section_begin(w, "empty", 0, 1);
	snap_section_end(w);
	assert_int_equal(snap_writer_bytes(w, &buf, len, err, sizeof(err)), 0);
	copy = malloc(*len);
	memcpy(copy, buf, *len);
	snap_writer_free(w);
	return copy;
}

static void test_round_trip(void **state)
{
	size_t len;
	uint8_t *buf = build(&len);
	char err[256], s[32], raw[3];
	struct snap_reader *r;
	struct snap_cursor c;
	uint32_t inst;

	(void)state;
	r = snap_reader_parse(buf, len, err, sizeof(err));
	assert_non_null(r);
	assert_int_equal(snap_section_count(r, "vcpu"), 2);
	assert_true(snap_has_section(r, "empty", 0));
	assert_false(snap_has_section(r, "vcpu", 2));
	assert_int_equal(snap_section_open(r, "vcpu", 0, 1, &c, err, sizeof(err)), 0);
	assert_int_equal(snap_get_u8(&c), 0xab);
	assert_int_equal(snap_get_u16(&c), 0xbeef);
	assert_int_equal(snap_get_u32(&c), 0xdeadbeef);
	assert_true(snap_get_u64(&c) == 0x0123456789abcdefull);
	assert_string_equal(snap_get_str(&c, s, sizeof(s)), "virtio-blk");
	snap_get(&c, raw, 3);
	assert_memory_equal(raw, "raw", 3);
	assert_int_equal(snap_cursor_finish(&c, err, sizeof(err)), 0);
	/* a newer section version than the reader knows is refused; the one it knows is read */
	assert_int_equal(snap_section_open(r, "vcpu", 1, 1, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "version 2"));
	assert_string_equal(snap_reader_unconsumed(r, &inst), "vcpu");
	assert_int_equal(inst, 1);
	assert_int_equal(snap_section_open(r, "vcpu", 1, 2, &c, err, sizeof(err)), 0);
	assert_int_equal(c.version, 2);
	/* reading past the end zero-fills and fails at finish */
	assert_int_equal(snap_get_u32(&c), 7);
	assert_int_equal(snap_get_u64(&c), 0);
	assert_int_equal(snap_cursor_finish(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "'vcpu' 1"));
	assert_string_equal(snap_reader_unconsumed(r, &inst), "empty");
	assert_int_equal(snap_section_open(r, "empty", 0, 1, &c, err, sizeof(err)), 0);
	assert_null(snap_reader_unconsumed(r, &inst));
	/* missing section */
	assert_int_equal(snap_section_open(r, "pit", 0, 1, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "'pit' 0 missing"));
	snap_reader_free(r);
	free(buf);
}

static void test_unread_bytes_refused(void **state)
{
	size_t len;
	uint8_t *buf = build(&len);
	char err[256];
	struct snap_reader *r = snap_reader_parse(buf, len, err, sizeof(err));
	struct snap_cursor c;

	(void)state;
	assert_non_null(r);
	assert_int_equal(snap_section_open(r, "vcpu", 0, 1, &c, err, sizeof(err)), 0);
	snap_get_u8(&c);
	assert_int_equal(snap_cursor_finish(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "unread bytes"));
	snap_reader_free(r);
	free(buf);
}

static void test_every_flip_and_truncation_refused(void **state)
{
	size_t len;
	uint8_t *buf = build(&len);
	char err[256];

	(void)state;
	for (size_t i = 0; i < len; i++)
		for (unsigned bit = 0; bit < 8; bit++) {
			buf[i] ^= (uint8_t)(1u << bit);
			assert_null(snap_reader_parse(buf, len, err, sizeof(err)));
			buf[i] ^= (uint8_t)(1u << bit);
		}
	for (size_t n = 0; n < len; n++)
		assert_null(snap_reader_parse(buf, n, err, sizeof(err)));
	free(buf);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void reseal_header(uint8_t *buf)
{
	put32(buf + 36, (uint32_t)crc32(crc32(0L, Z_NULL, 0), buf, 36));
}

static void test_newer_format_named(void **state)
{
	size_t len;
	uint8_t *buf = build(&len);
	char err[256];

	(void)state;
	put32(buf + 8, SNAP_FORMAT_VERSION + 1);
	reseal_header(buf);
	assert_null(snap_reader_parse(buf, len, err, sizeof(err)));
	assert_non_null(strstr(err, "format version 2"));
	free(buf);
}

static void test_duplicate_section_refused(void **state)
{
	struct snap_writer *w = snap_writer_new();
	const uint8_t *buf;
	size_t len;
	char err[256];

	(void)state;
	for (int i = 0; i < 2; i++) {
		snap_section_begin(w, "pit", 0, 1);
		snap_put_u32(w, 1);
		snap_section_end(w);
	}
	assert_int_equal(snap_writer_bytes(w, &buf, &len, err, sizeof(err)), 0);
	assert_null(snap_reader_parse(buf, len, err, sizeof(err)));
	assert_non_null(strstr(err, "twice"));
	snap_writer_free(w);
}

static void test_writer_misuse(void **state)
{
	struct snap_writer *w = snap_writer_new();
	const uint8_t *buf;
	size_t len;
	char err[256];

	(void)state;
	snap_put_u32(w, 1);   /* outside a section */
	assert_int_equal(snap_writer_bytes(w, &buf, &len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "outside a section"));
	snap_writer_free(w);

	w = snap_writer_new();
	snap_section_begin(w, "Bad Name", 0, 1);
	assert_int_equal(snap_writer_bytes(w, &buf, &len, err, sizeof(err)), -1);
	snap_writer_free(w);

	w = snap_writer_new();
	snap_section_begin(w, "open", 0, 1);
	assert_int_equal(snap_writer_bytes(w, &buf, &len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not ended"));
	snap_writer_free(w);
}

static void test_file_save_and_open(void **state)
{
	char dir[] = "/tmp/kite-snapXXXXXX", path[64], err[256];
	struct snap_writer *w = snap_writer_new();
	struct snap_reader *r;
	struct snap_cursor c;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/vm.state", dir);
	snap_section_begin(w, "config", 0, 1);
	snap_put_str(w, "{\"vcpu_count\": 2}");
	snap_section_end(w);
	assert_int_equal(snap_writer_save(w, path, err, sizeof(err)), 0);
	snap_writer_free(w);
	r = snap_reader_open(path, err, sizeof(err));
	assert_non_null(r);
	assert_int_equal(snap_section_open(r, "config", 0, 1, &c, err, sizeof(err)), 0);
	char s[8];
	snap_get_str(&c, s, sizeof(s));   /* too long for the buffer: refused, not truncated */
	assert_int_equal(snap_cursor_finish(&c, err, sizeof(err)), -1);
	snap_reader_free(r);
	assert_null(snap_reader_open("/nonexistent/vm.state", err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/vm.state"));
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_unread_bytes_refused),
		cmocka_unit_test(test_every_flip_and_truncation_refused),
		cmocka_unit_test(test_newer_format_named),
		cmocka_unit_test(test_duplicate_section_refused),
		cmocka_unit_test(test_writer_misuse),
		cmocka_unit_test(test_file_save_and_open),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
