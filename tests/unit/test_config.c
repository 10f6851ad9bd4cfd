/* Unit tests for src/util/config.c: defaults, the shipped example, and every
 * class of error with its exact "FILE:LINE: key: reason" message. */
#include "util/config.h"
#include "util/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static int setup_cfg(void **state)
{
	struct fb_config *cfg = malloc(sizeof(*cfg));
	if (!cfg)
		return -1;
	fb_config_defaults(cfg);
	*state = cfg;
	return 0;
}

static int teardown_cfg(void **state)
{
	fb_config_free(*state);
	free(*state);
	return 0;
}

/* Load text as "t.conf"; expect failure with exactly this message. */
static void expect_error(struct fb_config *cfg, const char *text, const char *message)
{
	assert_int_equal(fb_config_load_string(cfg, text, "t.conf"), -1);
	assert_string_equal(fb_error_last(), message);
}

static void expect_ok(struct fb_config *cfg, const char *text)
{
	if (fb_config_load_string(cfg, text, "t.conf") != 0)
		fail_msg("unexpected error: %s", fb_error_last());
}

static char *srcdir_path(const char *rel)
{
	const char *srcdir = getenv("FORKBOX_SRCDIR");
	char *path = NULL;
	assert_non_null(srcdir);
	assert_true(asprintf(&path, "%s/%s", srcdir, rel) > 0);
	return path;
}

static void test_defaults(void **state)
{
	struct fb_config *cfg = *state;
	assert_string_equal(cfg->source, "");
	assert_string_equal(cfg->template_.store, "/var/lib/forkbox/templates");
	assert_string_equal(cfg->template_.kernel, FORKBOX_DATADIR "/vmlinux");
	assert_string_equal(cfg->template_.images, FORKBOX_DATADIR);
	assert_string_equal(cfg->template_.recipes, FORKBOX_DATADIR "/recipes");
	assert_string_equal(cfg->template_.cmdline_extra, "");
	assert_int_equal(cfg->n_templates, 2);
	assert_string_equal(cfg->templates[0].name, "python");
	assert_string_equal(cfg->templates[0].recipe, "python");
	assert_string_equal(cfg->templates[1].name, "node");
	assert_int_equal(cfg->templates[1].max_age_s, 0);
	assert_false(cfg->template_.lock_memory);
	assert_false(cfg->template_.huge_pages);
	assert_true(cfg->template_.prefetch);
	assert_string_equal(cfg->pool.listen, "/run/forkbox/forkbox.sock");
	assert_string_equal(cfg->pool.listen_owner, "www-data");
	assert_string_equal(cfg->pool.listen_group, "www-data");
	assert_int_equal(cfg->pool.listen_mode, 0660);
	assert_null(cfg->pool.allowed_clients);
	assert_int_equal(cfg->pool.n_allowed_clients, 0);
	assert_int_equal(cfg->pool.backlog, 511);
	assert_int_equal(cfg->pool.pm, FB_PM_DYNAMIC);
	assert_int_equal(cfg->pool.max_children, 8);
	assert_int_equal(cfg->pool.start_servers, 2);
	assert_int_equal(cfg->pool.min_spare_servers, 1);
	assert_int_equal(cfg->pool.max_spare_servers, 3);
	assert_int_equal(cfg->pool.max_requests, 500);
	assert_int_equal(cfg->pool.max_parallel_vms, 8);
	assert_int_equal(cfg->pool.queue_timeout_ms, 5000);
	assert_int_equal(cfg->vm_pool.depth, 2);
	assert_int_equal(cfg->vm_pool.threads, 2);
	assert_int_equal(cfg->limits.default_timeout_s, 30);
	assert_int_equal(cfg->limits.max_timeout_s, 300);
	assert_int_equal(cfg->limits.max_body_bytes, 16 * 1024 * 1024);
	assert_int_equal(cfg->limits.max_output_bytes, 16 * 1024 * 1024);
	assert_int_equal(cfg->limits.max_batch, 16);
	assert_string_equal(cfg->auth.keys_file, "");
	assert_int_equal(cfg->auth.rate_limit_per_s, 100);
	assert_string_equal(cfg->log.error_log, "stderr");
	assert_string_equal(cfg->log.level, "notice");
	assert_string_equal(cfg->log.serial_log, "");
	assert_string_equal(cfg->daemon.pid_file, "/run/forkbox/forkbox.pid");
	assert_false(cfg->daemon.daemonize);
	assert_string_equal(cfg->daemon.user, "forkbox");
	assert_string_equal(cfg->daemon.group, "");
	assert_string_equal(cfg->daemon.seccomp, "enforce");
	assert_int_equal(cfg->daemon.rlimit_files, 0);
}

/* The text of conf/forkbox.conf as `make install` writes it: the guest image
 * paths, shown for prefix /usr (the Debian package), become $(pkgdatadir)
 * ("/usr/share/forkbox" followed by '/' or the closing quote). */
static char *installed_example(void)
{
	static const char shipped[] = "\"/usr/share/forkbox";
	char *path = srcdir_path("conf/forkbox.conf"), *text = NULL, *rest, *out, *at;
	FILE *fp = fopen(path, "r");
	size_t len = 0, n = 0;
	assert_non_null(fp);
	assert_true(getdelim(&text, &len, '\0', fp) > 0);
	fclose(fp);
	free(path);
	out = calloc(1, strlen(text) + 4 * strlen(FORKBOX_DATADIR) + 1);
	assert_non_null(out);
	for (rest = text; (at = strstr(rest, shipped)); rest = at + strlen(shipped)) {
		char next = at[strlen(shipped)];
		strncat(out, rest, (size_t)(at - rest));
		if (next == '/' || next == '"') {
			strcat(out, "\"" FORKBOX_DATADIR);
			n++;
		} else {
			strcat(out, shipped);
		}
	}
	assert_int_equal(n, 3); /* template.kernel, template.images, template.recipes */
	strcat(out, rest);
	free(text);
	return out;
}

/* conf/forkbox.conf lists every default: loading it as installed changes nothing. */
static void test_example_conf_is_the_defaults(void **state)
{
	struct fb_config *cfg = *state;
	struct fb_config *defaults = malloc(sizeof(*defaults));
	char *text = installed_example();
	assert_non_null(defaults);
	fb_config_defaults(defaults);
	if (fb_config_load_string(cfg, text, "forkbox.conf") != 0)
		fail_msg("%s", fb_error_last());
	assert_string_equal(cfg->source, "forkbox.conf");
	memset(cfg->source, 0, sizeof(cfg->source));
	assert_memory_equal(cfg, defaults, sizeof(*cfg));
	free(defaults);
	free(text);
}

/* Every "key = " of the example is documented as `group.key` in docs/CONFIG.md. */
static void test_example_keys_documented(void **state)
{
	(void)state;
	char *conf_path = srcdir_path("conf/forkbox.conf"),
	     *doc_path = srcdir_path("docs/CONFIG.md");
	FILE *conf = fopen(conf_path, "r"), *doc = fopen(doc_path, "r");
	static char docs[65536], line[512];
	char group[64] = "", key[64], wanted[160];
	unsigned keys = 0;
	assert_non_null(conf);
	assert_non_null(doc);
	docs[fread(docs, 1, sizeof(docs) - 1, doc)] = '\0';
	while (fgets(line, sizeof(line), conf)) {
		if (sscanf(line, " %63[a-z_] = {", key) == 1 && strchr(line, '{'))
			snprintf(group, sizeof(group), "%s", key);
		else if (line[0] == '\t' && sscanf(line, " %63[a-z_] =", key) == 1) {
			snprintf(wanted, sizeof(wanted), "`%s.%s`", group, key);
			if (!strstr(docs, wanted))
				fail_msg("%s is not documented in docs/CONFIG.md", wanted);
			keys++;
		}
	}
	assert_int_equal(keys, 40); /* every field of struct fb_config */
	fclose(conf);
	fclose(doc);
	free(conf_path);
	free(doc_path);
}

static void test_overlay_values(void **state)
{
	struct fb_config *cfg = *state;
	expect_ok(cfg,
		  "template = { store = \"/srv/t\"; cmdline_extra = \"quiet\"; };\n"
		  "templates = { py = { recipe = \"/etc/r/py.recipe\"; max_age_seconds = 3600;\n"
		  "  max_forks = 1000000; }; };\n"
		  "pool = { listen = \"127.0.0.1:9000\"; pm = \"static\"; listen_mode = \"0600\";\n"
		  "  max_children = 4096; };\n"
		  "limits = { max_body_bytes = 4294967296L; max_output_bytes = 1; };\n"
		  "log = { level = \"debug\"; };\n"
		  "daemon = { daemonize = true; user = \"nobody\"; seccomp = \"log\";\n"
		  "  rlimit_files = 1048576; };\n");
	assert_string_equal(cfg->template_.store, "/srv/t");
	assert_string_equal(cfg->template_.cmdline_extra, "quiet");
	assert_int_equal(cfg->n_templates, 1);
	assert_string_equal(cfg->templates[0].name, "py");
	assert_string_equal(cfg->templates[0].recipe, "/etc/r/py.recipe");
	assert_int_equal(cfg->templates[0].max_age_s, 3600);
	assert_int_equal(cfg->templates[0].max_forks, 1000000);
	char path[FB_PATH_MAX];
	fb_config_recipe_path(cfg, &cfg->templates[0], path, sizeof(path));
	assert_string_equal(path, "/etc/r/py.recipe");
	assert_string_equal(cfg->pool.listen, "127.0.0.1:9000");
	assert_int_equal(cfg->pool.pm, FB_PM_STATIC);
	assert_int_equal(cfg->pool.listen_mode, 0600);
	assert_int_equal(cfg->pool.max_children, 4096);
	assert_int_equal(cfg->limits.max_body_bytes, 4294967296ULL);
	assert_int_equal(cfg->limits.max_output_bytes, 1);
	assert_string_equal(cfg->log.level, "debug");
	assert_true(cfg->daemon.daemonize);
	assert_string_equal(cfg->daemon.user, "nobody");
	assert_string_equal(cfg->daemon.seccomp, "log");
	assert_int_equal(cfg->daemon.rlimit_files, 1048576);
	assert_string_equal(cfg->pool.listen_owner, "www-data"); /* untouched keys keep defaults */
	assert_string_equal(cfg->source, "t.conf");
}

static void test_allowed_clients(void **state)
{
	struct fb_config *cfg = *state;
	expect_ok(cfg, "pool = { listen_allowed_clients = [\"127.0.0.1\", \"::1\"]; };");
	assert_int_equal(cfg->pool.n_allowed_clients, 2);
	assert_string_equal(cfg->pool.allowed_clients[0], "127.0.0.1");
	assert_string_equal(cfg->pool.allowed_clients[1], "::1");
	/* A second file replaces the list (the old one is freed: ASan checks). */
	expect_ok(cfg, "pool = { listen_allowed_clients = (\"10.0.0.1\"); };");
	assert_int_equal(cfg->pool.n_allowed_clients, 1);
	assert_string_equal(cfg->pool.allowed_clients[0], "10.0.0.1");
	/* A file without the key keeps it. */
	expect_ok(cfg, "pool = { max_children = 9; };");
	assert_int_equal(cfg->pool.n_allowed_clients, 1);
	expect_ok(cfg, "pool = { listen_allowed_clients = []; };");
	assert_null(cfg->pool.allowed_clients);
	assert_int_equal(cfg->pool.n_allowed_clients, 0);
}

static void test_allowed_clients_errors(void **state)
{
	struct fb_config *cfg = *state;
	expect_error(
	    cfg, "pool = {\n listen_allowed_clients = (\"a\", 5); };",
	    "t.conf:2: pool.listen_allowed_clients: element 2: expected a non-empty string");
	expect_error(
	    cfg, "pool = {\n listen_allowed_clients = (\"a\", \"\"); };",
	    "t.conf:2: pool.listen_allowed_clients: element 2: expected a non-empty string");
	expect_error(cfg, "pool = { listen_allowed_clients = \"127.0.0.1\"; };",
		     "t.conf:1: pool.listen_allowed_clients: expected an array of strings, got a "
		     "string");
	/* A failing file leaves an earlier list in place. */
	expect_ok(cfg, "pool = { listen_allowed_clients = [\"x\"]; };");
	expect_error(cfg, "pool = { listen_allowed_clients = [\"y\"];\n max_children = 0; };",
		     "t.conf:2: pool.max_children: must be between 1 and 4096 (got 0)");
	assert_int_equal(cfg->pool.n_allowed_clients, 1);
	assert_string_equal(cfg->pool.allowed_clients[0], "x");
}

static void test_syntax_error(void **state)
{
	struct fb_config *cfg = *state;
	expect_error(cfg, "pool = {\n  max_children = 8;\n  pm = ;\n};", "t.conf:3: syntax error");
	expect_error(cfg, "pool = { max_children = 1; max_children = 2; };",
		     "t.conf:1: duplicate setting name");
}

static void test_unknown_key_and_group(void **state)
{
	struct fb_config *cfg = *state;
	expect_error(cfg, "pool = {\n\n  max_childs = 8;\n};",
		     "t.conf:3: unknown setting pool.max_childs");
	expect_error(cfg, "log = { level = \"info\"; };\npools = { max_children = 8; };",
		     "t.conf:2: unknown group \"pools\" (groups: template, templates, pool, "
		     "vm_pool, limits, "
		     "auth, log, daemon)");
	expect_error(
	    cfg, "max_children = 8;",
	    "t.conf:1: unknown setting \"max_children\" (groups: template, templates, pool, "
	    "vm_pool, limits, auth, log, daemon)");
	expect_error(cfg, "pool = 8;", "t.conf:1: pool: expected a group { ... }, got an integer");
	expect_error(cfg, "pool = { limits = { max_batch = 2; }; };",
		     "t.conf:1: unknown setting pool.limits");
}

static void test_type_errors(void **state)
{
	struct fb_config *cfg = *state;
	expect_error(cfg, "pool = {\n max_children = \"8\"; };",
		     "t.conf:2: pool.max_children: expected an integer, got a string");
	expect_error(cfg, "limits = { max_timeout_seconds = 1.5; };",
		     "t.conf:1: limits.max_timeout_seconds: expected an integer, got a float");
	expect_error(cfg, "daemon = { daemonize = \"yes\"; };",
		     "t.conf:1: daemon.daemonize: expected true or false, got a string");
	expect_error(cfg, "template = { kernel = 5; };",
		     "t.conf:1: template.kernel: expected a string, got an integer");
	expect_error(cfg, "template = { path = \"/x.tmpl\"; };",
		     "t.conf:1: template.path: replaced by template.store (templates are "
		     "STORE/NAME.tmpl) and the templates group");
	expect_error(
	    cfg, "templates = { Bad = { }; };",
	    "t.conf:1: templates.Bad: a template name is 1 to 31 lowercase letters, digits, "
	    "_ and -");
	expect_error(cfg, "templates = { a = { recipe = 1; }; };",
		     "t.conf:1: templates.a.recipe: expected a recipe name or path");
	expect_error(cfg, "templates = { a = { size = 1; }; };",
		     "t.conf:1: unknown setting templates.a.size (recipe, path, max_age_seconds, "
		     "max_forks)");
	expect_error(cfg, "pool = { listen_mode = 0660; };",
		     "t.conf:1: pool.listen_mode: expected an octal string like \"0660\", got an "
		     "integer");
	expect_error(cfg, "pool = { pm = true; };",
		     "t.conf:1: pool.pm: expected a string, got a boolean");
	expect_error(cfg, "daemon = { seccomp = \"strict\"; };",
		     "t.conf:1: daemon.seccomp: \"strict\" is not one of enforce, log, off");
	expect_error(cfg, "daemon = { seccomp = false; };",
		     "t.conf:1: daemon.seccomp: expected a string, got a boolean");
	expect_error(cfg, "daemon = {\n rlimit_files = 1048577; };",
		     "t.conf:2: daemon.rlimit_files: must be between 0 and 1048576 (got 1048577)");
}

static void test_range_errors(void **state)
{
	struct fb_config *cfg = *state;
	expect_error(cfg, "pool = { max_children = 0; };",
		     "t.conf:1: pool.max_children: must be between 1 and 4096 (got 0)");
	expect_error(cfg, "pool = { max_children = 4097; };",
		     "t.conf:1: pool.max_children: must be between 1 and 4096 (got 4097)");
	expect_error(
	    cfg, "limits = {\n max_body_bytes = 0; };",
	    "t.conf:2: limits.max_body_bytes: must be between 1 and 1099511627776 (got 0)");
	expect_error(
	    cfg, "limits = { max_output_bytes = -5; };",
	    "t.conf:1: limits.max_output_bytes: must be between 1 and 1099511627776 (got -5)");
	expect_error(cfg, "templates = { a = { max_forks = -1; }; };",
		     "t.conf:1: max_forks: must be between 0 and 1125899906842624 (got -1)");
	expect_error(cfg, "vm_pool = { depth = 1025; };",
		     "t.conf:1: vm_pool.depth: must be between 0 and 1024 (got 1025)");
	expect_error(cfg, "vm_pool = { threads = 0; };",
		     "t.conf:1: vm_pool.threads: must be between 1 and 64 (got 0)");
	expect_error(cfg, "pool = { listen_mode = \"0960\"; };",
		     "t.conf:1: pool.listen_mode: \"0960\" is not an octal file mode between 0 and "
		     "0777");
	expect_error(
	    cfg, "pool = { listen_mode = \"01777\"; };",
	    "t.conf:1: pool.listen_mode: \"01777\" is not an octal file mode between 0 and "
	    "0777");
	expect_error(
	    cfg, "pool = { listen_mode = \"\"; };",
	    "t.conf:1: pool.listen_mode: \"\" is not an octal file mode between 0 and 0777");
	expect_error(cfg, "pool = { pm = \"ondemand\"; };",
		     "t.conf:1: pool.pm: \"ondemand\" is not \"static\" or \"dynamic\"");
	expect_error(cfg, "log = { level = \"verbose\"; };",
		     "t.conf:1: log.level: \"verbose\" is not one of error, warning, notice, info, "
		     "debug");
	expect_error(cfg, "pool = { listen = \"\"; };", "t.conf:1: pool.listen: must not be empty");
}

static void test_string_too_long(void **state)
{
	struct fb_config *cfg = *state;
	char text[200];
	snprintf(text, sizeof(text), "daemon = { user = \"%064d\"; };", 0);
	expect_error(cfg, text, "t.conf:1: daemon.user: too long (at most 63 bytes)");
	snprintf(text, sizeof(text), "daemon = { user = \"%063d\"; };", 0);
	expect_ok(cfg, text);
}

static void test_pool_rules(void **state)
{
	struct fb_config *cfg = *state;
	expect_error(cfg, "pool = {\n min_spare_servers = 3;\n max_spare_servers = 2; };",
		     "t.conf:2: pool.min_spare_servers: min_spare_servers (3) must not exceed "
		     "max_spare_servers (2)");
	/* Only max_spare_servers set: the message points at it. */
	expect_error(cfg, "pool = {\n\n max_spare_servers = 9; };",
		     "t.conf:3: pool.max_spare_servers: max_spare_servers (9) must not exceed "
		     "max_children (8)");
	expect_error(cfg, "pool = {\n max_children = 2; };",
		     "t.conf:2: pool.max_children: max_spare_servers (3) must not exceed "
		     "max_children (2)");
	expect_error(cfg, "pool = { start_servers = 4; };",
		     "t.conf:1: pool.start_servers: start_servers (4) must be between "
		     "min_spare_servers (1) and max_spare_servers (3)");
	expect_error(cfg, "pool = {\n min_spare_servers = 3; };",
		     "t.conf:2: pool.min_spare_servers: start_servers (2) must be between "
		     "min_spare_servers (3) and max_spare_servers (3)");
	/* The spare rules only apply to pm = dynamic. */
	expect_ok(cfg, "pool = { pm = \"static\"; max_children = 1; start_servers = 5; };");
	assert_int_equal(cfg->pool.max_children, 1);
}

static void test_timeout_rule(void **state)
{
	struct fb_config *cfg = *state;
	expect_error(cfg, "limits = {\n max_timeout_seconds = 10; };",
		     "t.conf:2: limits.max_timeout_seconds: default_timeout_seconds (30) must not "
		     "exceed max_timeout_seconds (10)");
	expect_error(cfg,
		     "limits = { max_timeout_seconds = 100;\n default_timeout_seconds = 200; };",
		     "t.conf:2: limits.default_timeout_seconds: default_timeout_seconds (200) must "
		     "not exceed max_timeout_seconds (100)");
	expect_ok(cfg, "limits = { max_timeout_seconds = 10; default_timeout_seconds = 10; };");
}

/* A failed load leaves the configuration exactly as it was. */
static void test_failed_load_changes_nothing(void **state)
{
	struct fb_config *cfg = *state;
	struct fb_config *before = malloc(sizeof(*before));
	assert_non_null(before);
	memcpy(before, cfg, sizeof(*before));
	expect_error(cfg, "pool = { max_children = 100; max_requests = 7;\n pm = \"x\"; };",
		     "t.conf:2: pool.pm: \"x\" is not \"static\" or \"dynamic\"");
	assert_memory_equal(cfg, before, sizeof(*cfg));
	free(before);
}

static void test_file_errors_name_the_file(void **state)
{
	struct fb_config *cfg = *state;
	char path[] = "/tmp/forkbox-test-config-XXXXXX";
	int fd = mkstemp(path);
	static const char text[] = "# comment\npool = {\n  backlog = 5;\n};\n";
	char want[128];
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, sizeof(text) - 1), sizeof(text) - 1);
	close(fd);
	assert_int_equal(fb_config_load(cfg, path), -1);
	snprintf(want, sizeof(want), "%s:3: unknown setting pool.backlog", path);
	assert_string_equal(fb_error_last(), want);
	unlink(path);
	assert_int_equal(fb_config_load(cfg, path), -1);
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	assert_string_equal(fb_error_last(), want);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_cfg, teardown_cfg)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_defaults),
	    T(test_example_conf_is_the_defaults),
	    T(test_example_keys_documented),
	    T(test_overlay_values),
	    T(test_allowed_clients),
	    T(test_allowed_clients_errors),
	    T(test_syntax_error),
	    T(test_unknown_key_and_group),
	    T(test_type_errors),
	    T(test_range_errors),
	    T(test_string_too_long),
	    T(test_pool_rules),
	    T(test_timeout_rule),
	    T(test_failed_load_changes_nothing),
	    T(test_file_errors_name_the_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
