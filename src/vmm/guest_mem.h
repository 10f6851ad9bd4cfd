/* Guest physical memory as the VMM sees it: one contiguous host mapping.
 *
 * Every guest-provided address goes through fb_guest_mem_ptr() before the
 * VMM touches it, so a hostile guest can never make the VMM read or write
 * outside its own memory. */
#ifndef FORKBOX_VMM_GUEST_MEM_H
#define FORKBOX_VMM_GUEST_MEM_H

#include <stdint.h>

/* Guest-physical 0..size maps to host..host+size. */
struct fb_guest_mem {
	uint8_t *host;
	uint64_t size;
};

/* Pointer to [gpa, gpa+len), or NULL if any byte lies outside guest memory
 * (overflow-safe). len 0 is valid for any gpa <= size. */
void *fb_guest_mem_ptr(const struct fb_guest_mem *m, uint64_t gpa, uint64_t len);

#endif
