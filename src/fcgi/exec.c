/* POST /v1/exec and /v1/exec/batch: run code in VMs from the engine, either
 * collecting output into a JSON result or streaming it as SSE. An engine
 * failure (the host could not fork or run the VM: a KVM ioctl, memory,
 * descriptors, a guest that stopped answering) is logged with its reason
 * and answered 503 with Retry-After, like a full pool. */
#include "fcgi/api.h"

#include "fcgi/log.h"
#include "fcgi/response.h"
#include "fcgi/sse.h"
#include "util/error.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

bool fb_api_vm_acquire(struct fb_api *api, bool wait)
{
	if (api->capacity) {
		bool ok = wait ? fb_capacity_acquire(api->capacity, api->cfg->pool.queue_timeout_ms)
			       : fb_capacity_try(api->capacity);
		if (!ok)
			return false;
	}
	if (api->sb && api->slot >= 0)
		atomic_fetch_add(&api->sb->slot[api->slot].vms, 1);
	return true;
}

void fb_api_vm_release(struct fb_api *api)
{
	if (api->sb && api->slot >= 0)
		atomic_fetch_sub(&api->sb->slot[api->slot].vms, 1);
	if (api->capacity)
		fb_capacity_release(api->capacity, 1);
}

/* Output kept for a JSON result, capped at limits.max_output_bytes. */
struct collector {
	struct fb_output out;
	size_t limit;
	bool truncated;
	bool oom;
	struct fb_conn *conn; /* the client's: the run ends if it goes away */
};

static bool collector_client_gone(void *ctx)
{
	return fb_conn_gone(((struct collector *)ctx)->conn);
}

static int collect(void *ctx, enum fb_stream stream, const void *data, size_t len)
{
	struct collector *c = ctx;

	if (stream != FB_STREAM_STDOUT && stream != FB_STREAM_STDERR)
		return 0;
	size_t used = c->out.len[1] + c->out.len[2];
	size_t room = used < c->limit ? c->limit - used : 0;
	if (len > room) {
		c->truncated = true;
		len = room;
	}
	if (!len)
		return 0;
	char *grown = realloc(c->out.data[stream], c->out.len[stream] + len);
	if (!grown) {
		c->oom = true;
		return 1; /* abort: we could not keep the output */
	}
	memcpy(grown + c->out.len[stream], data, len);
	c->out.data[stream] = grown;
	c->out.len[stream] += len;
	return 0;
}

static void collector_free(struct collector *c)
{
	free(c->out.data[1]);
	free(c->out.data[2]);
}

/* Keeps an execution for fb_api_after_response(); without room for it,
 * finishes it now. */
static void keep_pending(struct fb_api *api, const struct fb_exec_spec *spec,
			 struct fb_execution *x)
{
	if (!x)
		return;
	struct fb_engine *engine = api->templates->t[spec->target].engine;
	if (api->n_pending == api->cap_pending) {
		size_t cap = api->cap_pending ? api->cap_pending * 2 : 4;
		struct fb_pending *grown = realloc(api->pending, cap * sizeof(*grown));
		if (!grown) {
			fb_engine_finish(engine, x, NULL);
			return;
		}
		api->pending = grown;
		api->cap_pending = cap;
	}
	api->pending[api->n_pending++] = (struct fb_pending){engine, x};
}

/* The template for spec's language, and its limits on the timeout: a
 * recipe's limits only tighten the server's. 0, or 400 (unknown language)
 * or 503 (its template is not ready) with the reason set. */
static int route(struct fb_api *api, struct fb_exec_spec *spec)
{
	struct fb_served *t = fb_served_for(api->templates, spec->language);
	if (!t)
		return 400;
	if (!t->engine) {
		fb_error("template %s (language \"%s\") is not available: %s", t->name,
			 spec->language, t->error);
		return 503;
	}
	spec->target = (int)(t - api->templates->t);
	if (t->timeout_s && !spec->timeout_given && t->timeout_s < spec->timeout_s)
		spec->timeout_s = t->timeout_s;
	if (t->max_timeout_s && spec->timeout_s > t->max_timeout_s)
		spec->timeout_s = t->max_timeout_s;
	return 0;
}

/* One execution with a VM slot already held; 0 or -1 with fb_error_last().
 * A failure is logged with its reason (a guest that broke the protocol or
 * its devices ends its own VM, never the worker). *held: the execution,
 * its VM kept until after the response. */
static int run(struct fb_api *api, struct fb_conn *conn, const struct fb_exec_spec *spec,
	       const struct fb_exec_callbacks *cb, struct fb_exec_result *res,
	       struct fb_execution **held)
{
	/* The template was chosen by the language; the engine runs its own. */
	struct fb_exec_request er = {
	    .code = spec->code,
	    .code_len = spec->code_len,
	    .timeout_s = spec->timeout_s,
	    .output_limit = api->cfg->limits.max_output_bytes,
	};
	struct fb_served *t = &api->templates->t[spec->target];

	memset(res, 0, sizeof(*res));
	fb_metrics_count_fork(api->metrics, t->slot, t->generation);
	if (fb_engine_exec(t->engine, &er, cb, res, held)) {
		if (fb_conn_gone(conn)) {
			fb_log(FB_LOG_INFO, "execution %s abandoned, client gone: %s", res->id,
			       fb_error_last());
			return -1;
		}
		fb_metrics_count_error(api->metrics);
		fb_log(FB_LOG_ERROR, "execution %s failed: %s", res->id, fb_error_last());
		return -1;
	}
	fb_metrics_observe_exec(api->metrics, res);
	return 0;
}

/* Run spec into a JSON result ({"error"} on engine failure). */
static json_t *run_to_json(struct fb_api *api, struct fb_conn *conn,
			   const struct fb_exec_spec *spec, int *failed, struct fb_execution **held)
{
	struct collector c = {.limit = api->cfg->limits.max_output_bytes, .conn = conn};
	struct fb_exec_callbacks cb = {
	    .on_output = collect, .cancelled = collector_client_gone, .ctx = &c};
	struct fb_exec_result res;
	json_t *j;

	*failed = run(api, conn, spec, &cb, &res, held);
	if (!*failed && c.oom)
		*failed = fb_error("out of memory keeping the output");
	if (*failed) {
		fb_error_prefix("execution failed");
		j = fb_api_error_json(fb_error_last());
	} else {
		res.truncated |= c.truncated;
		j = fb_api_result_json(&res, &c.out);
	}
	collector_free(&c);
	return j;
}

static int sse_output(void *ctx, enum fb_stream stream, const void *data, size_t len)
{
	return fb_sse_output(ctx, stream, data, len) ? 1 : 0;
}

static bool sse_client_gone(void *ctx)
{
	return fb_conn_gone(((struct fb_sse *)ctx)->conn);
}

/* The client went away: nginx logs 499 for it, and so do we. */
#define CLIENT_GONE 499

static int exec_streaming(struct fb_api *api, struct fb_conn *conn, const struct fb_exec_spec *spec)
{
	struct fb_sse sse;
	struct fb_exec_callbacks cb = {
	    .on_output = sse_output, .cancelled = sse_client_gone, .ctx = &sse};
	struct fb_exec_result res;
	struct fb_execution *held = NULL;

	fb_sse_init(&sse, conn);
	if (fb_sse_start(&sse))
		return fb_conn_gone(conn) ? CLIENT_GONE : 200;
	int failed = run(api, conn, spec, &cb, &res, &held);
	keep_pending(api, spec, held);
	if (failed && (sse.failed || fb_conn_gone(conn)))
		return CLIENT_GONE;
	fb_sse_finish_output(&sse);
	json_t *j = failed ? fb_api_error_json(fb_error_last()) : fb_api_result_json(&res, NULL);
	fb_sse_event(&sse, failed ? "error" : "exit", j);
	json_decref(j);
	return 200;
}

static int busy(struct fb_conn *conn)
{
	fb_response_error(conn, 503, "no VM capacity available, try again later",
			  "Retry-After: 1\r\n");
	return 503;
}

int fb_api_exec(struct fb_api *api, struct fb_conn *conn, const struct fb_request *req,
		const char *body, size_t len)
{
	struct fb_exec_spec spec;
	int status = fb_api_decode_exec(body, len, &api->cfg->limits, &spec);

	if (status) {
		fb_response_error(conn, status, fb_error_last(), NULL);
		return status;
	}
	if ((status = route(api, &spec)) != 0) {
		fb_response_error(conn, status, fb_error_last(),
				  status == 503 ? "Retry-After: 1\r\n" : NULL);
		fb_exec_spec_free(&spec);
		return status;
	}
	if (!fb_api_vm_acquire(api, true)) {
		fb_exec_spec_free(&spec);
		return busy(conn);
	}
	if (fb_request_wants_sse(req)) {
		status = exec_streaming(api, conn, &spec);
	} else {
		int failed;
		struct fb_execution *held = NULL;
		json_t *j = run_to_json(api, conn, &spec, &failed, &held);
		keep_pending(api, &spec, held);
		status = failed ? 503 : 200;
		if (failed && fb_conn_gone(conn))
			status = CLIENT_GONE; /* nobody to answer */
		else
			fb_response_json(conn, status, j, failed ? "Retry-After: 1\r\n" : NULL);
		json_decref(j);
	}
	fb_api_vm_release(api);
	fb_exec_spec_free(&spec);
	return status;
}

/* A batch: threads share a cursor; each holds one VM slot. */
struct batch {
	struct fb_api *api;
	struct fb_conn *conn;
	const struct fb_exec_spec *specs;
	json_t **results;
	struct fb_execution **held; /* per item, kept after the response */
	size_t count;
	atomic_size_t next;
	atomic_bool abandoned; /* the client went away: start nothing more */
};

static void run_batch_items(struct batch *b)
{
	size_t i;

	while ((i = atomic_fetch_add(&b->next, 1)) < b->count) {
		int failed;
		if (atomic_load(&b->abandoned))
			break;
		b->results[i] = run_to_json(b->api, b->conn, &b->specs[i], &failed, &b->held[i]);
		if (failed && fb_conn_gone(b->conn))
			atomic_store(&b->abandoned, true);
	}
}

static void *batch_thread(void *arg)
{
	struct batch *b = arg;

	run_batch_items(b);
	fb_api_vm_release(b->api);
	return NULL;
}

/* Parallel helpers take a slot only if one is free now: the caller's own
 * slot guarantees progress, extra slots only add speed. */
static size_t start_helpers(struct batch *b, pthread_t *tids, size_t want)
{
	size_t started = 0;

	while (started < want && fb_api_vm_acquire(b->api, false)) {
		if (pthread_create(&tids[started], NULL, batch_thread, b)) {
			fb_api_vm_release(b->api);
			break;
		}
		started++;
	}
	return started;
}

static json_t *run_batch(struct fb_api *api, struct fb_conn *conn, const struct fb_exec_spec *specs,
			 size_t count, bool *abandoned)
{
	struct batch b = {.api = api, .conn = conn, .specs = specs, .count = count};
	size_t parallel = api->cfg->pool.max_parallel_vms ? api->cfg->pool.max_parallel_vms : 1;
	pthread_t *tids = calloc(parallel, sizeof(*tids));
	json_t *arr = json_array();

	b.results = calloc(count, sizeof(*b.results));
	b.held = calloc(count, sizeof(*b.held));
	if (!tids || !arr || !b.results || !b.held) {
		free(tids);
		free(b.results);
		free(b.held);
		json_decref(arr);
		return NULL;
	}
	size_t helpers = start_helpers(&b, tids, (count < parallel ? count : parallel) - 1);
	run_batch_items(&b);
	for (size_t i = 0; i < helpers; i++)
		pthread_join(tids[i], NULL);
	*abandoned = atomic_load(&b.abandoned);
	for (size_t i = 0; i < count; i++) {
		json_array_append_new(arr, b.results[i] ? b.results[i]
							: fb_api_error_json("out of memory"));
		keep_pending(api, &specs[i], b.held[i]);
	}
	free(tids);
	free(b.results);
	free(b.held);
	return json_pack("{s:o}", "results", arr);
}

int fb_api_batch(struct fb_api *api, struct fb_conn *conn, const char *body, size_t len)
{
	struct fb_exec_spec *specs;
	size_t count;
	int status = fb_api_decode_batch(body, len, &api->cfg->limits, &specs, &count);

	if (status) {
		fb_response_error(conn, status, fb_error_last(), NULL);
		return status;
	}
	for (size_t i = 0; i < count; i++) {
		if ((status = route(api, &specs[i])) != 0) {
			fb_error_prefix("executions[%zu]", i);
			fb_response_error(conn, status, fb_error_last(),
					  status == 503 ? "Retry-After: 1\r\n" : NULL);
			fb_exec_specs_free(specs, count);
			return status;
		}
	}
	if (!fb_api_vm_acquire(api, true)) {
		fb_exec_specs_free(specs, count);
		return busy(conn);
	}
	bool abandoned = false;
	json_t *j = run_batch(api, conn, specs, count, &abandoned);
	fb_api_vm_release(api);
	status = abandoned ? CLIENT_GONE : j ? 200 : 500;
	if (!abandoned)
		fb_response_json(conn, status, j, NULL);
	json_decref(j);
	fb_exec_specs_free(specs, count);
	return status;
}

/* Adds what one template's pool in this worker did since the last call
 * to the metrics; returns its ready VMs. */
static unsigned note_pool(struct fb_api *api, struct fb_engine *engine,
			  struct fb_engine_pool_counts *seen)
{
	struct fb_engine_pool_counts now;
	if (!engine || !fb_engine_pool_counts(engine, &now))
		return 0;
	struct fb_vm_pool_totals *t = &api->metrics->vm_pool;
	atomic_fetch_add(&t->built, now.built - seen->built);
	atomic_fetch_add(&t->build_failures, now.build_failures - seen->build_failures);
	atomic_fetch_add(&t->destroyed, now.destroyed - seen->destroyed);
	double ms = now.destroy_ms_total - seen->destroy_ms_total;
	if (ms > 0)
		atomic_fetch_add(&t->destroy_us, (uint64_t)(ms * 1000));
	*seen = now;
	return now.ready;
}

static void note_pools(struct fb_api *api)
{
	unsigned ready = 0;
	for (size_t i = 0; i < api->templates->n; i++)
		ready += note_pool(api, api->templates->t[i].engine, &api->pool_seen[i]);
	if (api->sb && api->slot >= 0)
		atomic_store(&api->sb->slot[api->slot].pool_ready, ready);
}

void fb_api_after_response(struct fb_api *api)
{
	for (size_t i = 0; i < api->n_pending; i++) {
		struct fb_exec_stats st;
		fb_engine_finish(api->pending[i].engine, api->pending[i].exec, &st);
		fb_metrics_observe_costs(api->metrics, &st);
	}
	api->n_pending = 0;
	note_pools(api);
}

void fb_api_cleanup(struct fb_api *api)
{
	fb_api_after_response(api);
	free(api->pending);
	api->pending = NULL;
	api->cap_pending = 0;
}
