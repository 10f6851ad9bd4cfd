/* Master start-up (socket, daemon, pid file, shared tables, first workers),
 * shutdown, and SIGHUP reload. */
#include "fcgi/master_priv.h"

#include "fcgi/daemon.h"
#include "fcgi/harden.h"
#include "fcgi/listen.h"
#include "fcgi/log.h"
#include "fcgi/notify.h"
#include "util/error.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* "python generation 3, node generation 1" (and the ones not ready). */
static void describe(const struct fb_runtime *rt, char *out, size_t cap)
{
	out[0] = '\0';
	for (size_t i = 0; i < rt->templates.n; i++) {
		const struct fb_served *t = &rt->templates.t[i];
		size_t len = strlen(out);
		if (t->engine)
			snprintf(out + len, cap - len, "%s%s generation %u", len ? ", " : "",
				 t->name, t->generation);
		else
			snprintf(out + len, cap - len, "%s%s NOT READY (%s)", len ? ", " : "",
				 t->name, t->error);
	}
}

/* The templates not ready, each as a warning with the way out. */
static void warn_not_ready(const struct fb_runtime *rt)
{
	for (size_t i = 0; i < rt->templates.n; i++) {
		const struct fb_served *t = &rt->templates.t[i];
		if (!t->engine)
			fb_log(FB_LOG_WARNING,
			       "template %s is not served: %s (build it with `forkbox template "
			       "build %s`, then SIGHUP)",
			       t->name, t->error, t->name);
	}
}

int fb_master_reload(struct fb_master *m, const char *why)
{
	struct fb_runtime *next = calloc(1, sizeof(*next));

	fb_log(FB_LOG_NOTICE, "%s: reloading %s", why, m->opts->config_path);
	if (!next || fb_runtime_load_config(&next->cfg, m->opts->config_path) ||
	    fb_runtime_open(next, m->rt)) {
		fb_log(FB_LOG_ERROR, "reload failed, keeping the running configuration: %s",
		       next ? fb_error_last() : "out of memory");
		if (next)
			fb_config_free(&next->cfg);
		free(next);
		return -1;
	}
	if (strcmp(next->cfg.pool.listen, m->rt->cfg.pool.listen) != 0)
		fb_log(FB_LOG_WARNING, "pool.listen changed: restart to listen on %s",
		       next->cfg.pool.listen);
	fb_listen_set_allowed(&next->cfg.pool);
	next->generation = m->rt->generation + 1;
	fb_served_bind_metrics(&next->templates, m->metrics);
	/* Workers of the old generation keep their own mappings of the old
	 * templates and tables (requests in flight finish on them); the master
	 * lets go of its copies now: a template's memory is freed when the
	 * last worker holding it is gone. Unchanged templates are shared. */
	struct fb_runtime *old = m->rt;
	m->rt = next;
	fb_runtime_close(old);
	fb_config_free(&old->cfg);
	free(old);
	m->backoff_ms = 0;
	m->next_spawn_ms = 0;
	m->fresh_generation = true;
	fb_master_signal_workers(m, SIGTERM, false, true, -1);
	char served[2048];
	describe(m->rt, served, sizeof(served));
	fb_log(FB_LOG_NOTICE, "reloaded (configuration %u): templates %s", m->rt->generation,
	       served);
	warn_not_ready(m->rt);
	fb_rotation_check_stale(m);
	return 0;
}

static int open_socket(struct fb_master *m)
{
	if (m->opts->listen_fd >= 0) {
		m->listen_fd = m->opts->listen_fd;
		return 0;
	}
	m->listen_fd = fb_listen_open(&m->rt->cfg.pool);
	return m->listen_fd < 0 ? -1 : 0;
}

static int go_background(struct fb_master *m, const char *pid_file)
{
	int daemonize = m->opts->daemonize >= 0 ? m->opts->daemonize : m->rt->cfg.daemon.daemonize;

	if (daemonize && fb_daemonize(fb_log_is_stderr()))
		return -1;
	if (fb_pidfile_write(pid_file))
		return -1;
	/* Bound, and the pid file written: nothing left that needs root. */
	return fb_harden_process(&m->rt->cfg);
}

static int start(struct fb_master *m, const char *pid_file)
{
	if (fb_harden_check_user(&m->rt->cfg.daemon) || open_socket(m) ||
	    go_background(m, pid_file) || fb_listen_set_allowed(&m->rt->cfg.pool))
		return -1;
	m->metrics = fb_metrics_create();
	m->sb = fb_scoreboard_create(FB_SCOREBOARD_SLOTS);
	if (!m->metrics || !m->sb)
		return -1;
	/* Opened once here; workers inherit the templates' memory via fork(). */
	if (fb_runtime_open(m->rt, NULL))
		return -1;
	fb_served_bind_metrics(&m->rt->templates, m->metrics);
	m->rt->generation = 1;
	m->fresh_generation = true;
	return 0;
}

int fb_master_run(struct fb_runtime *rt, const struct fb_master_options *opts)
{
	struct fb_master m = {.opts = opts, .rt = rt, .listen_fd = -1};
	char pid_file[FB_PATH_MAX]; /* rt (and its config) is replaced on reload */
	sigset_t set = fb_master_signals();

	snprintf(pid_file, sizeof(pid_file), "%s",
		 opts->pid_file ? opts->pid_file : rt->cfg.daemon.pid_file);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (start(&m, pid_file)) {
		fb_log(FB_LOG_ERROR, "%s", fb_error_last());
		fb_pidfile_remove(pid_file);
		fb_config_free(&rt->cfg);
		free(rt);
		return 1;
	}
	char served[2048];
	describe(m.rt, served, sizeof(served));
	fb_log(FB_LOG_NOTICE, "forkbox-fcgi ready: pm %s, max_children %u, templates %s",
	       rt->cfg.pool.pm == FB_PM_STATIC ? "static" : "dynamic", rt->cfg.pool.max_children,
	       served);
	warn_not_ready(m.rt);
	fb_rotation_check_stale(&m);
	if (fb_notify("READY=1") < 0)
		fb_log(FB_LOG_WARNING, "%s", fb_error_last());
	fb_master_supervise(&m);
	fb_log(FB_LOG_NOTICE, "all workers gone, exiting");
	if (opts->listen_fd < 0)
		fb_listen_cleanup(&m.rt->cfg.pool);
	fb_pidfile_remove(pid_file);
	fb_runtime_close(m.rt);
	fb_config_free(&m.rt->cfg);
	free(m.rt);
	fb_scoreboard_destroy(m.sb);
	fb_metrics_destroy(m.metrics);
	return 0;
}
