#include "proto/reader.h"

#include "util/error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int fb_reader_init(struct fb_frame_reader *r, uint32_t allowed, size_t max_payload)
{
	memset(r, 0, sizeof(*r));
	r->cap = FB_FRAME_HEADER_SIZE + max_payload;
	r->buf = malloc(r->cap);
	if (!r->buf)
		return fb_error_errno("allocate %zu-byte frame buffer", r->cap);
	r->allowed = allowed;
	return 0;
}

void fb_reader_free(struct fb_frame_reader *r)
{
	free(r->buf);
	r->buf = NULL;
}

/* Move the unread bytes to the front, making room at the end. */
static void compact(struct fb_frame_reader *r)
{
	if (r->consumed == 0)
		return;
	memmove(r->buf, r->buf + r->consumed, r->len - r->consumed);
	r->len -= r->consumed;
	r->consumed = 0;
}

ssize_t fb_reader_fill(struct fb_frame_reader *r, int fd)
{
	compact(r);
	if (r->len == r->cap)
		return fb_error("frame buffer full");
	ssize_t n;
	do
		n = recv(fd, r->buf + r->len, r->cap - r->len, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return fb_error_errno("recv");
	r->len += (size_t)n;
	return n;
}

int fb_reader_feed(struct fb_frame_reader *r, const void *data, size_t len)
{
	compact(r);
	if (len > r->cap - r->len)
		return fb_error("frame buffer full");
	memcpy(r->buf + r->len, data, len);
	r->len += len;
	return 0;
}

int fb_reader_next(struct fb_frame_reader *r, struct fb_frame_header *h, const uint8_t **payload)
{
	size_t avail = r->len - r->consumed;
	if (avail < FB_FRAME_HEADER_SIZE)
		return 0;
	const uint8_t *start = r->buf + r->consumed;
	if (fb_frame_header_decode(start, r->allowed, h) < 0)
		return -1;
	/* A valid header's length always fits the buffer (cap >= its max),
	 * unless the reader was sized below this type's limit. */
	if (FB_FRAME_HEADER_SIZE + (size_t)h->len > r->cap)
		return fb_error("frame of %u bytes exceeds the %zu-byte buffer", h->len,
				r->cap - FB_FRAME_HEADER_SIZE);
	if (avail < FB_FRAME_HEADER_SIZE + (size_t)h->len)
		return 0;
	*payload = start + FB_FRAME_HEADER_SIZE;
	r->consumed += FB_FRAME_HEADER_SIZE + h->len;
	return 1;
}

bool fb_reader_partial(const struct fb_frame_reader *r)
{
	return r->len > r->consumed;
}
