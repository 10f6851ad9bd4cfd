/* CGI response framing shared by every endpoint. */
#include "fcgi/response.h"

#include "fcgi/api_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *fb_status_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 413:
		return "Payload Too Large";
	case 429:
		return "Too Many Requests";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	default:
		return "Unknown";
	}
}

int fb_response_head(struct fb_conn *conn, int status, const char *content_type,
		     long long content_length, const char *extra_headers)
{
	char head[1024];
	char length[48] = "";

	if (content_length >= 0)
		snprintf(length, sizeof(length), "Content-Length: %lld\r\n", content_length);
	int n = snprintf(head, sizeof(head), "Status: %d %s\r\nContent-Type: %s\r\n%s%s\r\n",
			 status, fb_status_reason(status), content_type, length,
			 extra_headers ? extra_headers : "");
	if (n < 0 || (size_t)n >= sizeof(head))
		return -1;
	return fb_conn_write(conn, head, (size_t)n);
}

int fb_response_body(struct fb_conn *conn, int status, const char *content_type, const void *body,
		     size_t len, const char *extra_headers)
{
	if (fb_response_head(conn, status, content_type, (long long)len, extra_headers))
		return -1;
	return fb_conn_write(conn, body, len);
}

int fb_response_json(struct fb_conn *conn, int status, const json_t *json,
		     const char *extra_headers)
{
	/* 10 significant digits: times read 12.34567891, not 17-digit noise. */
	char *text = json ? json_dumps(json, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;

	if (!text) {
		static const char oom[] = "{\"error\":\"out of memory encoding the response\"}\n";
		return fb_response_body(conn, 500, "application/json", oom, sizeof(oom) - 1, NULL);
	}
	size_t len = strlen(text);
	text[len] = '\n'; /* replaces the NUL: body is not a C string */
	int rc = fb_response_body(conn, status, "application/json", text, len + 1, extra_headers);
	free(text);
	return rc;
}

int fb_response_error(struct fb_conn *conn, int status, const char *msg, const char *extra_headers)
{
	json_t *err = fb_api_error_json(msg);
	int rc = fb_response_json(conn, status, err, extra_headers);

	json_decref(err);
	return rc;
}
