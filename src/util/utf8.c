/* UTF-8 validation and repair (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF). */
#include "util/utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char replacement[] = "\xEF\xBF\xBD";

/* Length of the valid sequence starting at s (n bytes available), 0 if the
 * bytes there are not a valid complete sequence. */
static size_t valid_sequence(const uint8_t *s, size_t n)
{
	uint8_t c = s[0];
	size_t need;
	uint8_t lo = 0x80, hi = 0xBF;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		need = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		need = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		need = 4;
	else
		return 0;
	if (c == 0xE0)
		lo = 0xA0;
	else if (c == 0xED)
		hi = 0x9F;
	else if (c == 0xF0)
		lo = 0x90;
	else if (c == 0xF4)
		hi = 0x8F;
	if (n < need || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < need; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	return need;
}

char *fb_utf8_sanitize(const void *src, size_t len, size_t *out_len)
{
	const uint8_t *s = src;
	/* Worst case: every byte becomes a 3-byte replacement. */
	if (len > (SIZE_MAX - 1) / 3)
		return NULL;
	char *out = malloc(len * 3 + 1);
	size_t o = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len;) {
		size_t n = valid_sequence(s + i, len - i);
		if (n) {
			memcpy(out + o, s + i, n);
			o += n;
			i += n;
		} else {
			memcpy(out + o, replacement, 3);
			o += 3;
			i++;
		}
	}
	out[o] = '\0';
	*out_len = o;
	return out;
}

size_t fb_utf8_complete_prefix(const void *buf, size_t len)
{
	const uint8_t *s = buf;
	/* Look back at most 3 bytes for the lead byte of a trailing sequence. */
	for (size_t back = 1; back <= 3 && back <= len; back++) {
		uint8_t c = s[len - back];
		if ((c & 0xC0) == 0x80)
			continue;
		size_t need = c >= 0xC2 && c <= 0xDF   ? 2
			      : c >= 0xE0 && c <= 0xEF ? 3
			      : c >= 0xF0 && c <= 0xF4 ? 4
						       : 1; /* ASCII or never valid: emit */
		return need > back ? len - back : len;
	}
	return len;
}
