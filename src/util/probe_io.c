/* Host probe, I/O: read /proc/cpuinfo and /sys/module, open /dev/kvm, ask
 * the API version, create a VM and run the ring-0 guest. The facts go to
 * fb_probe_classify() (probe.c), which decides. */
#include "util/probe.h"

#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define CPUINFO_MAX	 (4u << 20) /* enough for hundreds of CPUs */
#define GUEST_TIMEOUT_MS 3000u	    /* PVM's emulator needs well under 100 ms */

const struct fb_probe_paths fb_probe_default_paths = {
    .cpuinfo = "/proc/cpuinfo",
    .sys_module = "/sys/module",
    .dev_kvm = "/dev/kvm",
};

/* Read a whole (proc) file as a string; NULL with the error recorded. */
static char *read_text(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		fb_error_errno("open %s", path);
		return NULL;
	}
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);
	while (buf) {
		len += fread(buf + len, 1, cap - 1 - len, f);
		if (len < cap - 1 || cap >= CPUINFO_MAX)
			break;
		char *bigger = realloc(buf, cap * 2);
		if (!bigger) {
			free(buf);
			buf = NULL;
			break;
		}
		buf = bigger;
		cap *= 2;
	}
	if (!buf)
		fb_error("read %s: out of memory", path);
	else
		buf[len] = '\0';
	fclose(f);
	return buf;
}

static bool module_present(const char *sys_module, const char *name)
{
	char path[4096];
	struct stat st;
	snprintf(path, sizeof(path), "%s/%s", sys_module, name);
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void gather_kvm(struct fb_host_facts *f, const char *dev_kvm, bool run_guest)
{
	int kvm = open(dev_kvm, O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		f->dev_errno = errno;
		return;
	}
	f->dev_errno = 0;
	f->api_version = ioctl(kvm, KVM_GET_API_VERSION, 0);
	if (f->api_version == 12) {
		int vm = ioctl(kvm, KVM_CREATE_VM, 0);
		f->create_vm_errno = vm < 0 ? errno : 0;
		if (vm >= 0)
			close(vm);
	}
	if (run_guest && f->api_version == 12 && f->create_vm_errno == 0)
		f->guest = fb_probe_ring0_guest(kvm, GUEST_TIMEOUT_MS, f->guest_detail,
						sizeof(f->guest_detail));
	close(kvm);
}

void fb_probe_gather(struct fb_host_facts *f, const struct fb_probe_paths *paths, bool run_guest)
{
	memset(f, 0, sizeof(*f));
	f->api_version = -1;
	f->create_vm_errno = -1;
	f->guest = FB_GUEST_NOT_RUN;

	char *cpuinfo = read_text(paths->cpuinfo);
	if (cpuinfo) {
		fb_probe_parse_cpuinfo(f, cpuinfo);
		free(cpuinfo);
	}
	f->mod_kvm_intel = module_present(paths->sys_module, "kvm_intel");
	f->mod_kvm_amd = module_present(paths->sys_module, "kvm_amd");
	f->mod_kvm_pvm = module_present(paths->sys_module, "kvm_pvm");
	gather_kvm(f, paths->dev_kvm, run_guest);
}

enum fb_kvm_verdict fb_probe_kvm(struct fb_kvm_report *report)
{
	struct fb_host_facts facts;
	fb_probe_gather(&facts, &fb_probe_default_paths, true);
	fb_probe_classify(&facts, report);
	return report->verdict;
}
