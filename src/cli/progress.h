/* Progress lines of a long command step (a template build), each with the
 * time since the step began, repeated while the step is silent:
 *
 *   template: [   2s] booting kernel guest/out/vmlinux (512 MiB RAM)
 *   template: [  12s] booting kernel guest/out/vmlinux (512 MiB RAM) (still)
 *
 * so neither a terminal nor the journal sees a long silence. */
#ifndef FORKBOX_CLI_PROGRESS_H
#define FORKBOX_CLI_PROGRESS_H

#include <stdio.h>

struct fb_progress;

/* A line-buffered stream: each line written to it goes to `to` as above; the
 * last one is repeated every repeat_s seconds without a new one. NULL (errno
 * set) on failure. */
struct fb_progress *fb_progress_start(const char *prefix, FILE *to, unsigned repeat_s);
FILE *fb_progress_stream(struct fb_progress *p);
/* Flush, stop repeating, close the stream and free. */
void fb_progress_stop(struct fb_progress *p);

#endif
