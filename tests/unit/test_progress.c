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

/* A relay writing into memory: the text it printed is out after finish(). */
struct capture {
	char *out;
	size_t len;
	FILE *to;
	struct fb_progress *p;
};

static FILE *start(struct capture *c, const char *prefix, unsigned repeat_s)
{
	c->out = NULL;
	c->to = open_memstream(&c->out, &c->len);
	assert_non_null(c->to);
	c->p = fb_progress_start(prefix, c->to, repeat_s);
	assert_non_null(c->p);
	return fb_progress_stream(c->p);
}

static void finish(struct capture *c)
{
	fb_progress_stop(c->p);
	fclose(c->to);
}

static void test_lines_get_the_elapsed_time(void **state)
{
	(void)state;
	struct capture c;
	FILE *s = start(&c, "step", 60);
	fprintf(s, "booting %s", "kernel");
	fflush(s);
	fprintf(s, " vmlinux\nready after %.1f s\n", 1.5);
	finish(&c);
	assert_string_equal(c.out, "step: [   0s] booting kernel vmlinux\n"
				   "step: [   0s] ready after 1.5 s\n");
	free(c.out);
}

/* Repeated every second here; 2.5 s leave room for a slow scheduler. */
static void test_silence_repeats_the_last_line(void **state)
{
	(void)state;
	struct capture c;
	fputs("waiting for the agent\n", start(&c, "template", 1));
	nap_ms(2500);
	finish(&c);
	assert_non_null(strstr(c.out, "template: [   0s] waiting for the agent\n"));
	assert_non_null(strstr(c.out, "s] waiting for the agent (still)\n"));
	free(c.out);
}

static void test_nothing_written_nothing_repeated(void **state)
{
	(void)state;
	struct capture c;
	start(&c, "template", 1);
	nap_ms(1200);
	finish(&c);
	assert_int_equal(c.len, 0);
	free(c.out);
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
