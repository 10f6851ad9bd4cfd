/* Template rotation (docs/TEMPLATES.md): a template whose serving
 * generation is older than templates.NAME.max_age_seconds, or has served
 * templates.NAME.max_forks forks, is rebuilt in the background by a child
 * of the master (fb_store_rebuild(): a new boot, so new boot-time secrets
 * and layout); when it succeeds the master reloads as on SIGHUP: new
 * requests go to the new generation at once, requests in flight finish
 * on the old one, whose memory goes with its last worker. One rebuild at
 * a time; a failed one is logged and retried later (1 minute, doubling up
 * to an hour), the old generation serving meanwhile. A stale template
 * (its recipe, guest kernel, root filesystem or agent changed since it was
 * built) is logged at start and reload, and rebuilt then if it rotates. */
#ifndef FORKBOX_FCGI_ROTATION_H
#define FORKBOX_FCGI_ROTATION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/config.h"

struct fb_master;

struct fb_rotation {
	pid_t builder;			      /* 0: none running */
	char name[FB_TEMPLATE_DECL_NAME_MAX]; /* what it builds */
	int64_t retry_ms[FB_MAX_TEMPLATES];   /* by template index: not before */
	unsigned failures[FB_MAX_TEMPLATES];  /* in a row */
	bool stale[FB_MAX_TEMPLATES];	      /* rebuild at once, if it rotates */
};

/* After a start or a reload: log each served template that is stale
 * (what it was built from changed since), and have those that rotate
 * rebuilt at once. */
void fb_rotation_check_stale(struct fb_master *m);
/* Start a rebuild if a template is due and none runs (every tick). */
void fb_rotation_tick(struct fb_master *m);
/* A child exited: true when it was the builder (then handled). */
bool fb_rotation_reaped(struct fb_master *m, pid_t pid, int status);
/* Stopping: end a running rebuild. */
void fb_rotation_stop(struct fb_master *m);

#endif
