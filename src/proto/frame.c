#include "proto/frame.h"

#include "util/error.h"

#include <string.h>

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

void fb_frame_header_encode(uint8_t out[FB_FRAME_HEADER_SIZE], uint32_t type, uint32_t len)
{
	put_le32(out, FB_PROTO_MAGIC);
	put_le32(out + 4, type);
	put_le32(out + 8, len);
}

/* Payload length bounds of each frame type. */
static int frame_len_bounds(uint32_t type, uint32_t *min, uint32_t *max)
{
	switch (type) {
	case FB_FRAME_EXEC:
		*min = FB_PROTO_EXEC_FIXED + 1;
		*max = FB_PROTO_EXEC_FIXED + FB_PROTO_MAX_LANGUAGE;
		return 0;
	case FB_FRAME_CODE:
		*min = 1;
		*max = FB_PROTO_MAX_CODE_CHUNK;
		return 0;
	case FB_FRAME_STDOUT:
	case FB_FRAME_STDERR:
		*min = 1;
		*max = FB_PROTO_MAX_OUTPUT_CHUNK;
		return 0;
	case FB_FRAME_EXIT:
		*min = *max = FB_PROTO_EXIT_LEN;
		return 0;
	case FB_FRAME_ERROR:
		*min = 1;
		*max = FB_PROTO_MAX_ERROR;
		return 0;
	default:
		return -1;
	}
}

int fb_frame_header_decode(const uint8_t in[FB_FRAME_HEADER_SIZE], uint32_t allowed,
			   struct fb_frame_header *h)
{
	uint32_t magic = get_le32(in);
	if (magic != FB_PROTO_MAGIC)
		return fb_error("bad frame magic 0x%08x (expected 0x%08x)", magic, FB_PROTO_MAGIC);
	h->type = get_le32(in + 4);
	h->len = get_le32(in + 8);
	uint32_t min, max;
	if (h->type >= 32 || !(allowed & FB_FRAME_BIT(h->type)) ||
	    frame_len_bounds(h->type, &min, &max) < 0)
		return fb_error("unexpected frame type %u", h->type);
	if (h->len < min || h->len > max)
		return fb_error("frame type %u: bad length %u (allowed %u..%u)", h->type, h->len,
				min, max);
	return 0;
}

static int language_valid(const char *lang, size_t len)
{
	if (len == 0 || len > FB_PROTO_MAX_LANGUAGE)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = lang[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '+' || c == '-'))
			return 0;
	}
	return 1;
}

static int exec_fields_valid(const struct fb_exec_header *e, size_t lang_len)
{
	if (!language_valid(e->language, lang_len))
		return fb_error("EXEC: invalid language name");
	if (e->realtime_sec < 0 || e->realtime_nsec >= 1000000000u)
		return fb_error("EXEC: invalid wall-clock time");
	if (e->time_limit_ms == 0 || e->time_limit_ms > FB_PROTO_MAX_TIME_LIMIT_MS)
		return fb_error("EXEC: time limit %u ms out of range", e->time_limit_ms);
	if (e->code_len > FB_PROTO_MAX_CODE)
		return fb_error("EXEC: code of %u bytes exceeds %u", e->code_len,
				FB_PROTO_MAX_CODE);
	return 0;
}

int fb_exec_encode(uint8_t *out, size_t cap, const struct fb_exec_header *e)
{
	size_t lang_len = strnlen(e->language, sizeof(e->language));
	if (exec_fields_valid(e, lang_len) < 0)
		return -1;
	size_t total = FB_PROTO_EXEC_FIXED + lang_len;
	if (cap < total)
		return fb_error("EXEC: %zu bytes do not fit a %zu-byte buffer", total, cap);
	memcpy(out, e->entropy, FB_PROTO_ENTROPY_LEN);
	put_le64(out + 64, (uint64_t)e->realtime_sec);
	put_le32(out + 72, e->realtime_nsec);
	put_le32(out + 76, e->time_limit_ms);
	put_le32(out + 80, e->code_len);
	put_le32(out + 84, (uint32_t)lang_len);
	memcpy(out + FB_PROTO_EXEC_FIXED, e->language, lang_len);
	return (int)total;
}

int fb_exec_decode(const uint8_t *payload, size_t len, struct fb_exec_header *e)
{
	if (len < FB_PROTO_EXEC_FIXED)
		return fb_error("EXEC: payload of %zu bytes is too short", len);
	uint32_t lang_len = get_le32(payload + 84);
	if (lang_len > FB_PROTO_MAX_LANGUAGE || len != FB_PROTO_EXEC_FIXED + lang_len)
		return fb_error("EXEC: language length %u does not match payload of %zu bytes",
				lang_len, len);
	memset(e, 0, sizeof(*e));
	memcpy(e->entropy, payload, FB_PROTO_ENTROPY_LEN);
	e->realtime_sec = (int64_t)get_le64(payload + 64);
	e->realtime_nsec = get_le32(payload + 72);
	e->time_limit_ms = get_le32(payload + 76);
	e->code_len = get_le32(payload + 80);
	memcpy(e->language, payload + FB_PROTO_EXEC_FIXED, lang_len);
	e->language[lang_len] = '\0';
	return exec_fields_valid(e, lang_len);
}

void fb_exit_encode(uint8_t out[FB_PROTO_EXIT_LEN], const struct fb_exit_info *x)
{
	put_le32(out, (uint32_t)x->exit_code);
	put_le32(out + 4, (uint32_t)x->term_signal);
	put_le32(out + 8, x->flags);
	put_le32(out + 12, 0);
	put_le64(out + 16, x->run_time_ns);
}

int fb_exit_decode(const uint8_t *payload, size_t len, struct fb_exit_info *x)
{
	if (len != FB_PROTO_EXIT_LEN)
		return fb_error("EXIT: payload of %zu bytes (expected %u)", len, FB_PROTO_EXIT_LEN);
	x->exit_code = (int32_t)get_le32(payload);
	x->term_signal = (int32_t)get_le32(payload + 4);
	x->flags = get_le32(payload + 8);
	x->run_time_ns = get_le64(payload + 16);
	if (x->exit_code < 0 || x->exit_code > 255)
		return fb_error("EXIT: exit code %d out of range", x->exit_code);
	if (x->term_signal < 0 || x->term_signal > 64)
		return fb_error("EXIT: signal %d out of range", x->term_signal);
	if (x->term_signal != 0 && x->exit_code != 128 + x->term_signal)
		return fb_error("EXIT: exit code %d does not match signal %d", x->exit_code,
				x->term_signal);
	if ((x->flags & ~FB_EXIT_KNOWN_FLAGS) != 0 || get_le32(payload + 12) != 0)
		return fb_error("EXIT: unknown flags 0x%x", x->flags);
	return 0;
}

int fb_error_msg_decode(const uint8_t *payload, size_t len, char *out, size_t cap)
{
	if (len == 0 || len > FB_PROTO_MAX_ERROR || cap == 0)
		return fb_error("ERROR: payload of %zu bytes out of range", len);
	if (len > cap - 1)
		len = cap - 1;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = payload[i];
		out[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	out[len] = '\0';
	return 0;
}
