#include "vmm/snapshot/records.h"

#include <stdlib.h>
#include <string.h>

#include "util/error.h"

#define HEADER_BYTES 16u
#define MAX_BLOB     (1u << 24) /* far above any real state */

static size_t pad8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4); /* x86 is little-endian */
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static void reserve(struct fb_rec_writer *w, size_t more)
{
	if (w->failed || w->len + more <= w->cap)
		return;
	size_t cap = w->cap ? w->cap : 4096;
	while (cap < w->len + more)
		cap *= 2;
	uint8_t *buf = realloc(w->buf, cap);
	if (!buf) {
		w->failed = 1;
		return;
	}
	memset(buf + w->cap, 0, cap - w->cap);
	w->buf = buf;
	w->cap = cap;
}

void fb_rec_begin(struct fb_rec_writer *w, uint32_t magic, uint32_t version)
{
	memset(w, 0, sizeof(*w));
	reserve(w, HEADER_BYTES);
	if (w->failed)
		return;
	put32(w->buf, magic);
	put32(w->buf + 4, version);
	w->len = HEADER_BYTES;
}

void fb_rec_put(struct fb_rec_writer *w, uint32_t tag, const void *data, size_t len)
{
	if (len > MAX_BLOB) {
		w->failed = 1;
		return;
	}
	reserve(w, 8 + pad8(len));
	if (w->failed)
		return;
	put32(w->buf + w->len, tag);
	put32(w->buf + w->len + 4, (uint32_t)len);
	memcpy(w->buf + w->len + 8, data, len);
	w->len += 8 + pad8(len);
	w->count++;
}

void *fb_rec_finish(struct fb_rec_writer *w, size_t *len)
{
	if (w->failed || w->len > MAX_BLOB) {
		free(w->buf);
		fb_error("state serialization: out of memory");
		return NULL;
	}
	put32(w->buf + 8, (uint32_t)w->len);
	put32(w->buf + 12, w->count);
	*len = w->len;
	return w->buf;
}

int fb_rec_open(struct fb_rec_reader *r, const void *data, size_t len, uint32_t magic,
		uint32_t version, const char *what)
{
	memset(r, 0, sizeof(*r));
	r->what = what;
	if (len < HEADER_BYTES || get32(data) != magic)
		return fb_error("%s: bad magic", what);
	const uint8_t *p = data;
	if (get32(p + 4) != version)
		return fb_error("%s: unsupported version %u (expected %u)", what, get32(p + 4),
				version);
	if (get32(p + 8) != len || len > MAX_BLOB)
		return fb_error("%s: length %u in header, blob has %zu bytes", what, get32(p + 8),
				len);
	r->data = data;
	r->len = len;
	r->pos = HEADER_BYTES;
	r->left = get32(p + 12);
	return 0;
}

static int zero_padding(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

int fb_rec_next(struct fb_rec_reader *r, uint32_t *tag, const void **data, uint32_t *len)
{
	size_t room = r->len - r->pos;
	if (r->left == 0)
		return room == 0 ? 0 : fb_error("%s: %zu trailing bytes", r->what, room);
	if (room < 8)
		return fb_error("%s: record header truncated", r->what);
	const uint8_t *p = r->data + r->pos;
	uint32_t n = get32(p + 4);
	if (pad8(n) > room - 8)
		return fb_error("%s: record of %u bytes overruns the blob", r->what, n);
	if (!zero_padding(p + 8 + n, pad8(n) - n))
		return fb_error("%s: nonzero record padding", r->what);
	*tag = get32(p);
	*data = p + 8;
	*len = n;
	r->pos += 8 + pad8(n);
	r->left--;
	return 1;
}
