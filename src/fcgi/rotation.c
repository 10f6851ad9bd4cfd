#include "fcgi/rotation.h"

#include "fcgi/log.h"
#include "fcgi/master_priv.h"
#include "util/error.h"
#include "vmm/template_store.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RETRY_FIRST_MS (60 * 1000)
#define RETRY_MAX_MS   (3600 * 1000)

static bool rotates(const struct fb_served *t)
{
	return t->engine && t->slot >= 0 && (t->max_age_s || t->max_forks);
}

void fb_rotation_check_stale(struct fb_master *m)
{
	for (size_t i = 0; i < m->rt->templates.n; i++) {
		const struct fb_served *t = &m->rt->templates.t[i];
		const struct fb_template_decl *d = fb_config_template(&m->rt->cfg, t->name);
		char why[2048];
		m->rotation.stale[i] = false;
		if (!t->engine || !d || fb_store_stale(&m->rt->cfg, d, why, sizeof(why)) != 1)
			continue;
		m->rotation.stale[i] = rotates(t);
		fb_log(FB_LOG_WARNING, "template %s (generation %u) is stale: %s; %s", t->name,
		       t->generation, why,
		       rotates(t) ? "rebuilding it"
				  : "rebuild it (`forkbox template build`) and reload");
	}
}

/* Why template t is due for a rebuild, or NULL. */
static const char *due(struct fb_master *m, size_t i, char *why, size_t cap)
{
	const struct fb_served *t = &m->rt->templates.t[i];
	if (!rotates(t))
		return NULL;
	if (m->rotation.stale[i]) {
		snprintf(why, cap, "generation %u is stale", t->generation);
		return why;
	}
	struct fb_template_counters *c = &m->metrics->templates[t->slot];
	int64_t created = atomic_load(&c->created_unix);
	int64_t age = created ? (int64_t)time(NULL) - created : 0;
	uint64_t forks = atomic_load(&c->forks);
	if (t->max_age_s && created && age >= (int64_t)t->max_age_s)
		snprintf(why, cap, "generation %u is %lld s old (max_age_seconds %u)",
			 t->generation, (long long)age, t->max_age_s);
	else if (t->max_forks && forks >= t->max_forks)
		snprintf(why, cap, "generation %u served %llu forks (max_forks %llu)",
			 t->generation, (unsigned long long)forks,
			 (unsigned long long)t->max_forks);
	else
		return NULL;
	return why;
}

/* In the child: build, report, exit. Lower priority than serving. */
static void __attribute__((noreturn)) build(struct fb_master *m, const struct fb_template_decl *d)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_IGN);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (setpriority(PRIO_PROCESS, 0, 10) < 0)
		fb_log(FB_LOG_DEBUG, "rotation: setpriority: %s", strerror(errno));
	if (fb_store_rebuild(&m->rt->cfg, d, NULL) < 0) {
		fb_log(FB_LOG_ERROR, "rotation: rebuilding template %s failed: %s", d->name,
		       fb_error_last());
		_exit(1);
	}
	_exit(0);
}

static void start(struct fb_master *m, size_t index, const char *why)
{
	const struct fb_served *t = &m->rt->templates.t[index];
	const struct fb_template_decl *d = fb_config_template(&m->rt->cfg, t->name);
	if (!d)
		return;
	fb_log(FB_LOG_NOTICE, "rotation: rebuilding template %s in the background: %s", t->name,
	       why);
	pid_t pid = fork();
	if (pid < 0) {
		fb_log(FB_LOG_ERROR, "rotation: fork: %s", strerror(errno));
		return;
	}
	if (pid == 0)
		build(m, d);
	m->rotation.builder = pid;
	snprintf(m->rotation.name, sizeof(m->rotation.name), "%s", t->name);
	atomic_store(&m->metrics->templates[t->slot].rebuilding, 1);
}

void fb_rotation_tick(struct fb_master *m)
{
	char why[160];
	int64_t now = fb_monotonic_ms();
	if (m->rotation.builder || m->stopping)
		return;
	for (size_t i = 0; i < m->rt->templates.n; i++) {
		if (now < m->rotation.retry_ms[i])
			continue;
		if (due(m, i, why, sizeof(why))) {
			start(m, i, why);
			return;
		}
	}
}

/* The template's index in the running set, or -1 (gone by a reload). */
static int find(struct fb_master *m, const char *name)
{
	for (size_t i = 0; i < m->rt->templates.n; i++)
		if (!strcmp(m->rt->templates.t[i].name, name))
			return (int)i;
	return -1;
}

bool fb_rotation_reaped(struct fb_master *m, pid_t pid, int status)
{
	if (!m->rotation.builder || pid != m->rotation.builder)
		return false;
	m->rotation.builder = 0;
	int i = find(m, m->rotation.name);
	if (i >= 0)
		m->rotation.stale[i] = false;
	int slot = i >= 0 ? m->rt->templates.t[i].slot : -1;
	if (slot >= 0)
		atomic_store(&m->metrics->templates[slot].rebuilding, 0);
	bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	if (slot >= 0)
		atomic_fetch_add(ok ? &m->metrics->templates[slot].rebuilds
				    : &m->metrics->templates[slot].rebuild_failures,
				 1);
	if (i < 0 || m->stopping)
		return true;
	if (!ok) {
		unsigned n = m->rotation.failures[i]++;
		int64_t wait = RETRY_FIRST_MS << (n < 6 ? n : 6);
		if (wait > RETRY_MAX_MS)
			wait = RETRY_MAX_MS;
		m->rotation.retry_ms[i] = fb_monotonic_ms() + wait;
		fb_log(FB_LOG_WARNING,
		       "rotation: template %s keeps its running generation; next try in %lld s",
		       m->rotation.name, (long long)(wait / 1000));
		return true;
	}
	m->rotation.failures[i] = 0;
	char why[96];
	snprintf(why, sizeof(why), "rotation of template %s", m->rotation.name);
	if (fb_master_reload(m, why) < 0) /* not again at once: it would build again */
		m->rotation.retry_ms[i] = fb_monotonic_ms() + RETRY_FIRST_MS;
	return true;
}

void fb_rotation_stop(struct fb_master *m)
{
	if (m->rotation.builder)
		kill(m->rotation.builder, SIGTERM);
}
