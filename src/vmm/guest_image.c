/* Finding (or building) a recipe's guest image and the recipe's files for
 * the guest. */
#include "vmm/guest_image.h"

#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* The package list as build.sh writes it: sorted, one per line. */
static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* What rootfs-NAME.request must say for this recipe. */
static char *expected_request(const struct fb_recipe *r)
{
	char **sorted = calloc(r->n_packages + 1, sizeof(*sorted));
	size_t cap = 64, len;
	for (size_t i = 0; i < r->n_packages; i++)
		cap += strlen(r->packages[i]) + 16;
	char *text = malloc(cap);
	if (!sorted || !text) {
		free(sorted);
		free(text);
		fb_error("out of memory");
		return NULL;
	}
	memcpy(sorted, r->packages, r->n_packages * sizeof(*sorted));
	qsort(sorted, r->n_packages, sizeof(*sorted), compare_names);
	len = (size_t)snprintf(text, cap, "runtime %s\n", r->runtime);
	for (size_t i = 0; i < r->n_packages; i++)
		len += (size_t)snprintf(text + len, cap - len, "package %s\n", sorted[i]);
	free(sorted);
	return text;
}

/* 1 when IMAGE and its .request exist and match, 0 when not (why says
 * what differs), -1 on a read error. */
static int rootfs_matches(const struct fb_recipe *r, const char *image, char *why, size_t cap)
{
	char path[FB_PATH_MAX + 16], got[4096];
	if (access(image, R_OK) < 0) {
		snprintf(why, cap, "%s is missing", image);
		return 0;
	}
	snprintf(path, sizeof(path), "%.*s.request", (int)(strlen(image) - strlen(".cpio.zst")),
		 image);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		snprintf(why, cap, "%s is missing", path);
		return 0;
	}
	if (fd < 0)
		return fb_error_errno("open %s", path);
	ssize_t n = read(fd, got, sizeof(got) - 1);
	close(fd);
	if (n < 0)
		return fb_error_errno("read %s", path);
	got[n] = '\0';
	char *want = expected_request(r);
	if (!want)
		return -1;
	int same = strcmp(got, want) == 0;
	if (!same)
		snprintf(why, cap, "%s was built for other packages or another runtime", image);
	free(want);
	return same;
}

/* builder IMAGES NAME RUNTIME PACKAGE... */
static int run_builder(const struct fb_recipe *r, const struct fb_guest_image_source *src)
{
	char **argv = calloc(r->n_packages + 5, sizeof(*argv));
	if (!argv)
		return fb_error("out of memory");
	argv[0] = (char *)src->builder;
	argv[1] = (char *)src->images;
	argv[2] = (char *)r->name;
	argv[3] = (char *)r->runtime;
	memcpy(argv + 4, r->packages, r->n_packages * sizeof(*argv));
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(STDERR_FILENO, STDOUT_FILENO); /* all of its progress on stderr */
		execv(src->builder, argv);
		dprintf(STDERR_FILENO, "exec %s: %s\n", src->builder, strerror(errno));
		_exit(127);
	}
	free(argv);
	if (pid < 0)
		return fb_error_errno("fork (rootfs builder)");
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return fb_error_errno("waitpid (rootfs builder)");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return fb_error("%s failed (exit status %d; its messages are above)", src->builder,
				WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	return 0;
}

static int need_file(const char *path, const char *what)
{
	if (access(path, R_OK) < 0)
		return fb_error_errno("%s %s", what, path);
	return 0;
}

int fb_guest_image_find(const struct fb_recipe *r, const struct fb_guest_image_source *src,
			bool build, struct fb_guest_image *img)
{
	memset(img, 0, sizeof(*img));
	snprintf(img->kernel, sizeof(img->kernel), "%s", src->kernel);
	snprintf(img->agent, sizeof(img->agent), "%s/%s", src->images, FB_GUEST_AGENT_IMAGE);
	snprintf(img->rootfs, sizeof(img->rootfs), "%s/rootfs-%s.cpio.zst", src->images, r->name);
	if (need_file(img->kernel, "guest kernel") < 0 || need_file(img->agent, "guest agent") < 0)
		return -1;
	char why[FB_PATH_MAX + 128];
	int ok = rootfs_matches(r, img->rootfs, why, sizeof(why));
	if (ok != 0)
		return ok < 0 ? -1 : 0;
	bool can_build = src->builder && access(src->builder, X_OK) == 0;
	if (!build || !can_build)
		return fb_error(
		    "recipe %s: %s; build it (as root, with access to the Debian mirror) "
		    "with `forkbox template image %s`%s",
		    r->name, why, r->name,
		    can_build ? "" : " where guest/rootfs/build.sh is available");
	if (run_builder(r, src) < 0)
		return -1;
	ok = rootfs_matches(r, img->rootfs, why, sizeof(why));
	if (ok == 0)
		return fb_error("recipe %s: %s after %s ran", r->name, why, src->builder);
	return ok < 0 ? -1 : 0;
}

int fb_guest_image_hash(struct fb_guest_image *img)
{
	if (fb_sha256_file(img->kernel, img->kernel_sha256) < 0 ||
	    fb_sha256_file(img->rootfs, img->rootfs_sha256) < 0 ||
	    fb_sha256_file(img->agent, img->agent_sha256) < 0)
		return fb_error_prefix("hash the guest image");
	return 0;
}

/* The three files' contents (malloc'ed). */
struct recipe_files {
	char *recipe, *prelude, *bind;
};

static int recipe_files(const struct fb_recipe *r, struct recipe_files *f)
{
	size_t bind_len = 1;
	for (size_t i = 0; i < r->n_bind; i++)
		bind_len += strlen(r->bind[i]) + 1;
	f->bind = calloc(1, bind_len);
	f->prelude = strdup(r->prelude);
	if (asprintf(&f->recipe, "name=%s\nruntime=%s\nmax_processes=%u\n", r->name, r->runtime,
		     r->max_processes) < 0)
		f->recipe = NULL;
	if (!f->bind || !f->prelude || !f->recipe) {
		free(f->bind), free(f->prelude), free(f->recipe);
		return fb_error("out of memory");
	}
	for (size_t i = 0; i < r->n_bind; i++)
		strcat(strcat(f->bind, r->bind[i]), "\n");
	return 0;
}

static void recipe_files_free(struct recipe_files *f)
{
	free(f->recipe), free(f->prelude), free(f->bind);
}

int fb_guest_image_recipe_cpio(const struct fb_recipe *r, struct fb_cpio *c)
{
	struct recipe_files f;
	fb_cpio_init(c);
	if (recipe_files(r, &f) < 0)
		return -1;
	/* No entry for /etc itself: the rootfs has it (an entry would replace
	 * its mode). */
	int rc =
	    fb_cpio_add_dir(c, "etc/forkbox", 0755) < 0 ||
		    fb_cpio_add_file(c, "etc/forkbox/recipe", 0644, f.recipe, strlen(f.recipe)) <
			0 ||
		    fb_cpio_add_file(c, "etc/forkbox/prelude", 0644, f.prelude, strlen(f.prelude)) <
			0 ||
		    fb_cpio_add_file(c, "etc/forkbox/bind", 0644, f.bind, strlen(f.bind)) < 0 ||
		    fb_cpio_finish(c) < 0
		? -1
		: 0;
	recipe_files_free(&f);
	if (rc < 0)
		fb_cpio_free(c);
	return rc;
}

static int write_file(const char *dir, const char *name, const char *text)
{
	char path[FB_PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "we");
	if (!f)
		return fb_error_errno("open %s", path);
	int bad = fputs(text, f) < 0 && *text;
	if (fclose(f) != 0 || bad)
		return fb_error_errno("write %s", path);
	return 0;
}

int fb_guest_image_recipe_dir(const struct fb_recipe *r, const char *dir)
{
	struct recipe_files f;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return fb_error_errno("mkdir %s", dir);
	if (recipe_files(r, &f) < 0)
		return -1;
	int rc = write_file(dir, "recipe", f.recipe) < 0 ||
			 write_file(dir, "prelude", f.prelude) < 0 ||
			 write_file(dir, "bind", f.bind) < 0
		     ? -1
		     : 0;
	recipe_files_free(&f);
	return rc;
}
