/* Monotonic time for measuring durations and deadlines (CLOCK_MONOTONIC). */
#ifndef FORKBOX_UTIL_CLOCK_H
#define FORKBOX_UTIL_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t fb_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline double fb_clock_ms(void)
{
	return (double)fb_clock_ns() / 1e6;
}

#endif
