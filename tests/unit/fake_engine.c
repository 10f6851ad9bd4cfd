/* Test double of the execution engine (src/vmm/engine.h) for the FastCGI
 * layer's unit and pool tests. NEVER linked into forkbox-fcgi.
 *
 * The "code" is a tiny script, one command per line:
 *   print:TEXT     TEXT + "\n" on stdout       eprint:TEXT  the same on stderr
 *   hex:HEXBYTES   raw bytes on stdout (e.g. hex:ff41 for invalid UTF-8)
 *   sleep:MS       wait MS milliseconds        exit:N       exit status N
 *   loop           run until the timeout        fail:MSG     engine failure
 *   pid            the worker's pid on stdout (tests of recycling)
 *   big:N          N bytes of 'x' on stdout
 *   template       "RUNTIME generation N" of the template file on stdout
 *                  (which template served the request)
 *   syscall:NR,A,B,C  raw system call NR with up to three integer arguments;
 *                  its result on stdout (tests of the worker's seccomp
 *                  filter: a hook that exists only in this test double)
 * Anything else is echoed to stdout, NUL bytes included. The callbacks'
 * cancelled() is asked every 100 ms while sleeping, like the real engine
 * does. The template file must exist; its size is reported as the guest
 * memory; it may hold metadata (read_fake_meta()). A started pool is always ready (every
 * execution counts as a hit); finished executions report fixed costs. */
#include "vmm/engine.h"
#include "vmm/template_store.h"

#include "util/clock.h"
#include "util/error.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct fb_engine {
	char path[4096];
	char runtime[16];
	unsigned generation;
	int64_t created_unix;
	uint64_t size;
	size_t default_limit;
	bool pool;
	struct fb_engine_pool_counts counts;
};

struct fb_execution {
	bool pooled;
	double spawn_ms, exec_ms;
};

static atomic_uint exec_counter;

/* A fake template file may start with "forkbox-fake-template" and
 * "key=value" lines (runtime, generation, created_unix): what a real one
 * records in its metadata. */
static void read_fake_meta(struct fb_engine *e)
{
	char line[128];
	FILE *f = fopen(e->path, "re");
	snprintf(e->runtime, sizeof(e->runtime), "python");
	if (!f)
		return;
	if (fgets(line, sizeof(line), f) && !strcmp(line, "forkbox-fake-template\n")) {
		while (fgets(line, sizeof(line), f)) {
			line[strcspn(line, "\n")] = '\0';
			if (!strncmp(line, "runtime=", 8))
				snprintf(e->runtime, sizeof(e->runtime), "%.15s", line + 8);
			else if (!strncmp(line, "generation=", 11))
				e->generation = (unsigned)strtoul(line + 11, NULL, 10);
			else if (!strncmp(line, "created_unix=", 13))
				e->created_unix = strtoll(line + 13, NULL, 10);
		}
	}
	fclose(f);
}

/* The rotation's rebuild (src/vmm/template_rebuild.c), faked: after a
 * moment, the template's file is replaced by the next generation, built
 * now. $FORKBOX_FAKE_REBUILD_FAIL (a file that exists) makes it fail. */
int fb_store_rebuild(const struct fb_config *cfg, const struct fb_template_decl *t, FILE *progress)
{
	struct fb_engine e = {0};
	char tmp[4200];
	const char *fail = getenv("FORKBOX_FAKE_REBUILD_FAIL");
	(void)progress;
	fb_config_template_file(cfg, t, e.path, sizeof(e.path));
	read_fake_meta(&e);
	usleep(300 * 1000);
	if (fail && access(fail, F_OK) == 0)
		return fb_error("template %s: fake rebuild failed (%s exists)", t->name, fail);
	snprintf(tmp, sizeof(tmp), "%s.tmp", e.path);
	FILE *f = fopen(tmp, "we");
	if (!f)
		return fb_error_errno("open %s", tmp);
	fprintf(f, "forkbox-fake-template\nruntime=%s\ngeneration=%u\ncreated_unix=%lld\n",
		e.runtime, e.generation + 1, (long long)time(NULL));
	if (fclose(f) != 0 || rename(tmp, e.path) < 0)
		return fb_error_errno("write %s", e.path);
	return 0;
}

int fb_engine_before_sandbox(void)
{
	return 0;
}

/* Staleness, faked: a "stale=WHY" line in the template file. */
int fb_store_stale(const struct fb_config *cfg, const struct fb_template_decl *t, char *why,
		   size_t cap)
{
	char path[4096], line[256];
	int stale = 0;
	fb_config_template_file(cfg, t, path, sizeof(path));
	FILE *f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "stale=", 6)) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(why, cap, "%s", line + 6);
			stale = 1;
		}
	}
	if (f)
		fclose(f);
	return stale;
}

struct fb_engine *fb_engine_open(const struct fb_engine_options *opts)
{
	struct stat st;

	if (stat(opts->template_path, &st)) {
		fb_error_errno("open template %s", opts->template_path);
		return NULL;
	}
	struct fb_engine *e = calloc(1, sizeof(*e));
	if (!e) {
		fb_error("out of memory");
		return NULL;
	}
	snprintf(e->path, sizeof(e->path), "%s", opts->template_path);
	e->size = (uint64_t)st.st_size;
	e->default_limit = opts->default_output_limit;
	read_fake_meta(e);
	return e;
}

void fb_engine_close(struct fb_engine *engine)
{
	free(engine);
}

int fb_engine_pool_start(struct fb_engine *engine, const struct fb_engine_pool_options *opts)
{
	if (!opts->depth)
		return 0;
	engine->pool = true;
	engine->counts.depth = engine->counts.ready = opts->depth;
	engine->counts.threads = opts->threads;
	return 0;
}

void fb_engine_pool_stop(struct fb_engine *engine)
{
	engine->pool = false;
}

bool fb_engine_pool_counts(struct fb_engine *engine, struct fb_engine_pool_counts *c)
{
	if (engine->pool)
		*c = engine->counts;
	return engine->pool;
}

void fb_engine_info(struct fb_engine *engine, struct fb_engine_info *info)
{
	*info = (struct fb_engine_info){0};
	info->template_path = engine->path;
	info->runtime = engine->runtime;
	info->generation = engine->generation;
	info->created_unix = engine->created_unix;
	info->guest_memory_bytes = engine->size;
	info->ready = true;
	info->pool = fb_engine_pool_counts(engine, &info->pool_counts);
}

void fb_engine_finish(struct fb_engine *engine, struct fb_execution *exec,
		      struct fb_exec_stats *stats)
{
	(void)engine;
	if (!exec)
		return;
	if (stats) {
		*stats = (struct fb_exec_stats){.pooled = exec->pooled,
						.spawn_ms = exec->spawn_ms,
						.exec_ms = exec->exec_ms,
						.teardown_ms = exec->pooled ? -1 : 1,
						.halted_ms = -1,
						.pages_shared = 10,
						.pages_copied = 2,
						.pages_guest = -1};
		snprintf(stats->kvm_stats_note, sizeof(stats->kvm_stats_note),
			 "the fake engine has no KVM");
	}
	free(exec);
}

struct run {
	const struct fb_exec_callbacks *cb;
	const struct fb_engine *engine;
	size_t limit, used;
	struct fb_exec_result *res;
	double deadline;
	int aborted;
	bool cancelled; /* cb->cancelled said so: the caller gave up */
};

static void out(struct run *r, enum fb_stream s, const void *data, size_t len)
{
	if (r->used + len > r->limit) {
		r->res->truncated = true;
		len = r->limit - r->used;
	}
	r->used += len;
	if (len && r->cb && r->cb->on_output && r->cb->on_output(r->cb->ctx, s, data, len))
		r->aborted = 1;
}

static void sleep_ms(struct run *r, double ms)
{
	double end = fb_clock_ms() + ms;

	if (end > r->deadline) {
		end = r->deadline;
		r->res->timed_out = true;
	}
	for (double next_check = 0; fb_clock_ms() < end; usleep(1000)) {
		if (fb_clock_ms() < next_check || !r->cb || !r->cb->cancelled)
			continue;
		next_check = fb_clock_ms() + 100; /* as often as the real engine asks */
		if (r->cb->cancelled(r->cb->ctx)) {
			r->cancelled = true;
			r->aborted = 1;
			return;
		}
	}
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static void hex_out(struct run *r, const char *hex)
{
	unsigned char buf[512];
	size_t n = 0;

	while (hexval(hex[0]) >= 0 && hexval(hex[1]) >= 0 && n < sizeof(buf)) {
		buf[n++] = (unsigned char)(hexval(hex[0]) * 16 + hexval(hex[1]));
		hex += 2;
	}
	out(r, FB_STREAM_STDOUT, buf, n);
}

static void raw_syscall(struct run *r, const char *spec)
{
	long a[4] = {0, 0, 0, 0};
	char text[96];

	sscanf(spec, "%li,%li,%li,%li", &a[0], &a[1], &a[2], &a[3]);
	errno = 0;
	long rc = syscall(a[0], a[1], a[2], a[3]);
	int n = snprintf(text, sizeof(text), "syscall %ld returned %ld (%s)\n", a[0], rc,
			 rc < 0 ? strerror(errno) : "ok");
	out(r, FB_STREAM_STDOUT, text, (size_t)n);
}

/* One line of len bytes (NUL bytes included), NUL-terminated after them
 * in a buffer with room for one more byte. */
static int command(struct run *r, char *line, size_t len)
{
	char text[64];

	if (!strncmp(line, "print:", 6) || !strncmp(line, "eprint:", 7)) {
		enum fb_stream s = line[0] == 'e' ? FB_STREAM_STDERR : FB_STREAM_STDOUT;
		char *t = strchr(line, ':') + 1;
		size_t n = len - (size_t)(t - line);
		t[n] = '\n'; /* one chunk with its newline, like a flushed print() */
		out(r, s, t, n + 1);
		t[n] = '\0';
	} else if (!strncmp(line, "hex:", 4)) {
		hex_out(r, line + 4);
	} else if (!strncmp(line, "sleep:", 6)) {
		sleep_ms(r, atof(line + 6));
	} else if (!strncmp(line, "exit:", 5)) {
		r->res->exit_code = atoi(line + 5);
	} else if (!strcmp(line, "loop")) {
		sleep_ms(r, 1e12);
	} else if (!strncmp(line, "fail:", 5)) {
		return fb_error("fake engine: %s", line + 5);
	} else if (!strcmp(line, "template")) {
		int n = snprintf(text, sizeof(text), "%s generation %u\n", r->engine->runtime,
				 r->engine->generation);
		out(r, FB_STREAM_STDOUT, text, (size_t)n);
	} else if (!strcmp(line, "pid")) {
		int n = snprintf(text, sizeof(text), "%d\n", (int)getpid());
		out(r, FB_STREAM_STDOUT, text, (size_t)n);
	} else if (!strncmp(line, "syscall:", 8)) {
		raw_syscall(r, line + 8);
	} else if (!strncmp(line, "big:", 4)) {
		for (long left = atol(line + 4); left > 0 && !r->aborted; left -= 64)
			out(r, FB_STREAM_STDOUT,
			    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
			    left < 64 ? (size_t)left : 64);
	} else {
		out(r, FB_STREAM_STDOUT, line, len);
	}
	return 0;
}

/* Run the code line by line (empty lines skipped); code may hold NULs. */
static int run_lines(struct run *r, char *code, size_t len)
{
	int rc = 0;

	for (size_t off = 0; off < len && !rc && !r->aborted && !r->res->timed_out;) {
		char *line = code + off, *nl = memchr(line, '\n', len - off);
		size_t n = nl ? (size_t)(nl - line) : len - off;

		line[n] = '\0';
		off += n + 1;
		if (n)
			rc = command(r, line, n);
	}
	return rc;
}

/* The execution's record, for fb_engine_finish(). */
static int hold(struct fb_engine *engine, const struct fb_exec_result *result,
		struct fb_execution **held)
{
	struct fb_execution *x = calloc(1, sizeof(*x));
	if (!x)
		return fb_error("out of memory");
	x->pooled = engine->pool;
	x->spawn_ms = result->fork_time_ms;
	x->exec_ms = result->exec_time_ms;
	if (engine->pool)
		engine->counts.hits++;
	if (held)
		*held = x;
	else
		fb_engine_finish(engine, x, NULL);
	return 0;
}

int fb_engine_exec(struct fb_engine *engine, const struct fb_exec_request *req,
		   const struct fb_exec_callbacks *cb, struct fb_exec_result *result,
		   struct fb_execution **held)
{
	double start = fb_clock_ms();
	struct run r = {.cb = cb,
			.engine = engine,
			.limit = req->output_limit ? req->output_limit : engine->default_limit,
			.res = result,
			.deadline = start + req->timeout_s * 1000};
	char *code = malloc(req->code_len + 1);
	int rc;

	memset(result, 0, sizeof(*result));
	if (held)
		*held = NULL;
	if (!code)
		return fb_error("out of memory");
	if (req->language && *req->language && strcmp(req->language, engine->runtime) != 0) {
		free(code);
		return fb_error("unsupported language '%s' (this template runs %s)", req->language,
				engine->runtime);
	}
	memcpy(code, req->code, req->code_len);
	code[req->code_len] = '\0';
	snprintf(result->id, sizeof(result->id), "fake-%d-%u", (int)getpid(),
		 atomic_fetch_add(&exec_counter, 1));
	result->fork_time_ms = 0.25;
	rc = run_lines(&r, code, req->code_len);
	free(code);
	if (r.cancelled)
		return fb_error("execution abandoned: the client went away");
	if (result->timed_out)
		result->exit_code = 137;
	result->total_time_ms = fb_clock_ms() - start + result->fork_time_ms;
	result->exec_time_ms = result->total_time_ms - result->fork_time_ms;
	return rc ? -1 : hold(engine, result, held);
}
