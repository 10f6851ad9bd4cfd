/* The master process: owns the listening socket, the template (engine) and
 * the shared tables, forks and supervises the workers, handles signals:
 *   SIGTERM graceful stop (requests in flight finish), SIGQUIT/SIGINT fast
 *   stop, SIGHUP graceful reload, SIGUSR1 reopen the log file. */
#ifndef FORKBOX_FCGI_MASTER_H
#define FORKBOX_FCGI_MASTER_H

#include "fcgi/runtime.h"

#include <stdbool.h>

struct fb_master_options {
	const char *config_path; /* re-read on SIGHUP */
	const char *pid_file;	 /* overrides daemon.pid_file when set */
	int daemonize;		 /* -1 = as configured, 0 = -F, 1 = -D */
	int listen_fd;		 /* inherited socket, -1 = open pool.listen */
};

/* Run the pool with rt (malloc'd, config loaded, nothing opened yet); takes
 * ownership of rt (a reload replaces it). Returns the process exit status. */
int fb_master_run(struct fb_runtime *rt, const struct fb_master_options *opts);

#endif
