/* The template store: NAME.tmpl files with the metadata of what each was
 * built from; staleness; builds into the store. */
#include "vmm/template_store.h"

#include "util/error.h"
#include "vmm/snapshot/template_file.h"
#include "vmm/template_build.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void fb_store_path(const char *store, const char *name, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%s%s", store, name, FB_STORE_SUFFIX);
}

static void copy_meta(const struct fb_template *t, const char *key, char *out, size_t cap)
{
	const char *v = fb_template_meta(t, key);
	snprintf(out, cap, "%s", v ? v : "");
}

int fb_stored_read(const char *path, struct fb_stored *st)
{
	struct fb_template *t;
	memset(st, 0, sizeof(*st));
	snprintf(st->path, sizeof(st->path), "%s", path);
	if (fb_template_open(path, &t) < 0)
		return -1;
	char number[32];
	copy_meta(t, FB_META_TEMPLATE, st->name, sizeof(st->name));
	copy_meta(t, FB_META_CREATED, st->created, sizeof(st->created));
	copy_meta(t, FB_META_RECIPE, st->recipe, sizeof(st->recipe));
	copy_meta(t, FB_META_RUNTIME, st->runtime, sizeof(st->runtime));
	copy_meta(t, FB_META_RECIPE_HASH, st->recipe_sha256, sizeof(st->recipe_sha256));
	copy_meta(t, FB_META_KERNEL_HASH, st->kernel_sha256, sizeof(st->kernel_sha256));
	copy_meta(t, FB_META_ROOTFS_HASH, st->rootfs_sha256, sizeof(st->rootfs_sha256));
	copy_meta(t, FB_META_AGENT_HASH, st->agent_sha256, sizeof(st->agent_sha256));
	copy_meta(t, FB_META_GENERATION, number, sizeof(number));
	st->generation = (unsigned)strtoul(number, NULL, 10);
	copy_meta(t, FB_META_CREATED_UNIX, number, sizeof(number));
	st->created_unix = strtoll(number, NULL, 10);
	st->cpu_fingerprint = fb_template_cpuid_fingerprint(t);
	st->memory_bytes = fb_template_mem_size(t);
	st->file_bytes = fb_template_file_size(t);
	fb_template_close(t);
	return 0;
}

static void add_reason(char *why, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_reason(char *why, size_t cap, const char *fmt, ...)
{
	size_t len = strlen(why);
	if (len && len + 2 < cap)
		snprintf(why + len, cap - len, "; "), len += 2;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why + len, cap - len, fmt, ap);
	va_end(ap);
}

int fb_stored_compare(const struct fb_stored *st, const struct fb_recipe *r,
		      const struct fb_guest_image *img, char *why, size_t cap)
{
	why[0] = '\0';
	if (!st->recipe_sha256[0]) {
		snprintf(why, cap, "it records no recipe (built by an older forkbox or by hand)");
		return 1;
	}
	if (strcmp(st->recipe, r->name) != 0)
		add_reason(why, cap, "it was built from recipe %s", st->recipe);
	else if (strcmp(st->recipe_sha256, r->sha256) != 0)
		add_reason(why, cap, "the recipe %s changed", r->path);
	if (strcmp(st->kernel_sha256, img->kernel_sha256) != 0)
		add_reason(why, cap, "the guest kernel %s changed", img->kernel);
	if (strcmp(st->rootfs_sha256, img->rootfs_sha256) != 0)
		add_reason(why, cap, "the root filesystem %s changed", img->rootfs);
	if (strcmp(st->agent_sha256, img->agent_sha256) != 0)
		add_reason(why, cap, "the guest agent %s changed", img->agent);
	return why[0] ? 1 : 0;
}

/* The generation after the stored one (1 when there is none). */
static unsigned next_generation(const char *path)
{
	struct fb_stored st;
	if (fb_stored_read(path, &st) < 0)
		return 1;
	return st.generation + 1;
}

int fb_store_build(const struct fb_kvm *kvm, const char *store, const char *name,
		   const struct fb_recipe *r, const struct fb_guest_image *img,
		   const struct fb_store_build_options *opts)
{
	char path[FB_PATH_MAX + 64];
	if (opts->output)
		snprintf(path, sizeof(path), "%s", opts->output);
	else
		fb_store_path(store, name, path, sizeof(path));
	struct fb_cpio recipe_cpio;
	if (fb_guest_image_recipe_cpio(r, &recipe_cpio) < 0)
		return -1;
	char generation[16], created[24];
	snprintf(generation, sizeof(generation), "%u", next_generation(path));
	snprintf(created, sizeof(created), "%lld", (long long)time(NULL));
	const struct fb_template_kv meta[] = {
	    {FB_META_TEMPLATE, name},
	    {FB_META_GENERATION, generation},
	    {FB_META_CREATED_UNIX, created},
	    {FB_META_RECIPE, r->name},
	    {FB_META_RECIPE_HASH, r->sha256},
	    {FB_META_RUNTIME, r->runtime},
	    {FB_META_KERNEL_HASH, img->kernel_sha256},
	    {FB_META_ROOTFS_HASH, img->rootfs_sha256},
	    {FB_META_AGENT_HASH, img->agent_sha256},
	};
	const char *parts[] = {img->rootfs, img->agent};
	if (opts->initramfs)
		parts[0] = opts->initramfs;
	struct fb_template_build_options bo = {
	    .output = path,
	    .kernel = img->kernel,
	    .parts = parts,
	    .n_parts = opts->initramfs ? 1 : 2,
	    .extra = recipe_cpio.data,
	    .extra_len = recipe_cpio.len,
	    .meta = meta,
	    .nr_meta = sizeof(meta) / sizeof(meta[0]),
	    .cmdline = opts->kernel_cmdline,
	    .mem_size = (uint64_t)r->memory_mb << 20,
	    .ready_timeout_s = opts->ready_timeout_s > 0 ? opts->ready_timeout_s : 300,
	    .console_fd = opts->console_fd,
	    .progress = opts->progress,
	    .working_set_codes = (const char *const *)r->working_set,
	    .n_working_set_codes = opts->no_working_set ? 0 : r->n_working_set,
	};
	if (opts->progress)
		fprintf(opts->progress, "template %s: generation %s from recipe %s (%s)\n", name,
			generation, r->name, r->path);
	int rc = fb_template_build(kvm, &bo);
	fb_cpio_free(&recipe_cpio);
	return rc < 0 ? fb_error_prefix("template %s", name) : 0;
}

int fb_store_remove(const char *store, const char *name)
{
	char path[FB_PATH_MAX + 64];
	fb_store_path(store, name, path, sizeof(path));
	if (unlink(path) < 0) {
		if (errno == ENOENT)
			return fb_error("no template %s in %s", name, store);
		return fb_error_errno("remove %s", path);
	}
	return 0;
}
