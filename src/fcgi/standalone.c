/* CGI mode and single-worker FastCGI mode. */
#include "fcgi/standalone.h"

#include "fcgi/api.h"
#include "fcgi/harden.h"
#include "fcgi/listen.h"
#include "fcgi/log.h"
#include "fcgi/worker.h"
#include "util/error.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

static const char *env_param(void *ctx, const char *name)
{
	(void)ctx;
	return getenv(name);
}

static ssize_t stdin_read(void *ctx, void *buf, size_t len)
{
	(void)ctx;
	ssize_t n;

	do
		n = read(STDIN_FILENO, buf, len);
	while (n < 0 && errno == EINTR);
	return n;
}

static int stdout_write(void *ctx, const void *buf, size_t len)
{
	const char *p = buf;

	(void)ctx;
	while (len) {
		ssize_t n = write(STDOUT_FILENO, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int stdout_flush(void *ctx)
{
	(void)ctx;
	return 0; /* writes are unbuffered */
}

int fb_serve_cgi(struct fb_runtime *rt)
{
	struct fb_conn conn = {env_param, stdin_read, stdout_write, stdout_flush, NULL, NULL};
	struct fb_metrics *metrics = fb_metrics_create();

	signal(SIGPIPE, SIG_IGN);
	rt->one_shot = true;
	if (!metrics || fb_runtime_open(rt, NULL) || fb_harden_process(&rt->cfg) ||
	    fb_harden_worker(&rt->cfg)) {
		/* Still answer the web server with a proper error. */
		fb_log(FB_LOG_ERROR, "%s", fb_error_last());
		static const char msg[] =
		    "Status: 503 Service Unavailable\r\n"
		    "Content-Type: application/json\r\n\r\n"
		    "{\"error\":\"forkbox is not ready, see its error log\"}\n";
		stdout_write(NULL, msg, sizeof(msg) - 1);
		return 1;
	}
	fb_served_bind_metrics(&rt->templates, metrics);
	struct fb_api api = {.cfg = &rt->cfg,
			     .templates = &rt->templates,
			     .auth = &rt->auth,
			     .ratelimit = rt->ratelimit,
			     .metrics = metrics,
			     .slot = -1,
			     .capacity = NULL};
	fb_api_handle(&api, &conn);
	/* End of the response for the web server; then the VM goes. */
	close(STDOUT_FILENO);
	fb_api_cleanup(&api);
	fb_runtime_close(rt);
	fb_metrics_destroy(metrics);
	return 0;
}

int fb_serve_inherited(struct fb_runtime *rt, int listen_fd)
{
	struct fb_metrics *metrics = fb_metrics_create();
	struct fb_scoreboard *sb = fb_scoreboard_create(1);

	if (!metrics || !sb || fb_listen_set_allowed(&rt->cfg.pool) || fb_runtime_open(rt, NULL) ||
	    fb_harden_process(&rt->cfg)) {
		fb_log(FB_LOG_ERROR, "%s", fb_error_last());
		return 1;
	}
	fb_served_bind_metrics(&rt->templates, metrics);
	fb_scoreboard_claim(sb, getpid(), 1);
	fb_log(FB_LOG_NOTICE, "serving the FastCGI socket inherited on fd %d", listen_fd);
	struct fb_worker w = {
	    .rt = rt, .metrics = metrics, .sb = sb, .slot = 0, .listen_fd = listen_fd};
	int rc = fb_worker_main(&w);
	fb_runtime_close(rt);
	fb_scoreboard_destroy(sb);
	fb_metrics_destroy(metrics);
	return rc;
}
