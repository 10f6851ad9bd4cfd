/* Server-Sent Events framing for streamed executions:
 *   event: stdout\ndata: "<json string>"\n\n
 *   event: stderr\ndata: "<json string>"\n\n
 *   event: exit\ndata: {result without stdout/stderr}\n\n
 * Every event is flushed at once so that, with nginx `fastcgi_buffering off`,
 * the client sees output while the code still runs. */
#ifndef FORKBOX_FCGI_SSE_H
#define FORKBOX_FCGI_SSE_H

#include "fcgi/io.h"
#include "vmm/engine.h"

#include <jansson.h>
#include <stddef.h>

struct fb_sse {
	struct fb_conn *conn;
	/* Bytes of a UTF-8 character split across two output chunks. */
	unsigned char carry[3][4];
	size_t carry_len[3];
	int failed; /* the client went away */
};

void fb_sse_init(struct fb_sse *sse, struct fb_conn *conn);

/* The 200 response head for an event stream. */
int fb_sse_start(struct fb_sse *sse);

/* One event whose data is json (compact, one line). Flushes. 0 or -1. */
int fb_sse_event(struct fb_sse *sse, const char *event, const json_t *data);

/* An output chunk as a stdout/stderr event; a character split at the end of
 * the chunk is held back until the next one. 0 or -1. */
int fb_sse_output(struct fb_sse *sse, enum fb_stream stream, const void *data, size_t len);

/* Emit whatever is held back (as U+FFFD if it never completed). */
int fb_sse_finish_output(struct fb_sse *sse);

#endif
