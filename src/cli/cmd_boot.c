/* `forkbox boot`: boot the guest in forkbox's own VMM and stream its console
 * to stdout (a debugging aid; the template builder does the same boot). */
#include "cli/commands.h"
#include "util/error.h"
#include "util/probe.h"
#include "vmm/boot_image.h"
#include "vmm/kvm.h"
#include "vmm/template_build.h"
#include "vmm/vm.h"
#include "vmm/vm_vsock.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct boot_args {
	const char *kernel, *initramfs, *cmdline;
	unsigned mem_mb;
	double timeout_s;
	int exit_on_ready;
};

struct boot_watch {
	struct fb_vm *vm;
	struct timespec start;
	double ready_s; /* < 0 until the agent is ready */
	int exit_on_ready;
};

static double seconds_since(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static void watch_line(void *opaque, const char *line, size_t len)
{
	struct boot_watch *w = opaque;
	(void)len;
	if (w->ready_s >= 0 || !strstr(line, FB_AGENT_READY_LINE))
		return;
	w->ready_s = seconds_since(&w->start);
	fprintf(stderr, "forkbox boot: guest agent ready after %.2f s\n", w->ready_s);
	if (w->exit_on_ready)
		fb_vm_request_stop(w->vm);
}

static int parse_args(int argc, char **argv, struct boot_args *a)
{
	static const struct option opts[] = {
	    {"kernel", required_argument, NULL, 'k'},  {"initramfs", required_argument, NULL, 'i'},
	    {"mem", required_argument, NULL, 'm'},     {"cmdline", required_argument, NULL, 'c'},
	    {"timeout", required_argument, NULL, 't'}, {"exit-on-ready", no_argument, NULL, 'r'},
	    {"help", no_argument, NULL, 'h'},	       {NULL, 0, NULL, 0}};
	*a = (struct boot_args){.mem_mb = 512, .timeout_s = 300};
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "k:i:m:c:t:r", opts, NULL)) != -1) {
		char *end = NULL;
		switch (c) {
		case 'k':
			a->kernel = optarg;
			break;
		case 'i':
			a->initramfs = optarg;
			break;
		case 'c':
			a->cmdline = optarg;
			break;
		case 'r':
			a->exit_on_ready = 1;
			break;
		case 'm':
			a->mem_mb = (unsigned)strtoul(optarg, &end, 10);
			if (!*optarg || *end || a->mem_mb == 0)
				return fb_error("--mem: '%s' is not a size in MiB", optarg);
			break;
		case 't':
			a->timeout_s = strtod(optarg, &end);
			if (!*optarg || *end || a->timeout_s <= 0)
				return fb_error("--timeout: '%s' is not a positive number", optarg);
			break;
		default:
			return fb_error("unknown option or missing value '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return fb_error("unexpected argument '%s'", argv[optind]);
	if (!a->kernel)
		return fb_error("--kernel is required (a vmlinux ELF, e.g. guest/out/vmlinux)");
	return 0;
}

/* A stock kernel needs hardware virtualization; say so before trying. */
static int check_host(void)
{
	struct fb_kvm_report report;
	if (fb_probe_kvm(&report) == FB_KVM_NATIVE)
		return 0;
	fprintf(stderr, "forkbox boot: this host cannot boot a stock guest kernel\n  %s\n",
		report.reason);
	if (report.fallback[0])
		fprintf(stderr, "  %s\n", report.fallback);
	return -1;
}

static int boot_and_watch(const struct boot_args *a, struct fb_kvm *kvm,
			  struct fb_boot_files *files)
{
	struct boot_watch w = {.ready_s = -1, .exit_on_ready = a->exit_on_ready};
	struct fb_vm_options vo = {.mem_size = (uint64_t)a->mem_mb << 20,
				   .serial_fd = STDOUT_FILENO,
				   .line_fn = watch_line,
				   .line_opaque = &w};
	clock_gettime(CLOCK_MONOTONIC, &w.start);
	struct fb_vm *vm = fb_vm_create(kvm, &vo);
	if (!vm)
		return -1;
	w.vm = vm;
	int rc = -1;
	if (fb_vm_load_kernel(vm, &files->img) < 0 || fb_vm_attach_vsock(vm) < 0 ||
	    fb_vm_start(vm) < 0)
		goto out;
	fprintf(stderr, "forkbox boot: booting %s (%u MiB)\n", a->kernel, a->mem_mb);
	enum fb_vm_status st = fb_vm_wait(vm, (int)(a->timeout_s * 1000));
	if (st == FB_VM_NOT_RUN) {
		fb_vm_pause(vm);
		fb_error("timed out after %.0f s%s", a->timeout_s,
			 w.ready_s < 0 ? " before the guest agent was ready" : "");
		goto out;
	}
	fprintf(stderr, "forkbox boot: guest %s after %.2f s: %s\n", fb_vm_status_name(st),
		seconds_since(&w.start), fb_vm_error(vm));
	if (st == FB_VM_STOPPED && w.ready_s >= 0)
		rc = 0;
	else if (st == FB_VM_POWEROFF || st == FB_VM_RESET)
		rc = 0;
	else
		fb_error("guest %s: %s", fb_vm_status_name(st), fb_vm_error(vm));
out:
	fb_vm_destroy(vm);
	return rc;
}

static int boot_main(int argc, char **argv)
{
	struct boot_args a;
	if (parse_args(argc, argv, &a) < 0)
		return fb_usage_error("boot", "%s", fb_error_last());
	if (check_host() < 0)
		return 1;
	struct fb_kvm kvm;
	struct fb_boot_files files;
	if (fb_kvm_open(&kvm) < 0) {
		fprintf(stderr, "forkbox boot: %s\n", fb_error_last());
		return 1;
	}
	int rc = 1;
	if (fb_boot_files_open(&files, a.kernel, a.initramfs, a.cmdline, FB_BOOT_VSOCK_CMDLINE) ==
	    0) {
		rc = boot_and_watch(&a, &kvm, &files) == 0 ? 0 : 1;
		fb_boot_files_close(&files);
	}
	if (rc)
		fprintf(stderr, "forkbox boot: %s\n", fb_error_last());
	fb_kvm_close(&kvm);
	return rc;
}

const struct fb_command fb_cmd_boot = {
    .name = "boot",
    .summary = "boot the guest in forkbox's VMM and show its console (debugging)",
    .main = boot_main,
    .help = "NAME\n"
	    "    forkbox boot - boot the guest in forkbox's VMM and show its console\n"
	    "\n"
	    "SYNOPSIS\n"
	    "    forkbox boot --kernel VMLINUX [--initramfs FILE] [--mem MB]\n"
	    "                 [--cmdline STR] [--timeout S] [--exit-on-ready]\n"
	    "\n"
	    "DESCRIPTION\n"
	    "    Boots a guest kernel (an uncompressed vmlinux ELF) the way a template\n"
	    "    build does: one vCPU, MP table, 16550A console, virtio-vsock. The console\n"
	    "    goes to stdout; progress and the time until the guest agent printed\n"
	    "    '" FB_AGENT_READY_LINE "' go to stderr. Runs until the guest powers off\n"
	    "    or resets, or the timeout. Needs a host whose /dev/kvm can run a stock\n"
	    "    kernel (see `forkbox doctor`); elsewhere use tests/kvmhost/run.\n"
	    "\n"
	    "OPTIONS\n"
	    "    --kernel FILE     vmlinux (ELF) to boot; required\n"
	    "    --initramfs FILE  initramfs (cpio, may be compressed)\n"
	    "    --mem MB          guest RAM (default 512)\n"
	    "    --cmdline STR     kernel command line (default: the file 'cmdline' beside\n"
	    "                      the kernel, else \"" FB_BOOT_DEFAULT_CMDLINE "\");\n"
	    "                      the virtio-mmio device option is always appended\n"
	    "    --timeout S       give up after S seconds (default 300)\n"
	    "    --exit-on-ready   stop the guest and exit 0 once the agent is ready\n"
	    "\n"
	    "EXIT STATUS\n"
	    "    0 when the guest powered off or reset (or with --exit-on-ready, became\n"
	    "    ready); 1 on timeout, kernel panic, a KVM error or an unusable host;\n"
	    "    2 for a bad command line.\n"
	    "\n"
	    "EXAMPLES\n"
	    "    tests/kvmhost/run -- ./forkbox boot --kernel guest/out/vmlinux \\\n"
	    "        --initramfs guest/out/initramfs.cpio.zst --exit-on-ready\n",
};
