/* The micro-guest (microguest.h) as a template the VMM itself can fork:
 * with real serial and vsock device state, so fb_fork_create(), VM pools
 * and the engine's building blocks run it natively (ring 3, PVM included).
 * Under fb_vm's run loop the guest's OUT to MG_PORT is an unknown port,
 * ignored: the guest loops, incrementing its counter at MG_COUNTER_GPA. */
#ifndef FORKBOX_TESTS_MICROGUEST_VMM_H
#define FORKBOX_TESTS_MICROGUEST_VMM_H

#include "microguest.h"
#include "vmm/kvm.h"
#include "vmm/snapshot/template_file.h"
#include "vmm/template_ram.h"
#include "vmm/vm.h"

/* What forks of the micro-guest need: its template in a temporary file,
 * opened and held in RAM, and /dev/kvm. */
struct mg_forkable {
	char path[64];
	struct fb_kvm kvm;
	struct fb_template *t;
	struct fb_template_ram *ram;
};

/* Writes a template whose snapshot counter is iterations and opens it all.
 * 0 or -1 + fb_error_last(). */
int mg_forkable_open(struct mg_forkable *m, unsigned iterations);
void mg_forkable_close(struct mg_forkable *m);

/* Template whose snapshot counter is iterations. 0 or -1 + fb_error_last(). */
int mg_write_vmm_template(const char *path, unsigned iterations);

/* The micro-guest's counter in a VM's memory. */
uint32_t mg_vm_counter(const struct fb_vm *vm);

/* On the calling thread (no fb_vm_start()): KVM_RUN until the guest's next
 * OUT to MG_PORT. 0 or -1 + fb_error_last(). */
int mg_vmm_run_to_out(struct fb_vm *vm);
/* Point the vCPU at another program (MG_WRITER_GPA, MG_READER_GPA). */
int mg_vmm_set_rip(struct fb_vm *vm, uint64_t rip);

#endif
