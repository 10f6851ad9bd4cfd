/* Incremental frame reader over a stream socket: bytes are read into one
 * buffer sized for the largest frame this side accepts, and whole frames are
 * taken out of it. A bad header is rejected as soon as its 12 bytes arrive,
 * before any payload is buffered. */
#ifndef FORKBOX_PROTO_READER_H
#define FORKBOX_PROTO_READER_H

#include "proto/frame.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct fb_frame_reader {
	uint8_t *buf;
	size_t cap;	  /* FB_FRAME_HEADER_SIZE + largest payload */
	size_t len;	  /* bytes in buf */
	size_t consumed;  /* bytes of buf already returned as frames */
	uint32_t allowed; /* FB_FRAME_BIT mask of the types accepted */
};

/* Returns -1 with fb_error_last() set (allocation failure). */
int fb_reader_init(struct fb_frame_reader *r, uint32_t allowed, size_t max_payload);
void fb_reader_free(struct fb_frame_reader *r);

/* One non-blocking recv() from `fd`: returns the bytes read, 0 at end of
 * stream, -1 on error (fb_error_last() set; errno EAGAIN when nothing was
 * there yet). */
ssize_t fb_reader_fill(struct fb_frame_reader *r, int fd);

/* Feed bytes directly (tests). Returns -1 when they do not fit. */
int fb_reader_feed(struct fb_frame_reader *r, const void *data, size_t len);

/* Take the next complete frame: 1 with *h and *payload (valid until the next
 * call to any fb_reader function), 0 when more bytes are needed, -1 on an
 * invalid frame (fb_error_last() set). */
int fb_reader_next(struct fb_frame_reader *r, struct fb_frame_header *h, const uint8_t **payload);

/* Whether part of a frame is buffered (end of stream there is an error). */
bool fb_reader_partial(const struct fb_frame_reader *r);

#endif
