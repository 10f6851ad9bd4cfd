/* Prometheus counters/histograms in shared memory and their text format. */
#include "fcgi/metrics.h"

#include "fcgi/shm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

const double fb_hist_bounds[FB_HIST_BOUNDS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
					       0.1,    0.25,  0.5,    1,     2.5,  5,	  10};

static const int known_statuses[FB_METRIC_STATUSES - 1] = {200, 400, 401, 404, 405,
							   413, 429, 500, 503};

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
	render_requests(f, m);
	render_gauges(f, m, g);
	if (fclose(f)) {
		free(text);
		return NULL;
	}
	return text;
}
