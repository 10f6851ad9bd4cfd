/* Error reporting: a per-thread message describing the last failure.
 *
 * Functions that can fail return -1 (or NULL) and record why with
 * fb_error()/fb_error_errno(); callers add context with fb_error_prefix()
 * and print fb_error_last(). Messages read like
 * "restore vCPU 0: KVM_SET_SREGS: Invalid argument". */
#ifndef FORKBOX_UTIL_ERROR_H
#define FORKBOX_UTIL_ERROR_H

#include <stdarg.h>

#define FB_ERROR_MAX 512

/* Record a formatted message; always returns -1. */
int fb_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Record "<formatted>: strerror(errno)"; always returns -1. errno is kept. */
int fb_error_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prepend "<formatted>: " to the current message; always returns -1. */
int fb_error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The last recorded message of this thread ("" if none). */
const char *fb_error_last(void);
void fb_error_clear(void);

#endif
