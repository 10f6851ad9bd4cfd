/* The seccomp filter of a process that runs forked VMs (a forkbox-fcgi
 * worker): an allowlist of the system calls and KVM ioctls the engine, the
 * FastCGI library and glibc use once the template is mapped. Everything
 * else stops the process with a logged reason. The table is in seccomp.c;
 * docs/SECURITY.md says how to verify it on a running system. */
#ifndef FORKBOX_VMM_SECCOMP_H
#define FORKBOX_VMM_SECCOMP_H

#include <signal.h>

enum fb_seccomp_mode {
	FB_SECCOMP_OFF,	    /* no filter (debugging only) */
	FB_SECCOMP_LOG,	    /* allow everything, but the kernel audit-logs what the
			     * filter would have refused (to find a missing entry) */
	FB_SECCOMP_ENFORCE, /* a forbidden call stops the process */
};

/* Exit status of a process stopped by its filter, as a shell would report
 * death by SIGSYS. */
#define FB_SECCOMP_EXIT_STATUS (128 + SIGSYS)

struct fb_seccomp_options {
	enum fb_seccomp_mode mode;
	/* A forbidden call writes one line naming it here before the process
	 * exits with FB_SECCOMP_EXIT_STATUS; -1 for none. */
	int report_fd;
};

/* Install the filter on every thread of the calling process (and, through
 * inheritance, on the threads it creates later); sets no_new_privs. Call it
 * after everything that needs other system calls (opening files, mapping
 * the template). Returns 0, or -1 with fb_error_last() set. */
int fb_seccomp_install(const struct fb_seccomp_options *opts);

/* "off", "log", "enforce" (for messages). */
const char *fb_seccomp_mode_name(enum fb_seccomp_mode mode);

#endif
