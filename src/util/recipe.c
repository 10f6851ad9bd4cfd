/* Recipe files: libconfig parsing, validation and the hash of what goes
 * into the guest. */
#include "util/recipe.h"

#include "util/error.h"

#include <ctype.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parse {
	const char *file;
	struct fb_recipe *r;
};

static int at(const struct parse *p, const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "FILE:LINE: key: reason"; always -1. */
static int at(const struct parse *p, const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = fb_config_setting_error(s, p->file, config_setting_name(s), fmt, ap);
	va_end(ap);
	return rc;
}

int fb_recipe_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n >= FB_RECIPE_NAME_MAX || !isalnum((unsigned char)name[0]))
		return 0;
	return strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

static int valid_word(const char *s, const char *extra, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n >= max || !isalnum((unsigned char)s[0]))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			if (!strchr(extra, s[i]))
				return 0;
	return 1;
}

/* A Python or JavaScript identifier in ASCII. */
static int valid_identifier(const char *s)
{
	if (!*s || strlen(s) > 64 || isdigit((unsigned char)s[0]))
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '$')
			return 0;
	return 1;
}

enum list_kind { LIST_LANGUAGE, LIST_PACKAGE, LIST_NAME, LIST_CODE };

static int check_item(const struct parse *p, const config_setting_t *s, enum list_kind kind,
		      const char *v)
{
	if (kind == LIST_LANGUAGE && !valid_word(v, "_+.-", FB_LANGUAGE_MAX))
		return at(p, s,
			  "\"%s\" is not a language name (lowercase letters, digits, "
			  "_+.-, at most %d characters)",
			  v, FB_LANGUAGE_MAX - 1);
	if (kind == LIST_PACKAGE && !valid_word(v, "+.-", 128))
		return at(p, s, "\"%s\" is not a Debian package name", v);
	if (kind == LIST_NAME && (!valid_identifier(v) || (v[0] == '_' && v[1] == '_')))
		return at(p, s, "\"%s\" is not a name the code could use", v);
	if (kind == LIST_CODE && (!*v || strlen(v) > 65536))
		return at(p, s, "a request's code is 1 to 65536 bytes");
	return 0;
}

/* An array of strings into a list of strdup()ed ones. */
static int get_list(const struct parse *p, const config_setting_t *s, enum list_kind kind,
		    char ***out, size_t *n_out)
{
	int type = config_setting_type(s);
	if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST)
		return at(p, s, "expected an array of strings [\"...\", ...]");
	size_t n = (size_t)config_setting_length(s);
	if (n > FB_RECIPE_LIST_MAX)
		return at(p, s, "more than %d entries", FB_RECIPE_LIST_MAX);
	char **list = calloc(n + 1, sizeof(*list));
	if (!list)
		return at(p, s, "out of memory");
	*out = list;
	for (size_t i = 0; i < n; i++) {
		const char *v = config_setting_get_string_elem(s, (int)i);
		if (!v)
			return at(p, s, "entry %zu is not a string", i + 1);
		if (check_item(p, s, kind, v) < 0)
			return -1;
		for (size_t j = 0; j < i; j++)
			if (strcmp(list[j], v) == 0)
				return at(p, s, "\"%s\" appears twice", v);
		if (!(list[i] = strdup(v)))
			return at(p, s, "out of memory");
		*n_out = i + 1;
	}
	return 0;
}

static int get_uint(const struct parse *p, const config_setting_t *s, unsigned lo, unsigned hi,
		    unsigned *out)
{
	int type = config_setting_type(s);
	if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
		return at(p, s, "expected an integer");
	long long v = config_setting_get_int64(s);
	if (v < lo || v > hi)
		return at(p, s, "must be between %u and %u (got %lld)", lo, hi, v);
	*out = (unsigned)v;
	return 0;
}

static int parse_limits(const struct parse *p, const config_setting_t *g)
{
	if (!config_setting_is_group(g))
		return at(p, g, "expected a group { ... }");
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *k = config_setting_name(s);
		int rc;
		if (!strcmp(k, "max_processes"))
			rc = get_uint(p, s, 1, 1000000, &p->r->max_processes);
		else if (!strcmp(k, "timeout_seconds"))
			rc = get_uint(p, s, 1, 86400, &p->r->timeout_s);
		else if (!strcmp(k, "max_timeout_seconds"))
			rc = get_uint(p, s, 1, 86400, &p->r->max_timeout_s);
		else
			rc = at(p, s,
				"unknown limit (max_processes, timeout_seconds, "
				"max_timeout_seconds)");
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int parse_string(const struct parse *p, const config_setting_t *s, const char *key)
{
	const char *v = config_setting_get_string(s);
	if (!v)
		return at(p, s, "expected a string");
	if (!strcmp(key, "runtime")) {
		if (strcmp(v, "python") != 0 && strcmp(v, "node") != 0)
			return at(p, s, "\"%s\" is not \"python\" or \"node\"", v);
		snprintf(p->r->runtime, sizeof(p->r->runtime), "%s", v);
		return 0;
	}
	if (strlen(v) > FB_PRELUDE_MAX)
		return at(p, s, "longer than %u bytes", FB_PRELUDE_MAX);
	char *copy = strdup(v);
	if (!copy)
		return at(p, s, "out of memory");
	free(p->r->prelude);
	p->r->prelude = copy;
	return 0;
}

static int parse_languages(const struct parse *p, const config_setting_t *s)
{
	char **list = NULL;
	size_t n = 0;
	int rc = get_list(p, s, LIST_LANGUAGE, &list, &n);
	for (size_t i = 0; i < n; i++)
		snprintf(p->r->languages[i], FB_LANGUAGE_MAX, "%s", list[i]);
	p->r->n_languages = n;
	for (size_t i = 0; list && list[i]; i++)
		free(list[i]);
	free(list);
	return rc;
}

static int parse_setting(const struct parse *p, const config_setting_t *s)
{
	const char *k = config_setting_name(s);
	struct fb_recipe *r = p->r;
	if (!strcmp(k, "runtime") || !strcmp(k, "prelude"))
		return parse_string(p, s, k);
	if (!strcmp(k, "languages"))
		return parse_languages(p, s);
	if (!strcmp(k, "packages"))
		return get_list(p, s, LIST_PACKAGE, &r->packages, &r->n_packages);
	if (!strcmp(k, "bind"))
		return get_list(p, s, LIST_NAME, &r->bind, &r->n_bind);
	if (!strcmp(k, "working_set"))
		return get_list(p, s, LIST_CODE, &r->working_set, &r->n_working_set);
	if (!strcmp(k, "memory_mb"))
		return get_uint(p, s, 64, 3072, &r->memory_mb);
	if (!strcmp(k, "limits"))
		return parse_limits(p, s);
	return at(p, s,
		  "unknown setting (runtime, languages, packages, prelude, bind, "
		  "memory_mb, limits)");
}

static int check_required(const struct parse *p)
{
	const struct fb_recipe *r = p->r;
	const char *missing = !r->runtime[0]	    ? "runtime"
			      : r->n_languages == 0 ? "languages"
			      : r->n_packages == 0  ? "packages"
						    : NULL;
	if (missing)
		return fb_error("%s: %s: missing (docs/TEMPLATES.md)", p->file, missing);
	if (r->max_timeout_s && r->timeout_s > r->max_timeout_s)
		return fb_error(
		    "%s: limits.timeout_seconds (%u) exceeds limits.max_timeout_seconds "
		    "(%u)",
		    p->file, r->timeout_s, r->max_timeout_s);
	return 0;
}

/* The hash of what goes into the guest, over a canonical text form (so
 * comments, layout and the order of keys do not matter). */
static void hash_recipe(struct fb_recipe *r)
{
	struct fb_sha256 s;
	char line[256];
	fb_sha256_init(&s);
#define PUT(...)                                                                                   \
	do {                                                                                       \
		int n_ = snprintf(line, sizeof(line), __VA_ARGS__);                                \
		fb_sha256_update(&s, line, (size_t)n_);                                            \
	} while (0)
	PUT("forkbox-recipe 1\nruntime %s\nmemory_mb %u\nmax_processes %u\n", r->runtime,
	    r->memory_mb, r->max_processes);
	for (size_t i = 0; i < r->n_packages; i++)
		PUT("package %s\n", r->packages[i]);
	for (size_t i = 0; i < r->n_bind; i++)
		PUT("bind %s\n", r->bind[i]);
	for (size_t i = 0; i < r->n_working_set; i++) {
		PUT("working_set %zu\n", strlen(r->working_set[i]));
		fb_sha256_update(&s, r->working_set[i], strlen(r->working_set[i]));
	}
	PUT("prelude %zu\n", strlen(r->prelude));
#undef PUT
	fb_sha256_update(&s, r->prelude, strlen(r->prelude));
	fb_sha256_hex(&s, r->sha256);
}

static int apply(struct fb_recipe *r, const config_t *lc, const char *file)
{
	struct parse p = {.file = file, .r = r};
	const config_setting_t *root = config_root_setting(lc);
	for (int i = 0; i < config_setting_length(root); i++)
		if (parse_setting(&p, config_setting_get_elem(root, (unsigned)i)) < 0)
			return -1;
	if (check_required(&p) < 0)
		return -1;
	hash_recipe(r);
	return 0;
}

static int start(struct fb_recipe *r, const char *name, const char *path)
{
	*r = (struct fb_recipe){.memory_mb = 512, .max_processes = 512};
	snprintf(r->path, sizeof(r->path), "%s", path);
	if (!fb_recipe_name_valid(name))
		return fb_error("%s: recipe name '%s': use 1 to %d lowercase letters, digits, _ "
				"and -",
				path, name, FB_RECIPE_NAME_MAX - 1);
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->prelude = strdup("");
	return r->prelude ? 0 : fb_error("out of memory");
}

static int finish(struct fb_recipe *r, config_t *lc, int read_ok, const char *file)
{
	int rc;
	if (!read_ok) {
		const char *f = config_error_file(lc);
		rc = fb_error("%s:%d: %s", f ? f : file, config_error_line(lc),
			      config_error_text(lc));
	} else {
		rc = apply(r, lc, file);
	}
	config_destroy(lc);
	if (rc < 0)
		fb_recipe_free(r);
	return rc;
}

int fb_recipe_load(struct fb_recipe *r, const char *path)
{
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	char name[FB_RECIPE_NAME_MAX + 8];
	snprintf(name, sizeof(name), "%s", base);
	size_t n = strlen(name);
	if (n > 7 && strcmp(name + n - 7, ".recipe") == 0)
		name[n - 7] = '\0';
	if (start(r, name, path) < 0)
		return -1;
	FILE *f = fopen(path, "re");
	if (!f) {
		fb_error_errno("recipe %s", path);
		fb_recipe_free(r);
		return -1;
	}
	config_t lc;
	config_init(&lc);
	int ok = config_read(&lc, f) == CONFIG_TRUE;
	fclose(f);
	return finish(r, &lc, ok, path);
}

int fb_recipe_load_string(struct fb_recipe *r, const char *text, const char *name)
{
	if (start(r, name, name) < 0)
		return -1;
	config_t lc;
	config_init(&lc);
	return finish(r, &lc, config_read_string(&lc, text) == CONFIG_TRUE, name);
}

static void free_list(char **list, size_t n)
{
	for (size_t i = 0; list && i < n; i++)
		free(list[i]);
	free(list);
}

void fb_recipe_free(struct fb_recipe *r)
{
	free_list(r->packages, r->n_packages);
	free_list(r->bind, r->n_bind);
	free_list(r->working_set, r->n_working_set);
	free(r->prelude);
	r->packages = r->bind = r->working_set = NULL;
	r->n_packages = r->n_bind = r->n_working_set = 0;
	r->prelude = NULL;
}

int fb_recipe_serves(const struct fb_recipe *r, const char *language)
{
	for (size_t i = 0; i < r->n_languages; i++)
		if (strcmp(r->languages[i], language) == 0)
			return 1;
	return 0;
}
