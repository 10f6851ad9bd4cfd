/* The HTTP API on top of a connection: routing, auth, rate limit, body
 * limits, and the endpoint handlers. Shared by FastCGI workers and CGI mode. */
#ifndef FORKBOX_FCGI_API_H
#define FORKBOX_FCGI_API_H

#include "fcgi/api_json.h"
#include "fcgi/auth.h"
#include "fcgi/capacity.h"
#include "fcgi/io.h"
#include "fcgi/metrics.h"
#include "fcgi/ratelimit.h"
#include "fcgi/request.h"
#include "fcgi/scoreboard.h"
#include "fcgi/served.h"
#include "util/config.h"
#include "vmm/engine.h"

/* An execution whose VM still exists, and its engine. */
struct fb_pending {
	struct fb_engine *engine;
	struct fb_execution *exec;
};

struct fb_api {
	const struct fb_config *cfg;
	struct fb_served_set *templates; /* a request's language picks one */
	const struct fb_auth *auth;
	struct fb_ratelimit *ratelimit; /* NULL = unlimited */
	struct fb_metrics *metrics;	/* never NULL */
	struct fb_scoreboard *sb;	/* NULL in CGI mode */
	int slot;			/* this worker's scoreboard slot, -1 if none */
	struct fb_capacity *capacity;	/* NULL = no pool-wide VM limit */
	/* Executions of the current request whose VMs still exist: finished
	 * by fb_api_after_response() once the response is out. */
	struct fb_pending *pending;
	size_t n_pending, cap_pending;
	/* Per template: the pool counts last added to the metrics. */
	struct fb_engine_pool_counts pool_seen[FB_MAX_TEMPLATES];
};

/* Serve one request. Returns the HTTP status sent (for the access count). */
int fb_api_handle(struct fb_api *api, struct fb_conn *conn);

/* Call once the response is complete and sent: the request's VMs go to
 * teardown (the VM pool's threads, or here without a pool), their costs
 * and this worker's pool counters to the metrics. */
void fb_api_after_response(struct fb_api *api);
/* Frees what fb_api_after_response() keeps between requests. */
void fb_api_cleanup(struct fb_api *api);

/* Endpoint handlers (exec.c, health.c); each returns the status sent. */
int fb_api_exec(struct fb_api *api, struct fb_conn *conn, const struct fb_request *req,
		const char *body, size_t len);
int fb_api_batch(struct fb_api *api, struct fb_conn *conn, const char *body, size_t len);
int fb_api_health(struct fb_api *api, struct fb_conn *conn);
int fb_api_metrics(struct fb_api *api, struct fb_conn *conn);

/* VM slot bookkeeping (exec.c): take one within pool.queue_timeout_ms when
 * wait is true, else only if free now. */
bool fb_api_vm_acquire(struct fb_api *api, bool wait);
void fb_api_vm_release(struct fb_api *api);

#endif
