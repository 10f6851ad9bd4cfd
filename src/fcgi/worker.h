/* A worker process: accepts FastCGI connections on the shared listening
 * socket and serves one request at a time. */
#ifndef FORKBOX_FCGI_WORKER_H
#define FORKBOX_FCGI_WORKER_H

#include "fcgi/metrics.h"
#include "fcgi/runtime.h"
#include "fcgi/scoreboard.h"

struct fb_worker {
	struct fb_runtime *rt;
	struct fb_metrics *metrics;
	struct fb_scoreboard *sb;
	int slot;
	int listen_fd;
};

/* Serve until told to stop (SIGTERM/SIGHUP/SIGQUIT/SIGINT, finishing the
 * request in flight), until pool.max_requests, or until accept fails.
 * Returns the process exit status: 0 for a planned exit. */
int fb_worker_main(struct fb_worker *w);

#endif
