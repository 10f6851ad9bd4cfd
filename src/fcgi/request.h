/* The parts of an HTTP request the API needs, taken from CGI parameters. */
#ifndef FORKBOX_FCGI_REQUEST_H
#define FORKBOX_FCGI_REQUEST_H

#include "fcgi/io.h"

#include <stdbool.h>
#include <stddef.h>

#define FB_REQ_PATH_MAX 512

struct fb_request {
	const char *method;	    /* "GET", "POST"... ("" when missing) */
	char path[FB_REQ_PATH_MAX]; /* URI path without query string */
	const char *content_type;   /* NULL when absent */
	bool has_length;	    /* CONTENT_LENGTH was present and valid */
	size_t content_length;
	const char *authorization; /* HTTP_AUTHORIZATION or NULL */
	const char *accept;	   /* HTTP_ACCEPT or NULL */
	const char *remote_addr;   /* REMOTE_ADDR or "-" */
};

/* Fill req from conn's parameters. The path comes from SCRIPT_NAME +
 * PATH_INFO, DOCUMENT_URI or REQUEST_URI (first non-empty one), without its
 * query string; when the API is mounted under a prefix ("/forkbox/v1/exec"),
 * everything before the first "/v1/" is dropped. Returns 0, or -1 with a
 * message when CONTENT_LENGTH is malformed or the path too long (a 400). */
int fb_request_parse(struct fb_request *req, struct fb_conn *conn);

/* Whether the client asked for Server-Sent Events. */
bool fb_request_wants_sse(const struct fb_request *req);

/* Read the body into a fresh NUL-terminated buffer (*out, *out_len).
 * Returns 0; 413 when CONTENT_LENGTH or the stream itself exceeds max_bytes
 * (checked before reading / while reading); 400 when the body is shorter
 * than CONTENT_LENGTH; 500 on allocation failure. On non-zero, *out is NULL
 * and fb_error_last() says why. */
int fb_request_read_body(const struct fb_request *req, struct fb_conn *conn, size_t max_bytes,
			 char **out, size_t *out_len);

#endif
