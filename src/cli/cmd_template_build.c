/* `forkbox template build`: boot the guest to readiness and write a template. */
#include "cli/commands.h"
#include "util/error.h"
#include "util/probe.h"
#include "vmm/kvm.h"
#include "vmm/template_build.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define DEFAULT_KERNEL	  "guest/out/vmlinux"
#define DEFAULT_INITRAMFS "guest/out/initramfs.cpio.zst"
#define DEFAULT_OUTPUT	  "forkbox.template"

static void usage(FILE *to)
{
	fprintf(
	    to,
	    "usage: forkbox template build [-o FILE] [--kernel VMLINUX] [--initramfs FILE]\n"
	    "                              [--mem MB] [--cmdline STR] [--timeout S] [--console]\n"
	    "                              [--no-working-set]\n"
	    "Boots the guest until its agent is ready, snapshots it and writes FILE\n"
	    "(default %s). Defaults: --kernel %s --initramfs %s --mem 512\n"
	    "--timeout 300; --console copies the guest console to stderr.\n"
	    "Then runs typical requests (print(1+1), a numpy sum) in forks of it and\n"
	    "stores the pages they used (the working set, which forks map before they\n"
	    "run); --no-working-set skips that.\n",
	    DEFAULT_OUTPUT, DEFAULT_KERNEL, DEFAULT_INITRAMFS);
}

static int parse_args(int argc, char **argv, struct fb_template_build_options *o)
{
	static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
					     {"kernel", required_argument, NULL, 'k'},
					     {"initramfs", required_argument, NULL, 'i'},
					     {"mem", required_argument, NULL, 'm'},
					     {"cmdline", required_argument, NULL, 'c'},
					     {"timeout", required_argument, NULL, 't'},
					     {"console", no_argument, NULL, 'C'},
					     {"no-working-set", no_argument, NULL, 'W'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	*o = (struct fb_template_build_options){.output = DEFAULT_OUTPUT,
						.kernel = DEFAULT_KERNEL,
						.initramfs = DEFAULT_INITRAMFS,
						.mem_size = 512ULL << 20,
						.ready_timeout_s = 300,
						.console_fd = -1,
						.progress = stderr,
						.working_set_codes = fb_template_working_set_codes,
						.n_working_set_codes =
						    fb_template_n_working_set_codes};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:k:i:m:c:t:CWh", opts, NULL)) != -1) {
		char *end = NULL;
		unsigned long mb;
		switch (c) {
		case 'o':
			o->output = optarg;
			break;
		case 'k':
			o->kernel = optarg;
			break;
		case 'i':
			o->initramfs = optarg;
			break;
		case 'c':
			o->cmdline = optarg;
			break;
		case 'C':
			o->console_fd = STDERR_FILENO;
			break;
		case 'W':
			o->n_working_set_codes = 0;
			break;
		case 'm':
			mb = strtoul(optarg, &end, 10);
			if (!*optarg || *end || mb == 0)
				return fb_error("--mem: '%s' is not a size in MiB", optarg);
			o->mem_size = (uint64_t)mb << 20;
			break;
		case 't':
			o->ready_timeout_s = strtod(optarg, &end);
			if (!*optarg || *end || o->ready_timeout_s <= 0)
				return fb_error("--timeout: '%s' is not a positive number", optarg);
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

int fb_cmd_template_build(int argc, char **argv)
{
	struct fb_template_build_options o;
	if (parse_args(argc, argv, &o) < 0) {
		fprintf(stderr, "forkbox template build: %s\n", fb_error_last());
		return 2;
	}
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
	int rc = fb_template_build(&kvm, &o);
	if (rc < 0)
		fprintf(stderr, "forkbox template build: %s\n", fb_error_last());
	fb_kvm_close(&kvm);
	return rc < 0 ? 1 : 0;
}
