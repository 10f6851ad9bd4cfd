#include "cli/template_setup.h"

#include "util/error.h"
#include "vmm/template_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TREE_KERNEL  "guest/out/vmlinux"
#define TREE_IMAGES  "guest/out"
#define TREE_STORE   "guest/out/templates"
#define TREE_RECIPES "guest/recipes"
#define TREE_BUILDER "guest/rootfs/build.sh"
#define DATA_BUILDER FORKBOX_DATADIR "/rootfs/build.sh"

static void set(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src);
}

int fb_template_setup_load(struct fb_template_setup *s, const char *config, const char *store)
{
	memset(s, 0, sizeof(*s));
	fb_config_defaults(&s->cfg);
	if (!config && access(TREE_KERNEL, R_OK) == 0) {
		/* A build outside the source tree finds the recipes and the
		 * rootfs builder through $FORKBOX_SRCDIR (make sets it). */
		const char *src = getenv("FORKBOX_SRCDIR");
		if (!src || !*src || access(TREE_RECIPES, F_OK) == 0)
			src = ".";
		s->source = "the build tree";
		set(s->cfg.template_.kernel, FB_PATH_MAX, TREE_KERNEL);
		set(s->cfg.template_.images, FB_PATH_MAX, TREE_IMAGES);
		set(s->cfg.template_.store, FB_PATH_MAX, TREE_STORE);
		snprintf(s->cfg.template_.recipes, FB_PATH_MAX, "%s/%s", src, TREE_RECIPES);
		snprintf(s->builder, sizeof(s->builder), "%s/%s", src, TREE_BUILDER);
	} else {
		if (!config && access(FB_SYSTEM_CONFIG, F_OK) == 0)
			config = FB_SYSTEM_CONFIG;
		if (config && fb_config_load(&s->cfg, config) < 0)
			return -1;
		s->source = config ? config : "the built-in defaults";
		if (access(DATA_BUILDER, X_OK) == 0)
			set(s->builder, sizeof(s->builder), DATA_BUILDER);
	}
	const char *env = getenv("FORKBOX_ROOTFS_BUILDER");
	if (env && *env)
		set(s->builder, sizeof(s->builder), env);
	if (store)
		set(s->cfg.template_.store, FB_PATH_MAX, store);
	return 0;
}

void fb_template_setup_free(struct fb_template_setup *s)
{
	fb_config_free(&s->cfg);
}

int fb_template_setup_inputs(const struct fb_template_setup *s, const struct fb_template_decl *t,
			     bool build_rootfs, struct fb_recipe *r, struct fb_guest_image *img)
{
	return fb_store_inputs(&s->cfg, t, s->builder[0] ? s->builder : NULL, build_rootfs, r, img);
}

void fb_template_setup_path(const struct fb_template_setup *s, const char *name, char *out,
			    size_t cap)
{
	const struct fb_template_decl *t = fb_config_template(&s->cfg, name);
	if (t)
		fb_config_template_file(&s->cfg, t, out, cap);
	else
		fb_store_path(s->cfg.template_.store, name, out, cap);
}

const struct fb_template_decl *fb_template_setup_for_language(const struct fb_template_setup *s,
							      const char *language)
{
	char known[512] = "";
	for (size_t i = 0; i < s->cfg.n_templates; i++) {
		const struct fb_template_decl *t = &s->cfg.templates[i];
		char path[FB_PATH_MAX + 32];
		struct fb_recipe r;
		fb_config_recipe_path(&s->cfg, t, path, sizeof(path));
		if (fb_recipe_load(&r, path) < 0)
			continue;
		int serves = fb_recipe_serves(&r, language);
		for (size_t l = 0; l < r.n_languages; l++)
			snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s%s",
				 known[0] ? ", " : "", r.languages[l]);
		fb_recipe_free(&r);
		if (serves)
			return t;
	}
	fb_error("unsupported language \"%s\" (available: %s)", language,
		 known[0] ? known : "none");
	return NULL;
}
