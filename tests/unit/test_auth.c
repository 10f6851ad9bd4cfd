/* API keys: constant-time compare, keys file parsing, Bearer check, token
 * buckets (also across processes). */
#include "fcgi/auth.h"
#include "fcgi/ratelimit.h"
#include "util/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static void test_equal(void **state)
{
	(void)state;
	assert_true(fb_auth_equal("secret", 6, "secret", 6));
	assert_false(fb_auth_equal("secret", 6, "secreT", 6));
	assert_false(fb_auth_equal("Secret", 6, "secret", 6));
	assert_false(fb_auth_equal("secret", 6, "secret2", 7)); /* prefix */
	assert_false(fb_auth_equal("secret2", 7, "secret", 6));
	assert_false(fb_auth_equal("", 0, "x", 1));
	assert_true(fb_auth_equal("", 0, "", 0));
	/* Embedded NUL and high bytes count as bytes. */
	assert_false(fb_auth_equal("a\0b", 3, "a\0c", 3));
	assert_true(fb_auth_equal("\xff\x80", 2, "\xff\x80", 2));
	/* A key padded with NULs must not equal the shorter key. */
	assert_false(fb_auth_equal("ab\0", 3, "ab", 2));
}

static void expect_load_error(const char *json, const char *why)
{
	struct fb_auth auth;

	assert_int_equal(fb_auth_load_string(&auth, json, "keys.json"), -1);
	assert_non_null(strstr(fb_error_last(), why));
	assert_false(auth.enabled);
	assert_null(auth.keys);
}

static void test_load_errors(void **state)
{
	(void)state;
	expect_load_error("[\"a\", ", "keys.json:1:");
	expect_load_error("{\"keys\": [\"a\"]}", "expected a JSON array");
	expect_load_error("\"a\"", "keys.json:1:"); /* not a JSON text jansson accepts */
	expect_load_error("[\"a\", 3]", "entry 1 is not a string");
	expect_load_error("[\"a\", \"\"]", "entry 1 is an empty key");
	expect_load_error("[]", "no keys");
}

static void test_load_file(void **state)
{
	char path[] = "/tmp/fb-test-keys-XXXXXX";
	int fd = mkstemp(path);
	struct fb_auth auth;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "[\"k1\", \"k2\"]\n", 13), 13);
	close(fd);
	assert_int_equal(fb_auth_load(&auth, path), 0);
	assert_true(auth.enabled);
	assert_int_equal(auth.n_keys, 2);
	fb_auth_free(&auth);
	unlink(path);
	assert_int_equal(fb_auth_load(&auth, path), -1);
	assert_non_null(strstr(fb_error_last(), path));
	/* No file configured: auth off, everything allowed. */
	assert_int_equal(fb_auth_load(&auth, ""), 0);
	assert_false(auth.enabled);
	size_t idx = 99;
	assert_int_equal(fb_auth_check(&auth, NULL, &idx), 0);
	assert_int_equal(idx, 0);
}

static void test_check(void **state)
{
	struct fb_auth auth;
	size_t idx;

	(void)state;
	assert_int_equal(fb_auth_load_string(&auth, "[\"alpha\", \"beta\"]", "k"), 0);
	assert_int_equal(fb_auth_check(&auth, "Bearer beta", &idx), 0);
	assert_int_equal(idx, 1);
	assert_int_equal(fb_auth_check(&auth, "bearer alpha", &idx), 0);
	assert_int_equal(idx, 0);
	assert_int_equal(fb_auth_check(&auth, NULL, &idx), 401);
	assert_non_null(strstr(fb_error_last(), "missing API key"));
	assert_int_equal(fb_auth_check(&auth, "", &idx), 401);
	assert_int_equal(fb_auth_check(&auth, "Basic YWxwaGE6", &idx), 401);
	assert_non_null(strstr(fb_error_last(), "scheme"));
	assert_int_equal(fb_auth_check(&auth, "Bearer alph", &idx), 401);
	assert_non_null(strstr(fb_error_last(), "invalid API key"));
	assert_int_equal(fb_auth_check(&auth, "Bearer alphaa", &idx), 401);
	assert_int_equal(fb_auth_check(&auth, "Bearer ", &idx), 401);
	fb_auth_free(&auth);
}

static void test_bucket(void **state)
{
	struct fb_bucket b = {0};

	(void)state;
	/* Burst of 3 at t=10, then empty. */
	assert_true(fb_bucket_take(&b, 10.0, 3, 3));
	assert_true(fb_bucket_take(&b, 10.0, 3, 3));
	assert_true(fb_bucket_take(&b, 10.0, 3, 3));
	assert_false(fb_bucket_take(&b, 10.0, 3, 3));
	/* 1/3 s later one token is back, not two. */
	assert_true(fb_bucket_take(&b, 10.0 + 1.0 / 3 + 1e-9, 3, 3));
	assert_false(fb_bucket_take(&b, 10.0 + 1.0 / 3 + 1e-9, 3, 3));
	/* A long pause refills only up to the burst. */
	assert_true(fb_bucket_take(&b, 100.0, 3, 3));
	assert_true(fb_bucket_take(&b, 100.0, 3, 3));
	assert_true(fb_bucket_take(&b, 100.0, 3, 3));
	assert_false(fb_bucket_take(&b, 100.0, 3, 3));
	/* Time going backwards never adds tokens. */
	assert_false(fb_bucket_take(&b, 50.0, 3, 3));
}

static void test_shared_table(void **state)
{
	struct fb_ratelimit *rl = fb_ratelimit_create(2, 5);

	(void)state;
	assert_non_null(rl);
	/* A child process spends key 0's whole burst... */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int ok = 0;
		for (int i = 0; i < 5; i++)
			ok += fb_ratelimit_allow(rl, 0, 1000.0);
		_exit(ok == 5 ? 0 : 1);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* ...so the parent sees it empty, while key 1 is untouched. */
	assert_false(fb_ratelimit_allow(rl, 0, 1000.0));
	assert_true(fb_ratelimit_allow(rl, 1, 1000.0));
	/* Out-of-range index and no table: allowed. */
	assert_true(fb_ratelimit_allow(rl, 2, 1000.0));
	assert_true(fb_ratelimit_allow(NULL, 0, 1000.0));
	fb_ratelimit_destroy(rl);
	/* Rate 0 = unlimited. */
	rl = fb_ratelimit_create(1, 0);
	assert_non_null(rl);
	for (int i = 0; i < 100; i++)
		assert_true(fb_ratelimit_allow(rl, 0, 1.0));
	fb_ratelimit_destroy(rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_equal),     cmocka_unit_test(test_load_errors),
	    cmocka_unit_test(test_load_file), cmocka_unit_test(test_check),
	    cmocka_unit_test(test_bucket),    cmocka_unit_test(test_shared_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
