/* The KVM system device: opened once per process, checked for the API
 * version and every capability forkbox relies on, shared by all VMs. */
#ifndef FORKBOX_VMM_KVM_H
#define FORKBOX_VMM_KVM_H

#include <linux/kvm.h>
#include <stddef.h>

#ifndef KVM_PRE_FAULT_MEMORY /* Linux 6.10 uapi; older headers lack it */
struct kvm_pre_fault_memory {
	__u64 gpa;
	__u64 size;
	__u64 flags;
	__u64 padding[5];
};
#define KVM_PRE_FAULT_MEMORY _IOWR(KVMIO, 0xd5, struct kvm_pre_fault_memory)
#endif

struct fb_kvm {
	int fd;		      /* /dev/kvm */
	size_t run_mmap_size; /* size of each vCPU's kvm_run mapping */
};

/* Open /dev/kvm (or $FORKBOX_KVM_DEVICE) and check API version 12 and the
 * required capabilities. Returns 0, or -1 naming what is missing. */
int fb_kvm_open(struct fb_kvm *kvm);
void fb_kvm_close(struct fb_kvm *kvm);

#endif
