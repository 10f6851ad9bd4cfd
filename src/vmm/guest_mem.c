#include "vmm/guest_mem.h"

#include <stddef.h>

void *fb_guest_mem_ptr(const struct fb_guest_mem *m, uint64_t gpa, uint64_t len)
{
	/* Written so that no sum can wrap: gpa <= size, then len <= size - gpa. */
	if (!m || !m->host || gpa > m->size || len > m->size - gpa)
		return NULL;
	return m->host + gpa;
}
