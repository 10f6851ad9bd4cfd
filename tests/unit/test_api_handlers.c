/* The API end to end through fb_api_handle on in-memory connections, with
 * the fake engine (tests/unit/fake_engine.c) behind it. */
#include "fcgi/api.h"
#include "memconn.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

struct fixture {
	struct fb_config cfg;
	struct fb_auth auth;
	struct fb_served_set templates;
	struct fb_api api;
	struct memconn m;
	json_t *json;
	char dir[64];
};

/* A fake template file (fake_engine.c) in the fixture's store. */
static void fake_template(struct fixture *f, const char *name, const char *runtime,
			  unsigned generation)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s.tmpl", f->dir, name);
	FILE *t = fopen(path, "w");
	assert_non_null(t);
	fprintf(t, "forkbox-fake-template\nruntime=%s\ngeneration=%u\ncreated_unix=%lld\n", runtime,
		generation, (long long)time(NULL) - 100);
	assert_int_equal(fclose(t), 0);
}

/* The shipped recipes' templates python and node, as fake files. */
static void open_templates(struct fixture *f)
{
	struct fb_engine_options opts = {.serial_log_fd = -1};
	const char *src = getenv("FORKBOX_SRCDIR");
	strcpy(f->dir, "/tmp/forkbox-api-test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	fake_template(f, "python", "python", 2);
	fake_template(f, "node", "node", 1);
	snprintf(f->cfg.template_.store, FB_PATH_MAX, "%s", f->dir);
	snprintf(f->cfg.template_.recipes, FB_PATH_MAX, "%s/guest/recipes", src ? src : ".");
	if (fb_served_open(&f->templates, &f->cfg, NULL, &opts) < 0)
		fail_msg("%s", fb_error_last());
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	fb_config_defaults(&f->cfg);
	f->cfg.pool.max_children = 4;
	f->cfg.pool.max_parallel_vms = 2;
	f->cfg.pool.queue_timeout_ms = 50;
	f->cfg.limits = (struct fb_limits_config){.default_timeout_s = 30,
						  .max_timeout_s = 60,
						  .max_body_bytes = 4096,
						  .max_output_bytes = 1000,
						  .max_batch = 4};
	f->cfg.vm_pool.depth = 0;
	open_templates(f);
	f->api = (struct fb_api){.cfg = &f->cfg,
				 .templates = &f->templates,
				 .auth = &f->auth,
				 .metrics = fb_metrics_create(),
				 .sb = fb_scoreboard_create(4),
				 .slot = 0,
				 .capacity = fb_capacity_create(3)};
	assert_non_null(f->api.metrics);
	fb_served_bind_metrics(&f->templates, f->api.metrics);
	fb_scoreboard_claim(f->api.sb, 1, 1);
	atomic_store(&f->api.sb->slot[0].state, FB_SLOT_BUSY);
	fb_scoreboard_claim(f->api.sb, 2, 1);
	atomic_store(&f->api.sb->slot[1].state, FB_SLOT_IDLE);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	fb_api_cleanup(&f->api);
	memconn_free(&f->m);
	json_decref(f->json);
	fb_served_close(&f->templates);
	char path[128];
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s.tmpl", f->dir, i ? "node" : "python");
		unlink(path);
	}
	rmdir(f->dir);
	fb_config_free(&f->cfg);
	fb_metrics_destroy(f->api.metrics);
	fb_scoreboard_destroy(f->api.sb);
	fb_capacity_destroy(f->api.capacity);
	fb_ratelimit_destroy(f->api.ratelimit);
	fb_auth_free(&f->auth);
	free(f);
	return 0;
}

/* Serve one request; parse a JSON body into f->json when there is one. */
static int request(struct fixture *f, const char *method, const char *path, const char *body,
		   const char *extra_param)
{
	char p_method[32], p_path[128], p_len[48];
	const char *params[] = {p_method, p_path, p_len, extra_param, NULL};

	snprintf(p_method, sizeof(p_method), "REQUEST_METHOD=%s", method);
	snprintf(p_path, sizeof(p_path), "DOCUMENT_URI=%s", path);
	snprintf(p_len, sizeof(p_len), "CONTENT_LENGTH=%zu", body ? strlen(body) : 0);
	memconn_free(&f->m);
	json_decref(f->json);
	f->json = NULL;
	memconn_init(&f->m, params, body);
	int status = fb_api_handle(&f->api, &f->m.conn);
	/* As a worker does once the response is out. */
	fb_api_after_response(&f->api);
	assert_int_equal(f->api.n_pending, 0);
	assert_int_equal(memconn_status(&f->m), status);
	const char *b = memconn_body(&f->m);
	if (b && strstr(f->m.out, "application/json"))
		f->json = json_loads(b, JSON_ALLOW_NUL, NULL);
	return status;
}

static const char *field_str(json_t *j, const char *key)
{
	json_t *v = json_object_get(j, key);

	assert_non_null(v);
	return json_string_value(v);
}

static void test_exec_ok(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(request(f, "POST", "/v1/exec",
				 "{\"code\":\"print:hello\\neprint:oops\\nexit:3\"}", NULL),
			 200);
	assert_non_null(f->json);
	assert_string_equal(field_str(f->json, "stdout"), "hello\n");
	assert_string_equal(field_str(f->json, "stderr"), "oops\n");
	assert_int_equal(json_integer_value(json_object_get(f->json, "exit_code")), 3);
	assert_true(json_is_false(json_object_get(f->json, "timed_out")));
	assert_true(json_is_false(json_object_get(f->json, "truncated")));
	assert_non_null(strstr(field_str(f->json, "id"), "fake-"));
	assert_true(json_is_number(json_object_get(f->json, "fork_time_ms")));
	assert_int_equal(atomic_load(&f->api.metrics->requests[0]), 1); /* status 200 */
	assert_int_equal(atomic_load(&f->api.metrics->total.count), 1);
	/* The VM slot was given back. */
	assert_int_equal(atomic_load(&f->api.sb->slot[0].vms), 0);
}

static void test_exec_invalid_utf8_and_truncation(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(request(f, "POST", "/v1/exec", "{\"code\":\"hex:ff41c3\"}", NULL), 200);
	assert_string_equal(field_str(f->json, "stdout"), "\xef\xbf\xbd"
							  "A\xef\xbf\xbd");
	assert_int_equal(request(f, "POST", "/v1/exec", "{\"code\":\"big:5000\"}", NULL), 200);
	assert_int_equal(strlen(field_str(f->json, "stdout")), 1000);
	assert_true(json_is_true(json_object_get(f->json, "truncated")));
}

static void test_exec_timeout(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(request(f, "POST", "/v1/exec",
				 "{\"code\":\"print:a\\nloop\",\"timeout_seconds\":0.05}", NULL),
			 200);
	assert_true(json_is_true(json_object_get(f->json, "timed_out")));
	assert_string_equal(field_str(f->json, "stdout"), "a\n");
}

static void test_exec_errors(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(request(f, "POST", "/v1/exec", "{\"code\":", NULL), 400);
	assert_non_null(strstr(field_str(f->json, "error"), "invalid JSON"));
	assert_int_equal(
	    request(f, "POST", "/v1/exec", "{\"code\":\"x\",\"language\":\"ruby\"}", NULL), 400);
	assert_non_null(strstr(field_str(f->json, "error"), "unsupported language"));
	assert_int_equal(request(f, "POST", "/v1/exec", "{\"code\":\"fail:boom\"}", NULL), 503);
	assert_non_null(strstr(f->m.out, "Retry-After: 1\r\n"));
	assert_non_null(strstr(field_str(f->json, "error"), "fake engine: boom"));
	assert_int_equal(atomic_load(&f->api.metrics->errors), 1);
	char big[5000];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(request(f, "POST", "/v1/exec", big, NULL), 413);
	assert_non_null(strstr(field_str(f->json, "error"), "larger than the limit"));
	assert_int_equal(f->m.body_pos, 0); /* refused before reading */
}

static void test_routing_errors(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(request(f, "GET", "/v1/nothing", NULL, NULL), 404);
	assert_non_null(f->json);
	assert_int_equal(request(f, "GET", "/v1/exec", NULL, NULL), 405);
	assert_non_null(strstr(f->m.out, "\r\nAllow: POST\r\n"));
	assert_int_equal(request(f, "DELETE", "/v1/health", NULL, NULL), 405);
	assert_non_null(strstr(f->m.out, "\r\nAllow: GET\r\n"));
}

static void test_sse(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(request(f, "POST", "/v1/exec",
				 "{\"code\":\"print:one\\nsleep:5\\neprint:two\\nexit:2\"}",
				 "HTTP_ACCEPT=text/event-stream"),
			 200);
	const char *body = memconn_body(&f->m);
	assert_non_null(body);
	assert_non_null(strstr(f->m.out, "Content-Type: text/event-stream"));
	const char *out = strstr(body, "event: stdout\ndata: \"one\\n\"\n\n");
	const char *err = strstr(body, "event: stderr\ndata: \"two\\n\"\n\n");
	const char *ex = strstr(body, "event: exit\ndata: {");
	assert_non_null(out);
	assert_non_null(err);
	assert_non_null(ex);
	assert_true(out < err && err < ex);
	assert_non_null(strstr(ex, "\"exit_code\":2"));
	assert_null(strstr(ex, "\"stdout\""));
	/* Head, stdout, stderr and exit each flushed as soon as written: the
	 * stdout event reached the web server before stderr was produced. */
	assert_int_equal(f->m.flushes, 4);
	assert_int_equal(f->m.flushed_at[0], (size_t)(out - f->m.out));
	assert_int_equal(f->m.flushed_at[1], (size_t)(err - f->m.out));
	assert_int_equal(f->m.flushed_at[2], (size_t)(ex - f->m.out));
	assert_int_equal(f->m.flushed_at[3], f->m.out_len);
}

static void test_batch(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(request(f, "POST", "/v1/exec/batch",
				 "{\"executions\":[{\"code\":\"sleep:20\\nprint:0\"},"
				 "{\"code\":\"print:1\"},{\"code\":\"fail:no\"},"
				 "{\"code\":\"print:3\\nexit:1\"}]}",
				 NULL),
			 200);
	json_t *results = json_object_get(f->json, "results");
	assert_int_equal(json_array_size(results), 4);
	assert_string_equal(field_str(json_array_get(results, 0), "stdout"), "0\n");
	assert_string_equal(field_str(json_array_get(results, 1), "stdout"), "1\n");
	assert_non_null(strstr(field_str(json_array_get(results, 2), "error"), "no"));
	assert_string_equal(field_str(json_array_get(results, 3), "stdout"), "3\n");
	assert_int_equal(atomic_load(&f->api.sb->slot[0].vms), 0);
	/* All three capacity slots are free again. */
	for (int i = 0; i < 3; i++)
		assert_true(fb_capacity_try(f->api.capacity));
	assert_false(fb_capacity_try(f->api.capacity));
	fb_capacity_release(f->api.capacity, 3);
	assert_int_equal(request(f, "POST", "/v1/exec/batch", "{\"executions\":[]}", NULL), 400);
}

/* Serve one request whose client goes away at the gone_at-th check (the
 * engine asks every 100 ms); returns the status and the seconds it took. */
static int request_gone(struct fixture *f, const char *path, const char *body, const char *accept,
			int gone_at, double *seconds)
{
	char p_len[48];
	const char *params[] = {"REQUEST_METHOD=POST", p_len, accept, NULL, NULL};
	struct timespec t0, t1;

	snprintf(p_len, sizeof(p_len), "CONTENT_LENGTH=%zu", strlen(body));
	params[3] =
	    !strcmp(path, "/v1/exec") ? "DOCUMENT_URI=/v1/exec" : "DOCUMENT_URI=/v1/exec/batch";
	if (!accept) {
		params[2] = params[3];
		params[3] = NULL;
	}
	memconn_free(&f->m);
	memconn_init(&f->m, params, body);
	f->m.gone_at = gone_at;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int status = fb_api_handle(&f->api, &f->m.conn);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	*seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	return status;
}

/* Every VM slot is back: the worker's, and all of the pool's. */
static void assert_slots_free(struct fixture *f)
{
	assert_int_equal(atomic_load(&f->api.sb->slot[0].vms), 0);
	for (int i = 0; i < 3; i++)
		assert_true(fb_capacity_try(f->api.capacity));
	assert_false(fb_capacity_try(f->api.capacity));
	fb_capacity_release(f->api.capacity, 3);
}

static void test_client_gone_mid_exec(void **state)
{
	struct fixture *f = *state;
	double took;

	assert_int_equal(
	    request_gone(f, "/v1/exec", "{\"code\":\"print:a\\nsleep:20000\"}", NULL, 3, &took),
	    499);
	printf("# exec abandoned %.2f s after it started\n", took);
	assert_true(took < 5);
	assert_int_equal(f->m.out_len, 0); /* nothing written to a client that left */
	assert_int_equal(atomic_load(&f->api.metrics->errors), 0);
	assert_slots_free(f);
	assert_int_equal(request(f, "POST", "/v1/exec", "{\"code\":\"print:next\"}", NULL), 200);
	assert_string_equal(field_str(f->json, "stdout"), "next\n");
}

static void test_client_gone_mid_stream(void **state)
{
	struct fixture *f = *state;
	double took;

	assert_int_equal(request_gone(f, "/v1/exec",
				      "{\"code\":\"print:first\\nsleep:20000\\nprint:last\"}",
				      "HTTP_ACCEPT=text/event-stream", 3, &took),
			 499);
	assert_true(took < 5);
	assert_non_null(strstr(f->m.out, "event: stdout\ndata: \"first\\n\""));
	assert_null(strstr(f->m.out, "last"));
	assert_null(strstr(f->m.out, "event: exit"));
	assert_slots_free(f);
}

static void test_client_gone_mid_batch(void **state)
{
	struct fixture *f = *state;
	double took;
	char body[512] = "{\"executions\":[";

	for (int i = 0; i < 4; i++)
		strcat(body, i ? ",{\"code\":\"sleep:20000\"}" : "{\"code\":\"sleep:20000\"}");
	strcat(body, "]}");
	assert_int_equal(request_gone(f, "/v1/exec/batch", body, NULL, 3, &took), 499);
	printf("# batch of 4 x 20 s abandoned after %.2f s\n", took);
	assert_true(took < 5);
	assert_int_equal(f->m.out_len, 0);
	assert_slots_free(f);
	assert_int_equal(request(f, "POST", "/v1/exec/batch",
				 "{\"executions\":[{\"code\":\"print:0\"},{\"code\":\"print:1\"}]}",
				 NULL),
			 200);
}

/* Code is bytes: a NUL inside it reaches the engine, and output holding
 * NULs comes back as \u0000 in valid JSON. */
static void test_code_with_nul(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(
	    request(f, "POST", "/v1/exec", "{\"code\":\"a\\u0000b\\nprint:x\\u0000y\"}", NULL),
	    200);
	json_t *out = json_object_get(f->json, "stdout");
	assert_int_equal(json_string_length(out), 7);
	assert_memory_equal(json_string_value(out), "a\0bx\0y\n", 7);
	assert_non_null(strstr(memconn_body(&f->m), "\"a\\u0000bx\\u0000y\\n\""));
}

static void test_capacity_503(void **state)
{
	struct fixture *f = *state;

	for (int i = 0; i < 3; i++)
		assert_true(fb_capacity_try(f->api.capacity));
	assert_int_equal(request(f, "POST", "/v1/exec", "{\"code\":\"print:x\"}", NULL), 503);
	assert_non_null(strstr(f->m.out, "Retry-After: 1\r\n"));
	assert_int_equal(
	    request(f, "POST", "/v1/exec/batch", "{\"executions\":[{\"code\":\"print:x\"}]}", NULL),
	    503);
	fb_capacity_release(f->api.capacity, 1);
	assert_int_equal(request(f, "POST", "/v1/exec", "{\"code\":\"print:x\"}", NULL), 200);
	fb_capacity_release(f->api.capacity, 2);
}

static void test_auth_and_rate(void **state)
{
	struct fixture *f = *state;
	const char *body = "{\"code\":\"print:x\"}";

	assert_int_equal(fb_auth_load_string(&f->auth, "[\"k1\",\"k2\"]", "keys"), 0);
	f->cfg.auth.rate_limit_per_s = 2;
	f->api.ratelimit = fb_ratelimit_create(2, 2);
	assert_int_equal(request(f, "POST", "/v1/exec", body, NULL), 401);
	assert_non_null(strstr(f->m.out, "WWW-Authenticate: Bearer"));
	assert_int_equal(request(f, "POST", "/v1/exec", body, "HTTP_AUTHORIZATION=Bearer k3"), 401);
	assert_non_null(strstr(field_str(f->json, "error"), "invalid API key"));
	assert_int_equal(request(f, "POST", "/v1/exec", body, "HTTP_AUTHORIZATION=Bearer k1"), 200);
	assert_int_equal(request(f, "POST", "/v1/exec", body, "HTTP_AUTHORIZATION=Bearer k1"), 200);
	assert_int_equal(request(f, "POST", "/v1/exec", body, "HTTP_AUTHORIZATION=Bearer k1"), 429);
	assert_non_null(strstr(field_str(f->json, "error"), "rate limit"));
	/* Another key has its own bucket; health stays open. */
	assert_int_equal(request(f, "POST", "/v1/exec", body, "HTTP_AUTHORIZATION=Bearer k2"), 200);
	assert_int_equal(request(f, "GET", "/v1/health", NULL, NULL), 200);
}

static void test_health_and_metrics(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(request(f, "GET", "/v1/health", NULL, NULL), 200);
	assert_string_equal(field_str(f->json, "status"), "ok");
	json_t *py = json_object_get(json_object_get(f->json, "templates"), "python");
	assert_true(json_is_true(json_object_get(py, "ready")));
	assert_non_null(strstr(field_str(py, "path"), "/python.tmpl"));
	assert_true(json_is_null(json_object_get(py, "vm_pool"))); /* no pool here */
	assert_false(json_is_true(json_object_get(py, "in_ram")));
	json_t *w = json_object_get(f->json, "workers");
	assert_int_equal(json_integer_value(json_object_get(w, "total")), 2);
	assert_int_equal(json_integer_value(json_object_get(w, "idle")), 1);
	assert_int_equal(json_integer_value(json_object_get(w, "busy")), 1);
	assert_int_equal(json_integer_value(json_object_get(w, "max_children")), 4);

	assert_int_equal(request(f, "GET", "/v1/metrics", NULL, NULL), 200);
	assert_non_null(strstr(f->m.out, "Content-Type: text/plain; version=0.0.4"));
	assert_non_null(strstr(memconn_body(&f->m), "forkbox_requests_total{status=\"200\"} 1\n"));
	assert_non_null(strstr(memconn_body(&f->m), "forkbox_pool_workers{state=\"idle\"} 1\n"));
}

/* With a VM pool: executions count as hits, their costs reach the metrics
 * once the response is out, and health shows this worker's pool. */
static void test_vm_pool_metrics(void **state)
{
	struct fixture *f = *state;
	struct fb_engine_pool_options po = {.depth = 3, .threads = 1};

	f->cfg.vm_pool.depth = 3;
	assert_int_equal(fb_engine_pool_start(f->templates.t[0].engine, &po), 0);
	assert_int_equal(request(f, "POST", "/v1/exec", "{\"code\": \"print:a\"}", NULL), 200);
	assert_int_equal(
	    request(f, "POST", "/v1/exec/batch",
		    "{\"executions\": [{\"code\": \"print:b\"}, {\"code\": \"print:c\"}]}", NULL),
	    200);
	assert_int_equal(request(f, "GET", "/v1/metrics", NULL, NULL), 200);
	const char *m = memconn_body(&f->m);
	assert_non_null(strstr(m, "forkbox_vm_pool_takes_total{result=\"hit\"} 3\n"));
	assert_non_null(strstr(m, "forkbox_vm_pool_takes_total{result=\"miss\"} 0\n"));
	assert_non_null(strstr(m, "forkbox_executions_costed_total 3\n"));
	assert_non_null(strstr(m, "forkbox_executions_kvm_counted_total 0\n"));
	assert_non_null(strstr(m, "forkbox_guest_pages_total{kind=\"copied\"} 6\n"));
	assert_non_null(strstr(m, "forkbox_vm_pool_depth 3\n"));
	assert_non_null(strstr(m, "forkbox_vm_pool_ready 3\n"));
	assert_int_equal(request(f, "GET", "/v1/health", NULL, NULL), 200);
	json_t *py = json_object_get(json_object_get(f->json, "templates"), "python");
	json_t *pool = json_object_get(py, "vm_pool");
	assert_int_equal(json_integer_value(json_object_get(pool, "depth")), 3);
	assert_int_equal(json_integer_value(json_object_get(pool, "hits")), 3);
	assert_int_equal(json_integer_value(json_object_get(pool, "misses")), 0);
}

/* The language picks the template; unknown ones are a 400 naming those
 * there are. */
static void test_language_routing(void **state)
{
	struct fixture *f = *state;
	const char *cases[][2] = {{"", "python generation 2\n"},
				  {", \"language\": \"python3\"", "python generation 2\n"},
				  {", \"language\": \"node\"", "node generation 1\n"},
				  {", \"language\": \"javascript\"", "node generation 1\n"}};
	char body[128];
	for (size_t i = 0; i < 4; i++) {
		snprintf(body, sizeof(body), "{\"code\": \"template\"%s}", cases[i][0]);
		assert_int_equal(request(f, "POST", "/v1/exec", body, NULL), 200);
		assert_string_equal(field_str(f->json, "stdout"), cases[i][1]);
	}
	assert_int_equal(
	    request(f, "POST", "/v1/exec", "{\"code\": \"x\", \"language\": \"ruby\"}", NULL), 400);
	assert_string_equal(field_str(f->json, "error"),
			    "unsupported language \"ruby\" (available: python, python3, node, "
			    "javascript, js)");
	assert_int_equal(request(f, "POST", "/v1/exec/batch",
				 "{\"executions\": [{\"code\": \"template\", \"language\": "
				 "\"node\"}, {\"code\": \"x\", \"language\": \"go\"}]}",
				 NULL),
			 400);
	assert_non_null(strstr(field_str(f->json, "error"), "executions[1]: unsupported language"));
	assert_int_equal(request(f, "POST", "/v1/exec/batch",
				 "{\"executions\": [{\"code\": \"template\", \"language\": "
				 "\"node\"}, {\"code\": \"template\"}]}",
				 NULL),
			 200);
	json_t *r = json_object_get(f->json, "results");
	assert_string_equal(field_str(json_array_get(r, 0), "stdout"), "node generation 1\n");
	assert_string_equal(field_str(json_array_get(r, 1), "stdout"), "python generation 2\n");
}

/* Health and metrics per template: generation, age, forks served. */
static void test_templates_in_health_and_metrics(void **state)
{
	struct fixture *f = *state;
	for (int i = 0; i < 3; i++)
		assert_int_equal(request(f, "POST", "/v1/exec",
					 "{\"code\": \"x\", \"language\": \"node\"}", NULL),
				 200);
	assert_int_equal(request(f, "GET", "/v1/health", NULL, NULL), 200);
	json_t *node = json_object_get(json_object_get(f->json, "templates"), "node");
	assert_true(json_is_true(json_object_get(node, "ready")));
	assert_string_equal(field_str(node, "runtime"), "node");
	assert_int_equal(json_integer_value(json_object_get(node, "generation")), 1);
	assert_int_equal(json_integer_value(json_object_get(node, "forks")), 3);
	json_int_t age = json_integer_value(json_object_get(node, "age_seconds"));
	assert_true(age >= 100 && age < 200);
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(node, "languages"), 1)), "javascript");
	json_t *py = json_object_get(json_object_get(f->json, "templates"), "python");
	assert_int_equal(json_integer_value(json_object_get(py, "forks")), 0);
	assert_int_equal(request(f, "GET", "/v1/metrics", NULL, NULL), 200);
	const char *m = memconn_body(&f->m);
	assert_non_null(strstr(m, "forkbox_template_generation{template=\"python\"} 2\n"));
	assert_non_null(strstr(m, "forkbox_template_forks{template=\"node\"} 3\n"));
	assert_non_null(strstr(m, "forkbox_template_forks_total{template=\"node\"} 3\n"));
	assert_non_null(strstr(m, "forkbox_template_ready{template=\"node\"} 1\n"));
	/* A new generation serving: its forks count from 0 again. */
	fb_metrics_template_serving(f->api.metrics, f->templates.t[1].slot, 2, (int64_t)time(NULL));
	assert_int_equal(request(f, "GET", "/v1/metrics", NULL, NULL), 200);
	assert_non_null(
	    strstr(memconn_body(&f->m), "forkbox_template_forks{template=\"node\"} 0\n"));
	assert_non_null(
	    strstr(memconn_body(&f->m), "forkbox_template_forks_total{template=\"node\"} 3\n"));
}

/* A template that could not be opened: its requests get 503 with the
 * reason, the others are served, health says degraded. */
static void test_template_not_ready(void **state)
{
	struct fixture *f = *state;
	struct fb_served *node = &f->templates.t[1];
	struct fb_engine *engine = node->engine;
	node->engine = NULL;
	snprintf(node->error, sizeof(node->error), "no such file");
	assert_int_equal(
	    request(f, "POST", "/v1/exec", "{\"code\": \"x\", \"language\": \"js\"}", NULL), 503);
	assert_string_equal(field_str(f->json, "error"),
			    "template node (language \"js\") is not available: no such file");
	assert_non_null(strstr(f->m.out, "Retry-After: 1"));
	assert_int_equal(request(f, "POST", "/v1/exec", "{\"code\": \"print:ok\"}", NULL), 200);
	assert_int_equal(request(f, "GET", "/v1/health", NULL, NULL), 200);
	assert_string_equal(field_str(f->json, "status"), "degraded");
	json_t *j = json_object_get(json_object_get(f->json, "templates"), "node");
	assert_true(json_is_false(json_object_get(j, "ready")));
	assert_string_equal(field_str(j, "error"), "no such file");
	node->engine = engine;
}

/* A reload shares the engines of unchanged template files and reopens the
 * changed ones (a rotation's new generation). */
static void test_reload_shares_unchanged(void **state)
{
	struct fixture *f = *state;
	struct fb_served_set next;
	struct fb_engine_options opts = {.serial_log_fd = -1};
	fake_template(f, "node", "node", 2); /* rebuilt: a new file */
	if (fb_served_open(&next, &f->cfg, &f->templates, &opts) < 0)
		fail_msg("%s", fb_error_last());
	assert_ptr_equal(next.t[0].engine, f->templates.t[0].engine);
	assert_ptr_not_equal(next.t[1].engine, f->templates.t[1].engine);
	assert_int_equal(next.t[1].generation, 2);
	/* The old set lets go: the shared engine stays usable by the new. */
	fb_served_close(&f->templates);
	f->api.templates = &next;
	assert_int_equal(request(f, "POST", "/v1/exec", "{\"code\": \"template\"}", NULL), 200);
	assert_string_equal(field_str(f->json, "stdout"), "python generation 2\n");
	f->templates = next;
	f->api.templates = &f->templates;
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_exec_ok),
	    T(test_exec_invalid_utf8_and_truncation),
	    T(test_exec_timeout),
	    T(test_exec_errors),
	    T(test_routing_errors),
	    T(test_sse),
	    T(test_batch),
	    T(test_capacity_503),
	    T(test_auth_and_rate),
	    T(test_health_and_metrics),
	    T(test_client_gone_mid_exec),
	    T(test_client_gone_mid_stream),
	    T(test_client_gone_mid_batch),
	    T(test_code_with_nul),
	    T(test_vm_pool_metrics),
	    T(test_language_routing),
	    T(test_templates_in_health_and_metrics),
	    T(test_template_not_ready),
	    T(test_reload_shares_unchanged),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
