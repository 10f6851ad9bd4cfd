/* Per-worker status in shared memory: the master counts idle workers for
 * dynamic pm, finds overdue requests, and returns VM slots of crashed
 * workers; GET /v1/health and /v1/metrics read it from any worker. */
#ifndef FORKBOX_FCGI_SCOREBOARD_H
#define FORKBOX_FCGI_SCOREBOARD_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

enum fb_slot_state { FB_SLOT_FREE, FB_SLOT_STARTING, FB_SLOT_IDLE, FB_SLOT_BUSY };

struct fb_slot {
	atomic_int state;
	atomic_int pid;
	atomic_uint generation;		    /* config generation it was started with */
	atomic_int vms;			    /* VM capacity slots it holds now */
	atomic_uint_least64_t requests;	    /* requests served */
	atomic_int_least64_t busy_since_ms; /* CLOCK_MONOTONIC, while busy */
	atomic_uint pool_ready;		    /* VMs ready in its VM pool */
};

struct fb_scoreboard {
	unsigned n;
	struct fb_slot slot[];
};

struct fb_worker_counts {
	unsigned total, idle, busy, starting;
	unsigned long vms;
	unsigned long pool_ready;
};

struct fb_scoreboard *fb_scoreboard_create(unsigned n);
void fb_scoreboard_destroy(struct fb_scoreboard *sb);

/* A free slot index for a new worker, or -1 when all are taken. */
int fb_scoreboard_claim(struct fb_scoreboard *sb, pid_t placeholder, unsigned generation);
void fb_scoreboard_release(struct fb_scoreboard *sb, int index);
int fb_scoreboard_find(struct fb_scoreboard *sb, pid_t pid);

/* Counts over all live workers (old generations during a reload included). */
void fb_scoreboard_count(struct fb_scoreboard *sb, struct fb_worker_counts *c);

int64_t fb_monotonic_ms(void);

#endif
