/* Containment of forkbox-fcgi's processes (docs/SECURITY.md): the
 * unprivileged user with no capabilities, resource limits, no core dumps,
 * and each worker's seccomp filter (its table is src/vmm/seccomp.c). */
#ifndef FORKBOX_FCGI_HARDEN_H
#define FORKBOX_FCGI_HARDEN_H

#include "util/config.h"

/* When running as root: daemon.user and daemon.group exist. For -t and
 * before anything starts. 0 or -1 with the way out in fb_error_last(). */
int fb_harden_check_user(const struct fb_daemon_config *d);

/* The master, or a single worker started by spawn-fcgi / mod_fcgid / as a
 * CGI program, once its sockets are bound: resource limits (open files,
 * no core dumps, not dumpable), then -- when root -- switch to daemon.user
 * and daemon.group, keeping no capability. 0 or -1. */
int fb_harden_process(const struct fb_config *cfg);

/* A worker, after the template is mapped and before its first request:
 * finish what would otherwise open files lazily, then install the seccomp
 * filter (daemon.seccomp). Violations are reported on the error log. */
int fb_harden_worker(const struct fb_config *cfg);

/* RLIMIT_NOFILE a process gets: daemon.rlimit_files, or when 0, room for
 * pool.max_parallel_vms VMs (each holds a handful of descriptors). */
unsigned long fb_harden_nofile(const struct fb_config *cfg);

#endif
