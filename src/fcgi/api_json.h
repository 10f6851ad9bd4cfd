/* JSON bodies of the HTTP API (zeroboot compatible): decoding and validating
 * /v1/exec and /v1/exec/batch requests, encoding results and errors. */
#ifndef FORKBOX_FCGI_API_JSON_H
#define FORKBOX_FCGI_API_JSON_H

#include "util/config.h"
#include "vmm/engine.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct fb_exec_spec {
	char *code; /* owned, NUL-terminated (code_len excludes the NUL) */
	size_t code_len;
	char language[16]; /* "python" when the request names none */
	double timeout_s;  /* the request's, capped, else limits' default */
	bool timeout_given;
	int target; /* the template serving it (exec.c), -1 before routing */
};

/* Decode a POST /v1/exec body. Returns 0, or 400 with the reason (shown to
 * the client) in fb_error_last(). Any well-formed language name passes:
 * which ones a server serves is its templates' business (exec.c). */
int fb_api_decode_exec(const char *body, size_t len, const struct fb_limits_config *lim,
		       struct fb_exec_spec *spec);

/* Decode a POST /v1/exec/batch body {"executions": [...]}: a non-empty array
 * of at most lim->max_batch exec objects. Returns 0 with *specs (free with
 * fb_exec_specs_free) and *count, or 400 with the reason. */
int fb_api_decode_batch(const char *body, size_t len, const struct fb_limits_config *lim,
			struct fb_exec_spec **specs, size_t *count);

void fb_exec_spec_free(struct fb_exec_spec *spec);
void fb_exec_specs_free(struct fb_exec_spec *specs, size_t count);

/* Captured output of one execution. */
struct fb_output {
	char *data[3]; /* indexed by enum fb_stream (1 stdout, 2 stderr) */
	size_t len[3];
};

/* {"id","stdout","stderr","exit_code","fork_time_ms","exec_time_ms",
 * "total_time_ms","timed_out","truncated"}; without "stdout"/"stderr" when
 * out is NULL (the SSE exit event). Bytes that are not UTF-8 become U+FFFD.
 * Returns NULL on allocation failure. */
json_t *fb_api_result_json(const struct fb_exec_result *res, const struct fb_output *out);

/* {"error": msg} */
json_t *fb_api_error_json(const char *msg);

/* A JSON string of arbitrary bytes, repaired to UTF-8. */
json_t *fb_api_bytes_json(const void *data, size_t len);

#endif
