/* Prometheus metrics shared by all workers of a pool (one shared-memory
 * area, updated with atomic operations, rendered by whichever worker serves
 * GET /v1/metrics). */
#ifndef FORKBOX_FCGI_METRICS_H
#define FORKBOX_FCGI_METRICS_H

#include "vmm/engine.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define FB_HIST_BOUNDS 14
extern const double fb_hist_bounds[FB_HIST_BOUNDS]; /* upper bounds, seconds */

struct fb_histogram {
	atomic_uint_least64_t bucket[FB_HIST_BOUNDS + 1]; /* per bucket, last = +Inf */
	atomic_uint_least64_t count;
	atomic_uint_least64_t sum_us; /* microseconds */
};

#define FB_METRIC_STATUSES 10 /* the known statuses plus "other" */
#define FB_METRIC_EXITS	   10 /* KVM exit reasons counted (metrics.c) */

/* Per-execution costs summed over executions (struct fb_exec_stats). */
struct fb_exec_cost_totals {
	atomic_uint_least64_t executions; /* with costs read */
	atomic_uint_least64_t with_kvm_stats;
	atomic_uint_least64_t exits[FB_METRIC_EXITS];
	atomic_uint_least64_t pages_touched, pages_copied, pages_shared;
	atomic_uint_least64_t guest_us, halted_us, vmm_us;
};

/* The workers' VM pools, summed (deltas of each pool's own counters). */
struct fb_vm_pool_totals {
	atomic_uint_least64_t hits, misses, built, build_failures, destroyed, destroy_us;
};

#define FB_METRIC_TEMPLATES 16
#define FB_METRIC_NAME_MAX  32

/* One template (a slot per name, claimed by the master, kept across
 * reloads): the generation serving new requests, and the forks served. */
struct fb_template_counters {
	char name[FB_METRIC_NAME_MAX]; /* "" = free; written by the master only */
	atomic_uint generation;	       /* serving now */
	atomic_int_least64_t created_unix;
	atomic_uint_least64_t forks;	   /* by the generation serving now */
	atomic_uint_least64_t forks_total; /* by every generation */
	atomic_uint_least64_t rebuilds, rebuild_failures;
	atomic_int rebuilding; /* a rebuild runs now */
};

struct fb_metrics {
	struct fb_histogram fork, exec, total;
	atomic_uint_least64_t requests[FB_METRIC_STATUSES];
	atomic_uint_least64_t errors;
	struct fb_exec_cost_totals cost;
	struct fb_vm_pool_totals vm_pool;
	struct fb_template_counters templates[FB_METRIC_TEMPLATES];
};

/* A template as /v1/metrics shows it. */
struct fb_template_gauge {
	const char *name;
	int slot; /* in fb_metrics.templates, -1 if none */
	bool ready;
};

/* Gauges computed at render time from the scoreboard and the engine. */
struct fb_pool_gauges {
	unsigned idle, busy;
	unsigned long active_vms;
	unsigned long vm_pool_ready; /* ready VMs in all workers' pools */
	unsigned vm_pool_depth;	     /* configured per worker */
	unsigned vm_pool_threads;    /* configured per worker */
	uint64_t template_resident_bytes;
	const struct fb_template_gauge *templates;
	size_t n_templates;
};

struct fb_metrics *fb_metrics_create(void);
void fb_metrics_destroy(struct fb_metrics *m);

void fb_metrics_observe(struct fb_histogram *h, double seconds);
void fb_metrics_observe_exec(struct fb_metrics *m, const struct fb_exec_result *res);
/* An execution's costs (read after its response was sent). */
void fb_metrics_observe_costs(struct fb_metrics *m, const struct fb_exec_stats *st);
void fb_metrics_count_request(struct fb_metrics *m, int status);
void fb_metrics_count_error(struct fb_metrics *m);

/* The slot of template name, claimed if new; -1 when all are taken.
 * Called by the master (one writer). */
int fb_metrics_template_slot(struct fb_metrics *m, const char *name);
/* The generation serving slot's template now: its fork count restarts
 * from 0 when it changes. */
void fb_metrics_template_serving(struct fb_metrics *m, int slot, unsigned generation,
				 int64_t created_unix);
/* One execution by generation of slot's template (a worker of an older
 * generation does not count toward the new one). */
void fb_metrics_count_fork(struct fb_metrics *m, int slot, unsigned generation);

/* The per-template families, for fb_metrics_render(). */
void fb_metrics_render_templates(FILE *f, struct fb_metrics *m, const struct fb_pool_gauges *g);

/* Prometheus text exposition (format 0.0.4) in a malloc'd buffer, or NULL. */
char *fb_metrics_render(struct fb_metrics *m, const struct fb_pool_gauges *g, size_t *len);

#endif
