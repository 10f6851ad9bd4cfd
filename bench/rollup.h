/* Memory of this process from /proc/self/smaps_rollup, for the benchmarks. */
#ifndef FORKBOX_BENCH_ROLLUP_H
#define FORKBOX_BENCH_ROLLUP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bench_rollup {
	long rss_kb, pss_kb;
	/* Anonymous: private copies, what a fork really costs (template pages
	 * it only reads stay shared in the page cache). */
	long anon_kb;
};

/* Fields stay -1 when the file or the line is missing. */
static inline struct bench_rollup bench_read_rollup(void)
{
	struct bench_rollup r = {-1, -1, -1};
	char line[256];
	FILE *f = fopen("/proc/self/smaps_rollup", "r");

	if (!f)
		return r;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "Rss:", 4) == 0)
			r.rss_kb = strtol(line + 4, NULL, 10);
		else if (strncmp(line, "Pss:", 4) == 0)
			r.pss_kb = strtol(line + 4, NULL, 10);
		else if (strncmp(line, "Anonymous:", 10) == 0)
			r.anon_kb = strtol(line + 10, NULL, 10);
	}
	fclose(f);
	return r;
}

#endif
