/* The worker's exit path (worker.py exit_now: threads joined, atexit
 * handlers, buffered output flushed, then os._exit instead of finalizing
 * the interpreter) must look from outside exactly like `python3 -u main.py`:
 * each case runs both ways and compares stdout, stderr and the exit status.
 * Tracebacks name main.py in both (the reference's directory is cut) and
 * object addresses (0x...) are blanked. */
#include "agent_harness.h"
#include "fixture_files.h"

#include <ctype.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

struct reference {
	char *out, *err;
	int status; /* exit status, or 128 + signal */
};

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	char *buf = NULL;
	size_t len = 0, cap = 0, n;
	char chunk[4096];
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (len + n + 1 > cap) {
			cap = (len + n + 1) * 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		memcpy(buf + len, chunk, n);
		len += n;
	}
	fclose(f);
	if (!buf)
		buf = calloc(1, 1);
	assert_non_null(buf);
	buf[len] = '\0';
	return buf;
}

/* Cut every "cut" and blank the digits of every 0x... address, in place. */
static void normalize(char *s, const char *cut)
{
	size_t cut_len = cut ? strlen(cut) : 0;
	char *w = s;
	for (const char *r = s; *r;) {
		if (cut_len && strncmp(r, cut, cut_len) == 0) {
			r += cut_len;
		} else if (r[0] == '0' && r[1] == 'x' && isxdigit((unsigned char)r[2])) {
			*w++ = '0';
			*w++ = 'x';
			r += 2;
			while (isxdigit((unsigned char)*r))
				r++;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
}

static void exec_python(const char *dir)
{
	char path[512];
	if (chdir(dir) < 0)
		_exit(126);
	int in = open("/dev/null", O_RDONLY);
	snprintf(path, sizeof(path), "%s/out", dir);
	int out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	snprintf(path, sizeof(path), "%s/err", dir);
	int err = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
		_exit(126);
	execl("/usr/bin/python3", "python3", "-u", "-s", "main.py", (char *)NULL);
	_exit(127);
}

/* `python3 -u main.py` in a fresh directory, as a user would run the code. */
static void run_reference(const char *code, struct reference *ref)
{
	char dir[] = "/tmp/fb-worker-exit.XXXXXX", path[512], cut[64];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/main.py", dir);
	test_write_file(NULL, path, code);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		exec_python(dir);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	ref->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	snprintf(cut, sizeof(cut), "%s/", dir);
	const char *names[] = {"out", "err", "main.py"};
	char **bufs[] = {&ref->out, &ref->err};
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (i < 2) {
			*bufs[i] = read_file(path);
			normalize(*bufs[i], cut);
		}
		unlink(path);
	}
	rmdir(dir);
}

/* Drop traceback source lines (indented by 4 spaces), in place. */
static void drop_source_lines(char *s)
{
	char *w = s;
	for (const char *line = s; *line;) {
		size_t len = strcspn(line, "\n");
		size_t next = len + (line[len] == '\n');
		if (strncmp(line, "    ", 4) != 0) {
			memmove(w, line, next);
			w += next;
		}
		line += next;
	}
	*w = '\0';
}

/* Runs code in the agent's worker and under python3; all must match. */
static void check_same(const char *code, bool with_source)
{
	struct reference ref;
	struct run r;
	fprintf(stderr, "# case: %s\n", code);
	run_reference(code, &ref);
	run_code(&r, code);
	normalize(r.cap.data[1], NULL);
	normalize(r.cap.data[2], NULL);
	if (!with_source) {
		drop_source_lines(r.cap.data[2]);
		drop_source_lines(ref.err);
	}
	assert_exit(&r, ref.status, 0);
	assert_string_equal(r.cap.data[1], ref.out);
	assert_string_equal(r.cap.data[2], ref.err);
	free(ref.out);
	free(ref.err);
	run_free(&r);
}

static void check_same_as_python(const char *code)
{
	check_same(code, true);
}

static void check_same_as_python_no_source(const char *code)
{
	check_same(code, false);
}

static void test_sys_exit_codes(void **state)
{
	(void)state;
	static const char *const cases[] = {
	    "import sys\nsys.exit()\n",
	    "import sys\nsys.exit(None)\n",
	    "import sys\nprint('before')\nsys.exit(3)\nprint('after')\n",
	    "raise SystemExit(7)\n",
	    "import sys\nsys.exit(256)\n",
	    "import sys\nsys.exit(-1)\n",
	    "import sys\nsys.exit(2**70)\n",
	    "import sys\nsys.exit(True)\n",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_same_as_python(cases[i]);
}

static void test_sys_exit_messages(void **state)
{
	(void)state;
	check_same_as_python("import sys\nsys.exit('bad input')\n");
	check_same_as_python("import sys\nsys.exit(['a', 1])\n");
	check_same_as_python("import sys\nprint('out')\nsys.exit('to stderr, status 1')\n");
}

static void test_atexit(void **state)
{
	(void)state;
	/* Handlers run last-registered first, after sys.exit and after an
	 * uncaught exception; a failing handler is reported and ignored. */
	check_same_as_python("import atexit\natexit.register(print, 'first')\n"
			     "atexit.register(print, 'second')\nprint('main')\n");
	check_same_as_python("import atexit, sys\natexit.register(print, 'bye')\nsys.exit(4)\n");
	check_same_as_python("import atexit\natexit.register(print, 'cleanup')\n"
			     "raise ValueError('boom')\n");
	/* Tracebacks printed by C code (here the atexit module's) show no
	 * source lines for code that has no file: compared without them. */
	check_same_as_python_no_source("import atexit, sys\natexit.register(lambda: 1/0)\n"
				       "atexit.register(print, 'bye')\nprint('main')\n"
				       "sys.exit(4)\n");
	check_same_as_python("import atexit, sys\natexit.register(sys.exit, 9)\nprint('m')\n");
	check_same_as_python("import atexit, os\natexit.register(print, 'not run')\n"
			     "print('kept')\nos._exit(5)\n");
}

static void test_unflushed_output(void **state)
{
	(void)state;
	/* Buffered writers the code left unflushed are flushed at exit. */
	check_same_as_python("import os\nf = os.fdopen(1, 'w')\nf.write('buffered')\n");
	check_same_as_python("import io, sys\nsys.stdout = io.TextIOWrapper(io.BufferedWriter("
			     "io.FileIO(1, 'w', closefd=False)))\nprint('via a buffer', end='')\n");
	check_same_as_python("import sys\nsys.stdout.write('no newline')\n"
			     "sys.stderr.write('err, no newline')\n");
	check_same_as_python("import os\nf = open(2, 'wb', buffering=65536)\nf.write(b'bytes')\n"
			     "print('out')\n");
	/* A non-daemon thread still running at the end is waited for. */
	check_same_as_python("import threading, time\n"
			     "def late():\n    time.sleep(0.3)\n    print('thread done')\n"
			     "threading.Thread(target=late).start()\nprint('main done')\n");
}

static void test_exceptions(void **state)
{
	(void)state;
	check_same_as_python("x = 1\nraise ValueError('boom')\n");
	check_same_as_python("def f():\n    return {}['missing']\nprint('start')\nf()\n");
	check_same_as_python("import sys\n"
			     "def hook(t, v, tb):\n    print('hooked', t.__name__, v)\n"
			     "sys.excepthook = hook\nraise KeyError('k')\n");
	check_same_as_python("import os\nos.close(1)\nprint('lost')\n");
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sys_exit_codes), cmocka_unit_test(test_sys_exit_messages),
	    cmocka_unit_test(test_atexit),	   cmocka_unit_test(test_unflushed_output),
	    cmocka_unit_test(test_exceptions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
