#include "vmm/kvm.h"

#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

struct required_cap {
	int cap;
	const char *name;
};

/* Everything the VM setup, the run loop and snapshot/restore use. */
static const struct required_cap required_caps[] = {
    {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},
    {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
    {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
    {KVM_CAP_SET_IDENTITY_MAP_ADDR, "KVM_CAP_SET_IDENTITY_MAP_ADDR"},
    {KVM_CAP_PIT2, "KVM_CAP_PIT2"},
    {KVM_CAP_PIT_STATE2, "KVM_CAP_PIT_STATE2"},
    {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
    {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
    {KVM_CAP_XSAVE, "KVM_CAP_XSAVE"},
    {KVM_CAP_XCRS, "KVM_CAP_XCRS"},
    {KVM_CAP_ADJUST_CLOCK, "KVM_CAP_ADJUST_CLOCK"},
    {KVM_CAP_VCPU_EVENTS, "KVM_CAP_VCPU_EVENTS"},
    {KVM_CAP_DEBUGREGS, "KVM_CAP_DEBUGREGS"},
    {KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE"},
};

static int check_caps(int fd)
{
	for (size_t i = 0; i < sizeof(required_caps) / sizeof(required_caps[0]); i++) {
		int r = ioctl(fd, KVM_CHECK_EXTENSION, required_caps[i].cap);
		if (r < 0)
			return fb_error_errno("KVM_CHECK_EXTENSION(%s)", required_caps[i].name);
		if (r == 0)
			return fb_error("/dev/kvm lacks %s, which forkbox needs",
					required_caps[i].name);
	}
	return 0;
}

int fb_kvm_open(struct fb_kvm *kvm)
{
	const char *path = getenv("FORKBOX_KVM_DEVICE");
	if (!path || !*path)
		path = "/dev/kvm";
	kvm->fd = open(path, O_RDWR | O_CLOEXEC);
	if (kvm->fd < 0)
		return fb_error_errno("open %s", path);
	int version = ioctl(kvm->fd, KVM_GET_API_VERSION, 0);
	if (version < 0) {
		fb_error_errno("KVM_GET_API_VERSION");
		goto fail;
	}
	if (version != KVM_API_VERSION) {
		fb_error("%s: KVM API version %d, forkbox needs %d", path, version,
			 KVM_API_VERSION);
		goto fail;
	}
	if (check_caps(kvm->fd) < 0)
		goto fail;
	int size = ioctl(kvm->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size < 0) {
		fb_error_errno("KVM_GET_VCPU_MMAP_SIZE");
		goto fail;
	}
	kvm->run_mmap_size = (size_t)size;
	return 0;
fail:
	close(kvm->fd);
	kvm->fd = -1;
	return -1;
}

void fb_kvm_close(struct fb_kvm *kvm)
{
	if (kvm->fd >= 0)
		close(kvm->fd);
	kvm->fd = -1;
}
