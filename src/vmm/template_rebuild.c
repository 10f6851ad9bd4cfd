/* A template's inputs from the configuration, and its rebuild: shared by
 * `forkbox template build` and a server's rotation. Its own file, so the
 * fake engine of the FastCGI tests can stand in for fb_store_rebuild(). */
#include "vmm/template_store.h"

#include "util/error.h"
#include "util/probe.h"
#include "vmm/boot_image.h"

#include <stdio.h>
#include <string.h>

int fb_store_inputs(const struct fb_config *cfg, const struct fb_template_decl *t,
		    const char *builder, bool build_rootfs, struct fb_recipe *r,
		    struct fb_guest_image *img)
{
	char path[FB_PATH_MAX + 32];
	fb_config_recipe_path(cfg, t, path, sizeof(path));
	if (fb_recipe_load(r, path) < 0)
		return fb_error_prefix("template %s", t->name);
	struct fb_guest_image_source src = {
	    .kernel = cfg->template_.kernel, .images = cfg->template_.images, .builder = builder};
	if (fb_guest_image_find(r, &src, build_rootfs, img) < 0 || fb_guest_image_hash(img) < 0) {
		fb_recipe_free(r);
		return fb_error_prefix("template %s", t->name);
	}
	return 0;
}

int fb_store_cmdline(const struct fb_config *cfg, const char *kernel, char out[FB_BOOT_CMDLINE_MAX])
{
	out[0] = '\0';
	if (!cfg->template_.cmdline_extra[0])
		return 0;
	fb_boot_base_cmdline(kernel, out, FB_BOOT_CMDLINE_MAX);
	size_t len = strlen(out);
	if (len + 1 + strlen(cfg->template_.cmdline_extra) >= FB_BOOT_CMDLINE_MAX)
		return fb_error("template.cmdline_extra: the kernel command line would exceed %d "
				"bytes",
				FB_BOOT_CMDLINE_MAX - 1);
	snprintf(out + len, FB_BOOT_CMDLINE_MAX - len, " %s", cfg->template_.cmdline_extra);
	return 0;
}

int fb_store_stale(const struct fb_config *cfg, const struct fb_template_decl *t, char *why,
		   size_t cap)
{
	struct fb_recipe r;
	struct fb_guest_image img;
	struct fb_stored st;
	char file[FB_PATH_MAX + 64];
	fb_config_template_file(cfg, t, file, sizeof(file));
	if (fb_stored_read(file, &st) < 0 || fb_store_inputs(cfg, t, NULL, false, &r, &img) < 0) {
		snprintf(why, cap, "%s", fb_error_last());
		return -1;
	}
	int stale = fb_stored_compare(&st, &r, &img, why, cap);
	fb_recipe_free(&r);
	return stale;
}

int fb_store_rebuild(const struct fb_config *cfg, const struct fb_template_decl *t, FILE *progress)
{
	struct fb_recipe r;
	struct fb_guest_image img;
	char file[FB_PATH_MAX + 64], cmdline[FB_BOOT_CMDLINE_MAX];
	struct fb_kvm_report report;
	struct fb_kvm kvm = {.fd = -1};
	if (fb_probe_kvm(&report) != FB_KVM_NATIVE)
		return fb_error("this host cannot boot a stock guest kernel: %s", report.reason);
	if (fb_store_inputs(cfg, t, NULL, false, &r, &img) < 0)
		return -1;
	fb_config_template_file(cfg, t, file, sizeof(file));
	int rc = fb_store_cmdline(cfg, img.kernel, cmdline);
	if (rc == 0)
		rc = fb_kvm_open(&kvm);
	if (rc == 0) {
		struct fb_store_build_options bo = {.kernel_cmdline = cmdline[0] ? cmdline : NULL,
						    .ready_timeout_s = 300,
						    .console_fd = -1,
						    .progress = progress,
						    .output = file};
		rc = fb_store_build(&kvm, cfg->template_.store, t->name, &r, &img, &bo);
	}
	fb_kvm_close(&kvm);
	fb_recipe_free(&r);
	return rc;
}
