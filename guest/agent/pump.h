/* Relaying a running job to the host: output pipes -> STDOUT/STDERR frames
 * as it is produced, the time limit, reaping, then the EXIT frame.
 *
 * Deadlock-free by construction: one poll() loop over the two pipes, the
 * host socket and SIGCHLD; all socket I/O is non-blocking; a pipe is read
 * only while the queue to the host has room, so a slow host slows the code
 * down (its pipe fills) instead of growing memory. */
#ifndef FORKBOX_AGENT_PUMP_H
#define FORKBOX_AGENT_PUMP_H

#include "worker.h"

#include <stdbool.h>
#include <stdint.h>

struct pump_job {
	uint32_t time_limit_ms;
	int64_t start_ns; /* CLOCK_MONOTONIC when the job was handed over */
	bool kill_all;	  /* PID 1: at the limit kill every process of the guest */
};

/* Run until the worker is reaped and its output is delivered, then send
 * EXIT. Returns -1 with fb_error_last() set when the host went away or the
 * socket failed (the worker is killed then). */
int pump_run(int conn, struct agent_worker *w, const struct pump_job *job);

#endif
