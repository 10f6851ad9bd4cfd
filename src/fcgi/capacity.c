/* Pool-wide VM slots. */
#include "fcgi/capacity.h"

#include "fcgi/shm.h"
#include "util/error.h"

#include <errno.h>
#include <time.h>

struct fb_capacity *fb_capacity_create(unsigned slots)
{
	struct fb_capacity *cap = fb_shm_alloc(sizeof(*cap), "VM capacity");

	if (!cap)
		return NULL;
	if (sem_init(&cap->free_slots, 1, slots)) {
		fb_error_errno("sem_init(%u VM slots)", slots);
		fb_shm_free(cap, sizeof(*cap));
		return NULL;
	}
	cap->size = slots;
	return cap;
}

void fb_capacity_destroy(struct fb_capacity *cap)
{
	/* Unmap only: workers of an older generation may still use the
	 * semaphore through their own mapping. */
	fb_shm_free(cap, sizeof(*cap));
}

bool fb_capacity_acquire(struct fb_capacity *cap, unsigned timeout_ms)
{
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	while (sem_timedwait(&cap->free_slots, &deadline)) {
		if (errno != EINTR)
			return false;
	}
	return true;
}

bool fb_capacity_try(struct fb_capacity *cap)
{
	while (sem_trywait(&cap->free_slots)) {
		if (errno != EINTR)
			return false;
	}
	return true;
}

void fb_capacity_release(struct fb_capacity *cap, unsigned n)
{
	while (n--)
		sem_post(&cap->free_slots);
}
