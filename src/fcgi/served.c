#include "fcgi/served.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* An engine and who uses it: every generation whose set holds the same
 * unchanged file. Master-side bookkeeping, one thread. */
struct fb_shared_engine {
	struct fb_engine *engine;
	unsigned refs;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

static bool same_file(const struct fb_shared_engine *sh, const struct stat *st)
{
	return sh->dev == st->st_dev && sh->ino == st->st_ino && sh->size == st->st_size &&
	       sh->mtime.tv_sec == st->st_mtim.tv_sec && sh->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

/* The engine of prev's template of the same name and file, if unchanged. */
static struct fb_shared_engine *reusable(const struct fb_served_set *prev,
					 const struct fb_served *t, const struct stat *st)
{
	for (size_t i = 0; prev && i < prev->n; i++) {
		const struct fb_served *p = &prev->t[i];
		if (p->shared && !strcmp(p->name, t->name) && !strcmp(p->path, t->path) &&
		    same_file(p->shared, st))
			return p->shared;
	}
	return NULL;
}

static void take_info(struct fb_served *t)
{
	struct fb_engine_info info;
	fb_engine_info(t->engine, &info);
	t->generation = info.generation;
	t->created_unix = info.created_unix;
	if (info.runtime && strcmp(info.runtime, t->runtime) != 0)
		fb_error("runs %s but its recipe says %s: rebuild it", info.runtime, t->runtime);
}

static int open_engine(struct fb_served *t, const struct fb_served_set *prev,
		       const struct fb_engine_options *eo)
{
	struct stat st;
	if (stat(t->path, &st) < 0)
		return fb_error_errno("%s", t->path);
	struct fb_shared_engine *sh = reusable(prev, t, &st);
	if (!sh) {
		struct fb_engine_options o = *eo;
		o.template_path = t->path;
		sh = calloc(1, sizeof(*sh));
		if (!sh)
			return fb_error("out of memory");
		sh->engine = fb_engine_open(&o);
		if (!sh->engine) {
			free(sh);
			return -1;
		}
		sh->dev = st.st_dev, sh->ino = st.st_ino, sh->size = st.st_size;
		sh->mtime = st.st_mtim;
	}
	sh->refs++;
	t->shared = sh;
	t->engine = sh->engine;
	fb_error_clear();
	take_info(t);
	const char *mismatch = fb_error_last();
	if (*mismatch) {
		snprintf(t->error, sizeof(t->error), "%s", mismatch);
		return -1;
	}
	return 0;
}

static void release(struct fb_served *t)
{
	if (t->shared && --t->shared->refs == 0) {
		fb_engine_close(t->shared->engine);
		free(t->shared);
	}
	t->shared = NULL;
	t->engine = NULL;
}

/* The recipe's languages, runtime and limits (its guest part is the
 * template file's business). */
static int read_recipe(struct fb_served *t, const struct fb_config *cfg,
		       const struct fb_template_decl *d)
{
	char path[FB_PATH_MAX + 32];
	struct fb_recipe r;
	fb_config_recipe_path(cfg, d, path, sizeof(path));
	if (fb_recipe_load(&r, path) < 0) {
		if (access(path, R_OK) < 0 && errno == EACCES)
			return fb_error("template %s: recipe %s: not readable by uid %u (the "
					"server reads its recipes as daemon.user; docs/DEPLOY.md)",
					d->name, path, (unsigned)geteuid());
		return fb_error_prefix("template %s", d->name);
	}
	snprintf(t->runtime, sizeof(t->runtime), "%s", r.runtime);
	memcpy(t->languages, r.languages, sizeof(t->languages));
	t->n_languages = r.n_languages;
	t->timeout_s = r.timeout_s;
	t->max_timeout_s = r.max_timeout_s;
	fb_recipe_free(&r);
	return 0;
}

/* No language served twice: the request could not pick. */
static int check_languages(const struct fb_served_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		for (size_t l = 0; l < s->t[i].n_languages; l++)
			for (size_t j = 0; j < i; j++)
				for (size_t k = 0; k < s->t[j].n_languages; k++)
					if (!strcmp(s->t[i].languages[l], s->t[j].languages[k]))
						return fb_error("templates %s and %s both serve "
								"language \"%s\"",
								s->t[j].name, s->t[i].name,
								s->t[i].languages[l]);
	return 0;
}

static bool was_ready(const struct fb_served_set *prev, const char *name)
{
	for (size_t i = 0; prev && i < prev->n; i++)
		if (!strcmp(prev->t[i].name, name))
			return prev->t[i].engine != NULL;
	return false;
}

int fb_served_open(struct fb_served_set *s, const struct fb_config *cfg,
		   const struct fb_served_set *prev, const struct fb_engine_options *eo)
{
	memset(s, 0, sizeof(*s));
	char why[FB_ERROR_MAX] = "";
	for (size_t i = 0; i < cfg->n_templates; i++) {
		const struct fb_template_decl *d = &cfg->templates[i];
		struct fb_served *t = &s->t[s->n++];
		snprintf(t->name, sizeof(t->name), "%s", d->name);
		fb_config_template_file(cfg, d, t->path, sizeof(t->path));
		t->max_age_s = d->max_age_s;
		t->max_forks = d->max_forks;
		t->slot = -1;
		if (read_recipe(t, cfg, d) < 0)
			goto fail;
		if (open_engine(t, prev, eo) < 0) {
			if (!t->error[0])
				snprintf(t->error, sizeof(t->error), "%s", fb_error_last());
			release(t);
			if (was_ready(prev, t->name)) {
				fb_error("template %s: %s", t->name, t->error);
				goto fail;
			}
			snprintf(why + strlen(why), sizeof(why) - strlen(why), "%stemplate %s: %s",
				 why[0] ? "; " : "", t->name, t->error);
		}
	}
	if (check_languages(s) < 0)
		goto fail;
	if (fb_served_ready(s) == 0) {
		fb_error("no template could be opened: %s", why);
		goto fail;
	}
	return 0;
fail:
	fb_served_close(s);
	return -1;
}

void fb_served_close(struct fb_served_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		release(&s->t[i]);
	s->n = 0;
}

struct fb_served *fb_served_for(struct fb_served_set *s, const char *language)
{
	char known[512] = "";
	for (size_t i = 0; i < s->n; i++) {
		for (size_t l = 0; l < s->t[i].n_languages; l++) {
			if (!strcmp(s->t[i].languages[l], language))
				return &s->t[i];
			snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s%s",
				 known[0] ? ", " : "", s->t[i].languages[l]);
		}
	}
	fb_error("unsupported language \"%.64s\" (available: %s)", language, known);
	return NULL;
}

void fb_served_bind_metrics(struct fb_served_set *s, struct fb_metrics *m)
{
	for (size_t i = 0; i < s->n; i++) {
		s->t[i].slot = fb_metrics_template_slot(m, s->t[i].name);
		if (s->t[i].engine)
			fb_metrics_template_serving(m, s->t[i].slot, s->t[i].generation,
						    s->t[i].created_unix);
	}
}

size_t fb_served_ready(const struct fb_served_set *s)
{
	size_t n = 0;
	for (size_t i = 0; i < s->n; i++)
		n += s->t[i].engine != NULL;
	return n;
}
