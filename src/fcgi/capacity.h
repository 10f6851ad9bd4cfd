/* VM capacity of the whole pool: a process-shared counting semaphore in
 * shared memory. A request that gets no slot within pool.queue_timeout_ms
 * is answered 503. */
#ifndef FORKBOX_FCGI_CAPACITY_H
#define FORKBOX_FCGI_CAPACITY_H

#include <semaphore.h>
#include <stdbool.h>

struct fb_capacity {
	sem_t free_slots;
	unsigned size;
};

struct fb_capacity *fb_capacity_create(unsigned slots);
void fb_capacity_destroy(struct fb_capacity *cap);

/* Wait up to timeout_ms for a slot. Returns true when one was taken. */
bool fb_capacity_acquire(struct fb_capacity *cap, unsigned timeout_ms);
/* Take a slot only if one is free now. */
bool fb_capacity_try(struct fb_capacity *cap);
void fb_capacity_release(struct fb_capacity *cap, unsigned n);

#endif
