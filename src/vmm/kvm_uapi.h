/* KVM definitions newer than some distributions' linux-libc-dev: what the
 * running kernel may have although the build host's headers lack it. */
#ifndef FORKBOX_VMM_KVM_UAPI_H
#define FORKBOX_VMM_KVM_UAPI_H

#include <linux/kvm.h>

#ifndef KVM_PRE_FAULT_MEMORY /* Linux 6.10 */
struct kvm_pre_fault_memory {
	__u64 gpa;
	__u64 size;
	__u64 flags;
	__u64 padding[5];
};
#define KVM_PRE_FAULT_MEMORY _IOWR(KVMIO, 0xd5, struct kvm_pre_fault_memory)
#endif

#endif
