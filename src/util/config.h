/* forkbox configuration (conf/forkbox.conf, libconfig syntax).
 *
 * fb_config_defaults() fills every field with its documented default;
 * fb_config_load() overlays a file on top and validates it. Errors name the
 * file and line: "/etc/forkbox/forkbox.conf:12: pool.max_children: must be
 * between 1 and 4096". Every key is documented in conf/forkbox.conf and
 * docs/CONFIG.md. */
#ifndef FORKBOX_UTIL_CONFIG_H
#define FORKBOX_UTIL_CONFIG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FB_PATH_MAX 4096

enum fb_pm_mode { FB_PM_STATIC, FB_PM_DYNAMIC };

/* Settings shared by every template (docs/TEMPLATES.md). */
struct fb_template_config {
	char store[FB_PATH_MAX];   /* template.store: directory of NAME.tmpl files */
	char kernel[FB_PATH_MAX];  /* template.kernel: guest vmlinux (for builds) */
	char images[FB_PATH_MAX];  /* template.images: rootfs-NAME.cpio.zst, overlay.cpio.zst */
	char recipes[FB_PATH_MAX]; /* template.recipes: where recipe names are looked up */
	char cmdline_extra[1024];  /* template.cmdline_extra: appended to the kernel cmdline */
	bool lock_memory;	   /* template.lock_memory: mlock the template's memory */
	bool huge_pages;	   /* template.huge_pages: transparent huge pages for it */
	bool prefetch;		   /* template.prefetch: map the working set before each run */
};

struct fb_vm_pool_config {
	unsigned depth;	  /* vm_pool.depth: ready VMs per worker; 0 = none */
	unsigned threads; /* vm_pool.threads: threads per worker building/destroying VMs */
};

#define FB_MAX_TEMPLATES	  16
#define FB_TEMPLATE_DECL_NAME_MAX 32

/* One entry of the templates group: templates = { NAME = { ... }; ... }. */
struct fb_template_decl {
	char name[FB_TEMPLATE_DECL_NAME_MAX]; /* [a-z0-9_-]; its file is STORE/NAME.tmpl */
	char recipe[FB_PATH_MAX];	      /* recipe: a name in template.recipes, or a path */
	char path[FB_PATH_MAX];		      /* path: its file; "" = STORE/NAME.tmpl */
	unsigned max_age_s;		      /* max_age_seconds: rebuild when older; 0 = never */
	uint64_t max_forks;		      /* max_forks: rebuild after this many; 0 = never */
};

struct fb_pool_config {
	char listen[FB_PATH_MAX]; /* pool.listen: "/path.sock", "host:port" or "port" */
	char listen_owner[64];	  /* pool.listen_owner (unix socket) */
	char listen_group[64];	  /* pool.listen_group (unix socket) */
	unsigned listen_mode;	  /* pool.listen_mode: "0660" (octal string) */
	char **allowed_clients;	  /* pool.listen_allowed_clients (TCP); NULL = all */
	size_t n_allowed_clients;
	int backlog;		    /* pool.listen_backlog */
	enum fb_pm_mode pm;	    /* pool.pm: "static" | "dynamic" */
	unsigned max_children;	    /* pool.max_children */
	unsigned start_servers;	    /* pool.start_servers (dynamic) */
	unsigned min_spare_servers; /* pool.min_spare_servers (dynamic) */
	unsigned max_spare_servers; /* pool.max_spare_servers (dynamic) */
	unsigned max_requests;	    /* pool.max_requests: recycle a worker after N; 0 = never */
	unsigned
	    max_parallel_vms; /* pool.max_parallel_vms: VMs one worker may run at once (batch) */
	unsigned queue_timeout_ms; /* pool.queue_timeout_ms: wait for capacity before 503 */
};

struct fb_limits_config {
	unsigned default_timeout_s; /* limits.default_timeout_seconds */
	unsigned max_timeout_s;	    /* limits.max_timeout_seconds: cap on a request's timeout */
	size_t max_body_bytes;	    /* limits.max_body_bytes: larger POST bodies get 413 */
	size_t max_output_bytes;    /* limits.max_output_bytes: stdout+stderr kept per execution */
	unsigned max_batch;	    /* limits.max_batch: executions per batch request */
};

struct fb_auth_config {
	char keys_file[FB_PATH_MAX]; /* auth.keys_file: JSON array of keys; "" = auth off */
	unsigned rate_limit_per_s;   /* auth.rate_limit_per_second: per key; 0 = unlimited */
};

struct fb_log_config {
	char error_log[FB_PATH_MAX];  /* log.error_log: "" or "stderr" = stderr */
	char level[16];		      /* log.level: error | warning | notice | info | debug */
	char serial_log[FB_PATH_MAX]; /* log.guest_console: guest console of forks; "" = dropped */
};

struct fb_daemon_config {
	char pid_file[FB_PATH_MAX]; /* daemon.pid_file; "" = none */
	bool daemonize;		    /* daemon.daemonize */
	char user[64];		    /* daemon.user: the unprivileged user to run as; "" = stay */
	char group[64];		    /* daemon.group: "" = the user's own group */
	char seccomp[16];	    /* daemon.seccomp: "enforce" | "log" | "off" (workers) */
	unsigned rlimit_files;	    /* daemon.rlimit_files: open files per process; 0 = derived */
};

struct fb_config {
	char source[FB_PATH_MAX]; /* file it was loaded from, "" for defaults */
	struct fb_template_config template_;
	struct fb_template_decl templates[FB_MAX_TEMPLATES]; /* the templates group */
	size_t n_templates;
	struct fb_pool_config pool;
	struct fb_vm_pool_config vm_pool;
	struct fb_limits_config limits;
	struct fb_auth_config auth;
	struct fb_log_config log;
	struct fb_daemon_config daemon;
};

struct config_setting_t; /* libconfig's */

/* "FILE:LINE: WHAT: <formatted>" for a setting of a libconfig file (file:
 * the name to use when libconfig knows none); always -1. Shared by the
 * configuration and recipe parsers. */
int fb_config_setting_error(const struct config_setting_t *s, const char *file, const char *what,
			    const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));

void fb_config_defaults(struct fb_config *cfg);
/* Overlay the file at path onto cfg (call fb_config_defaults first).
 * Returns 0, or -1 with "FILE:LINE: reason" in fb_error_last(). */
int fb_config_load(struct fb_config *cfg, const char *path);
/* Parse from a string (tests); name is used in messages. */
int fb_config_load_string(struct fb_config *cfg, const char *text, const char *name);
void fb_config_free(struct fb_config *cfg);

/* The recipe file of a template: its recipe setting if that is a path
 * (contains '/'), else template.recipes/RECIPE.recipe. */
void fb_config_recipe_path(const struct fb_config *cfg, const struct fb_template_decl *t, char *out,
			   size_t cap);
/* The file of a template: its path setting, else STORE/NAME.tmpl. */
void fb_config_template_file(const struct fb_config *cfg, const struct fb_template_decl *t,
			     char *out, size_t cap);
/* The template of that name, or NULL. */
const struct fb_template_decl *fb_config_template(const struct fb_config *cfg, const char *name);

#endif
