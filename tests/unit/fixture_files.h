/* Writing fixture files from unit tests: a failed write fails the test. */
#ifndef FORKBOX_FIXTURE_FILES_H
#define FORKBOX_FIXTURE_FILES_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

/* DIR/NAME (or NAME alone when DIR is NULL) holding TEXT. */
static inline void test_write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	snprintf(path, sizeof(path), "%s%s%s", dir ? dir : "", dir ? "/" : "", name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

#endif
