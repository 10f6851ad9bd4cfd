/* Anonymous shared memory, created by the master before fork() so that every
 * worker sees the same pages. */
#ifndef FORKBOX_FCGI_SHM_H
#define FORKBOX_FCGI_SHM_H

#include <stddef.h>

/* Zeroed MAP_SHARED|MAP_ANONYMOUS memory, or NULL with fb_error_last(). */
void *fb_shm_alloc(size_t size, const char *what);
void fb_shm_free(void *mem, size_t size);

#endif
