/* The unprivileged identity the user code runs under. The agent stays PID 1
 * as root; the Python worker is started as the rootfs's `sandbox` user
 * (guest/rootfs/build.sh adds it) with no capabilities, no_new_privs and
 * resource limits, so code it runs cannot reach the hardware (/dev/mem,
 * /dev/port, I/O ports), load modules, signal or trace the agent, change
 * the clock or the RNG, or reboot the guest. */
#ifndef FORKBOX_AGENT_SANDBOX_H
#define FORKBOX_AGENT_SANDBOX_H

#include <sys/types.h>

#define SANDBOX_USER   "sandbox"
#define SANDBOX_PASSWD "/etc/passwd"
/* Processes and threads of the user code at once: a fork bomb stops here
 * instead of filling the guest's process table. The default of the
 * recipe's limits.max_processes. */
#define SANDBOX_MAX_PROCS 512

struct sandbox_user {
	uid_t uid;
	gid_t gid;
	char name[32];
	char home[128];
};

/* Find `name` in the passwd file (parsed here: the static agent has no NSS).
 * Returns -1 with fb_error_last() set if it is missing or root. */
int sandbox_lookup(const char *passwd, const char *name, struct sandbox_user *u);

/* In a child about to exec the worker: limits (max_procs processes), then
 * drop to `u` for good (groups, gid, uid, capability bounding set,
 * no_new_privs) and set HOME, USER and LOGNAME. Returns -1 with
 * fb_error_last() set; the caller must not exec then. */
int sandbox_enter(const struct sandbox_user *u, unsigned max_procs);

#endif
