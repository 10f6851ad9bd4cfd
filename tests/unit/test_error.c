/* Unit tests for src/util/error.c: formatting, errno text, prefixes,
 * truncation and per-thread storage. */
#include "util/error.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void test_formats_message(void **state)
{
	(void)state;
	assert_int_equal(fb_error("vCPU %d: bad exit %s", 3, "reason"), -1);
	assert_string_equal(fb_error_last(), "vCPU 3: bad exit reason");
}

static void test_errno_text_and_errno_kept(void **state)
{
	(void)state;
	errno = ENOENT;
	assert_int_equal(fb_error_errno("open %s", "/dev/kvm"), -1);
	assert_string_equal(fb_error_last(), "open /dev/kvm: No such file or directory");
	assert_int_equal(errno, ENOENT);
	errno = EINVAL;
	fb_error_errno("KVM_SET_SREGS");
	assert_string_equal(fb_error_last(), "KVM_SET_SREGS: Invalid argument");
}

static void test_prefix_adds_context(void **state)
{
	(void)state;
	errno = EINVAL;
	fb_error_errno("KVM_SET_SREGS");
	assert_int_equal(fb_error_prefix("restore vCPU %d", 0), -1);
	assert_string_equal(fb_error_last(), "restore vCPU 0: KVM_SET_SREGS: Invalid argument");
	fb_error_prefix("fork");
	assert_string_equal(fb_error_last(),
			    "fork: restore vCPU 0: KVM_SET_SREGS: Invalid argument");
}

static void test_clear(void **state)
{
	(void)state;
	fb_error("something");
	fb_error_clear();
	assert_string_equal(fb_error_last(), "");
}

static void test_long_message_truncated(void **state)
{
	(void)state;
	char big[3 * FB_ERROR_MAX];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	fb_error("%s", big);
	assert_int_equal(strlen(fb_error_last()), FB_ERROR_MAX - 1);
	assert_int_equal(fb_error_last()[0], 'x');
}

static void test_prefix_keeps_start_when_truncating(void **state)
{
	(void)state;
	char big[FB_ERROR_MAX];
	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	fb_error("%s", big);
	fb_error_prefix("context");
	const char *msg = fb_error_last();
	assert_int_equal(strlen(msg), FB_ERROR_MAX - 1);
	assert_memory_equal(msg, "context: yyy", 12);
}

static void test_errno_text_truncated(void **state)
{
	(void)state;
	char big[FB_ERROR_MAX + 100];
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	errno = EACCES;
	fb_error_errno("%s", big);
	assert_int_equal(strlen(fb_error_last()), FB_ERROR_MAX - 1);
	assert_null(strstr(fb_error_last(), "Permission"));
}

static void *other_thread(void *arg)
{
	(void)arg;
	uintptr_t was_empty = fb_error_last()[0] == '\0';
	fb_error("from the other thread");
	return (void *)was_empty;
}

static void test_per_thread(void **state)
{
	(void)state;
	pthread_t t;
	void *empty_there = NULL;
	fb_error("main thread");
	assert_int_equal(pthread_create(&t, NULL, other_thread, NULL), 0);
	assert_int_equal(pthread_join(t, &empty_there), 0);
	assert_true(empty_there != NULL);
	assert_string_equal(fb_error_last(), "main thread");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_formats_message),
	    cmocka_unit_test(test_errno_text_and_errno_kept),
	    cmocka_unit_test(test_prefix_adds_context),
	    cmocka_unit_test(test_clear),
	    cmocka_unit_test(test_long_message_truncated),
	    cmocka_unit_test(test_prefix_keeps_start_when_truncating),
	    cmocka_unit_test(test_errno_text_truncated),
	    cmocka_unit_test(test_per_thread),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
