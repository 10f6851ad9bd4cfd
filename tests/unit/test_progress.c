/* Unit tests for src/cli/progress.c: lines get the elapsed time, partial
 * writes are assembled, and the last line is repeated while nothing new
 * arrives. */
#include "cli/progress.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

static void nap_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) != 0)
		;
}

static void test_lines_get_the_elapsed_time(void **state)
{
	(void)state;
	char *out = NULL;
	size_t len = 0;
	FILE *to = open_memstream(&out, &len);
	struct fb_progress *p = fb_progress_start("step", to, 60);
	assert_non_null(p);
	FILE *s = fb_progress_stream(p);
	fprintf(s, "booting %s", "kernel");
	fflush(s);
	fprintf(s, " vmlinux\nready after %.1f s\n", 1.5);
	fb_progress_stop(p);
	fclose(to);
	assert_string_equal(out, "step: [   0s] booting kernel vmlinux\n"
				 "step: [   0s] ready after 1.5 s\n");
	free(out);
}

/* Repeated every second here; 2.5 s leave room for a slow scheduler. */
static void test_silence_repeats_the_last_line(void **state)
{
	(void)state;
	char *out = NULL;
	size_t len = 0;
	FILE *to = open_memstream(&out, &len);
	struct fb_progress *p = fb_progress_start("template", to, 1);
	assert_non_null(p);
	fputs("waiting for the agent\n", fb_progress_stream(p));
	nap_ms(2500);
	fb_progress_stop(p);
	fclose(to);
	assert_non_null(strstr(out, "template: [   0s] waiting for the agent\n"));
	assert_non_null(strstr(out, "s] waiting for the agent (still)\n"));
	free(out);
}

static void test_nothing_written_nothing_repeated(void **state)
{
	(void)state;
	char *out = NULL;
	size_t len = 0;
	FILE *to = open_memstream(&out, &len);
	struct fb_progress *p = fb_progress_start("template", to, 1);
	assert_non_null(p);
	nap_ms(1200);
	fb_progress_stop(p);
	fclose(to);
	assert_int_equal(len, 0);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lines_get_the_elapsed_time),
	    cmocka_unit_test(test_silence_repeats_the_last_line),
	    cmocka_unit_test(test_nothing_written_nothing_repeated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
