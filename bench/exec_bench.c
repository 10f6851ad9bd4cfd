/* exec-bench: N executions through the engine (one CoW fork each), checked
 * and timed. Used by tests/vm/t-run.sh (100 sequential forks all correct,
 * 20 forks with distinct random state) and by `make bench`.
 *
 *   exec-bench [-n N] [-p THREADS] [-c CODE] [--expect TEXT] [--distinct]
 *              [--timeout S] [--pool DEPTH] [--pool-threads N] [--ram]
 *              [--lock] [--huge] [--no-prefetch] TEMPLATE
 *
 * Every run's stdout must equal --expect (when given); with --distinct no
 * two runs may print the same line at the same position. Prints a summary
 * (fork and fork+exec p50/p99, host RSS and PSS a live fork adds, each
 * run's costs from fb_engine_finish(): guest pages touched and copied, KVM
 * exits, vCPU time) and one "FAIL ..." line per bad run; exits 0 only if
 * every run passed. --pool runs a pool of DEPTH ready VMs (filled before
 * the first run); --ram holds the template memory in RAM (as forkbox-fcgi
 * does), --lock and --huge with it; --no-prefetch leaves the working set
 * unmapped. */
#include "percentile.h"
#include "rollup.h"
#include "util/error.h"
#include "vmm/engine.h"

#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define OUT_MAX 65536

struct bench_opts {
	const char *template_path;
	const char *code;
	const char *expect;
	unsigned runs, threads;
	int distinct;
	double timeout_s;
	unsigned pool_depth, pool_threads;
	struct fb_engine_options eo;
};

struct run_record {
	char out[OUT_MAX];
	size_t out_len;
	struct bench_rollup before, live;
	struct fb_exec_result res;
	struct fb_exec_stats stats;
	int engine_rc;
};

struct bench {
	struct bench_opts o;
	struct fb_engine *engine;
	struct run_record *recs;
	atomic_uint next;
	atomic_uint failures;
};

static int collect(void *ctx, enum fb_stream stream, const void *data, size_t len)
{
	struct run_record *r = ctx;

	/* Sampled while the VM is alive and has run the code. */
	r->live = bench_read_rollup();
	if (stream != FB_STREAM_STDOUT)
		return 0;
	if (len > OUT_MAX - 1 - r->out_len)
		len = OUT_MAX - 1 - r->out_len;
	memcpy(r->out + r->out_len, data, len);
	r->out_len += len;
	r->out[r->out_len] = '\0';
	return 0;
}

static void run_one(struct bench *b, struct run_record *r)
{
	struct fb_exec_request req = {
	    .code = b->o.code, .code_len = strlen(b->o.code), .timeout_s = b->o.timeout_s};
	struct fb_exec_callbacks cb = {.on_output = collect, .ctx = r};

	struct fb_execution *held;

	r->before = bench_read_rollup();
	r->engine_rc = fb_engine_exec(b->engine, &req, &cb, &r->res, &held);
	if (r->engine_rc < 0)
		snprintf(r->out, sizeof(r->out), "engine: %s", fb_error_last());
	else
		fb_engine_finish(b->engine, held, &r->stats);
}

static int check_run(const struct bench *b, unsigned i);

/* Failures are printed as they happen (a hung guest shows at once). */
static void *worker(void *arg)
{
	struct bench *b = arg;

	for (;;) {
		unsigned i = atomic_fetch_add(&b->next, 1);
		if (i >= b->o.runs)
			return NULL;
		run_one(b, &b->recs[i]);
		if (check_run(b, i))
			atomic_fetch_add(&b->failures, 1);
	}
}

static int check_run(const struct bench *b, unsigned i)
{
	const struct run_record *r = &b->recs[i];

	if (r->engine_rc < 0) {
		printf("FAIL run %u: %s\n", i, r->out);
		fflush(stdout);
		return 1;
	}
	if (r->res.exit_code != 0 || (b->o.expect && strcmp(r->out, b->o.expect) != 0)) {
		printf("FAIL run %u: exit %d%s, stdout '%s'\n", i, r->res.exit_code,
		       r->res.timed_out ? " (timed out)" : "", r->out);
		fflush(stdout);
		return 1;
	}
	return 0;
}

/* Runs i and j printed the same text (a duplicate random value). */
static int check_distinct(const struct bench *b)
{
	int dup = 0;

	for (unsigned i = 0; i < b->o.runs; i++)
		for (unsigned j = i + 1; j < b->o.runs; j++) {
			const char *x = b->recs[i].out, *y = b->recs[j].out;
			/* Compare line by line: each line is one random source. */
			while (*x && *y) {
				size_t lx = strcspn(x, "\n"), ly = strcspn(y, "\n");
				if (lx == ly && memcmp(x, y, lx) == 0) {
					printf("FAIL runs %u and %u printed the same line '%.*s'\n",
					       i, j, (int)lx, x);
					dup = 1;
				}
				x += lx + (x[lx] == '\n');
				y += ly + (y[ly] == '\n');
			}
		}
	return dup;
}

/* p50 of one field of every run's stats. */
static double stat_p50(const struct bench *b, double (*get)(const struct fb_exec_stats *))
{
	double *v = calloc(b->o.runs, sizeof(double));
	if (!v)
		return -1;
	for (unsigned i = 0; i < b->o.runs; i++)
		v[i] = get(&b->recs[i].stats);
	double p = bench_percentile(v, b->o.runs, 50);
	free(v);
	return p;
}

static double st_guest_pages(const struct fb_exec_stats *s)
{
	return (double)s->pages_guest;
}
static double st_copied(const struct fb_exec_stats *s)
{
	return (double)s->pages_copied;
}
static double st_shared(const struct fb_exec_stats *s)
{
	return (double)s->pages_shared;
}
static double st_guest_ms(const struct fb_exec_stats *s)
{
	return s->guest_ms;
}
static double st_halted_ms(const struct fb_exec_stats *s)
{
	return s->halted_ms;
}
static double st_vmm_ms(const struct fb_exec_stats *s)
{
	return s->vmm_ms;
}
static double st_teardown_ms(const struct fb_exec_stats *s)
{
	return s->teardown_ms;
}
static double st_exits(const struct fb_exec_stats *s)
{
	for (unsigned i = 0; i < s->ncounters; i++)
		if (strcmp(s->counters[i].name, "exits") == 0)
			return (double)s->counters[i].value;
	return (double)s->vmm_exits;
}

static void print_costs(const struct bench *b)
{
	const struct fb_exec_stats *s0 = &b->recs[0].stats;
	printf("pages_p50 guest_touched %.0f copied %.0f host_shared %.0f\n",
	       stat_p50(b, st_guest_pages), stat_p50(b, st_copied), stat_p50(b, st_shared));
	printf("vcpu_ms_p50 guest %.3f halted %.3f vmm %.3f exits %.0f teardown_ms_p50 %.3f\n",
	       stat_p50(b, st_guest_ms), stat_p50(b, st_halted_ms), stat_p50(b, st_vmm_ms),
	       stat_p50(b, st_exits), stat_p50(b, st_teardown_ms));
	if (!s0->kvm_stats)
		printf("kvm_counters none: %s\n", s0->kvm_stats_note);
}

static void print_engine(struct bench *b)
{
	struct fb_engine_info info;
	fb_engine_info(b->engine, &info);
	printf("engine memory_in_ram %d resident_kb %llu huge_kb %llu locked %d "
	       "working_set_pages %llu copy_pages %llu prefetch %d (%s)\n",
	       info.memory_in_ram, (unsigned long long)(info.resident_bytes >> 10),
	       (unsigned long long)(info.huge_bytes >> 10), info.locked,
	       (unsigned long long)info.working_set_pages,
	       (unsigned long long)info.working_set_copy_pages, info.prefetch,
	       info.prefetch_method);
	if (info.pool)
		printf("pool depth %u threads %u hits %llu misses %llu built %llu "
		       "build_failures %llu\n",
		       info.pool_counts.depth, info.pool_counts.threads,
		       (unsigned long long)info.pool_counts.hits,
		       (unsigned long long)info.pool_counts.misses,
		       (unsigned long long)info.pool_counts.built,
		       (unsigned long long)info.pool_counts.build_failures);
}

static void print_summary(const struct bench *b)
{
	unsigned n = b->o.runs;
	double *fork = calloc(n, sizeof(double)), *total = calloc(n, sizeof(double));
	double *rss = calloc(n, sizeof(double)), *pss = calloc(n, sizeof(double));
	double *anon = calloc(n, sizeof(double)), *exec = calloc(n, sizeof(double));

	if (!fork || !total || !rss || !pss || !anon || !exec)
		goto out;
	for (unsigned i = 0; i < n; i++) {
		const struct run_record *r = &b->recs[i];
		fork[i] = r->res.fork_time_ms;
		exec[i] = r->res.exec_time_ms;
		total[i] = r->res.total_time_ms;
		rss[i] = (double)(r->live.rss_kb - r->before.rss_kb);
		pss[i] = (double)(r->live.pss_kb - r->before.pss_kb);
		anon[i] = (double)(r->live.anon_kb - r->before.anon_kb);
	}
	printf("runs %u threads %u\n", n, b->o.threads);
	printf("fork_ms p50 %.3f p99 %.3f\n", bench_percentile(fork, n, 50),
	       bench_percentile(fork, n, 99));
	printf("exec_ms p50 %.3f p99 %.3f\n", bench_percentile(exec, n, 50),
	       bench_percentile(exec, n, 99));
	printf("fork_exec_ms p50 %.3f p99 %.3f\n", bench_percentile(total, n, 50),
	       bench_percentile(total, n, 99));
	if (b->o.threads == 1)
		printf("fork_rss_kb p50 %.0f fork_pss_kb p50 %.0f fork_private_kb p50 %.0f\n",
		       bench_percentile(rss, n, 50), bench_percentile(pss, n, 50),
		       bench_percentile(anon, n, 50));
	print_costs(b);
out:
	free(fork);
	free(exec);
	free(total);
	free(rss);
	free(pss);
	free(anon);
}

static int parse_opts(int argc, char **argv, struct bench_opts *o)
{
	static const struct option lo[] = {{"expect", required_argument, NULL, 'e'},
					   {"distinct", no_argument, NULL, 'd'},
					   {"timeout", required_argument, NULL, 't'},
					   {"pool", required_argument, NULL, 'P'},
					   {"pool-threads", required_argument, NULL, 'T'},
					   {"ram", no_argument, NULL, 'r'},
					   {"lock", no_argument, NULL, 'l'},
					   {"huge", no_argument, NULL, 'h'},
					   {"no-prefetch", no_argument, NULL, 'N'},
					   {NULL, 0, NULL, 0}};
	*o = (struct bench_opts){.code = "print(1+1)",
				 .runs = 10,
				 .threads = 1,
				 .timeout_s = 60,
				 .pool_threads = 2,
				 .eo = {.serial_log_fd = -1, .prefetch = true}};
	int c;

	while ((c = getopt_long(argc, argv, "n:p:c:e:dt:", lo, NULL)) != -1) {
		switch (c) {
		case 'n':
			o->runs = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'p':
			o->threads = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'c':
			o->code = optarg;
			break;
		case 'e':
			o->expect = optarg;
			break;
		case 'd':
			o->distinct = 1;
			break;
		case 't':
			o->timeout_s = strtod(optarg, NULL);
			break;
		case 'P':
			o->pool_depth = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'T':
			o->pool_threads = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'r':
			o->eo.memory_in_ram = true;
			break;
		case 'l':
			o->eo.lock_memory = true;
			break;
		case 'h':
			o->eo.huge_pages = true;
			break;
		case 'N':
			o->eo.prefetch = false;
			break;
		default:
			return -1;
		}
	}
	if (optind != argc - 1 || o->runs < 1 || o->runs > 100000 || o->threads < 1 ||
	    o->threads > 256)
		return -1;
	o->template_path = argv[optind];
	o->eo.template_path = o->template_path;
	return 0;
}

/* Starts the pool and waits (up to a minute) until it is full, so the
 * runs measure taking ready VMs. */
static int start_pool(struct bench *b)
{
	struct fb_engine_pool_options po = {.depth = b->o.pool_depth, .threads = b->o.pool_threads};
	if (!po.depth)
		return 0;
	struct bench_rollup m0 = bench_read_rollup();
	if (fb_engine_pool_start(b->engine, &po) < 0)
		return -1;
	struct fb_engine_pool_counts c;
	for (int waited = 0; waited < 60000; waited += 10) {
		if (fb_engine_pool_counts(b->engine, &c) && c.ready >= po.depth) {
			/* What each ready VM costs before anything runs in it. */
			struct bench_rollup m1 = bench_read_rollup();
			printf("idle_fork_kb pss %ld private %ld rss %ld\n",
			       (m1.pss_kb - m0.pss_kb) / (long)po.depth,
			       (m1.anon_kb - m0.anon_kb) / (long)po.depth,
			       (m1.rss_kb - m0.rss_kb) / (long)po.depth);
			return 0;
		}
		struct timespec ts = {0, 10000000};
		nanosleep(&ts, NULL);
	}
	return fb_error("the pool did not fill in 60 s");
}

int main(int argc, char **argv)
{
	struct bench b = {0};

	if (parse_opts(argc, argv, &b.o) < 0) {
		fprintf(stderr, "usage: exec-bench [-n N] [-p THREADS] [-c CODE] [--expect TEXT] "
				"[--distinct] [--timeout S] [--pool DEPTH] [--pool-threads N] "
				"[--ram] [--lock] [--huge] [--no-prefetch] TEMPLATE\n");
		return 2;
	}
	b.engine = fb_engine_open(&b.o.eo);
	b.recs = calloc(b.o.runs, sizeof(*b.recs));
	if (!b.recs) {
		fprintf(stderr, "exec-bench: out of memory\n");
		return 1;
	}
	if (!b.engine || start_pool(&b) < 0) {
		fprintf(stderr, "exec-bench: %s\n", fb_error_last());
		return 1;
	}
	pthread_t th[256];
	unsigned started = 0;
	for (; started < b.o.threads; started++) {
		int err = pthread_create(&th[started], NULL, worker, &b);
		if (err) {
			fprintf(stderr, "exec-bench: pthread_create: %s\n", strerror(err));
			break;
		}
	}
	if (started == 0)
		worker(&b);
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	int failed = atomic_load(&b.failures) != 0;
	if (b.o.distinct)
		failed |= check_distinct(&b);
	print_summary(&b);
	print_engine(&b);
	printf("%s: %u runs\n", failed ? "FAILED" : "passed", b.o.runs);
	fb_engine_close(b.engine);
	free(b.recs);
	return failed;
}
