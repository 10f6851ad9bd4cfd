/* What every `forkbox template` subcommand (and `forkbox run`) works on:
 * the template settings and the store, from the build tree or a
 * configuration file, and a template's inputs (recipe, guest image).
 *
 * In a build tree (./guest/out/vmlinux exists) and without -c: the store
 * guest/out/templates, the kernel and images of guest/out, the recipes of
 * guest/recipes and the rootfs builder guest/rootfs/build.sh (of
 * $FORKBOX_SRCDIR when ./guest/recipes is not there: a build outside the
 * source tree), with the built-in templates (python, node). Otherwise the settings of -c FILE,
 * else of the system forkbox.conf when it exists, else the built-in
 * defaults (docs/CONFIG.md). --store DIR overrides the store. */
#ifndef FORKBOX_CLI_TEMPLATE_SETUP_H
#define FORKBOX_CLI_TEMPLATE_SETUP_H

#include "util/config.h"
#include "util/recipe.h"
#include "vmm/guest_image.h"

#include <stdbool.h>

#define FB_SYSTEM_CONFIG FORKBOX_SYSCONFDIR "/forkbox/forkbox.conf"

struct fb_template_setup {
	struct fb_config cfg;
	const char *source;	   /* "the build tree", the config file, "the built-in defaults" */
	char builder[FB_PATH_MAX]; /* rootfs build script, "" when there is none */
};

/* config: -c FILE or NULL; store: --store DIR or NULL. 0 or -1. */
int fb_template_setup_load(struct fb_template_setup *s, const char *config, const char *store);
void fb_template_setup_free(struct fb_template_setup *s);

/* The recipe and guest image (hashed) of template t; build_rootfs lets a
 * missing root filesystem be built. 0 or -1 (r is freed then). */
int fb_template_setup_inputs(const struct fb_template_setup *s, const struct fb_template_decl *t,
			     bool build_rootfs, struct fb_recipe *r, struct fb_guest_image *img);

/* STORE/NAME.tmpl */
void fb_template_setup_path(const struct fb_template_setup *s, const char *name, char *out,
			    size_t cap);

/* The template serving language, or NULL (fb_error_last() lists them). */
const struct fb_template_decl *fb_template_setup_for_language(const struct fb_template_setup *s,
							      const char *language);

#endif
