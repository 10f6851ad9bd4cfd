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

static json_t *template_json(const struct fb_engine_info *info)
{
	return json_pack("{s:b, s:I, s:s}", "ready", info->ready, "memory_mb",
			 (json_int_t)(info->guest_memory_bytes >> 20), "path",
			 info->template_path ? info->template_path : "");
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

	worker_counts(api, &c);
	struct fb_pool_gauges g = {.idle = c.idle, .busy = c.busy, .active_vms = c.vms};
	char *text = fb_metrics_render(api->metrics, &g, &len);
	if (!text) {
		fb_response_error(conn, 500, "out of memory rendering metrics", NULL);
		return 500;
	}
	fb_response_body(conn, 200, "text/plain; version=0.0.4; charset=utf-8", text, len, NULL);
	free(text);
	return 200;
}
