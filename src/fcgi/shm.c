#include "fcgi/shm.h"

#include "util/error.h"

#include <sys/mman.h>

void *fb_shm_alloc(size_t size, const char *what)
{
	void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (mem == MAP_FAILED) {
		fb_error_errno("mmap %zu bytes of shared memory for %s", size, what);
		return NULL;
	}
	return mem;
}

void fb_shm_free(void *mem, size_t size)
{
	if (mem)
		munmap(mem, size);
}
