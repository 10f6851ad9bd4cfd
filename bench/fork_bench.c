/* Engine micro-benchmark with the ring-3 micro-guest (runs natively on any
 * /dev/kvm, PVM included), through the product's own code: the template in
 * RAM (template_ram), fb_fork_create(), the ready-VM pool. Prints one line
 * per measurement, "ROW<TAB>what<TAB>p50<TAB>p99 or second value<TAB>unit
 * <TAB>key" (bench/run.sh turns them into docs/BENCHMARKS.md rows):
 *
 *   cold fork        create VM + devices + memory slot + vCPU + restore
 *   pooled spawn     take a ready VM from the pool, set its clock, start it
 *   spawn to guest   take .. the guest's first instruction ran (counter moved)
 *   CoW per page     guest writes one byte per page of template data (copy),
 *                    reads (shared mapping), per page
 *   memory per fork  RSS, PSS and private memory a fork adds: idle (built,
 *                    not run) and after running
 *   forks per second full lifecycles (fork, run to first exit, destroy) with
 *                    1, 2, 4 ... 64 threads
 *   1000 live forks  time to create them (64 threads) and the memory they hold
 *
 * usage: fork_bench [--quick]  (--quick: fewer runs, for smoke tests) */
#include "microguest_vmm.h"
#include "percentile.h"
#include "rollup.h"

#include "util/clock.h"
#include "util/error.h"
#include "vmm/fork.h"
#include "vmm/kvm.h"
#include "vmm/template_ram.h"
#include "vmm/vm_pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 64

struct bench {
	struct fb_kvm kvm;
	struct fb_template *t;
	struct fb_template_ram *ram;
	unsigned runs;	     /* samples per timing */
	unsigned live_forks; /* the "1000 live forks" test */
	double rate_seconds; /* per thread count */
};

static void row(const char *what, double *v, unsigned n, const char *unit, const char *key)
{
	printf("ROW\t%s\t%.1f\t%.1f\t%s\t%s\n", what, bench_percentile(v, n, 50),
	       bench_percentile(v, n, 99), unit, key);
}

static struct fb_vm *fork_vm(struct bench *b)
{
	struct fb_fork_options fo = {.ram = b->ram, .serial_fd = -1};
	return fb_fork_create(&b->kvm, b->t, &fo);
}

static struct fb_vm *build_ready(void *ctx)
{
	struct fb_vm *vm = fork_vm(ctx);
	if (vm && fb_vm_prepare(vm) < 0) {
		fb_vm_destroy(vm);
		return NULL;
	}
	return vm;
}

static int time_cold_forks(struct bench *b)
{
	double *us = calloc(b->runs, sizeof(double));
	if (!us)
		return fb_error("out of memory");
	for (unsigned i = 0; i < b->runs; i++) {
		double t0 = fb_clock_ms();
		struct fb_vm *vm = fork_vm(b);
		us[i] = (fb_clock_ms() - t0) * 1000;
		if (!vm || mg_vmm_run_to_out(vm) < 0) {
			free(us);
			return -1;
		}
		fb_vm_destroy(vm);
	}
	row("cold fork: create VM, irqchip, PIT, memory slot, vCPU, restore state", us, b->runs,
	    "us", "cold-fork");
	free(us);
	return 0;
}

static void sleep_us(long us)
{
	struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
	nanosleep(&ts, NULL);
}

static void wait_pool_ready(struct fb_vm_pool *p, unsigned n)
{
	struct fb_vm_pool_stats s;
	for (int i = 0; i < 100000; i++) {
		fb_vm_pool_get_stats(p, &s);
		if (s.ready >= n)
			return;
		sleep_us(100);
	}
}

/* One pooled spawn: take + time restore + start; then until the guest ran. */
static int pooled_spawn(struct bench *b, struct fb_vm_pool *p, double *spawn_us, double *first_us)
{
	bool hit;
	double t0 = fb_clock_ms();
	struct fb_vm *vm = fb_vm_pool_take(p, &hit);
	if (!vm || fb_fork_restore_time(vm, b->t) < 0 || fb_vm_start(vm) < 0)
		return -1;
	*spawn_us = (fb_clock_ms() - t0) * 1000;
	while (mg_vm_counter(vm) == 100)
		;
	*first_us = (fb_clock_ms() - t0) * 1000;
	fb_vm_pool_retire(p, vm);
	return hit ? 0 : fb_error("pool miss while it was full");
}

static int time_pooled_spawns(struct bench *b)
{
	struct fb_vm_pool_options po = {.depth = 4, .threads = 4};
	struct fb_vm_pool_ops ops = {.build = build_ready, .ctx = b};
	struct fb_vm_pool *p = fb_vm_pool_create(&po, &ops);
	double *spawn = calloc(b->runs, sizeof(double)), *first = calloc(b->runs, sizeof(double));
	int rc = p && spawn && first ? 0 : -1;
	for (unsigned i = 0; rc == 0 && i < b->runs; i++) {
		wait_pool_ready(p, po.depth); /* measure hits, not refills */
		rc = pooled_spawn(b, p, &spawn[i], &first[i]);
	}
	if (rc == 0) {
		row("pooled spawn: take a ready VM, restore its clock, start it", spawn, b->runs,
		    "us", "pooled-spawn");
		row("pooled spawn to the guest's first instruction", first, b->runs, "us",
		    "pooled-first");
	}
	fb_vm_pool_destroy(p);
	free(spawn);
	free(first);
	return rc;
}

/* us per page for a fork running the writer or reader program. */
static int touch_cost(struct bench *b, uint64_t program, double *us_per_page)
{
	struct fb_vm *vm = fork_vm(b);
	if (!vm || mg_vmm_set_rip(vm, program) < 0)
		return -1;
	double t0 = fb_clock_ms();
	int rc = mg_vmm_run_to_out(vm);
	*us_per_page = (fb_clock_ms() - t0) * 1000 / MG_TOUCH_PAGES;
	fb_vm_destroy(vm);
	return rc;
}

static int time_page_costs(struct bench *b)
{
	unsigned n = b->runs / 4 ? b->runs / 4 : 1;
	double *w = calloc(n, sizeof(double)), *r = calloc(n, sizeof(double));
	int rc = w && r ? 0 : fb_error("out of memory");
	for (unsigned i = 0; rc == 0 && i < n; i++)
		if (touch_cost(b, MG_WRITER_GPA, &w[i]) < 0 ||
		    touch_cost(b, MG_READER_GPA, &r[i]) < 0)
			rc = -1;
	if (rc == 0) {
		row("guest write to a template page (copy on write), per page", w, n, "us",
		    "cow-page");
		row("guest read of a template page (shared mapping), per page", r, n, "us",
		    "read-page");
	}
	free(w);
	free(r);
	return rc;
}

static int measure_memory(struct bench *b)
{
	enum { N = 50 };
	struct fb_vm *vms[N] = {0};
	struct bench_rollup m0 = bench_read_rollup();
	int rc = 0;
	for (int i = 0; i < N && rc == 0; i++)
		if (!(vms[i] = build_ready(b)))
			rc = -1;
	struct bench_rollup m1 = bench_read_rollup();
	for (int i = 0; i < N && rc == 0; i++)
		if (fb_vm_start(vms[i]) < 0)
			rc = -1;
	for (int i = 0; i < N && rc == 0; i++)
		while (mg_vm_counter(vms[i]) == 100)
			sleep_us(100);
	struct bench_rollup m2 = bench_read_rollup();
	for (int i = 0; i < N; i++)
		fb_vm_destroy(vms[i]);
	if (rc == 0) {
		printf(
		    "ROW\thost memory per idle fork (built, vCPU thread parked; %d forks): PSS / "
		    "private\t%ld\t%ld\tKiB\tmem-idle\n",
		    N, (m1.pss_kb - m0.pss_kb) / N, (m1.anon_kb - m0.anon_kb) / N);
		printf("ROW\thost memory per fork after it ran: PSS / private\t%ld\t%ld\tKiB\t"
		       "mem-ran\n",
		       (m2.pss_kb - m0.pss_kb) / N, (m2.anon_kb - m0.anon_kb) / N);
	}
	return rc;
}

/* Forks per second: threads running whole lifecycles for a while. */
struct rate {
	struct bench *b;
	double until_ms;
	atomic_uint done;
	atomic_int failed;
};

static void *rate_thread(void *arg)
{
	struct rate *r = arg;
	while (fb_clock_ms() < r->until_ms && !atomic_load(&r->failed)) {
		struct fb_vm *vm = fork_vm(r->b);
		if (!vm || mg_vmm_run_to_out(vm) < 0) {
			fprintf(stderr, "fork_bench: %s\n", fb_error_last());
			atomic_store(&r->failed, 1);
		}
		fb_vm_destroy(vm);
		atomic_fetch_add(&r->done, 1);
	}
	return NULL;
}

static int fork_rate(struct bench *b, unsigned threads, double *per_s)
{
	struct rate r = {.b = b};
	pthread_t tid[MAX_THREADS];
	double t0 = fb_clock_ms();
	r.until_ms = t0 + b->rate_seconds * 1000;
	unsigned started = 0;
	for (; started < threads; started++)
		if (pthread_create(&tid[started], NULL, rate_thread, &r))
			break;
	for (unsigned i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	*per_s = atomic_load(&r.done) / ((fb_clock_ms() - t0) / 1000);
	return started == threads && !atomic_load(&r.failed) ? 0 : fb_error("fork rate failed");
}

static int measure_rates(struct bench *b)
{
	double best = 0;
	char each[256] = "";
	size_t used = 0;
	for (unsigned th = 1; th <= MAX_THREADS; th *= 2) {
		double r;
		if (fork_rate(b, th, &r) < 0)
			return -1;
		used += (size_t)snprintf(each + used, sizeof(each) - used, "%s%.0f",
					 th == 1 ? "" : " / ", r);
		best = r > best ? r : best;
	}
	printf("ROW\tforks per second (fork, run to first exit, destroy) with 1 / 2 / 4 / 8 / 16 / "
	       "32 / 64 threads: %s\t%.0f\t-\tforks/s (best)\tforks-per-s\n",
	       each, best);
	return 0;
}

/* N live forks at once, created by 64 threads. */
struct live {
	struct bench *b;
	struct fb_vm **vms;
	unsigned n;
	atomic_uint next;
	atomic_int failed;
};

static void *live_thread(void *arg)
{
	struct live *l = arg;
	unsigned i;
	while ((i = atomic_fetch_add(&l->next, 1)) < l->n && !atomic_load(&l->failed)) {
		l->vms[i] = fork_vm(l->b);
		if (!l->vms[i] || mg_vmm_run_to_out(l->vms[i]) < 0)
			atomic_store(&l->failed, 1);
	}
	return NULL;
}

static int run_live(struct live *l, unsigned threads)
{
	pthread_t tid[MAX_THREADS];
	unsigned started = 0;
	for (; started < threads; started++)
		if (pthread_create(&tid[started], NULL, live_thread, l))
			break;
	for (unsigned i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	return atomic_load(&l->failed) ? fb_error_prefix("live forks") : 0;
}

static int measure_live(struct bench *b)
{
	struct live l = {.b = b, .n = b->live_forks};
	l.vms = calloc(l.n, sizeof(*l.vms));
	if (!l.vms)
		return fb_error("out of memory");
	struct bench_rollup m0 = bench_read_rollup();
	double t0 = fb_clock_ms();
	int rc = run_live(&l, MAX_THREADS);
	double create_ms = fb_clock_ms() - t0;
	struct bench_rollup m1 = bench_read_rollup();
	t0 = fb_clock_ms();
	for (unsigned i = 0; i < l.n; i++)
		fb_vm_destroy(l.vms[i]);
	double destroy_ms = fb_clock_ms() - t0;
	free(l.vms);
	if (rc < 0)
		return -1;
	printf("ROW\t%u live forks (each ran its first step), 64 threads: create all / destroy "
	       "all\t%.0f\t%.0f\tms\tlive-create\n",
	       l.n, create_ms, destroy_ms);
	printf("ROW\t%u live forks: host memory of the process, RSS / PSS\t%.1f\t%.1f\tMiB\t"
	       "live-mem\n",
	       l.n, (m1.rss_kb - m0.rss_kb) / 1024.0, (m1.pss_kb - m0.pss_kb) / 1024.0);
	return 0;
}

static int setup(struct bench *b, const char *path)
{
	/* 1000 VMs hold ~4000 descriptors. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	struct fb_template_ram_options ro = {0};
	if (mg_write_vmm_template(path, 100) < 0 || fb_template_open(path, &b->t) < 0 ||
	    fb_kvm_open(&b->kvm) < 0 || fb_template_ram_load(b->t, &ro, &b->ram) < 0)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	struct bench b = {.runs = 200, .live_forks = 1000, .rate_seconds = 1.5};
	if (argc > 1 && strcmp(argv[1], "--quick") == 0)
		b = (struct bench){.runs = 20, .live_forks = 100, .rate_seconds = 0.2};
	b.kvm.fd = -1;
	char path[] = "/tmp/fb-fork-bench.XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0) {
		perror("mkstemp");
		return 1;
	}
	close(fd);
	int r = 1;
	if (setup(&b, path) < 0)
		goto out;
	printf("# forkbox fork bench: micro-guest template, %u KiB guest memory in RAM, %u runs\n",
	       MG_MEM_SIZE / 1024, b.runs);
	fflush(stdout);
	if (time_cold_forks(&b) < 0 || time_pooled_spawns(&b) < 0 || time_page_costs(&b) < 0 ||
	    measure_memory(&b) < 0 || measure_rates(&b) < 0 || measure_live(&b) < 0)
		goto out;
	r = 0;
out:
	if (r)
		fprintf(stderr, "fork_bench: %s\n", fb_error_last());
	fb_template_ram_close(b.ram);
	fb_template_close(b.t);
	fb_kvm_close(&b.kvm);
	unlink(path);
	return r;
}
