/* Spawn/stop arithmetic of the process manager. */
#include "fcgi/pool.h"

unsigned fb_pool_initial(const struct fb_pool_config *pool)
{
	unsigned n = pool->pm == FB_PM_STATIC ? pool->max_children : pool->start_servers;

	return n > pool->max_children ? pool->max_children : n;
}

int fb_pool_plan(const struct fb_pool_config *pool, const struct fb_worker_counts *cur)
{
	unsigned room = cur->total < pool->max_children ? pool->max_children - cur->total : 0;
	unsigned idle = cur->idle + cur->starting;

	if (pool->pm == FB_PM_STATIC)
		return (int)room;
	if (idle < pool->min_spare_servers) {
		unsigned want = pool->min_spare_servers - idle;
		return (int)(want < room ? want : room);
	}
	if (cur->idle > pool->max_spare_servers)
		return -(int)(cur->idle - pool->max_spare_servers);
	return 0;
}

unsigned fb_pool_backoff_ms(unsigned previous_ms, unsigned ms_since_last_crash)
{
	if (ms_since_last_crash > 30000 || previous_ms == 0)
		return ms_since_last_crash > 30000 ? 0 : 100;
	return previous_ms >= 5000 ? 10000 : previous_ms * 2;
}

unsigned long fb_pool_request_limit_ms(const struct fb_config *cfg)
{
	unsigned parallel = cfg->pool.max_parallel_vms ? cfg->pool.max_parallel_vms : 1;
	unsigned long rounds = (cfg->limits.max_batch + parallel - 1) / parallel;

	return rounds * cfg->limits.max_timeout_s * 1000UL + cfg->pool.queue_timeout_ms + 30000UL;
}
