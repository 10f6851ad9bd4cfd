/* Decoding/validation of exec requests and encoding of results. */
#include "fcgi/api_json.h"
#include "util/error.h"
#include "util/utf8.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const struct fb_limits_config lim = {
    .default_timeout_s = 30,
    .max_timeout_s = 300,
    .max_body_bytes = 1 << 20,
    .max_output_bytes = 1 << 20,
    .max_batch = 3,
};

static int decode(const char *body, struct fb_exec_spec *spec)
{
	return fb_api_decode_exec(body, strlen(body), &lim, spec);
}

/* A body that must be refused with 400 and a message containing `why`. */
static void expect_400(const char *body, const char *why)
{
	struct fb_exec_spec spec;

	assert_int_equal(decode(body, &spec), 400);
	assert_non_null(strstr(fb_error_last(), why));
	assert_null(spec.code);
}

static void test_minimal_gets_defaults(void **state)
{
	struct fb_exec_spec spec;

	(void)state;
	assert_int_equal(decode("{\"code\": \"print(1)\"}", &spec), 0);
	assert_string_equal(spec.code, "print(1)");
	assert_int_equal(spec.code_len, 8);
	assert_string_equal(spec.language, "python");
	assert_true(spec.timeout_s == 30.0);
	fb_exec_spec_free(&spec);
}

static void test_all_fields_and_unknown_ignored(void **state)
{
	struct fb_exec_spec spec;

	(void)state;
	assert_int_equal(decode("{\"code\":\"x=1\",\"language\":\"python\",\"timeout_seconds\":2.5,"
				"\"sdk_version\":\"1.2\",\"env\":{}}",
				&spec),
			 0);
	assert_true(spec.timeout_s == 2.5);
	fb_exec_spec_free(&spec);
	assert_int_equal(
	    decode("{\"code\":\"\",\"language\":null,\"timeout_seconds\":null}", &spec), 0);
	assert_int_equal(spec.code_len, 0);
	assert_true(spec.timeout_s == 30.0);
	fb_exec_spec_free(&spec);
}

static void test_timeout_capped(void **state)
{
	struct fb_exec_spec spec;

	(void)state;
	assert_int_equal(decode("{\"code\":\"x\",\"timeout_seconds\":100000}", &spec), 0);
	assert_true(spec.timeout_s == 300.0);
	fb_exec_spec_free(&spec);
	assert_int_equal(decode("{\"code\":\"x\",\"timeout_seconds\":1e308}", &spec), 0);
	assert_true(spec.timeout_s == 300.0);
	fb_exec_spec_free(&spec);
	assert_int_equal(decode("{\"code\":\"x\",\"timeout_seconds\":7}", &spec), 0);
	assert_true(spec.timeout_s == 7.0);
	fb_exec_spec_free(&spec);
}

static void test_bad_requests(void **state)
{
	(void)state;
	expect_400("{\"code\": ", "invalid JSON");
	expect_400("not json", "invalid JSON");
	expect_400("", "invalid JSON");
	expect_400("[\"code\"]", "expected a JSON object");
	expect_400("{}", "missing required field \"code\"");
	expect_400("{\"language\":\"python\"}", "missing required field \"code\"");
	expect_400("{\"code\": 42}", "\"code\" must be a string");
	expect_400("{\"code\": null}", "\"code\" must be a string");
	expect_400("{\"code\": [\"x\"]}", "\"code\" must be a string");
	expect_400("{\"code\":\"x\",\"language\":3}", "\"language\" must be a string");
	/* Which languages exist is the templates' business (exec.c); only
	 * names that cannot be one are refused here. */
	expect_400("{\"code\":\"x\",\"language\":\"Ruby!\"}",
		   "language \"Ruby!\" is not supported");
	expect_400("{\"code\":\"x\",\"language\":\"\"}", "language \"\" is not supported");
	expect_400("{\"code\":\"x\",\"language\":\"a-very-long-language\"}", "is not supported");
	expect_400("{\"code\":\"x\",\"timeout_seconds\":\"10\"}", "must be a number");
	expect_400("{\"code\":\"x\",\"timeout_seconds\":true}", "must be a number");
	expect_400("{\"code\":\"x\",\"timeout_seconds\":-1}", "greater than 0");
	expect_400("{\"code\":\"x\",\"timeout_seconds\":0}", "greater than 0");
	expect_400("{\"code\":\"x\",\"timeout_seconds\":0.0}", "greater than 0");
	expect_400("{\"code\":\"x\",\"timeout_seconds\":-0.0}", "greater than 0");
	expect_400("{\"code\":\"x\",\"timeout_seconds\":-1e308}", "greater than 0");
	expect_400("{\"code\":\"x\",\"timeout_seconds\":1e400}", "invalid JSON");
	/* Not UTF-8, a lone surrogate: not JSON text. */
	expect_400("{\"code\":\"\xff\xfe\"}", "invalid JSON");
	expect_400("{\"code\":\"\xc3\"}", "invalid JSON");
	expect_400("{\"code\":\"\\ud800\"}", "invalid JSON");
	/* A NUL does not cut a field short: "python\0js" is not "python". */
	struct fb_exec_spec spec;
	assert_int_equal(decode("{\"code\":\"x\",\"language\":\"node\"}", &spec), 0);
	assert_string_equal(spec.language, "node");
	assert_false(spec.timeout_given);
	assert_int_equal(spec.target, -1);
	fb_exec_spec_free(&spec);
	expect_400("{\"code\":\"x\",\"language\":\"python\\u0000js\"}", "is not supported");
}

static void test_code_with_nul_kept(void **state)
{
	struct fb_exec_spec spec;

	(void)state;
	assert_int_equal(decode("{\"code\":\"a\\u0000b\\u0000\"}", &spec), 0);
	assert_int_equal(spec.code_len, 4);
	assert_memory_equal(spec.code, "a\0b\0", 5); /* and NUL-terminated */
	fb_exec_spec_free(&spec);
}

static void test_batch_ok(void **state)
{
	struct fb_exec_spec *specs;
	size_t n;
	const char *body =
	    "{\"executions\":[{\"code\":\"a\"},{\"code\":\"b\",\"timeout_seconds\":1}],"
	    "\"extra\":1}";

	(void)state;
	assert_int_equal(fb_api_decode_batch(body, strlen(body), &lim, &specs, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(specs[0].code, "a");
	assert_true(specs[0].timeout_s == 30.0);
	assert_string_equal(specs[1].code, "b");
	assert_true(specs[1].timeout_s == 1.0);
	fb_exec_specs_free(specs, n);
}

static void expect_batch_400(const char *body, const char *why)
{
	struct fb_exec_spec *specs;
	size_t n;

	assert_int_equal(fb_api_decode_batch(body, strlen(body), &lim, &specs, &n), 400);
	assert_non_null(strstr(fb_error_last(), why));
	assert_null(specs);
	assert_int_equal(n, 0);
}

static void test_batch_bad(void **state)
{
	(void)state;
	expect_batch_400("{", "invalid JSON");
	expect_batch_400("[]", "expected a JSON object");
	expect_batch_400("{}", "missing required field \"executions\"");
	expect_batch_400("{\"executions\":{}}", "must be an array");
	expect_batch_400("{\"executions\":[]}", "must not be empty");
	expect_batch_400("{\"executions\":[{\"code\":\"1\"},{\"code\":\"2\"},{\"code\":\"3\"},"
			 "{\"code\":\"4\"}]}",
			 "has 4 entries, the limit is 3");
	expect_batch_400("{\"executions\":[{\"code\":\"1\"},{\"code\":2}]}",
			 "executions[1]: \"code\" must be a string");
	expect_batch_400("{\"executions\":[\"print(1)\"]}",
			 "executions[0]: expected a JSON object");
}

static char *encode(const struct fb_exec_result *res, const struct fb_output *out)
{
	json_t *j = fb_api_result_json(res, out);

	assert_non_null(j);
	char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	assert_non_null(text);
	return text;
}

static void test_encode_result(void **state)
{
	struct fb_exec_result res = {.id = "abc",
				     .exit_code = 3,
				     .timed_out = true,
				     .fork_time_ms = 0.5,
				     .exec_time_ms = 2,
				     .total_time_ms = 2.5};
	char so[] = "hi\n", se[] = "err";
	struct fb_output out = {.data = {NULL, so, se}, .len = {0, 3, 3}};

	(void)state;
	char *text = encode(&res, &out);
	assert_string_equal(text, "{\"exec_time_ms\":2.0,\"exit_code\":3,\"fork_time_ms\":0.5,"
				  "\"id\":\"abc\",\"stderr\":\"err\",\"stdout\":\"hi\\n\","
				  "\"timed_out\":true,\"total_time_ms\":2.5,\"truncated\":false}");
	free(text);
	text = encode(&res, NULL); /* the SSE exit event: no bodies */
	assert_null(strstr(text, "stdout"));
	assert_null(strstr(text, "stderr"));
	assert_non_null(strstr(text, "\"exit_code\":3"));
	free(text);
}

static void test_encode_invalid_utf8(void **state)
{
	struct fb_exec_result res = {.id = "x"};
	/* invalid lead, valid euro sign, NUL, truncated sequence at the end */
	char so[] = "a\xff"
		    "b\xe2\x82\xac"
		    "c\0d\xe2\x82";
	struct fb_output out = {.data = {NULL, so, NULL}, .len = {0, sizeof(so) - 1, 0}};

	(void)state;
	char *text = encode(&res, &out);
	assert_non_null(strstr(text, "\"stdout\":\"a\xef\xbf\xbd"
				     "b\xe2\x82\xac"
				     "c\\u0000d"
				     "\xef\xbf\xbd\xef\xbf\xbd\""));
	assert_non_null(strstr(text, "\"stderr\":\"\""));
	/* And the whole document parses back. */
	json_error_t err;
	json_t *back = json_loads(text, JSON_ALLOW_NUL, &err);
	assert_non_null(back);
	json_decref(back);
	free(text);
}

static void check_sanitized(const char *in, size_t len, const char *want)
{
	size_t n;
	char *s = fb_utf8_sanitize(in, len, &n);

	assert_non_null(s);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(s, want, n);
	free(s);
}

#define FFFD "\xef\xbf\xbd"

static void test_utf8_rules(void **state)
{
	(void)state;
	check_sanitized("plain", 5, "plain");
	check_sanitized("\xc3\xa9", 2, "\xc3\xa9");		     /* é */
	check_sanitized("\xf0\x9f\x98\x80", 4, "\xf0\x9f\x98\x80");  /* emoji */
	check_sanitized("\xc0\xaf", 2, FFFD FFFD);		     /* overlong */
	check_sanitized("\xe0\x80\xaf", 3, FFFD FFFD FFFD);	     /* overlong */
	check_sanitized("\xed\xa0\x80", 3, FFFD FFFD FFFD);	     /* surrogate */
	check_sanitized("\xf4\x90\x80\x80", 4, FFFD FFFD FFFD FFFD); /* > U+10FFFF */
	check_sanitized("\x80x", 2, FFFD "x");			     /* lone continuation */
	check_sanitized("\xe2\x82", 2, FFFD FFFD);		     /* cut short */
}

static void test_utf8_complete_prefix(void **state)
{
	(void)state;
	assert_int_equal(fb_utf8_complete_prefix("abc", 3), 3);
	assert_int_equal(fb_utf8_complete_prefix("a\xe2\x82", 3), 1);
	assert_int_equal(fb_utf8_complete_prefix("a\xe2\x82\xac", 4), 4);
	assert_int_equal(fb_utf8_complete_prefix("a\xf0\x9f\x98", 4), 1);
	assert_int_equal(fb_utf8_complete_prefix("a\xc3", 2), 1);
	assert_int_equal(fb_utf8_complete_prefix("a\xff", 2), 2); /* never valid: not held */
	assert_int_equal(fb_utf8_complete_prefix("", 0), 0);
}

static void test_error_json(void **state)
{
	(void)state;
	json_t *j = fb_api_error_json("bad \xe2\x82"); /* cut mid-character */
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "error")), "bad " FFFD FFFD);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_minimal_gets_defaults),
	    cmocka_unit_test(test_all_fields_and_unknown_ignored),
	    cmocka_unit_test(test_timeout_capped),
	    cmocka_unit_test(test_bad_requests),
	    cmocka_unit_test(test_code_with_nul_kept),
	    cmocka_unit_test(test_batch_ok),
	    cmocka_unit_test(test_batch_bad),
	    cmocka_unit_test(test_encode_result),
	    cmocka_unit_test(test_encode_invalid_utf8),
	    cmocka_unit_test(test_utf8_rules),
	    cmocka_unit_test(test_utf8_complete_prefix),
	    cmocka_unit_test(test_error_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
