/* Writing a "newc" cpio archive in memory (the format of a Linux initramfs,
 * Documentation/driver-api/early-userspace/buffer-format.rst): a header of
 * 13 ASCII hex fields per entry, the name, the data, each padded to 4
 * bytes, and a closing "TRAILER!!!" entry. Enough for the few small files
 * forkbox adds to a guest's initramfs. */
#ifndef FORKBOX_UTIL_CPIO_H
#define FORKBOX_UTIL_CPIO_H

#include <stddef.h>
#include <stdint.h>

struct fb_cpio {
	uint8_t *data;
	size_t len, cap;
	unsigned next_ino;
};

void fb_cpio_init(struct fb_cpio *c);
/* A directory or a regular file owned by root; name relative ("etc/x").
 * 0, or -1 with fb_error_last() set (out of memory, name too long). */
int fb_cpio_add_dir(struct fb_cpio *c, const char *name, unsigned mode);
int fb_cpio_add_file(struct fb_cpio *c, const char *name, unsigned mode, const void *data,
		     size_t len);
/* Appends the trailer; the archive is then c->data[0 .. c->len). */
int fb_cpio_finish(struct fb_cpio *c);
void fb_cpio_free(struct fb_cpio *c);

#endif
