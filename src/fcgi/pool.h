/* Process-manager decisions (php-fpm style), kept free of side effects so
 * they can be tested: how many workers to start or stop right now. */
#ifndef FORKBOX_FCGI_POOL_H
#define FORKBOX_FCGI_POOL_H

#include "fcgi/scoreboard.h"
#include "util/config.h"

/* Workers of the current generation: > 0 start that many, < 0 stop that
 * many idle ones, 0 nothing. Starting workers count as idle (they soon are). */
int fb_pool_plan(const struct fb_pool_config *pool, const struct fb_worker_counts *cur);

/* Workers to start when the pool (or a new generation) comes up. */
unsigned fb_pool_initial(const struct fb_pool_config *pool);

/* Delay before respawning after a crash: 0 after a calm period, then
 * doubling from 100 ms up to 10 s. */
unsigned fb_pool_backoff_ms(unsigned previous_ms, unsigned ms_since_last_crash);

/* Longest a single request may keep a worker busy before the master kills
 * it: enough for a whole batch at the largest timeout, plus margin. */
unsigned long fb_pool_request_limit_ms(const struct fb_config *cfg);

#endif
