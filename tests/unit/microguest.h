/* A tiny 64-bit guest that runs at CPL 3, so it runs natively even on a
 * PVM /dev/kvm (ring-0 code would be emulated). Its loop:
 *   counter = [MG_COUNTER_GPA] + 1; [MG_COUNTER_GPA] = counter;
 *   r12 += 3; xmm0 += xmm1 (= 1); rcx = xmm0; out MG_PORT, eax; repeat
 * so guest memory, general registers and the FPU/XSAVE state all advance
 * together and each KVM_EXIT_IO reports the counter. */
#ifndef FORKBOX_TESTS_MICROGUEST_H
#define FORKBOX_TESTS_MICROGUEST_H

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/snapshot/template_file.h"
#include "vmm/snapshot/vcpu_state.h"
#include "vmm/snapshot/vm_state.h"

#define MG_MEM_SIZE    (4u << 20)
#define MG_COUNTER_GPA 0x20000u
#define MG_PORT	       0x10
/* Programs for the benchmarks: set RIP to one of them in a fork; it writes
 * (or reads) one byte of each of MG_TOUCH_PAGES pages of template data from
 * MG_TOUCH_GPA on, then does one OUT to MG_PORT. */
#define MG_WRITER_GPA  0x11000u
#define MG_READER_GPA  0x11100u
#define MG_TOUCH_GPA   0x21000u /* right after the counter: one extent in the file */
#define MG_TOUCH_PAGES 256u

struct mg_vm {
	int vm_fd, vcpu_fd;
	struct kvm_run *run;
	size_t run_size;
	uint8_t *mem; /* guest physical 0..MG_MEM_SIZE */
	int own_mem;  /* mem is an anonymous mapping of this VM (munmap it) */
};

/* /dev/kvm, opened once per process. -1 with fb_error_last() set. */
int mg_kvm_fd(void);
/* Normalized CPUID of this host and the vCPU caps (probed once). */
const struct kvm_cpuid2 *mg_host_cpuid(void);
const struct fb_vcpu_caps *mg_caps(void);

/* VM with irqchip + PIT, one memslot over mem (MG_MEM_SIZE), one vCPU with
 * the given CPUID. mem NULL: a fresh anonymous mapping (owned). */
int mg_vm_create(struct mg_vm *vm, void *mem, const struct kvm_cpuid2 *cpuid);
void mg_vm_destroy(struct mg_vm *vm);

/* Fresh guest: program, page tables, GDT in memory; CPL-3 registers. */
int mg_vm_boot(struct mg_vm *vm);

/* Run to the next OUT to MG_PORT; *counter = the value written. */
int mg_run_once(struct mg_vm *vm, uint32_t *counter);

/* Finish the pending OUT, then save vCPU and VM state. */
int mg_snapshot(struct mg_vm *vm, struct fb_vcpu_state *vcpu, struct fb_vm_state *vmst);

/* Boot a fresh guest, run it for iterations OUTs, snapshot it and write a
 * template to path with a "serial" device blob and some metadata; the
 * snapshot's counter is iterations. cpuid NULL: this host's. */
int mg_write_template(const char *path, unsigned iterations, const struct kvm_cpuid2 *cpuid);
/* The same with the given device blobs instead of a dummy "serial". */
int mg_write_template_devices(const char *path, unsigned iterations, const struct kvm_cpuid2 *cpuid,
			      const struct fb_template_blob *devices, unsigned nr_devices);

/* A fork: CoW mapping of the template memory, new VM, restored state. */
int mg_fork(struct mg_vm *vm, const struct fb_template *t);

#endif
