/* Decoding/validation of exec requests and encoding of results. Unknown
 * fields are ignored on purpose: zeroboot SDKs send extra ones. */
#include "fcgi/api_json.h"

#include "util/error.h"
#include "util/utf8.h"

#include <stdlib.h>
#include <string.h>

static json_t *parse(const char *body, size_t len)
{
	json_error_t err;
	/* Code is bytes: a NUL in it ("\u0000") is valid JSON and goes to the
	 * interpreter, which has its own say about it. */
	json_t *root = json_loadb(body, len, JSON_ALLOW_NUL, &err);

	if (!root)
		fb_error("invalid JSON at line %d, column %d: %s", err.line, err.column, err.text);
	return root;
}

static int decode_language(json_t *obj, const char *where, struct fb_exec_spec *spec)
{
	json_t *v = json_object_get(obj, "language");

	strcpy(spec->language, "python");
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return fb_error("%s\"language\" must be a string", where);
	const char *name = json_string_value(v);
	size_t n = json_string_length(v);
	if (n == 0 || n >= sizeof(spec->language) || strlen(name) != n ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_+.-") != n)
		return fb_error("%slanguage \"%.64s\" is not supported", where, name);
	memcpy(spec->language, name, n + 1);
	return 0;
}

static int decode_timeout(json_t *obj, const char *where, const struct fb_limits_config *lim,
			  struct fb_exec_spec *spec)
{
	json_t *v = json_object_get(obj, "timeout_seconds");

	spec->timeout_s = lim->default_timeout_s;
	if (!v || json_is_null(v))
		goto cap;
	if (!json_is_number(v))
		return fb_error("%s\"timeout_seconds\" must be a number", where);
	spec->timeout_s = json_number_value(v);
	spec->timeout_given = true;
	if (!(spec->timeout_s > 0))
		return fb_error("%s\"timeout_seconds\" must be greater than 0", where);
cap:
	if (spec->timeout_s > lim->max_timeout_s)
		spec->timeout_s = lim->max_timeout_s;
	return 0;
}

/* where: "" or "executions[3]: ", prefixed to messages. */
static int decode_spec(json_t *obj, const char *where, const struct fb_limits_config *lim,
		       struct fb_exec_spec *spec)
{
	memset(spec, 0, sizeof(*spec));
	spec->target = -1;
	if (!json_is_object(obj))
		return fb_error("%sexpected a JSON object", where);
	json_t *code = json_object_get(obj, "code");
	if (!code)
		return fb_error("%smissing required field \"code\"", where);
	if (!json_is_string(code))
		return fb_error("%s\"code\" must be a string", where);
	if (decode_language(obj, where, spec) || decode_timeout(obj, where, lim, spec))
		return -1;
	spec->code_len = json_string_length(code);
	spec->code = malloc(spec->code_len + 1);
	if (!spec->code)
		return fb_error("out of memory");
	memcpy(spec->code, json_string_value(code), spec->code_len + 1);
	return 0;
}

int fb_api_decode_exec(const char *body, size_t len, const struct fb_limits_config *lim,
		       struct fb_exec_spec *spec)
{
	json_t *root = parse(body, len);
	int rc;

	memset(spec, 0, sizeof(*spec));
	if (!root)
		return 400;
	rc = decode_spec(root, "", lim, spec) ? 400 : 0;
	json_decref(root);
	return rc;
}

static int decode_items(json_t *arr, const struct fb_limits_config *lim, struct fb_exec_spec *specs)
{
	for (size_t i = 0; i < json_array_size(arr); i++) {
		char where[48];
		snprintf(where, sizeof(where), "executions[%zu]: ", i);
		if (decode_spec(json_array_get(arr, i), where, lim, &specs[i]))
			return -1;
	}
	return 0;
}

static int check_batch_array(json_t *root, const struct fb_limits_config *lim, json_t **arr)
{
	if (!json_is_object(root))
		return fb_error("expected a JSON object with \"executions\"");
	*arr = json_object_get(root, "executions");
	if (!*arr)
		return fb_error("missing required field \"executions\"");
	if (!json_is_array(*arr))
		return fb_error("\"executions\" must be an array");
	if (json_array_size(*arr) == 0)
		return fb_error("\"executions\" must not be empty");
	if (json_array_size(*arr) > lim->max_batch)
		return fb_error("\"executions\" has %zu entries, the limit is %u",
				json_array_size(*arr), lim->max_batch);
	return 0;
}

int fb_api_decode_batch(const char *body, size_t len, const struct fb_limits_config *lim,
			struct fb_exec_spec **specs, size_t *count)
{
	json_t *root = parse(body, len);
	json_t *arr = NULL;

	*specs = NULL;
	*count = 0;
	if (!root)
		return 400;
	if (check_batch_array(root, lim, &arr)) {
		json_decref(root);
		return 400;
	}
	size_t n = json_array_size(arr);
	struct fb_exec_spec *out = calloc(n, sizeof(*out));
	if (!out || decode_items(arr, lim, out)) {
		if (!out)
			fb_error("out of memory");
		fb_exec_specs_free(out, n);
		json_decref(root);
		return 400;
	}
	json_decref(root);
	*specs = out;
	*count = n;
	return 0;
}

void fb_exec_spec_free(struct fb_exec_spec *spec)
{
	free(spec->code);
	spec->code = NULL;
}

void fb_exec_specs_free(struct fb_exec_spec *specs, size_t count)
{
	if (!specs)
		return;
	for (size_t i = 0; i < count; i++)
		fb_exec_spec_free(&specs[i]);
	free(specs);
}

json_t *fb_api_bytes_json(const void *data, size_t len)
{
	size_t clean_len;
	char *clean = fb_utf8_sanitize(data ? data : "", data ? len : 0, &clean_len);

	if (!clean)
		return NULL;
	json_t *s = json_stringn_nocheck(clean, clean_len);
	free(clean);
	return s;
}

json_t *fb_api_result_json(const struct fb_exec_result *res, const struct fb_output *out)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	int bad = json_object_set_new(
	    o, "id", fb_api_bytes_json(res->id, strnlen(res->id, sizeof(res->id))));
	if (out) {
		bad |= json_object_set_new(
		    o, "stdout",
		    fb_api_bytes_json(out->data[FB_STREAM_STDOUT], out->len[FB_STREAM_STDOUT]));
		bad |= json_object_set_new(
		    o, "stderr",
		    fb_api_bytes_json(out->data[FB_STREAM_STDERR], out->len[FB_STREAM_STDERR]));
	}
	bad |= json_object_set_new(o, "exit_code", json_integer(res->exit_code));
	bad |= json_object_set_new(o, "fork_time_ms", json_real(res->fork_time_ms));
	bad |= json_object_set_new(o, "exec_time_ms", json_real(res->exec_time_ms));
	bad |= json_object_set_new(o, "total_time_ms", json_real(res->total_time_ms));
	bad |= json_object_set_new(o, "timed_out", json_boolean(res->timed_out));
	bad |= json_object_set_new(o, "truncated", json_boolean(res->truncated));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *fb_api_error_json(const char *msg)
{
	json_t *o = json_object();

	/* msg may quote client input cut mid-character: repair it. */
	if (o && json_object_set_new(o, "error", fb_api_bytes_json(msg, strlen(msg)))) {
		json_decref(o);
		return NULL;
	}
	return o;
}
