/* GET /v1/health and GET /v1/metrics. */
#include "fcgi/api.h"

#include "fcgi/response.h"

#include <stdlib.h>

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
	    "{s:b, s:I, s:s, s:b, s:I, s:b, s:I, s:I, s:b}", "ready", info->ready, "memory_mb",
	    MB(info->guest_memory_bytes), "path", info->template_path ? info->template_path : "",
	    "in_ram", info->memory_in_ram, "resident_mb", MB(info->resident_bytes), "locked",
	    info->locked, "huge_pages_mb", MB(info->huge_bytes), "working_set_pages",
	    (json_int_t)info->working_set_pages, "prefetch", info->prefetch);
	if (t)
		json_object_set_new(t, "vm_pool", pool_json(info));
	return t;
}

int fb_api_health(struct fb_api *api, struct fb_conn *conn)
{
	struct fb_engine_info info = {0};
	struct fb_worker_counts c;

	fb_engine_info(api->engine, &info);
	worker_counts(api, &c);
	json_t *j =
	    json_pack("{s:s, s:{s:o}, s:{s:I, s:I, s:I, s:I}}", "status",
		      info.ready ? "ok" : "degraded", "templates", "python", template_json(&info),
		      "workers", "total", (json_int_t)c.total, "idle", (json_int_t)c.idle, "busy",
		      (json_int_t)c.busy, "max_children", (json_int_t)api->cfg->pool.max_children);
	/* 503 lets load balancers take a host without a template out. */
	int status = !j ? 500 : info.ready ? 200 : 503;
	fb_response_json(conn, status, j, NULL);
	json_decref(j);
	return status;
}

int fb_api_metrics(struct fb_api *api, struct fb_conn *conn)
{
	struct fb_worker_counts c;
	size_t len;

	struct fb_engine_info info;
	worker_counts(api, &c);
	fb_engine_info(api->engine, &info);
	struct fb_pool_gauges g = {.idle = c.idle,
				   .busy = c.busy,
				   .active_vms = c.vms,
				   .vm_pool_ready = c.pool_ready,
				   .vm_pool_depth = api->cfg->vm_pool.depth,
				   .template_resident_bytes = info.resident_bytes};
	char *text = fb_metrics_render(api->metrics, &g, &len);
	if (!text) {
		fb_response_error(conn, 500, "out of memory rendering metrics", NULL);
		return 500;
	}
	fb_response_body(conn, 200, "text/plain; version=0.0.4; charset=utf-8", text, len, NULL);
	free(text);
	return 200;
}
