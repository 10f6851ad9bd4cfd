/* The guest agent's session logic on the host, no VM: the host client
 * (fb_agent_run) talks over a socketpair to `forkbox-agent --serve-fd`,
 * which runs the real worker.py under /usr/bin/python3 (with numpy), and
 * worker.js under /usr/bin/node with Node's reseed addon. The worker's
 * exit path has its own tests in test_worker_exit.c. */
#include "agent_harness.h"

#include "util/error.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

static void test_print(void **state)
{
	(void)state;
	struct run r;
	run_code(&r, "print(1+1)\n");
	assert_exit(&r, 0, 0);
	assert_string_equal(r.cap.data[1], "2\n");
	assert_string_equal(r.cap.data[2], "");
	assert_false(r.out.timed_out);
	assert_true(r.out.guest_run_time_ns > 0);
	run_free(&r);
}

static void test_stderr_separate(void **state)
{
	(void)state;
	struct run r;
	run_code(&r, "import sys\nprint('out')\nprint('err', file=sys.stderr)\n");
	assert_exit(&r, 0, 0);
	assert_string_equal(r.cap.data[1], "out\n");
	assert_string_equal(r.cap.data[2], "err\n");
	assert_int_equal(r.out.stdout_bytes, 4);
	assert_int_equal(r.out.stderr_bytes, 4);
	run_free(&r);
}

static void test_main_guard(void **state)
{
	(void)state;
	struct run r;
	run_code(&r, "import sys\nif __name__ == '__main__':\n    print(sys.argv, __file__)\n");
	assert_exit(&r, 0, 0);
	assert_string_equal(r.cap.data[1], "['main.py'] main.py\n");
	run_free(&r);
}

static void test_exception(void **state)
{
	(void)state;
	struct run r;
	run_code(&r, "x = 1\nraise ValueError('boom')\n");
	assert_exit(&r, 1, 0);
	assert_non_null(strstr(r.cap.data[2], "Traceback (most recent call last)"));
	assert_non_null(strstr(r.cap.data[2], "File \"main.py\", line 2"));
	assert_non_null(strstr(r.cap.data[2], "raise ValueError('boom')"));
	assert_non_null(strstr(r.cap.data[2], "ValueError: boom"));
	assert_null(strstr(r.cap.data[2], "worker.py"));
	run_free(&r);
}

static void test_syntax_error(void **state)
{
	(void)state;
	struct run r;
	run_code(&r, "print('a'\n");
	assert_exit(&r, 1, 0);
	assert_non_null(strstr(r.cap.data[2], "SyntaxError"));
	assert_string_equal(r.cap.data[1], "");
	run_free(&r);
}

static void test_sys_exit(void **state)
{
	(void)state;
	struct run r;
	run_code(&r, "import sys\nprint('before')\nsys.exit(3)\nprint('after')\n");
	assert_exit(&r, 3, 0);
	assert_string_equal(r.cap.data[1], "before\n");
	run_free(&r);
	run_code(&r, "import sys\nsys.exit('bad input')\n");
	assert_exit(&r, 1, 0);
	assert_string_equal(r.cap.data[2], "bad input\n");
	run_free(&r);
}

static void test_os_exit(void **state)
{
	(void)state;
	struct run r;
	run_code(&r, "import os\nprint('kept')\nos._exit(5)\n");
	assert_exit(&r, 5, 0);
	assert_string_equal(r.cap.data[1], "kept\n");
	run_free(&r);
}

static void test_signal_death(void **state)
{
	(void)state;
	struct run r;
	run_code(&r, "import os\nos.kill(os.getpid(), 9)\n");
	assert_exit(&r, 128 + 9, 9);
	assert_false(r.out.timed_out);
	run_free(&r);
}

static void test_subprocess_output(void **state)
{
	(void)state;
	struct run r;
	run_code(&r, "import os, subprocess\nos.system('echo hi')\n"
		     "subprocess.run(['sh', '-c', 'echo oops >&2'])\n");
	assert_exit(&r, 0, 0);
	assert_string_equal(r.cap.data[1], "hi\n");
	assert_string_equal(r.cap.data[2], "oops\n");
	run_free(&r);
}

#define BIG_LINES 140000
#define BIG_LINE  "%08d abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ\n"

static void test_ten_megabytes_out(void **state)
{
	(void)state;
	struct run r;
	char code[256];
	snprintf(code, sizeof(code),
		 "import sys\nfor i in range(%d):\n    sys.stdout.write('%s' %% i)\n", BIG_LINES,
		 "%08d abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ\\n");
	run_full(&r, code, strlen(code), NULL, 60000, 0);
	assert_exit(&r, 0, 0);
	size_t line_len = 72, total = line_len * BIG_LINES;
	assert_true(total >= 10000000);
	assert_int_equal(r.cap.len[1], total);
	char line[80];
	for (int i = 0; i < BIG_LINES; i++) {
		snprintf(line, sizeof(line), BIG_LINE, i);
		assert_memory_equal(r.cap.data[1] + (size_t)i * line_len, line, line_len);
	}
	fprintf(stderr, "# 10 MB of output in %.2f s\n", r.seconds);
	run_free(&r);
}

static void test_megabyte_code(void **state)
{
	(void)state;
	const char *stmt = "x += 1\n";
	size_t count = 200000, len = 0;
	char *code = malloc(16 + count * strlen(stmt) + 16);
	assert_non_null(code);
	len += (size_t)sprintf(code, "x = 0\n");
	for (size_t i = 0; i < count; i++)
		len += (size_t)sprintf(code + len, "%s", stmt);
	len += (size_t)sprintf(code + len, "print(x)\n");
	assert_true(len > (1u << 20)); /* spans more than one CODE frame */
	struct run r;
	run_full(&r, code, len, "python", 60000, 0);
	assert_exit(&r, 0, 0);
	assert_string_equal(r.cap.data[1], "200000\n");
	free(code);
	run_free(&r);
}

static void test_fresh_randomness(void **state)
{
	(void)state;
	const char *code = "import random, numpy\nprint(random.random(), numpy.random.rand())\n";
	struct run a, b;
	run_code(&a, code);
	run_code(&b, code);
	assert_exit(&a, 0, 0);
	assert_exit(&b, 0, 0);
	assert_true(strlen(a.cap.data[1]) > 10);
	/* Both workers started from the same RNG states (the snapshot case). */
	assert_string_not_equal(a.cap.data[1], b.cap.data[1]);
	char *a_np = strchr(a.cap.data[1], ' '), *b_np = strchr(b.cap.data[1], ' ');
	assert_non_null(a_np);
	assert_non_null(b_np);
	assert_string_not_equal(a_np, b_np);
	run_free(&a);
	run_free(&b);
}

static void test_time_limit(void **state)
{
	(void)state;
	struct run r;
	const char *code = "print('spinning', flush=True)\nwhile True:\n    pass\n";
	run_full(&r, code, strlen(code), NULL, 1000, 0);
	assert_exit(&r, 128 + 9, 9);
	assert_true(r.out.timed_out);
	assert_false(r.out.host_deadline);
	assert_string_equal(r.cap.data[1], "spinning\n");
	assert_true(r.out.guest_run_time_ns >= 1000000000ull);
	assert_true(r.out.guest_run_time_ns < 3000000000ull);
	run_free(&r);
}

static void test_background_child_does_not_hang(void **state)
{
	(void)state;
	struct run r;
	/* A leftover process holding stdout open must not keep the run alive. */
	run_code(&r, "import os\nos.system('sleep 30 &')\nprint('done')\n");
	assert_exit(&r, 0, 0);
	assert_string_equal(r.cap.data[1], "done\n");
	assert_true(r.seconds < 10);
	run_free(&r);
}

static void test_output_limit(void **state)
{
	(void)state;
	struct run r;
	const char *code = "print('a' * 999)\n";
	run_full(&r, code, strlen(code), NULL, 10000, 100);
	assert_exit(&r, 0, 0);
	assert_true(r.out.truncated);
	assert_int_equal(r.cap.len[1], 100);
	assert_int_equal(r.out.stdout_bytes, 1000);
	run_free(&r);
}

static void test_unsupported_language(void **state)
{
	(void)state;
	struct run r;
	run_full(&r, "puts 1", 6, "ruby", 10000, 0);
	assert_int_equal(r.ret, -1);
	assert_non_null(strstr(r.out.agent_error, "unsupported language"));
	assert_non_null(strstr(fb_error_last(), "unsupported language"));
	assert_true(WIFEXITED(r.agent_status));
	assert_int_equal(WEXITSTATUS(r.agent_status), 1);
	run_free(&r);
}

/* The python recipe binds numpy and np: no import needed. */
static void test_bound_names(void **state)
{
	(void)state;
	struct run r;
	run_code(&r, "print(numpy.dot([1,2,3],[4,5,6]), np is numpy)\n");
	assert_exit(&r, 0, 0);
	assert_string_equal(r.cap.data[1], "32 True\n");
	run_free(&r);
}

static void run_node(struct run *r, const char *code, uint32_t limit_ms)
{
	agent_runtime = "node";
	run_full(r, code, strlen(code), "node", limit_ms, 0);
	agent_runtime = "python";
}

static void test_node_print(void **state)
{
	(void)state;
	struct run r;
	run_node(&r, "console.log(1+1); console.error('e', require.main === module)", 20000);
	assert_exit(&r, 0, 0);
	assert_string_equal(r.cap.data[1], "2\n");
	assert_string_equal(r.cap.data[2], "e true\n");
	run_free(&r);
}

static void test_node_throw(void **state)
{
	(void)state;
	struct run r;
	run_node(&r, "function f() { throw new Error('boom'); }\nf();\n", 20000);
	assert_exit(&r, 1, 0);
	assert_non_null(strstr(r.cap.data[2], "Error: boom"));
	assert_non_null(strstr(r.cap.data[2], "at f ("));
	assert_null(strstr(r.cap.data[2], "worker.js"));
	run_free(&r);
}

static void test_node_exit_code(void **state)
{
	(void)state;
	struct run r;
	run_node(&r, "setTimeout(() => { console.log('late'); process.exit(7); }, 20)", 20000);
	assert_exit(&r, 7, 0);
	assert_string_equal(r.cap.data[1], "late\n");
	run_free(&r);
}

/* Math.random and crypto draw from OpenSSL, which the worker reseeds. */
static void test_node_random(void **state)
{
	(void)state;
	struct run r;
	run_node(&r,
		 "const x = Math.random(); console.log(x >= 0 && x < 1, Math.random() !== x,"
		 " require('crypto').randomBytes(8).length)",
		 20000);
	assert_exit(&r, 0, 0);
	assert_string_equal(r.cap.data[1], "true true 8\n");
	run_free(&r);
}

static void test_node_time_limit(void **state)
{
	(void)state;
	struct run r;
	run_node(&r, "while (true) {}", 500);
	assert_int_equal(r.ret, 0);
	assert_true(r.out.timed_out);
	assert_int_equal(r.out.exit_code, 137);
	run_free(&r);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_print),
	    cmocka_unit_test(test_stderr_separate),
	    cmocka_unit_test(test_main_guard),
	    cmocka_unit_test(test_exception),
	    cmocka_unit_test(test_syntax_error),
	    cmocka_unit_test(test_sys_exit),
	    cmocka_unit_test(test_os_exit),
	    cmocka_unit_test(test_signal_death),
	    cmocka_unit_test(test_subprocess_output),
	    cmocka_unit_test(test_ten_megabytes_out),
	    cmocka_unit_test(test_megabyte_code),
	    cmocka_unit_test(test_fresh_randomness),
	    cmocka_unit_test(test_time_limit),
	    cmocka_unit_test(test_background_child_does_not_hang),
	    cmocka_unit_test(test_output_limit),
	    cmocka_unit_test(test_unsupported_language),
	    cmocka_unit_test(test_bound_names),
	    cmocka_unit_test(test_node_print),
	    cmocka_unit_test(test_node_throw),
	    cmocka_unit_test(test_node_exit_code),
	    cmocka_unit_test(test_node_random),
	    cmocka_unit_test(test_node_time_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
