/* The pre-imported Python worker (worker.py): spawned once at boot, it
 * imports numpy and friends, says "ready\n" and waits for one job.
 *
 * Worker fds: 3 = job pipe (agent -> worker), 4 = status pipe
 * (worker -> agent), 5 and 6 = write ends of the pipes that become the user
 * code's stdout and stderr (the worker dup2()s them onto 1 and 2 when a job
 * starts, so subprocess and C-level output is captured too). Until then its
 * fds 0-2 are the agent's (the console), so import errors are visible. */
#ifndef FORKBOX_AGENT_WORKER_H
#define FORKBOX_AGENT_WORKER_H

#include <stddef.h>
#include <sys/types.h>

#define WORKER_PYTHON "/usr/bin/python3"
#define WORKER_SCRIPT "/usr/lib/forkbox/worker.py"
/* First bytes of a job on fd 3, then u32 LE seed length, u32 LE code length,
 * the seed, the code. Must match worker.py. */
#define WORKER_JOB_MAGIC "FBW1"
#define WORKER_SEED_LEN	 64

struct agent_worker {
	pid_t pid;     /* process group leader of the user code */
	int job_fd;    /* agent's end of fd 3 */
	int status_fd; /* agent's end of fd 4 */
	int stdout_fd; /* read end of the user code's stdout (non-blocking) */
	int stderr_fd; /* read end of the user code's stderr (non-blocking) */
};

struct sandbox_user;

struct worker_spec {
	const char *python;
	const char *script;
	/* Run the worker as this user (see sandbox.h); NULL: as the agent. */
	const struct sandbox_user *user;
};

/* Start `python -s script`. Returns -1 with fb_error_last() set. */
int worker_spawn(struct agent_worker *w, const struct worker_spec *spec);
/* Wait up to timeout_ms for "ready\n" on the status pipe. */
int worker_wait_ready(struct agent_worker *w, int timeout_ms);
/* Hand the worker its job (blocking: the worker reads all of it before it
 * runs anything, so this cannot deadlock against its output). */
int worker_send_job(struct agent_worker *w, const void *seed, size_t seed_len, const void *code,
		    size_t code_len);
/* Close the agent's fds of the worker (does not kill or reap it). */
void worker_close(struct agent_worker *w);

#endif
