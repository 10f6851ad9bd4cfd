/* Prometheus metrics shared by all workers of a pool (one shared-memory
 * area, updated with atomic operations, rendered by whichever worker serves
 * GET /v1/metrics). */
#ifndef FORKBOX_FCGI_METRICS_H
#define FORKBOX_FCGI_METRICS_H

#include "vmm/engine.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

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

struct fb_metrics {
	struct fb_histogram fork, exec, total;
	atomic_uint_least64_t requests[FB_METRIC_STATUSES];
	atomic_uint_least64_t errors;
	struct fb_exec_cost_totals cost;
	struct fb_vm_pool_totals vm_pool;
};

/* Gauges computed at render time from the scoreboard and the engine. */
struct fb_pool_gauges {
	unsigned idle, busy;
	unsigned long active_vms;
	unsigned long vm_pool_ready; /* ready VMs in all workers' pools */
	unsigned vm_pool_depth;	     /* configured per worker */
	uint64_t template_resident_bytes;
};

struct fb_metrics *fb_metrics_create(void);
void fb_metrics_destroy(struct fb_metrics *m);

void fb_metrics_observe(struct fb_histogram *h, double seconds);
void fb_metrics_observe_exec(struct fb_metrics *m, const struct fb_exec_result *res);
/* An execution's costs (read after its response was sent). */
void fb_metrics_observe_costs(struct fb_metrics *m, const struct fb_exec_stats *st);
void fb_metrics_count_request(struct fb_metrics *m, int status);
void fb_metrics_count_error(struct fb_metrics *m);

/* Prometheus text exposition (format 0.0.4) in a malloc'd buffer, or NULL. */
char *fb_metrics_render(struct fb_metrics *m, const struct fb_pool_gauges *g, size_t *len);

#endif
