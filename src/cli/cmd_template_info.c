/* `forkbox template inspect|verify FILE`, and the `forkbox template`
 * command that dispatches to build (cmd_template_build.c), inspect, verify. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/commands.h"
#include "util/error.h"
#include "vmm/snapshot/cpuid.h"
#include "vmm/snapshot/template_file.h"
#include "vmm/working_set.h"

int fb_cmd_template_inspect(int argc, char **argv);
int fb_cmd_template_verify(int argc, char **argv);

/* This host's normalized CPUID fingerprint; -1 (message set) without KVM. */
static int host_fingerprint(uint64_t *fp)
{
	const char *dev = getenv("FORKBOX_KVM_DEVICE");
	int fd = open(dev ? dev : "/dev/kvm", O_RDWR | O_CLOEXEC);
	struct kvm_cpuid2 *cpuid;
	if (fd < 0)
		return fb_error_errno("%s", dev ? dev : "/dev/kvm");
	int r = fb_cpuid_build(fd, &cpuid);
	close(fd);
	if (r < 0)
		return -1;
	*fp = fb_cpuid_fingerprint(cpuid);
	free(cpuid);
	return 0;
}

static const char *file_arg(int argc, char **argv, const char *sub)
{
	if (argc != 2 || argv[1][0] == '-') {
		fb_usage_error("template", "usage: forkbox template %s FILE", sub);
		return NULL;
	}
	return argv[1];
}

static void print_cpu(const struct fb_template *t)
{
	uint64_t host;
	printf("CPU fingerprint:  %016llx", (unsigned long long)fb_template_cpuid_fingerprint(t));
	if (host_fingerprint(&host) < 0)
		printf(" (not compared: %s)\n", fb_error_last());
	else if (host == fb_template_cpuid_fingerprint(t))
		printf(" (matches this host)\n");
	else
		printf(" (this host: %016llx; DIFFERENT, forks will be refused)\n",
		       (unsigned long long)host);
}

static void print_summary(const struct fb_template *t)
{
	struct stat st;
	uint64_t nonzero = fb_template_mem_nonzero_pages(t);
	const struct fb_vm_state *vm = fb_template_vm(t);
	printf("file:             %s\n", fb_template_path(t));
	printf("format version:   %u\n", fb_template_version(t));
	printf("file size:        %llu bytes", (unsigned long long)fb_template_file_size(t));
	if (stat(fb_template_path(t), &st) == 0)
		printf(" (%llu allocated on disk)", (unsigned long long)st.st_blocks * 512);
	printf("\n");
	print_cpu(t);
	printf("CPUID entries:    %u\n", fb_template_cpuid(t)->nent);
	printf("guest memory:     %llu MiB at file offset %llu\n",
	       (unsigned long long)(fb_template_mem_size(t) >> 20),
	       (unsigned long long)fb_template_mem_offset(t));
	printf("non-zero pages:   %llu of %llu (%.1f MiB)\n", (unsigned long long)nonzero,
	       (unsigned long long)(fb_template_mem_size(t) / FB_TEMPLATE_PAGE_SIZE),
	       nonzero * (double)FB_TEMPLATE_PAGE_SIZE / (1 << 20));
	struct fb_working_set wset = {fb_template_wset(t),
				      fb_template_mem_size(t) / FB_TEMPLATE_PAGE_SIZE};
	uint64_t ws = wset.bits ? fb_working_set_count(&wset) : 0;
	if (wset.bits)
		printf(
		    "working set:      %llu pages (%.1f MiB), mapped into forks before they run\n",
		    (unsigned long long)ws, ws * (double)FB_TEMPLATE_PAGE_SIZE / (1 << 20));
	else
		printf("working set:      none recorded\n");
	printf("vCPUs:            %u\n", fb_template_nr_vcpus(t));
	printf("VM devices:       %s%s\n", vm->flags & FB_VM_HAS_IRQCHIP ? "PIC+IOAPIC " : "",
	       vm->flags & FB_VM_HAS_PIT ? "PIT" : "");
}

static void print_sections(const struct fb_template *t)
{
	printf("sections:\n  %-16s %12s %10s  %s\n", "NAME", "OFFSET", "SIZE", "XXH64");
	for (unsigned i = 0; i < fb_template_nr_sections(t); i++) {
		const struct fb_template_section_info *s = fb_template_section(t, i);
		printf("  %-16s %12llu %10llu  %016llx\n", s->name, (unsigned long long)s->offset,
		       (unsigned long long)s->size, (unsigned long long)s->checksum);
	}
	static const char *const keys[] = {FB_META_VERSION, FB_META_CREATED, FB_META_KERNEL_HASH,
					   FB_META_INITRAMFS_HASH, FB_META_CMDLINE};
	printf("metadata:\n");
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *v = fb_template_meta(t, keys[i]);
		if (v)
			printf("  %-18s %s\n", keys[i], v);
	}
}

int fb_cmd_template_inspect(int argc, char **argv)
{
	const char *path = file_arg(argc, argv, "inspect");
	struct fb_template *t;
	if (!path)
		return FB_EXIT_USAGE;
	if (fb_template_open(path, &t) < 0) {
		fprintf(stderr, "forkbox template inspect: %s\n", fb_error_last());
		return 1;
	}
	print_summary(t);
	print_sections(t);
	fb_template_close(t);
	return 0;
}

/* Everything: structure, every checksum including memory, and the CPU. */
static int verify(const char *path)
{
	struct fb_template *t;
	uint64_t host;
	if (fb_template_open(path, &t) < 0)
		return -1;
	int r = fb_template_verify_memory(t);
	if (r == 0 && host_fingerprint(&host) == 0)
		r = fb_template_check_cpu(t, host);
	else if (r == 0)
		fprintf(stderr, "forkbox template verify: CPU not compared: %s\n", fb_error_last());
	fb_template_close(t);
	return r;
}

int fb_cmd_template_verify(int argc, char **argv)
{
	const char *path = file_arg(argc, argv, "verify");
	if (!path)
		return FB_EXIT_USAGE;
	if (verify(path) < 0) {
		fprintf(stderr, "forkbox template verify: %s\n", fb_error_last());
		return 1;
	}
	printf("%s: OK\n", path);
	return 0;
}

static int template_main(int argc, char **argv)
{
	if (argc < 2)
		return fb_usage_error("template", "missing subcommand (build, inspect, verify)");
	if (!strcmp(argv[1], "build"))
		return fb_cmd_template_build(argc - 1, argv + 1);
	if (!strcmp(argv[1], "inspect"))
		return fb_cmd_template_inspect(argc - 1, argv + 1);
	if (!strcmp(argv[1], "verify"))
		return fb_cmd_template_verify(argc - 1, argv + 1);
	return fb_usage_error("template", "unknown subcommand '%s'", argv[1]);
}

const struct fb_command fb_cmd_template = {
    .name = "template",
    .summary = "build, inspect or verify a template file",
    .help = "NAME\n"
	    "    forkbox template - build, inspect or verify a template file\n"
	    "\n"
	    "SYNOPSIS\n"
	    "    forkbox template build [-c CONFIG] [-o FILE] [--kernel VMLINUX]\n"
	    "                           [--initramfs FILE] [--mem MB] [--cmdline STR]\n"
	    "                           [--timeout S] [--console] [--if-stale]\n"
	    "                           [--no-working-set]\n"
	    "    forkbox template inspect FILE\n"
	    "    forkbox template verify FILE\n"
	    "\n"
	    "DESCRIPTION\n"
	    "    build boots the guest until its agent is ready (Python and numpy\n"
	    "    imported), snapshots it and writes FILE. Its inputs: in a build tree\n"
	    "    (./guest/out/vmlinux exists) and without -c, guest/out/vmlinux,\n"
	    "    guest/out/initramfs.cpio.zst and ./forkbox.template; otherwise the\n"
	    "    template settings (path, kernel, initramfs, memory_mb, cmdline_extra)\n"
	    "    of CONFIG, else of " FORKBOX_SYSCONFDIR "/forkbox/forkbox.conf when it\n"
	    "    exists, else the built-in defaults (the installed guest image and\n"
	    "    /var/lib/forkbox/python.tmpl), so on an installed system a bare\n"
	    "    `forkbox template build` writes the template the service uses.\n"
	    "    Options override those settings. The file is written under a\n"
	    "    temporary name and renamed, so a reader never sees half of it.\n"
	    "    Then it records the working set: typical requests (print(1+1) and a\n"
	    "    numpy sum) run in forks of the template, and the guest pages they\n"
	    "    used are stored in it; forks map them before they run\n"
	    "    (template.prefetch). --no-working-set skips this.\n"
	    "\n"
	    "    inspect prints the header of FILE: format version, CPU fingerprint\n"
	    "    (compared with this host), guest memory size, non-zero pages, the\n"
	    "    working set, sections with sizes and checksums, and build metadata.\n"
	    "    It checks the structure and section checksums but not the memory\n"
	    "    checksum.\n"
	    "\n"
	    "    verify checks everything: header, sections, the checksum of the whole\n"
	    "    guest memory image, and that this host's CPU matches the template.\n"
	    "    The file format is described in docs/TEMPLATE-FORMAT.md.\n"
	    "\n"
	    "BUILD OPTIONS\n"
	    "    -c, --config CONFIG  read the template settings from CONFIG\n"
	    "    -o, --output FILE    template file to write\n"
	    "    -k, --kernel VMLINUX guest kernel (uncompressed ELF)\n"
	    "    -i, --initramfs FILE guest initramfs (Python, numpy, the agent)\n"
	    "    -m, --mem MB         guest RAM in MiB (default template.memory_mb, 512)\n"
	    "    --cmdline STR        kernel command line (default: the file 'cmdline'\n"
	    "                         beside the kernel, then template.cmdline_extra)\n"
	    "    -t, --timeout S      give up when the agent is not ready after S\n"
	    "                         seconds (default 300)\n"
	    "    -C, --console        copy the guest console to stderr\n"
	    "    --if-stale           do nothing when FILE exists and is newer than\n"
	    "                         the kernel, the initramfs, CONFIG and forkbox\n"
	    "                         itself (what the systemd unit runs at start)\n"
	    "\n"
	    "EXIT STATUS\n"
	    "    0 success; 1 the file is damaged, unreadable, or for another CPU;\n"
	    "    2 bad command line.\n"
	    "\n"
	    "EXAMPLES\n"
	    "    forkbox template build               # installed: as forkbox.conf says\n"
	    "    forkbox template build -o /var/lib/forkbox/python.template\n"
	    "    forkbox template inspect /var/lib/forkbox/python.template\n"
	    "    forkbox template verify /var/lib/forkbox/python.template\n",
    .main = template_main,
};
