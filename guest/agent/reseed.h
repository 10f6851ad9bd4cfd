/* Per-fork freshness of the guest: every VM forked from the snapshot starts
 * with the snapshot's kernel RNG state and clock, so the host's request
 * carries fresh entropy and the wall-clock time, applied here. */
#ifndef FORKBOX_AGENT_RESEED_H
#define FORKBOX_AGENT_RESEED_H

#include <stddef.h>
#include <stdint.h>

/* Mix `entropy` into the kernel pool (RNDADDENTROPY, credited) and force a
 * reseed of the CRNG (RNDRESEEDCRNG; if the kernel lacks it, a warning is
 * printed and the credited entropy alone has to do). Returns -1 with
 * fb_error_last() set when the entropy could not be added. */
int reseed_kernel_rng(const uint8_t *entropy, size_t len);
/* clock_settime(CLOCK_REALTIME). Returns -1 with fb_error_last() set. */
int set_wall_clock(int64_t sec, uint32_t nsec);

#endif
