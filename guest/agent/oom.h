/* Naming an out-of-memory kill. When the code uses up the guest's memory
 * the kernel's OOM killer SIGKILLs it, which alone looks like any other
 * `kill -9`. The agent follows the kernel log (/dev/kmsg) from the moment a
 * job starts and, if the OOM killer struck, tells the user on stderr which
 * process it killed and how much memory the guest has. */
#ifndef FORKBOX_AGENT_OOM_H
#define FORKBOX_AGENT_OOM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Open /dev/kmsg (guest only). Returns -1 with fb_error_last() set; the
 * other calls then do nothing. */
int oom_watch_open(void);
/* Skip everything logged so far: only kills after this count. */
void oom_watch_begin(void);
/* Writes a line for the user's stderr into buf (NUL-terminated) if the
 * OOM killer killed a process since oom_watch_begin(); returns its length,
 * 0 if it did not. `worker_killed`: the worker died of SIGKILL that the
 * agent did not send, so wait briefly for the kernel's record of it (the
 * kernel sends the signal just before it logs the kill). */
size_t oom_watch_note(pid_t worker, bool worker_killed, char *buf, size_t cap);

#endif
