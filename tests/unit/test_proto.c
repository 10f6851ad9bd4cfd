/* Frame encoding/decoding and the incremental reader (src/proto). */
#include "proto/frame.h"
#include "proto/reader.h"

#include "util/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void sample_exec(struct fb_exec_header *e)
{
	memset(e, 0, sizeof(*e));
	for (unsigned i = 0; i < FB_PROTO_ENTROPY_LEN; i++)
		e->entropy[i] = (uint8_t)(i * 7 + 1);
	e->realtime_sec = 1795000000;
	e->realtime_nsec = 123456789;
	e->time_limit_ms = 5000;
	e->code_len = 12345;
	strcpy(e->language, "python");
}

static void test_header_round_trip(void **state)
{
	(void)state;
	const uint32_t types[] = {FB_FRAME_STDOUT, FB_FRAME_STDERR, FB_FRAME_ERROR};
	for (size_t i = 0; i < 3; i++) {
		uint8_t buf[FB_FRAME_HEADER_SIZE];
		fb_frame_header_encode(buf, types[i], 77);
		struct fb_frame_header h;
		assert_int_equal(fb_frame_header_decode(buf, FB_FRAMES_TO_HOST, &h), 0);
		assert_int_equal(h.type, types[i]);
		assert_int_equal(h.len, 77);
	}
	uint8_t buf[FB_FRAME_HEADER_SIZE];
	fb_frame_header_encode(buf, FB_FRAME_CODE, FB_PROTO_MAX_CODE_CHUNK);
	struct fb_frame_header h;
	assert_int_equal(fb_frame_header_decode(buf, FB_FRAMES_TO_GUEST, &h), 0);
	assert_int_equal(h.len, FB_PROTO_MAX_CODE_CHUNK);
	/* Little-endian on the wire, whatever the host. */
	assert_int_equal(buf[0], 0x46);
	assert_int_equal(buf[3], 0x01);
	assert_int_equal(buf[4], FB_FRAME_CODE);
}

static void expect_header_rejected(uint32_t magic, uint32_t type, uint32_t len, uint32_t allowed,
				   const char *why)
{
	uint8_t buf[FB_FRAME_HEADER_SIZE];
	put32(buf, magic);
	put32(buf + 4, type);
	put32(buf + 8, len);
	struct fb_frame_header h;
	fb_error_clear();
	assert_int_equal(fb_frame_header_decode(buf, allowed, &h), -1);
	assert_non_null(strstr(fb_error_last(), why));
}

static void test_header_rejects(void **state)
{
	(void)state;
	expect_header_rejected(0x01584247, FB_FRAME_STDOUT, 1, FB_FRAMES_TO_HOST, "magic");
	expect_header_rejected(0x02584246, FB_FRAME_STDOUT, 1, FB_FRAMES_TO_HOST, "magic");
	/* A direction's types only. */
	expect_header_rejected(FB_PROTO_MAGIC, FB_FRAME_EXEC, 100, FB_FRAMES_TO_HOST, "type");
	expect_header_rejected(FB_PROTO_MAGIC, FB_FRAME_STDOUT, 1, FB_FRAMES_TO_GUEST, "type");
	expect_header_rejected(FB_PROTO_MAGIC, 3, 1, 0xffffffffu, "type");
	expect_header_rejected(FB_PROTO_MAGIC, 99, 1, 0xffffffffu, "type");
	expect_header_rejected(FB_PROTO_MAGIC, 0xffffffffu, 1, 0xffffffffu, "type");
	/* Lengths per type. */
	expect_header_rejected(FB_PROTO_MAGIC, FB_FRAME_STDOUT, 0, FB_FRAMES_TO_HOST, "length");
	expect_header_rejected(FB_PROTO_MAGIC, FB_FRAME_STDOUT, FB_PROTO_MAX_OUTPUT_CHUNK + 1,
			       FB_FRAMES_TO_HOST, "length");
	expect_header_rejected(FB_PROTO_MAGIC, FB_FRAME_STDERR, 0xffffffffu, FB_FRAMES_TO_HOST,
			       "length");
	expect_header_rejected(FB_PROTO_MAGIC, FB_FRAME_EXIT, 23, FB_FRAMES_TO_HOST, "length");
	expect_header_rejected(FB_PROTO_MAGIC, FB_FRAME_EXIT, 25, FB_FRAMES_TO_HOST, "length");
	expect_header_rejected(FB_PROTO_MAGIC, FB_FRAME_ERROR, FB_PROTO_MAX_ERROR + 1,
			       FB_FRAMES_TO_HOST, "length");
	expect_header_rejected(FB_PROTO_MAGIC, FB_FRAME_CODE, FB_PROTO_MAX_CODE_CHUNK + 1,
			       FB_FRAMES_TO_GUEST, "length");
	expect_header_rejected(FB_PROTO_MAGIC, FB_FRAME_EXEC, FB_PROTO_EXEC_FIXED,
			       FB_FRAMES_TO_GUEST, "length");
}

static void test_exec_round_trip(void **state)
{
	(void)state;
	struct fb_exec_header e, d;
	sample_exec(&e);
	uint8_t buf[FB_PROTO_EXEC_FIXED + FB_PROTO_MAX_LANGUAGE];
	int len = fb_exec_encode(buf, sizeof(buf), &e);
	assert_int_equal(len, FB_PROTO_EXEC_FIXED + 6);
	assert_int_equal(fb_exec_decode(buf, (size_t)len, &d), 0);
	assert_memory_equal(d.entropy, e.entropy, FB_PROTO_ENTROPY_LEN);
	assert_int_equal(d.realtime_sec, e.realtime_sec);
	assert_int_equal(d.realtime_nsec, e.realtime_nsec);
	assert_int_equal(d.time_limit_ms, e.time_limit_ms);
	assert_int_equal(d.code_len, e.code_len);
	assert_string_equal(d.language, "python");
}

static void test_exec_encode_rejects(void **state)
{
	(void)state;
	uint8_t buf[FB_PROTO_EXEC_FIXED + FB_PROTO_MAX_LANGUAGE];
	struct fb_exec_header e;
	sample_exec(&e);
	assert_int_equal(fb_exec_encode(buf, FB_PROTO_EXEC_FIXED + 5, &e), -1);
	strcpy(e.language, "Python");
	assert_int_equal(fb_exec_encode(buf, sizeof(buf), &e), -1);
	e.language[0] = '\0';
	assert_int_equal(fb_exec_encode(buf, sizeof(buf), &e), -1);
	sample_exec(&e);
	e.time_limit_ms = 0;
	assert_int_equal(fb_exec_encode(buf, sizeof(buf), &e), -1);
	sample_exec(&e);
	e.code_len = FB_PROTO_MAX_CODE + 1;
	assert_int_equal(fb_exec_encode(buf, sizeof(buf), &e), -1);
	sample_exec(&e);
	e.realtime_nsec = 1000000000u;
	assert_int_equal(fb_exec_encode(buf, sizeof(buf), &e), -1);
}

static void test_exec_decode_rejects(void **state)
{
	(void)state;
	struct fb_exec_header e, d;
	sample_exec(&e);
	uint8_t buf[FB_PROTO_EXEC_FIXED + FB_PROTO_MAX_LANGUAGE + 8];
	int len = fb_exec_encode(buf, sizeof(buf), &e);
	assert_true(len > 0);
	/* Truncated, or longer than the language length says. */
	assert_int_equal(fb_exec_decode(buf, (size_t)len - 1, &d), -1);
	assert_int_equal(fb_exec_decode(buf, 10, &d), -1);
	assert_int_equal(fb_exec_decode(buf, (size_t)len + 1, &d), -1);
	/* Language length field lying. */
	uint8_t bad[sizeof(buf)];
	memcpy(bad, buf, sizeof(buf));
	put32(bad + 84, 0xffffffffu);
	assert_int_equal(fb_exec_decode(bad, (size_t)len, &d), -1);
	/* Field values out of range. */
	memcpy(bad, buf, sizeof(buf));
	put32(bad + 72, 1000000000u);
	assert_int_equal(fb_exec_decode(bad, (size_t)len, &d), -1);
	memcpy(bad, buf, sizeof(buf));
	put32(bad + 76, FB_PROTO_MAX_TIME_LIMIT_MS + 1);
	assert_int_equal(fb_exec_decode(bad, (size_t)len, &d), -1);
	memcpy(bad, buf, sizeof(buf));
	put32(bad + 80, FB_PROTO_MAX_CODE + 1);
	assert_int_equal(fb_exec_decode(bad, (size_t)len, &d), -1);
	memcpy(bad, buf, sizeof(buf));
	bad[FB_PROTO_EXEC_FIXED + 2] = '/';
	assert_int_equal(fb_exec_decode(bad, (size_t)len, &d), -1);
	memcpy(bad, buf, sizeof(buf));
	bad[71] = 0x80; /* negative seconds */
	assert_int_equal(fb_exec_decode(bad, (size_t)len, &d), -1);
}

static void test_exit_round_trip(void **state)
{
	(void)state;
	const struct fb_exit_info cases[] = {
	    {0, 0, 0, 1},
	    {3, 0, 0, 123456789012ull},
	    {137, 9, FB_EXIT_TIMED_OUT, 5},
	    {255, 0, 0, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t buf[FB_PROTO_EXIT_LEN];
		struct fb_exit_info d;
		fb_exit_encode(buf, &cases[i]);
		assert_int_equal(fb_exit_decode(buf, sizeof(buf), &d), 0);
		assert_int_equal(d.exit_code, cases[i].exit_code);
		assert_int_equal(d.term_signal, cases[i].term_signal);
		assert_int_equal(d.flags, cases[i].flags);
		assert_int_equal(d.run_time_ns, cases[i].run_time_ns);
	}
}

static void test_exit_rejects(void **state)
{
	(void)state;
	const struct fb_exit_info bad[] = {
	    {256, 0, 0, 0}, {-1, 0, 0, 0},  {137, 65, 0, 0},
	    {1, 9, 0, 0},   {0, 0, 0x2, 0}, {0, -3, 0, 0},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t buf[FB_PROTO_EXIT_LEN];
		struct fb_exit_info d;
		fb_exit_encode(buf, &bad[i]);
		assert_int_equal(fb_exit_decode(buf, sizeof(buf), &d), -1);
	}
	uint8_t buf[FB_PROTO_EXIT_LEN + 1];
	struct fb_exit_info ok = {0, 0, 0, 0}, d;
	fb_exit_encode(buf, &ok);
	assert_int_equal(fb_exit_decode(buf, FB_PROTO_EXIT_LEN - 1, &d), -1);
	assert_int_equal(fb_exit_decode(buf, FB_PROTO_EXIT_LEN + 1, &d), -1);
	buf[12] = 1; /* reserved word */
	assert_int_equal(fb_exit_decode(buf, FB_PROTO_EXIT_LEN, &d), -1);
}

static void test_error_message(void **state)
{
	(void)state;
	char out[16];
	const uint8_t msg[] = "bad\n\x1b[31mthing";
	assert_int_equal(fb_error_msg_decode(msg, sizeof(msg) - 1, out, sizeof(out)), 0);
	assert_string_equal(out, "bad??[31mthing");
	const uint8_t longmsg[40] = "0123456789012345678901234567890123456789";
	assert_int_equal(fb_error_msg_decode(longmsg, sizeof(longmsg), out, sizeof(out)), 0);
	assert_int_equal(strlen(out), sizeof(out) - 1);
	assert_int_equal(fb_error_msg_decode(msg, 0, out, sizeof(out)), -1);
	assert_int_equal(fb_error_msg_decode(msg, FB_PROTO_MAX_ERROR + 1, out, sizeof(out)), -1);
}

static size_t make_frame(uint8_t *buf, uint32_t type, const char *payload)
{
	size_t len = strlen(payload);
	fb_frame_header_encode(buf, type, (uint32_t)len);
	memcpy(buf + FB_FRAME_HEADER_SIZE, payload, len);
	return FB_FRAME_HEADER_SIZE + len;
}

static void test_reader_byte_by_byte(void **state)
{
	(void)state;
	uint8_t stream[256];
	size_t len = make_frame(stream, FB_FRAME_STDOUT, "hello");
	len += make_frame(stream + len, FB_FRAME_STDERR, "world!");
	struct fb_frame_reader r;
	assert_int_equal(fb_reader_init(&r, FB_FRAMES_TO_HOST, FB_PROTO_MAX_TO_HOST), 0);
	int frames = 0;
	for (size_t i = 0; i < len; i++) {
		assert_int_equal(fb_reader_feed(&r, stream + i, 1), 0);
		struct fb_frame_header h;
		const uint8_t *p;
		int got = fb_reader_next(&r, &h, &p);
		assert_true(got >= 0);
		if (got == 1) {
			frames++;
			assert_int_equal(h.type, frames == 1 ? FB_FRAME_STDOUT : FB_FRAME_STDERR);
			assert_memory_equal(p, frames == 1 ? "hello" : "world!", h.len);
		}
		assert_int_equal(fb_reader_partial(&r), got == 0);
	}
	assert_int_equal(frames, 2);
	fb_reader_free(&r);
}

static void test_reader_two_frames_at_once(void **state)
{
	(void)state;
	uint8_t stream[256];
	size_t len = make_frame(stream, FB_FRAME_STDOUT, "a");
	len += make_frame(stream + len, FB_FRAME_ERROR, "no");
	struct fb_frame_reader r;
	assert_int_equal(fb_reader_init(&r, FB_FRAMES_TO_HOST, FB_PROTO_MAX_TO_HOST), 0);
	assert_int_equal(fb_reader_feed(&r, stream, len), 0);
	struct fb_frame_header h;
	const uint8_t *p;
	assert_int_equal(fb_reader_next(&r, &h, &p), 1);
	assert_int_equal(h.type, FB_FRAME_STDOUT);
	assert_int_equal(fb_reader_next(&r, &h, &p), 1);
	assert_int_equal(h.type, FB_FRAME_ERROR);
	assert_memory_equal(p, "no", 2);
	assert_int_equal(fb_reader_next(&r, &h, &p), 0);
	assert_false(fb_reader_partial(&r));
	fb_reader_free(&r);
}

static void test_reader_rejects_header_early(void **state)
{
	(void)state;
	struct fb_frame_reader r;
	assert_int_equal(fb_reader_init(&r, FB_FRAMES_TO_HOST, FB_PROTO_MAX_TO_HOST), 0);
	uint8_t hdr[FB_FRAME_HEADER_SIZE];
	/* An oversized length is refused from the header alone. */
	fb_frame_header_encode(hdr, FB_FRAME_STDOUT, 50u << 20);
	assert_int_equal(fb_reader_feed(&r, hdr, sizeof(hdr)), 0);
	struct fb_frame_header h;
	const uint8_t *p;
	assert_int_equal(fb_reader_next(&r, &h, &p), -1);
	fb_reader_free(&r);

	assert_int_equal(fb_reader_init(&r, FB_FRAMES_TO_HOST, FB_PROTO_MAX_TO_HOST), 0);
	const uint8_t garbage[] = "HTTP/1.1 200 OK\r\n";
	assert_int_equal(fb_reader_feed(&r, garbage, sizeof(garbage)), 0);
	assert_int_equal(fb_reader_next(&r, &h, &p), -1);
	assert_non_null(strstr(fb_error_last(), "magic"));
	fb_reader_free(&r);
}

static void test_reader_small_buffer(void **state)
{
	(void)state;
	struct fb_frame_reader r;
	/* Sized below a type's limit: the frame is refused, never overflows. */
	assert_int_equal(fb_reader_init(&r, FB_FRAMES_TO_HOST, 4), 0);
	uint8_t frame[64];
	size_t len = make_frame(frame, FB_FRAME_STDOUT, "too long");
	assert_int_equal(fb_reader_feed(&r, frame, FB_FRAME_HEADER_SIZE), 0);
	struct fb_frame_header h;
	const uint8_t *p;
	assert_int_equal(fb_reader_next(&r, &h, &p), -1);
	assert_int_equal(fb_reader_feed(&r, frame, len), -1);
	fb_reader_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_header_round_trip),
	    cmocka_unit_test(test_header_rejects),
	    cmocka_unit_test(test_exec_round_trip),
	    cmocka_unit_test(test_exec_encode_rejects),
	    cmocka_unit_test(test_exec_decode_rejects),
	    cmocka_unit_test(test_exit_round_trip),
	    cmocka_unit_test(test_exit_rejects),
	    cmocka_unit_test(test_error_message),
	    cmocka_unit_test(test_reader_byte_by_byte),
	    cmocka_unit_test(test_reader_two_frames_at_once),
	    cmocka_unit_test(test_reader_rejects_header_early),
	    cmocka_unit_test(test_reader_small_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
