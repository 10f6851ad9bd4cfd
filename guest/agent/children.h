/* Child processes of the agent: SIGCHLD turned into a readable fd (self-pipe)
 * and reaping. As PID 1 the agent inherits every orphan of the guest, so it
 * reaps all children, remembering the status of the one it watches (the
 * Python worker). */
#ifndef FORKBOX_AGENT_CHILDREN_H
#define FORKBOX_AGENT_CHILDREN_H

#include <stdbool.h>
#include <sys/types.h>

/* Install the SIGCHLD handler. Returns -1 with fb_error_last() set. */
int children_init(void);
/* Readable (POLLIN) whenever a child may have changed state. */
int children_fd(void);
/* Reap every exited child. Returns true once `watched` has been reaped,
 * with its wait status in *status (and keeps returning true). */
bool children_reap(pid_t watched, int *status);

#endif
