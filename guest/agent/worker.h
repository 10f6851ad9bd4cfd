/* The worker: the runtime's process (worker.py for Python, worker.js for
 * Node), spawned once at boot. It runs the recipe's prelude (imports,
 * warm-up), says "ready\n" and waits for one job.
 *
 * Worker fds: 3 = job pipe (agent -> worker), 4 = status pipe
 * (worker -> agent), 5 and 6 = write ends of the pipes that become the user
 * code's stdout and stderr. The Python worker dup2()s them onto 1 and 2
 * when a job starts, so until then its fds 0-2 are the agent's (the
 * console) and import errors are visible. Node has no dup2(): its worker
 * starts with /dev/null on 0 and the pipes on 1 and 2; what it writes
 * before the job (a failing prelude) is copied to the console
 * (worker_drain_output()). Either way subprocess and C-level output is
 * captured too. */
#ifndef FORKBOX_AGENT_WORKER_H
#define FORKBOX_AGENT_WORKER_H

#include <stddef.h>
#include <sys/types.h>

#include "recipe.h"

#define WORKER_PYTHON	     "/usr/bin/python3"
#define WORKER_PYTHON_SCRIPT "/usr/lib/forkbox/worker.py"
#define WORKER_NODE	     "/usr/bin/node"
#define WORKER_NODE_SCRIPT   "/usr/lib/forkbox/worker.js"
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
	enum agent_runtime runtime;
	const char *interpreter; /* python3 or node */
	const char *script;
	/* Run the worker as this user (see sandbox.h); NULL: as the agent. */
	const struct sandbox_user *user;
	unsigned max_processes; /* with user: RLIMIT_NPROC */
};

/* Start `python3 -s script` or `node script`. Returns -1 with
 * fb_error_last() set. */
int worker_spawn(struct agent_worker *w, const struct worker_spec *spec);
/* Wait up to timeout_ms for "ready\n" on the status pipe. */
int worker_wait_ready(struct agent_worker *w, int timeout_ms);
/* Hand the worker its job (blocking: the worker reads all of it before it
 * runs anything, so this cannot deadlock against its output). */
int worker_send_job(struct agent_worker *w, const void *seed, size_t seed_len, const void *code,
		    size_t code_len);
/* Copy what the worker wrote on the output pipes so far to the agent's
 * stderr (the console), prefixed: its boot output never reaches a job. */
void worker_drain_output(struct agent_worker *w);
/* Close the agent's fds of the worker (does not kill or reap it). */
void worker_close(struct agent_worker *w);

#endif
