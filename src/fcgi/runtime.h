/* One configuration generation: the config plus everything opened from it
 * (the templates and their engines, API keys, rate and capacity tables).
 * The master builds it before forking; workers inherit it; SIGHUP and a
 * template rotation build the next one. */
#ifndef FORKBOX_FCGI_RUNTIME_H
#define FORKBOX_FCGI_RUNTIME_H

#include "fcgi/auth.h"
#include "fcgi/capacity.h"
#include "fcgi/ratelimit.h"
#include "fcgi/served.h"
#include "util/config.h"
#include "vmm/engine.h"

struct fb_runtime {
	struct fb_config cfg;
	struct fb_served_set templates;
	struct fb_auth auth;
	struct fb_ratelimit *ratelimit;
	struct fb_capacity *capacity;
	int serial_fd;
	unsigned generation;
	/* CGI: one request per process, so the template is mapped from its
	 * file instead of being read into RAM first. */
	bool one_shot;
};

/* Load the config file (NULL = defaults only) without opening anything:
 * for `-t` and before deciding the mode. 0 or -1 with fb_error_last(). */
int fb_runtime_load_config(struct fb_config *cfg, const char *path);

/* Open the templates, keys and shared tables for rt->cfg; prev (may be
 * NULL): the running generation, whose unchanged templates are shared.
 * 0 or -1. */
int fb_runtime_open(struct fb_runtime *rt, const struct fb_runtime *prev);
void fb_runtime_close(struct fb_runtime *rt);

#endif
