/* The guest image of a template recipe (docs/TEMPLATES.md): what a template
 * build boots. The kernel, and an initramfs made of three parts the guest
 * kernel unpacks in order:
 *
 *   IMAGES/rootfs-NAME.cpio.zst   Debian + the recipe's packages, built by
 *                                 guest/rootfs/build.sh (cached, keyed by
 *                                 its inputs); IMAGES/rootfs-NAME.request
 *                                 says which runtime and packages
 *   IMAGES/overlay.cpio.zst       the agent (/init) and the workers
 *   generated here                /etc/forkbox/{recipe,prelude,bind}
 *
 * The template records the SHA-256 of the first two and of the kernel, and
 * the recipe's own hash (util/recipe.h): a change of any makes it stale. */
#ifndef FORKBOX_VMM_GUEST_IMAGE_H
#define FORKBOX_VMM_GUEST_IMAGE_H

#include "util/config.h"
#include "util/cpio.h"
#include "util/recipe.h"
#include "util/sha256.h"

#include <stdbool.h>
#include <stdio.h>

#define FB_GUEST_AGENT_IMAGE "overlay.cpio.zst"

struct fb_guest_image_source {
	const char *kernel;  /* vmlinux */
	const char *images;  /* directory of the rootfs and agent images */
	const char *builder; /* guest/rootfs/build.sh, to build a missing rootfs; may be NULL */
};

struct fb_guest_image {
	char kernel[FB_PATH_MAX];
	char rootfs[FB_PATH_MAX];
	char agent[FB_PATH_MAX];
	/* By fb_guest_image_hash(): */
	char kernel_sha256[FB_SHA256_HEX];
	char rootfs_sha256[FB_SHA256_HEX];
	char agent_sha256[FB_SHA256_HEX];
};

/* The recipe's files: kernel, agent, and a root filesystem built for its
 * runtime and packages. When the rootfs is missing or was built for other
 * packages, runs src->builder if build is true (it needs root and the
 * Debian mirror; its progress goes to stderr), else fails naming the
 * command that builds it. 0 or -1 with fb_error_last() set. */
int fb_guest_image_find(const struct fb_recipe *r, const struct fb_guest_image_source *src,
			bool build, struct fb_guest_image *img);

/* SHA-256 of the kernel, rootfs and agent files. 0 or -1. */
int fb_guest_image_hash(struct fb_guest_image *img);

/* The recipe's files for the guest (/etc/forkbox/recipe, prelude, bind) as
 * an uncompressed cpio archive, finished. 0 or -1. */
int fb_guest_image_recipe_cpio(const struct fb_recipe *r, struct fb_cpio *c);

/* The same three files written into DIR (created if needed), for running
 * the agent and its workers on the host (tests). 0 or -1. */
int fb_guest_image_recipe_dir(const struct fb_recipe *r, const char *dir);

#endif
