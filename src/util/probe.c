/* Host probe, pure logic: parse /proc/cpuinfo text and classify gathered
 * facts into a verdict, a one-line reason and a fallback. No I/O here. */
#include "util/probe.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define KVM_API_VERSION_EXPECTED 12

static const char fallback_text[] =
    "run inside the KVM test host (tests/kvmhost/run) or use a machine with hardware "
    "virtualization (vmx/svm)";

/* The first line starting with "flags" (x86 /proc/cpuinfo), or NULL. */
static const char *flags_line(const char *cpuinfo, size_t *len)
{
	const char *line = cpuinfo;
	while (line && *line) {
		const char *end = strchrnul(line, '\n');
		if (strncmp(line, "flags", 5) == 0 &&
		    (line[5] == ' ' || line[5] == '\t' || line[5] == ':')) {
			const char *colon = memchr(line, ':', (size_t)(end - line));
			if (colon) {
				*len = (size_t)(end - colon - 1);
				return colon + 1;
			}
		}
		line = *end ? end + 1 : NULL;
	}
	return NULL;
}

bool fb_cpuinfo_has_flag(const char *cpuinfo, const char *flag)
{
	size_t len = 0, flag_len = strlen(flag);
	const char *p = flags_line(cpuinfo, &len);
	const char *end = p ? p + len : NULL;
	while (p && p < end) {
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		const char *word = p;
		while (p < end && *p != ' ' && *p != '\t')
			p++;
		if ((size_t)(p - word) == flag_len && memcmp(word, flag, flag_len) == 0)
			return true;
	}
	return false;
}

void fb_probe_parse_cpuinfo(struct fb_host_facts *facts, const char *cpuinfo)
{
	facts->cpu_vmx = fb_cpuinfo_has_flag(cpuinfo, "vmx");
	facts->cpu_svm = fb_cpuinfo_has_flag(cpuinfo, "svm");
	facts->cpu_hypervisor = fb_cpuinfo_has_flag(cpuinfo, "hypervisor");
}

const char *fb_kvm_verdict_name(enum fb_kvm_verdict verdict)
{
	switch (verdict) {
	case FB_KVM_NATIVE:
		return "native";
	case FB_KVM_UNUSABLE:
		return "kvm-unusable";
	case FB_KVM_NO_STOCK_KERNEL:
		return "no-stock-kernel";
	}
	return "unknown";
}

const char *fb_kvm_backend_name(enum fb_kvm_backend backend)
{
	static const char *const names[] = {
	    [FB_BACKEND_NONE] = "none", [FB_BACKEND_VMX] = "vmx",	  [FB_BACKEND_SVM] = "svm",
	    [FB_BACKEND_PVM] = "pvm",	[FB_BACKEND_UNKNOWN] = "unknown",
	};
	return (unsigned)backend < sizeof(names) / sizeof(names[0]) ? names[backend] : "unknown";
}

const char *fb_check_status_name(enum fb_check_status status)
{
	return status == FB_CHECK_OK ? "OK" : status == FB_CHECK_FAIL ? "FAIL" : "SKIP";
}

static void add_check(struct fb_kvm_report *r, const char *name, enum fb_check_status status,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void add_check(struct fb_kvm_report *r, const char *name, enum fb_check_status status,
		      const char *fmt, ...)
{
	if (r->n_checks >= FB_PROBE_MAX_CHECKS)
		return;
	struct fb_probe_check *c = &r->checks[r->n_checks++];
	va_list ap;
	c->name = name;
	c->status = status;
	va_start(ap, fmt);
	vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
	va_end(ap);
}

static enum fb_kvm_backend backend_of(const struct fb_host_facts *f)
{
	if (f->dev_errno == ENOENT)
		return FB_BACKEND_NONE;
	if (f->mod_kvm_pvm)
		return FB_BACKEND_PVM;
	if (f->cpu_vmx && f->mod_kvm_intel)
		return FB_BACKEND_VMX;
	if (f->cpu_svm && f->mod_kvm_amd)
		return FB_BACKEND_SVM;
	return FB_BACKEND_UNKNOWN;
}

/* Why /dev/kvm could not be opened, with what would fix it. */
static void explain_open_failure(const struct fb_host_facts *f, struct fb_kvm_report *r)
{
	if (f->dev_errno == ENOENT && (f->cpu_vmx || f->cpu_svm))
		snprintf(r->reason, sizeof(r->reason),
			 "kvm: /dev/kvm does not exist although the CPU has %s: load the module "
			 "(modprobe %s) or enable virtualization in the firmware",
			 f->cpu_vmx ? "vmx" : "svm", f->cpu_vmx ? "kvm_intel" : "kvm_amd");
	else if (f->dev_errno == ENOENT)
		snprintf(r->reason, sizeof(r->reason),
			 "kvm: /dev/kvm does not exist and the CPU has no hardware virtualization "
			 "(no vmx/svm in /proc/cpuinfo): guests could only be emulated");
	else if (f->dev_errno == EACCES || f->dev_errno == EPERM)
		snprintf(r->reason, sizeof(r->reason),
			 "kvm: /dev/kvm: %s: add this user to the group owning /dev/kvm "
			 "(usually 'kvm') or run as root",
			 strerror(f->dev_errno));
	else
		snprintf(r->reason, sizeof(r->reason), "kvm: cannot open /dev/kvm: %s",
			 strerror(f->dev_errno));
}

/* Steps that make KVM usable at all: open, API version, KVM_CREATE_VM.
 * Returns false (and fills the reason) when one fails. */
static bool classify_usable(const struct fb_host_facts *f, struct fb_kvm_report *r)
{
	if (f->dev_errno != 0) {
		add_check(r, "dev-kvm", FB_CHECK_FAIL, "open /dev/kvm: %s", strerror(f->dev_errno));
		explain_open_failure(f, r);
		return false;
	}
	add_check(r, "dev-kvm", FB_CHECK_OK, "/dev/kvm opened read-write");
	if (f->api_version != KVM_API_VERSION_EXPECTED) {
		add_check(r, "api-version", FB_CHECK_FAIL, "KVM_GET_API_VERSION = %d, expected %d",
			  f->api_version, KVM_API_VERSION_EXPECTED);
		snprintf(r->reason, sizeof(r->reason),
			 "kvm: /dev/kvm speaks API version %d, forkbox needs %d", f->api_version,
			 KVM_API_VERSION_EXPECTED);
		return false;
	}
	add_check(r, "api-version", FB_CHECK_OK, "KVM_GET_API_VERSION = %d", f->api_version);
	if (f->create_vm_errno != 0) {
		const char *why =
		    f->create_vm_errno > 0 ? strerror(f->create_vm_errno) : "not attempted";
		add_check(r, "create-vm", FB_CHECK_FAIL, "KVM_CREATE_VM: %s", why);
		snprintf(r->reason, sizeof(r->reason), "kvm: KVM_CREATE_VM: %s", why);
		return false;
	}
	add_check(r, "create-vm", FB_CHECK_OK, "KVM_CREATE_VM works");
	return true;
}

static void add_hw_virt_check(const struct fb_host_facts *f, struct fb_kvm_report *r)
{
	switch (r->backend) {
	case FB_BACKEND_VMX:
		add_check(r, "hw-virt", FB_CHECK_OK, "CPU has vmx, kvm_intel loaded");
		break;
	case FB_BACKEND_SVM:
		add_check(r, "hw-virt", FB_CHECK_OK, "CPU has svm, kvm_amd loaded");
		break;
	case FB_BACKEND_PVM:
		add_check(r, "hw-virt", FB_CHECK_FAIL,
			  "/sys/module/kvm_pvm present: /dev/kvm is PVM (software KVM)%s",
			  f->cpu_vmx || f->cpu_svm ? "" : ", no vmx/svm in /proc/cpuinfo");
		break;
	default:
		add_check(r, "hw-virt", FB_CHECK_FAIL,
			  "backend not recognised (vmx=%d svm=%d kvm_intel=%d kvm_amd=%d "
			  "kvm_pvm=%d)",
			  f->cpu_vmx, f->cpu_svm, f->mod_kvm_intel, f->mod_kvm_amd, f->mod_kvm_pvm);
		break;
	}
}

/* The ring-0 guest is the final word; without it, trust only a known
 * hardware backend. */
static bool runs_stock_kernel(const struct fb_host_facts *f, enum fb_kvm_backend backend)
{
	if (f->guest == FB_GUEST_PASSED)
		return true;
	if (f->guest == FB_GUEST_NOT_RUN)
		return backend == FB_BACKEND_VMX || backend == FB_BACKEND_SVM;
	return false;
}

static void add_guest_check(const struct fb_host_facts *f, struct fb_kvm_report *r)
{
	static const enum fb_check_status status[] = {
	    [FB_GUEST_NOT_RUN] = FB_CHECK_SKIP,
	    [FB_GUEST_PASSED] = FB_CHECK_OK,
	    [FB_GUEST_FAILED] = FB_CHECK_FAIL,
	    [FB_GUEST_ERROR] = FB_CHECK_FAIL,
	};
	add_check(r, "ring0-guest", status[f->guest], "%s",
		  f->guest_detail[0] ? f->guest_detail : "functional check not run");
}

static void explain_no_stock_kernel(const struct fb_host_facts *f, struct fb_kvm_report *r)
{
	const char *check = f->guest == FB_GUEST_NOT_RUN ? "not run" : f->guest_detail;
	if (r->backend == FB_BACKEND_PVM)
		snprintf(r->reason, sizeof(r->reason),
			 "kvm: /dev/kvm is PVM (software KVM, /sys/module/kvm_pvm): ring-0 guest "
			 "code is emulated and a stock guest kernel cannot run (functional check: "
			 "%s)",
			 check);
	else
		snprintf(r->reason, sizeof(r->reason),
			 "kvm: /dev/kvm (backend %s) cannot run a stock guest kernel: ring-0 guest "
			 "code fails (functional check: %s)",
			 fb_kvm_backend_name(r->backend), check);
}

void fb_probe_classify(const struct fb_host_facts *f, struct fb_kvm_report *r)
{
	memset(r, 0, sizeof(*r));
	r->backend = backend_of(f);
	if (!classify_usable(f, r)) {
		r->verdict = FB_KVM_UNUSABLE;
		snprintf(r->fallback, sizeof(r->fallback), "%s", fallback_text);
		return;
	}
	add_hw_virt_check(f, r);
	add_guest_check(f, r);
	if (f->guest == FB_GUEST_ERROR) {
		r->verdict = FB_KVM_UNUSABLE;
		snprintf(r->reason, sizeof(r->reason), "kvm: cannot set up a vCPU: %s",
			 f->guest_detail);
	} else if (runs_stock_kernel(f, r->backend)) {
		r->verdict = FB_KVM_NATIVE;
		snprintf(r->reason, sizeof(r->reason),
			 "kvm: /dev/kvm (backend %s) runs ring-0 guest code natively: stock guest "
			 "kernels can run",
			 fb_kvm_backend_name(r->backend));
		return;
	} else {
		r->verdict = FB_KVM_NO_STOCK_KERNEL;
		explain_no_stock_kernel(f, r);
	}
	snprintf(r->fallback, sizeof(r->fallback), "%s", fallback_text);
}
