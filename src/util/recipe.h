/* Template recipes: how to build a template (docs/TEMPLATES.md). A recipe
 * is a libconfig file, NAME.recipe:
 *
 *   runtime   = "python";              the guest worker: "python" or "node"
 *   languages = ["python", "python3"]; request "language" values it serves
 *   packages  = ["python3-numpy"];     Debian packages of its root filesystem
 *   prelude   = "import numpy";        run in the worker before the snapshot
 *   bind      = ["numpy", "np"];       prelude names bound for the user's code
 *   working_set = ["print(1+1)"];      typical requests (each must exit 0)
 *   memory_mb = 512;                   guest RAM
 *   limits    = { max_processes = 512; timeout_seconds = 30;
 *                 max_timeout_seconds = 300; };
 *
 * Every key but runtime, languages and packages is optional. Errors name
 * the file and line ("python.recipe:7: bind: ..."). */
#ifndef FORKBOX_UTIL_RECIPE_H
#define FORKBOX_UTIL_RECIPE_H

#include "util/config.h"
#include "util/sha256.h"

#include <stddef.h>

#define FB_RECIPE_NAME_MAX 32 /* template and recipe names, NUL included */
#define FB_LANGUAGE_MAX	   16 /* a language name, NUL included */
#define FB_RECIPE_LIST_MAX 64 /* entries of languages, packages, bind */
#define FB_PRELUDE_MAX	   (1u << 20)

struct fb_recipe {
	char name[FB_RECIPE_NAME_MAX]; /* the file name without .recipe */
	char path[FB_PATH_MAX];
	char runtime[8]; /* "python" | "node" */
	char languages[FB_RECIPE_LIST_MAX][FB_LANGUAGE_MAX];
	size_t n_languages;
	char **packages;
	size_t n_packages;
	char **bind;
	size_t n_bind;
	char *prelude; /* "" when none */
	/* Typical requests, run in forks of a new template: the guest pages
	 * they touch (its working set) are mapped into every fork before it
	 * runs. Each must exit 0. */
	char **working_set;
	size_t n_working_set;
	unsigned memory_mb;
	unsigned max_processes;
	unsigned timeout_s;	/* limits.timeout_seconds; 0 = the server's default */
	unsigned max_timeout_s; /* limits.max_timeout_seconds; 0 = the server's */
	/* SHA-256 of everything that goes into the template (runtime,
	 * packages, prelude, bind, working_set, memory, max_processes): a
	 * template records it, and a change makes the template stale.
	 * Languages and timeouts are the server's business: changing them
	 * needs no rebuild. */
	char sha256[FB_SHA256_HEX];
};

/* Load and validate PATH. 0, or -1 with fb_error_last() set. */
int fb_recipe_load(struct fb_recipe *r, const char *path);
/* The same from text (tests); name is the recipe's name. */
int fb_recipe_load_string(struct fb_recipe *r, const char *text, const char *name);
void fb_recipe_free(struct fb_recipe *r);

/* Whether a name is a valid template/recipe name: 1..31 of [a-z0-9_-],
 * starting with a letter or digit. */
int fb_recipe_name_valid(const char *name);

/* Whether the recipe serves language (exact match). */
int fb_recipe_serves(const struct fb_recipe *r, const char *language);

#endif
