/* Server-Sent Events writer. */
#include "fcgi/sse.h"

#include "fcgi/api_json.h"
#include "fcgi/response.h"
#include "util/utf8.h"

#include <stdlib.h>
#include <string.h>

void fb_sse_init(struct fb_sse *sse, struct fb_conn *conn)
{
	memset(sse, 0, sizeof(*sse));
	sse->conn = conn;
}

static int flush(struct fb_sse *sse)
{
	if (sse->conn->flush && sse->conn->flush(sse->conn->ctx))
		sse->failed = 1;
	return sse->failed ? -1 : 0;
}

int fb_sse_start(struct fb_sse *sse)
{
	/* X-Accel-Buffering: nginx streams even where fastcgi_buffering is on. */
	if (fb_response_head(sse->conn, 200, "text/event-stream", -1,
			     "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n"))
		sse->failed = 1;
	return flush(sse);
}

int fb_sse_event(struct fb_sse *sse, const char *event, const json_t *data)
{
	char *text = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(10));

	if (!text || sse->failed) {
		free(text);
		return -1;
	}
	struct fb_conn *c = sse->conn;
	if (fb_conn_write(c, "event: ", 7) || fb_conn_write(c, event, strlen(event)) ||
	    fb_conn_write(c, "\ndata: ", 7) || fb_conn_write(c, text, strlen(text)) ||
	    fb_conn_write(c, "\n\n", 2))
		sse->failed = 1;
	free(text);
	return flush(sse);
}

static int emit(struct fb_sse *sse, enum fb_stream stream, const void *data, size_t len)
{
	if (!len)
		return 0;
	json_t *s = fb_api_bytes_json(data, len);
	int rc = s ? fb_sse_event(sse, stream == FB_STREAM_STDERR ? "stderr" : "stdout", s) : -1;
	json_decref(s);
	return rc;
}

int fb_sse_output(struct fb_sse *sse, enum fb_stream stream, const void *data, size_t len)
{
	if (stream != FB_STREAM_STDOUT && stream != FB_STREAM_STDERR)
		return 0;
	size_t held = sse->carry_len[stream];
	unsigned char *joined = malloc(held + len);
	if (!joined)
		return -1;
	memcpy(joined, sse->carry[stream], held);
	memcpy(joined + held, data, len);
	size_t total = held + len;
	size_t ready = fb_utf8_complete_prefix(joined, total);
	sse->carry_len[stream] = total - ready;
	memcpy(sse->carry[stream], joined + ready, total - ready);
	int rc = emit(sse, stream, joined, ready);
	free(joined);
	return rc;
}

int fb_sse_finish_output(struct fb_sse *sse)
{
	int rc = 0;

	for (int s = FB_STREAM_STDOUT; s <= FB_STREAM_STDERR; s++) {
		rc |= emit(sse, (enum fb_stream)s, sse->carry[s], sse->carry_len[s]);
		sse->carry_len[s] = 0;
	}
	return rc;
}
