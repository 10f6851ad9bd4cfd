/* GET /v1/health and GET /v1/metrics. */
#include "fcgi/api.h"

#include "fcgi/response.h"

#include <stdlib.h>
#include <time.h>

static void worker_counts(struct fb_api *api, struct fb_worker_counts *c)
{
	if (api->sb) {
		fb_scoreboard_count(api->sb, c);
		return;
	}
	/* CGI mode: just this process, serving this request. */
	*c = (struct fb_worker_counts){.total = 1, .busy = 1};
}

#define MB(bytes) ((json_int_t)((bytes) >> 20))

/* This worker's pool (each worker has its own), or null. */
static json_t *pool_json(const struct fb_engine_info *info)
{
	const struct fb_engine_pool_counts *c = &info->pool_counts;
	if (!info->pool)
		return json_null();
	return json_pack("{s:I, s:I, s:I, s:I, s:I}", "depth", (json_int_t)c->depth, "ready",
			 (json_int_t)c->ready, "threads", (json_int_t)c->threads, "hits",
			 (json_int_t)c->hits, "misses", (json_int_t)c->misses);
}

static json_t *template_json(const struct fb_engine_info *info)
{
	json_t *t = json_pack(
	    "{s:b, s:I, s:s, s:b, s:I, s:b, s:I, s:I, s:I, s:b}", "ready", info->ready, "memory_mb",
	    MB(info->guest_memory_bytes), "path", info->template_path ? info->template_path : "",
	    "in_ram", info->memory_in_ram, "resident_mb", MB(info->resident_bytes), "locked",
	    info->locked, "huge_pages_mb", MB(info->huge_bytes), "working_set_pages",
	    (json_int_t)info->working_set_pages, "working_set_copy_pages",
	    (json_int_t)info->working_set_copy_pages, "prefetch", info->prefetch);
	if (t)
		json_object_set_new(t, "vm_pool", pool_json(info));
	return t;
}

/* What the master's shared counters say of t (generation serving, age,
 * forks, rotation), beside what this worker's engine says. */
static void add_serving(json_t *j, struct fb_api *api, const struct fb_served *t)
{
	unsigned generation = t->generation;
	int64_t created = t->created_unix;
	uint64_t forks = 0;
	bool rebuilding = false;
	if (t->slot >= 0) {
		struct fb_template_counters *c = &api->metrics->templates[t->slot];
		generation = atomic_load(&c->generation);
		created = atomic_load(&c->created_unix);
		forks = atomic_load(&c->forks);
		rebuilding = atomic_load(&c->rebuilding);
	}
	int64_t now = (int64_t)time(NULL);
	json_object_set_new(j, "generation", json_integer(generation));
	json_object_set_new(j, "age_seconds", created ? json_integer(now - created) : json_null());
	json_object_set_new(j, "forks", json_integer((json_int_t)forks));
	json_object_set_new(j, "rotation",
			    json_pack("{s:I, s:I, s:b}", "max_age_seconds",
				      (json_int_t)t->max_age_s, "max_forks",
				      (json_int_t)t->max_forks, "rebuilding", rebuilding));
}

static json_t *served_json(struct fb_api *api, const struct fb_served *t)
{
	json_t *j;
	if (t->engine) {
		struct fb_engine_info info;
		fb_engine_info(t->engine, &info);
		j = template_json(&info);
	} else {
		j = json_pack("{s:b, s:s, s:s}", "ready", false, "path", t->path, "error",
			      t->error);
	}
	json_t *langs = json_array();
	for (size_t i = 0; i < t->n_languages; i++)
		json_array_append_new(langs, json_string(t->languages[i]));
	if (!j || !langs) {
		json_decref(j);
		json_decref(langs);
		return NULL;
	}
	json_object_set_new(j, "runtime", json_string(t->runtime));
	json_object_set_new(j, "languages", langs);
	if (t->engine)
		add_serving(j, api, t);
	return j;
}

int fb_api_health(struct fb_api *api, struct fb_conn *conn)
{
	struct fb_worker_counts c;
	json_t *templates = json_object();
	size_t ready = fb_served_ready(api->templates);

	worker_counts(api, &c);
	for (size_t i = 0; templates && i < api->templates->n; i++)
		json_object_set_new(templates, api->templates->t[i].name,
				    served_json(api, &api->templates->t[i]));
	/* ok: every template serves; degraded: some do (still 200, the
	 * others' requests get 503); down: none (503, so load balancers take
	 * the host out). */
	const char *state = ready == api->templates->n ? "ok" : ready ? "degraded" : "down";
	json_t *j =
	    json_pack("{s:s, s:o, s:{s:I, s:I, s:I, s:I}}", "status", state, "templates", templates,
		      "workers", "total", (json_int_t)c.total, "idle", (json_int_t)c.idle, "busy",
		      (json_int_t)c.busy, "max_children", (json_int_t)api->cfg->pool.max_children);
	int status = !j ? 500 : ready ? 200 : 503;
	fb_response_json(conn, status, j, NULL);
	json_decref(j);
	return status;
}

int fb_api_metrics(struct fb_api *api, struct fb_conn *conn)
{
	struct fb_worker_counts c;
	size_t len;

	struct fb_template_gauge gauges[FB_MAX_TEMPLATES];
	uint64_t resident = 0;
	worker_counts(api, &c);
	for (size_t i = 0; i < api->templates->n; i++) {
		const struct fb_served *t = &api->templates->t[i];
		gauges[i] = (struct fb_template_gauge){t->name, t->slot, t->engine != NULL};
		if (t->engine) {
			struct fb_engine_info info;
			fb_engine_info(t->engine, &info);
			resident += info.resident_bytes;
		}
	}
	struct fb_pool_gauges g = {.idle = c.idle,
				   .busy = c.busy,
				   .active_vms = c.vms,
				   .vm_pool_ready = c.pool_ready,
				   .vm_pool_depth = api->cfg->vm_pool.depth,
				   .vm_pool_threads = api->cfg->vm_pool.threads,
				   .template_resident_bytes = resident,
				   .templates = gauges,
				   .n_templates = api->templates->n};
	char *text = fb_metrics_render(api->metrics, &g, &len);
	if (!text) {
		fb_response_error(conn, 500, "out of memory rendering metrics", NULL);
		return 500;
	}
	fb_response_body(conn, 200, "text/plain; version=0.0.4; charset=utf-8", text, len, NULL);
	free(text);
	return 200;
}
