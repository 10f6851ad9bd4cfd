/* Request parameters, body limits, response and SSE framing. */
#include "fcgi/request.h"
#include "fcgi/response.h"
#include "fcgi/sse.h"
#include "memconn.h"
#include "util/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void parse(struct memconn *m, const char *const *params, struct fb_request *req)
{
	memconn_init(m, params, NULL);
	assert_int_equal(fb_request_parse(req, &m->conn), 0);
}

static void test_params(void **state)
{
	const char *const params[] = {"REQUEST_METHOD=POST",
				      "SCRIPT_NAME=/v1/exec",
				      "REQUEST_URI=/ignored?x=1",
				      "CONTENT_TYPE=application/json",
				      "CONTENT_LENGTH=12",
				      "HTTP_AUTHORIZATION=Bearer k1",
				      "HTTP_ACCEPT=text/html, text/event-stream;q=0.9",
				      "REMOTE_ADDR=10.0.0.7",
				      NULL};
	struct memconn m;
	struct fb_request req;

	(void)state;
	parse(&m, params, &req);
	assert_string_equal(req.method, "POST");
	assert_string_equal(req.path, "/v1/exec");
	assert_string_equal(req.content_type, "application/json");
	assert_true(req.has_length);
	assert_int_equal(req.content_length, 12);
	assert_string_equal(req.authorization, "Bearer k1");
	assert_string_equal(req.remote_addr, "10.0.0.7");
	assert_true(fb_request_wants_sse(&req));
}

static void test_path_sources(void **state)
{
	const char *const doc[] = {"DOCUMENT_URI=/v1/health", "REQUEST_URI=/other", NULL};
	const char *const uri[] = {"REQUEST_URI=/v1/metrics?format=text", NULL};
	const char *const info[] = {"SCRIPT_NAME=/forkbox", "PATH_INFO=/v1/exec/batch", NULL};
	const char *const prefixed[] = {"DOCUMENT_URI=/api/sandbox/v1/exec", NULL};
	const char *const none[] = {"REQUEST_METHOD=GET", NULL};
	struct memconn m;
	struct fb_request req;

	(void)state;
	parse(&m, doc, &req);
	assert_string_equal(req.path, "/v1/health");
	assert_false(fb_request_wants_sse(&req));
	assert_string_equal(req.method, "");
	assert_string_equal(req.remote_addr, "-");
	parse(&m, uri, &req);
	assert_string_equal(req.path, "/v1/metrics");
	parse(&m, info, &req);
	assert_string_equal(req.path, "/v1/exec/batch");
	parse(&m, prefixed, &req);
	assert_string_equal(req.path, "/v1/exec");
	parse(&m, none, &req);
	assert_string_equal(req.path, "");
	assert_false(req.has_length);
}

static void test_bad_params(void **state)
{
	const char *const neg[] = {"CONTENT_LENGTH=-5", NULL};
	const char *const junk[] = {"CONTENT_LENGTH=12abc", NULL};
	static char longpath[700];
	const char *const toolong[] = {longpath, NULL};
	struct memconn m;
	struct fb_request req;

	(void)state;
	memconn_init(&m, neg, NULL);
	assert_int_equal(fb_request_parse(&req, &m.conn), -1);
	assert_non_null(strstr(fb_error_last(), "CONTENT_LENGTH"));
	memconn_init(&m, junk, NULL);
	assert_int_equal(fb_request_parse(&req, &m.conn), -1);
	strcpy(longpath, "REQUEST_URI=/");
	memset(longpath + 13, 'a', 600);
	memconn_init(&m, toolong, NULL);
	assert_int_equal(fb_request_parse(&req, &m.conn), -1);
	assert_non_null(strstr(fb_error_last(), "longer than"));
}

static int read_body(const char *length, const char *body, size_t max, size_t chunk, char **out,
		     size_t *len)
{
	char param[64];
	const char *const params[] = {param, NULL};
	struct memconn m;
	struct fb_request req;

	snprintf(param, sizeof(param), "CONTENT_LENGTH=%s", length ? length : "");
	memconn_init(&m, params, body);
	m.read_chunk = chunk;
	assert_int_equal(fb_request_parse(&req, &m.conn), 0);
	int status = fb_request_read_body(&req, &m.conn, max, out, len);
	/* 413 from the header must not touch the body at all. */
	if (status == 413 && length && *length)
		assert_int_equal(m.body_pos, 0);
	return status;
}

static void test_body_limits(void **state)
{
	char *out;
	size_t len;

	(void)state;
	assert_int_equal(read_body("5", "hello", 5, 2, &out, &len), 0);
	assert_int_equal(len, 5);
	assert_string_equal(out, "hello");
	free(out);
	/* Refused from CONTENT_LENGTH before reading. */
	assert_int_equal(read_body("6", "hello!", 5, 0, &out, &len), 413);
	assert_null(out);
	assert_non_null(strstr(fb_error_last(), "larger than the limit"));
	/* No length: the stream itself is cut at the limit. */
	assert_int_equal(read_body(NULL, "hello world", 5, 3, &out, &len), 413);
	assert_null(out);
	assert_int_equal(read_body(NULL, "hello", 5, 1, &out, &len), 0);
	assert_string_equal(out, "hello");
	free(out);
	/* Body shorter / longer than announced. */
	assert_int_equal(read_body("10", "hello", 100, 0, &out, &len), 400);
	assert_non_null(strstr(fb_error_last(), "ended after 5 of 10"));
	assert_int_equal(read_body("3", "hello", 100, 0, &out, &len), 400);
	/* Empty body. */
	assert_int_equal(read_body("0", "", 100, 0, &out, &len), 0);
	assert_int_equal(len, 0);
	assert_string_equal(out, "");
	free(out);
}

static void test_response_framing(void **state)
{
	struct memconn m;

	(void)state;
	memconn_init(&m, NULL, NULL);
	assert_int_equal(fb_response_error(&m.conn, 405, "nope", "Allow: GET\r\n"), 0);
	assert_string_equal(m.out, "Status: 405 Method Not Allowed\r\n"
				   "Content-Type: application/json\r\n"
				   "Content-Length: 17\r\n"
				   "Allow: GET\r\n\r\n"
				   "{\"error\":\"nope\"}\n");
	assert_int_equal(memconn_status(&m), 405);
	memconn_free(&m);
}

static void test_sse_framing(void **state)
{
	struct memconn m;
	struct fb_sse sse;

	(void)state;
	memconn_init(&m, NULL, NULL);
	fb_sse_init(&sse, &m.conn);
	assert_int_equal(fb_sse_start(&sse), 0);
	assert_int_equal(m.flushes, 1);
	assert_non_null(strstr(m.out, "Status: 200 OK\r\nContent-Type: text/event-stream\r\n"));
	assert_null(strstr(m.out, "Content-Length"));
	assert_non_null(strstr(m.out, "X-Accel-Buffering: no\r\n"));
	size_t head = m.out_len;
	assert_int_equal(fb_sse_output(&sse, FB_STREAM_STDOUT, "line 1\nli", 9), 0);
	assert_int_equal(m.flushes, 2); /* flushed per event */
	/* A euro sign split across chunks is held back, then sent whole. */
	assert_int_equal(fb_sse_output(&sse, FB_STREAM_STDERR, "e\xe2\x82", 3), 0);
	assert_int_equal(fb_sse_output(&sse, FB_STREAM_STDERR, "\xac!", 2), 0);
	assert_int_equal(fb_sse_output(&sse, FB_STREAM_STDOUT, "\xc3", 1), 0); /* held */
	assert_int_equal(fb_sse_finish_output(&sse), 0);
	json_t *exit_data = json_pack("{s:i}", "exit_code", 0);
	assert_int_equal(fb_sse_event(&sse, "exit", exit_data), 0);
	json_decref(exit_data);
	assert_string_equal(m.out + head, "event: stdout\ndata: \"line 1\\nli\"\n\n"
					  "event: stderr\ndata: \"e\"\n\n"
					  "event: stderr\ndata: \"\xe2\x82\xac!\"\n\n"
					  "event: stdout\ndata: \"\xef\xbf\xbd\"\n\n"
					  "event: exit\ndata: {\"exit_code\":0}\n\n");
	memconn_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_params),	     cmocka_unit_test(test_path_sources),
	    cmocka_unit_test(test_bad_params),	     cmocka_unit_test(test_body_limits),
	    cmocka_unit_test(test_response_framing), cmocka_unit_test(test_sse_framing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
