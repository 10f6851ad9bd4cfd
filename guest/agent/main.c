/* forkbox-agent: PID 1 of every forkbox guest VM.
 *
 * Guest mode (PID 1): set the system up, read the recipe (recipe.h), start
 * its runtime's worker, wait until it has run the recipe's prelude, listen
 * on vsock, print "forkbox-agent: ready" (the host snapshots the VM right
 * then) and serve the host.
 *
 * Host test modes (not PID 1, no system changes):
 *   --test-worker   start the worker, wait for "ready", print the lines, exit 0
 *   --serve-fd FD   start the worker, serve one request on the connected
 *                   stream socket FD, exit (0 when the session completed)
 *   --recipe DIR    read DIR/recipe (and the workers DIR/prelude, DIR/bind)
 *                   instead of /etc/forkbox
 *   --runtime python|node, --interpreter PATH (also --python), --worker PATH
 *                   override the recipe's runtime, /usr/bin/python3 or
 *                   /usr/bin/node, and /usr/lib/forkbox/worker.{py,js}. */
#include "children.h"
#include "log.h"
#include "oom.h"
#include "recipe.h"
#include "sandbox.h"
#include "serve.h"
#include "sysinit.h"
#include "worker.h"

#include "util/error.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Python plus numpy under nested TCG virtualization can take tens of seconds. */
#define READY_TIMEOUT_MS (300 * 1000)

enum agent_mode { MODE_GUEST, MODE_TEST_WORKER, MODE_SERVE_FD };

struct agent_options {
	enum agent_mode mode;
	int serve_fd;
	const char *recipe_dir;
	const char *runtime; /* NULL: the recipe's */
	const char *interpreter;
	const char *script;
};

static void usage_error(const char *why)
{
	fprintf(stderr,
		"forkbox-agent: %s\n"
		"usage: forkbox-agent            (as PID 1 of a forkbox guest)\n"
		"       forkbox-agent --test-worker [OPTIONS]\n"
		"       forkbox-agent --serve-fd FD [OPTIONS]\n"
		"options: --recipe DIR --runtime python|node --interpreter PATH --worker PATH\n",
		why);
	exit(2);
}

static void parse_options(int argc, char **argv, struct agent_options *opts)
{
	static const struct option longopts[] = {
	    {"test-worker", no_argument, NULL, 't'},
	    {"serve-fd", required_argument, NULL, 's'},
	    {"recipe", required_argument, NULL, 'r'},
	    {"runtime", required_argument, NULL, 'R'},
	    {"interpreter", required_argument, NULL, 'p'},
	    {"python", required_argument, NULL, 'p'},
	    {"worker", required_argument, NULL, 'w'},
	    {NULL, 0, NULL, 0},
	};
	*opts =
	    (struct agent_options){.mode = MODE_GUEST, .serve_fd = -1, .recipe_dir = RECIPE_DIR};
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		char *end;
		switch (c) {
		case 't':
			opts->mode = MODE_TEST_WORKER;
			break;
		case 's':
			opts->mode = MODE_SERVE_FD;
			opts->serve_fd = (int)strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || opts->serve_fd < 0)
				usage_error("--serve-fd needs a file descriptor number");
			break;
		case 'r':
			opts->recipe_dir = optarg;
			break;
		case 'R':
			opts->runtime = optarg;
			break;
		case 'p':
			opts->interpreter = optarg;
			break;
		case 'w':
			opts->script = optarg;
			break;
		default:
			usage_error("unknown option");
		}
	}
	if (optind != argc)
		usage_error("unexpected argument");
	if (opts->mode == MODE_GUEST && !agent_is_pid1)
		usage_error("not PID 1: use --test-worker or --serve-fd on a host");
}

static double monotonic_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The recipe, with the command line's overrides. */
static void load_recipe(const struct agent_options *opts, struct agent_recipe *r)
{
	if (recipe_load(opts->recipe_dir, r) < 0)
		agent_fatal("%s", fb_error_last());
	if (opts->runtime && recipe_runtime_parse(opts->runtime, &r->runtime) < 0)
		usage_error("--runtime: python or node");
	/* The workers find the prelude and bind list here. */
	if (setenv("FORKBOX_RECIPE_DIR", opts->recipe_dir, 1) < 0)
		agent_fatal("setenv FORKBOX_RECIPE_DIR: %s", strerror(errno));
}

/* `user`: the worker's identity in a guest; NULL in host test modes. */
static void start_worker(const struct agent_options *opts, const struct agent_recipe *r,
			 const struct sandbox_user *user, struct agent_worker *w)
{
	bool node = r->runtime == RUNTIME_NODE;
	struct worker_spec spec = {
	    .runtime = r->runtime,
	    .interpreter = opts->interpreter ? opts->interpreter
			   : node	     ? WORKER_NODE
					     : WORKER_PYTHON,
	    .script = opts->script ? opts->script
		      : node	   ? WORKER_NODE_SCRIPT
				   : WORKER_PYTHON_SCRIPT,
	    .user = user,
	    .max_processes = r->max_processes,
	};
	double start = monotonic_s();
	if (worker_spawn(w, &spec) < 0 || worker_wait_ready(w, READY_TIMEOUT_MS) < 0) {
		char why[FB_ERROR_MAX];
		snprintf(why, sizeof(why), "%s", fb_error_last());
		worker_drain_output(w);
		agent_fatal("start worker %s: %s", spec.script, why);
	}
	worker_drain_output(w);
	agent_log("worker ready (recipe %s, %s) in %.2f s", r->name,
		  recipe_runtime_name(r->runtime), monotonic_s() - start);
}

static void guest_setup(struct sandbox_user *user)
{
	if (sysinit_filesystems() < 0)
		agent_fatal("%s", fb_error_last());
	if (sysinit_network() < 0)
		agent_log("warning: network setup: %s", fb_error_last());
	/* The code never runs as root: no sandbox user, no guest. */
	if (sandbox_lookup(SANDBOX_PASSWD, SANDBOX_USER, user) < 0)
		agent_fatal("%s", fb_error_last());
	if (oom_watch_open() < 0)
		agent_log("warning: out-of-memory kills will not be named: %s", fb_error_last());
}

int main(int argc, char **argv)
{
	agent_is_pid1 = getpid() == 1;
	struct agent_options opts;
	parse_options(argc, argv, &opts);
	struct sandbox_user user;
	if (opts.mode == MODE_GUEST)
		guest_setup(&user);
	signal(SIGPIPE, SIG_IGN);
	if (sysinit_environment() < 0 || children_init() < 0)
		agent_fatal("%s", fb_error_last());

	struct agent_recipe recipe;
	load_recipe(&opts, &recipe);
	serve_set_runtime(recipe_runtime_name(recipe.runtime));
	struct agent_worker worker;
	start_worker(&opts, &recipe, opts.mode == MODE_GUEST ? &user : NULL, &worker);
	switch (opts.mode) {
	case MODE_TEST_WORKER:
		agent_log("ready");
		kill(worker.pid, SIGKILL);
		waitpid(worker.pid, NULL, 0);
		return 0;
	case MODE_SERVE_FD: {
		agent_log("ready");
		int rc = serve_connection(opts.serve_fd, &worker, false) < 0 ? 1 : 0;
		/* A worker that reported its exit waits, stopped, to be discarded
		 * with its VM; here nothing discards it. */
		kill(-worker.pid, SIGKILL);
		waitpid(worker.pid, NULL, 0);
		return rc;
	}
	case MODE_GUEST:
		serve_guest(&worker);
	}
	return 0;
}
