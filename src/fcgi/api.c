/* Request dispatch: parse, route, authenticate, rate-limit, read the body
 * within limits, call the endpoint. */
#include "fcgi/api.h"

#include "fcgi/response.h"
#include "fcgi/router.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>

static int refuse(struct fb_conn *conn, int status, const char *headers)
{
	fb_response_error(conn, status, fb_error_last(), headers);
	return status;
}

static int check_access(struct fb_api *api, struct fb_conn *conn, const struct fb_request *req)
{
	size_t key = 0;

	if (fb_auth_check(api->auth, req->authorization, &key))
		return refuse(conn, 401, "WWW-Authenticate: Bearer\r\n");
	if (api->auth->enabled && !fb_ratelimit_allow(api->ratelimit, key, fb_now_s())) {
		fb_error("rate limit of %u requests per second exceeded",
			 api->cfg->auth.rate_limit_per_s);
		return refuse(conn, 429, "Retry-After: 1\r\n");
	}
	return 0;
}

static int serve_post(struct fb_api *api, struct fb_conn *conn, const struct fb_request *req,
		      enum fb_route route)
{
	char *body;
	size_t len;
	int status = check_access(api, conn, req);

	if (status)
		return status;
	status = fb_request_read_body(req, conn, api->cfg->limits.max_body_bytes, &body, &len);
	if (status)
		return refuse(conn, status, NULL);
	if (route == FB_ROUTE_EXEC)
		status = fb_api_exec(api, conn, req, body, len);
	else
		status = fb_api_batch(api, conn, body, len);
	free(body);
	return status;
}

static int dispatch(struct fb_api *api, struct fb_conn *conn, const struct fb_request *req)
{
	struct fb_route_match m;
	char allow[64];

	fb_router_match(req->method, req->path, &m);
	if (m.status == 404) {
		fb_error("no such endpoint: %s %.200s", req->method, req->path);
		return refuse(conn, 404, NULL);
	}
	if (m.status == 405) {
		fb_error("method %s not allowed on %.200s (use %s)", req->method, req->path,
			 m.allow);
		snprintf(allow, sizeof(allow), "Allow: %s\r\n", m.allow);
		return refuse(conn, 405, allow);
	}
	/* Health and metrics stay open for load balancers and Prometheus;
	 * DEPLOY.md shows how to restrict them in the web server. */
	switch (m.route) {
	case FB_ROUTE_HEALTH:
		return fb_api_health(api, conn);
	case FB_ROUTE_METRICS:
		return fb_api_metrics(api, conn);
	default:
		return serve_post(api, conn, req, m.route);
	}
}

int fb_api_handle(struct fb_api *api, struct fb_conn *conn)
{
	struct fb_request req;
	int status;

	fb_error_clear();
	if (fb_request_parse(&req, conn))
		status = refuse(conn, 400, NULL);
	else
		status = dispatch(api, conn, &req);
	fb_metrics_count_request(api->metrics, status);
	return status;
}
