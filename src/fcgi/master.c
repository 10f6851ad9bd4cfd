/* Master: startup, supervision loop, signals, reload. */
#include "fcgi/master_priv.h"

#include "fcgi/log.h"
#include "fcgi/notify.h"
#include "fcgi/pool.h"
#include "fcgi/worker.h"
#include "util/error.h"
#include "vmm/seccomp.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

sigset_t fb_master_signals(void)
{
	sigset_t set;
	int sigs[] = {SIGTERM, SIGQUIT, SIGINT, SIGHUP, SIGUSR1, SIGCHLD};

	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&set, sigs[i]);
	return set;
}

static void spawn_worker(struct fb_master *m)
{
	int idx = fb_scoreboard_claim(m->sb, 0, m->rt->generation);

	if (idx < 0) {
		fb_log(FB_LOG_WARNING, "scoreboard full (%d slots): not starting a worker",
		       FB_SCOREBOARD_SLOTS);
		return;
	}
	pid_t master = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		fb_log(FB_LOG_ERROR, "fork worker: %s", strerror(errno));
		fb_scoreboard_release(m->sb, idx);
		return;
	}
	if (pid == 0) {
		/* A master that dies, even by SIGKILL, takes its workers along
		 * (each finishes its request first), so no orphan keeps the
		 * socket. */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) || getppid() != master)
			_exit(0);
		atomic_store(&m->sb->slot[idx].pid, getpid());
		struct fb_worker w = {.rt = m->rt,
				      .metrics = m->metrics,
				      .sb = m->sb,
				      .slot = idx,
				      .listen_fd = m->listen_fd};
		_exit(fb_worker_main(&w));
	}
	atomic_store(&m->sb->slot[idx].pid, pid);
	fb_log(FB_LOG_DEBUG, "started worker %d (generation %u)", (int)pid, m->rt->generation);
}

void fb_master_signal_workers(struct fb_master *m, int sig, bool idle_only, bool old_only, int max)
{
	for (unsigned i = 0; i < m->sb->n && max != 0; i++) {
		struct fb_slot *s = &m->sb->slot[i];
		int state = atomic_load(&s->state);
		pid_t pid = atomic_load(&s->pid);
		if (state == FB_SLOT_FREE || pid <= 0)
			continue;
		if (idle_only && state == FB_SLOT_BUSY)
			continue;
		if (old_only && atomic_load(&s->generation) == m->rt->generation)
			continue;
		kill(pid, sig);
		max--;
	}
}

static void note_exit(struct fb_master *m, pid_t pid, int status, struct fb_slot *s)
{
	bool current = atomic_load(&s->generation) == m->rt->generation;
	int vms = atomic_load(&s->vms);

	/* Give back VM slots a dying worker held (only its generation's
	 * semaphore is still mapped here when it is the current one). */
	if (vms > 0 && current)
		fb_capacity_release(m->rt->capacity, (unsigned)vms);
	if ((WIFEXITED(status) && WEXITSTATUS(status) == 0) || m->stopping) {
		fb_log(FB_LOG_DEBUG, "worker %d exited", (int)pid);
		return;
	}
	if ((WIFEXITED(status) && WEXITSTATUS(status) == FB_SECCOMP_EXIT_STATUS) ||
	    (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS))
		fb_log(FB_LOG_ERROR,
		       "worker %d stopped by its seccomp filter: it made a forbidden system "
		       "call (named on the line it logged)",
		       (int)pid);
	else if (WIFSIGNALED(status))
		fb_log(FB_LOG_ERROR, "worker %d killed by signal %d (%s)", (int)pid,
		       WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		fb_log(FB_LOG_ERROR, "worker %d exited with status %d", (int)pid,
		       WEXITSTATUS(status));
	int64_t now = fb_monotonic_ms();
	unsigned since = m->last_crash_ms ? (unsigned)(now - m->last_crash_ms) : 0xFFFFFFFFu;
	m->backoff_ms = fb_pool_backoff_ms(m->backoff_ms, since);
	m->last_crash_ms = now;
	m->next_spawn_ms = now + m->backoff_ms;
	if (m->backoff_ms)
		fb_log(FB_LOG_WARNING, "workers keep failing: next start in %u ms", m->backoff_ms);
}

static void reap(struct fb_master *m)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (fb_rotation_reaped(m, pid, status))
			continue;
		int idx = fb_scoreboard_find(m->sb, pid);
		if (idx < 0)
			continue;
		note_exit(m, pid, status, &m->sb->slot[idx]);
		fb_scoreboard_release(m->sb, idx);
	}
}

static void count_generation(struct fb_master *m, struct fb_worker_counts *c)
{
	*c = (struct fb_worker_counts){0};
	for (unsigned i = 0; i < m->sb->n; i++) {
		struct fb_slot *s = &m->sb->slot[i];
		int state = atomic_load(&s->state);
		if (state == FB_SLOT_FREE || atomic_load(&s->generation) != m->rt->generation)
			continue;
		c->total++;
		c->idle += state == FB_SLOT_IDLE;
		c->busy += state == FB_SLOT_BUSY;
		c->starting += state == FB_SLOT_STARTING;
	}
}

static void maintain(struct fb_master *m)
{
	struct fb_worker_counts c;

	count_generation(m, &c);
	int plan = fb_pool_plan(&m->rt->cfg.pool, &c);
	if (m->fresh_generation) {
		unsigned initial = fb_pool_initial(&m->rt->cfg.pool);
		if (initial > c.total && (int)(initial - c.total) > plan)
			plan = (int)(initial - c.total);
		m->fresh_generation = false;
	}
	if (plan < 0) {
		fb_master_signal_workers(m, SIGTERM, true, false, -plan);
		return;
	}
	int64_t now = fb_monotonic_ms();
	if (m->backoff_ms && now - m->last_crash_ms > 30000)
		m->backoff_ms = 0; /* calm again */
	if (plan > 0 && now < m->next_spawn_ms)
		return;
	/* After a crash, start one at a time until things calm down. */
	if (m->backoff_ms && plan > 1)
		plan = 1;
	if (plan > 0 && m->backoff_ms)
		fb_log(FB_LOG_NOTICE, "respawning after worker failures");
	for (int i = 0; i < plan; i++)
		spawn_worker(m);
}

/* Safety net for hung requests: the engine enforces timeouts itself. */
static void kill_overdue(struct fb_master *m)
{
	int64_t limit = (int64_t)fb_pool_request_limit_ms(&m->rt->cfg);
	int64_t now = fb_monotonic_ms();

	for (unsigned i = 0; i < m->sb->n; i++) {
		struct fb_slot *s = &m->sb->slot[i];
		int64_t since = atomic_load(&s->busy_since_ms);
		if (atomic_load(&s->state) != FB_SLOT_BUSY || !since || now - since <= limit)
			continue;
		fb_log(FB_LOG_ERROR, "worker %d busy for %lld ms (limit %lld): killing it",
		       (int)atomic_load(&s->pid), (long long)(now - since), (long long)limit);
		kill(atomic_load(&s->pid), SIGKILL);
		atomic_store(&s->busy_since_ms, 0);
	}
}

static void handle_signal(struct fb_master *m, int sig)
{
	switch (sig) {
	case SIGTERM:
		if (!m->stopping) {
			fb_log(FB_LOG_NOTICE,
			       "SIGTERM: graceful stop, finishing requests in flight");
			fb_notify("STOPPING=1");
			m->stopping = 1;
			fb_rotation_stop(m);
			m->stop_deadline_ms =
			    fb_monotonic_ms() + (int64_t)fb_pool_request_limit_ms(&m->rt->cfg);
			fb_master_signal_workers(m, SIGTERM, false, false, -1);
		}
		break;
	case SIGQUIT:
	case SIGINT:
		fb_log(FB_LOG_NOTICE, "%s: fast stop", sig == SIGQUIT ? "SIGQUIT" : "SIGINT");
		fb_notify("STOPPING=1");
		m->stopping = 2;
		fb_rotation_stop(m);
		fb_master_signal_workers(m, SIGKILL, false, false, -1);
		break;
	case SIGHUP:
		if (!m->stopping)
			fb_master_reload(m, "SIGHUP");
		break;
	case SIGUSR1:
		if (fb_log_reopen())
			fb_log(FB_LOG_ERROR, "SIGUSR1: %s", fb_error_last());
		else
			fb_log(FB_LOG_NOTICE, "SIGUSR1: log file reopened");
		break;
	default:
		break; /* SIGCHLD: reaped in the loop */
	}
}

static bool any_workers(struct fb_master *m)
{
	struct fb_worker_counts c;

	fb_scoreboard_count(m->sb, &c);
	return c.total > 0;
}

void fb_master_supervise(struct fb_master *m)
{
	sigset_t set = fb_master_signals();
	struct timespec tick = {.tv_sec = 1};

	for (;;) {
		reap(m);
		if (m->stopping && !any_workers(m))
			return;
		if (m->stopping == 1) {
			/* Idle workers may have missed the first signal. */
			fb_master_signal_workers(m, SIGTERM, true, false, -1);
			if (fb_monotonic_ms() > m->stop_deadline_ms)
				fb_master_signal_workers(m, SIGKILL, false, false, -1);
		} else if (!m->stopping) {
			fb_master_signal_workers(m, SIGTERM, true, true, -1);
			maintain(m);
			kill_overdue(m);
			fb_rotation_tick(m);
		}
		int sig = sigtimedwait(&set, NULL, &tick);
		if (sig > 0)
			handle_signal(m, sig);
	}
}
