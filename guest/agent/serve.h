/* Serving the host: the vsock listener of the guest and one session per
 * connection (see src/proto/PROTOCOL.md). */
#ifndef FORKBOX_AGENT_SERVE_H
#define FORKBOX_AGENT_SERVE_H

#include "worker.h"

#include <stdbool.h>

/* The port the agent listens on (any CID); the host connects to guest CID 3. */
#define AGENT_VSOCK_PORT 1024

/* The runtime this guest serves ("python", "node"): the language a request
 * must name (the host sends the template's runtime). */
void serve_set_runtime(const char *runtime);

/* Guest mode: listen on vsock, print the readiness line, serve connections
 * forever (the first one runs the job; a VM is used once). Never returns. */
void __attribute__((noreturn)) serve_guest(struct agent_worker *w);

/* Serve one host connection on the connected stream socket `conn` (closed on
 * return). `system` allows changing the machine: reseeding the kernel RNG and
 * setting the clock (guest only, never in host tests). Returns 0 when the job
 * ran and its EXIT was sent, -1 with fb_error_last() set otherwise. */
int serve_connection(int conn, struct agent_worker *w, bool system);

#endif
