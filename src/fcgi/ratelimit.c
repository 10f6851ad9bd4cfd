/* Token buckets in shared memory, one per API key. */
#include "fcgi/ratelimit.h"

#include "fcgi/shm.h"
#include "util/error.h"

#include <errno.h>
#include <string.h>
#include <time.h>

bool fb_bucket_take(struct fb_bucket *b, double now_s, double rate, double burst)
{
	if (b->last_s == 0) {
		b->tokens = burst;
	} else if (now_s > b->last_s) {
		b->tokens += (now_s - b->last_s) * rate;
		if (b->tokens > burst)
			b->tokens = burst;
	}
	if (now_s > b->last_s || b->last_s == 0)
		b->last_s = now_s;
	if (b->tokens < 1)
		return false;
	b->tokens -= 1;
	return true;
}

static size_t table_size(size_t n)
{
	return sizeof(struct fb_ratelimit) + n * sizeof(struct fb_bucket);
}

static int init_lock(pthread_mutex_t *lock)
{
	pthread_mutexattr_t attr;
	int err = pthread_mutexattr_init(&attr);

	if (!err)
		err = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	if (!err)
		err = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	if (!err)
		err = pthread_mutex_init(lock, &attr);
	pthread_mutexattr_destroy(&attr);
	if (err) {
		errno = err;
		return fb_error_errno("rate limit table lock");
	}
	return 0;
}

struct fb_ratelimit *fb_ratelimit_create(size_t n_keys, double rate)
{
	struct fb_ratelimit *rl = fb_shm_alloc(table_size(n_keys), "rate limits");

	if (!rl)
		return NULL;
	if (init_lock(&rl->lock)) {
		fb_shm_free(rl, table_size(n_keys));
		return NULL;
	}
	rl->rate = rate;
	rl->n = n_keys;
	return rl;
}

void fb_ratelimit_destroy(struct fb_ratelimit *rl)
{
	/* Unmap only: older workers may still hold their own mapping. */
	if (rl)
		fb_shm_free(rl, table_size(rl->n));
}

bool fb_ratelimit_allow(struct fb_ratelimit *rl, size_t key_index, double now_s)
{
	if (!rl || rl->rate <= 0 || key_index >= rl->n)
		return true;
	int err = pthread_mutex_lock(&rl->lock);
	if (err == EOWNERDEAD)
		pthread_mutex_consistent(&rl->lock); /* buckets are still sane */
	else if (err)
		return true; /* never refuse service because of a lock failure */
	bool ok = fb_bucket_take(&rl->bucket[key_index], now_s, rl->rate, rl->rate);
	pthread_mutex_unlock(&rl->lock);
	return ok;
}

double fb_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}
