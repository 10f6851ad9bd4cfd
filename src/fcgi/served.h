/* The templates a configuration generation serves (the templates group):
 * each with its recipe's languages and limits, its engine (NULL when its
 * file could not be opened, with the reason) and its slot in the shared
 * metrics. A request's language picks one. Engines of template files that
 * did not change are shared between generations, so a reload or a
 * rotation reopens (and reads into RAM) only what changed. */
#ifndef FORKBOX_FCGI_SERVED_H
#define FORKBOX_FCGI_SERVED_H

#include "fcgi/metrics.h"
#include "util/config.h"
#include "util/error.h"
#include "util/recipe.h"
#include "vmm/engine.h"

#include <stdbool.h>
#include <stdint.h>

struct fb_shared_engine;

struct fb_served {
	char name[FB_TEMPLATE_DECL_NAME_MAX];
	char path[FB_PATH_MAX + 64]; /* STORE/NAME.tmpl */
	char runtime[8];
	char languages[FB_RECIPE_LIST_MAX][FB_LANGUAGE_MAX];
	size_t n_languages;
	unsigned timeout_s, max_timeout_s; /* the recipe's limits; 0 = the server's */
	unsigned max_age_s;		   /* rotation (templates.NAME.*) */
	uint64_t max_forks;
	struct fb_engine *engine; /* NULL: not ready, error says why */
	char error[FB_ERROR_MAX];
	unsigned generation;
	int64_t created_unix;
	int slot; /* in fb_metrics.templates, -1 without one */
	struct fb_shared_engine *shared;
};

struct fb_served_set {
	struct fb_served t[FB_MAX_TEMPLATES];
	size_t n;
};

/* Open cfg's templates with eo (its template_path is set per template).
 * prev (may be NULL): the running generation's set, whose engines are
 * reused for files that did not change. Returns 0 when at least one
 * template is ready; -1 with fb_error_last() set when a recipe cannot be
 * read, no template could be opened, or one prev served fails now. */
int fb_served_open(struct fb_served_set *s, const struct fb_config *cfg,
		   const struct fb_served_set *prev, const struct fb_engine_options *eo);
void fb_served_close(struct fb_served_set *s);

/* The template serving language; NULL with "unsupported language "x"
 * (available: ...)" set when none does. */
struct fb_served *fb_served_for(struct fb_served_set *s, const char *language);

/* Claim the templates' metrics slots and record the generations serving
 * (the master, once per generation). */
void fb_served_bind_metrics(struct fb_served_set *s, struct fb_metrics *m);

/* How many are ready. */
size_t fb_served_ready(const struct fb_served_set *s);

#endif
