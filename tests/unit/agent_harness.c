/* Test harness for the guest agent on the host (see agent_harness.h). */
#include "agent_harness.h"
#include "fixture_files.h"

#include "util/error.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

int agent_on_output(void *ctx, int stream, const void *data, size_t len)
{
	struct capture *c = ctx;
	assert_true(stream == 1 || stream == 2);
	if (c->len[stream] + len + 1 > c->cap[stream]) {
		size_t cap = (c->len[stream] + len + 1) * 2;
		c->data[stream] = realloc(c->data[stream], cap);
		assert_non_null(c->data[stream]);
		c->cap[stream] = cap;
	}
	memcpy(c->data[stream] + c->len[stream], data, len);
	c->len[stream] += len;
	c->data[stream][c->len[stream]] = '\0';
	return 0;
}

static const char *env_or(const char *name, const char *fallback)
{
	const char *v = getenv(name);
	return v && *v ? v : fallback;
}

const char *agent_runtime = "python";

/* The recipe directories (as the guest's /etc/forkbox) of the python and
 * node sessions, made on first use and removed at exit. */
static char python_recipe[64], node_recipe[64];

static void make_recipe(char *dir, const char *recipe, const char *prelude, const char *bind)
{
	strcpy(dir, "/tmp/forkbox-agent-test.XXXXXX");
	assert_non_null(mkdtemp(dir));
	test_write_file(dir, "recipe", recipe);
	test_write_file(dir, "prelude", prelude);
	test_write_file(dir, "bind", bind);
}

static void remove_recipes(void)
{
	static const char *const names[] = {"recipe", "prelude", "bind", "main.js"};
	const char *dirs[] = {python_recipe, node_recipe};
	char path[128];
	for (size_t d = 0; d < 2; d++) {
		for (size_t i = 0; i < 4; i++) {
			snprintf(path, sizeof(path), "%s/%s", dirs[d], names[i]);
			unlink(path);
		}
		rmdir(dirs[d]);
	}
}

static void make_recipes(void)
{
	if (python_recipe[0])
		return;
	make_recipe(python_recipe, "name=python\nruntime=python\n",
		    "import numpy\nimport numpy as np\n", "numpy\nnp\n");
	make_recipe(node_recipe, "name=node\nruntime=node\n", "require('util');\n", "");
	atexit(remove_recipes);
}

static pid_t spawn_agent(int fd)
{
	char agent[4096], worker[4096], fdnum[16], addon[4096];
	bool node = strcmp(agent_runtime, "node") == 0;
	make_recipes();
	snprintf(agent, sizeof(agent), "%s/guest/agent/forkbox-agent",
		 env_or("FORKBOX_BUILDDIR", "."));
	snprintf(worker, sizeof(worker), "%s/guest/agent/worker.%s", env_or("FORKBOX_SRCDIR", "."),
		 node ? "js" : "py");
	snprintf(addon, sizeof(addon), "%s/guest/agent/forkbox_reseed.node",
		 env_or("FORKBOX_BUILDDIR", "."));
	snprintf(fdnum, sizeof(fdnum), "%d", fd);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		fcntl(fd, F_SETFD, 0);
		setenv("FORKBOX_TEST_SNAPSHOT_RNG", "1", 1);
		setenv("FORKBOX_RESEED_ADDON", addon, 1);
		setenv("FORKBOX_MAIN_DIR", node_recipe, 1);
		execl(agent, agent, "--serve-fd", fdnum, "--worker", worker, "--recipe",
		      node ? node_recipe : python_recipe, "--interpreter",
		      node ? "/usr/bin/node" : "/usr/bin/python3", (char *)NULL);
		perror(agent);
		_exit(127);
	}
	return pid;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void run_full(struct run *r, const char *code, size_t code_len, const char *language,
	      uint32_t limit_ms, size_t output_limit)
{
	memset(r, 0, sizeof(*r));
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	pid_t pid = spawn_agent(sv[1]);
	close(sv[1]);
	struct fb_agent_request req = {
	    .code = code,
	    .code_len = code_len,
	    .language = language,
	    .time_limit_ms = limit_ms,
	    .host_timeout_ms = limit_ms + 20000, /* worker start-up included */
	    .output_limit = output_limit,
	};
	struct fb_agent_handlers h = {.on_output = agent_on_output, .ctx = &r->cap};
	double start = now_s();
	r->ret = fb_agent_run(sv[0], &req, &h, &r->out);
	r->seconds = now_s() - start;
	if (r->ret < 0)
		fprintf(stderr, "# fb_agent_run: %s\n", fb_error_last());
	close(sv[0]);
	assert_int_equal(waitpid(pid, &r->agent_status, 0), pid);
	for (int s = 1; s <= 2; s++) {
		if (!r->cap.data[s])
			agent_on_output(&r->cap, s, "", 0);
	}
}

void run_code(struct run *r, const char *code)
{
	run_full(r, code, strlen(code), NULL, 10000, 0);
}

void run_free(struct run *r)
{
	free(r->cap.data[1]);
	free(r->cap.data[2]);
}

void assert_exit(const struct run *r, int code, int sig)
{
	assert_int_equal(r->ret, 0);
	assert_false(r->out.host_deadline);
	assert_int_equal(r->out.exit_code, code);
	assert_int_equal(r->out.term_signal, sig);
	assert_true(WIFEXITED(r->agent_status));
	assert_int_equal(WEXITSTATUS(r->agent_status), 0);
}
