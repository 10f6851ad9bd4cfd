/* State shared by master.c (supervision) and master_setup.c (start, reload). */
#ifndef FORKBOX_FCGI_MASTER_PRIV_H
#define FORKBOX_FCGI_MASTER_PRIV_H

#include "fcgi/master.h"
#include "fcgi/metrics.h"
#include "fcgi/rotation.h"
#include "fcgi/runtime.h"
#include "fcgi/scoreboard.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

/* Room for old workers finishing during a reload beside a full new pool. */
#define FB_SCOREBOARD_SLOTS 8192

struct fb_master {
	const struct fb_master_options *opts;
	struct fb_runtime *rt;
	struct fb_metrics *metrics;
	struct fb_scoreboard *sb;
	int listen_fd;
	int stopping; /* 0 running, 1 graceful, 2 fast */
	int64_t stop_deadline_ms;
	unsigned backoff_ms;
	int64_t last_crash_ms;
	int64_t next_spawn_ms;
	bool fresh_generation; /* start pool.start_servers before spare logic */
	struct fb_rotation rotation;
};

/* The supervision loop; returns once stopped and every worker is gone. */
void fb_master_supervise(struct fb_master *m);

/* Signal workers: only idle ones when idle_only, only older generations
 * when old_only; at most max of them (-1 = all). */
void fb_master_signal_workers(struct fb_master *m, int sig, bool idle_only, bool old_only, int max);

/* SIGHUP or a rotation (why names it): build the next generation from
 * the configuration file, sharing unchanged templates; keep the current
 * one on failure (-1, logged). */
int fb_master_reload(struct fb_master *m, const char *why);

/* The signals the master handles (kept blocked, taken by sigtimedwait). */
sigset_t fb_master_signals(void);

#endif
