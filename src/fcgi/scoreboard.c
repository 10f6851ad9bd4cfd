/* Worker status table in shared memory. */
#include "fcgi/scoreboard.h"

#include "fcgi/shm.h"

#include <time.h>

static size_t scoreboard_size(unsigned n)
{
	return sizeof(struct fb_scoreboard) + (size_t)n * sizeof(struct fb_slot);
}

struct fb_scoreboard *fb_scoreboard_create(unsigned n)
{
	struct fb_scoreboard *sb = fb_shm_alloc(scoreboard_size(n), "worker scoreboard");

	if (sb)
		sb->n = n;
	return sb;
}

void fb_scoreboard_destroy(struct fb_scoreboard *sb)
{
	if (sb)
		fb_shm_free(sb, scoreboard_size(sb->n));
}

int fb_scoreboard_claim(struct fb_scoreboard *sb, pid_t placeholder, unsigned generation)
{
	for (unsigned i = 0; i < sb->n; i++) {
		struct fb_slot *s = &sb->slot[i];
		if (atomic_load(&s->state) != FB_SLOT_FREE)
			continue;
		atomic_store(&s->pid, placeholder);
		atomic_store(&s->generation, generation);
		atomic_store(&s->vms, 0);
		atomic_store(&s->requests, 0);
		atomic_store(&s->busy_since_ms, 0);
		atomic_store(&s->pool_ready, 0);
		atomic_store(&s->state, FB_SLOT_STARTING);
		return (int)i;
	}
	return -1;
}

void fb_scoreboard_release(struct fb_scoreboard *sb, int index)
{
	atomic_store(&sb->slot[index].pid, 0);
	atomic_store(&sb->slot[index].state, FB_SLOT_FREE);
}

int fb_scoreboard_find(struct fb_scoreboard *sb, pid_t pid)
{
	for (unsigned i = 0; i < sb->n; i++)
		if (atomic_load(&sb->slot[i].state) != FB_SLOT_FREE &&
		    atomic_load(&sb->slot[i].pid) == pid)
			return (int)i;
	return -1;
}

void fb_scoreboard_count(struct fb_scoreboard *sb, struct fb_worker_counts *c)
{
	*c = (struct fb_worker_counts){0};
	for (unsigned i = 0; i < sb->n; i++) {
		struct fb_slot *s = &sb->slot[i];
		int state = atomic_load(&s->state);
		if (state == FB_SLOT_FREE)
			continue;
		c->total++;
		c->idle += state == FB_SLOT_IDLE;
		c->busy += state == FB_SLOT_BUSY;
		c->starting += state == FB_SLOT_STARTING;
		int vms = atomic_load(&s->vms);
		c->vms += vms > 0 ? (unsigned long)vms : 0;
		c->pool_ready += atomic_load(&s->pool_ready);
	}
}

int64_t fb_monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
