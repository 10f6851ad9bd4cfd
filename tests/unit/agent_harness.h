/* Test harness for the guest agent on the host, no VM: the host client
 * (fb_agent_run) talks over a socketpair to `forkbox-agent --serve-fd`,
 * which runs the real worker.py under /usr/bin/python3 (with numpy), or
 * worker.js under /usr/bin/node with Node's reseed addon, each with a
 * recipe directory like the guest's /etc/forkbox (the python one imports
 * and binds numpy and np). Used by test_agent_session and
 * test_worker_exit. */
#ifndef FORKBOX_TESTS_AGENT_HARNESS_H
#define FORKBOX_TESTS_AGENT_HARNESS_H

#include "proto/client.h"

#include <stddef.h>
#include <stdint.h>

struct capture {
	char *data[3]; /* [1] stdout, [2] stderr */
	size_t len[3];
	size_t cap[3];
};

struct run {
	struct capture cap;
	struct fb_agent_outcome out;
	int ret;	  /* fb_agent_run */
	int agent_status; /* wait status of forkbox-agent */
	double seconds;
};

/* The runtime of the next sessions: "python" (the default) or "node". */
extern const char *agent_runtime;

/* Output callback for fb_agent_run (ctx: struct capture); keeps each
 * stream NUL-terminated. */
int agent_on_output(void *ctx, int stream, const void *data, size_t len);

/* One session with a fresh agent + worker; waits for the agent to exit. */
void run_full(struct run *r, const char *code, size_t code_len, const char *language,
	      uint32_t limit_ms, size_t output_limit);
/* run_full with python, a 10 s limit and no output limit. */
void run_code(struct run *r, const char *code);
void run_free(struct run *r);
/* The session ran and the code exited with code (or died by signal sig). */
void assert_exit(const struct run *r, int code, int sig);

#endif
