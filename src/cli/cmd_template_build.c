/* `forkbox template build` and `forkbox template image`: boot each
 * template's recipe image to readiness and write it into the store (or
 * only find/build the recipes' root filesystems). */
#include "cli/commands.h"
#include "cli/progress.h"
#include "cli/template_setup.h"
#include "util/error.h"
#include "util/probe.h"
#include "vmm/boot_image.h"
#include "vmm/kvm.h"
#include "vmm/template_build.h"
#include "vmm/template_store.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PROGRESS_REPEAT_S 10 /* the last progress line again after this silence */

struct build_args {
	const char *config, *store, *output, *kernel, *initramfs, *cmdline;
	double timeout_s;
	bool console, if_stale, no_working_set;
	char **names; /* NULL-terminated; empty = every configured template */
	int n_names;
};

static int parse_args(int argc, char **argv, struct build_args *a)
{
	static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
					     {"store", required_argument, NULL, 'S'},
					     {"output", required_argument, NULL, 'o'},
					     {"kernel", required_argument, NULL, 'k'},
					     {"initramfs", required_argument, NULL, 'i'},
					     {"cmdline", required_argument, NULL, 'L'},
					     {"timeout", required_argument, NULL, 't'},
					     {"console", no_argument, NULL, 'C'},
					     {"if-stale", no_argument, NULL, 's'},
					     {"no-working-set", no_argument, NULL, 'W'},
					     {NULL, 0, NULL, 0}};
	*a = (struct build_args){.timeout_s = 300};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:o:k:i:t:C", opts, NULL)) != -1) {
		char *end = NULL;
		switch (c) {
		case 'c':
			a->config = optarg;
			break;
		case 'S':
			a->store = optarg;
			break;
		case 'o':
			a->output = optarg;
			break;
		case 'k':
			a->kernel = optarg;
			break;
		case 'i':
			a->initramfs = optarg;
			break;
		case 'L':
			a->cmdline = optarg;
			break;
		case 'C':
			a->console = true;
			break;
		case 's':
			a->if_stale = true;
			break;
		case 'W':
			a->no_working_set = true;
			break;
		case 't':
			a->timeout_s = strtod(optarg, &end);
			if (!*optarg || *end || !(a->timeout_s > 0))
				return fb_usage_error("template",
						      "--timeout: '%s' is not a positive "
						      "number",
						      optarg);
			break;
		default:
			return fb_usage_error("template", "build: bad arguments");
		}
	}
	a->names = argv + optind;
	a->n_names = argc - optind;
	if (a->output && a->n_names > 1)
		return fb_usage_error("template", "build: -o FILE writes one template; name one");
	if (a->initramfs && !a->output)
		return fb_usage_error("template", "build: --initramfs needs -o FILE (a template "
						  "outside the store)");
	return 0;
}

/* The templates named, or all of them; NULL entries for unknown names. */
static int select_templates(const struct fb_template_setup *s, char **names, int n,
			    const struct fb_template_decl **out, size_t *count, bool one)
{
	if (n == 0 && one) { /* -o FILE: the first (default) template */
		out[0] = &s->cfg.templates[0];
		*count = 1;
		return 0;
	}
	if (n == 0) {
		for (size_t i = 0; i < s->cfg.n_templates; i++)
			out[i] = &s->cfg.templates[i];
		*count = s->cfg.n_templates;
		return 0;
	}
	if (n > FB_MAX_TEMPLATES)
		return fb_error("more than %d templates named", FB_MAX_TEMPLATES);
	for (int i = 0; i < n; i++) {
		out[i] = fb_config_template(&s->cfg, names[i]);
		if (!out[i]) {
			char known[256] = "";
			for (size_t k = 0; k < s->cfg.n_templates; k++)
				snprintf(known + strlen(known), sizeof(known) - strlen(known),
					 "%s%s", k ? ", " : "", s->cfg.templates[k].name);
			return fb_error("no template '%s' in %s (templates: %s)", names[i],
					s->source, known);
		}
	}
	*count = (size_t)n;
	return 0;
}

static int open_kvm(struct fb_kvm *kvm)
{
	struct fb_kvm_report report;
	if (fb_probe_kvm(&report) != FB_KVM_NATIVE)
		return fb_error("this host cannot boot a stock guest kernel: %s; %s", report.reason,
				report.fallback);
	return fb_kvm_open(kvm);
}

/* KVM, opened when first needed: `--if-stale` with nothing stale needs
 * none unless a stored template's CPU is to be checked. */
struct kvm_once {
	struct fb_kvm kvm;
	bool opened;
};

static const struct fb_kvm *need_kvm(struct kvm_once *k)
{
	if (!k->opened && open_kvm(&k->kvm) < 0)
		return NULL;
	k->opened = true;
	return &k->kvm;
}

/* --if-stale: 1 when the stored template is current and for this CPU. */
static int up_to_date(struct kvm_once *k, const char *path, const struct fb_recipe *r,
		      const struct fb_guest_image *img, const char *name)
{
	struct fb_stored st;
	char why[2048];
	if (fb_stored_read(path, &st) < 0) {
		if (errno != ENOENT)
			fprintf(stderr, "template %s: rebuilding: %s\n", name, fb_error_last());
		return 0;
	}
	if (fb_stored_compare(&st, r, img, why, sizeof(why)) != 0) {
		fprintf(stderr, "template %s: stale, rebuilding: %s\n", name, why);
		return 0;
	}
	const struct fb_kvm *kvm = need_kvm(k);
	struct fb_template *t;
	if (!kvm) {
		/* Nothing to build with either; forking checks the CPU again. */
		fprintf(
		    stderr,
		    "template %s: up to date (generation %u, built %s); its CPU not checked: %s\n",
		    name, st.generation, st.created, fb_error_last());
		return 1;
	}
	if (fb_template_open(path, &t) == 0) {
		int cpu_ok = fb_template_check_host(t, kvm->fd) == 0;
		fb_template_close(t);
		if (!cpu_ok) {
			fprintf(stderr, "template %s: rebuilding: %s\n", name, fb_error_last());
			return 0;
		}
	}
	fprintf(stderr, "template %s: up to date (generation %u, built %s)\n", name, st.generation,
		st.created);
	return 1;
}

static int ensure_store(const char *store)
{
	if (mkdir(store, 0755) < 0 && errno != EEXIST)
		return fb_error_errno("create the template store %s", store);
	return 0;
}

static int build_one(const struct fb_template_setup *s, const struct build_args *a,
		     struct kvm_once *k, const struct fb_template_decl *t)
{
	char path[FB_PATH_MAX + 64], cmdline[FB_BOOT_CMDLINE_MAX] = "";
	if (a->output)
		snprintf(path, sizeof(path), "%s", a->output);
	else
		fb_template_setup_path(s, t->name, path, sizeof(path));
	/* Nothing stored: it will be built, so no root filesystem without KVM. */
	if (access(path, F_OK) < 0 && !need_kvm(k))
		return -1;
	struct fb_recipe r;
	struct fb_guest_image img;
	if (fb_template_setup_inputs(s, t, true, &r, &img) < 0)
		return -1;
	if (a->kernel)
		snprintf(img.kernel, sizeof(img.kernel), "%s", a->kernel);
	int rc = 0;
	if (a->if_stale && !a->initramfs && up_to_date(k, path, &r, &img, t->name))
		goto out;
	const struct fb_kvm *kvm = need_kvm(k);
	if (!kvm) {
		rc = -1;
		goto out;
	}
	if (!a->output && (rc = ensure_store(s->cfg.template_.store)) < 0)
		goto out;
	if (a->cmdline)
		snprintf(cmdline, sizeof(cmdline), "%s", a->cmdline);
	else if ((rc = fb_store_cmdline(&s->cfg, img.kernel, cmdline)) < 0)
		goto out;
	struct fb_store_build_options bo = {.kernel_cmdline = cmdline[0] ? cmdline : NULL,
					    .ready_timeout_s = a->timeout_s,
					    .console_fd = a->console ? STDERR_FILENO : -1,
					    .progress = stderr,
					    .output = path,
					    .initramfs = a->initramfs,
					    .no_working_set = a->no_working_set};
	/* Booting to a ready agent is silent for long under nested KVM. */
	struct fb_progress *progress = fb_progress_start("template", stderr, PROGRESS_REPEAT_S);
	if (progress)
		bo.progress = fb_progress_stream(progress);
	rc = fb_store_build(kvm, s->cfg.template_.store, t->name, &r, &img, &bo);
	if (progress)
		fb_progress_stop(progress);
out:
	fb_recipe_free(&r);
	return rc;
}

/* The last error, for `forkbox template SUB`: the exit status 1. */
static int report_failure(const char *sub)
{
	fprintf(stderr, "forkbox template %s: %s\n", sub, fb_error_last());
	return 1;
}

/* The command line, the settings and the templates it names: 0, or the
 * exit status (the message printed). */
static int begin(int argc, char **argv, const char *sub, struct build_args *a,
		 struct fb_template_setup *s, const struct fb_template_decl **sel, size_t *n)
{
	int rc = parse_args(argc, argv, a);
	if (rc)
		return rc;
	*n = 0;
	if (fb_template_setup_load(s, a->config, a->store) < 0 ||
	    select_templates(s, a->names, a->n_names, sel, n, a->output != NULL) < 0) {
		fb_template_setup_free(s);
		return report_failure(sub);
	}
	return 0;
}

int fb_cmd_template_build(int argc, char **argv)
{
	struct build_args a;
	struct fb_template_setup s;
	const struct fb_template_decl *sel[FB_MAX_TEMPLATES];
	size_t n;
	int rc = begin(argc, argv, "build", &a, &s, sel, &n);
	if (rc)
		return rc;
	struct kvm_once kvm = {.opened = false};
	/* Fail before any root filesystem is built, unless nothing may need
	 * building. */
	if (!a.if_stale && !need_kvm(&kvm)) {
		fb_template_setup_free(&s);
		return report_failure("build");
	}
	int failed = 0;
	for (size_t i = 0; i < n; i++) {
		if (build_one(&s, &a, &kvm, sel[i]) < 0)
			failed = report_failure("build");
	}
	if (kvm.opened)
		fb_kvm_close(&kvm.kvm);
	fb_template_setup_free(&s);
	return failed;
}

/* IMAGES/recipe-NAME.cpio: the recipe's files for a guest booted without a
 * template build (`forkbox boot`, guest/out/initramfs.cpio.zst). */
static int write_recipe_cpio(const struct fb_template_setup *s, const struct fb_recipe *r)
{
	char path[FB_PATH_MAX + 64], tmp[FB_PATH_MAX + 72];
	struct fb_cpio c;
	snprintf(path, sizeof(path), "%s/recipe-%s.cpio", s->cfg.template_.images, r->name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (fb_guest_image_recipe_cpio(r, &c) < 0)
		return -1;
	FILE *f = fopen(tmp, "we");
	int ok = f && fwrite(c.data, 1, c.len, f) == c.len;
	if (f && fclose(f) != 0)
		ok = 0;
	fb_cpio_free(&c);
	if (!ok || rename(tmp, path) < 0) {
		fb_error_errno("write %s", path);
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* `forkbox template image [NAME...]`: each template's recipe root
 * filesystem, found or built (no KVM needed). */
int fb_cmd_template_image(int argc, char **argv)
{
	struct build_args a;
	struct fb_template_setup s;
	const struct fb_template_decl *sel[FB_MAX_TEMPLATES];
	size_t n;
	int failed = begin(argc, argv, "image", &a, &s, sel, &n);
	if (failed)
		return failed;
	for (size_t i = 0; i < n; i++) {
		struct fb_recipe r;
		struct fb_guest_image img;
		if (fb_template_setup_inputs(&s, sel[i], true, &r, &img) < 0) {
			failed = report_failure("image");
			continue;
		}
		if (write_recipe_cpio(&s, &r) < 0)
			failed = report_failure("image");
		printf("%s: %s (sha256 %.16s)\n", sel[i]->name, img.rootfs, img.rootfs_sha256);
		fb_recipe_free(&r);
	}
	fb_template_setup_free(&s);
	return failed;
}
