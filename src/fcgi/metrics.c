/* Prometheus counters/histograms in shared memory and their text format. */
#include "fcgi/metrics.h"

#include "fcgi/shm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const double fb_hist_bounds[FB_HIST_BOUNDS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
					       0.1,    0.25,  0.5,    1,     2.5,  5,	  10};

static const int known_statuses[FB_METRIC_STATUSES - 1] = {200, 400, 401, 404, 405,
							   413, 429, 500, 503};

/* KVM's counter name -> the reason label of forkbox_kvm_exits_total. */
static const char *const exit_counters[FB_METRIC_EXITS][2] = {
    {"exits", "all"},
    {"io_exits", "io"},
    {"mmio_exits", "mmio"},
    {"halt_exits", "halt"},
    {"irq_exits", "irq"},
    {"irq_window_exits", "irq_window"},
    {"nmi_window_exits", "nmi_window"},
    {"signal_exits", "signal"},
    {"request_irq_exits", "request_irq"},
    {"insn_emulation", "insn_emulation"},
};

struct fb_metrics *fb_metrics_create(void)
{
	return fb_shm_alloc(sizeof(struct fb_metrics), "metrics");
}

void fb_metrics_destroy(struct fb_metrics *m)
{
	fb_shm_free(m, sizeof(*m));
}

void fb_metrics_observe(struct fb_histogram *h, double seconds)
{
	size_t i = 0;

	if (!(seconds >= 0))
		seconds = 0;
	while (i < FB_HIST_BOUNDS && seconds > fb_hist_bounds[i])
		i++;
	atomic_fetch_add(&h->bucket[i], 1);
	atomic_fetch_add(&h->count, 1);
	atomic_fetch_add(&h->sum_us, (uint64_t)llround(seconds * 1e6));
}

void fb_metrics_observe_exec(struct fb_metrics *m, const struct fb_exec_result *res)
{
	fb_metrics_observe(&m->fork, res->fork_time_ms / 1000.0);
	fb_metrics_observe(&m->exec, res->exec_time_ms / 1000.0);
	fb_metrics_observe(&m->total, res->total_time_ms / 1000.0);
}

static void add_ms(atomic_uint_least64_t *us, double ms)
{
	if (ms > 0)
		atomic_fetch_add(us, (uint64_t)llround(ms * 1000));
}

static void add_exits(struct fb_exec_cost_totals *c, const struct fb_exec_stats *st)
{
	for (unsigned i = 0; i < st->ncounters; i++)
		for (size_t j = 0; j < FB_METRIC_EXITS; j++)
			if (strcmp(st->counters[i].name, exit_counters[j][0]) == 0)
				atomic_fetch_add(&c->exits[j], st->counters[i].value);
}

void fb_metrics_observe_costs(struct fb_metrics *m, const struct fb_exec_stats *st)
{
	struct fb_exec_cost_totals *c = &m->cost;

	atomic_fetch_add(&c->executions, 1);
	atomic_fetch_add(st->pooled ? &m->vm_pool.hits : &m->vm_pool.misses, 1);
	atomic_fetch_add(&c->pages_copied, st->pages_copied);
	atomic_fetch_add(&c->pages_shared, st->pages_shared);
	add_ms(&c->guest_us, st->guest_ms);
	add_ms(&c->vmm_us, st->vmm_ms);
	if (!st->kvm_stats)
		return;
	atomic_fetch_add(&c->with_kvm_stats, 1);
	add_exits(c, st);
	add_ms(&c->halted_us, st->halted_ms);
	if (st->pages_guest > 0)
		atomic_fetch_add(&c->pages_touched, (uint64_t)st->pages_guest);
}

void fb_metrics_count_request(struct fb_metrics *m, int status)
{
	size_t i = 0;

	while (i < FB_METRIC_STATUSES - 1 && known_statuses[i] != status)
		i++;
	atomic_fetch_add(&m->requests[i], 1);
}

void fb_metrics_count_error(struct fb_metrics *m)
{
	atomic_fetch_add(&m->errors, 1);
}

static void render_histogram(FILE *f, const char *name, const char *help, struct fb_histogram *h)
{
	uint64_t cumulative = 0;

	fprintf(f, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (size_t i = 0; i <= FB_HIST_BOUNDS; i++) {
		cumulative += atomic_load(&h->bucket[i]);
		if (i < FB_HIST_BOUNDS)
			fprintf(f, "%s_bucket{le=\"%g\"} %llu\n", name, fb_hist_bounds[i],
				(unsigned long long)cumulative);
		else
			fprintf(f, "%s_bucket{le=\"+Inf\"} %llu\n", name,
				(unsigned long long)cumulative);
	}
	uint64_t sum_us = atomic_load(&h->sum_us);
	fprintf(f, "%s_sum %llu.%06llu\n%s_count %llu\n", name,
		(unsigned long long)(sum_us / 1000000), (unsigned long long)(sum_us % 1000000),
		name, (unsigned long long)atomic_load(&h->count));
}

static void render_requests(FILE *f, struct fb_metrics *m)
{
	fputs("# HELP forkbox_requests_total HTTP requests answered, by status.\n"
	      "# TYPE forkbox_requests_total counter\n",
	      f);
	for (size_t i = 0; i < FB_METRIC_STATUSES; i++) {
		unsigned long long n = atomic_load(&m->requests[i]);
		if (i < FB_METRIC_STATUSES - 1)
			fprintf(f, "forkbox_requests_total{status=\"%d\"} %llu\n",
				known_statuses[i], n);
		else
			fprintf(f, "forkbox_requests_total{status=\"other\"} %llu\n", n);
	}
}

static void render_gauges(FILE *f, struct fb_metrics *m, const struct fb_pool_gauges *g)
{
	fprintf(f,
		"# HELP forkbox_errors_total Executions the engine failed to run.\n"
		"# TYPE forkbox_errors_total counter\n"
		"forkbox_errors_total %llu\n"
		"# HELP forkbox_active_vms VMs running right now.\n"
		"# TYPE forkbox_active_vms gauge\n"
		"forkbox_active_vms %lu\n"
		"# HELP forkbox_pool_workers Worker processes by state.\n"
		"# TYPE forkbox_pool_workers gauge\n"
		"forkbox_pool_workers{state=\"idle\"} %u\n"
		"forkbox_pool_workers{state=\"busy\"} %u\n",
		(unsigned long long)atomic_load(&m->errors), g->active_vms, g->idle, g->busy);
}

static unsigned long long load(atomic_uint_least64_t *v)
{
	return (unsigned long long)atomic_load(v);
}

static void render_seconds(FILE *f, atomic_uint_least64_t *us)
{
	uint64_t v = atomic_load(us);
	fprintf(f, "%llu.%06llu", (unsigned long long)(v / 1000000),
		(unsigned long long)(v % 1000000));
}

static void render_costs(FILE *f, struct fb_exec_cost_totals *c)
{
	fprintf(f,
		"# HELP forkbox_executions_costed_total Executions whose costs were read "
		"(after their response).\n# TYPE forkbox_executions_costed_total counter\n"
		"forkbox_executions_costed_total %llu\n"
		"# HELP forkbox_executions_kvm_counted_total Of those, executions with KVM's own "
		"counters (KVM_GET_STATS_FD); 0 on kernels without it, whose exit and touched-page "
		"counts stay 0.\n# TYPE forkbox_executions_kvm_counted_total counter\n"
		"forkbox_executions_kvm_counted_total %llu\n",
		load(&c->executions), load(&c->with_kvm_stats));
	fputs("# HELP forkbox_kvm_exits_total vCPU exits by reason, summed over executions.\n"
	      "# TYPE forkbox_kvm_exits_total counter\n",
	      f);
	for (size_t i = 0; i < FB_METRIC_EXITS; i++)
		fprintf(f, "forkbox_kvm_exits_total{reason=\"%s\"} %llu\n", exit_counters[i][1],
			load(&c->exits[i]));
	fprintf(f,
		"# HELP forkbox_guest_pages_total Guest pages per kind, summed over executions: "
		"touched (mapped by KVM), copied (written: private copies), shared (template pages "
		"the host mapped, fault-around included).\n"
		"# TYPE forkbox_guest_pages_total counter\n"
		"forkbox_guest_pages_total{kind=\"touched\"} %llu\n"
		"forkbox_guest_pages_total{kind=\"copied\"} %llu\n"
		"forkbox_guest_pages_total{kind=\"shared\"} %llu\n",
		load(&c->pages_touched), load(&c->pages_copied), load(&c->pages_shared));
	fputs("# HELP forkbox_vcpu_seconds_total vCPU time: in the guest, halted in the guest, "
	      "handling exits in the VMM.\n# TYPE forkbox_vcpu_seconds_total counter\n",
	      f);
	const char *where[] = {"guest", "halted", "vmm"};
	atomic_uint_least64_t *us[] = {&c->guest_us, &c->halted_us, &c->vmm_us};
	for (size_t i = 0; i < 3; i++) {
		fprintf(f, "forkbox_vcpu_seconds_total{where=\"%s\"} ", where[i]);
		render_seconds(f, us[i]);
		fputc('\n', f);
	}
}

static void render_vm_pool(FILE *f, struct fb_vm_pool_totals *p, const struct fb_pool_gauges *g)
{
	fprintf(f,
		"# HELP forkbox_vm_pool_takes_total VMs taken for executions: ready from a "
		"worker's pool (hit) or built on the request path (miss).\n"
		"# TYPE forkbox_vm_pool_takes_total counter\n"
		"forkbox_vm_pool_takes_total{result=\"hit\"} %llu\n"
		"forkbox_vm_pool_takes_total{result=\"miss\"} %llu\n"
		"# HELP forkbox_vm_pool_built_total VMs the pools' threads built.\n"
		"# TYPE forkbox_vm_pool_built_total counter\n"
		"forkbox_vm_pool_built_total %llu\n"
		"# HELP forkbox_vm_pool_build_failures_total VM builds that failed.\n"
		"# TYPE forkbox_vm_pool_build_failures_total counter\n"
		"forkbox_vm_pool_build_failures_total %llu\n"
		"# HELP forkbox_vm_destroyed_total Used VMs destroyed by the pools' threads, "
		"after their response.\n# TYPE forkbox_vm_destroyed_total counter\n"
		"forkbox_vm_destroyed_total %llu\n"
		"# HELP forkbox_vm_destroy_seconds_total Time spent destroying them.\n"
		"# TYPE forkbox_vm_destroy_seconds_total counter\n"
		"forkbox_vm_destroy_seconds_total ",
		load(&p->hits), load(&p->misses), load(&p->built), load(&p->build_failures),
		load(&p->destroyed));
	render_seconds(f, &p->destroy_us);
	fprintf(f,
		"\n# HELP forkbox_vm_pool_ready VMs ready in the workers' pools now.\n"
		"# TYPE forkbox_vm_pool_ready gauge\nforkbox_vm_pool_ready %lu\n"
		"# HELP forkbox_vm_pool_depth Ready VMs each worker keeps (vm_pool.depth).\n"
		"# TYPE forkbox_vm_pool_depth gauge\nforkbox_vm_pool_depth %u\n"
		"# HELP forkbox_vm_pool_threads Threads per worker building and destroying VMs "
		"(vm_pool.threads).\n"
		"# TYPE forkbox_vm_pool_threads gauge\nforkbox_vm_pool_threads %u\n"
		"# HELP forkbox_template_resident_bytes Template memory held in RAM now.\n"
		"# TYPE forkbox_template_resident_bytes gauge\n"
		"forkbox_template_resident_bytes %llu\n",
		g->vm_pool_ready, g->vm_pool_depth, g->vm_pool_threads,
		(unsigned long long)g->template_resident_bytes);
}

char *fb_metrics_render(struct fb_metrics *m, const struct fb_pool_gauges *g, size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);

	if (!f)
		return NULL;
	render_histogram(f, "forkbox_fork_time_seconds",
			 "Time to create a VM from the template and restore its state.", &m->fork);
	render_histogram(f, "forkbox_exec_time_seconds",
			 "Time from sending the code to the guest until it exited.", &m->exec);
	render_histogram(f, "forkbox_total_time_seconds", "Whole execution time.", &m->total);
	render_costs(f, &m->cost);
	render_vm_pool(f, &m->vm_pool, g);
	fb_metrics_render_templates(f, m, g);
	render_requests(f, m);
	render_gauges(f, m, g);
	if (fclose(f)) {
		free(text);
		return NULL;
	}
	return text;
}
