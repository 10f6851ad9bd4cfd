/* Monotonic time for measuring durations and deadlines (CLOCK_MONOTONIC). */
#ifndef FORKBOX_UTIL_CLOCK_H
#define FORKBOX_UTIL_CLOCK_H

#include <limits.h>
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

/* A poll() timeout for left_ns nanoseconds: rounded up to whole ms, 0 when
 * nothing is left, and at most INT_MAX (a plain cast of a larger value
 * turns negative, which poll() takes as "wait for ever"); a caller waiting
 * longer simply polls again. */
static inline int fb_clock_poll_ms(int64_t left_ns)
{
	if (left_ns <= 0)
		return 0;
	int64_t ms = left_ns / 1000000 + (left_ns % 1000000 != 0);
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

#endif
