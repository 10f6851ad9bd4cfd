/* Template recipes (src/util/recipe.c) and the writers they rely on:
 * SHA-256 (src/util/sha256.c) against FIPS 180-4's examples and a cpio
 * archive (src/util/cpio.c) read back field by field. */
#include "util/cpio.h"
#include "util/error.h"
#include "util/recipe.h"
#include "util/sha256.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const char *const minimal = "runtime = \"python\"; languages = [\"python\"];\n"
				   "packages = [\"python3\"];\n";

static void load_ok(struct fb_recipe *r, const char *text)
{
	if (fb_recipe_load_string(r, text, "t") < 0)
		fail_msg("%s", fb_error_last());
}

static void expect_error(const char *text, const char *want)
{
	struct fb_recipe r;
	assert_int_equal(fb_recipe_load_string(&r, text, "t"), -1);
	if (!strstr(fb_error_last(), want))
		fail_msg("got \"%s\", want \"%s\"", fb_error_last(), want);
}

static void test_shipped_python(void **state)
{
	(void)state;
	struct fb_recipe r;
	char path[4096];
	const char *src = getenv("FORKBOX_SRCDIR");
	snprintf(path, sizeof(path), "%s/guest/recipes/python.recipe", src ? src : ".");
	if (fb_recipe_load(&r, path) < 0)
		fail_msg("%s", fb_error_last());
	assert_string_equal(r.name, "python");
	assert_string_equal(r.runtime, "python");
	assert_true(fb_recipe_serves(&r, "python3"));
	assert_false(fb_recipe_serves(&r, "node"));
	assert_int_equal(r.n_bind, 2);
	assert_string_equal(r.bind[1], "np");
	assert_non_null(strstr(r.prelude, "import numpy as np"));
	assert_int_equal(r.memory_mb, 512);
	assert_int_equal(r.max_processes, 512);
	assert_int_equal(r.n_working_set, 2);
	assert_int_equal(strlen(r.sha256), 64);
	fb_recipe_free(&r);
}

static void test_defaults_and_limits(void **state)
{
	(void)state;
	struct fb_recipe r;
	load_ok(&r, minimal);
	assert_string_equal(r.prelude, "");
	assert_int_equal(r.n_bind, 0);
	assert_int_equal(r.memory_mb, 512);
	assert_int_equal(r.timeout_s, 0);
	fb_recipe_free(&r);
	load_ok(&r, "runtime = \"node\"; languages = [\"node\", \"js\"]; packages = [\"nodejs\"];\n"
		    "memory_mb = 256; limits = { max_processes = 64; timeout_seconds = 5;\n"
		    "max_timeout_seconds = 10; };\n");
	assert_int_equal(r.memory_mb, 256);
	assert_int_equal(r.max_processes, 64);
	assert_int_equal(r.timeout_s, 5);
	assert_int_equal(r.max_timeout_s, 10);
	fb_recipe_free(&r);
}

/* What goes into the guest changes the hash; layout, comments and what
 * only the server uses (languages, timeouts) do not. */
static void test_hash(void **state)
{
	(void)state;
	struct fb_recipe a, b;
	load_ok(&a, minimal);
	load_ok(&b, "# a comment\npackages = [\"python3\"];\nlanguages = [\"python\", \"py\"];\n"
		    "runtime = \"python\"; limits = { timeout_seconds = 3; };\n");
	assert_string_equal(a.sha256, b.sha256);
	fb_recipe_free(&b);
	const char *changed[] = {
	    "runtime = \"python\"; languages = [\"python\"]; packages = [\"python3\", \"x\"];",
	    "runtime = \"node\"; languages = [\"python\"]; packages = [\"python3\"];",
	    "runtime = \"python\"; languages = [\"python\"]; packages = [\"python3\"];"
	    "prelude = \"import os\";",
	    "runtime = \"python\"; languages = [\"python\"]; packages = [\"python3\"];"
	    "prelude = \"import os\"; bind = [\"os\"];",
	    "runtime = \"python\"; languages = [\"python\"]; packages = [\"python3\"];"
	    "memory_mb = 1024;",
	    "runtime = \"python\"; languages = [\"python\"]; packages = [\"python3\"];"
	    "working_set = [\"print(1)\"];",
	    "runtime = \"python\"; languages = [\"python\"]; packages = [\"python3\"];"
	    "limits = { max_processes = 10; };",
	};
	for (size_t i = 0; i < sizeof(changed) / sizeof(changed[0]); i++) {
		load_ok(&b, changed[i]);
		if (!strcmp(a.sha256, b.sha256))
			fail_msg("same hash for: %s", changed[i]);
		fb_recipe_free(&b);
	}
	fb_recipe_free(&a);
}

static void test_errors(void **state)
{
	(void)state;
	expect_error("languages = [\"python\"]; packages = [\"python3\"];", "t: runtime: missing");
	expect_error("runtime = \"ruby\";", "t:1: runtime: \"ruby\" is not \"python\" or \"node\"");
	expect_error("runtime = \"python\"; languages = [\"Py!\"];",
		     "t:1: languages: \"Py!\" is not a language name");
	expect_error("runtime = \"python\"; languages = [\"py\", \"py\"];",
		     "t:1: languages: \"py\" appears twice");
	expect_error("runtime = \"python\"; languages = [\"py\"]; packages = [\"a b\"];",
		     "t:1: packages: \"a b\" is not a Debian package name");
	expect_error("runtime = \"python\"; languages = [\"py\"]; packages = [\"p\"];\n"
		     "bind = [\"__import__\"];",
		     "t:2: bind: \"__import__\" is not a name the code could use");
	expect_error("runtime = \"python\";\nmemory_mb = 8;", "t:2: memory_mb: must be between 64");
	expect_error("runtime = \"python\";\nlimits = { cpus = 2; };", "t:2: cpus: unknown limit");
	expect_error("runtime = \"python\";\nflavour = 1;", "t:2: flavour: unknown setting");
	expect_error("runtime = \"python\"; languages = [\"py\"]; packages = [\"p\"];\n"
		     "limits = { timeout_seconds = 9; max_timeout_seconds = 5; };",
		     "limits.timeout_seconds (9) exceeds limits.max_timeout_seconds (5)");
	expect_error("runtime = ", "t:1: syntax error");
	struct fb_recipe r;
	assert_int_equal(fb_recipe_load(&r, "/nonexistent/x.recipe"), -1);
	assert_non_null(strstr(fb_error_last(), "recipe /nonexistent/x.recipe: No such file"));
	assert_int_equal(fb_recipe_load(&r, "/tmp/Bad Name.recipe"), -1);
	assert_non_null(strstr(fb_error_last(), "recipe name 'Bad Name'"));
}

static void test_sha256(void **state)
{
	(void)state;
	char hex[FB_SHA256_HEX];
	fb_sha256_buffer("abc", 3, hex);
	assert_string_equal(hex,
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	fb_sha256_buffer("", 0, hex);
	assert_string_equal(hex,
			    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	fb_sha256_buffer(two, strlen(two), hex);
	assert_string_equal(hex,
			    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	/* A million 'a's, fed in uneven pieces: the streaming path. */
	struct fb_sha256 s;
	char chunk[997];
	memset(chunk, 'a', sizeof(chunk));
	fb_sha256_init(&s);
	for (size_t left = 1000000; left;) {
		size_t n = left < sizeof(chunk) ? left : sizeof(chunk);
		fb_sha256_update(&s, chunk, n);
		left -= n;
	}
	fb_sha256_hex(&s, hex);
	assert_string_equal(hex,
			    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static unsigned field(const uint8_t *h, int i)
{
	char hex[9];
	memcpy(hex, h + 6 + 8 * i, 8);
	hex[8] = '\0';
	return (unsigned)strtoul(hex, NULL, 16);
}

static void test_cpio(void **state)
{
	(void)state;
	struct fb_cpio c;
	fb_cpio_init(&c);
	assert_int_equal(fb_cpio_add_dir(&c, "etc/forkbox", 0755), 0);
	assert_int_equal(fb_cpio_add_file(&c, "etc/forkbox/bind", 0644, "np\n", 3), 0);
	assert_int_equal(fb_cpio_finish(&c), 0);
	assert_int_equal(c.len % 4, 0);
	const uint8_t *p = c.data;
	const char *names[] = {"etc/forkbox", "etc/forkbox/bind", "TRAILER!!!"};
	unsigned modes[] = {040755, 0100644, 0}, sizes[] = {0, 3, 0};
	for (int e = 0; e < 3; e++) {
		assert_memory_equal(p, "070701", 6);
		assert_int_equal(field(p, 1), modes[e]);
		assert_int_equal(field(p, 2), 0); /* uid */
		assert_int_equal(field(p, 6), sizes[e]);
		unsigned namesize = field(p, 11);
		assert_int_equal(namesize, strlen(names[e]) + 1);
		assert_string_equal((const char *)p + 110, names[e]);
		size_t off = (110 + namesize + 3) & ~3u;
		if (sizes[e])
			assert_memory_equal(p + off, "np\n", 3);
		p += (off + sizes[e] + 3) & ~3u;
	}
	assert_ptr_equal(p, c.data + c.len);
	fb_cpio_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_shipped_python), cmocka_unit_test(test_defaults_and_limits),
	    cmocka_unit_test(test_hash),	   cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_sha256),	   cmocka_unit_test(test_cpio),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
