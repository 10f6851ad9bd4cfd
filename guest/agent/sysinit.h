/* PID 1 system setup of the guest: filesystems, console, environment,
 * hostname, loopback. The guest rootfs has no mount binary, so all of it is
 * done here with plain syscalls. */
#ifndef FORKBOX_AGENT_SYSINIT_H
#define FORKBOX_AGENT_SYSINIT_H

/* Mount /dev, /proc, /sys, /dev/pts, /dev/shm, /tmp, /run and open
 * /dev/console as fds 0, 1, 2. Returns -1 with fb_error_last() set. */
int sysinit_filesystems(void);
/* Environment of the worker (PATH, HOME, LANG, Python flags); every mode. */
int sysinit_environment(void);
/* Hostname "forkbox" and loopback up. Returns -1 with fb_error_last() set. */
int sysinit_network(void);

#endif
