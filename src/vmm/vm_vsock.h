/* Wiring the virtio-vsock device (src/vmm/virtio) into a VM: its MMIO
 * window at 0xd0000000 and its interrupt on GSI 5. */
#ifndef FORKBOX_VMM_VM_VSOCK_H
#define FORKBOX_VMM_VM_VSOCK_H

#include "vmm/vm.h"

#define FB_VM_VSOCK_BASE 0xd0000000ULL
#define FB_VM_VSOCK_GSI	 5
#define FB_VM_GUEST_CID	 3

/* Create the device for vm (not started; vm owns it from now on). */
int fb_vm_attach_vsock(struct fb_vm *vm);

#endif
