/* `forkbox template list|inspect|verify|rm`, and the `forkbox template`
 * command that dispatches to them and to build and image
 * (cmd_template_build.c). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/template_setup.h"
#include "util/error.h"
#include "vmm/snapshot/cpuid.h"
#include "vmm/snapshot/template_file.h"
#include "vmm/template_store.h"
#include "vmm/working_set.h"

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

/* NAME (a template of the store) or FILE (has a '/' or ends in .tmpl). */
static void resolve_arg(const struct fb_template_setup *s, const char *arg, char *out, size_t cap)
{
	if (strchr(arg, '/') || (strlen(arg) > 5 && !strcmp(arg + strlen(arg) - 5, ".tmpl")))
		snprintf(out, cap, "%s", arg);
	else
		fb_template_setup_path(s, arg, out, cap);
}

/* -c FILE, --store DIR; returns the index of the first operand, -1 on a
 * bad option. */
static int parse_common(int argc, char **argv, const char **config, const char **store)
{
	static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
					     {"store", required_argument, NULL, 'S'},
					     {NULL, 0, NULL, 0}};
	int c;
	*config = *store = NULL;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		if (c == 'c')
			*config = optarg;
		else if (c == 'S')
			*store = optarg;
		else
			return -1;
	}
	return optind;
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
	struct fb_working_set wset = {fb_template_wset(t), fb_template_wcopy(t),
				      fb_template_mem_size(t) / FB_TEMPLATE_PAGE_SIZE};
	uint64_t ws = wset.bits ? fb_working_set_count(&wset) : 0;
	uint64_t wc = fb_working_set_count_copy(&wset);
	if (wset.bits)
		printf("working set:      %llu pages read (%.1f MiB) mapped and %llu written "
		       "(%.1f MiB) copied into forks before they run\n",
		       (unsigned long long)ws, ws * (double)FB_TEMPLATE_PAGE_SIZE / (1 << 20),
		       (unsigned long long)wc, wc * (double)FB_TEMPLATE_PAGE_SIZE / (1 << 20));
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
	static const char *const keys[] = {
	    FB_META_TEMPLATE,	FB_META_GENERATION,  FB_META_CREATED,	  FB_META_RECIPE,
	    FB_META_RUNTIME,	FB_META_RECIPE_HASH, FB_META_KERNEL_HASH, FB_META_ROOTFS_HASH,
	    FB_META_AGENT_HASH, FB_META_VERSION,     FB_META_CMDLINE};
	printf("metadata:\n");
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *v = fb_template_meta(t, keys[i]);
		if (v)
			printf("  %-18s %s\n", keys[i], v);
	}
}

/* Runs fn on the template each operand names; 1 if any failed. */
static int for_each_arg(int argc, char **argv, const char *sub,
			int (*fn)(const struct fb_template_setup *, const char *path))
{
	const char *config, *store;
	int first = parse_common(argc, argv, &config, &store);
	if (first < 0 || first >= argc)
		return fb_usage_error("template",
				      "usage: forkbox template %s [-c FILE] "
				      "[--store DIR] NAME|FILE...",
				      sub);
	struct fb_template_setup s;
	if (fb_template_setup_load(&s, config, store) < 0) {
		fprintf(stderr, "forkbox template %s: %s\n", sub, fb_error_last());
		return 1;
	}
	int failed = 0;
	for (int i = first; i < argc; i++) {
		char path[FB_PATH_MAX + 64];
		resolve_arg(&s, argv[i], path, sizeof(path));
		if (fn(&s, path) < 0) {
			fprintf(stderr, "forkbox template %s: %s\n", sub, fb_error_last());
			failed = 1;
		}
	}
	fb_template_setup_free(&s);
	return failed;
}

static int inspect(const struct fb_template_setup *s, const char *path)
{
	struct fb_template *t;
	(void)s;
	if (fb_template_open(path, &t) < 0)
		return -1;
	print_summary(t);
	print_sections(t);
	fb_template_close(t);
	return 0;
}

int fb_cmd_template_inspect(int argc, char **argv)
{
	return for_each_arg(argc, argv, "inspect", inspect);
}

/* A stored template against its current recipe and guest image: 0, or -1
 * naming what changed. Files outside the store's templates are not
 * compared. */
static int check_current(const struct fb_template_setup *s, const char *path)
{
	struct fb_stored st;
	if (fb_stored_read(path, &st) < 0)
		return -1;
	const struct fb_template_decl *t = st.name[0] ? fb_config_template(&s->cfg, st.name) : NULL;
	if (!t)
		return 0;
	struct fb_recipe r;
	struct fb_guest_image img;
	char why[2048];
	if (fb_template_setup_inputs(s, t, false, &r, &img) < 0)
		return -1;
	int stale = fb_stored_compare(&st, &r, &img, why, sizeof(why));
	fb_recipe_free(&r);
	if (stale)
		return fb_error("%s: stale: %s; rebuild it with `forkbox template build %s`", path,
				why, st.name);
	return 0;
}

/* Everything: structure, every checksum including memory, the CPU, and
 * that nothing it was built from changed since. */
static int verify(const struct fb_template_setup *s, const char *path)
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
	if (r == 0)
		r = check_current(s, path);
	if (r == 0)
		printf("%s: OK\n", path);
	return r;
}

int fb_cmd_template_verify(int argc, char **argv)
{
	return for_each_arg(argc, argv, "verify", verify);
}

static int remove_one(const struct fb_template_setup *s, const char *path)
{
	(void)s;
	if (unlink(path) < 0)
		return fb_error_errno("remove %s", path);
	printf("removed %s\n", path);
	return 0;
}

int fb_cmd_template_rm(int argc, char **argv)
{
	return for_each_arg(argc, argv, "rm", remove_one);
}

static void format_age(int64_t seconds, char *out, size_t cap)
{
	if (seconds < 0)
		snprintf(out, cap, "-");
	else if (seconds < 3600)
		snprintf(out, cap, "%lldm", (long long)(seconds / 60));
	else if (seconds < 86400 * 2)
		snprintf(out, cap, "%lldh", (long long)(seconds / 3600));
	else
		snprintf(out, cap, "%lldd", (long long)(seconds / 86400));
}

/* One line of `template list`: the status says what to do. */
static void list_one(const struct fb_template_setup *s, const struct fb_template_decl *t,
		     const uint64_t *host)
{
	char path[FB_PATH_MAX + 64], status[2400], age[32] = "-", gen[16] = "-";
	struct fb_stored st;
	struct fb_recipe r;
	struct fb_guest_image img;
	const char *runtime = "?";
	fb_template_setup_path(s, t->name, path, sizeof(path));
	int have_inputs = fb_template_setup_inputs(s, t, false, &r, &img) == 0;
	if (have_inputs)
		runtime = r.runtime;
	if (fb_stored_read(path, &st) < 0) {
		if (errno == ENOENT)
			snprintf(status, sizeof(status),
				 "missing: build it with `forkbox template build %s`", t->name);
		else
			snprintf(status, sizeof(status), "damaged: %s", fb_error_last());
	} else {
		char why[2048];
		snprintf(gen, sizeof(gen), "%u", st.generation);
		format_age(st.created_unix ? (int64_t)time(NULL) - st.created_unix : -1, age,
			   sizeof(age));
		if (host && st.cpu_fingerprint != *host)
			snprintf(status, sizeof(status),
				 "incompatible: built on another CPU (fingerprint %016llx, this "
				 "host %016llx)",
				 (unsigned long long)st.cpu_fingerprint, (unsigned long long)*host);
		else if (!have_inputs)
			snprintf(status, sizeof(status), "unknown: %s", fb_error_last());
		else if (fb_stored_compare(&st, &r, &img, why, sizeof(why)))
			snprintf(status, sizeof(status), "stale: %s", why);
		else
			snprintf(status, sizeof(status), "ok");
	}
	if (!have_inputs && !strncmp(status, "missing", 7))
		snprintf(status + strlen(status), sizeof(status) - strlen(status), " (%s)",
			 fb_error_last());
	printf("%-12s %-8s %-4s %-6s %s\n", t->name, runtime, gen, age, status);
	if (have_inputs)
		fb_recipe_free(&r);
}

int fb_cmd_template_list(int argc, char **argv)
{
	const char *config, *store;
	int first = parse_common(argc, argv, &config, &store);
	if (first < 0 || first != argc)
		return fb_usage_error("template", "usage: forkbox template list [-c FILE] "
						  "[--store DIR]");
	struct fb_template_setup s;
	if (fb_template_setup_load(&s, config, store) < 0) {
		fprintf(stderr, "forkbox template list: %s\n", fb_error_last());
		return 1;
	}
	uint64_t host;
	int have_host = host_fingerprint(&host) == 0;
	printf("store %s (settings from %s)\n", s.cfg.template_.store, s.source);
	printf("%-12s %-8s %-4s %-6s %s\n", "NAME", "RUNTIME", "GEN", "AGE", "STATUS");
	for (size_t i = 0; i < s.cfg.n_templates; i++)
		list_one(&s, &s.cfg.templates[i], have_host ? &host : NULL);
	fb_template_setup_free(&s);
	return 0;
}

static int template_main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*main)(int argc, char **argv);
	} subs[] = {
	    {"list", fb_cmd_template_list},	  {"build", fb_cmd_template_build},
	    {"verify", fb_cmd_template_verify},	  {"rm", fb_cmd_template_rm},
	    {"inspect", fb_cmd_template_inspect}, {"image", fb_cmd_template_image},
	};
	if (argc < 2)
		return fb_usage_error(
		    "template", "missing subcommand (list, build, verify, rm, inspect, image)");
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (!strcmp(argv[1], subs[i].name))
			return subs[i].main(argc - 1, argv + 1);
	return fb_usage_error("template", "unknown subcommand '%s'", argv[1]);
}

const struct fb_command fb_cmd_template = {
    .name = "template",
    .summary = "list, build, verify or remove the templates of the store",
    .help = "NAME\n"
	    "    forkbox template - list, build, verify or remove the templates of the store\n"
	    "\n"
	    "SYNOPSIS\n"
	    "    forkbox template list    [-c FILE] [--store DIR]\n"
	    "    forkbox template build   [-c FILE] [--store DIR] [--if-stale] [NAME...]\n"
	    "                             [--timeout S] [--console] [--cmdline STR]\n"
	    "                             [--no-working-set]\n"
	    "                             [-o FILE [--kernel VMLINUX] [--initramfs FILE]]\n"
	    "    forkbox template verify  [-c FILE] [--store DIR] NAME|FILE...\n"
	    "    forkbox template rm      [-c FILE] [--store DIR] NAME|FILE...\n"
	    "    forkbox template inspect [-c FILE] [--store DIR] NAME|FILE...\n"
	    "    forkbox template image   [-c FILE] [NAME...]\n"
	    "\n"
	    "DESCRIPTION\n"
	    "    A template is a VM booted once from a recipe (runtime, Debian packages,\n"
	    "    prelude code, bound names, memory) and snapshotted; every request forks\n"
	    "    it. The configuration declares the templates (the templates group); each\n"
	    "    is the file STORE/NAME.tmpl of the store (template.store). Each records\n"
	    "    its recipe's hash, the SHA-256 of the guest kernel, root filesystem and\n"
	    "    agent it was built from, the CPU fingerprint, its build time and its\n"
	    "    generation (1, then one more at every rebuild). docs/TEMPLATES.md tells\n"
	    "    how to write a recipe.\n"
	    "\n"
	    "    list shows every configured template: runtime, generation, age and a\n"
	    "    status: ok; missing; stale (naming what changed since it was built:\n"
	    "    the recipe, the guest kernel, the root filesystem or the agent);\n"
	    "    incompatible (built on another CPU); damaged.\n"
	    "\n"
	    "    build boots each named template's recipe (all of them without NAME)\n"
	    "    until its agent is ready, snapshots it and writes STORE/NAME.tmpl\n"
	    "    atomically; a running forkbox-fcgi picks it up on SIGHUP. A recipe's\n"
	    "    root filesystem missing from template.images is built first (root and\n"
	    "    the Debian mirror needed). --if-stale builds only templates that are\n"
	    "    missing, stale or for another CPU. After the snapshot it records the\n"
	    "    working set: the recipe's typical requests (working_set) run in forks\n"
	    "    of the new template, and the guest pages they read and wrote are\n"
	    "    stored in it; forks map the first and copy the second before they run\n"
	    "    (template.prefetch); --no-working-set skips this. -o FILE writes one\n"
	    "    template to FILE\n"
	    "    instead of the store; --kernel and --initramfs then replace the guest\n"
	    "    image (experts, tests).\n"
	    "\n"
	    "    verify checks everything: header, sections, the checksum of the whole\n"
	    "    guest memory image, this host's CPU, and for a template of the store\n"
	    "    that nothing it was built from changed. rm removes templates from the\n"
	    "    store (a running server keeps serving what it loaded until SIGHUP).\n"
	    "    inspect prints a template's header, sections and metadata. image finds\n"
	    "    or builds the recipes' root filesystems (what `make guest` runs).\n"
	    "\n"
	    "    In a build tree (./guest/out/vmlinux exists) and without -c the store\n"
	    "    is guest/out/templates, the guest image guest/out and the recipes\n"
	    "    guest/recipes; elsewhere the settings of -c FILE, else of\n"
	    "    " FB_SYSTEM_CONFIG " if it exists, else the built-in\n"
	    "    defaults (docs/CONFIG.md). The file format is in docs/TEMPLATE-FORMAT.md.\n"
	    "\n"
	    "OPTIONS\n"
	    "    -c, --config FILE    read the template settings (template.*, the\n"
	    "                         templates group) from FILE\n"
	    "    --store DIR          the template store (default template.store)\n"
	    "\n"
	    "BUILD OPTIONS\n"
	    "    --if-stale           build only the templates that are missing, stale\n"
	    "                         or for another CPU (what the systemd unit runs\n"
	    "                         at start); without usable KVM a current one\n"
	    "                         is kept, its CPU not checked\n"
	    "    -t, --timeout S      give up when the agent is not ready after S\n"
	    "                         seconds (default 300)\n"
	    "    -C, --console        copy the guest console to stderr\n"
	    "    --cmdline STR        kernel command line (default: the file 'cmdline'\n"
	    "                         beside the kernel, then template.cmdline_extra)\n"
	    "    --no-working-set     do not record the working set\n"
	    "    -o, --output FILE    write the one named (or the default) template to\n"
	    "                         FILE instead of the store\n"
	    "    -k, --kernel VMLINUX guest kernel (uncompressed ELF)\n"
	    "    -i, --initramfs FILE the whole guest initramfs instead of the recipe's\n"
	    "                         image (with -o only)\n"
	    "    Each build step prints a progress line with the time since the build\n"
	    "    began; a step still running after 10 s is repeated with \"(still)\".\n"
	    "\n"
	    "EXIT STATUS\n"
	    "    0 success; 1 a template failed to build, is damaged, stale, unreadable\n"
	    "    or for another CPU; 2 bad command line.\n"
	    "\n"
	    "EXAMPLES\n"
	    "    forkbox template list\n"
	    "    forkbox template build --if-stale\n"
	    "    forkbox template build node\n"
	    "    forkbox template verify python\n"
	    "    forkbox template rm node\n",
    .main = template_main,
};
