/* Guest output is arbitrary bytes; JSON strings must be valid UTF-8. */
#ifndef FORKBOX_UTIL_UTF8_H
#define FORKBOX_UTIL_UTF8_H

#include <stddef.h>

/* Copy src into a fresh NUL-terminated buffer, replacing every byte that
 * does not start a valid UTF-8 sequence with U+FFFD (NUL bytes are kept: they
 * are valid UTF-8 and JSON encodes them as \u0000). Returns NULL on
 * allocation failure; *out_len gets the length without the final NUL. */
char *fb_utf8_sanitize(const void *src, size_t len, size_t *out_len);

/* Length of the longest prefix of buf[0..len) that does not end inside a
 * multi-byte sequence that could still be completed by more bytes. Used to
 * hold back a split character between two streamed chunks. */
size_t fb_utf8_complete_prefix(const void *buf, size_t len);

#endif
