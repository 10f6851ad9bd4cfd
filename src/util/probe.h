/* Host capability probe: can this host's /dev/kvm boot a stock guest kernel?
 *
 * Three answers (enum fb_kvm_verdict, also `forkbox doctor`'s exit status):
 * native (hardware virtualization), unusable (no usable /dev/kvm), or
 * no-stock-kernel (KVM works but ring-0 guest code is emulated, as with PVM).
 *
 * The work is split so the logic is testable without a KVM device:
 * fb_probe_gather() does the I/O and fills struct fb_host_facts;
 * fb_probe_classify() turns facts into a report and does no I/O. The
 * functional check (fb_probe_ring0_guest) runs a tiny CPL-0 long-mode guest
 * that executes what a stock kernel needs early (xsetbv, xsave/xrstor, int3,
 * int n, iretq) and is the final word over the heuristics. */
#ifndef FORKBOX_UTIL_PROBE_H
#define FORKBOX_UTIL_PROBE_H

#include <stdbool.h>
#include <stddef.h>

enum fb_kvm_verdict {
	FB_KVM_NATIVE = 0,	    /* stock guest kernels run */
	FB_KVM_UNUSABLE = 1,	    /* no /dev/kvm, no access, or KVM fails */
	FB_KVM_NO_STOCK_KERNEL = 2, /* KVM works, a stock kernel cannot run */
};

enum fb_kvm_backend {
	FB_BACKEND_NONE,    /* no /dev/kvm */
	FB_BACKEND_VMX,	    /* Intel VT-x, kvm_intel */
	FB_BACKEND_SVM,	    /* AMD-V, kvm_amd */
	FB_BACKEND_PVM,	    /* software KVM, kvm_pvm */
	FB_BACKEND_UNKNOWN, /* /dev/kvm exists, backend not recognised */
};

enum fb_guest_check {
	FB_GUEST_NOT_RUN, /* not attempted (an earlier step failed, or facts from a fixture) */
	FB_GUEST_PASSED,  /* the ring-0 guest reached its final hlt */
	FB_GUEST_FAILED,  /* the guest stopped early: emulation failure, shutdown, timeout */
	FB_GUEST_ERROR,	  /* the vCPU could not be set up (an ioctl failed) */
};

/* Everything the classification needs, gathered by I/O (or a test fixture). */
struct fb_host_facts {
	bool cpu_vmx, cpu_svm, cpu_hypervisor;	      /* /proc/cpuinfo flags */
	bool mod_kvm_intel, mod_kvm_amd, mod_kvm_pvm; /* /sys/module/NAME present */
	int dev_errno;	     /* 0: /dev/kvm opened read-write; else open's errno */
	int api_version;     /* KVM_GET_API_VERSION, -1 if not asked */
	int create_vm_errno; /* 0: KVM_CREATE_VM worked; -1 if not tried */
	enum fb_guest_check guest;
	char guest_detail[256]; /* what the ring-0 guest did, for the report */
};

enum fb_check_status { FB_CHECK_OK, FB_CHECK_FAIL, FB_CHECK_SKIP };

struct fb_probe_check {
	const char *name; /* stable id: "dev-kvm", "api-version", ... */
	enum fb_check_status status;
	char detail[320];
};

#define FB_PROBE_MAX_CHECKS 6

struct fb_kvm_report {
	enum fb_kvm_verdict verdict;
	enum fb_kvm_backend backend;
	char reason[768];   /* one line: "kvm: ..." */
	char fallback[256]; /* what to do instead; "" when native */
	struct fb_probe_check checks[FB_PROBE_MAX_CHECKS];
	size_t n_checks;
};

/* Where the I/O looks; tests point these at fixtures. */
struct fb_probe_paths {
	const char *cpuinfo;	/* "/proc/cpuinfo" */
	const char *sys_module; /* "/sys/module" */
	const char *dev_kvm;	/* "/dev/kvm" */
};

extern const struct fb_probe_paths fb_probe_default_paths;

/* Pure logic. */
/* Whether the first "flags" line of a /proc/cpuinfo text has the whole word flag. */
bool fb_cpuinfo_has_flag(const char *cpuinfo, const char *flag);
/* Fill cpu_* from a /proc/cpuinfo text. */
void fb_probe_parse_cpuinfo(struct fb_host_facts *facts, const char *cpuinfo);
void fb_probe_classify(const struct fb_host_facts *facts, struct fb_kvm_report *report);
const char *fb_kvm_verdict_name(enum fb_kvm_verdict verdict);  /* "native", ... */
const char *fb_kvm_backend_name(enum fb_kvm_backend backend);  /* "pvm", ... */
const char *fb_check_status_name(enum fb_check_status status); /* "OK", "FAIL", "SKIP" */

/* I/O. */
/* Gather facts; runs KVM ioctls and, with run_guest, the ring-0 guest. */
void fb_probe_gather(struct fb_host_facts *facts, const struct fb_probe_paths *paths,
		     bool run_guest);
/* Run the ring-0 guest on an open /dev/kvm fd, bounded by timeout_ms.
 * Returns the outcome and describes it in detail (size detail_len). */
enum fb_guest_check fb_probe_ring0_guest(int kvm_fd, unsigned timeout_ms, char *detail,
					 size_t detail_len);
/* The same harness with other guest code at 0x8000 (tests: a guest that never
 * reports must come back within timeout_ms). The code reports progress with
 * `out %al, $0xf0` (1, 2, ... 6) and passes by reaching hlt after mark 6. */
enum fb_guest_check fb_probe_run_guest_code(int kvm_fd, const unsigned char *code, size_t code_len,
					    unsigned timeout_ms, char *detail, size_t detail_len);
/* The whole probe on the real host. Returns report->verdict. */
enum fb_kvm_verdict fb_probe_kvm(struct fb_kvm_report *report);

#endif
