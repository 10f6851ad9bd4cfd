/* Writing CGI responses ("Status:" header, headers, body). */
#ifndef FORKBOX_FCGI_RESPONSE_H
#define FORKBOX_FCGI_RESPONSE_H

#include "fcgi/io.h"

#include <jansson.h>
#include <stddef.h>

const char *fb_status_reason(int status);

/* Status line and headers. extra_headers: "" or "Name: value\r\n" lines.
 * content_length < 0 leaves Content-Length out. Returns 0 or -1. */
int fb_response_head(struct fb_conn *conn, int status, const char *content_type,
		     long long content_length, const char *extra_headers);

/* A whole response with body. Returns 0 or -1 (client gone). */
int fb_response_body(struct fb_conn *conn, int status, const char *content_type, const void *body,
		     size_t len, const char *extra_headers);

/* A compact JSON document as the body (not consumed). Writes a 500 when
 * json is NULL or cannot be encoded. */
int fb_response_json(struct fb_conn *conn, int status, const json_t *json,
		     const char *extra_headers);

/* {"error": msg} with the given status. */
int fb_response_error(struct fb_conn *conn, int status, const char *msg, const char *extra_headers);

#endif
