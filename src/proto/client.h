/* Host side of the agent protocol: run one request over a connected stream
 * socket to the guest agent (the vsock device hands the host an AF_UNIX
 * stream socket bridged to guest port 1024) and stream the output back. */
#ifndef FORKBOX_PROTO_CLIENT_H
#define FORKBOX_PROTO_CLIENT_H

#include "proto/frame.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fb_agent_request {
	const char *code;	/* need not be NUL-terminated */
	size_t code_len;	/* at most FB_PROTO_MAX_CODE */
	const char *language;	/* NULL means "python" */
	uint32_t time_limit_ms; /* the agent kills the code at this limit (1 ms .. 24 h) */
	/* Host deadline for the whole exchange, from the call; should exceed
	 * time_limit_ms by a margin so the agent's own EXIT normally wins.
	 * 0 means time_limit_ms + 2000. */
	uint32_t host_timeout_ms;
	/* Bytes of stdout+stderr passed to on_output; the rest is dropped (and
	 * `truncated` set) while the stream is drained to EXIT. 0 = no limit. */
	size_t output_limit;
};

struct fb_agent_handlers {
	/* Called as output arrives, stream 1 = stdout, 2 = stderr (may be NULL).
	 * A non-zero return aborts the run (fb_agent_run returns -1). */
	int (*on_output)(void *ctx, int stream, const void *data, size_t len);
	/* Asked about every FB_AGENT_CANCEL_CHECK_MS while the run lasts (may be
	 * NULL): true abandons it (the client went away) and fb_agent_run
	 * returns -1; the caller then destroys the VM. */
	bool (*cancelled)(void *ctx);
	void *ctx;
};

#define FB_AGENT_CANCEL_CHECK_MS 100

struct fb_agent_outcome {
	int exit_code;		    /* 0..255; 128+N after death by signal N */
	int term_signal;	    /* 0 or N */
	bool timed_out;		    /* killed at the time limit (by the agent, or host_deadline) */
	bool host_deadline;	    /* no EXIT by host_timeout_ms: the caller must destroy
				     * the VM; exit_code = 137, term_signal = 9 are set */
	bool truncated;		    /* output beyond output_limit was dropped */
	uint64_t guest_run_time_ns; /* as measured by the agent (0 on host_deadline) */
	size_t stdout_bytes;	    /* bytes received, including dropped ones */
	size_t stderr_bytes;
	char agent_error[FB_PROTO_MAX_ERROR + 1]; /* ERROR text from the agent, or "" */
};

/* Fill the request's entropy (getrandom) and wall-clock time, send it, read
 * frames until EXIT. Returns 0 when the run finished: an EXIT arrived, or
 * the host deadline passed (out->host_deadline). Returns -1 with
 * fb_error_last() set when it did not: the agent answered ERROR (its text
 * also in out->agent_error), closed the connection before EXIT (guest
 * died), broke the protocol, the socket failed, or on_output aborted.
 * `fd` must be a connected stream socket; its flags are left unchanged. */
int fb_agent_run(int fd, const struct fb_agent_request *req, const struct fb_agent_handlers *h,
		 struct fb_agent_outcome *out);

#endif
