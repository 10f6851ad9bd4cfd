/* `forkbox run`: fork one VM from a template, run code in it, stream its
 * output to ours and exit with its exit status. */
#include "cli/commands.h"
#include "cli/run_stats.h"
#include "cli/template_setup.h"
#include "util/error.h"
#include "util/utf8.h"
#include "vmm/engine.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RUN_EXIT_ENGINE 125 /* the engine failed: no exit status from the guest */
#define MAX_CODE_BYTES	(16u << 20)
struct run_args {
	const char *template_arg; /* NAME or FILE, NULL: by language */
	const char *language;
	const char *config;
	char template_path[FB_PATH_MAX + 64];
	double timeout_s;
	int json;
	int console;
	int stats;
	const char *code_arg; /* -c CODE */
	const char *file;     /* FILE or "-" */
};

/* Output gathered for --json (stdout, stderr). */
struct capture {
	char *buf[2];
	size_t len[2], cap[2];
};

/* --template FILE (has a '/' or ends in .tmpl) or NAME, else
 * $FORKBOX_TEMPLATE, else the store's template for the language. */
static int resolve_template(struct run_args *a)
{
	const char *arg = a->template_arg;
	const char *env = getenv("FORKBOX_TEMPLATE");
	if (!arg && env && *env)
		arg = env;
	size_t n = arg ? strlen(arg) : 0;
	if (arg && (strchr(arg, '/') || (n > 5 && !strcmp(arg + n - 5, ".tmpl")))) {
		snprintf(a->template_path, sizeof(a->template_path), "%s", arg);
		return 0;
	}
	struct fb_template_setup s;
	int rc = fb_template_setup_load(&s, a->config, NULL);
	const struct fb_template_decl *t = NULL;
	if (rc == 0 && arg && !(t = fb_config_template(&s.cfg, arg)))
		rc = fb_error("no template '%s' in %s", arg, s.source);
	else if (rc == 0 && !arg && !(t = fb_template_setup_for_language(&s, a->language)))
		rc = -1;
	if (rc == 0)
		fb_template_setup_path(&s, t->name, a->template_path, sizeof(a->template_path));
	fb_template_setup_free(&s);
	return rc;
}

static int parse_args(int argc, char **argv, struct run_args *a)
{
	static const struct option opts[] = {{"template", required_argument, NULL, 'T'},
					     {"timeout", required_argument, NULL, 't'},
					     {"json", no_argument, NULL, 'j'},
					     {"console", no_argument, NULL, 'C'},
					     {"code", required_argument, NULL, 'c'},
					     {"language", required_argument, NULL, 'l'},
					     {"config", required_argument, NULL, 'F'},
					     {"stats", no_argument, NULL, 's'},
					     {NULL, 0, NULL, 0}};
	*a = (struct run_args){.language = "python", .timeout_s = 30};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+T:t:jCc:l:s", opts, NULL)) != -1) {
		char *end = NULL;
		switch (c) {
		case 'T':
			a->template_arg = optarg;
			break;
		case 'l':
			a->language = optarg;
			break;
		case 'F':
			a->config = optarg;
			break;
		case 't':
			errno = 0;
			a->timeout_s = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(a->timeout_s > 0) ||
			    a->timeout_s > 86400)
				return fb_usage_error(
				    "run", "--timeout: '%s' is not 0 < S <= 86400", optarg);
			break;
		case 'j':
			a->json = 1;
			break;
		case 'C':
			a->console = 1;
			break;
		case 's':
			a->stats = 1;
			break;
		case 'c':
			a->code_arg = optarg;
			break;
		default:
			return fb_usage_error("run", "unknown option");
		}
	}
	int rest = argc - optind;
	if (a->code_arg && rest > 0)
		return fb_usage_error("run", "give either -c CODE or FILE, not both");
	if (!a->code_arg && rest != 1)
		return fb_usage_error("run", "give the code: -c CODE, FILE, or - for stdin");
	if (!a->code_arg)
		a->file = argv[optind];
	return 0;
}

/* Read all of fd into a malloc'd buffer (at most MAX_CODE_BYTES). */
static char *read_all(int fd, const char *name, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);

	if (!buf) {
		fb_error("out of memory");
		return NULL;
	}
	for (;;) {
		if (n == cap) {
			char *nb = cap >= MAX_CODE_BYTES ? NULL : realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				fb_error("%s: code larger than %u bytes", name, MAX_CODE_BYTES);
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fb_error_errno("read %s", name);
			free(buf);
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*len = n;
	return buf;
}

static char *load_code(const struct run_args *a, size_t *len)
{
	if (a->code_arg) {
		*len = strlen(a->code_arg);
		return strdup(a->code_arg);
	}
	if (strcmp(a->file, "-") == 0)
		return read_all(STDIN_FILENO, "stdin", len);
	int fd = open(a->file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fb_error_errno("open %s", a->file);
		return NULL;
	}
	char *code = read_all(fd, a->file, len);
	close(fd);
	return code;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static int stream_output(void *ctx, enum fb_stream stream, const void *data, size_t len)
{
	(void)ctx;
	/* A closed stdout (e.g. `| head`) ends the run, like any program. */
	return write_all(stream == FB_STREAM_STDERR ? STDERR_FILENO : STDOUT_FILENO, data, len);
}

static int capture_output(void *ctx, enum fb_stream stream, const void *data, size_t len)
{
	struct capture *c = ctx;
	int i = stream == FB_STREAM_STDERR;

	if (c->len[i] + len + 1 > c->cap[i]) {
		size_t cap = c->cap[i] ? c->cap[i] : 4096;
		while (cap < c->len[i] + len + 1)
			cap *= 2;
		char *nb = realloc(c->buf[i], cap);
		if (!nb)
			return -1;
		c->buf[i] = nb;
		c->cap[i] = cap;
	}
	memcpy(c->buf[i] + c->len[i], data, len);
	c->len[i] += len;
	return 0;
}

static json_t *text_json(const char *buf, size_t len)
{
	size_t clean_len = 0;
	char *clean = fb_utf8_sanitize(buf ? buf : "", len, &clean_len);
	json_t *s = clean ? json_stringn(clean, clean_len) : NULL;

	free(clean);
	return s ? s : json_string("");
}

static void print_json(const struct fb_exec_result *r, const struct capture *c,
		       const struct fb_exec_stats *st)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", json_string(r->id));
	json_object_set_new(o, "stdout", text_json(c->buf[0], c->len[0]));
	json_object_set_new(o, "stderr", text_json(c->buf[1], c->len[1]));
	json_object_set_new(o, "exit_code", json_integer(r->exit_code));
	json_object_set_new(o, "fork_time_ms", json_real(r->fork_time_ms));
	json_object_set_new(o, "exec_time_ms", json_real(r->exec_time_ms));
	json_object_set_new(o, "total_time_ms", json_real(r->total_time_ms));
	json_object_set_new(o, "timed_out", json_boolean(r->timed_out));
	json_object_set_new(o, "truncated", json_boolean(r->truncated));
	if (st)
		json_object_set_new(o, "stats", fb_run_stats_json(st));
	json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	fputc('\n', stdout);
	json_decref(o);
}

static int run_main(int argc, char **argv)
{
	struct run_args a;
	int rc = parse_args(argc, argv, &a);

	if (rc)
		return rc;
	size_t code_len = 0;
	char *code = load_code(&a, &code_len);
	if (!code) {
		fprintf(stderr, "forkbox run: %s\n", fb_error_last());
		return RUN_EXIT_ENGINE;
	}
	if (resolve_template(&a) < 0) {
		fprintf(stderr, "forkbox run: %s\n", fb_error_last());
		free(code);
		return RUN_EXIT_ENGINE;
	}
	if (access(a.template_path, R_OK) < 0) {
		fprintf(stderr,
			"forkbox run: no readable template at %s: %s (build it with "
			"'forkbox template build', or give --template NAME|FILE)\n",
			a.template_path, strerror(errno));
		free(code);
		return RUN_EXIT_ENGINE;
	}
	struct fb_engine_options eo = {.template_path = a.template_path,
				       .serial_log_fd = a.console ? STDERR_FILENO : -1,
				       .prefetch = true};
	struct fb_engine *e = fb_engine_open(&eo);
	if (!e) {
		fprintf(stderr, "forkbox run: %s\n", fb_error_last());
		free(code);
		return RUN_EXIT_ENGINE;
	}
	struct capture cap = {0};
	struct fb_exec_request req = {.code = code, .code_len = code_len, .timeout_s = a.timeout_s};
	/* An explicit template runs whatever its runtime is. */
	struct fb_exec_callbacks cb = {.on_output = a.json ? capture_output : stream_output,
				       .ctx = &cap};
	struct fb_exec_result res;
	struct fb_execution *held;
	struct fb_exec_stats st;
	rc = fb_engine_exec(e, &req, &cb, &res, &held);
	if (rc < 0) {
		fprintf(stderr, "forkbox run: %s\n", fb_error_last());
		rc = RUN_EXIT_ENGINE;
	} else {
		fb_engine_finish(e, held, a.stats ? &st : NULL);
		if (a.json)
			print_json(&res, &cap, a.stats ? &st : NULL);
		else if (a.stats)
			fb_run_stats_print(stderr, &st);
		if (res.timed_out)
			fprintf(stderr, "forkbox run: timed out after %g s\n", a.timeout_s);
		rc = res.exit_code;
	}
	free(cap.buf[0]);
	free(cap.buf[1]);
	fb_engine_close(e);
	free(code);
	return rc;
}

const struct fb_command fb_cmd_run = {
    .name = "run",
    .summary = "run code in a fresh VM forked from a template",
    .help = "NAME\n"
	    "    forkbox run - run code in a fresh VM forked from a template\n"
	    "\n"
	    "SYNOPSIS\n"
	    "    forkbox run [--language LANG | --template NAME|FILE] [--config FILE]\n"
	    "                [--timeout S] [--json] [--console] [--stats] (-c CODE | FILE | -)\n"
	    "\n"
	    "DESCRIPTION\n"
	    "    Forks one copy-on-write VM from the template, sends it fresh entropy,\n"
	    "    the host's clock and the code, streams the guest's stdout and stderr\n"
	    "    to this process's stdout and stderr as they are produced, destroys the\n"
	    "    VM and exits with the guest code's exit status.\n"
	    "\n"
	    "OPTIONS\n"
	    "    -l, --language LANG  run the store's template for LANG (default python;\n"
	    "                         node and javascript run the node template)\n"
	    "    -T, --template NAME|FILE  a template of the store by name, or a template\n"
	    "                         file (default: $FORKBOX_TEMPLATE, else by language)\n"
	    "        --config FILE    the configuration naming the store and templates\n"
	    "                         (default: the build tree's, else the system's;\n"
	    "                         see forkbox help template)\n"
	    "    -t, --timeout S      kill the code after S seconds (default 30)\n"
	    "    -j, --json           print one JSON object instead of streaming: id,\n"
	    "                         stdout, stderr, exit_code, fork_time_ms,\n"
	    "                         exec_time_ms, total_time_ms, timed_out, truncated\n"
	    "    -C, --console        copy the forked guest's serial console to stderr\n"
	    "    -s, --stats          after the run, print what it cost on stderr (with\n"
	    "                         --json: a \"stats\" object): spawn, exec and\n"
	    "                         teardown times; vCPU time in the guest, halted and\n"
	    "                         in the VMM; guest pages KVM mapped (touched) and\n"
	    "                         host pages shared or copied; KVM exits by reason\n"
	    "                         and fault counters (KVM_GET_STATS_FD; where the\n"
	    "                         kernel lacks it, the reason is printed instead)\n"
	    "    -c, --code CODE      the code to run; or give FILE, or - for stdin\n"
	    "\n"
	    "EXIT STATUS\n"
	    "    The guest code's exit status: 0, the status given to sys.exit(), 1 for\n"
	    "    an uncaught exception, 128+N after death by signal N (137 on timeout).\n"
	    "    125 when the VM could not be created or the engine failed; 2 for a bad\n"
	    "    command line.\n"
	    "\n"
	    "EXAMPLES\n"
	    "    forkbox run -c 'import numpy as np; print(np.arange(6).reshape(2,3).sum())'\n"
	    "    echo 'print(1+1)' | forkbox run --json -\n"
	    "    forkbox run --language node -c 'console.log(1+1)'\n",
    .main = run_main,
};
