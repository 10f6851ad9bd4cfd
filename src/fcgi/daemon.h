/* Daemon mode and pid file of the master process. */
#ifndef FORKBOX_FCGI_DAEMON_H
#define FORKBOX_FCGI_DAEMON_H

#include <stdbool.h>

/* Detach from the terminal (fork, setsid, fork; stdin/stdout to /dev/null,
 * stderr too unless keep_stderr). Returns 0 in the daemon; the parents exit. */
int fb_daemonize(bool keep_stderr);

/* Write our pid to path (no-op for ""). Refuses when another live process
 * holds the file. 0 or -1. */
int fb_pidfile_write(const char *path);
void fb_pidfile_remove(const char *path);

#endif
