/* The KVM system device: opened once per process, checked for the API
 * version and every capability forkbox relies on, shared by all VMs. */
#ifndef FORKBOX_VMM_KVM_H
#define FORKBOX_VMM_KVM_H

#include <stddef.h>

struct fb_kvm {
	int fd;		      /* /dev/kvm */
	size_t run_mmap_size; /* size of each vCPU's kvm_run mapping */
};

/* Open /dev/kvm (or $FORKBOX_KVM_DEVICE) and check API version 12 and the
 * required capabilities. Returns 0, or -1 naming what is missing. */
int fb_kvm_open(struct fb_kvm *kvm);
void fb_kvm_close(struct fb_kvm *kvm);

#endif
