/* Worker loop: accept, serve, update the scoreboard, recycle. */
#include "fcgi/worker.h"

#include "fcgi/api.h"
#include "fcgi/fcgx_conn.h"
#include "fcgi/harden.h"
#include "fcgi/log.h"
#include "util/error.h"

#include <errno.h>
#include <fcgiapp.h>
#include <signal.h>
#include <string.h>

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
	FCGX_ShutdownPending(); /* makes a blocked FCGX_Accept_r return */
}

/* Stop signals interrupt accept() (no SA_RESTART) and are blocked while a
 * request runs, so the engine's system calls never see EINTR from them. */
static void setup_signals(sigset_t *stop_set)
{
	struct sigaction sa = {.sa_handler = on_stop};
	int sigs[] = {SIGTERM, SIGHUP, SIGQUIT, SIGINT};

	sigemptyset(stop_set);
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		sigaction(sigs[i], &sa, NULL);
		sigaddset(stop_set, sigs[i]);
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGUSR1, SIG_IGN);
	sigprocmask(SIG_BLOCK, stop_set, NULL);
	sigset_t others;
	sigfillset(&others);
	sigdelset(&others, SIGTERM);
	sigdelset(&others, SIGHUP);
	sigdelset(&others, SIGQUIT);
	sigdelset(&others, SIGINT);
	sigprocmask(SIG_UNBLOCK, &others, NULL);
}

static void set_state(struct fb_worker *w, enum fb_slot_state state)
{
	struct fb_slot *s = &w->sb->slot[w->slot];

	atomic_store(&s->busy_since_ms, state == FB_SLOT_BUSY ? fb_monotonic_ms() : 0);
	atomic_store(&s->state, state);
}

/* Wait for the next connection with stop signals deliverable. */
static int accept_next(FCGX_Request *req, const sigset_t *stop_set)
{
	sigprocmask(SIG_UNBLOCK, stop_set, NULL);
	int rc = stop_requested ? -1 : FCGX_Accept_r(req);
	sigprocmask(SIG_BLOCK, stop_set, NULL);
	return rc;
}

static void serve(struct fb_worker *w, struct fb_api *api, FCGX_Request *req)
{
	struct fb_conn conn;
	int64_t start = fb_monotonic_ms();

	fb_fcgx_conn_init(&conn, req);
	int status = fb_api_handle(api, &conn);
	/* Log before FCGX_Finish_r: it frees the parameters. */
	const char *method = FCGX_GetParam("REQUEST_METHOD", req->envp);
	const char *uri = FCGX_GetParam("REQUEST_URI", req->envp);
	fb_log(FB_LOG_INFO, "%s %s %d %lld ms", method ? method : "-", uri ? uri : "-", status,
	       (long long)(fb_monotonic_ms() - start));
	FCGX_Finish_r(req);
	/* The response is out: only now do its VMs go to teardown. */
	fb_api_after_response(api);
	atomic_fetch_add(&w->sb->slot[w->slot].requests, 1);
}

/* The worker's own pools of ready VMs, one per template it serves
 * (threads do not survive the fork from the master, so each worker starts
 * its own). Without one, requests still work: each builds its VM. */
static void start_vm_pools(struct fb_worker *w, struct fb_api *api)
{
	const struct fb_vm_pool_config *c = &w->rt->cfg.vm_pool;
	struct fb_engine_pool_options po = {.depth = c->depth, .threads = c->threads};

	for (size_t i = 0; i < w->rt->templates.n; i++) {
		struct fb_engine *e = w->rt->templates.t[i].engine;
		if (!e)
			continue;
		if (fb_engine_pool_start(e, &po) < 0)
			fb_log(FB_LOG_ERROR,
			       "worker: no VM pool for template %s, each request builds its VM: %s",
			       w->rt->templates.t[i].name, fb_error_last());
		fb_engine_pool_counts(e, &api->pool_seen[i]);
	}
}

static void stop_vm_pools(struct fb_worker *w)
{
	for (size_t i = 0; i < w->rt->templates.n; i++)
		if (w->rt->templates.t[i].engine)
			fb_engine_pool_stop(w->rt->templates.t[i].engine);
}

int fb_worker_main(struct fb_worker *w)
{
	FCGX_Request req;
	sigset_t stop_set;
	unsigned long served = 0;
	unsigned max = w->rt->cfg.pool.max_requests;
	struct fb_api api = {
	    .cfg = &w->rt->cfg,
	    .templates = &w->rt->templates,
	    .auth = &w->rt->auth,
	    .ratelimit = w->rt->ratelimit,
	    .metrics = w->metrics,
	    .sb = w->sb,
	    .slot = w->slot,
	    .capacity = w->rt->capacity,
	};

	setup_signals(&stop_set);
	if (FCGX_Init() || FCGX_InitRequest(&req, w->listen_fd, FCGI_FAIL_ACCEPT_ON_INTR)) {
		fb_log(FB_LOG_ERROR, "worker: FastCGI library initialisation failed");
		return 1;
	}
	if (fb_harden_worker(&w->rt->cfg)) {
		fb_log(FB_LOG_ERROR, "worker: %s", fb_error_last());
		return 1;
	}
	/* After setup_signals and the seccomp filter: its threads inherit the
	 * blocked stop signals and the filter. */
	start_vm_pools(w, &api);
	while (!stop_requested && (!max || served < max)) {
		set_state(w, FB_SLOT_IDLE);
		if (accept_next(&req, &stop_set) < 0) {
			if (stop_requested || errno == EINTR)
				continue;
			fb_log(FB_LOG_ERROR, "worker: accept failed: %s", strerror(errno));
			return 1;
		}
		set_state(w, FB_SLOT_BUSY);
		serve(w, &api, &req);
		served++;
	}
	set_state(w, FB_SLOT_IDLE);
	fb_api_cleanup(&api);
	stop_vm_pools(w);
	fb_log(FB_LOG_DEBUG, "worker exiting after %lu requests", served);
	return 0;
}
