/* Port I/O and MMIO dispatch for the run loop: the serial console, the
 * legacy PC ports Linux probes, and registered MMIO regions. */
#ifndef FORKBOX_VMM_VM_PORTS_H
#define FORKBOX_VMM_VM_PORTS_H

#include "vmm/vm.h"

/* Outcome of one access. */
enum fb_vm_io_result {
	FB_IO_OK = 0,
	FB_IO_RESET = 1, /* the guest asked for a reset (i8042 command 0xfe) */
	FB_IO_ERROR = -1,
};

/* One KVM_EXIT_IO exit (all `count` repetitions of it). */
enum fb_vm_io_result fb_vm_handle_io(struct fb_vm *vm);
/* One KVM_EXIT_MMIO exit. */
enum fb_vm_io_result fb_vm_handle_mmio(struct fb_vm *vm);

#endif
