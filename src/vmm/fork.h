/* Forking a VM from a template: a new KVM VM whose RAM is a copy-on-write
 * MAP_PRIVATE mapping of the template's memory (never a copy), with the
 * template's CPUID, vCPU, irqchip/PIT/clock and device state restored.
 *
 * Creating and running are separate: fb_fork_create() returns a VM ready
 * to run; fb_vm_start() runs it, fb_vm_wait()/fb_vm_destroy() as for any
 * VM. Any number of forks may be made from one open template, from any
 * threads or processes; no fork's writes are seen by another fork or by
 * the template. */
#ifndef FORKBOX_VMM_FORK_H
#define FORKBOX_VMM_FORK_H

#include "vmm/kvm.h"
#include "vmm/serial.h"
#include "vmm/snapshot/template_file.h"
#include "vmm/template_ram.h"
#include "vmm/vm.h"

struct fb_fork_options {
	/* The template's memory loaded in RAM (fb_template_ram_load()); NULL
	 * maps the template file itself. */
	const struct fb_template_ram *ram;
	int serial_fd;		   /* console sink, -1 drops it */
	fb_serial_line_fn line_fn; /* console line tap, may be NULL */
	void *line_opaque;
};

/* Returns a restored, not yet running VM (vsock device attached), or NULL
 * with fb_error_last() set. */
struct fb_vm *fb_fork_create(const struct fb_kvm *kvm, const struct fb_template *t,
			     const struct fb_fork_options *opts);

/* Sets the guest's time state again (KVM clock, TSC, TSC deadline) to the
 * template's, just before a VM built ahead of time runs: the guest then
 * resumes at the snapshot's time, however long the VM waited in a pool. */
int fb_fork_restore_time(struct fb_vm *vm, const struct fb_template *t);

#endif
