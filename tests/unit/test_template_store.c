/* A recipe's guest image (src/vmm/guest_image.c: finding the root
 * filesystem built for the recipe, the recipe's own files for the guest)
 * and the staleness check of a stored template (src/vmm/template_store.c),
 * without KVM. */
#include "fixture_files.h"
#include "util/error.h"
#include "util/recipe.h"
#include "vmm/guest_image.h"
#include "vmm/template_store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

struct fixture {
	char dir[64];
	struct fb_recipe r;
	struct fb_guest_image_source src;
	char kernel[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	strcpy(f->dir, "/tmp/forkbox-store-test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	test_write_file(f->dir, "vmlinux", "kernel");
	test_write_file(f->dir, "overlay.cpio.zst", "agent");
	test_write_file(f->dir, "rootfs-py.cpio.zst", "rootfs");
	test_write_file(f->dir, "rootfs-py.request",
			"runtime python\npackage python3\npackage python3-numpy\n");
	snprintf(f->kernel, sizeof(f->kernel), "%s/vmlinux", f->dir);
	f->src = (struct fb_guest_image_source){.kernel = f->kernel, .images = f->dir};
	/* Packages in another order than the request: it is sorted. */
	if (fb_recipe_load_string(&f->r,
				  "runtime = \"python\"; languages = [\"py\"];\n"
				  "packages = [\"python3-numpy\", \"python3\"];\n"
				  "prelude = \"import numpy as np\"; bind = [\"np\"];\n",
				  "py") < 0)
		fail_msg("%s", fb_error_last());
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];
	fb_recipe_free(&f->r);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void test_image_found_and_hashed(void **state)
{
	struct fixture *f = *state;
	struct fb_guest_image img;
	if (fb_guest_image_find(&f->r, &f->src, false, &img) < 0)
		fail_msg("%s", fb_error_last());
	assert_non_null(strstr(img.rootfs, "/rootfs-py.cpio.zst"));
	assert_int_equal(fb_guest_image_hash(&img), 0);
	char want[FB_SHA256_HEX];
	fb_sha256_buffer("kernel", 6, want);
	assert_string_equal(img.kernel_sha256, want);
	fb_sha256_buffer("rootfs", 6, want);
	assert_string_equal(img.rootfs_sha256, want);
}

static void test_image_for_other_packages(void **state)
{
	struct fixture *f = *state;
	struct fb_guest_image img;
	test_write_file(f->dir, "rootfs-py.request", "runtime python\npackage python3\n");
	assert_int_equal(fb_guest_image_find(&f->r, &f->src, false, &img), -1);
	assert_non_null(strstr(fb_error_last(), "recipe py: "));
	assert_non_null(strstr(fb_error_last(), "was built for other packages or another runtime"));
	assert_non_null(strstr(fb_error_last(), "`forkbox template image py`"));
	unlink(f->kernel);
	assert_int_equal(fb_guest_image_find(&f->r, &f->src, false, &img), -1);
	assert_non_null(strstr(fb_error_last(), "guest kernel"));
}

/* A missing rootfs with a builder: the builder runs with the recipe's
 * name, runtime and packages (a stand-in script writes what it got). */
static void test_image_built(void **state)
{
	struct fixture *f = *state;
	struct fb_guest_image img;
	char builder[128], script[512];
	char rootfs[128];
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs-py.cpio.zst", f->dir);
	unlink(rootfs);
	snprintf(builder, sizeof(builder), "%s/build.sh", f->dir);
	snprintf(script, sizeof(script),
		 "#!/bin/sh\necho \"$@\" >\"$1/args\"\necho x >\"$1/rootfs-$2.cpio.zst\"\n"
		 "printf 'runtime %%s\\npackage python3\\npackage python3-numpy\\n' \"$3\" "
		 ">\"$1/rootfs-$2.request\"\n");
	test_write_file(f->dir, "build.sh", script);
	assert_int_equal(chmod(builder, 0755), 0);
	f->src.builder = builder;
	if (fb_guest_image_find(&f->r, &f->src, true, &img) < 0)
		fail_msg("%s", fb_error_last());
	char path[256], got[256] = "";
	snprintf(path, sizeof(path), "%s/args", f->dir);
	FILE *a = fopen(path, "r");
	assert_non_null(a);
	assert_non_null(fgets(got, sizeof(got), a));
	fclose(a);
	char want[256];
	snprintf(want, sizeof(want), "%s py python python3-numpy python3\n", f->dir);
	assert_string_equal(got, want);
}

static void test_recipe_files(void **state)
{
	struct fixture *f = *state;
	char dir[128], path[160], text[256];
	snprintf(dir, sizeof(dir), "%s/etc", f->dir);
	assert_int_equal(fb_guest_image_recipe_dir(&f->r, dir), 0);
	const char *want[][2] = {{"recipe", "name=py\nruntime=python\nmax_processes=512\n"},
				 {"prelude", "import numpy as np"},
				 {"bind", "np\n"}};
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, want[i][0]);
		FILE *t = fopen(path, "r");
		assert_non_null(t);
		size_t n = fread(text, 1, sizeof(text) - 1, t);
		fclose(t);
		text[n] = '\0';
		assert_string_equal(text, want[i][1]);
	}
	struct fb_cpio c;
	assert_int_equal(fb_guest_image_recipe_cpio(&f->r, &c), 0);
	assert_memory_equal(c.data, "070701", 6);
	assert_non_null(memmem(c.data, c.len, "etc/forkbox/recipe", 18));
	assert_non_null(memmem(c.data, c.len, "name=py\nruntime=python\n", 23));
	assert_non_null(memmem(c.data, c.len, "TRAILER!!!", 10));
	fb_cpio_free(&c);
}

/* Staleness names every input that changed. */
static void test_stale(void **state)
{
	struct fixture *f = *state;
	struct fb_guest_image img;
	struct fb_stored st = {.name = "py", .recipe = "py", .generation = 4};
	char why[1024];
	assert_int_equal(fb_guest_image_find(&f->r, &f->src, false, &img), 0);
	assert_int_equal(fb_guest_image_hash(&img), 0);
	snprintf(st.recipe_sha256, sizeof(st.recipe_sha256), "%s", f->r.sha256);
	snprintf(st.kernel_sha256, sizeof(st.kernel_sha256), "%s", img.kernel_sha256);
	snprintf(st.rootfs_sha256, sizeof(st.rootfs_sha256), "%s", img.rootfs_sha256);
	snprintf(st.agent_sha256, sizeof(st.agent_sha256), "%s", img.agent_sha256);
	assert_int_equal(fb_stored_compare(&st, &f->r, &img, why, sizeof(why)), 0);
	assert_string_equal(why, "");
	st.recipe_sha256[0] = 'x';
	st.kernel_sha256[0] = 'x';
	assert_int_equal(fb_stored_compare(&st, &f->r, &img, why, sizeof(why)), 1);
	char want[512];
	snprintf(want, sizeof(want), "the recipe py changed; the guest kernel %s changed",
		 f->kernel);
	assert_string_equal(why, want);
	st.recipe_sha256[0] = '\0';
	assert_int_equal(fb_stored_compare(&st, &f->r, &img, why, sizeof(why)), 1);
	assert_non_null(strstr(why, "records no recipe"));
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_image_found_and_hashed),
	    T(test_image_for_other_packages),
	    T(test_image_built),
	    T(test_recipe_files),
	    T(test_stale),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
