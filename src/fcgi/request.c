/* CGI parameters -> struct fb_request, and the size-limited body reader. */
#include "fcgi/request.h"

#include "util/error.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *param_or(struct fb_conn *conn, const char *name, const char *fallback)
{
	const char *v = conn->param(conn->ctx, name);
	return v ? v : fallback;
}

/* Copy "a" + "b" up to the query string into out; -1 if it does not fit. */
static int join_path(char *out, size_t size, const char *a, const char *b)
{
	size_t alen = strcspn(a, "?");
	size_t blen = strcspn(b, "?");
	if (alen + blen >= size)
		return fb_error("request path longer than %zu bytes", size - 1);
	memcpy(out, a, alen);
	memcpy(out + alen, b, blen);
	out[alen + blen] = '\0';
	return 0;
}

static int parse_path(struct fb_request *req, struct fb_conn *conn)
{
	const char *script = param_or(conn, "SCRIPT_NAME", "");
	const char *info = param_or(conn, "PATH_INFO", "");
	const char *doc = param_or(conn, "DOCUMENT_URI", "");
	const char *uri = param_or(conn, "REQUEST_URI", "");
	int rc;

	if (*script || *info)
		rc = join_path(req->path, sizeof(req->path), script, info);
	else if (*doc)
		rc = join_path(req->path, sizeof(req->path), doc, "");
	else
		rc = join_path(req->path, sizeof(req->path), uri, "");
	if (rc)
		return rc;
	/* Mounted under a prefix: keep the API part only. */
	char *api = strstr(req->path, "/v1/");
	if (api && api != req->path)
		memmove(req->path, api, strlen(api) + 1);
	return 0;
}

static int parse_length(struct fb_request *req, const char *text)
{
	char *end;

	req->has_length = false;
	req->content_length = 0;
	if (!text || !*text)
		return 0;
	if (text[0] < '0' || text[0] > '9')
		return fb_error("CONTENT_LENGTH \"%.32s\" is not a number", text);
	errno = 0;
	unsigned long long n = strtoull(text, &end, 10);
	if (errno || *end)
		return fb_error("CONTENT_LENGTH \"%.32s\" is not a number", text);
	if (n > SIZE_MAX)
		n = SIZE_MAX;
	req->content_length = (size_t)n;
	req->has_length = true;
	return 0;
}

int fb_request_parse(struct fb_request *req, struct fb_conn *conn)
{
	memset(req, 0, sizeof(*req));
	req->method = param_or(conn, "REQUEST_METHOD", "");
	req->content_type = param_or(conn, "CONTENT_TYPE", NULL);
	req->authorization = param_or(conn, "HTTP_AUTHORIZATION", NULL);
	req->accept = param_or(conn, "HTTP_ACCEPT", NULL);
	req->remote_addr = param_or(conn, "REMOTE_ADDR", "-");
	if (parse_path(req, conn))
		return -1;
	return parse_length(req, param_or(conn, "CONTENT_LENGTH", NULL));
}

bool fb_request_wants_sse(const struct fb_request *req)
{
	return req->accept && strcasestr(req->accept, "text/event-stream") != NULL;
}

/* Read until EOF, or until more than max bytes arrive (-> 413). */
static int read_stream(struct fb_conn *conn, size_t max, char **buf, size_t *len)
{
	size_t cap = 0;

	for (;;) {
		if (*len + 1 >= cap) {
			size_t ncap = cap ? cap * 2 : 4096;
			if (max < SIZE_MAX - 2 && ncap > max + 2)
				ncap = max + 2;
			char *nbuf = realloc(*buf, ncap);
			if (!nbuf)
				return fb_error("out of memory reading the request body"), 500;
			*buf = nbuf;
			cap = ncap;
		}
		ssize_t n = conn->read(conn->ctx, *buf + *len, cap - 1 - *len);
		if (n < 0)
			return fb_error("reading the request body failed"), 400;
		if (n == 0)
			return 0;
		*len += (size_t)n;
		if (*len > max)
			return fb_error("request body larger than %zu bytes", max), 413;
	}
}

int fb_request_read_body(const struct fb_request *req, struct fb_conn *conn, size_t max_bytes,
			 char **out, size_t *out_len)
{
	char *buf = NULL;
	size_t len = 0;
	int status;

	*out = NULL;
	*out_len = 0;
	if (req->has_length && req->content_length > max_bytes) {
		fb_error("request body of %zu bytes is larger than the limit of %zu bytes",
			 req->content_length, max_bytes);
		return 413;
	}
	status = read_stream(conn, req->has_length ? req->content_length : max_bytes, &buf, &len);
	if (status == 413 && !req->has_length) {
		fb_error("request body larger than %zu bytes", max_bytes);
	} else if (status == 413) {
		/* More bytes than CONTENT_LENGTH announced: ignore the excess? No:
		 * a body that disagrees with its length is malformed. */
		fb_error("request body longer than its CONTENT_LENGTH of %zu", req->content_length);
		status = 400;
	}
	if (!status && req->has_length && len < req->content_length) {
		fb_error("request body ended after %zu of %zu bytes", len, req->content_length);
		status = 400;
	}
	if (status) {
		free(buf);
		return status;
	}
	if (!buf && !(buf = malloc(1)))
		return fb_error("out of memory reading the request body"), 500;
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	return 0;
}
