/* Per-key token buckets shared by every worker (auth.rate_limit_per_second).
 * Each bucket holds up to `rate` tokens (one second of burst) and refills at
 * `rate` per second; a request takes one token or gets 429. */
#ifndef FORKBOX_FCGI_RATELIMIT_H
#define FORKBOX_FCGI_RATELIMIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct fb_bucket {
	double tokens;
	double last_s; /* time of the last refill; 0 = never used */
};

/* The pure token-bucket step: refill for the time since last_s, then take
 * one token if there is one. */
bool fb_bucket_take(struct fb_bucket *b, double now_s, double rate, double burst);

struct fb_ratelimit {
	pthread_mutex_t lock; /* process-shared, robust: a worker may die holding it */
	double rate;
	size_t n;
	struct fb_bucket bucket[];
};

/* rate 0 = unlimited (returns a table that always allows). */
struct fb_ratelimit *fb_ratelimit_create(size_t n_keys, double rate);
void fb_ratelimit_destroy(struct fb_ratelimit *rl);
bool fb_ratelimit_allow(struct fb_ratelimit *rl, size_t key_index, double now_s);

/* CLOCK_MONOTONIC in seconds (the same in every process). */
double fb_now_s(void);

#endif
