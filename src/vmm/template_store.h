/* The template store: a directory of templates, one file per template
 * name, STORE/NAME.tmpl (docs/TEMPLATES.md). Each records, in its metadata
 * section, what it was built from: the recipe and its hash, the SHA-256 of
 * the guest kernel, root filesystem and agent, and its generation (1 for
 * the first build of NAME, one more at each rebuild); the header holds the
 * CPU fingerprint, the metadata the build time. A build writes NAME.tmpl
 * atomically (a temporary file renamed over it): a running server keeps
 * the generation it opened until it loads the new one. */
#ifndef FORKBOX_VMM_TEMPLATE_STORE_H
#define FORKBOX_VMM_TEMPLATE_STORE_H

#include "util/recipe.h"
#include "vmm/boot.h"
#include "vmm/guest_image.h"
#include "vmm/kvm.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define FB_STORE_SUFFIX ".tmpl"

/* Metadata keys of a stored template (besides template_file.h's). */
#define FB_META_TEMPLATE     "template"
#define FB_META_GENERATION   "generation"
#define FB_META_RECIPE	     "recipe"
#define FB_META_RECIPE_HASH  "recipe_sha256"
#define FB_META_RUNTIME	     "runtime"
#define FB_META_ROOTFS_HASH  "rootfs_sha256"
#define FB_META_AGENT_HASH   "agent_sha256"
#define FB_META_CREATED_UNIX "created_unix"

/* What a stored template says about itself. */
struct fb_stored {
	char path[FB_PATH_MAX];
	char name[FB_RECIPE_NAME_MAX];
	unsigned generation;
	char created[32]; /* ISO 8601 UTC */
	int64_t created_unix;
	char recipe[FB_RECIPE_NAME_MAX];
	char runtime[8];
	char recipe_sha256[FB_SHA256_HEX];
	char kernel_sha256[FB_SHA256_HEX];
	char rootfs_sha256[FB_SHA256_HEX];
	char agent_sha256[FB_SHA256_HEX];
	uint64_t cpu_fingerprint;
	uint64_t memory_bytes;
	uint64_t file_bytes;
};

/* STORE/NAME.tmpl */
void fb_store_path(const char *store, const char *name, char *out, size_t cap);

/* Open PATH (structure and section checks, not the memory checksum) and
 * read its metadata. 0, or -1 with fb_error_last() set ("...: No such file
 * or directory" when missing: errno is ENOENT then). */
int fb_stored_read(const char *path, struct fb_stored *st);

/* Compare a stored template with what it would be built from now: 0 when
 * it is current, 1 when stale, with why naming each input that changed
 * ("the recipe python changed; the guest kernel changed"). */
int fb_stored_compare(const struct fb_stored *st, const struct fb_recipe *r,
		      const struct fb_guest_image *img, char *why, size_t cap);

struct fb_store_build_options {
	const char *kernel_cmdline; /* NULL: the kernel's default */
	double ready_timeout_s;
	int console_fd;	    /* guest console copy, -1 drops it */
	FILE *progress;	    /* progress lines, or NULL */
	const char *output; /* NULL: STORE/NAME.tmpl; else this file (store unused) */
	/* Boot this initramfs (then the recipe's files) instead of the image's
	 * rootfs and agent (for experts and tests); NULL normally. */
	const char *initramfs;
	bool no_working_set; /* do not record the recipe's working set */
};

/* Boot the recipe's guest image (hashed in img) and write template NAME
 * into the store, as generation (the stored one's + 1, else 1). 0 or -1. */
int fb_store_build(const struct fb_kvm *kvm, const char *store, const char *name,
		   const struct fb_recipe *r, const struct fb_guest_image *img,
		   const struct fb_store_build_options *opts);

/* What template t of cfg is built from now: its recipe, and its guest
 * image (hashed). builder (may be NULL): the rootfs build script, run when
 * build_rootfs and the recipe's root filesystem is missing. 0, or -1 with
 * fb_error_last() set (r is freed then). */
int fb_store_inputs(const struct fb_config *cfg, const struct fb_template_decl *t,
		    const char *builder, bool build_rootfs, struct fb_recipe *r,
		    struct fb_guest_image *img);

/* The kernel command line for builds: "" (the kernel's default) without
 * template.cmdline_extra, else the default followed by it. 0 or -1 (too
 * long). */
int fb_store_cmdline(const struct fb_config *cfg, const char *kernel,
		     char out[FB_BOOT_CMDLINE_MAX]);

/* Rebuild template t of cfg into its file, as `forkbox template build`
 * would (what a server's rotation runs in a child process): a new
 * generation from the same recipe and guest image, with a fresh boot.
 * Never builds a root filesystem. 0 or -1 with fb_error_last() set. */
int fb_store_rebuild(const struct fb_config *cfg, const struct fb_template_decl *t, FILE *progress);

/* Whether template t of cfg is stale: 1 with why naming what changed
 * since it was built, 0 when current, -1 when that cannot be told (its
 * recipe or guest image missing; why says so). Hashes the guest image. */
int fb_store_stale(const struct fb_config *cfg, const struct fb_template_decl *t, char *why,
		   size_t cap);

/* Remove STORE/NAME.tmpl. 0, or -1 (ENOENT: "no template NAME in STORE"). */
int fb_store_remove(const char *store, const char *name);

#endif
