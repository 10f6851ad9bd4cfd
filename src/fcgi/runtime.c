/* Building and tearing down a configuration generation. */
#include "fcgi/runtime.h"

#include "util/error.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

int fb_runtime_load_config(struct fb_config *cfg, const char *path)
{
	fb_config_defaults(cfg);
	if (path && fb_config_load(cfg, path))
		return -1;
	return 0;
}

static int open_serial_log(struct fb_runtime *rt)
{
	rt->serial_fd = -1;
	if (!rt->cfg.log.serial_log[0])
		return 0;
	rt->serial_fd =
	    open(rt->cfg.log.serial_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (rt->serial_fd < 0)
		return fb_error_errno("log.guest_console: open %s", rt->cfg.log.serial_log);
	return 0;
}

static int open_templates(struct fb_runtime *rt, const struct fb_runtime *prev)
{
	const struct fb_template_config *t = &rt->cfg.template_;
	struct fb_engine_options opts = {
	    .default_output_limit = rt->cfg.limits.max_output_bytes,
	    .serial_log_fd = rt->serial_fd,
	    .memory_in_ram = !rt->one_shot,
	    .lock_memory = t->lock_memory,
	    .huge_pages = t->huge_pages,
	    .prefetch = t->prefetch,
	};
	return fb_served_open(&rt->templates, &rt->cfg, prev ? &prev->templates : NULL, &opts);
}

int fb_runtime_open(struct fb_runtime *rt, const struct fb_runtime *prev)
{
	rt->templates.n = 0;
	rt->ratelimit = NULL;
	rt->capacity = NULL;
	memset(&rt->auth, 0, sizeof(rt->auth));
	if (open_serial_log(rt) || fb_auth_load(&rt->auth, rt->cfg.auth.keys_file))
		goto fail;
	rt->ratelimit = fb_ratelimit_create(rt->auth.n_keys, rt->cfg.auth.rate_limit_per_s);
	/* Pool-wide VM slots: one per worker the pool may run. */
	rt->capacity = fb_capacity_create(rt->cfg.pool.max_children);
	if (!rt->ratelimit || !rt->capacity || open_templates(rt, prev))
		goto fail;
	return 0;
fail:
	fb_runtime_close(rt);
	return -1;
}

void fb_runtime_close(struct fb_runtime *rt)
{
	fb_served_close(&rt->templates);
	fb_auth_free(&rt->auth);
	fb_ratelimit_destroy(rt->ratelimit);
	rt->ratelimit = NULL;
	fb_capacity_destroy(rt->capacity);
	rt->capacity = NULL;
	if (rt->serial_fd >= 0)
		close(rt->serial_fd);
	rt->serial_fd = -1;
}
