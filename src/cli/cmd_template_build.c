/* `forkbox template build`: boot the guest to readiness and write a template.
 *
 * Where the inputs come from, the way `forkbox run` picks its template: in a
 * build tree (./guest/out/vmlinux exists) and without -c, the tree's guest
 * image and ./forkbox.template; otherwise the template.* settings of the
 * configuration (-c FILE, else the system file when it exists, else the
 * built-in defaults, which name the installed guest image and
 * /var/lib/forkbox/python.tmpl). Options override either. */
#include "cli/commands.h"
#include "cli/progress.h"
#include "util/config.h"
#include "util/error.h"
#include "util/probe.h"
#include "vmm/boot_image.h"
#include "vmm/kvm.h"
#include "vmm/template_build.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TREE_KERNEL	  "guest/out/vmlinux"
#define TREE_INITRAMFS	  "guest/out/initramfs.cpio.zst"
#define TREE_OUTPUT	  "forkbox.template"
#define SYSTEM_CONFIG	  FORKBOX_SYSCONFDIR "/forkbox/forkbox.conf"
#define PROGRESS_REPEAT_S 10 /* the last progress line again after this silence */

/* What the command line named; NULL or 0 where it named nothing. */
struct given {
	const char *config, *output, *kernel, *initramfs, *cmdline;
	unsigned long mem_mb;
	double timeout_s;
	bool console, if_stale, no_working_set;
};

/* The resolved build, and where its defaults came from. */
struct build {
	struct fb_template_build_options o;
	const char *source; /* "the build tree", a config file, "the built-in defaults" */
	const char *config; /* the config file read, or NULL */
	struct fb_config cfg;
	char cmdline[FB_BOOT_CMDLINE_MAX];
};

static void usage(FILE *to)
{
	fprintf(to,
		"usage: forkbox template build [-c FILE] [-o FILE] [--kernel VMLINUX]\n"
		"                              [--initramfs FILE] [--mem MB] [--cmdline STR]\n"
		"                              [--timeout S] [--console] [--if-stale]\n"
		"                              [--no-working-set]\n"
		"Boots the guest until its agent is ready, snapshots it and writes the\n"
		"template. Defaults: in a build tree (./%s exists, no -c) %s, %s and\n"
		"./%s; elsewhere the template.* settings of -c FILE, else of %s\n"
		"when it exists, else the built-in ones. --mem 512 --timeout 300.\n"
		"Then runs typical requests (print(1+1), a numpy sum) in forks of it and\n"
		"stores the pages they used (the working set, which forks map before they\n"
		"run); --no-working-set skips that.\n",
		TREE_KERNEL, TREE_KERNEL, TREE_INITRAMFS, TREE_OUTPUT, SYSTEM_CONFIG);
}

static int parse_number(const char *opt, const char *text, double *out)
{
	char *end = NULL;
	*out = strtod(text, &end);
	if (!*text || *end || *out <= 0)
		return fb_error("%s: '%s' is not a positive number", opt, text);
	return 0;
}

static int parse_args(int argc, char **argv, struct given *g)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},  {"output", required_argument, NULL, 'o'},
	    {"kernel", required_argument, NULL, 'k'},  {"initramfs", required_argument, NULL, 'i'},
	    {"mem", required_argument, NULL, 'm'},     {"cmdline", required_argument, NULL, 'L'},
	    {"timeout", required_argument, NULL, 't'}, {"console", no_argument, NULL, 'C'},
	    {"if-stale", no_argument, NULL, 's'},      {"no-working-set", no_argument, NULL, 'W'},
	    {"help", no_argument, NULL, 'h'},	       {NULL, 0, NULL, 0}};
	*g = (struct given){0};
	int c;
	optind = 1;
	/* -c is the configuration, as in forkbox-fcgi and config-check; --cmdline
	 * has no short form. */
	while ((c = getopt_long(argc, argv, "c:o:k:i:m:t:CWh", opts, NULL)) != -1) {
		char *end = NULL;
		double v;
		switch (c) {
		case 'c':
			g->config = optarg;
			break;
		case 'L':
			g->cmdline = optarg;
			break;
		case 'o':
			g->output = optarg;
			break;
		case 'k':
			g->kernel = optarg;
			break;
		case 'i':
			g->initramfs = optarg;
			break;
		case 'C':
			g->console = true;
			break;
		case 's':
			g->if_stale = true;
			break;
		case 'W':
			g->no_working_set = true;
			break;
		case 'm':
			g->mem_mb = strtoul(optarg, &end, 10);
			if (!*optarg || *end || g->mem_mb == 0)
				return fb_error("--mem: '%s' is not a size in MiB", optarg);
			break;
		case 't':
			if (parse_number("--timeout", optarg, &v) < 0)
				return -1;
			g->timeout_s = v;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return fb_error("bad arguments");
		}
	}
	if (optind != argc)
		return fb_error("unexpected argument '%s'", argv[optind]);
	return 0;
}

/* template.cmdline_extra after the kernel's usual command line. */
static int add_cmdline_extra(struct build *b, const char *extra)
{
	fb_boot_base_cmdline(b->o.kernel, b->cmdline, sizeof(b->cmdline));
	size_t len = strlen(b->cmdline);
	if (len + 1 + strlen(extra) >= sizeof(b->cmdline))
		return fb_error("template.cmdline_extra: the kernel command line would exceed "
				"%zu bytes",
				sizeof(b->cmdline) - 1);
	snprintf(b->cmdline + len, sizeof(b->cmdline) - len, " %s", extra);
	b->o.cmdline = b->cmdline;
	return 0;
}

/* Defaults from the template.* settings: -c FILE, else the system file when
 * it exists, else the built-in ones. */
static int from_config(const struct given *g, struct build *b)
{
	fb_config_defaults(&b->cfg);
	if (g->config)
		b->config = g->config;
	else if (access(SYSTEM_CONFIG, F_OK) == 0)
		b->config = SYSTEM_CONFIG;
	if (b->config && fb_config_load(&b->cfg, b->config) < 0)
		return -1;
	b->source = b->config ? b->config : "the built-in defaults";
	b->o.output = b->cfg.template_.path;
	b->o.kernel = b->cfg.template_.kernel;
	b->o.initramfs = b->cfg.template_.initramfs[0] ? b->cfg.template_.initramfs : NULL;
	b->o.mem_size = (uint64_t)b->cfg.template_.memory_mb << 20;
	return 0;
}

static int resolve(const struct given *g, struct build *b)
{
	b->o = (struct fb_template_build_options){
	    .mem_size = 512ULL << 20,
	    .ready_timeout_s = 300,
	    .console_fd = -1,
	    .progress = stderr,
	    .working_set_codes = fb_template_working_set_codes,
	    .n_working_set_codes = g->no_working_set ? 0 : fb_template_n_working_set_codes};
	if (!g->config && access(TREE_KERNEL, R_OK) == 0) {
		b->source = "the build tree";
		b->o.output = TREE_OUTPUT;
		b->o.kernel = TREE_KERNEL;
		b->o.initramfs = TREE_INITRAMFS;
	} else if (from_config(g, b) < 0) {
		return -1;
	}
	if (g->output)
		b->o.output = g->output;
	if (g->kernel)
		b->o.kernel = g->kernel;
	if (g->initramfs)
		b->o.initramfs = g->initramfs;
	if (g->mem_mb)
		b->o.mem_size = (uint64_t)g->mem_mb << 20;
	if (g->timeout_s > 0)
		b->o.ready_timeout_s = g->timeout_s;
	if (g->console)
		b->o.console_fd = STDERR_FILENO;
	if (g->cmdline)
		b->o.cmdline = g->cmdline;
	else if (b->cfg.template_.cmdline_extra[0])
		return add_cmdline_extra(b, b->cfg.template_.cmdline_extra);
	return 0;
}

static bool newer(const struct stat *a, const struct stat *b)
{
	return a->st_mtim.tv_sec != b->st_mtim.tv_sec ? a->st_mtim.tv_sec > b->st_mtim.tv_sec
						      : a->st_mtim.tv_nsec > b->st_mtim.tv_nsec;
}

/* --if-stale: the template exists and nothing it was built from (guest
 * image, configuration, this program) changed since. */
static bool up_to_date(const struct build *b)
{
	const char *inputs[] = {b->o.kernel, b->o.initramfs, b->config, "/proc/self/exe"};
	struct stat out, in;
	if (stat(b->o.output, &out) < 0 || out.st_size == 0)
		return false;
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++)
		if (inputs[i] && (stat(inputs[i], &in) < 0 || newer(&in, &out)))
			return false;
	return true;
}

static int build(const struct build *b)
{
	struct fb_kvm_report report;
	if (fb_probe_kvm(&report) != FB_KVM_NATIVE) {
		fprintf(stderr,
			"forkbox template build: this host cannot boot a stock guest kernel\n"
			"  %s\n  %s\n",
			report.reason, report.fallback);
		return 1;
	}
	struct fb_kvm kvm;
	if (fb_kvm_open(&kvm) < 0) {
		fprintf(stderr, "forkbox template build: %s\n", fb_error_last());
		return 1;
	}
	/* Booting to a ready agent is silent for long under nested KVM. */
	struct fb_template_build_options o = b->o;
	struct fb_progress *progress = fb_progress_start("template", stderr, PROGRESS_REPEAT_S);
	if (progress)
		o.progress = fb_progress_stream(progress);
	int rc = fb_template_build(&kvm, &o);
	if (progress)
		fb_progress_stop(progress);
	if (rc < 0)
		fprintf(stderr, "forkbox template build: %s\n", fb_error_last());
	fb_kvm_close(&kvm);
	return rc < 0 ? 1 : 0;
}

int fb_cmd_template_build(int argc, char **argv)
{
	struct given g;
	if (parse_args(argc, argv, &g) < 0) {
		fprintf(stderr, "forkbox template build: %s\n", fb_error_last());
		return FB_EXIT_USAGE;
	}
	struct build *b = calloc(1, sizeof(*b));
	if (!b) {
		fprintf(stderr, "forkbox template build: out of memory\n");
		return 1;
	}
	int rc = 1;
	if (resolve(&g, b) < 0) {
		fprintf(stderr, "forkbox template build: %s\n", fb_error_last());
	} else if (g.if_stale && up_to_date(b)) {
		fprintf(stderr, "template %s is up to date (settings from %s)\n", b->o.output,
			b->source);
		rc = 0;
	} else {
		fprintf(stderr, "template %s from %s%s%s (settings from %s)\n", b->o.output,
			b->o.kernel, b->o.initramfs ? " and " : "",
			b->o.initramfs ? b->o.initramfs : "", b->source);
		rc = build(b);
	}
	fb_config_free(&b->cfg);
	free(b);
	return rc;
}
