/* Per-template counters of /v1/metrics: which generation serves, how old
 * it is, how many forks it served, rebuilds. */
#include "fcgi/metrics.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int fb_metrics_template_slot(struct fb_metrics *m, const char *name)
{
	int free_slot = -1;
	for (int i = 0; i < FB_METRIC_TEMPLATES; i++) {
		if (!strcmp(m->templates[i].name, name))
			return i;
		if (free_slot < 0 && !m->templates[i].name[0])
			free_slot = i;
	}
	if (free_slot >= 0)
		snprintf(m->templates[free_slot].name, FB_METRIC_NAME_MAX, "%s", name);
	return free_slot;
}

void fb_metrics_template_serving(struct fb_metrics *m, int slot, unsigned generation,
				 int64_t created_unix)
{
	if (slot < 0)
		return;
	struct fb_template_counters *t = &m->templates[slot];
	if (atomic_exchange(&t->generation, generation) != generation ||
	    atomic_load(&t->created_unix) != created_unix)
		atomic_store(&t->forks, 0);
	atomic_store(&t->created_unix, created_unix);
}

void fb_metrics_count_fork(struct fb_metrics *m, int slot, unsigned generation)
{
	if (slot < 0)
		return;
	struct fb_template_counters *t = &m->templates[slot];
	atomic_fetch_add(&t->forks_total, 1);
	if (atomic_load(&t->generation) == generation)
		atomic_fetch_add(&t->forks, 1);
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The counters of the i-th template shown, or NULL without a slot. */
static struct fb_template_counters *counters(struct fb_metrics *m, const struct fb_pool_gauges *g,
					     size_t i)
{
	int slot = g->templates[i].slot;
	return slot < 0 ? NULL : &m->templates[slot];
}

void fb_metrics_render_templates(FILE *f, struct fb_metrics *m, const struct fb_pool_gauges *g)
{
	int64_t now = (int64_t)time(NULL);
	struct fb_template_counters *t;
	family(f, "forkbox_template_ready", "gauge",
	       "1 when the template serves requests, 0 when it could not be opened.");
	for (size_t i = 0; i < g->n_templates; i++)
		fprintf(f, "forkbox_template_ready{template=\"%s\"} %d\n", g->templates[i].name,
			g->templates[i].ready);
	family(f, "forkbox_template_generation", "gauge",
	       "The template generation serving new requests (1 for its first build).");
	for (size_t i = 0; i < g->n_templates; i++)
		if ((t = counters(m, g, i)))
			fprintf(f, "forkbox_template_generation{template=\"%s\"} %u\n", t->name,
				atomic_load(&t->generation));
	family(f, "forkbox_template_age_seconds", "gauge",
	       "Time since the generation serving new requests was built.");
	for (size_t i = 0; i < g->n_templates; i++) {
		if (!(t = counters(m, g, i)))
			continue;
		int64_t created = atomic_load(&t->created_unix);
		fprintf(f, "forkbox_template_age_seconds{template=\"%s\"} %lld\n", t->name,
			created ? (long long)(now - created) : 0LL);
	}
	family(f, "forkbox_template_forks", "gauge",
	       "Forks served by the generation serving new requests.");
	for (size_t i = 0; i < g->n_templates; i++)
		if ((t = counters(m, g, i)))
			fprintf(f, "forkbox_template_forks{template=\"%s\"} %llu\n", t->name,
				(unsigned long long)atomic_load(&t->forks));
	family(f, "forkbox_template_forks_total", "counter", "Forks served, every generation.");
	for (size_t i = 0; i < g->n_templates; i++)
		if ((t = counters(m, g, i)))
			fprintf(f, "forkbox_template_forks_total{template=\"%s\"} %llu\n", t->name,
				(unsigned long long)atomic_load(&t->forks_total));
	family(f, "forkbox_template_rebuilds_total", "counter",
	       "Background rebuilds (rotation), by result.");
	for (size_t i = 0; i < g->n_templates; i++)
		if ((t = counters(m, g, i)))
			fprintf(
			    f,
			    "forkbox_template_rebuilds_total{template=\"%s\",result=\"ok\"} "
			    "%llu\n"
			    "forkbox_template_rebuilds_total{template=\"%s\",result=\"failed\"} "
			    "%llu\n",
			    t->name, (unsigned long long)atomic_load(&t->rebuilds), t->name,
			    (unsigned long long)atomic_load(&t->rebuild_failures));
}
