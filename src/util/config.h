/* forkbox configuration (conf/forkbox.conf, libconfig syntax).
 *
 * fb_config_defaults() fills every field with its documented default;
 * fb_config_load() overlays a file on top and validates it. Errors name the
 * file and line: "/etc/forkbox/forkbox.conf:12: pool.max_children: must be
 * between 1 and 4096". Every key is documented in conf/forkbox.conf and
 * docs/CONFIG.md. */
#ifndef FORKBOX_UTIL_CONFIG_H
#define FORKBOX_UTIL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FB_PATH_MAX 4096

enum fb_pm_mode { FB_PM_STATIC, FB_PM_DYNAMIC };

struct fb_template_config {
	char path[FB_PATH_MAX];      /* template.path: template file */
	char kernel[FB_PATH_MAX];    /* template.kernel: guest vmlinux (for builds) */
	char initramfs[FB_PATH_MAX]; /* template.initramfs: guest initramfs (for builds) */
	unsigned memory_mb;          /* template.memory_mb: guest RAM */
	char cmdline_extra[1024];    /* template.cmdline_extra: appended to the kernel cmdline */
	bool lock_memory;            /* template.lock_memory: mlock the template's memory */
	bool huge_pages;             /* template.huge_pages: transparent huge pages for it */
	bool prefetch;               /* template.prefetch: map the working set before each run */
};

struct fb_vm_pool_config {
	unsigned depth;   /* vm_pool.depth: ready VMs per worker; 0 = none */
	unsigned threads; /* vm_pool.threads: threads per worker building/destroying VMs */
};

struct fb_pool_config {
	char listen[FB_PATH_MAX];  /* pool.listen: "/path.sock", "host:port" or "port" */
	char listen_owner[64];     /* pool.listen_owner (unix socket) */
	char listen_group[64];     /* pool.listen_group (unix socket) */
	unsigned listen_mode;      /* pool.listen_mode: "0660" (octal string) */
	char **allowed_clients;    /* pool.listen_allowed_clients (TCP); NULL = all */
	size_t n_allowed_clients;
	int backlog;               /* pool.listen_backlog */
	enum fb_pm_mode pm;        /* pool.pm: "static" | "dynamic" */
	unsigned max_children;     /* pool.max_children */
	unsigned start_servers;    /* pool.start_servers (dynamic) */
	unsigned min_spare_servers; /* pool.min_spare_servers (dynamic) */
	unsigned max_spare_servers; /* pool.max_spare_servers (dynamic) */
	unsigned max_requests;     /* pool.max_requests: recycle a worker after N; 0 = never */
	unsigned max_parallel_vms; /* pool.max_parallel_vms: VMs one worker may run at once (batch) */
	unsigned queue_timeout_ms; /* pool.queue_timeout_ms: wait for capacity before 503 */
};

struct fb_limits_config {
	unsigned default_timeout_s; /* limits.default_timeout_seconds */
	unsigned max_timeout_s;     /* limits.max_timeout_seconds: cap on a request's timeout */
	size_t max_body_bytes;      /* limits.max_body_bytes: larger POST bodies get 413 */
	size_t max_output_bytes;    /* limits.max_output_bytes: stdout+stderr kept per execution */
	unsigned max_batch;         /* limits.max_batch: executions per batch request */
};

struct fb_auth_config {
	char keys_file[FB_PATH_MAX]; /* auth.keys_file: JSON array of keys; "" = auth off */
	unsigned rate_limit_per_s;   /* auth.rate_limit_per_second: per key; 0 = unlimited */
};

struct fb_log_config {
	char error_log[FB_PATH_MAX];  /* log.error_log: "" or "stderr" = stderr */
	char level[16];               /* log.level: error | warning | notice | info | debug */
	char serial_log[FB_PATH_MAX]; /* log.guest_console: guest console of forks; "" = dropped */
};

struct fb_daemon_config {
	char pid_file[FB_PATH_MAX]; /* daemon.pid_file; "" = none */
	bool daemonize;             /* daemon.daemonize */
	char user[64];              /* daemon.user: the unprivileged user to run as; "" = stay */
	char group[64];             /* daemon.group: "" = the user's own group */
	char seccomp[16];           /* daemon.seccomp: "enforce" | "log" | "off" (workers) */
	unsigned rlimit_files;      /* daemon.rlimit_files: open files per process; 0 = derived */
};

struct fb_config {
	char source[FB_PATH_MAX]; /* file it was loaded from, "" for defaults */
	struct fb_template_config template_;
	struct fb_pool_config pool;
	struct fb_vm_pool_config vm_pool;
	struct fb_limits_config limits;
	struct fb_auth_config auth;
	struct fb_log_config log;
	struct fb_daemon_config daemon;
};

void fb_config_defaults(struct fb_config *cfg);
/* Overlay the file at path onto cfg (call fb_config_defaults first).
 * Returns 0, or -1 with "FILE:LINE: reason" in fb_error_last(). */
int fb_config_load(struct fb_config *cfg, const char *path);
/* Parse from a string (tests); name is used in messages. */
int fb_config_load_string(struct fb_config *cfg, const char *text, const char *name);
void fb_config_free(struct fb_config *cfg);

#endif
