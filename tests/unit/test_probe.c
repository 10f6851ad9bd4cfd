/* Unit tests for the host probe: cpuinfo parsing and classification with
 * fixtures (PVM, Intel VMX, AMD SVM, no /dev/kvm, permission denied), fact
 * gathering from a fixture tree, and the ring-0 guest harness on this
 * host's /dev/kvm (skipped only where there is no /dev/kvm to open). */
#include "util/probe.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

/* Trimmed /proc/cpuinfo of the build machine (PVM host). */
static const char cpuinfo_pvm[] =
    "processor\t: 0\n"
    "vendor_id\t: GenuineIntel\n"
    "model name\t: Intel(R) Xeon(R) Platinum\n"
    "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 "
    "clflush mmx fxsr sse sse2 ss ht syscall nx pdpe1gb rdtscp lm constant_tsc rep_good nopl "
    "xtopology nonstop_tsc cpuid tsc_known_freq pni pclmulqdq ssse3 fma cx16 pcid sse4_1 "
    "sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand hypervisor "
    "lahf_lm abm 3dnowprefetch xsaveopt xsavec xgetbv1 xsaves arat umip\n"
    "bugs\t\t: spectre_v1 spectre_v2\n"
    "\n"
    "processor\t: 1\n"
    "flags\t\t: fpu vme de pse hypervisor\n";

/* Intel with VT-x: "vmx flags" is a separate line and must not count as flags. */
static const char cpuinfo_intel[] =
    "processor\t: 0\n"
    "vendor_id\t: GenuineIntel\n"
    "flags\t\t: fpu vme de pse tsc msr pae vmx smx est tm2 ssse3 xsave avx\n"
    "vmx flags\t: vnmi preemption_timer invvpid ept_x_only ept_ad\n";

static const char cpuinfo_amd[] =
    "processor\t: 0\n"
    "vendor_id\t: AuthenticAMD\n"
    "flags\t\t: fpu vme de pse tsc msr pae svm extapic cr8_legacy abm sse4a npt lbrv "
    "svm_lock nrip_save\n";

/* Neither flag, but words that contain them. */
static const char cpuinfo_lookalike[] = "flags\t\t: fpu svm_lock vmxe xvmx npt\n"
					"vmx flags\t: vmx\n";

static void facts_for(struct fb_host_facts *f, const char *cpuinfo)
{
	memset(f, 0, sizeof(*f));
	f->api_version = 12;
	f->guest = FB_GUEST_NOT_RUN;
	fb_probe_parse_cpuinfo(f, cpuinfo);
}

static const struct fb_probe_check *find_check(const struct fb_kvm_report *r, const char *name)
{
	for (size_t i = 0; i < r->n_checks; i++)
		if (strcmp(r->checks[i].name, name) == 0)
			return &r->checks[i];
	static const struct fb_probe_check missing = {.name = "missing"};
	fail_msg("no check named %s", name);
	return &missing; /* not reached: fail_msg jumps out of the test */
}

static void assert_contains(const char *text, const char *part)
{
	if (!strstr(text, part))
		fail_msg("\"%s\" does not contain \"%s\"", text, part);
}

static void test_cpuinfo_flags(void **state)
{
	(void)state;
	assert_false(fb_cpuinfo_has_flag(cpuinfo_pvm, "vmx"));
	assert_false(fb_cpuinfo_has_flag(cpuinfo_pvm, "svm"));
	assert_true(fb_cpuinfo_has_flag(cpuinfo_pvm, "hypervisor"));
	assert_true(fb_cpuinfo_has_flag(cpuinfo_pvm, "fpu"));	      /* first word */
	assert_true(fb_cpuinfo_has_flag(cpuinfo_pvm, "umip"));	      /* last word */
	assert_false(fb_cpuinfo_has_flag(cpuinfo_pvm, "spectre_v1")); /* "bugs", not flags */
	assert_true(fb_cpuinfo_has_flag(cpuinfo_intel, "vmx"));
	assert_false(fb_cpuinfo_has_flag(cpuinfo_intel, "ept_ad")); /* "vmx flags" line */
	assert_true(fb_cpuinfo_has_flag(cpuinfo_amd, "svm"));
	assert_true(fb_cpuinfo_has_flag(cpuinfo_amd, "nrip_save"));
	assert_false(fb_cpuinfo_has_flag(cpuinfo_lookalike, "svm"));
	assert_false(fb_cpuinfo_has_flag(cpuinfo_lookalike, "vmx"));
	assert_false(fb_cpuinfo_has_flag("", "vmx"));
	assert_false(fb_cpuinfo_has_flag("flags: vmx", "vm"));
	assert_true(fb_cpuinfo_has_flag("flags: vmx", "vmx"));
}

static void test_pvm_host(void **state)
{
	(void)state;
	struct fb_host_facts f;
	struct fb_kvm_report r;
	facts_for(&f, cpuinfo_pvm);
	f.mod_kvm_pvm = true;
	f.guest = FB_GUEST_FAILED;
	snprintf(f.guest_detail, sizeof(f.guest_detail),
		 "KVM_EXIT_INTERNAL_ERROR suberror 1 (emulation failure) at xrstor");
	fb_probe_classify(&f, &r);
	assert_int_equal(r.verdict, FB_KVM_NO_STOCK_KERNEL);
	assert_int_equal(r.backend, FB_BACKEND_PVM);
	assert_string_equal(fb_kvm_verdict_name(r.verdict), "no-stock-kernel");
	assert_contains(r.reason, "kvm: /dev/kvm is PVM (software KVM, /sys/module/kvm_pvm)");
	assert_contains(r.reason, "a stock guest kernel cannot run");
	assert_contains(r.reason, "at xrstor");
	assert_contains(r.fallback, "tests/kvmhost/run");
	assert_contains(r.fallback, "vmx/svm");
	assert_int_equal(find_check(&r, "create-vm")->status, FB_CHECK_OK);
	assert_int_equal(find_check(&r, "hw-virt")->status, FB_CHECK_FAIL);
	assert_contains(find_check(&r, "hw-virt")->detail, "no vmx/svm");
	assert_int_equal(find_check(&r, "ring0-guest")->status, FB_CHECK_FAIL);
	/* Without the functional check, PVM is still not trusted with a kernel. */
	f.guest = FB_GUEST_NOT_RUN;
	fb_probe_classify(&f, &r);
	assert_int_equal(r.verdict, FB_KVM_NO_STOCK_KERNEL);
	assert_int_equal(find_check(&r, "ring0-guest")->status, FB_CHECK_SKIP);
}

static void test_intel_vmx_host(void **state)
{
	(void)state;
	struct fb_host_facts f;
	struct fb_kvm_report r;
	facts_for(&f, cpuinfo_intel);
	f.mod_kvm_intel = true;
	f.guest = FB_GUEST_PASSED;
	fb_probe_classify(&f, &r);
	assert_int_equal(r.verdict, FB_KVM_NATIVE);
	assert_int_equal(r.backend, FB_BACKEND_VMX);
	assert_string_equal(r.fallback, "");
	assert_contains(r.reason, "backend vmx");
	assert_int_equal(r.n_checks, 5);
	for (size_t i = 0; i < r.n_checks; i++)
		assert_int_equal(r.checks[i].status, FB_CHECK_OK);
}

static void test_amd_svm_host(void **state)
{
	(void)state;
	struct fb_host_facts f;
	struct fb_kvm_report r;
	facts_for(&f, cpuinfo_amd);
	f.mod_kvm_amd = true;
	fb_probe_classify(&f, &r); /* functional check not run: trust svm + kvm_amd */
	assert_int_equal(r.verdict, FB_KVM_NATIVE);
	assert_int_equal(r.backend, FB_BACKEND_SVM);
	assert_string_equal(fb_kvm_backend_name(r.backend), "svm");
	f.guest = FB_GUEST_PASSED;
	fb_probe_classify(&f, &r);
	assert_int_equal(r.verdict, FB_KVM_NATIVE);
}

/* The functional check is the final word over the heuristics. */
static void test_functional_check_wins(void **state)
{
	(void)state;
	struct fb_host_facts f;
	struct fb_kvm_report r;
	facts_for(&f, cpuinfo_intel);
	f.mod_kvm_intel = true;
	f.guest = FB_GUEST_FAILED;
	snprintf(f.guest_detail, sizeof(f.guest_detail), "KVM_EXIT_SHUTDOWN (triple fault)");
	fb_probe_classify(&f, &r);
	assert_int_equal(r.verdict, FB_KVM_NO_STOCK_KERNEL);
	assert_contains(r.reason, "backend vmx");
	assert_contains(r.reason, "triple fault");
	/* Unknown backend that passes the check is native. */
	facts_for(&f, cpuinfo_pvm);
	f.guest = FB_GUEST_PASSED;
	fb_probe_classify(&f, &r);
	assert_int_equal(r.backend, FB_BACKEND_UNKNOWN);
	assert_int_equal(r.verdict, FB_KVM_NATIVE);
	/* ... and an unknown backend without the check is not trusted. */
	f.guest = FB_GUEST_NOT_RUN;
	fb_probe_classify(&f, &r);
	assert_int_equal(r.verdict, FB_KVM_NO_STOCK_KERNEL);
}

static void test_no_dev_kvm(void **state)
{
	(void)state;
	struct fb_host_facts f;
	struct fb_kvm_report r;
	facts_for(&f, cpuinfo_pvm);
	f.dev_errno = ENOENT;
	f.api_version = -1;
	fb_probe_classify(&f, &r);
	assert_int_equal(r.verdict, FB_KVM_UNUSABLE);
	assert_int_equal(r.backend, FB_BACKEND_NONE);
	assert_contains(r.reason, "/dev/kvm does not exist");
	assert_contains(r.reason, "no vmx/svm");
	assert_contains(r.fallback, "tests/kvmhost/run");
	assert_int_equal(r.n_checks, 1);
	assert_int_equal(r.checks[0].status, FB_CHECK_FAIL);
	assert_string_equal(r.checks[0].name, "dev-kvm");
	/* With VT-x but no module loaded, say what to load. */
	facts_for(&f, cpuinfo_intel);
	f.dev_errno = ENOENT;
	fb_probe_classify(&f, &r);
	assert_int_equal(r.verdict, FB_KVM_UNUSABLE);
	assert_contains(r.reason, "modprobe kvm_intel");
}

static void test_permission_denied(void **state)
{
	(void)state;
	struct fb_host_facts f;
	struct fb_kvm_report r;
	facts_for(&f, cpuinfo_amd);
	f.mod_kvm_amd = true;
	f.dev_errno = EACCES;
	fb_probe_classify(&f, &r);
	assert_int_equal(r.verdict, FB_KVM_UNUSABLE);
	assert_int_equal(r.backend, FB_BACKEND_SVM);
	assert_contains(r.reason, "/dev/kvm: Permission denied");
	assert_contains(r.reason, "'kvm'");
	assert_contains(r.checks[0].detail, "Permission denied");
}

static void test_broken_kvm(void **state)
{
	(void)state;
	struct fb_host_facts f;
	struct fb_kvm_report r;
	facts_for(&f, cpuinfo_amd);
	f.api_version = 11;
	fb_probe_classify(&f, &r);
	assert_int_equal(r.verdict, FB_KVM_UNUSABLE);
	assert_contains(r.reason, "API version 11");
	assert_int_equal(find_check(&r, "api-version")->status, FB_CHECK_FAIL);

	facts_for(&f, cpuinfo_amd);
	f.create_vm_errno = ENOMEM;
	fb_probe_classify(&f, &r);
	assert_int_equal(r.verdict, FB_KVM_UNUSABLE);
	assert_string_equal(r.reason, "kvm: KVM_CREATE_VM: Cannot allocate memory");

	facts_for(&f, cpuinfo_amd);
	f.mod_kvm_amd = true;
	f.guest = FB_GUEST_ERROR;
	snprintf(f.guest_detail, sizeof(f.guest_detail), "KVM_CREATE_VCPU: Invalid argument");
	fb_probe_classify(&f, &r);
	assert_int_equal(r.verdict, FB_KVM_UNUSABLE);
	assert_contains(r.reason, "KVM_CREATE_VCPU: Invalid argument");
}

/* fb_probe_gather on a fixture tree: cpuinfo file, /sys/module dirs, and a
 * "/dev/kvm" that is missing or not a KVM device. */
static void test_gather_fixture_tree(void **state)
{
	(void)state;
	char root[] = "/tmp/forkbox-probe-XXXXXX", cpuinfo[128], modules[128], dev[128];
	char pvm[160];
	struct fb_host_facts f;
	struct fb_kvm_report r;
	assert_non_null(mkdtemp(root));
	snprintf(cpuinfo, sizeof(cpuinfo), "%s/cpuinfo", root);
	snprintf(modules, sizeof(modules), "%s/module", root);
	snprintf(dev, sizeof(dev), "%s/kvm", root);
	snprintf(pvm, sizeof(pvm), "%s/kvm_pvm", modules);
	FILE *out = fopen(cpuinfo, "w");
	assert_non_null(out);
	fputs(cpuinfo_pvm, out);
	fclose(out);
	assert_int_equal(mkdir(modules, 0755), 0);
	assert_int_equal(mkdir(pvm, 0755), 0);

	const struct fb_probe_paths paths = {cpuinfo, modules, dev};
	fb_probe_gather(&f, &paths, true);
	assert_true(f.cpu_hypervisor);
	assert_false(f.cpu_vmx || f.cpu_svm);
	assert_true(f.mod_kvm_pvm);
	assert_false(f.mod_kvm_intel || f.mod_kvm_amd);
	assert_int_equal(f.dev_errno, ENOENT);
	assert_int_equal(f.guest, FB_GUEST_NOT_RUN);

	int fd = open(dev, O_CREAT | O_WRONLY, 0600); /* a plain file: ioctls fail */
	assert_true(fd >= 0);
	close(fd);
	fb_probe_gather(&f, &paths, true);
	assert_int_equal(f.dev_errno, 0);
	assert_int_equal(f.api_version, -1);
	fb_probe_classify(&f, &r);
	assert_int_equal(r.verdict, FB_KVM_UNUSABLE);
	assert_int_equal(find_check(&r, "api-version")->status, FB_CHECK_FAIL);

	unlink(dev);
	rmdir(pvm);
	rmdir(modules);
	unlink(cpuinfo);
	rmdir(root);
}

static int open_kvm_or_skip(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		print_message("# no usable /dev/kvm (%s): live check skipped\n", strerror(errno));
		skip();
	}
	return fd;
}

static double ms_since(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) * 1e3 + (double)(now.tv_nsec - t0->tv_nsec) / 1e6;
}

/* A guest that spins forever comes back as FAILED within its time limit. */
static void test_live_hang_is_bounded(void **state)
{
	(void)state;
	static const unsigned char spin[] = {0xeb, 0xfe}; /* jmp . */
	char detail[256];
	struct timespec t0;
	int kvm = open_kvm_or_skip();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	enum fb_guest_check g =
	    fb_probe_run_guest_code(kvm, spin, sizeof(spin), 200, detail, sizeof(detail));
	double took = ms_since(&t0);
	close(kvm);
	assert_int_equal(g, FB_GUEST_FAILED);
	assert_contains(detail, "no result within 200 ms");
	assert_true(took >= 200 && took < 2000);
}

/* Plain moves, outs and hlt work on any KVM (emulated or not): the harness
 * itself is sound, so a failure of the real check is about the instructions. */
static void test_live_trivial_guest_passes(void **state)
{
	(void)state;
	static const unsigned char marks[] = {
	    0xb0, 1, 0xe6, 0xf0, 0xb0, 2, 0xe6, 0xf0, 0xb0, 3, 0xe6, 0xf0, /* mov $n,%al; out */
	    0xb0, 4, 0xe6, 0xf0, 0xb0, 5, 0xe6, 0xf0, 0xb0, 6, 0xe6, 0xf0, 0xf4, /* hlt */
	};
	static const unsigned char early_hlt[] = {0xb0, 1, 0xe6, 0xf0, 0xf4};
	char detail[256];
	int kvm = open_kvm_or_skip();
	enum fb_guest_check g =
	    fb_probe_run_guest_code(kvm, marks, sizeof(marks), 2000, detail, sizeof(detail));
	assert_int_equal(g, FB_GUEST_PASSED);
	g = fb_probe_run_guest_code(kvm, early_hlt, sizeof(early_hlt), 2000, detail,
				    sizeof(detail));
	close(kvm);
	assert_int_equal(g, FB_GUEST_FAILED);
	assert_contains(detail, "early hlt");
}

/* On this host the functional check agrees with what the host is: fails on
 * PVM (HOST-FACTS 1), passes on VMX/SVM (the KVM test host). */
static void test_live_probe_matches_backend(void **state)
{
	(void)state;
	struct fb_host_facts f;
	struct fb_kvm_report r;
	struct timespec t0;
	close(open_kvm_or_skip());
	clock_gettime(CLOCK_MONOTONIC, &t0);
	fb_probe_gather(&f, &fb_probe_default_paths, true);
	assert_true(ms_since(&t0) < 5000);
	fb_probe_classify(&f, &r);
	print_message("# backend %s, verdict %s: %s\n", fb_kvm_backend_name(r.backend),
		      fb_kvm_verdict_name(r.verdict), f.guest_detail);
	if (r.backend == FB_BACKEND_PVM) {
		assert_int_equal(f.guest, FB_GUEST_FAILED);
		assert_int_equal(r.verdict, FB_KVM_NO_STOCK_KERNEL);
	} else if (r.backend == FB_BACKEND_VMX || r.backend == FB_BACKEND_SVM) {
		assert_int_equal(f.guest, FB_GUEST_PASSED);
		assert_int_equal(r.verdict, FB_KVM_NATIVE);
	} else {
		assert_true(f.guest == FB_GUEST_PASSED || f.guest == FB_GUEST_FAILED);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cpuinfo_flags),
	    cmocka_unit_test(test_pvm_host),
	    cmocka_unit_test(test_intel_vmx_host),
	    cmocka_unit_test(test_amd_svm_host),
	    cmocka_unit_test(test_functional_check_wins),
	    cmocka_unit_test(test_no_dev_kvm),
	    cmocka_unit_test(test_permission_denied),
	    cmocka_unit_test(test_broken_kvm),
	    cmocka_unit_test(test_gather_fixture_tree),
	    cmocka_unit_test(test_live_hang_is_bounded),
	    cmocka_unit_test(test_live_trivial_guest_passes),
	    cmocka_unit_test(test_live_probe_matches_backend),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
