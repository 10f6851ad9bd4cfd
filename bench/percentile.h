/* Percentiles of benchmark samples (nearest rank), for fork_bench and
 * exec-bench. */
#ifndef FORKBOX_BENCH_PERCENTILE_H
#define FORKBOX_BENCH_PERCENTILE_H

#include <stdlib.h>

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The p-th percentile (0..100) of v[0..n), n > 0; sorts v. */
static inline double bench_percentile(double *v, unsigned n, double p)
{
	qsort(v, n, sizeof(*v), bench_cmp_double);
	unsigned i = (unsigned)(p / 100.0 * (n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

#endif
