/* forkbox configuration: defaults, libconfig parsing and validation.
 *
 * Every key is described once in the `keys` table (group, name, kind, range,
 * field). Parsing walks the file's settings and looks each up, so unknown
 * keys and groups are errors (typo protection). A file is parsed into a copy
 * and committed only when everything, cross-key rules included, is valid. */
#include "util/config.h"

#include "util/error.h"

#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef FORKBOX_DATADIR /* set by the build from $(pkgdatadir) */
#define FORKBOX_DATADIR "/usr/share/forkbox"
#endif

enum key_kind {
	K_STRING,  /* char[size] */
	K_UINT,	   /* unsigned, [min, max] */
	K_INT,	   /* int, [min, max] */
	K_SIZE,	   /* size_t, [min, max] */
	K_BOOL,	   /* bool */
	K_MODE,	   /* unsigned, octal string "0660" */
	K_PM,	   /* enum fb_pm_mode: "static" | "dynamic" */
	K_LEVEL,   /* char[size]: a log level name */
	K_SECCOMP, /* char[size]: "enforce" | "log" | "off" */
	K_STRLIST, /* pool.allowed_clients */
};

struct key {
	const char *group, *name;
	enum key_kind kind;
	size_t offset, size; /* field in struct fb_config; size for strings */
	long long min, max;  /* numbers */
};

#define F(field) offsetof(struct fb_config, field)
#define STR(g, n, field)                                                                           \
	{                                                                                          \
		g, n, K_STRING, F(field), sizeof(((struct fb_config *)0)->field), 0, 0             \
	}
#define NUM(g, n, kind, field, lo, hi)                                                             \
	{                                                                                          \
		g, n, kind, F(field), 0, lo, hi                                                    \
	}

static const struct key keys[] = {
    STR("template", "store", template_.store),
    STR("template", "kernel", template_.kernel),
    STR("template", "images", template_.images),
    STR("template", "recipes", template_.recipes),
    STR("template", "cmdline_extra", template_.cmdline_extra),
    NUM("template", "lock_memory", K_BOOL, template_.lock_memory, 0, 0),
    NUM("template", "huge_pages", K_BOOL, template_.huge_pages, 0, 0),
    NUM("template", "prefetch", K_BOOL, template_.prefetch, 0, 0),
    STR("pool", "listen", pool.listen),
    STR("pool", "listen_owner", pool.listen_owner),
    STR("pool", "listen_group", pool.listen_group),
    NUM("pool", "listen_mode", K_MODE, pool.listen_mode, 0, 0777),
    NUM("pool", "listen_allowed_clients", K_STRLIST, pool.allowed_clients, 0, 0),
    NUM("pool", "listen_backlog", K_INT, pool.backlog, 1, 65535),
    NUM("pool", "pm", K_PM, pool.pm, 0, 0),
    NUM("pool", "max_children", K_UINT, pool.max_children, 1, 4096),
    NUM("pool", "start_servers", K_UINT, pool.start_servers, 1, 4096),
    NUM("pool", "min_spare_servers", K_UINT, pool.min_spare_servers, 1, 4096),
    NUM("pool", "max_spare_servers", K_UINT, pool.max_spare_servers, 1, 4096),
    NUM("pool", "max_requests", K_UINT, pool.max_requests, 0, 1000000000),
    NUM("pool", "max_parallel_vms", K_UINT, pool.max_parallel_vms, 1, 1024),
    NUM("pool", "queue_timeout_ms", K_UINT, pool.queue_timeout_ms, 0, 3600000),
    NUM("vm_pool", "depth", K_UINT, vm_pool.depth, 0, 1024),
    NUM("vm_pool", "threads", K_UINT, vm_pool.threads, 1, 64),
    NUM("limits", "default_timeout_seconds", K_UINT, limits.default_timeout_s, 1, 86400),
    NUM("limits", "max_timeout_seconds", K_UINT, limits.max_timeout_s, 1, 86400),
    NUM("limits", "max_body_bytes", K_SIZE, limits.max_body_bytes, 1, 1LL << 40),
    NUM("limits", "max_output_bytes", K_SIZE, limits.max_output_bytes, 1, 1LL << 40),
    NUM("limits", "max_batch", K_UINT, limits.max_batch, 1, 1024),
    STR("auth", "keys_file", auth.keys_file),
    NUM("auth", "rate_limit_per_second", K_UINT, auth.rate_limit_per_s, 0, 1000000),
    STR("log", "error_log", log.error_log),
    {"log", "level", K_LEVEL, F(log.level), sizeof(((struct fb_config *)0)->log.level), 0, 0},
    STR("log", "guest_console", log.serial_log),
    STR("daemon", "pid_file", daemon.pid_file),
    NUM("daemon", "daemonize", K_BOOL, daemon.daemonize, 0, 0),
    STR("daemon", "user", daemon.user),
    STR("daemon", "group", daemon.group),
    {"daemon", "seccomp", K_SECCOMP, F(daemon.seccomp),
     sizeof(((struct fb_config *)0)->daemon.seccomp), 0, 0},
    NUM("daemon", "rlimit_files", K_UINT, daemon.rlimit_files, 0, 1048576),
};

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

static const char *const groups[] = {"template", "pool", "vm_pool", "limits",
				     "auth",	 "log",	 "daemon"};

/* Settings that moved: an old file gets told where. */
static const struct {
	const char *group, *name, *hint;
} moved[] = {
    {"template", "path",
     "replaced by template.store (templates are STORE/NAME.tmpl) and the templates group"},
    {"template", "initramfs",
     "replaced by template.images (each recipe has its root filesystem there)"},
    {"template", "memory_mb", "now memory_mb in each recipe (docs/TEMPLATES.md)"},
};
static const char *const levels[] = {"error", "warning", "notice", "info", "debug", NULL};
static const char *const seccomp_modes[] = {"enforce", "log", "off", NULL};

/* Parsing state: where messages point, and the line each key was set on. */
struct parse {
	const char *name;      /* file name for messages */
	unsigned line[N_KEYS]; /* 0 = not set by this file */
};

static void set_str(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src);
}

void fb_config_defaults(struct fb_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	set_str(cfg->template_.store, FB_PATH_MAX, "/var/lib/forkbox/templates");
	/* Where `make install` puts the guest image and recipes ($(pkgdatadir)). */
	set_str(cfg->template_.kernel, FB_PATH_MAX, FORKBOX_DATADIR "/vmlinux");
	set_str(cfg->template_.images, FB_PATH_MAX, FORKBOX_DATADIR);
	set_str(cfg->template_.recipes, FB_PATH_MAX, FORKBOX_DATADIR "/recipes");
	/* The shipped recipes: python (the default language) and node. */
	static const char *const shipped[] = {"python", "node"};
	for (size_t i = 0; i < 2; i++) {
		set_str(cfg->templates[i].name, FB_TEMPLATE_DECL_NAME_MAX, shipped[i]);
		set_str(cfg->templates[i].recipe, FB_PATH_MAX, shipped[i]);
	}
	cfg->n_templates = 2;
	cfg->template_.prefetch = true;
	set_str(cfg->pool.listen, FB_PATH_MAX, "/run/forkbox/forkbox.sock");
	set_str(cfg->pool.listen_owner, sizeof(cfg->pool.listen_owner), "www-data");
	set_str(cfg->pool.listen_group, sizeof(cfg->pool.listen_group), "www-data");
	cfg->pool.listen_mode = 0660;
	cfg->pool.backlog = 511;
	cfg->pool.pm = FB_PM_DYNAMIC;
	cfg->pool.max_children = 8;
	cfg->pool.start_servers = 2;
	cfg->pool.min_spare_servers = 1;
	cfg->pool.max_spare_servers = 3;
	cfg->pool.max_requests = 500;
	cfg->pool.max_parallel_vms = 8;
	cfg->pool.queue_timeout_ms = 5000;
	cfg->vm_pool.depth = 2;
	cfg->vm_pool.threads = 2;
	cfg->limits.default_timeout_s = 30;
	cfg->limits.max_timeout_s = 300;
	cfg->limits.max_body_bytes = 16u << 20;
	cfg->limits.max_output_bytes = 16u << 20;
	cfg->limits.max_batch = 16;
	cfg->auth.rate_limit_per_s = 100;
	set_str(cfg->log.error_log, FB_PATH_MAX, "stderr");
	set_str(cfg->log.level, sizeof(cfg->log.level), "notice");
	set_str(cfg->daemon.pid_file, FB_PATH_MAX, "/run/forkbox/forkbox.pid");
	set_str(cfg->daemon.user, sizeof(cfg->daemon.user), "forkbox");
	set_str(cfg->daemon.seccomp, sizeof(cfg->daemon.seccomp), "enforce");
}

static void free_list(char **list, size_t n)
{
	for (size_t i = 0; list && i < n; i++)
		free(list[i]);
	free(list);
}

void fb_config_free(struct fb_config *cfg)
{
	free_list(cfg->pool.allowed_clients, cfg->pool.n_allowed_clients);
	cfg->pool.allowed_clients = NULL;
	cfg->pool.n_allowed_clients = 0;
}

/* "FILE:LINE: group.key: reason"; always -1. */
static int key_error(const struct parse *p, const config_setting_t *s, const struct key *k,
		     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

int fb_config_setting_error(const config_setting_t *s, const char *file, const char *what,
			    const char *fmt, va_list ap)
{
	char why[FB_ERROR_MAX];
	vsnprintf(why, sizeof(why), fmt, ap);
	const char *source = config_setting_source_file(s);
	return fb_error("%s:%u: %s: %s", source ? source : file, config_setting_source_line(s),
			what, why);
}

static int key_error(const struct parse *p, const config_setting_t *s, const struct key *k,
		     const char *fmt, ...)
{
	char what[160];
	va_list ap;
	snprintf(what, sizeof(what), "%s.%s", k->group, k->name);
	va_start(ap, fmt);
	int rc = fb_config_setting_error(s, p->name, what, fmt, ap);
	va_end(ap);
	return rc;
}

static const char *type_name(int type)
{
	static const char *const names[] = {
	    [CONFIG_TYPE_NONE] = "nothing",   [CONFIG_TYPE_GROUP] = "a group",
	    [CONFIG_TYPE_INT] = "an integer", [CONFIG_TYPE_INT64] = "an integer",
	    [CONFIG_TYPE_FLOAT] = "a float",  [CONFIG_TYPE_STRING] = "a string",
	    [CONFIG_TYPE_BOOL] = "a boolean", [CONFIG_TYPE_ARRAY] = "an array",
	    [CONFIG_TYPE_LIST] = "a list",
	};
	return type >= 0 && type <= CONFIG_TYPE_LIST ? names[type] : "an unknown type";
}

static int parse_number(const struct parse *p, const config_setting_t *s, const struct key *k,
			void *field)
{
	int type = config_setting_type(s);
	if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
		return key_error(p, s, k, "expected an integer, got %s", type_name(type));
	long long v = config_setting_get_int64(s);
	if (v < k->min || v > k->max)
		return key_error(p, s, k, "must be between %lld and %lld (got %lld)", k->min,
				 k->max, v);
	if (k->kind == K_UINT)
		*(unsigned *)field = (unsigned)v;
	else if (k->kind == K_INT)
		*(int *)field = (int)v;
	else
		*(size_t *)field = (size_t)v;
	return 0;
}

static int parse_mode(const struct parse *p, const config_setting_t *s, const struct key *k,
		      unsigned *mode)
{
	const char *text = config_setting_get_string(s);
	char *end = NULL;
	if (!text)
		return key_error(p, s, k, "expected an octal string like \"0660\", got %s",
				 type_name(config_setting_type(s)));
	unsigned long v = strtoul(text, &end, 8);
	if (!*text || *end || strspn(text, "01234567") != strlen(text) || v > 0777)
		return key_error(p, s, k, "\"%s\" is not an octal file mode between 0 and 0777",
				 text);
	*mode = (unsigned)v;
	return 0;
}

static int parse_word(const struct parse *p, const config_setting_t *s, const struct key *k,
		      void *field)
{
	const char *text = config_setting_get_string(s);
	if (!text)
		return key_error(p, s, k, "expected a string, got %s",
				 type_name(config_setting_type(s)));
	if (k->kind == K_PM) {
		if (strcmp(text, "static") != 0 && strcmp(text, "dynamic") != 0)
			return key_error(p, s, k, "\"%s\" is not \"static\" or \"dynamic\"", text);
		*(enum fb_pm_mode *)field = text[0] == 's' ? FB_PM_STATIC : FB_PM_DYNAMIC;
		return 0;
	}
	const char *const *words = k->kind == K_LEVEL ? levels : seccomp_modes;
	char list[128] = "";
	for (size_t i = 0; words[i]; i++) {
		if (strcmp(text, words[i]) == 0) {
			set_str(field, k->size, text);
			return 0;
		}
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "",
			 words[i]);
	}
	return key_error(p, s, k, "\"%s\" is not one of %s", text, list);
}

static int parse_string(const struct parse *p, const config_setting_t *s, const struct key *k,
			char *field)
{
	const char *text = config_setting_get_string(s);
	if (!text)
		return key_error(p, s, k, "expected a string, got %s",
				 type_name(config_setting_type(s)));
	if (strlen(text) >= k->size)
		return key_error(p, s, k, "too long (at most %zu bytes)", k->size - 1);
	set_str(field, k->size, text);
	return 0;
}

/* pool.listen_allowed_clients: ["127.0.0.1", "::1"]; replaces the old list. */
static int parse_list(const struct parse *p, const config_setting_t *s, const struct key *k,
		      struct fb_pool_config *pool)
{
	int type = config_setting_type(s);
	if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST)
		return key_error(p, s, k, "expected an array of strings, got %s", type_name(type));
	size_t n = (size_t)config_setting_length(s);
	char **list = n ? calloc(n, sizeof(*list)) : NULL;
	if (n && !list)
		return key_error(p, s, k, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const char *text = config_setting_get_string_elem(s, (int)i);
		if (!text || !*text || !(list[i] = strdup(text))) {
			free_list(list, n);
			return key_error(p, s, k, "element %zu: expected a non-empty string",
					 i + 1);
		}
	}
	/* The caller's list is owned by the committed config; only a list this
	 * file made is replaced here. */
	pool->allowed_clients = list;
	pool->n_allowed_clients = n;
	return 0;
}

static int parse_value(const struct parse *p, const config_setting_t *s, const struct key *k,
		       struct fb_config *cfg)
{
	void *field = (char *)cfg + k->offset;
	switch (k->kind) {
	case K_STRING:
		return parse_string(p, s, k, field);
	case K_UINT:
	case K_INT:
	case K_SIZE:
		return parse_number(p, s, k, field);
	case K_BOOL:
		if (config_setting_type(s) != CONFIG_TYPE_BOOL)
			return key_error(p, s, k, "expected true or false, got %s",
					 type_name(config_setting_type(s)));
		*(bool *)field = config_setting_get_bool(s);
		return 0;
	case K_MODE:
		return parse_mode(p, s, k, field);
	case K_PM:
	case K_LEVEL:
	case K_SECCOMP:
		return parse_word(p, s, k, field);
	case K_STRLIST:
		return parse_list(p, s, k, &cfg->pool);
	}
	return key_error(p, s, k, "internal error: unknown key kind");
}

static const struct key *find_key(const char *group, const char *name, size_t *index)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (strcmp(keys[i].group, group) == 0 && strcmp(keys[i].name, name) == 0) {
			*index = i;
			return &keys[i];
		}
	return NULL;
}

static bool known_group(const char *name)
{
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		if (strcmp(groups[i], name) == 0)
			return true;
	return false;
}

static int setting_error(const struct parse *p, const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int setting_error(const struct parse *p, const config_setting_t *s, const char *fmt, ...)
{
	const char *file = config_setting_source_file(s);
	char why[FB_ERROR_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return fb_error("%s:%u: %s", file ? file : p->name, config_setting_source_line(s), why);
}

static int parse_group(struct parse *p, const config_setting_t *group, struct fb_config *cfg)
{
	const char *gname = config_setting_name(group);
	for (int i = 0; i < config_setting_length(group); i++) {
		const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
		size_t index;
		const struct key *k = find_key(gname, config_setting_name(s), &index);
		for (size_t m = 0; !k && m < sizeof(moved) / sizeof(moved[0]); m++)
			if (!strcmp(moved[m].group, gname) &&
			    !strcmp(moved[m].name, config_setting_name(s)))
				return setting_error(p, s, "%s.%s: %s", gname,
						     config_setting_name(s), moved[m].hint);
		if (!k)
			return setting_error(p, s, "unknown setting %s.%s", gname,
					     config_setting_name(s));
		if (parse_value(p, s, k, cfg) < 0)
			return -1;
		p->line[index] = config_setting_source_line(s);
	}
	return 0;
}

static int template_number(const struct parse *p, const config_setting_t *s, long long max,
			   uint64_t *out)
{
	int type = config_setting_type(s);
	if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
		return setting_error(p, s, "%s: expected an integer, got %s",
				     config_setting_name(s), type_name(type));
	long long v = config_setting_get_int64(s);
	if (v < 0 || v > max)
		return setting_error(p, s, "%s: must be between 0 and %lld (got %lld)",
				     config_setting_name(s), max, v);
	*out = (uint64_t)v;
	return 0;
}

/* templates.NAME = { recipe = "..."; max_age_seconds = N; max_forks = N; } */
static int parse_template(const struct parse *p, const config_setting_t *g,
			  struct fb_template_decl *t)
{
	const char *name = config_setting_name(g);
	size_t n = strlen(name);
	if (!config_setting_is_group(g))
		return setting_error(p, g, "templates.%s: expected a group { recipe = ...; }",
				     name);
	if (n >= FB_TEMPLATE_DECL_NAME_MAX ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") != n)
		return setting_error(p, g,
				     "templates.%s: a template name is 1 to %d lowercase letters, "
				     "digits, _ and -",
				     name, FB_TEMPLATE_DECL_NAME_MAX - 1);
	*t = (struct fb_template_decl){0};
	set_str(t->name, sizeof(t->name), name);
	set_str(t->recipe, sizeof(t->recipe), name);
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *k = config_setting_name(s);
		uint64_t v;
		if (!strcmp(k, "recipe")) {
			const char *text = config_setting_get_string(s);
			if (!text || !*text || strlen(text) >= sizeof(t->recipe))
				return setting_error(p, s,
						     "templates.%s.recipe: expected a recipe "
						     "name or path",
						     name);
			set_str(t->recipe, sizeof(t->recipe), text);
		} else if (!strcmp(k, "path")) {
			const char *text = config_setting_get_string(s);
			if (!text || !*text || strlen(text) >= sizeof(t->path))
				return setting_error(
				    p, s, "templates.%s.path: expected a file name", name);
			set_str(t->path, sizeof(t->path), text);
		} else if (!strcmp(k, "max_age_seconds")) {
			if (template_number(p, s, 10LL * 365 * 86400, &v) < 0)
				return -1;
			t->max_age_s = (unsigned)v;
		} else if (!strcmp(k, "max_forks")) {
			if (template_number(p, s, 1LL << 50, &t->max_forks) < 0)
				return -1;
		} else {
			return setting_error(p, s,
					     "unknown setting templates.%s.%s (recipe, path, "
					     "max_age_seconds, max_forks)",
					     name, k);
		}
	}
	return 0;
}

/* The templates group replaces the built-in list as a whole. */
static int parse_templates(const struct parse *p, const config_setting_t *g, struct fb_config *cfg)
{
	if (!config_setting_is_group(g))
		return setting_error(p, g, "templates: expected a group { NAME = { ... }; ... }");
	size_t n = (size_t)config_setting_length(g);
	if (n == 0 || n > FB_MAX_TEMPLATES)
		return setting_error(p, g, "templates: declare 1 to %d templates",
				     FB_MAX_TEMPLATES);
	for (size_t i = 0; i < n; i++)
		if (parse_template(p, config_setting_get_elem(g, (unsigned)i), &cfg->templates[i]) <
		    0)
			return -1;
	cfg->n_templates = n;
	return 0;
}

static int parse_root(struct parse *p, const config_t *lc, struct fb_config *cfg)
{
	const config_setting_t *root = config_root_setting(lc);
	for (int i = 0; i < config_setting_length(root); i++) {
		const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
		const char *name = config_setting_name(s);
		if (!strcmp(name, "templates")) {
			if (parse_templates(p, s, cfg) < 0)
				return -1;
			continue;
		}
		if (!known_group(name))
			return setting_error(p, s,
					     "unknown %s \"%s\" (groups: template, templates, "
					     "pool, vm_pool, limits, auth, log, daemon)",
					     config_setting_is_group(s) ? "group" : "setting",
					     name);
		if (!config_setting_is_group(s))
			return setting_error(p, s, "%s: expected a group { ... }, got %s", name,
					     type_name(config_setting_type(s)));
		if (parse_group(p, s, cfg) < 0)
			return -1;
	}
	return 0;
}

/* "FILE:LINE: group.key: reason" for a rule between keys of one group. It
 * names the first of the keys (a space-separated list, most to blame first)
 * that this file set; the others came from defaults or an earlier file. */
static int rule_error(const struct parse *p, const char *group, const char *names, const char *fmt,
		      ...) __attribute__((format(printf, 4, 5)));

static int rule_error(const struct parse *p, const char *group, const char *names, const char *fmt,
		      ...)
{
	size_t named = N_KEYS, index;
	char list[256];
	set_str(list, sizeof(list), names);
	for (char *save = NULL, *n = strtok_r(list, " ", &save); n;
	     n = strtok_r(NULL, " ", &save)) {
		if (!find_key(group, n, &index))
			continue;
		if (named == N_KEYS || (!p->line[named] && p->line[index]))
			named = index;
	}
	char why[FB_ERROR_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (named == N_KEYS)
		return fb_error("%s: %s", p->name, why);
	return fb_error("%s:%u: %s.%s: %s", p->name, p->line[named], keys[named].group,
			keys[named].name, why);
}

static int check_dynamic_pool(const struct parse *p, const struct fb_pool_config *pool)
{
	if (pool->min_spare_servers > pool->max_spare_servers)
		return rule_error(p, "pool", "min_spare_servers max_spare_servers",
				  "min_spare_servers (%u) must not exceed max_spare_servers (%u)",
				  pool->min_spare_servers, pool->max_spare_servers);
	if (pool->max_spare_servers > pool->max_children)
		return rule_error(p, "pool", "max_spare_servers max_children",
				  "max_spare_servers (%u) must not exceed max_children (%u)",
				  pool->max_spare_servers, pool->max_children);
	if (pool->start_servers < pool->min_spare_servers ||
	    pool->start_servers > pool->max_spare_servers)
		return rule_error(p, "pool", "start_servers min_spare_servers max_spare_servers",
				  "start_servers (%u) must be between min_spare_servers (%u) and "
				  "max_spare_servers (%u)",
				  pool->start_servers, pool->min_spare_servers,
				  pool->max_spare_servers);
	return 0;
}

static int check_rules(const struct parse *p, const struct fb_config *cfg)
{
	if (cfg->pool.listen[0] == '\0')
		return rule_error(p, "pool", "listen", "must not be empty");
	if (cfg->pool.pm == FB_PM_DYNAMIC && check_dynamic_pool(p, &cfg->pool) < 0)
		return -1;
	if (cfg->limits.default_timeout_s > cfg->limits.max_timeout_s)
		return rule_error(p, "limits", "default_timeout_seconds max_timeout_seconds",
				  "default_timeout_seconds (%u) must not exceed "
				  "max_timeout_seconds (%u)",
				  cfg->limits.default_timeout_s, cfg->limits.max_timeout_s);
	return 0;
}

static int syntax_error(const config_t *lc, const char *name)
{
	const char *file = config_error_file(lc);
	return fb_error("%s:%d: %s", file ? file : name, config_error_line(lc),
			config_error_text(lc));
}

/* Parse lc (already read) into a copy of cfg; commit it only if valid. */
static int apply(struct fb_config *cfg, const config_t *lc, const char *name)
{
	struct parse *p = calloc(1, sizeof(*p));
	struct fb_config *next = malloc(sizeof(*next));
	int rc = -1;
	if (!p || !next) {
		fb_error("load %s: out of memory", name);
		goto out;
	}
	p->name = name;
	*next = *cfg;
	if (parse_root(p, lc, next) == 0 && check_rules(p, next) == 0) {
		if (next->pool.allowed_clients != cfg->pool.allowed_clients)
			fb_config_free(cfg);
		*cfg = *next;
		set_str(cfg->source, sizeof(cfg->source), name);
		rc = 0;
	} else if (next->pool.allowed_clients != cfg->pool.allowed_clients) {
		fb_config_free(next);
	}
out:
	free(next);
	free(p);
	return rc;
}

void fb_config_recipe_path(const struct fb_config *cfg, const struct fb_template_decl *t, char *out,
			   size_t cap)
{
	if (strchr(t->recipe, '/'))
		snprintf(out, cap, "%s", t->recipe);
	else
		snprintf(out, cap, "%s/%s.recipe", cfg->template_.recipes, t->recipe);
}

void fb_config_template_file(const struct fb_config *cfg, const struct fb_template_decl *t,
			     char *out, size_t cap)
{
	if (t->path[0])
		snprintf(out, cap, "%s", t->path);
	else
		snprintf(out, cap, "%s/%s.tmpl", cfg->template_.store, t->name);
}

const struct fb_template_decl *fb_config_template(const struct fb_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_templates; i++)
		if (strcmp(cfg->templates[i].name, name) == 0)
			return &cfg->templates[i];
	return NULL;
}

int fb_config_load(struct fb_config *cfg, const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return fb_error_errno("%s", path);
	config_t lc;
	config_init(&lc);
	int rc =
	    config_read(&lc, f) == CONFIG_TRUE ? apply(cfg, &lc, path) : syntax_error(&lc, path);
	config_destroy(&lc);
	fclose(f);
	return rc;
}

int fb_config_load_string(struct fb_config *cfg, const char *text, const char *name)
{
	config_t lc;
	config_init(&lc);
	int rc = config_read_string(&lc, text) == CONFIG_TRUE ? apply(cfg, &lc, name)
							      : syntax_error(&lc, name);
	config_destroy(&lc);
	return rc;
}
