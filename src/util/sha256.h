/* SHA-256 (FIPS 180-4), written here from the standard: the hashes a
 * template records of the guest kernel, root filesystem, agent and recipe
 * it was built from, comparable with `sha256sum FILE`. */
#ifndef FORKBOX_UTIL_SHA256_H
#define FORKBOX_UTIL_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define FB_SHA256_HEX 65 /* 64 hex digits and a NUL */

struct fb_sha256 {
	uint32_t h[8];
	uint64_t bytes;
	uint8_t block[64];
	size_t used;
};

void fb_sha256_init(struct fb_sha256 *s);
void fb_sha256_update(struct fb_sha256 *s, const void *data, size_t len);
/* The digest as lowercase hex. */
void fb_sha256_hex(struct fb_sha256 *s, char out[FB_SHA256_HEX]);

/* Of a buffer, or of a whole file (0, or -1 with "open PATH: ..." set). */
void fb_sha256_buffer(const void *data, size_t len, char out[FB_SHA256_HEX]);
int fb_sha256_file(const char *path, char out[FB_SHA256_HEX]);

#endif
