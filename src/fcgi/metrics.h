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

struct fb_metrics {
	struct fb_histogram fork, exec, total;
	atomic_uint_least64_t requests[FB_METRIC_STATUSES];
	atomic_uint_least64_t errors;
};

/* Gauges computed at render time from the scoreboard. */
struct fb_pool_gauges {
	unsigned idle, busy;
	unsigned long active_vms;
};

struct fb_metrics *fb_metrics_create(void);
void fb_metrics_destroy(struct fb_metrics *m);

void fb_metrics_observe(struct fb_histogram *h, double seconds);
void fb_metrics_observe_exec(struct fb_metrics *m, const struct fb_exec_result *res);
void fb_metrics_count_request(struct fb_metrics *m, int status);
void fb_metrics_count_error(struct fb_metrics *m);

/* Prometheus text exposition (format 0.0.4) in a malloc'd buffer, or NULL. */
char *fb_metrics_render(struct fb_metrics *m, const struct fb_pool_gauges *g, size_t *len);

#endif
